"""Network: layer specs, parameter storage and workspaces around the compiled kernels.

Data layout, as in the course: X is (n_inputs, m) with one column per example, Y is (n_outputs, m),
W[l] is (n_l, n_{l-1}) and b[l] is (n_l, 1). Inside, all parameters live in one flat vector
``theta`` (``parameters`` holds views of it), and activations and gradients live in workspaces
allocated once per batch capacity.
"""
import copy
import functools
import threading

import numba
import numpy as np

from . import _fork
from . import _validation as check
from ._sparse import SparseRows
from . import initializers, persistence, training
from .kernels import activations as act
from .kernels import loop, losses, prepare_parallel
from .kernels import optim
from .kernels import sparse as sparse_kernels
from .kernels.dropout import NEEDS_RAW, prepare_dropout
from .kernels.dense import scratch_shape, transposes_inputs
from .kernels.gemm import round_up

#: The kernels' round-up, called as plain Python (no compile)
_round_up = round_up.py_func


class ParameterDict(dict):
    """The network's parameters by the course's names (``W1``, ``b1``, ...).

    Each value is a view of the network's flat parameter vector: change one in place and the next
    forward pass sees it. Assigning ``params["W1"] = array`` copies the array into that view after
    checking its shape and values; keys cannot be added or removed.
    """

    def __setitem__(self, key, value):
        if key not in self:
            raise KeyError(f"{key!r} is not a parameter of this network; it has {sorted(self)}")
        target = dict.__getitem__(self, key)
        value = check.check_array(value, key, target.dtype, ndim=np.ndim(value))
        if value.shape != target.shape:
            raise ValueError(f"{key} must have shape {target.shape}, got {value.shape}")
        target[...] = value

    def __delitem__(self, key):
        raise TypeError("parameters cannot be removed from a network")

    def _refuse(self, *args, **kwargs):
        raise TypeError("parameters are fixed by the architecture; assign single items instead")

    update = setdefault = pop = popitem = clear = _refuse

    def __deepcopy__(self, memo):
        return {key: value.copy() for key, value in self.items()}

    def __reduce__(self):
        # pickles (and copies) as a plain dict of arrays, detached from the network
        return dict, ({key: value.copy() for key, value in self.items()},)


class History(list):
    """The training cost of each epoch (a list), with validation results alongside.

    Attributes
    ----------
    validation_cost : list of float
        Cost on the validation data after each epoch (empty without validation data).
    validation_score : list of float
        Accuracy (sigmoid/softmax output) or R² (linear or exp output) on the validation data.
    """

    def __init__(self, *args):
        super().__init__(*args)
        self.validation_cost = []
        self.validation_score = []


#: Byte alignment of the workspaces and of each layer's activations and each thread's scratch
#: row in them: one cache line, the size of an AVX-512 vector. numpy aligns small arrays to 16
#: bytes only, and a vector load that straddles two lines costs two (the digits network's
#: weight gradient took 8-12% longer on a misaligned workspace).
_ALIGNMENT = 64


def _aligned_buffers(sizes, dtype):
    """Uninitialized 1-D arrays of the given sizes, carved out of one allocation, each starting
    on an :data:`_ALIGNMENT` boundary (one allocation: separate ones cost the 20-10-1 network's
    fit 2 KiB of padding and array headers, which put its peak memory above its NumPy
    reference's)."""
    dtype = np.dtype(dtype)
    step = _ALIGNMENT // dtype.itemsize
    starts = np.cumsum([0] + [_round_up(size, step) for size in sizes])
    raw = np.empty(int(starts[-1]) + step, dtype)
    first = (-raw.ctypes.data % _ALIGNMENT) // dtype.itemsize
    return [raw[first + start:first + start + size] for start, size in zip(starts, sizes)]


def _serialized(method):
    """Run ``method`` holding the network's lock: the kernels release the GIL and write the
    network's parameters and workspaces in place, so two threads inside one network at once
    would overwrite each other's activations and updates. Re-entrant, so that ``fit`` can score
    validation data and callbacks can predict."""
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)
    return locked


class Network:
    """A fully connected network trained by fastbp's compiled kernels.

    Parameters
    ----------
    layer_dims : sequence of int
        Units per layer, inputs first: ``[n_0, n_1, ..., n_L]``.
    activations : str or sequence of str, default "relu"
        Hidden activation, one name for all hidden layers or one per hidden layer: ``relu``,
        ``leaky_relu`` (slope 0.01), ``tanh``, ``sigmoid``, ``linear`` (alias ``identity``).
    output : {"sigmoid", "softmax", "linear", "exp"}, default "sigmoid"
        Output activation ("exp" is Poisson regression's log link: A = exp(Z) > 0).
    loss : {"bce", "ce", "mse", "poisson"} or None
        The loss; None infers it from ``output`` (sigmoid -> binary cross-entropy, softmax ->
        categorical cross-entropy, linear -> mean squared error, exp -> half Poisson deviance,
        scikit-learn's ``loss="poisson"``, whose targets must be non-negative). Only these
        matched pairs are supported: for them the output gradient is exactly A - Y.
    dtype : float32 or float64, default float64
    seed : int or None
        Seed of the weight initialization and of shuffling.
    init : {"course", "he", "glorot", "small"}, default "course"
        Weight initializer (see :mod:`fastbp.initializers`); "course" is randn / sqrt(n_prev)
        with zero biases.
    dropout : float or sequence of float, default 0
        Inverted dropout on the hidden layers in training, one rate for all or one per hidden
        layer: each unit is dropped with this probability (each in [0, 1); 0 is none) and the
        kept ones are divided by the keep probability, as the course teaches
        (:mod:`fastbp.kernels.dropout`). A new mask is drawn for every minibatch from the fit's
        seeded generator (reproducible from ``fit``'s seed, the same with any thread count).
        ``forward``, ``predict``, ``cost``, validation scores and ``gradient_check`` use the
        whole network; the training costs in ``history`` are those of the batches with their
        masks.

    Attributes
    ----------
    parameters : ParameterDict
        ``W1``, ``b1``, ... with the course's shapes; views of the arrays the kernels use.
    history : History
        Training cost of each epoch of every ``fit`` call (with validation results alongside).
    samples_seen_ : int
        Examples trained on so far (scikit-learn's ``t_``; drives the invscaling schedule).
    learning_rate_ : float or None
        The learning rate at the end of the last ``fit`` (after any schedule).

    Notes
    -----
    Thread safety: separate networks may be used from separate threads at once (the kernels
    release the GIL; results are bit-identical to running them one after another). Calls on one
    network from several threads are serialized by a lock held for the whole call (``fit``,
    ``forward``, ``backward``, ``cost``, ``predict``, ``save``, ``gradient_check``, pickling):
    they never interleave inside the network, but ``backward`` uses the last ``forward`` of
    whichever thread ran it. In a child forked after fastbp was imported, kernels run on one
    thread (see :mod:`fastbp._fork`).
    """

    def __init__(self, layer_dims, activations="relu", output="sigmoid", loss=None,
                 dtype=np.float64, seed=None, init="course", dropout=0.0):
        self._lock = threading.RLock()
        dims = _check_layer_dims(layer_dims)
        n_hidden = len(dims) - 2
        if isinstance(activations, str):
            hidden = [activations] * n_hidden
        else:
            hidden = list(activations)
            if len(hidden) != n_hidden:
                raise ValueError(f"activations lists {len(hidden)} name(s) but the network has "
                                 f"{n_hidden} hidden layer(s)")
        codes = [act.activation_code(name) for name in hidden]
        output_code = act.activation_code(output, output=True)
        matching = losses.MATCHING_LOSS[output]
        if loss is None:
            loss_code = matching
        else:
            if not isinstance(loss, str) or loss not in losses.LOSSES:
                raise ValueError(f"unknown loss {loss!r}; expected one of "
                                 f"{sorted(losses.LOSSES)}")
            loss_code = losses.LOSSES[loss]
            if loss_code != matching:
                raise ValueError(f"loss {loss!r} does not match output {output!r}; fastbp trains "
                                 "the matched pairs sigmoid+bce, softmax+ce, linear+mse and "
                                 "exp+poisson")
        self.dtype = check.check_dtype(dtype)
        self.init = initializers.check_initializer(init)
        rates = check.check_dropout(dropout, n_hidden)
        self.layer_dims = tuple(dims)
        self.activations = tuple(act.NAMES[c] for c in codes)
        self.output = act.NAMES[output_code]
        self.loss = losses.NAMES[loss_code]
        self._rng = np.random.default_rng(seed)
        self._dims = np.asarray(dims, dtype=np.int64)
        self._codes = np.asarray([act.LINEAR] + codes + [output_code], dtype=np.int64)
        self._loss_code = loss_code
        self._set_rates(rates)
        self._allocate_parameters()
        self.reset_parameters()
        self.history = History()
        self.samples_seen_ = 0
        self.learning_rate_ = None
        self._workspaces = {}
        self._last_forward = None
        self._optimizer = None

    # ----------------------------------------------------------------- storage
    def _allocate_parameters(self):
        dims = self.layer_dims
        n_layers = len(dims) - 1
        w_off = [0] * (n_layers + 1)
        b_off = [0] * (n_layers + 1)
        position = 0
        for l in range(1, n_layers + 1):
            w_off[l] = position
            position += dims[l] * dims[l - 1]
            b_off[l] = position
            position += dims[l]
        try:
            if position > np.iinfo(np.intp).max:  # counted in Python: no offset array holds it
                raise MemoryError
            w_off = np.array(w_off, dtype=np.int64)
            b_off = np.array(b_off, dtype=np.int64)
            self._theta = np.zeros(position, dtype=self.dtype)
        except (MemoryError, ValueError) as error:
            raise ValueError(f"layer_dims {list(dims)} need {position} parameters "
                             f"({position * self.dtype.itemsize / 2**30:.3g} GiB), which cannot "
                             "be allocated") from error
        self._w_off, self._b_off = w_off, b_off
        self._make_views()

    def _make_views(self):
        """Build ``parameters``: views of ``theta`` by the course's names."""
        dims, w_off, b_off = self.layer_dims, self._w_off, self._b_off
        n_layers = len(dims) - 1
        views = ParameterDict()
        for l in range(1, n_layers + 1):
            n, n_prev = dims[l], dims[l - 1]
            dict.__setitem__(views, f"W{l}", self._theta[w_off[l]:w_off[l] + n * n_prev]
                             .reshape(n, n_prev))
            dict.__setitem__(views, f"b{l}", self._theta[b_off[l]:b_off[l] + n].reshape(n, 1))
        self.parameters = views

    @_serialized
    def reset_parameters(self):
        """Draw fresh parameters with the network's initializer (and generator)."""
        layers = initializers.initialize(self.init, self.layer_dims, self.activations, self._rng)
        for l, (W, b) in enumerate(layers, start=1):
            self.parameters[f"W{l}"][...] = W
            self.parameters[f"b{l}"][...] = b.reshape(-1, 1)

    @property
    def dropout(self):
        """Dropout rate of each hidden layer (a tuple; see the class docstring). Assigning one
        rate or one per hidden layer changes it for the next ``fit``."""
        return self._rates

    @dropout.setter
    def dropout(self, value):
        rates = check.check_dropout(value, len(self.layer_dims) - 2)
        with self._lock:
            if rates != self._rates:
                self._set_rates(rates)
                self._workspaces.pop("train", None)   # its masks are laid out for the old rates

    def _set_rates(self, rates):
        """Set the dropout rates and the kernels' keep probabilities from them."""
        self._rates, self._keep = rates, _keep_probabilities(rates)

    @property
    def _dropping(self):
        """Whether training drops any unit (from the rates, a tuple: no NumPy reduction in the
        calls made before every epoch)."""
        return any(self._rates)

    def _model(self, training=False):
        """The kernels' model tuple (see ``kernels.loop``); with dropout only for ``training``
        (``keep`` is empty otherwise: the whole network)."""
        keep = self._keep if training and self._dropping else _NO_DROPOUT
        return (self._dims, self._codes, self._loss_code, self._w_off, self._b_off, self._theta,
                keep)

    def _work(self, capacity, purpose="train", gather=False, inputs_by_rows=False,
              sparse_inputs=False):
        """Workspace tuple for batches of up to ``capacity`` examples (grown, never shrunk).

        ``forward()`` keeps its own (``purpose="forward"``): ``backward()`` reads the activations
        it left there, which training, ``cost()`` or a gradient check must not overwrite. Only a
        workspace that gathers minibatches (``gather``) holds a batch of inputs, targets and
        weights; one batch of every example is read where it lies. A workspace for passes whose
        first layer reads its inputs example-major (``inputs_by_rows``) has less scratch, and is
        used for no other. A workspace for sparse inputs (``sparse_inputs``, see
        ``kernels.sparse``) never holds a batch of inputs, and is used for sparse inputs only.
        """
        held = self._workspaces.get(purpose)
        # dropout masks only in the training workspace (training's is the only dropped pass)
        dropping = purpose == "train" and self._dropping
        # a workspace built before a fork has one scratch row per thread: rebuilt (see _fork)
        if (held is not None and held[0] >= capacity and (held[2] or not gather)
                and (inputs_by_rows or not held[3]) and held[4] == _fork.generation
                and held[5] == sparse_inputs):
            return held[1]
        dims = self.layer_dims
        step = _ALIGNMENT // self.dtype.itemsize
        # the activations' offsets, then the dropout masks' and their copies' (kernels.dropout)
        act_off = np.zeros(3 * len(dims), dtype=np.int64)
        total = capacity * dims[0] if gather and not sparse_inputs else 0
        for l in range(1, len(dims)):
            act_off[l] = _round_up(total, step)
            total = act_off[l] + capacity * dims[l]
        total = self._dropout_layout(act_off, _round_up(total, step), capacity, dropping)
        batch = capacity if gather else 0
        if sparse_inputs:
            # the first layer's sums are the sparse kernels', which need no packing buffers
            # but a row of dW1 per thread (the training step's update is fused with dW1); they
            # may take threads when dW1 alone (or a batch of nonzeros) is large
            threads, elements = scratch_shape(dims[1:], capacity, self.dtype)
            elements = max(elements, dims[0])
            if dims[1] * dims[0] * (capacity + 1) >= sparse_kernels.PARALLEL_MIN_ELEMENTS:
                threads = numba.config.NUMBA_NUM_THREADS
        else:
            threads, elements = scratch_shape(dims, capacity, self.dtype, inputs_by_rows)
        threads = _fork.scratch_rows(threads)
        if threads > 1:
            prepare_parallel(self.dtype, self._theta.size)
            if sparse_inputs:
                sparse_kernels.prepare_sparse_parallel(self.dtype)
        row = _round_up(elements, step)
        sizes = [total,                                  # acts (+ layer 0, + dropout masks)
                 capacity * dims[-1],                                      # z
                 batch * dims[-1],                                         # y_b
                 batch,                                                    # w_b
                 min(2, len(dims) - 2) * capacity * max(dims[1:-1], default=0),  # delta
                 self._theta.size,                                         # grad
                 threads * row]                                            # scratch
        try:
            acts, z, y_b, w_b, delta, grad, scratch = _aligned_buffers(sizes, self.dtype)
        except (MemoryError, ValueError) as error:  # ValueError: more than numpy can index
            raise ValueError(
                f"a workspace for batches of {capacity} examples of this network needs "
                f"{sum(sizes) * self.dtype.itemsize / 2**30:.3g} GiB, which cannot be "
                "allocated; use a smaller batch_size (or predict in chunks)") from error
        grad[:] = 0
        if dropping:
            prepare_dropout(self.dtype)
        work = (act_off, acts, z, y_b, w_b, delta, grad, scratch.reshape(threads, row))
        self._workspaces[purpose] = (capacity, work, gather, inputs_by_rows, _fork.generation,
                                     sparse_inputs)
        return work

    def _dropout_layout(self, act_off, start, capacity, dropping):
        """Lay out the dropout part of a workspace's ``acts`` from ``start`` (``kernels.dropout``):
        a mask (n_l, capacity) for every dropped hidden layer, a copy of its activations before the
        mask for those whose g' reads them; their offsets go into ``act_off`` after the
        activations' (-1: no copy). Returns the length of ``acts``."""
        dims = self.layer_dims
        step = _ALIGNMENT // self.dtype.itemsize
        layers = len(dims)
        act_off[layers:] = -1
        total = start
        if dropping:
            for l in range(1, layers - 1):
                if self._keep[l] < 1.0:
                    act_off[layers + l] = total
                    total = _round_up(total + capacity * dims[l], step)
                    if self.activations[l - 1] in NEEDS_RAW:
                        act_off[2 * layers + l] = total
                        total = _round_up(total + capacity * dims[l], step)
        # a layer without a mask points past the end: a mask read there is an IndexError (the
        # kernels' views are checked), never another buffer's memory
        masks = act_off[layers:2 * layers]
        masks[masks < 0] = total
        return total

    # ----------------------------------------------------------------- inference
    @_serialized
    def forward(self, X):
        """Forward propagation.

        Parameters
        ----------
        X : array-like or scipy sparse matrix, shape (n_0, m)

        Returns
        -------
        AL : ndarray, shape (n_L, m)
            The output activations. The pass is remembered for :meth:`backward`.
        """
        X = check.check_inputs(X, self.layer_dims[0], self.dtype, sparse=True)
        m = X.shape[1]
        if isinstance(X, SparseRows):
            work = self._work(m, "forward", sparse_inputs=True)
            sparse_kernels.sparse_forward_pass(*X.arrays, 0, m, self._model(), work)
        else:
            X = np.ascontiguousarray(X)
            work = self._work(m, "forward")
            loop.forward_pass(X, self._model(), work)
        self._last_forward = X
        return self._output(work, m).copy()

    def _output(self, work, m):
        """View of the output activations (n_L, m) of the last forward pass."""
        n_out = self.layer_dims[-1]
        offset = work[0][len(self.layer_dims) - 1]
        return work[1][offset:offset + n_out * m].reshape(n_out, m)

    @_serialized
    def backward(self, Y):
        """Backward propagation from the last :meth:`forward`.

        Parameters
        ----------
        Y : array-like, shape (n_L, m)
            Targets for the examples of the last forward pass.

        Returns
        -------
        grads : dict
            ``dW{l}`` (n_l, n_{l-1}) and ``db{l}`` (n_l, 1) for l = 1..L: gradients of the mean
            loss (new arrays).
        """
        if self._last_forward is None:
            raise RuntimeError("backward() needs a forward() first")
        X = self._last_forward
        m = X.shape[1]
        Y = check.check_array(Y, "Y", self.dtype)
        if Y.shape != (self.layer_dims[-1], m):
            raise ValueError(f"Y must have shape {(self.layer_dims[-1], m)} to match the last "
                             f"forward pass, got {Y.shape}")
        if isinstance(X, SparseRows):
            work = self._work(m, "forward", sparse_inputs=True)
            sparse_kernels.sparse_backward_pass(*X.arrays, 0, np.ascontiguousarray(Y),
                                                np.empty(0, self.dtype), False, 1.0 / m, 0.0,
                                                self._model(), work)
            return self._gradient_dict(work[-2])
        work = self._work(m, "forward")
        loop.backward_pass(X, X[:0], np.ascontiguousarray(Y), np.empty(0, self.dtype), False,
                           1.0 / m, 0.0, self._model(), work)
        return self._gradient_dict(work[6])

    def _gradient_dict(self, grad):
        grads = {}
        for l in range(1, len(self.layer_dims)):
            n, n_prev = self.layer_dims[l], self.layer_dims[l - 1]
            grads[f"dW{l}"] = grad[self._w_off[l]:self._w_off[l] + n * n_prev].reshape(n, n_prev).copy()
            grads[f"db{l}"] = grad[self._b_off[l]:self._b_off[l] + n].reshape(n, 1).copy()
        return grads

    @_serialized
    def _loss_and_gradient(self, X, Y, alpha=0.0, weights=None):
        """Cost and flat gradient (a view of the workspace) on validated neuron-major X, Y
        (X may be ``SparseRows``)."""
        weighted = weights is not None
        weights = np.empty(0, self.dtype) if weights is None else weights
        if isinstance(X, SparseRows):
            work = self._work(X.shape[1], sparse_inputs=True)
            cost = sparse_kernels.sparse_loss_and_gradient(
                *X.arrays, _kernel_array(Y), _kernel_array(weights), weighted, float(alpha),
                self._model(), work)
            return cost, work[-2]
        work = self._work(X.shape[1])
        # a read-only array (a regressor's targets from a memmap) would compile the kernels anew
        cost = loop.loss_and_gradient(_kernel_array(X), _kernel_array(Y), _kernel_array(weights),
                                      weighted, float(alpha), self._model(), work)
        return cost, work[6]

    @_serialized
    def cost(self, X, Y):
        """Mean loss over the examples of X (the network's loss; no penalty).

        Parameters
        ----------
        X : array-like or scipy sparse matrix, shape (n_0, m)
        Y : array-like, shape (n_L, m)

        Returns
        -------
        float
        """
        X, Y = check.check_training_pair(X, Y, self.layer_dims[0], self.layer_dims[-1],
                                         self.dtype, sparse=True)
        return self._cost(X, Y)

    @_serialized
    def _cost(self, X, Y, weights=None, outputs=False):
        """The mean loss on checked data; with ``outputs``, also a view of the output
        activations of that pass (valid until the next pass in the same workspace)."""
        weighted = weights is not None
        weights = weights if weighted else np.empty(0, self.dtype)
        if isinstance(X, SparseRows):
            work = self._work(X.shape[1], sparse_inputs=True)
            cost = float(sparse_kernels.sparse_forward_loss(
                *X.arrays, _kernel_array(Y), _kernel_array(weights), weighted, 0.0, self._model(),
                work))
        else:
            work = self._work(X.shape[1])
            cost = float(loop.forward_loss(_kernel_array(X), _kernel_array(Y),
                                           _kernel_array(weights), weighted, 0.0, self._model(),
                                           work))
        return (cost, self._output(work, X.shape[1])) if outputs else cost

    def predict_proba(self, X):
        """Output probabilities, shape (n_L, m), for a sigmoid or softmax output."""
        if self.output in ("linear", "exp"):
            raise ValueError("predict_proba needs a sigmoid or softmax output; this network's "
                             f"output is {self.output} (use predict)")
        return self.forward(X)

    def predict(self, X):
        """Predictions for the columns of X.

        Returns
        -------
        ndarray
            sigmoid output: 0/1 labels of shape (n_L, m) (A > 0.5, as the course);
            softmax output: class indices of shape (m,) (argmax over the outputs);
            linear or exp output: the values, shape (n_L, m).
        """
        AL = self.forward(X)
        if self.output == "sigmoid":
            return (AL > 0.5).astype(np.int64)
        if self.output == "softmax":
            return AL.argmax(axis=0)
        return AL

    # ----------------------------------------------------------------- training
    @_serialized
    def fit(self, X, Y, epochs=1, batch_size=None, optimizer="sgd", learning_rate=0.01,
            shuffle=True, seed=None, *, momentum=0.9, nesterov=False, beta_1=0.9, beta_2=0.999,
            epsilon=1e-8, alpha=0.0, learning_rate_schedule="constant", power_t=0.5,
            sample_weight=None, validation_data=None, validation_fraction=None,
            early_stopping=False, n_iter_no_change=None, tol=1e-4, callbacks=None,
            verbose=False, plateau=None, early_stopping_metric="score", on_divergence="raise"):
        """Minibatch training from the current parameters.

        Each epoch — shuffle, minibatch gather, forward, backward, update — runs inside one
        compiled call, several epochs per call when nothing needs Python in between, with no
        allocation per minibatch. Optimizer state is kept between calls while the optimizer stays
        the same, so ``fit`` can be called again to continue training.

        Parameters
        ----------
        X : array-like or scipy sparse matrix, shape (n_0, m)
            A sparse X (any scipy format; CSC is read in place, others are converted once) is
            never made dense: the first layer reads the nonzeros of each batch's examples
            (``fastbp.kernels.sparse``).
        Y : array-like, shape (n_L, m)
        epochs : int, default 1
        batch_size : int or None
            None trains on the full batch.
        optimizer : {"sgd", "momentum", "adam"}, default "sgd"
        learning_rate : float, default 0.01
        shuffle : bool, default True
            Reshuffle the examples before each epoch (a full batch is never copied).
        seed : int or None
            Seed of shuffling, of the dropout masks and of the validation split; None draws
            from the network's generator. The same seed gives bit-identical parameters with any
            thread count.
        momentum : float, default 0.9
            ``momentum`` optimizer: v = momentum * v - lr * g.
        nesterov : bool, default False
            ``momentum`` optimizer: use Nesterov's momentum.
        beta_1, beta_2, epsilon : float
            ``adam`` optimizer (scikit-learn's and the course's names and defaults).
        alpha : float, default 0
            L2 penalty: ``0.5 * alpha * sum(W**2) / m`` added to the cost, ``alpha * W / m`` to
            dW (m the batch size, or its total sample weight), as scikit-learn.
        learning_rate_schedule : {"constant", "invscaling", "adaptive"}
            scikit-learn's schedules: invscaling sets lr = learning_rate / (t + 1)**power_t after
            each epoch (t the examples seen by this network); adaptive divides lr by 5 each time
            the watched value plateaus (needs ``n_iter_no_change``) and stops below 1e-6.
        power_t : float, default 0.5
        sample_weight : array-like, shape (m,), optional
            Non-negative weight of each example in the loss and the gradients.
        validation_data : (X_val, Y_val) or (X_val, Y_val, weights_val), optional
            Scored after every epoch (``history.validation_cost`` / ``validation_score``).
        validation_fraction : float in (0, 1), optional
            Hold out this fraction of (X, Y) as validation data instead.
        early_stopping : bool, default False
            Stop when the validation score (or loss, see ``early_stopping_metric``) stops
            improving and restore the best parameters. Uses ``validation_fraction=0.1`` if no
            validation data is given and ``n_iter_no_change=10`` if none is given.
        n_iter_no_change : int or None
            Stop (or, adaptive, lower the rate) once the watched value — the validation score
            or loss if there is validation data, else the training cost — has not improved by
            ``tol`` for more than this many epochs. None trains all ``epochs``.
        tol : float, default 1e-4
        callbacks : list of callables, optional
            ``callback(epoch, history)`` after each epoch (``epoch`` counts from 0 in this call);
            returning True stops training.
        verbose : bool, default False
            Show a tqdm progress bar with the current cost.
        plateau : fastbp.training.Plateau, optional
            Continue this no-improvement count (its ``tol``, best value and count) instead of
            starting a fresh one, as scikit-learn's estimators carry theirs across warm-started
            fits and ``partial_fit`` calls. It must watch a score (``higher_is_better``) exactly
            when there is validation data and ``early_stopping_metric="score"``. Used only with
            ``n_iter_no_change``.
        early_stopping_metric : {"score", "loss"}, default "score"
            What is watched on the validation data: its score (``history.validation_score``,
            higher is better) or its loss (``history.validation_cost``, the network's loss
            without the L2 penalty, lower is better).
        on_divergence : {"raise", "stop"}, default "raise"
            A NaN or infinite training cost raises FloatingPointError ("raise"), or ("stop")
            ends training with a RuntimeWarning: the epoch is recorded as NaN in the history
            (and the validation results), and the parameters are the best epoch's with
            ``early_stopping``, else those of the last whole epoch.

        Returns
        -------
        self

        Raises
        ------
        FloatingPointError
            If the cost becomes NaN or infinite (``on_divergence="raise"``); the parameters of
            the last whole epoch stay.

        Notes
        -----
        Ctrl-C stops training cleanly after the last whole epoch (with a warning); the history
        and the parameters agree.
        """
        plan, data = self._plan(X, Y, epochs, batch_size, optimizer, learning_rate, shuffle,
                                momentum, nesterov, beta_1, beta_2, epsilon, alpha,
                                learning_rate_schedule, power_t, sample_weight, validation_data,
                                validation_fraction, early_stopping, n_iter_no_change, tol,
                                callbacks, verbose, plateau, early_stopping_metric,
                                on_divergence)
        rng = self._rng if seed is None else np.random.default_rng(seed)
        generator_state = rng.bit_generator.state
        try:
            if validation_fraction is not None or (early_stopping and validation_data is None):
                data = _hold_out(data, 0.1 if validation_fraction is None
                                 else validation_fraction, rng)
            # the workspace is the one allocation that may fail: make it before anything else
            # changes (and give back the draws of the split if it fails)
            whole = plan.batch_size >= data.X.shape[1]
            self._work(plan.batch_size, gather=not whole,
                       inputs_by_rows=whole and data.X_t.shape[0] > 0,
                       sparse_inputs=isinstance(data.X, SparseRows))
        except ValueError:
            rng.bit_generator.state = generator_state
            raise
        # everything is checked: from here on the network changes
        self._select_optimizer(optimizer)
        rng_state = rng.integers(0, 2**63, size=1, dtype=np.int64).astype(np.uint64)
        self._last_forward = None
        training.run(self, data, plan, rng_state)
        return self

    def _plan(self, X, Y, epochs, batch_size, optimizer, learning_rate, shuffle, momentum,
              nesterov, beta_1, beta_2, epsilon, alpha, schedule, power_t, sample_weight,
              validation_data, validation_fraction, early_stopping, n_iter_no_change, tol,
              callbacks, verbose, plateau=None, metric="score", on_divergence="raise"):
        """Validate every argument of ``fit`` and convert the data, changing nothing."""
        X, Y = check.check_training_pair(X, Y, self.layer_dims[0], self.layer_dims[-1],
                                         self.dtype, sparse=True)
        self._check_targets(Y, "Y")
        if isinstance(X, SparseRows) and self._dropping:
            raise ValueError("dropout is not supported with sparse inputs yet: train this "
                             "network on a dense X, or with dropout=0")
        m = X.shape[1]
        epochs = check.check_positive_int(epochs, "epochs")
        batch_size = check.check_positive_int(batch_size, "batch_size", allow_none=True)
        batch_size = m if batch_size is None else min(batch_size, m)
        if not isinstance(optimizer, str) or optimizer not in optim.OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; expected one of "
                             f"{sorted(optim.OPTIMIZERS)}")
        hyper = np.zeros(optim.N_HYPER)
        hyper[optim.LEARNING_RATE] = check.check_positive_float(learning_rate, "learning_rate")
        hyper[optim.MOMENTUM_FACTOR] = check.check_fraction(momentum, "momentum", closed=True)
        hyper[optim.NESTEROV] = bool(nesterov)
        hyper[optim.BETA_1] = check.check_fraction(beta_1, "beta_1")
        hyper[optim.BETA_2] = check.check_fraction(beta_2, "beta_2")
        hyper[optim.EPSILON] = check.check_positive_float(epsilon, "epsilon")
        if schedule not in training.SCHEDULES:
            raise ValueError(f"unknown learning_rate_schedule {schedule!r}; expected one of "
                             f"{list(training.SCHEDULES)}")
        if early_stopping and n_iter_no_change is None:
            n_iter_no_change = 10
        if schedule == "adaptive" and n_iter_no_change is None:
            raise ValueError("learning_rate_schedule='adaptive' needs n_iter_no_change (the "
                             "number of epochs without improvement that lowers the rate)")
        n_iter_no_change = check.check_positive_int(n_iter_no_change, "n_iter_no_change",
                                                    allow_none=True)
        callbacks = list(callbacks or [])
        for callback in callbacks:
            if not callable(callback):
                raise TypeError(f"callbacks must be callables, got {callback!r}")
        weights = None
        if sample_weight is not None:
            weights = check.check_sample_weight(sample_weight, m, self.dtype)
        if validation_data is not None and validation_fraction is not None:
            raise ValueError("give validation_data or validation_fraction, not both")
        if validation_fraction is not None:
            check.check_fraction(validation_fraction, "validation_fraction")
        if metric not in ("score", "loss"):
            raise ValueError(f"early_stopping_metric must be 'score' or 'loss', got {metric!r}")
        if on_divergence not in ("raise", "stop"):
            raise ValueError(f"on_divergence must be 'raise' or 'stop', got {on_divergence!r}")
        if plateau is not None:
            if not isinstance(plateau, training.Plateau):
                raise TypeError(f"plateau must be a fastbp.training.Plateau, got {plateau!r}")
            validating = (validation_data is not None or validation_fraction is not None
                          or bool(early_stopping))
            if plateau.higher_is_better != (validating and metric == "score"):
                raise ValueError("plateau must watch a score (higher_is_better=True) exactly when "
                                 "there is validation data and early_stopping_metric='score'")
        plan = training.Plan(
            epochs=epochs, batch_size=batch_size, shuffle=bool(shuffle),
            optimizer=optim.OPTIMIZERS[optimizer], hyper=hyper,
            learning_rate=hyper[optim.LEARNING_RATE],
            alpha=check.check_positive_float(alpha, "alpha", allow_zero=True),
            schedule=schedule, power_t=check.check_positive_float(power_t, "power_t", True),
            n_iter_no_change=n_iter_no_change,
            tol=check.check_positive_float(tol, "tol", allow_zero=True),
            restore_best=bool(early_stopping), callbacks=callbacks, verbose=bool(verbose),
            plateau=plateau, metric=metric, stop_on_divergence=on_divergence == "stop")
        # one batch of every example reads X itself; minibatches are gathered from X's columns,
        # or from the rows of X.T when that is the contiguous one (scikit-learn's layout): no
        # copy of the data either way. A small first layer, trained on one batch of every
        # example, also reads X.T for its weight gradient, rather than transposing X every epoch.
        X_t = np.empty((0, 0), self.dtype)
        if isinstance(X, SparseRows):
            pass    # the sparse kernels read (or gather) its rows
        elif batch_size < m and not X.flags.c_contiguous:
            X_t = np.ascontiguousarray(X.T)
        else:
            X = np.ascontiguousarray(X)
            if batch_size >= m and transposes_inputs(self.layer_dims[1], self.layer_dims[0], m):
                X_t = np.ascontiguousarray(X.T)
        data = training.Data(X_t=X_t, X=X,
                             Y=np.ascontiguousarray(Y),
                             weights=weights if weights is not None else np.empty(0, self.dtype),
                             weighted=weights is not None)
        if validation_data is not None:
            data.X_val, data.Y_val, data.weights_val = self._check_validation(validation_data)
        return plan, data

    def _check_validation(self, validation_data):
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be a tuple (X_val, Y_val) or (X_val, Y_val, "
                             "sample_weight_val)")
        X_val, Y_val = check.check_training_pair(validation_data[0], validation_data[1],
                                                 self.layer_dims[0], self.layer_dims[-1],
                                                 self.dtype, "X_val", "Y_val", sparse=True)
        self._check_targets(Y_val, "Y_val")
        weights = None
        if len(validation_data) == 3 and validation_data[2] is not None:
            weights = check.check_sample_weight(validation_data[2], X_val.shape[1], self.dtype)
        return X_val, Y_val, weights

    def _check_targets(self, Y, name):
        """Refuse targets the loss is not defined for: Poisson's must be non-negative."""
        if self._loss_code == losses.POISSON and (Y < 0).any():
            raise ValueError(f"{name} has negative values; the Poisson loss needs targets >= 0")

    def _select_optimizer(self, name):
        """Make ``name`` the current optimizer; its state is kept while the name stays."""
        if self._optimizer is None or self._optimizer[0] != name:
            rows = optim.STATE_ROWS[optim.OPTIMIZERS[name]]
            self._optimizer = (name, np.zeros((rows, self._theta.size), self.dtype),
                               np.zeros(1, dtype=np.int64))

    def _optimizer_state(self):
        return self._optimizer[1], self._optimizer[2]

    def __getstate__(self):
        # pickle the flat storage only: views and workspaces are rebuilt, not copied; copied
        # under the lock, so a network training in another thread pickles as one whole state
        with self._lock:
            state = self.__dict__.copy()
            for derived in ("parameters", "_workspaces", "_last_forward", "_lock"):
                state.pop(derived, None)
            state["_theta"] = self._theta.copy()
            if self._optimizer is not None:
                name, moments, step = self._optimizer
                state["_optimizer"] = (name, moments.copy(), step.copy())
            state["history"] = copy.deepcopy(self.history)
        return state

    def __setstate__(self, state):
        # arrays loaded read-only (joblib.load(..., mmap_mode="r")) are copied: training writes
        # them, and the kernels would otherwise compile again for read-only array types
        state = {key: _writeable(value) for key, value in state.items()}
        if state.get("_optimizer") is not None:
            state["_optimizer"] = tuple(_writeable(part) for part in state["_optimizer"])
        self.__dict__.update(state)
        # pickled before fastbp had dropout: no rates
        self._set_rates(state.get("_rates", (0.0,) * (len(self.layer_dims) - 2)))
        self._lock = threading.RLock()
        self._workspaces = {}
        self._last_forward = None
        self._make_views()

    # ----------------------------------------------------------------- persistence
    @_serialized
    def save(self, path):
        """Save the network to a .npz file (no pickle): architecture, dtype, parameters,
        optimizer state, history and generator state. :meth:`load` restores it exactly."""
        persistence.save(self, path)

    @classmethod
    def load(cls, path):
        """Load a network saved by :meth:`save`.

        Raises
        ------
        ValueError
            If the file is not a fastbp network file or is damaged.
        """
        return persistence.load(path, cls)

    def __repr__(self):
        dropout = f", dropout={list(self.dropout)}" if self._dropping else ""
        return (f"Network(layer_dims={list(self.layer_dims)}, activations="
                f"{list(self.activations)}, output={self.output!r}, loss={self.loss!r}, "
                f"dtype={self.dtype.name}{dropout})")


#: ``keep`` of the kernels' model tuple for every pass without dropout.
_NO_DROPOUT = np.empty(0)


def _keep_probabilities(rates):
    """The kernels' ``keep``: 1 - rate for each hidden layer, 1 for the inputs and outputs."""
    return np.array([1.0] + [1.0 - rate for rate in rates] + [1.0])


def _kernel_array(array):
    """``array`` C-contiguous and writeable, as the kernels are compiled for: a read-only array
    is another Numba type, which would compile every kernel on its path again."""
    return _writeable(np.ascontiguousarray(array))


def _writeable(value):
    """``value``, or a writeable copy of it if it is a read-only array."""
    if isinstance(value, np.ndarray) and not value.flags.writeable:
        return np.array(value)
    return value


def _hold_out(data, fraction, rng):
    """Split a random ``fraction`` of the training examples off as validation data."""
    m = data.X.shape[1]
    n_val = int(np.ceil(fraction * m))
    if n_val < 1 or m - n_val < 1:
        raise ValueError(f"validation_fraction={fraction} of {m} examples leaves an empty "
                         "training or validation set")
    order = rng.permutation(m)
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    if isinstance(data.X, SparseRows):
        X, X_val = data.X.take(train), data.X.take(val)
    else:
        X = np.ascontiguousarray(data.X[:, train])
        X_val = np.ascontiguousarray(data.X[:, val])
    return training.Data(
        X_t=np.empty((0, 0), X.dtype), X=X, Y=np.ascontiguousarray(data.Y[:, train]),
        weights=data.weights[train] if data.weighted else data.weights, weighted=data.weighted,
        X_val=X_val, Y_val=np.ascontiguousarray(data.Y[:, val]),
        weights_val=data.weights[val] if data.weighted else None)


def _check_layer_dims(layer_dims):
    try:
        dims = list(layer_dims)
    except TypeError as error:
        raise ValueError(f"layer_dims must be a sequence of positive integers, got "
                         f"{layer_dims!r}") from error
    if len(dims) < 2:
        raise ValueError(f"layer_dims needs at least an input and an output size, got {dims}")
    for n in dims:
        check.check_positive_int(n, "every entry of layer_dims")
        if int(n) > np.iinfo(np.int64).max:
            raise ValueError(f"layer_dims {dims} has a layer of {n} neurons, more than a 64-bit "
                             "integer counts: no such network can be allocated")
    return [int(n) for n in dims]
