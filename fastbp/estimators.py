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
                           softmax -> softmax + ce, exp -> exp + poisson (loss="poisson")
solver="adam"              optimizer "adam"
solver="sgd"               "momentum" (``nesterov=nesterovs_momentum``) if momentum > 0,
                           else "sgd"; ``learning_rate`` is the schedule
solver="lbfgs"             scipy.optimize.minimize(method="L-BFGS-B") on
                           ``Network._loss_and_gradient``
n_iter_no_change, tol      the network's plateau rule (scikit-learn's), kept across
                           warm-started fits and partial_fit calls as scikit-learn keeps it
early_stopping             train_test_split as scikit-learn (or fit's ``X_val``, ``y_val``),
                           then ``validation_data`` and ``early_stopping=True`` (the best
                           parameters are restored), ``early_stopping_metric``, and
                           ``on_divergence="stop"`` (scikit-learn finishes a diverging fit)
class_weight               compute_sample_weight, times ``sample_weight``
verbose                    a callback printing scikit-learn's lines (no progress bar)
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
from sklearn.utils import check_array, check_random_state, column_or_1d
from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.fixes import _get_additional_lbfgs_options_dict
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from . import training
from ._sparse import check_sparse_inputs
from ._validation import check_dropout, check_dtype
from .kernels import loop
from .kernels import sparse as sparse_kernels
from .network import Network

__all__ = ["MLPClassifier", "MLPRegressor"]

_STOCHASTIC_SOLVERS = ("sgd", "adam")

#: scikit-learn's activation names -> the network's.
_HIDDEN = {"identity": "linear", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
_OUTPUT = {"identity": "linear", "logistic": "sigmoid", "softmax": "softmax", "exp": "exp"}

#: Rows per compiled forward pass in predict (or the training batch size, if larger): bounds
#: the network's workspace whatever the size of X.
PREDICT_CHUNK = 1024

#: ``dtype=None``: scikit-learn's rule, float32 input stays float32, anything else is float64.
_FOLLOW_INPUT = (np.float64, np.float32)

#: n_iter_no_change=np.inf (never stop on a plateau) as the network's integer count.
_NEVER = 2 ** 62

_LBFGS_DROPOUT = ("dropout needs solver='sgd' or 'adam': L-BFGS needs a deterministic "
                  "objective, and dropout draws a new random mask for every evaluation (its "
                  "line search would compare losses of different networks). Use dropout=0.0 "
                  "with solver='lbfgs'.")

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

    Its ``transform``, when set for one fit, turns the network's epoch cost into scikit-learn's
    loss before it is compared.
    """

    def __init__(self, tol, higher_is_better):
        super().__init__(tol, higher_is_better)
        #: "loss" (training), "validation_score" or "validation_loss"
        self.watching = None


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


class _LayerList(list):
    """``coefs_`` / ``intercepts_``: a list of views of the network's parameters whose items
    can be assigned, as in scikit-learn's list (``coefs_[0] = array`` copies into the network,
    the shape checked)."""

    def __init__(self, network, kind, views):
        super().__init__(views)
        self._network = network
        self._kind = kind

    def __setitem__(self, index, value):
        if not isinstance(index, Integral):
            raise TypeError("assign one layer at a time: coefs_[i] = array")
        layer = range(1, len(self._network.layer_dims))[index]
        value = np.asarray(value)
        if self._kind == "W":
            self._network.parameters[f"W{layer}"] = value.T
        else:
            self._network.parameters[f"b{layer}"] = value.reshape(-1, 1)
        super().__setitem__(index, (self._network.parameters[f"W{layer}"].T if self._kind == "W"
                                    else self._network.parameters[f"b{layer}"][:, 0]))

    def __reduce__(self):
        # pickles (and deep-copies) as a plain list of arrays, detached from the network
        return list, ([np.array(value) for value in self],)


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
        "early_stopping_metric": [StrOptions({"score", "loss"})],
        "dtype": "no_validation",  # checked by fastbp in fit: None, float32 or float64
        "dropout": [Interval(Real, 0, 1, closed="left"), "array-like"],
    }

    # ----------------------------------------------------------------- parameters as views
    @property
    def coefs_(self):
        """list of ndarray (fan_in, fan_out): views (transposed) of the network's weights.

        Assigning an item (``coefs_[0] = array``) copies the array into the network. Before the
        first fit, ``coefs_`` (with ``intercepts_``) may be set by hand as scikit-learn allows:
        ``partial_fit`` (or a ``warm_start`` fit) then starts from them.
        """
        net = self.__dict__.get("_network")
        if net is None:
            return self._set_by_hand("coefs_")
        return _LayerList(net, "W", [net.parameters[f"W{l}"].T
                                     for l in range(1, len(net.layer_dims))])

    @coefs_.setter
    def coefs_(self, values):
        net = self.__dict__.get("_network")
        if net is None:
            self.__dict__["_coefs_by_hand"] = values if isinstance(values, list) else list(values)
            return
        values = self._per_layer(values, "coefs_")
        for l, value in enumerate(values, start=1):
            net.parameters[f"W{l}"] = np.asarray(value).T

    @property
    def intercepts_(self):
        """list of ndarray (fan_out,): views of the network's biases (see ``coefs_``)."""
        net = self.__dict__.get("_network")
        if net is None:
            return self._set_by_hand("intercepts_")
        return _LayerList(net, "b", [net.parameters[f"b{l}"][:, 0]
                                     for l in range(1, len(net.layer_dims))])

    @intercepts_.setter
    def intercepts_(self, values):
        net = self.__dict__.get("_network")
        if net is None:
            self.__dict__["_intercepts_by_hand"] = (values if isinstance(values, list)
                                                    else list(values))
            return
        values = self._per_layer(values, "intercepts_")
        for l, value in enumerate(values, start=1):
            net.parameters[f"b{l}"] = np.asarray(value).reshape(-1, 1)

    def _set_by_hand(self, name):
        """The list a user assigned to ``coefs_`` or ``intercepts_`` before any fit."""
        values = self.__dict__.get(f"_{name[:-1]}_by_hand")
        if values is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r} "
                                 "(it is set by fit)")
        return values

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
    def _fit(self, X, y, sample_weight=None, incremental=False, validation=None):
        with _all_or_nothing(self):
            return self._fit_model(X, y, sample_weight, incremental, validation)

    def _fit_model(self, X, y, sample_weight, incremental, validation):
        hidden_layer_sizes = self.hidden_layer_sizes
        if not hasattr(hidden_layer_sizes, "__iter__"):
            hidden_layer_sizes = [hidden_layer_sizes]
        hidden_layer_sizes = list(hidden_layer_sizes)
        if np.any(np.array(hidden_layer_sizes) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {hidden_layer_sizes}.")
        dropout = check_dropout(self.dropout, len(hidden_layer_sizes))
        if any(dropout) and self.solver not in _STOCHASTIC_SOLVERS:
            raise ValueError(_LBFGS_DROPOUT)
        net = self.__dict__.get("_network")
        # scikit-learn's rule: parameters set by hand (coefs_) are continued as a fit's would be
        by_hand = net is None and "_coefs_by_hand" in self.__dict__
        first_pass = (net is None and not by_hand) or (not self.warm_start and not incremental)
        if net is not None and not first_pass:
            dtype = net.dtype
        elif self.dtype is None:
            dtype = _FOLLOW_INPUT
        else:
            dtype = check_dtype(self.dtype)

        X, y = self._validate_input(X, y, incremental, reset=first_pass, dtype=dtype)
        dtype = X.dtype
        X = _as_kernel_array(X)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=dtype,
                                                 ensure_non_negative=True)
        class_weights = self._class_sample_weight(y, incremental)
        if class_weights is not None:
            # scikit-learn's other classifiers: the class's weight times the sample's
            sample_weight = (class_weights.astype(dtype) if sample_weight is None
                             else sample_weight * class_weights.astype(dtype))
        if sample_weight is not None:
            if not sample_weight.any():
                raise ValueError("sample_weight is zero for every sample")
            sample_weight = _as_kernel_array(sample_weight)
        y = self._encode_targets(y)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        if validation is not None:
            validation = self._validate_validation(validation, dtype, y.shape[1])
        layer_units = [X.shape[1]] + hidden_layer_sizes + [y.shape[1]]

        random_state = check_random_state(self.random_state)
        if first_pass:
            self.__dict__.pop("_coefs_by_hand", None)
            self.__dict__.pop("_intercepts_by_hand", None)
            self._initialize(y, layer_units, dtype, random_state)
        elif by_hand:
            self._adopt_parameters_set_by_hand(y, layer_units, dtype)
        elif list(self._network.layer_dims) != layer_units:
            raise ValueError(f"the network has layers {list(self._network.layer_dims)} but this "
                             f"data and hidden_layer_sizes need {layer_units}; warm_start and "
                             "partial_fit continue the same architecture")
        self._network.dropout = dropout   # may have been set anew before a warm start

        if self.solver in _STOCHASTIC_SOLVERS:
            self._fit_stochastic(X, y, sample_weight, incremental, random_state, validation)
        else:
            self._fit_lbfgs(X, y, sample_weight)
        if not np.isfinite(self._network._theta).all():
            raise ValueError(_NON_FINITE)
        return self

    def _class_sample_weight(self, y, incremental):
        """Each sample's class weight (None without ``class_weight``); regressors have none."""
        return None

    def _encode_targets(self, y):
        """The network's targets from validated y (the classifier's label indicators)."""
        return y

    def _validate_validation(self, validation, dtype, n_outputs):
        """(X_val, y_val, sample_weight_val) checked as X, y, sample_weight are, then in the
        network's layout: (X_val.T, Y_val.T, weights)."""
        X_val, y_val, weight_val = validation
        X_val = validate_data(self, X_val, accept_sparse=["csr", "csc"], reset=False,
                              dtype=dtype, order="C")
        X_val = _as_kernel_array(X_val)
        y_val = self._check_validation_targets(y_val)
        if X_val.shape[0] != y_val.shape[0]:
            raise ValueError(f"X_val has {X_val.shape[0]} samples but y_val has "
                             f"{y_val.shape[0]}")
        if X_val.shape[0] < 1:
            raise ValueError("X_val is empty")
        Y_val = np.asarray(self._encode_targets(y_val), dtype=dtype)
        Y_val = Y_val.reshape((-1, 1)) if Y_val.ndim == 1 else Y_val
        if Y_val.shape[1] != n_outputs:
            raise ValueError(f"y_val has {Y_val.shape[1]} outputs but y has {n_outputs}")
        if weight_val is not None:
            weight_val = _check_sample_weight(weight_val, X_val, dtype=dtype,
                                              ensure_non_negative=True)
            if not weight_val.any():
                raise ValueError("sample_weight_val is zero for every sample")
        return X_val.T, np.ascontiguousarray(Y_val.T), weight_val

    def _initialize(self, y, layer_units, dtype, random_state):
        """A new network with scikit-learn's initial parameters and fresh fitted attributes."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._default_out_activation()
        net = Network(layer_units, activations=_HIDDEN[self.activation],
                      output=_OUTPUT[self.out_activation_], dtype=dtype, seed=0,
                      dropout=check_dropout(self.dropout, len(layer_units) - 2))
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

    def _default_out_activation(self):
        if not is_classifier(self):
            return "exp" if self.loss == "poisson" else "identity"
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax"
        return "logistic"

    def _adopt_parameters_set_by_hand(self, y, layer_units, dtype):
        """A network from the ``coefs_`` and ``intercepts_`` a user set before any fit, with the
        other fitted attributes they set (``out_activation_``, ``t_``, ``best_loss_``, ...) or
        scikit-learn's initial values for those they did not."""
        coefs = self.__dict__.pop("_coefs_by_hand")
        intercepts = self.__dict__.pop("_intercepts_by_hand", None)
        if intercepts is None:
            raise ValueError("coefs_ was set by hand but intercepts_ was not; set both to "
                             "continue from them")
        n_layers = len(layer_units) - 1
        if len(coefs) != n_layers or len(intercepts) != n_layers:
            raise ValueError(f"coefs_ and intercepts_ need one array per layer ({n_layers} for "
                             f"layers {layer_units}), got {len(coefs)} and {len(intercepts)}")
        coefs = [np.asarray(c, dtype=dtype) for c in coefs]
        intercepts = [np.asarray(b, dtype=dtype).reshape(-1) for b in intercepts]
        for l in range(1, len(layer_units)):
            expected = (layer_units[l - 1], layer_units[l])
            if coefs[l - 1].shape != expected or intercepts[l - 1].shape != expected[1:]:
                raise ValueError(f"layer {l} needs coefs_[{l - 1}] of shape {expected} and "
                                 f"intercepts_[{l - 1}] of shape {expected[1:]} for this data, "
                                 f"got {coefs[l - 1].shape} and {intercepts[l - 1].shape}")
        out = self.__dict__.get("out_activation_", self._default_out_activation())
        if out not in _OUTPUT:
            raise ValueError(f"out_activation_ must be one of {sorted(_OUTPUT)}, got {out!r}")
        net = Network(layer_units, activations=_HIDDEN[self.activation], output=_OUTPUT[out],
                      dtype=dtype, seed=0)
        for l in range(1, len(layer_units)):
            # checked there: finite values
            net.parameters[f"W{l}"] = coefs[l - 1].T
            net.parameters[f"b{l}"] = intercepts[l - 1].reshape(-1, 1)
        net.samples_seen_ = int(self.__dict__.get("t_", 0))
        self._network = net
        self._learning_rate = None      # scikit-learn makes a new optimizer too
        self._plateau = None
        self.out_activation_ = out
        self.n_outputs_ = layer_units[-1]
        self.n_layers_ = len(layer_units)
        self.t_ = net.samples_seen_
        self.__dict__.setdefault("n_iter_", 0)
        if self.solver in _STOCHASTIC_SOLVERS:
            best_loss = self.__dict__.get("best_loss_")
            self.__dict__.setdefault("loss_curve_", [])
            self._start_plateau(bool(self.early_stopping))
            if best_loss is not None and not self.early_stopping:
                self._plateau.best = self.best_loss_ = float(best_loss)

    def _watching(self, early_stopping):
        """What the no-improvement count watches: the training loss, or the validation score
        or loss."""
        if not early_stopping:
            return "loss"
        # an estimator pickled before the parameter existed watches the score
        return "validation_" + getattr(self, "early_stopping_metric", "score")

    def _start_plateau(self, early_stopping):
        """A fresh no-improvement count and best value (scikit-learn's ``_initialize``)."""
        watching = self._watching(early_stopping)
        self._plateau = _Plateau(self.tol, higher_is_better=watching == "validation_score")
        self._plateau.watching = watching
        if early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.validation_loss_curve_ = []
            self.best_validation_loss_ = np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.validation_loss_curve_ = None
            self.best_validation_loss_ = None

    def _fit_stochastic(self, X, y, sample_weight, incremental, random_state, validation):
        net = self._network
        if not incremental or self._learning_rate is None:
            # scikit-learn makes a new optimizer: fresh moments or velocities, the initial rate
            net._optimizer = None
            self._learning_rate = float(self.learning_rate_init)
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = bool(self.early_stopping)
        dtype = net.dtype
        if early_stopping and validation is None:
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
        if not hasattr(self, "loss_curve_") or self.loss_curve_ is None:
            self.loss_curve_ = []   # the previous fits used lbfgs
        if self._plateau is not None and not hasattr(self._plateau, "watching"):
            # pickled before plateaus said what they watch: the training loss or the score
            self._plateau.watching = ("validation_score" if self._plateau.higher_is_better
                                      else "loss")
        if (self._plateau is None
                or self._plateau.watching != self._watching(early_stopping)):
            # first stochastic fit, or early stopping (or what it watches) changed
            self._start_plateau(early_stopping)
        plateau = self._plateau
        plateau.tol = float(self.tol)
        metric = self._watching(early_stopping)[len("validation_"):] if early_stopping else "score"

        callbacks = []
        converter = None
        averaging = self._averages_outputs()
        if averaging:
            converter = _SquaredErrorLoss(net, self.n_outputs_, self.alpha, n_samples,
                                          batch_size, sample_weight, self.shuffle)
            callbacks.append(converter.callback)
            if not early_stopping:
                plateau.transform = converter.epoch_loss
            elif metric == "loss":
                # the validation loss has no penalty: only the mean over the outputs
                plateau.transform = lambda cost: cost / self.n_outputs_
        if self.verbose:
            callbacks.append(self._verbose_report(converter, early_stopping, plateau,
                                                  n_iter_no_change))
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
                    tol=self.tol, callbacks=callbacks, verbose=False, plateau=plateau,
                    early_stopping_metric=metric,
                    # scikit-learn finishes a diverging fit with early stopping (its best
                    # parameters restored); without, its parameters become NaN and it raises
                    on_divergence="stop" if early_stopping else "raise")
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
            scores = net.history.validation_score[scored:]
            scale = self.n_outputs_ if averaging else 1
            val_losses = [cost / scale for cost in net.history.validation_cost[scored:]]
            self.validation_scores_.extend(scores)
            self.validation_loss_curve_.extend(val_losses)
            if metric == "score":
                self.best_validation_score_ = plateau.best
                self.best_validation_loss_ = float(np.nanmin(self.validation_loss_curve_,
                                                             initial=np.inf))
            else:
                self.best_validation_loss_ = plateau.best
                # the score of the epoch whose parameters were restored
                curve = np.asarray(self.validation_loss_curve_, dtype=np.float64)
                finite = np.where(np.isnan(curve), np.inf, curve)
                if np.isfinite(finite).any():
                    self.best_validation_score_ = float(
                        self.validation_scores_[int(np.argmin(finite))])
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

    def _verbose_report(self, converter, early_stopping, plateau, n_iter_no_change):
        """A callback printing scikit-learn's lines after each epoch: ``Iteration N, loss =
        ...``, the validation score (and loss) with early stopping, and why training stops."""
        watching = {"loss": "Training loss", "validation_score": "Validation score",
                    "validation_loss": "Validation loss"}[self._watching(early_stopping)]

        def report(epoch, history):
            loss = converter.losses[-1] if converter is not None else history[-1]
            print("Iteration %d, loss = %.8f" % (epoch + 1, loss))
            if early_stopping:
                print("Validation score: %f" % history.validation_score[-1])
                if watching == "Validation loss":
                    scale = self.n_outputs_ if converter is not None else 1
                    print("Validation loss: %f" % (history.validation_cost[-1] / scale))
            if plateau.count > n_iter_no_change:
                print("%s did not improve more than tol=%f for %d consecutive epochs. "
                      "Stopping." % (watching, self.tol, self.n_iter_no_change))

        return report

    def _averages_outputs(self):
        """Whether scikit-learn's loss averages over several outputs where the network's sums
        over them (squared error; the Poisson deviance sums, as the network's)."""
        return (not is_classifier(self) and self.n_outputs_ > 1
                and self.out_activation_ == "identity")

    def _fit_lbfgs(self, X, y, sample_weight):
        net = self._network
        # the one conversion of this fit: the kernels' neuron-major layout (a sparse X's rows)
        if sp.issparse(X):
            X_neuron_major = check_sparse_inputs(X.T, X.shape[1], net.dtype)
        else:
            X_neuron_major = np.ascontiguousarray(X.T)
        Y_neuron_major = np.ascontiguousarray(np.asarray(y, dtype=net.dtype).T)
        converter = None
        if self._averages_outputs():
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
    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None, sample_weight_val=None):
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
        X_val : {array-like, sparse matrix} of shape (n_val, n_features), default=None
            Validation data for early stopping, used instead of holding out
            ``validation_fraction`` of X (the names and rules of scikit-learn's
            HistGradientBoosting estimators): needs ``y_val`` and ``early_stopping=True``, and
            all of X, y trains. Not with ``solver='lbfgs'``, which does not stop early.
        y_val : array-like of shape (n_val,) or (n_val, n_outputs), default=None
            Targets of ``X_val`` (classifier: labels among those of y).
        sample_weight_val : array-like of shape (n_val,), default=None
            Weights of the validation samples in the validation score and loss.

        Returns
        -------
        self : object
            Returns a trained MLP model.
        """
        validation = None
        if X_val is not None or y_val is not None:
            if y_val is None:
                raise ValueError("X_val is provided, but y_val was not provided.")
            if X_val is None:
                raise ValueError("y_val is provided, but X_val was not provided.")
            if self.solver not in _STOCHASTIC_SOLVERS:
                raise ValueError("X_val and y_val are for early stopping, which "
                                 f"solver={self.solver!r} does not do; use 'sgd' or 'adam'")
            if not self.early_stopping:
                raise ValueError("X_val and y_val are passed to fit while early_stopping is "
                                 "False. When passing X_val and y_val to fit, set "
                                 "early_stopping=True.")
            validation = (X_val, y_val, sample_weight_val)
        elif sample_weight_val is not None:
            raise ValueError("sample_weight_val is provided, but X_val and y_val were not.")
        return self._fit(X, y, sample_weight=sample_weight, incremental=False,
                         validation=validation)

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
        Print scikit-learn's progress lines: ``Iteration N, loss = ...`` after each epoch, the
        validation score with early stopping, and why training stopped (L-BFGS: SciPy's
        messages where SciPy still prints them).
    warm_start : bool, default=False
        Continue from the previous fit's parameters (the optimizer starts afresh, as in
        scikit-learn).
    momentum : float, default=0.9
    nesterovs_momentum : bool, default=True
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data (scikit-learn's split), or use the
        ``X_val``, ``y_val`` given to ``fit``; stop when the validation score (or loss, see
        ``early_stopping_metric``) stops improving and restore the best epoch's parameters. A
        loss that becomes NaN or infinite ends the fit there with a RuntimeWarning, the best
        parameters restored (scikit-learn's behaviour since its issue 29504), where without
        early stopping it raises ValueError as scikit-learn's does.
    validation_fraction : float, default=0.1
        Ignored when ``fit`` is given ``X_val`` and ``y_val``.
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's parameters (fastbp needs ``0 < beta < 1``).
    n_iter_no_change : int or np.inf, default=10
        Epochs without an improvement of ``tol`` before stopping (or, 'adaptive', dividing the
        learning rate by 5).
    max_fun : int, default=15000
        L-BFGS's maximum number of loss evaluations.
    early_stopping_metric : {'score', 'loss'}, default='score'
        What early stopping watches on the validation data: 'score' is scikit-learn's
        (accuracy, or R² for the regressor; higher is better), 'loss' the validation loss
        (scikit-learn's loss without the L2 penalty; lower is better). Either way the
        parameters of the best epoch are restored.
    dtype : {None, numpy.float64, numpy.float32}, default=None
        Precision of the network. None follows X as scikit-learn does: float32 input trains
        and predicts in float32 (``coefs_``, ``intercepts_`` and predictions are float32),
        anything else in float64. A dtype given here is used whatever X's, X being converted
        once per fit. ``warm_start`` and ``partial_fit`` keep the network's.
    dropout : float or array-like of float, default=0.0
        Inverted dropout on the hidden layers in training (not in scikit-learn): one rate for
        all hidden layers or one per hidden layer, each the probability of dropping a unit, in
        [0, 1); 0 is none, scikit-learn's behaviour. A new mask is drawn for every minibatch
        from the seed that ``random_state`` gives (reproducible, the same with any thread
        count); predictions and validation scores use the whole network. The stochastic solvers
        only: ``solver='lbfgs'`` with dropout raises ValueError.
"""

_COMMON_ATTRIBUTES = """
    loss_ : float
        scikit-learn's loss after the last epoch (L-BFGS: at the solution). With dropout, the
        loss of the training batches with their dropout masks (as ``loss_curve_``), not of the
        whole network.
    best_loss_ : float or None
        Lowest loss so far (None with early stopping; stochastic solvers only).
    loss_curve_ : list of float
        Loss of each epoch (stochastic solvers only).
    validation_scores_ : list of float or None
        Validation score of each epoch with early stopping, else None.
    best_validation_score_ : float or None
        The best validation score; with ``early_stopping_metric='loss'``, the score of the epoch
        whose parameters were restored.
    validation_loss_curve_ : list of float or None
        Validation loss of each epoch with early stopping (scikit-learn's loss without the
        penalty), else None.
    best_validation_loss_ : float or None
        The lowest validation loss with early stopping, else None.
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
    ----------{_COMMON_PARAMETERS}    class_weight : dict, list of dict, 'balanced' or None, default=None
        Weights of the classes, as scikit-learn's other classifiers define them (not
        scikit-learn's MLPClassifier, which has none): ``{{label: weight}}``, or 'balanced' for
        ``n_samples / (n_classes * np.bincount(y))``; multilabel y takes one dict per label (or
        'balanced'). Each sample's class weight multiplies its ``sample_weight``, in the loss,
        the gradients and the L2 penalty's divisor as a sample weight does. partial_fit takes a
        dict (read against ``classes_``) but not 'balanced'.

    Attributes
    ----------
    classes_ : ndarray or list of ndarray
        Class labels.{_COMMON_ATTRIBUTES}
    """

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "class_weight": [dict, list, StrOptions({"balanced"}), None],
    }

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 early_stopping_metric="score", class_weight=None, dtype=None, dropout=0.0):
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
        self.early_stopping_metric = early_stopping_metric
        self.class_weight = class_weight
        self.dtype = dtype
        self.dropout = dropout

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
        return X, y

    def _encode_targets(self, y):
        return self._label_binarizer.transform(y).astype(bool)

    def _check_validation_targets(self, y_val):
        y_val = check_array(y_val, ensure_2d=False, dtype=None, input_name="y_val")
        if y_val.ndim == 2 and y_val.shape[1] == 1:
            y_val = column_or_1d(y_val, warn=True)
        unknown = np.setdiff1d(unique_labels(y_val), self.classes_)
        if len(unknown):
            raise ValueError(f"y_val has classes not in y: {unknown}")
        return y_val

    def _class_sample_weight(self, y, incremental):
        """Each sample's weight under ``class_weight`` (scikit-learn's ``compute_sample_weight``;
        with partial_fit a dict is read against every class of ``classes_``)."""
        class_weight = getattr(self, "class_weight", None)   # None in older pickles
        if class_weight is None:
            return None
        if incremental and isinstance(class_weight, str):
            raise ValueError(f"class_weight {class_weight!r} is not supported for partial_fit: "
                             "the class frequencies of one batch are not the data's. Compute "
                             "them once, compute_class_weight('balanced', classes=classes, y=y), "
                             "and pass the resulting weights as a dict.")
        if incremental and y.ndim == 1 and isinstance(class_weight, dict):
            weights = compute_class_weight(class_weight, classes=self.classes_, y=y)
            return weights[np.searchsorted(self.classes_, y)]
        return compute_sample_weight(class_weight, y)

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

    A drop-in replacement for :class:`sklearn.neural_network.MLPRegressor` (squared error with
    an identity output, or the half Poisson deviance with an exp output; one or several outputs).

    Parameters
    ----------
    loss : {{'squared_error', 'poisson'}}, default='squared_error'
        'squared_error' is half the squared error averaged over the outputs; 'poisson' is half
        the Poisson deviance summed over them, with exp as the output activation (a log link:
        predictions are positive, targets must be non-negative), as scikit-learn >= 1.7.{_COMMON_PARAMETERS}
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
                 early_stopping_metric="score", dtype=None, dropout=0.0):
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
        self.early_stopping_metric = early_stopping_metric
        self.dtype = dtype
        self.dropout = dropout

    def _validate_input(self, X, y, incremental, reset, dtype):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             y_numeric=True, dtype=dtype, order="C", reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        self._check_poisson_targets(y, "y")
        return X, y

    def _check_poisson_targets(self, y, name):
        if self.loss == "poisson" and (np.asarray(y) < 0).any():
            raise ValueError(f"{name} has negative values; loss='poisson' needs targets >= 0")

    def _check_validation_targets(self, y_val):
        y_val = check_array(y_val, ensure_2d=False, dtype=np.float64, input_name="y_val")
        if y_val.ndim == 2 and y_val.shape[1] == 1:
            y_val = column_or_1d(y_val, warn=True)
        self._check_poisson_targets(y_val, "y_val")
        return y_val

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
