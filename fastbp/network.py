"""Network: layer specs, parameter storage and workspaces around the compiled kernels.

Data layout, as in the course: X is (n_inputs, m) with one column per example, Y is (n_outputs, m),
W[l] is (n_l, n_{l-1}) and b[l] is (n_l, 1). Inside, all parameters live in one flat vector
``theta`` (``parameters`` holds views of it), and activations and gradients live in workspaces
allocated once per batch capacity.
"""
import time

import numpy as np

from . import _validation as check
from .kernels import activations as act
from .kernels import loop, losses
from .kernels import optim
from .kernels.dense import transpose_into

#: Seconds one compiled training call may run before returning to Python, so that Ctrl-C is seen
#: promptly and never lands inside an epoch.
_CALL_SECONDS = 0.1


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
        Accuracy (sigmoid/softmax output) or R² (linear output) on the validation data.
    """

    def __init__(self, *args):
        super().__init__(*args)
        self.validation_cost = []
        self.validation_score = []


class Network:
    """A fully connected network trained by fastbp's compiled kernels.

    Parameters
    ----------
    layer_dims : sequence of int
        Units per layer, inputs first: ``[n_0, n_1, ..., n_L]``.
    activations : str or sequence of str, default "relu"
        Hidden activation, one name for all hidden layers or one per hidden layer: ``relu``,
        ``leaky_relu`` (slope 0.01), ``tanh``, ``sigmoid``, ``linear`` (alias ``identity``).
    output : {"sigmoid", "softmax", "linear"}, default "sigmoid"
        Output activation.
    loss : {"bce", "ce", "mse"} or None
        The loss; None infers it from ``output`` (sigmoid -> binary cross-entropy, softmax ->
        categorical cross-entropy, linear -> mean squared error). Only these matched pairs are
        supported: for them the output gradient is exactly A - Y.
    dtype : float32 or float64, default float64
    seed : int or None
        Seed of the weight initialization (W ~ randn / sqrt(n_prev), b = 0) and of shuffling.

    Attributes
    ----------
    parameters : ParameterDict
        ``W1``, ``b1``, ... with the course's shapes; views of the arrays the kernels use.
    history : History
        Training cost of each epoch of every ``fit`` call.
    """

    def __init__(self, layer_dims, activations="relu", output="sigmoid", loss=None,
                 dtype=np.float64, seed=None):
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
                                 "the matched pairs sigmoid+bce, softmax+ce and linear+mse")
        self.dtype = check.check_dtype(dtype)
        self.layer_dims = tuple(dims)
        self.activations = tuple(act.NAMES[c] for c in codes)
        self.output = act.NAMES[output_code]
        self.loss = losses.NAMES[loss_code]
        self._rng = np.random.default_rng(seed)
        self._dims = np.asarray(dims, dtype=np.int64)
        self._codes = np.asarray([act.LINEAR] + codes + [output_code], dtype=np.int64)
        self._loss_code = loss_code
        self._allocate_parameters()
        self._initialize_course()
        self.history = History()
        self._workspace = None
        self._last_forward = None
        self._optimizer = None

    # ----------------------------------------------------------------- storage
    def _allocate_parameters(self):
        dims = self.layer_dims
        n_layers = len(dims) - 1
        w_off = np.zeros(n_layers + 1, dtype=np.int64)
        b_off = np.zeros(n_layers + 1, dtype=np.int64)
        wt_off = np.zeros(n_layers + 1, dtype=np.int64)
        position = 0
        wt_position = 0
        for l in range(1, n_layers + 1):
            w_off[l] = position
            position += dims[l] * dims[l - 1]
            b_off[l] = position
            position += dims[l]
            if l >= 2:
                wt_off[l] = wt_position
                wt_position += dims[l] * dims[l - 1]
        self._theta = np.zeros(position, dtype=self.dtype)
        self._wt = np.zeros(wt_position, dtype=self.dtype)
        self._w_off, self._b_off, self._wt_off = w_off, b_off, wt_off
        views = ParameterDict()
        for l in range(1, n_layers + 1):
            n, n_prev = dims[l], dims[l - 1]
            dict.__setitem__(views, f"W{l}", self._theta[w_off[l]:w_off[l] + n * n_prev]
                             .reshape(n, n_prev))
            dict.__setitem__(views, f"b{l}", self._theta[b_off[l]:b_off[l] + n].reshape(n, 1))
        self.parameters = views

    def _initialize_course(self):
        """W ~ randn / sqrt(n_prev), b = 0 (the course's ``initialize_parameters_deep``)."""
        for l in range(1, len(self.layer_dims)):
            n, n_prev = self.layer_dims[l], self.layer_dims[l - 1]
            W = self.parameters[f"W{l}"]
            W[...] = self._rng.standard_normal((n, n_prev)) / np.sqrt(n_prev)
            self.parameters[f"b{l}"][...] = 0

    def _model(self):
        return (self._dims, self._codes, self._loss_code, self._w_off, self._b_off, self._theta,
                self._wt_off, self._wt)

    def _sync_transposed(self):
        """Refresh the transposed weights from W (a user may have changed W in place)."""
        for l in range(2, len(self.layer_dims)):
            n, n_prev = self.layer_dims[l], self.layer_dims[l - 1]
            transpose_into(self.parameters[f"W{l}"],
                           self._wt[self._wt_off[l]:self._wt_off[l] + n * n_prev]
                           .reshape(n_prev, n))

    def _work(self, capacity):
        """Workspace tuple for batches of up to ``capacity`` examples (grown, never shrunk)."""
        if self._workspace is not None and self._workspace[0] >= capacity:
            return self._workspace[1]
        dims = self.layer_dims
        act_off = np.zeros(len(dims), dtype=np.int64)
        total = 0
        for l, n in enumerate(dims):
            act_off[l] = total
            total += capacity * n
        widest = max(dims[1:])
        work = (act_off,
                np.empty(total, self.dtype),                    # acts_t
                np.empty(total, self.dtype),                    # acts
                np.empty(capacity * dims[-1], self.dtype),      # z_t
                np.empty(capacity * dims[-1], self.dtype),      # y_t
                np.empty(capacity, self.dtype),                 # w_b
                np.empty(2 * capacity * widest, self.dtype),    # delta_t
                np.empty(2 * capacity * widest, self.dtype),    # delta
                np.zeros_like(self._theta))                     # grad
        self._workspace = (capacity, work)
        return work

    # ----------------------------------------------------------------- inference
    def forward(self, X):
        """Forward propagation.

        Parameters
        ----------
        X : array-like, shape (n_0, m)

        Returns
        -------
        AL : ndarray, shape (n_L, m)
            The output activations. The pass is remembered for :meth:`backward`.
        """
        X = check.check_inputs(X, self.layer_dims[0], self.dtype)
        X_t = np.ascontiguousarray(X.T)
        work = self._work(X_t.shape[0])
        loop.forward_pass(X_t, X_t.shape[0], self._model(), work, False)
        self._last_forward = (np.ascontiguousarray(X), X_t.shape[0])
        return self._output(work, X_t.shape[0]).T.copy()

    def _output(self, work, m):
        n_out = self.layer_dims[-1]
        offset = work[0][-1]
        return work[1][offset:offset + m * n_out].reshape(m, n_out)

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
        X, m = self._last_forward
        Y = check.check_array(Y, "Y", self.dtype)
        if Y.shape != (self.layer_dims[-1], m):
            raise ValueError(f"Y must have shape {(self.layer_dims[-1], m)} to match the last "
                             f"forward pass, got {Y.shape}")
        self._sync_transposed()
        work = self._work(m)
        no_weights = np.empty(0, self.dtype)
        loop.backward_pass(X, np.ascontiguousarray(Y.T), no_weights, False, m, 1.0 / m, 0.0,
                           self._model(), work)
        return self._gradient_dict(work[-1])

    def _gradient_dict(self, grad):
        grads = {}
        for l in range(1, len(self.layer_dims)):
            n, n_prev = self.layer_dims[l], self.layer_dims[l - 1]
            grads[f"dW{l}"] = grad[self._w_off[l]:self._w_off[l] + n * n_prev].reshape(n, n_prev).copy()
            grads[f"db{l}"] = grad[self._b_off[l]:self._b_off[l] + n].reshape(n, 1).copy()
        return grads

    def _loss_and_gradient(self, X, Y, alpha=0.0, weights=None):
        """Cost and flat gradient (a view of the workspace) on validated neuron-major X, Y."""
        X_t = np.ascontiguousarray(X.T)
        Y_t = np.ascontiguousarray(Y.T)
        weighted = weights is not None
        weights = np.empty(0, self.dtype) if weights is None else weights
        self._sync_transposed()
        work = self._work(X_t.shape[0])
        cost = loop.loss_and_gradient(X_t, np.ascontiguousarray(X), Y_t, weights, weighted,
                                      float(alpha), self._model(), work)
        return cost, work[-1]

    def cost(self, X, Y):
        """Mean loss over the examples of X (the network's loss; no penalty).

        Parameters
        ----------
        X : array-like, shape (n_0, m)
        Y : array-like, shape (n_L, m)

        Returns
        -------
        float
        """
        X, Y = check.check_training_pair(X, Y, self.layer_dims[0], self.layer_dims[-1],
                                         self.dtype)
        return self._cost(X, Y)

    def _cost(self, X, Y):
        X_t = np.ascontiguousarray(X.T)
        work = self._work(X_t.shape[0])
        return float(loop.forward_loss(X_t, np.ascontiguousarray(Y.T), np.empty(0, self.dtype),
                                       False, 0.0, self._model(), work))

    def predict_proba(self, X):
        """Output probabilities, shape (n_L, m), for a sigmoid or softmax output."""
        if self.output == "linear":
            raise ValueError("predict_proba needs a sigmoid or softmax output; this network's "
                             "output is linear (use predict)")
        return self.forward(X)

    def predict(self, X):
        """Predictions for the columns of X.

        Returns
        -------
        ndarray
            sigmoid output: 0/1 labels of shape (n_L, m) (A > 0.5, as the course);
            softmax output: class indices of shape (m,) (argmax over the outputs);
            linear output: the values, shape (n_L, m).
        """
        AL = self.forward(X)
        if self.output == "sigmoid":
            return (AL > 0.5).astype(np.int64)
        if self.output == "softmax":
            return AL.argmax(axis=0)
        return AL

    # ----------------------------------------------------------------- training
    def fit(self, X, Y, epochs=1, batch_size=None, optimizer="sgd", learning_rate=0.01,
            shuffle=True, seed=None):
        """Minibatch gradient descent from the current parameters.

        Each epoch — shuffle, minibatch gather, forward, backward, update — runs inside one
        compiled call (several epochs per call when nothing needs Python in between), with no
        allocation per minibatch.

        Parameters
        ----------
        X : array-like, shape (n_0, m)
        Y : array-like, shape (n_L, m)
        epochs : int, default 1
        batch_size : int or None
            None trains on the full batch.
        optimizer : {"sgd"}, default "sgd"
        learning_rate : float, default 0.01
        shuffle : bool, default True
            Reshuffle the examples before each epoch (irrelevant for a full batch).
        seed : int or None
            Seed of the shuffling; None draws one from the network's generator.

        Returns
        -------
        self
        """
        X, Y = check.check_training_pair(X, Y, self.layer_dims[0], self.layer_dims[-1],
                                         self.dtype)
        epochs = check.check_positive_int(epochs, "epochs")
        m = X.shape[1]
        batch_size = check.check_positive_int(batch_size, "batch_size", allow_none=True)
        batch_size = m if batch_size is None else min(batch_size, m)
        if optimizer not in optim.OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; expected one of "
                             f"{sorted(optim.OPTIMIZERS)}")
        learning_rate = check.check_positive_float(learning_rate, "learning_rate")
        code = optim.OPTIMIZERS[optimizer]
        hyper = np.zeros(optim.N_HYPER)
        hyper[optim.LEARNING_RATE] = learning_rate
        state, step = self._optimizer_state(optimizer, code)
        rng = self._rng if seed is None else np.random.default_rng(seed)
        rng_state = rng.integers(0, 2**63, size=1, dtype=np.int64).astype(np.uint64)

        X_t = np.ascontiguousarray(X.T)
        Y_t = np.ascontiguousarray(Y.T)
        X_full = np.ascontiguousarray(X) if batch_size >= m else np.empty((0, 0), self.dtype)
        work = self._work(batch_size)
        self._sync_transposed()
        self._last_forward = None
        order = np.arange(m, dtype=np.int64)
        costs = np.empty(epochs)
        progress = np.zeros(1, dtype=np.int64)
        theta_backup = np.empty_like(self._theta)
        state_backup = np.empty_like(state)
        no_weights = np.empty(0, self.dtype)
        done = 0
        chunk = 1
        while done < epochs:
            count = min(chunk, epochs - done)
            started = time.perf_counter()
            status = loop.train_epochs(count, X_t, X_full, Y_t, no_weights, False, batch_size,
                                       bool(shuffle), order, rng_state, 0.0, self._model(), work,
                                       code, state, hyper, step, costs[done:], progress,
                                       theta_backup, state_backup)
            elapsed = time.perf_counter() - started
            completed = int(progress[0])
            self.history.extend(costs[done:completed].tolist())
            done = completed
            if status < 0:
                raise FloatingPointError(
                    f"the training cost became NaN or infinite in epoch {done + 1}; the "
                    "parameters are those of the last whole epoch. Lower the learning rate or "
                    "scale the inputs.")
            chunk = max(1, min(int(_CALL_SECONDS * count / max(elapsed, 1e-9)), 1 << 20))
        return self

    def _optimizer_state(self, name, code):
        """State arrays of optimizer ``name``, kept between fits while the optimizer is the same."""
        if self._optimizer is None or self._optimizer[0] != name:
            rows = optim.STATE_ROWS[code]
            self._optimizer = (name, np.zeros((rows, self._theta.size), self.dtype),
                               np.zeros(1, dtype=np.int64))
        return self._optimizer[1], self._optimizer[2]

    def __repr__(self):
        return (f"Network(layer_dims={list(self.layer_dims)}, activations="
                f"{list(self.activations)}, output={self.output!r}, loss={self.loss!r}, "
                f"dtype={self.dtype.name})")


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
    return [int(n) for n in dims]
