"""Trainers: one workload's epoch of plain SGD, run by fastbp, the NumPy reference or lean NumPy.

The asv suite, ``scripts/compare.py`` and ``fastbp compare`` (which add the PyTorch and
scikit-learn trainers of the same shape in :mod:`fastbp.bench.peers`) all build trainers here, so
"one epoch" means the same thing everywhere; the first two time them with
:func:`measure_epoch_seconds`, ``fastbp compare`` with
:func:`fastbp.bench.runner.time_fixed_epochs`.

A trainer holds its data and parameters and offers ``train(epochs)``, returning the cost of the
last epoch (None from a trainer that evaluates no cost, whose ``cost()`` computes it afterwards),
and ``outputs(X)``, the output activations for other examples (scored by :func:`score_outputs`);
fastbp, the reference and lean NumPy also offer ``forward()`` and ``forward_backward()`` on all m
examples. No name here starts with ``time``, ``track``, ``mem`` or
``peakmem``: asv would take it for a benchmark.
"""
import time

import numpy as np

from . import workloads

#: The learning rate of every implementation in every comparison.
LEARNING_RATE = 0.01


class Trainer:
    """Base of all trainers: the workload, its data and the shared starting parameters.

    Parameters
    ----------
    workload : workloads.Workload
    dtype : str, optional
        Defaults to the workload's dtype.
    seed : int
        Seed of the data, of the initial parameters and of the shuffling.
    learning_rate : float
    data : (X, Y), optional
        Training data, X of shape (n_0, m) and Y of shape (n_L, m) with m the workload's;
        default :func:`workloads.make_data`.
    parameters : dict, optional
        Starting parameters (``W{l}``, ``b{l}``, the course's shapes), copied; default
        :func:`workloads.initial_parameters`.
    """

    #: Implementation name, as on the command line and in tables.
    name = None

    def __init__(self, workload, dtype=None, seed=0, learning_rate=LEARNING_RATE, data=None,
                 parameters=None):
        self.workload = workload
        self.dtype = np.dtype(dtype or workload.dtype)
        self.learning_rate = learning_rate
        self.seed = seed
        if data is None:
            self.X, self.Y = workloads.make_data(workload, self.dtype, seed)
        else:
            self.X, self.Y = (np.ascontiguousarray(array, dtype=self.dtype) for array in data)
            expected = ((workload.layer_dims[0], workload.m), (workload.layer_dims[-1], workload.m))
            if (self.X.shape, self.Y.shape) != expected:
                raise ValueError(f"data of shapes {self.X.shape} and {self.Y.shape} do not fit "
                                 f"workload {workload.name!r}, which needs {expected}")
        if parameters is None:
            parameters = workloads.initial_parameters(workload, self.dtype, seed)
        else:
            parameters = {key: np.array(value, dtype=self.dtype) for key, value in
                          parameters.items()}
        self.build(parameters)

    def build(self, parameters):
        """Set up the implementation from the course-layout ``parameters`` dict."""
        raise NotImplementedError

    def train(self, epochs):
        """Run ``epochs`` epochs of plain SGD and return the last epoch's cost.

        A trainer that evaluates no cost while it trains returns None; its :meth:`cost` gives the
        cost of the trained parameters instead.
        """
        raise NotImplementedError

    def cost(self):
        """Mean training cost of the current parameters (computed on demand, never timed)."""
        raise NotImplementedError

    def outputs(self, X):
        """Output activations, shape (n_L, n), of the columns of X (n_0, n) (probabilities for
        a sigmoid or softmax output)."""
        raise NotImplementedError


class FastbpTrainer(Trainer):
    """fastbp's :class:`~fastbp.Network`: ``epochs`` epochs run in one ``fit`` call.

    That is fastbp's design (the whole epoch loop is compiled), so per-epoch times divide one call
    by its epoch count; one ``fit(epochs=1)`` also pays the per-call validation and transposed copy
    of X, which is what asv's ``time_epoch`` shows.
    """

    name = "fastbp"

    def build(self, parameters):
        from fastbp import Network

        w = self.workload
        self.net = Network(w.layer_dims, activations=w.hidden, output=w.output,
                           dtype=self.dtype, seed=self.seed)
        for key, value in parameters.items():
            self.net.parameters[key] = value

    def train(self, epochs):
        self.net.fit(self.X, self.Y, epochs=epochs, batch_size=self.workload.batch_size,
                     optimizer="sgd", learning_rate=self.learning_rate, shuffle=True)
        return float(self.net.history[-1])

    def outputs(self, X):
        return self.net.forward(np.asarray(X, dtype=self.dtype))

    def forward(self):
        """Output activations of all m examples."""
        return self.net.forward(self.X)

    def forward_backward(self):
        """Forward then backward on all m examples; returns the gradients."""
        self.net.forward(self.X)
        return self.net.backward(self.Y)


class ReferenceTrainer(Trainer):
    """The vectorized NumPy baseline, ``fastbp.reference.sgd_epoch`` once per epoch.

    Minibatch workloads draw a fresh permutation every epoch, as fastbp's ``shuffle=True`` does.
    """

    name = "reference"

    def build(self, parameters):
        from fastbp import reference

        self._reference = reference
        self.parameters = parameters
        self._rng = np.random.default_rng(self.seed)

    def train(self, epochs):
        w = self.workload
        cost = np.nan
        for _ in range(epochs):
            order = None if w.full_batch else self._rng.permutation(w.m)
            cost = self._reference.sgd_epoch(self.X, self.Y, self.parameters,
                                             w.hidden_activations, w.output, self.learning_rate,
                                             batch_size=w.batch_size, order=order)
        return float(cost)

    def outputs(self, X):
        w = self.workload
        return self._reference.forward(np.asarray(X, dtype=self.dtype), self.parameters,
                                       w.hidden_activations, w.output)[0]

    def forward(self):
        """Output activations of all m examples."""
        w = self.workload
        return self._reference.forward(self.X, self.parameters, w.hidden_activations, w.output)[0]

    def forward_backward(self):
        """Forward then backward on all m examples; returns the gradients."""
        w = self.workload
        AL, caches = self._reference.forward(self.X, self.parameters, w.hidden_activations,
                                             w.output)
        return self._reference.backward(AL, self.Y, caches, w.hidden_activations)


class LeanTrainer(Trainer):
    """The leanest vectorized NumPy epoch (:mod:`fastbp.bench.lean`): no cost, in-place updates.

    Minibatch workloads draw a fresh permutation every epoch from the same generator and seed as
    :class:`ReferenceTrainer`, so the two train the same network up to float rounding.
    ``train`` returns None (a lean loop evaluates no cost); :meth:`cost` computes it afterwards.
    """

    name = "lean"

    def build(self, parameters):
        from . import lean

        self._lean = lean
        self.parameters = parameters
        self._rng = np.random.default_rng(self.seed)

    def train(self, epochs):
        w = self.workload
        for _ in range(epochs):
            order = None if w.full_batch else self._rng.permutation(w.m)
            self._lean.sgd_epoch(self.X, self.Y, self.parameters, w.hidden_activations,
                                 w.output, self.learning_rate, batch_size=w.batch_size,
                                 order=order)
        return None

    def cost(self):
        from fastbp import reference

        w = self.workload
        AL, caches = reference.forward(self.X, self.parameters, w.hidden_activations, w.output)
        return reference.loss(caches[-1][3], AL, self.Y, w.output)

    def outputs(self, X):
        w = self.workload
        return self._lean.forward(np.array(X, dtype=self.dtype), self.parameters,
                                  w.hidden_activations, w.output)[-1]

    def forward(self):
        """Output activations of all m examples."""
        w = self.workload
        return self._lean.forward(self.X, self.parameters, w.hidden_activations, w.output)[-1]

    def forward_backward(self):
        """Forward then backward on all m examples; returns the gradients."""
        w = self.workload
        outputs = self._lean.forward(self.X, self.parameters, w.hidden_activations, w.output)
        return self._lean.gradients(outputs, self.Y, self.parameters, w.hidden_activations)


#: Trainer classes by implementation name; :data:`fastbp.bench.peers.PEERS` has "torch" and
#: "sklearn".
TRAINERS = {cls.name: cls for cls in (FastbpTrainer, ReferenceTrainer, LeanTrainer)}


def make_trainer(implementation, workload, dtype=None, seed=0, learning_rate=LEARNING_RATE,
                 data=None, parameters=None):
    """Build the trainer of ``implementation`` (a key of :data:`TRAINERS`) for ``workload``."""
    try:
        cls = TRAINERS[implementation]
    except KeyError:
        raise ValueError(f"unknown implementation {implementation!r}; expected one of "
                         f"{sorted(TRAINERS)}") from None
    return cls(workload, dtype=dtype, seed=seed, learning_rate=learning_rate, data=data,
               parameters=parameters)


def score_outputs(outputs, Y, output):
    """Accuracy (sigmoid or softmax output) or R² (linear output) of output activations.

    :class:`fastbp.training.Scorer`'s rule, in float64 whatever the peer's dtype: a softmax
    example is right when the largest output is its class, a sigmoid example when every label is
    on the right side of 0.5 (subset accuracy); R² is averaged uniformly over the outputs. R² does
    not change when the targets and predictions are shifted and scaled alike, so standardized
    targets give the R² of the original ones.

    Parameters
    ----------
    outputs, Y : ndarray, shape (n_L, n)
    output : {"sigmoid", "softmax", "linear"}

    Returns
    -------
    float
    """
    from ..training import Scorer

    outputs, Y = np.asarray(outputs, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    return Scorer(output, Y)(outputs)


def measure_epoch_seconds(trainer, target_seconds=1.5, repeat=5):
    """Per-epoch training time of a warmed-up trainer.

    The epoch count per timed run is calibrated first (growing at most tenfold per try, so a slow
    epoch is never run thousands of times), so that ``repeat`` runs last about ``target_seconds``
    together; each run is one ``train(epochs)`` call, so fastbp runs all its epochs in one compiled
    call while the Python peers loop.

    Parameters
    ----------
    trainer : Trainer
        Already warmed up (compiled, one epoch run).
    target_seconds : float
        Total time of the timed runs.
    repeat : int
        Number of timed runs.

    Returns
    -------
    dict
        ``epochs_per_run``, ``seconds`` (per-epoch time of each run), ``median``, ``min`` (seconds
        per epoch) and ``cost`` (the last epoch's cost, or for a trainer that evaluates none the
        cost of its final parameters, computed after the timing).
    """
    per_run = target_seconds / repeat
    epochs = 1
    while True:
        elapsed, cost = _timed_train(trainer, epochs)
        if elapsed >= 0.5 * per_run:
            break
        epochs = min(10 * epochs, max(epochs + 1, round(epochs * per_run / max(elapsed, 1e-9))))
    epochs = max(1, round(epochs * per_run / elapsed))
    seconds = []
    for _ in range(repeat):
        elapsed, cost = _timed_train(trainer, epochs)
        seconds.append(elapsed / epochs)
    if cost is None:
        cost = trainer.cost()
    return {"epochs_per_run": epochs, "seconds": seconds, "median": float(np.median(seconds)),
            "min": min(seconds), "cost": cost}


def _timed_train(trainer, epochs):
    """Wall time of ``trainer.train(epochs)`` and the cost it returned."""
    started = time.perf_counter()
    cost = trainer.train(epochs)
    return time.perf_counter() - started, cost
