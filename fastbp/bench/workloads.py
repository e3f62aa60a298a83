"""The benchmark workloads and their data: the one definition asv, scripts/compare.py and the
``fastbp compare`` command share.

A workload is a network (layer sizes, hidden and output activations), a data set (m examples) and
a minibatch size; one "epoch" of it is one pass of plain minibatch SGD over the m examples. Data
follow the course's layout: X is (n_0, m), Y is (n_L, m), one column per example.

Building data needs NumPy only (scikit-learn for the digits data); a workload whose data come from
elsewhere (``fastbp compare`` on a user's file) names them in ``data`` and hands the arrays to the
trainers itself.
"""
import dataclasses
import re

import numpy as np

#: The dtypes every benchmark is parameterised over.
DTYPES = ("float32", "float64")

#: Output activations and the hidden activations a workload may name (fastbp's names).
OUTPUTS = ("sigmoid", "softmax", "linear")
HIDDEN = ("relu", "leaky_relu", "tanh", "sigmoid", "linear")


@dataclasses.dataclass(frozen=True)
class Workload:
    """One training workload.

    Parameters
    ----------
    name : str
        Short name used on the command line and in tables.
    layer_dims : tuple of int
        Units per layer, inputs first: ``(n_0, n_1, ..., n_L)``.
    output : {"sigmoid", "softmax", "linear"}
        Output activation; the loss is the matched one (BCE, cross-entropy, MSE).
    m : int
        Number of examples in one epoch.
    batch_size : int or None
        Minibatch size; None is full-batch gradient descent (one step per epoch).
    dtype : {"float32", "float64"}
        The dtype the workload is defined with (what compare.py runs; asv runs both).
    data : str
        ``random`` draws inputs uniform in [0, 1) and random targets; ``digits`` is scikit-learn's
        8x8 digits (X/16, one-hot Y). Any other name describes data the caller supplies to the
        trainers (:func:`make_data` refuses it).
    hidden : str
        Activation of every hidden layer.
    """

    name: str
    layer_dims: tuple
    output: str
    m: int
    batch_size: int = None
    dtype: str = "float64"
    data: str = "random"
    hidden: str = "relu"

    @property
    def hidden_activations(self):
        """Tuple of the hidden activation names, one per hidden layer."""
        return (self.hidden,) * (len(self.layer_dims) - 2)

    @property
    def full_batch(self):
        """True when an epoch is a single gradient step on all m examples."""
        return self.batch_size is None or self.batch_size >= self.m

    @property
    def steps_per_epoch(self):
        """Number of parameter updates in one epoch."""
        return 1 if self.full_batch else -(-self.m // self.batch_size)

    def describe(self):
        """One-line human description, e.g. ``64-128-10 softmax, m=1797, batch 64, float32``."""
        batch = "full batch" if self.full_batch else f"batch {self.batch_size}"
        dims = "-".join(str(n) for n in self.layer_dims)
        hidden = "" if self.hidden == "relu" else f" ({self.hidden} hidden)"
        source = "" if self.data == "random" else f", {self.data} data"
        return f"{dims} {self.output}{hidden}, m={self.m}{source}, {batch}, {self.dtype}"

    def to_dict(self):
        """Plain dict (JSON-serialisable) of the fields; inverse of :meth:`from_dict`."""
        fields = dataclasses.asdict(self)
        fields["layer_dims"] = list(self.layer_dims)
        return fields

    @classmethod
    def from_dict(cls, fields):
        """Rebuild a workload from :meth:`to_dict` output."""
        fields = dict(fields)
        fields["layer_dims"] = tuple(fields["layer_dims"])
        return cls(**fields)


#: The reference workloads (what scripts/compare.py runs, at full size).
WORKLOADS = {
    "tiny": Workload("tiny", (20, 10, 1), "sigmoid", m=64, batch_size=None, dtype="float64"),
    "course": Workload("course", (12288, 20, 7, 5, 1), "sigmoid", m=209, batch_size=None,
                       dtype="float64"),
    "digits": Workload("digits", (64, 128, 10), "softmax", m=1797, batch_size=64,
                       dtype="float32", data="digits"),
    "mnist": Workload("mnist", (784, 1024, 1024, 10), "softmax", m=2048, batch_size=256,
                      dtype="float32"),
}

#: The asv suite's workloads: the same networks, with mnist cut to m=512 (two minibatches) so that a
#: ``--quick`` run of the whole suite, 96 processes, stays within a few minutes.
ASV_WORKLOADS = dict(WORKLOADS, mnist=dataclasses.replace(WORKLOADS["mnist"], m=512))


def flops_per_epoch(workload):
    """Floating-point operations of one training epoch.

    Forward, weight gradients and input gradients each cost 2·m·n_l·n_{l-1} per layer; the first
    layer's input gradient is never computed, so it is left out:
    ``6·m·Σ n_l·n_{l-1} − 2·m·n_1·n_0``. Activations, losses and updates are O(m·Σ n_l) and ignored.

    Parameters
    ----------
    workload : Workload

    Returns
    -------
    int
    """
    dims = workload.layer_dims
    weights = sum(dims[l] * dims[l - 1] for l in range(1, len(dims)))
    return 6 * workload.m * weights - 2 * workload.m * dims[1] * dims[0]


def epoch_products(workload):
    """The matrix products of one epoch of plain SGD, counted by shape.

    Per minibatch and layer l: ``Z = W · A_prev`` (n_l x n_{l-1} times n_{l-1} x b),
    ``dW = dZ · A_prev^T`` (opB transposed) and, above the first layer, ``dA_prev = W^T · dZ``
    (opA transposed); a last, smaller minibatch takes its own shapes. Twice their multiply-adds
    are :func:`flops_per_epoch`.

    Returns
    -------
    dict
        ``(rows, depth, cols, a_transposed, b_transposed)`` -> products of that shape per epoch.
    """
    dims, m = workload.layer_dims, workload.m
    batch = m if workload.full_batch else workload.batch_size
    sizes = [batch] * (m // batch) + ([m % batch] if m % batch else [])
    products = {}
    for b in sizes:
        for l in range(1, len(dims)):
            n, n_prev = dims[l], dims[l - 1]
            shapes = [(n, n_prev, b, False, False), (n, b, n_prev, False, True)]
            if l > 1:
                shapes.append((n_prev, n, b, True, False))
            for shape in shapes:
                products[shape] = products.get(shape, 0) + 1
    return products


def make_data(workload, dtype=None, seed=0):
    """Training data of a workload.

    Parameters
    ----------
    workload : Workload
    dtype : str or numpy dtype, optional
        Defaults to the workload's own dtype.
    seed : int
        Seed of the random inputs and targets.

    Returns
    -------
    X : ndarray, shape (n_0, m), C-contiguous
    Y : ndarray, shape (n_L, m), C-contiguous
        0/1 labels for a sigmoid output, one-hot columns for softmax, standard normal for linear.
    """
    dtype = np.dtype(dtype or workload.dtype)
    n_in, n_out, m = workload.layer_dims[0], workload.layer_dims[-1], workload.m
    rng = np.random.default_rng(seed)
    if workload.data == "digits":
        X, labels = _digits(n_in, n_out, m)
    elif workload.data == "random":
        # uniform [0, 1) like pixel intensities (the course's images are scaled to [0, 1])
        X = rng.random((n_in, m))
        labels = rng.integers(0, n_out, size=m)
    else:
        raise ValueError(f"unknown data {workload.data!r}; expected 'random' or 'digits'")
    if workload.output == "softmax":
        Y = np.zeros((n_out, m))
        Y[labels, np.arange(m)] = 1.0
    elif workload.output == "sigmoid":
        Y = rng.random((n_out, m)) < 0.5
    else:
        Y = rng.standard_normal((n_out, m))
    return (np.ascontiguousarray(X, dtype=dtype), np.ascontiguousarray(Y, dtype=dtype))


def _digits(n_in, n_out, m):
    """scikit-learn's digits as (64, m) inputs in [0, 1] and their class labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    if n_in != 64 or n_out != 10 or m > len(digits.target):
        raise ValueError(f"the digits data set has 64 inputs, 10 classes and "
                         f"{len(digits.target)} examples; the workload asks for {n_in} inputs, "
                         f"{n_out} outputs and m={m}")
    return digits.data[:m].T / 16.0, digits.target[:m]


def initial_parameters(workload, dtype=None, seed=0):
    """The starting parameters every implementation copies, so all train the same network.

    The course's initialization (W ~ randn/sqrt(n_prev), b = 0) from
    ``fastbp.reference.init_parameters``, imported here only, so that building data needs NumPy
    alone.

    Returns
    -------
    dict
        ``W{l}`` of shape (n_l, n_{l-1}) and ``b{l}`` of shape (n_l, 1).
    """
    from fastbp import reference

    dtype = np.dtype(dtype or workload.dtype)
    return reference.init_parameters(workload.layer_dims, np.random.default_rng(seed), dtype)


SPEC_HELP = ("DIMS[:OUTPUT][:HIDDEN][:DTYPE][:m=M][:batch=B|full][:name=NAME], e.g. "
              "100-50-1:sigmoid:m=500:batch=50:float64")


def parse_workload(spec):
    """Parse a workload given on the command line.

    Parameters
    ----------
    spec : str
        ``DIMS[:OUTPUT][:HIDDEN][:DTYPE][:m=M][:batch=B|full][:name=NAME]``, fields after DIMS in
        any order, e.g. ``100-50-1:sigmoid:m=500:batch=50:float64``. Defaults: sigmoid output,
        relu hidden, float64, m=1024, full batch, the spec itself as the name.

    Returns
    -------
    Workload
    """
    fields = spec.split(":")
    if not re.fullmatch(r"\d+(-\d+)+", fields[0]):
        raise ValueError(f"bad workload {spec!r}: expected {SPEC_HELP}")
    options = dict(name=spec, layer_dims=tuple(int(n) for n in fields[0].split("-")),
                   output="sigmoid", m=1024, batch_size=None, dtype="float64")
    for field in fields[1:]:
        key, _, value = field.partition("=")
        if field in OUTPUTS:
            options["output"] = field
        elif field in DTYPES:
            options["dtype"] = field
        elif field in HIDDEN:
            options["hidden"] = field
        elif key == "m" and value.isdigit():
            options["m"] = int(value)
        elif key == "batch" and (value.isdigit() or value == "full"):
            options["batch_size"] = None if value == "full" else int(value)
        elif key == "name" and value:
            options["name"] = value
        else:
            raise ValueError(f"bad field {field!r} in workload {spec!r}: expected {SPEC_HELP}")
    if min(options["layer_dims"]) < 1 or options["m"] < 1 or (options["batch_size"] or 1) < 1:
        raise ValueError(f"bad workload {spec!r}: sizes must be positive")
    return Workload(**options)
