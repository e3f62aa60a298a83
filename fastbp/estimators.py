"""scikit-learn estimators trained by fastbp: :class:`MLPClassifier` and :class:`MLPRegressor`.

Drop-in replacements for ``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor``: the same
parameters, defaults, fitted attributes and methods, the same initialization (for the same
``random_state`` training starts from the same parameters), the same update rules, schedules and
stopping rules, and the same reported loss. The epochs run in fastbp's compiled kernels
(:meth:`fastbp.Network.fit`); L-BFGS runs in SciPy on fastbp's loss and gradient.

How scikit-learn's settings map onto a :class:`fastbp.Network`:

=========================  ===================================================================
scikit-learn               fastbp
=========================  ===================================================================
X (n_samples, n_features)  passed as ``X.T``: the network's neuron-major view, no copy
sparse X (CSR, CSC)        kept sparse: the network trains on its rows (``kernels.sparse``;
                           CSC is converted to CSR once)
coefs_[i] (fan_in,         the transpose of ``parameters["W{i+1}"]`` (a view: changing one
fan_out)                   changes the other); intercepts_[i] is ``parameters["b{i+1}"]``
activation                 identity/logistic/tanh/relu -> linear/sigmoid/tanh/relu
out_activation_            identity -> linear + mse, logistic -> sigmoid + bce,
                           softmax -> softmax + ce
solver="adam"              optimizer "adam"
solver="sgd"               "momentum" (``nesterov=nesterovs_momentum``) if momentum > 0,
                           else "sgd"; ``learning_rate`` is the schedule
solver="lbfgs"             scipy.optimize.minimize(method="L-BFGS-B") on
                           ``Network._loss_and_gradient``
n_iter_no_change, tol      the network's plateau rule (scikit-learn's), kept across
                           warm-started fits and partial_fit calls as scikit-learn keeps it
early_stopping             train_test_split as scikit-learn, then ``validation_data`` and
                           ``early_stopping=True`` (the best parameters are restored)
=========================  ===================================================================

The reported loss is scikit-learn's. For classification it equals the network's cost (except
that scikit-learn clips probabilities to [eps, 1 - eps], which only matters for predictions wrong
by more than ~36 nats). For regression scikit-learn's squared error averages over the outputs
where the network's sums over them; the gradients are the same (scikit-learn's gradient is that
of the summed form), so only the reported value and the plateau test are rescaled: loss =
penalty + (cost - penalty) / n_outputs, with the L2 penalty, which is not averaged, taken out
first. With several minibatches per epoch the parameters of each batch are not seen from outside
the compiled epoch, so the penalty's ``sum(W**2)`` is interpolated between the epoch's first and
last parameters: the reported loss is then exact to about 1e-5 relative. It is exact for a full
batch, and always for classification, one output, or ``alpha=0``.
"""
import contextlib
import copy
import threading
import warnings
import weakref
from numbers import Integral, Real

import numpy as np
import scipy.optimize
import scipy.sparse as sp
from sklearn.base import (BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context,
                          is_classifier)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.fixes import _get_additional_lbfgs_options_dict
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from . import training
from ._sparse import check_sparse_inputs
from ._validation import check_dtype
from .kernels import loop
from .kernels import sparse as sparse_kernels
from .network import Network

__all__ = ["MLPClassifier", "MLPRegressor"]

_STOCHASTIC_SOLVERS = ("sgd", "adam")

#: scikit-learn's activation names -> the network's.
_HIDDEN = {"identity": "linear", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
_OUTPUT = {"identity": "linear", "logistic": "sigmoid", "softmax": "softmax"}

#: Rows per compiled forward pass in predict (or the training batch size, if larger): bounds
#: the network's workspace whatever the size of X.
PREDICT_CHUNK = 1024

#: n_iter_no_change=np.inf (never stop on a plateau) as the network's integer count.
_NEVER = 2 ** 62

_NON_FINITE = ("Solver produced non-finite parameter weights. The input data may contain large "
               "values and need to be preprocessed.")


#: One re-entrant lock per estimator, held by fit, partial_fit and predictions: kept outside the
#: estimator's __dict__, which scikit-learn's conventions reserve for parameters and fitted
#: attributes (and which pickles).
_LOCKS = weakref.WeakKeyDictionary()
_LOCKS_LOCK = threading.Lock()


def _lock_of(estimator):
    with _LOCKS_LOCK:
        lock = _LOCKS.get(estimator)
        if lock is None:
            lock = _LOCKS[estimator] = threading.RLock()
        return lock


@contextlib.contextmanager
def _all_or_nothing(estimator):
    """Hold the estimator's lock; if the body raises, put every fitted attribute and the
    network's parameters, optimizer state, history and generator back as they were."""
    with _lock_of(estimator):
        attributes = {key: copy.copy(value) if isinstance(value, (list, training.Plateau))
                      else value for key, value in estimator.__dict__.items()}
        net = attributes.get("_network")
        if net is not None:
            with net._lock:
                saved = (net._theta.copy(), copy.deepcopy(net._optimizer),
                         copy.deepcopy(net.history), net.samples_seen_, net.learning_rate_,
                         copy.deepcopy(net._rng.bit_generator.state))
        try:
            yield
        except BaseException:
            if net is not None:
                with net._lock:
                    net._theta[...] = saved[0]
                    (net._optimizer, net.history, net.samples_seen_, net.learning_rate_) = \
                        saved[1:5]
                    net._rng.bit_generator.state = saved[5]
                    net._last_forward = None
            estimator.__dict__.clear()
            estimator.__dict__.update(attributes)
            raise


class _Plateau(training.Plateau):
    """scikit-learn's no-improvement count and best value (``_no_improvement_count`` and
    ``best_loss_`` / ``best_validation_score_``), kept on the estimator between calls.

    ``transform``, when set for one fit, turns the network's epoch cost into scikit-learn's loss
    before it is compared.
    """

    def __init__(self, tol, higher_is_better):
        super().__init__(tol, higher_is_better)
        self.transform = None

    def update(self, value):
        if self.transform is not None:
            value = self.transform(value)
        return super().update(value)


class _SquaredErrorLoss:
    """scikit-learn's squared-error loss from the network's costs, for several outputs.

    The network's cost sums the half squared error over the outputs where scikit-learn averages
    it; both add the same L2 penalty ``alpha * sum(W**2) / 2`` divided by the batch's weight (its
    length without sample weights). So loss = penalty + (cost - penalty) / n_outputs.

    In an epoch of several minibatches the parameters change from batch to batch inside the
    compiled loop, so the epoch's penalty is reconstructed: each batch's share of it is known
    exactly (``factors``, below; estimated when shuffled batches carry sample weights), and
    ``sum(W**2)`` is interpolated linearly between the epoch's first and last parameters. For
    a full batch this is exact.

    Parameters
    ----------
    network : Network
    n_outputs : int
    alpha : float
    m : int
        Training examples.
    batch_size : int
    weights : ndarray of shape (m,) or None
    shuffle : bool
    """

    def __init__(self, network, n_outputs, alpha, m, batch_size, weights, shuffle):
        self.network = network
        self.n_outputs = n_outputs
        self.alpha = float(alpha)
        # batch b's penalty enters the epoch's cost (the batch costs' mean weighted by length)
        # with the factor m_b / (m * s_b): m_b its length, s_b its weight
        starts = np.arange(0, m, batch_size)
        if weights is None:
            factors = np.full(starts.shape[0], 1.0 / m)
        elif shuffle and starts.shape[0] > 1:
            factors = np.full(starts.shape[0], 1.0 / float(weights.sum()))
        else:
            lengths = np.minimum(batch_size, m - starts)
            factors = lengths / (m * np.add.reduceat(weights.astype(np.float64), starts))
        self.weight_total = float(m if weights is None else weights.sum())
        self.factor_sum = float(factors.sum())
        # batch b sees sum(W**2) at b / n_batches of the way from the epoch's start to its end
        self.factor_ramp = float((factors * np.arange(starts.shape[0]) / starts.shape[0]).sum())
        self.squares = self.weight_squares() if self.alpha else 0.0
        self.epochs = len(network.history)
        self.losses = []

    def weight_squares(self):
        """sum(W**2) over every layer's weights (not the biases), in float64."""
        params = self.network.parameters
        total = 0.0
        for l in range(1, len(self.network.layer_dims)):
            W = params[f"W{l}"].ravel().astype(np.float64)
            total += float(np.dot(W, W))
        return total

    def penalty(self, squares):
        return 0.5 * self.alpha * squares / self.weight_total

    def convert(self, cost, penalty):
        return penalty + (cost - penalty) / self.n_outputs

    def epoch_loss(self, cost):
        """Loss of the epoch just finished, whose network cost is ``cost`` (computed once)."""
        done = len(self.network.history)
        if done == self.epochs:
            return self.losses[-1]
        penalty = 0.0
        if self.alpha:
            end = self.weight_squares()
            penalty = 0.5 * self.alpha * (self.squares * self.factor_sum
                                          + (end - self.squares) * self.factor_ramp)
            self.squares = end
        self.epochs = done
        self.losses.append(self.convert(cost, penalty))
        return self.losses[-1]

    def callback(self, epoch, history):
        self.epoch_loss(history[-1])


def _as_kernel_array(X):
    """X as a C-contiguous, writeable dense ndarray (read-only arrays, such as memory maps, would
    make Numba compile the kernels again for a read-only type); a sparse X stays as it is (the
    network trains on its rows, see ``fastbp.kernels.sparse``)."""
    if sp.issparse(X):
        return X
    if not X.flags.writeable or not X.flags.c_contiguous or type(X) is not np.ndarray:
        return np.array(X, order="C")
    return X


class _BaseMLP(BaseEstimator):
    """What MLPClassifier and MLPRegressor share (scikit-learn's BaseMultilayerPerceptron)."""

    def set_params(self, **params):
        """Set parameters (scikit-learn's), all or none: an unknown name is refused before any
        is set (scikit-learn's own sets those before it, then raises)."""
        valid = self.get_params(deep=True)
        for key in params:
            if key.partition("__")[0] not in valid:
                raise ValueError(f"Invalid parameter {key!r} for estimator {self}. Valid "
                                 f"parameters are: {sorted(self._get_param_names())!r}.")
        return super().set_params(**params)

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "dtype": "no_validation",  # checked by fastbp in fit: float32 or float64
    }

    # ----------------------------------------------------------------- parameters as views
    @property
    def coefs_(self):
        """list of ndarray (fan_in, fan_out): views (transposed) of the network's weights."""
        net = self._fitted_network("coefs_")
        return [net.parameters[f"W{l}"].T for l in range(1, len(net.layer_dims))]

    @coefs_.setter
    def coefs_(self, values):
        net = self._fitted_network("coefs_")
        values = self._per_layer(values, "coefs_")
        for l, value in enumerate(values, start=1):
            net.parameters[f"W{l}"] = np.asarray(value).T

    @property
    def intercepts_(self):
        """list of ndarray (fan_out,): views of the network's biases."""
        net = self._fitted_network("intercepts_")
        return [net.parameters[f"b{l}"][:, 0] for l in range(1, len(net.layer_dims))]

    @intercepts_.setter
    def intercepts_(self, values):
        net = self._fitted_network("intercepts_")
        values = self._per_layer(values, "intercepts_")
        for l, value in enumerate(values, start=1):
            net.parameters[f"b{l}"] = np.asarray(value).reshape(-1, 1)

    def _fitted_network(self, name):
        net = self.__dict__.get("_network")
        if net is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r} "
                                 "(it is set by fit)")
        return net

    def _per_layer(self, values, name):
        values = list(values)
        if len(values) != len(self._network.layer_dims) - 1:
            raise ValueError(f"{name} needs one array per layer "
                             f"({len(self._network.layer_dims) - 1}), got {len(values)}")
        return values

    # ----------------------------------------------------------------- fitting
    def _fit(self, X, y, sample_weight=None, incremental=False):
        with _all_or_nothing(self):
            return self._fit_model(X, y, sample_weight, incremental)

    def _fit_model(self, X, y, sample_weight, incremental):
        hidden_layer_sizes = self.hidden_layer_sizes
        if not hasattr(hidden_layer_sizes, "__iter__"):
            hidden_layer_sizes = [hidden_layer_sizes]
        hidden_layer_sizes = list(hidden_layer_sizes)
        if np.any(np.array(hidden_layer_sizes) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {hidden_layer_sizes}.")
        if getattr(self, "loss", "squared_error") != "squared_error" and not is_classifier(self):
            raise ValueError(f"loss={self.loss!r} is not supported by fastbp's MLPRegressor; "
                             "use loss='squared_error' (or scikit-learn's MLPRegressor)")
        first_pass = "_network" not in self.__dict__ or (not self.warm_start and not incremental)
        dtype = check_dtype(self.dtype) if first_pass else self._network.dtype

        X, y = self._validate_input(X, y, incremental, reset=first_pass, dtype=dtype)
        X = _as_kernel_array(X)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=dtype,
                                                 ensure_non_negative=True)
            if not sample_weight.any():
                raise ValueError("sample_weight is zero for every sample")
            sample_weight = _as_kernel_array(sample_weight)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        layer_units = [X.shape[1]] + hidden_layer_sizes + [y.shape[1]]

        random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(y, layer_units, dtype, random_state)
        elif list(self._network.layer_dims) != layer_units:
            raise ValueError(f"the network has layers {list(self._network.layer_dims)} but this "
                             f"data and hidden_layer_sizes need {layer_units}; warm_start and "
                             "partial_fit continue the same architecture")

        if self.solver in _STOCHASTIC_SOLVERS:
            self._fit_stochastic(X, y, sample_weight, incremental, random_state)
        else:
            self._fit_lbfgs(X, y, sample_weight)
        if not np.isfinite(self._network._theta).all():
            raise ValueError(_NON_FINITE)
        return self

    def _initialize(self, y, layer_units, dtype, random_state):
        """A new network with scikit-learn's initial parameters and fresh fitted attributes."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        if not is_classifier(self):
            self.out_activation_ = "identity"
        elif self._label_binarizer.y_type_ == "multiclass":
            self.out_activation_ = "softmax"
        else:
            self.out_activation_ = "logistic"
        net = Network(layer_units, activations=_HIDDEN[self.activation],
                      output=_OUTPUT[self.out_activation_], dtype=dtype, seed=0)
        # scikit-learn's _init_coef: Glorot uniform, coef then intercept, layer by layer
        factor = 2.0 if self.activation == "logistic" else 6.0
        for l in range(1, len(layer_units)):
            fan_in, fan_out = layer_units[l - 1], layer_units[l]
            bound = np.sqrt(factor / (fan_in + fan_out))
            coef = random_state.uniform(-bound, bound, (fan_in, fan_out))
            intercept = random_state.uniform(-bound, bound, fan_out)
            net.parameters[f"W{l}"][...] = coef.T
            net.parameters[f"b{l}"][:, 0] = intercept
        self._network = net
        self._learning_rate = None      # no optimizer yet
        self._plateau = None
        if self.solver in _STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._start_plateau(bool(self.early_stopping))

    def _start_plateau(self, early_stopping):
        """A fresh no-improvement count and best value (scikit-learn's ``_initialize``)."""
        self._plateau = _Plateau(self.tol, higher_is_better=early_stopping)
        if early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _fit_stochastic(self, X, y, sample_weight, incremental, random_state):
        net = self._network
        if not incremental or self._learning_rate is None:
            # scikit-learn makes a new optimizer: fresh moments or velocities, the initial rate
            net._optimizer = None
            self._learning_rate = float(self.learning_rate_init)
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = bool(self.early_stopping)
        dtype = net.dtype
        validation = None
        if early_stopping:
            # scikit-learn's split: same generator, same draws; stratified for one output only
            stratify = y if is_classifier(self) and self.n_outputs_ == 1 else None
            arrays = (X, y) if sample_weight is None else (X, y, sample_weight)
            parts = train_test_split(*arrays, random_state=random_state,
                                     test_size=self.validation_fraction, stratify=stratify)
            X, X_val, y, y_val = parts[:4]
            sample_weight, weight_val = parts[4:] if sample_weight is not None else (None, None)
            if X_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
            validation = (X_val.T, np.asarray(y_val, dtype=dtype).T, weight_val)
        Y = _as_kernel_array(np.asarray(y, dtype=dtype))
        n_samples = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                              "going to be clipped")
            batch_size = int(np.clip(self.batch_size, 1, n_samples))

        if self.solver == "adam":
            optimizer, schedule = "adam", "constant"
        else:
            optimizer = "momentum" if self.momentum > 0 else "sgd"
            schedule = self.learning_rate
            if incremental and schedule == "invscaling":
                schedule = "constant"   # the rate of one epoch; the next one is set below
        n_iter_no_change = (int(self.n_iter_no_change) if np.isfinite(self.n_iter_no_change)
                            else _NEVER)
        if not hasattr(self, "loss_curve_"):
            self.loss_curve_ = []   # the previous fits used lbfgs
        if self._plateau is None or self._plateau.higher_is_better != early_stopping:
            self._start_plateau(early_stopping)   # first stochastic fit, or early_stopping toggled
        plateau = self._plateau
        plateau.tol = float(self.tol)

        callbacks = []
        converter = None
        if not is_classifier(self) and self.n_outputs_ > 1:
            converter = _SquaredErrorLoss(net, self.n_outputs_, self.alpha, n_samples,
                                          batch_size, sample_weight, self.shuffle)
            callbacks.append(converter.callback)
            if not early_stopping:
                plateau.transform = converter.epoch_loss
        seed = random_state.randint(np.iinfo(np.int32).max)
        start = len(net.history)
        scored = len(net.history.validation_score)
        try:
            net.fit(X.T, Y.T, epochs=1 if incremental else self.max_iter,
                    batch_size=batch_size, optimizer=optimizer,
                    learning_rate=self._learning_rate, shuffle=self.shuffle, seed=seed,
                    momentum=self.momentum, nesterov=self.nesterovs_momentum,
                    beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
                    alpha=self.alpha, learning_rate_schedule=schedule, power_t=self.power_t,
                    sample_weight=sample_weight, validation_data=validation,
                    early_stopping=early_stopping, n_iter_no_change=n_iter_no_change,
                    tol=self.tol, callbacks=callbacks, verbose=bool(self.verbose),
                    plateau=plateau)
        except FloatingPointError as error:
            raise ValueError(_NON_FINITE) from error
        finally:
            plateau.transform = None

        losses = converter.losses if converter is not None else list(net.history[start:])
        self.n_iter_ = len(losses)
        self.t_ = int(net.samples_seen_)
        self.loss_curve_.extend(losses)
        if losses:
            self.loss_ = losses[-1]
        if early_stopping:
            self.validation_scores_.extend(net.history.validation_score[scored:])
            self.best_validation_score_ = plateau.best
            self.best_loss_ = None
        else:
            self.best_loss_ = plateau.best
        self._learning_rate = float(net.learning_rate_)
        if incremental and self.solver == "sgd" and self.learning_rate == "invscaling":
            self._learning_rate = self.learning_rate_init / (self.t_ + 1) ** self.power_t
        stopped = plateau.count > n_iter_no_change
        if not incremental and self.n_iter_ == self.max_iter and not stopped:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached "
                          "and the optimization hasn't converged yet.", ConvergenceWarning)

    def _fit_lbfgs(self, X, y, sample_weight):
        net = self._network
        # the one conversion of this fit: the kernels' neuron-major layout (a sparse X's rows)
        if sp.issparse(X):
            X_neuron_major = check_sparse_inputs(X.T, X.shape[1], net.dtype)
        else:
            X_neuron_major = np.ascontiguousarray(X.T)
        Y_neuron_major = np.ascontiguousarray(np.asarray(y, dtype=net.dtype).T)
        converter = None
        if not is_classifier(self) and self.n_outputs_ > 1:
            converter = _SquaredErrorLoss(net, self.n_outputs_, self.alpha, X.shape[0],
                                          X.shape[0], sample_weight, False)
        alpha = float(self.alpha)

        def loss_and_gradient(x):
            with net._lock:  # grad is a view of the network's workspace: copy it under the lock
                net._theta[...] = x
                cost, grad = net._loss_and_gradient(X_neuron_major, Y_neuron_major, alpha,
                                                    sample_weight)
                if converter is not None:
                    penalty = converter.penalty(converter.weight_squares()) if alpha else 0.0
                    cost = converter.convert(cost, penalty)
                return cost, np.array(grad, dtype=np.float64)

        self._minimize_lbfgs(loss_and_gradient)

    def _minimize_lbfgs(self, loss_and_gradient):
        """scikit-learn's L-BFGS-B call (its options) from the network's parameters, on
        ``loss_and_gradient(theta) -> (loss, gradient)``; sets ``n_iter_``, ``loss_`` and the
        parameters it ends at."""
        net = self._network
        verbose = self.verbose is True or self.verbose >= 1
        result = scipy.optimize.minimize(
            loss_and_gradient, net._theta.astype(np.float64), method="L-BFGS-B", jac=True,
            options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol,
                     **_get_additional_lbfgs_options_dict("iprint", 1 if verbose else -1)})
        self.n_iter_ = _check_optimize_result("lbfgs", result, self.max_iter)
        self.loss_ = float(result.fun)
        net._theta[...] = result.x

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data. A sparse matrix is never made dense (CSR is read as it is, CSC
            converted to CSR once): the first layer reads the nonzeros of each batch.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values (class labels in classification, real numbers in regression).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights, not all zero.

        Returns
        -------
        self : object
            Returns a trained MLP model.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def _check_solver(self):
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    # ----------------------------------------------------------------- inference
    def _forward(self, X):
        """Network outputs (n_samples, n_outputs) for X, in chunks of PREDICT_CHUNK rows."""
        net = self._network
        X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False, dtype=net.dtype,
                          order="C")
        if X.ndim != 2 or X.shape[1] != net.layer_dims[0]:
            # the kernels trust shapes: never hand them X that does not fit the network
            raise ValueError(f"X has {X.shape[-1]} features, but the network takes "
                             f"{net.layer_dims[0]}")
        m = X.shape[0]
        n_out = net.layer_dims[-1]
        out = np.empty((m, n_out), dtype=net.dtype)
        chunk = min(m, PREDICT_CHUNK)
        rows = check_sparse_inputs(X.T, X.shape[1], net.dtype) if sp.issparse(X) else None
        with net._lock:  # the "predict" workspace is shared by every caller of this network
            work = net._work(chunk, "predict", sparse_inputs=rows is not None)
            model = net._model()
            for begin in range(0, m, chunk):
                end = min(begin + chunk, m)
                if rows is not None:
                    sparse_kernels.sparse_forward_pass(*rows.arrays, begin, end - begin, model,
                                                       work)
                else:
                    loop.forward_pass(np.ascontiguousarray(X[begin:end].T), model, work)
                out[begin:end] = net._output(work, end - begin).T
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


_COMMON_PARAMETERS = """
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The ith element is the number of neurons in the ith hidden layer.
    activation : {'identity', 'logistic', 'tanh', 'relu'}, default='relu'
        Activation function of the hidden layers.
    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
        'sgd' is fastbp's 'momentum' optimizer (Nesterov's if ``nesterovs_momentum``) when
        ``momentum > 0``, plain 'sgd' when ``momentum == 0``; 'lbfgs' is SciPy's L-BFGS-B on
        fastbp's loss and gradient.
    alpha : float, default=0.0001
        Strength of the L2 penalty (divided by the sample size, or total sample weight).
    batch_size : int or 'auto', default='auto'
        Minibatch size of the stochastic solvers; 'auto' is ``min(200, n_samples)``.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Learning-rate schedule, for ``solver='sgd'`` only.
    learning_rate_init : float, default=0.001
    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.
    max_iter : int, default=200
        Epochs of the stochastic solvers, iterations of L-BFGS.
    shuffle : bool, default=True
        Reshuffle the samples before each epoch (stochastic solvers).
    random_state : int, RandomState instance or None, default=None
        Draws the initial parameters exactly as scikit-learn does, then the validation split
        (early stopping) and the seed of fastbp's shuffling.
    tol : float, default=1e-4
        Improvement of the loss (or validation score) below which an epoch counts as no
        improvement; L-BFGS's ``gtol``.
    verbose : bool, default=False
        Show fastbp's progress bar (L-BFGS: SciPy's messages where SciPy still prints them).
    warm_start : bool, default=False
        Continue from the previous fit's parameters (the optimizer starts afresh, as in
        scikit-learn).
    momentum : float, default=0.9
    nesterovs_momentum : bool, default=True
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data (scikit-learn's split), stop when its score
        stops improving and restore the best parameters.
    validation_fraction : float, default=0.1
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's parameters (fastbp needs ``0 < beta < 1``).
    n_iter_no_change : int or np.inf, default=10
        Epochs without an improvement of ``tol`` before stopping (or, 'adaptive', dividing the
        learning rate by 5).
    max_fun : int, default=15000
        L-BFGS's maximum number of loss evaluations.
    dtype : {numpy.float64, numpy.float32}, default=numpy.float64
        Precision of the network: X is converted to it once per fit.
"""

_COMMON_ATTRIBUTES = """
    loss_ : float
        scikit-learn's loss after the last epoch (L-BFGS: at the solution).
    best_loss_ : float or None
        Lowest loss so far (None with early stopping; stochastic solvers only).
    loss_curve_ : list of float
        Loss of each epoch (stochastic solvers only).
    validation_scores_ : list of float or None
        Validation score of each epoch with early stopping, else None.
    best_validation_score_ : float or None
    t_ : int
        Training samples seen by the stochastic solver.
    coefs_ : list of ndarray of shape (fan_in, fan_out)
        Weights of each layer: views of the network's parameters.
    intercepts_ : list of ndarray of shape (fan_out,)
        Biases of each layer: views of the network's parameters.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when X has feature names that are all strings.
    n_iter_ : int
        Epochs (or L-BFGS iterations) of the last call.
    n_layers_ : int
    n_outputs_ : int
    out_activation_ : str
"""


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = f"""Multi-layer perceptron classifier trained by fastbp's compiled kernels.

    A drop-in replacement for :class:`sklearn.neural_network.MLPClassifier` (log-loss; binary,
    multiclass and multilabel; sigmoid output for binary and multilabel, softmax for multiclass).

    Parameters
    ----------{_COMMON_PARAMETERS}
    Attributes
    ----------
    classes_ : ndarray or list of ndarray
        Class labels.{_COMMON_ATTRIBUTES}
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dtype=np.float64):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype

    def _validate_input(self, X, y, incremental, reset, dtype):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=dtype, order="C", reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        # scikit-learn's rules: a new fit defines the classes; warm_start must keep them;
        # partial_fit may only see known ones
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same "
                                     "classes as in the previous call to fit. Previously got "
                                     f"{self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                                 f"{self.classes_}. 'y' has {classes}.")
        y = self._label_binarizer.transform(y).astype(bool)
        return X, y

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with a single epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
        sample_weight : array-like of shape (n_samples,), default=None
        classes : array of shape (n_classes,), default=None
            Every class of all calls; required on the first call.

        Returns
        -------
        self : object
        """
        with _all_or_nothing(self):
            if _check_partial_fit_first_call(self, classes):
                self._label_binarizer = LabelBinarizer()
                if type_of_target(y).startswith("multilabel"):
                    self._label_binarizer.fit(y)
                else:
                    self._label_binarizer.fit(classes)
            return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predict the classes of X.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        check_is_fitted(self)
        y_pred = self._forward(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)

    def predict_proba(self, X):
        """Probability of each class, ordered as ``classes_``: shape (n_samples, n_classes)
        (binary: two columns)."""
        check_is_fitted(self)
        y_pred = self._forward(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`."""
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = f"""Multi-layer perceptron regressor trained by fastbp's compiled kernels.

    A drop-in replacement for :class:`sklearn.neural_network.MLPRegressor` (squared error,
    identity output, one or several outputs).

    Parameters
    ----------
    loss : {{'squared_error'}}, default='squared_error'
        scikit-learn's 'poisson' is not supported (it raises ValueError in fit).{_COMMON_PARAMETERS}
    Attributes
    ----------{_COMMON_ATTRIBUTES}
    """

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dtype=np.float64):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype

    def _validate_input(self, X, y, incremental, reset, dtype):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             y_numeric=True, dtype=dtype, order="C", reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with a single epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predict using the multi-layer perceptron model.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        check_is_fitted(self)
        y_pred = self._forward(X)
        if y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred
