"""fastbp.dask.MLPClassifier / MLPRegressor: one model trained data-parallel on a Dask cluster.

Each is the fastbp estimator of the same name (same parameters, fitted attributes, numpy
methods and pickles) whose ``fit`` takes dask arrays where they lie and trains one model across
the workers of the default :class:`distributed.Client`, and whose ``predict``,
``predict_proba`` and ``score`` return lazy dask results for dask inputs.

How a fit runs (the driver is here, on the client; the kernels run in
:mod:`fastbp.dask._worker`, on the workers):

* :func:`fastbp.dask._data.place` builds one shard of rows per task thread of the cluster,
  on the workers, from the chunks.
* ``solver="lbfgs"``: every evaluation of the objective broadcasts the parameters, each worker
  returns the loss and gradient sums over its shard, and the client adds them in shard order,
  divides by the total weight and adds the L2 penalty — the objective of
  ``fastbp.MLPClassifier`` (the same formula, over the same rows), inside the same SciPy
  L-BFGS-B call with the same options and starting point.
* ``solver="sgd"`` / ``"adam"``: local steps with averaging once per epoch. Each worker runs one
  epoch of the single-process compiled loop over its shard (minibatches of ``batch_size`` of its
  own rows, its own shuffle) from the broadcast parameters and optimizer state; the client
  averages parameters and optimizer state weighted by the shards' rows. See the README's Dask
  section for how that compares with the single-process fit.
"""
import warnings

import numpy as np
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state

from .. import estimators as _single
from .. import training
from .._validation import check_dropout, check_dtype
from . import _data, _scores, _worker
from ._objective import DistributedObjective, as_float64_sum


def _client():
    """The default distributed client (dask_ml.linear_model's convention)."""
    from distributed import default_client
    try:
        return default_client()
    except ValueError as error:
        raise ValueError("fastbp.dask fits on a Dask cluster and found no distributed Client: "
                         "create one first (distributed.Client() or "
                         "Client('scheduler-address')), or use fastbp.MLPClassifier / "
                         "MLPRegressor to fit in this process") from error


class _DaskMLP:
    """The data-parallel fit and the lazy inference (mixed in before the fastbp estimator)."""

    # ----------------------------------------------------------------- fit
    def fit(self, X, y, sample_weight=None):
        """Fit one model to X, y across the workers of the default Dask client.

        Parameters
        ----------
        X : dask array or dask DataFrame of shape (n_samples, n_features), or ndarray
            Row chunks stay where they are; a NumPy array is scattered to the workers in one
            block per task thread.
        y : dask array or ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classifier, one column) or targets (regressor).
        sample_weight : dask array or ndarray of shape (n_samples,), default=None

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Bad input (shapes, NaN or infinity found on the workers, no client), before the
            estimator changes.
        """
        self._validate_params()
        if self.early_stopping:
            raise ValueError("fastbp.dask does not support early_stopping=True yet: hold out "
                             "validation data yourself and compare scores, or fit "
                             "fastbp.MLPClassifier / MLPRegressor in one process")
        if getattr(self, "class_weight", None) is not None:
            raise ValueError("fastbp.dask does not support class_weight yet: pass the class "
                             "weights as sample_weight (sklearn.utils.class_weight."
                             "compute_sample_weight), or fit fastbp.MLPClassifier in one process")
        if getattr(self, "loss", "squared_error") != "squared_error" and not is_classifier(self):
            raise ValueError(f"loss={self.loss!r} is not supported by fastbp's MLPRegressor; "
                             "use loss='squared_error'")
        hidden = self.hidden_layer_sizes
        hidden = list(hidden) if hasattr(hidden, "__iter__") else [hidden]
        if np.any(np.array(hidden) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {hidden}.")
        if any(check_dropout(self.dropout, len(hidden))):
            raise ValueError("fastbp.dask does not support dropout yet: fit "
                             "fastbp.MLPClassifier / MLPRegressor in one process")
        classifier = is_classifier(self)
        client = _client()
        continuing = self.warm_start and "_network" in self.__dict__
        X, y, sample_weight, feature_names = _data.check_inputs(X, y, sample_weight, classifier)
        if continuing:
            dtype = self._network.dtype
        elif self.dtype is None:
            # scikit-learn's rule, as the single-process estimators: float32 stays float32
            dtype = np.dtype(np.float32 if X.dtype == np.float32 else np.float64)
        else:
            dtype = check_dtype(self.dtype)
        n_features = X.shape[1]
        binarizer = None
        if classifier:
            classes = _data.classes_of(client, y)
            if continuing and set(classes) != set(self.classes_):
                raise ValueError("warm_start can only be used where `y` has the same classes "
                                 f"as in the previous call to fit. Previously got "
                                 f"{self.classes_}, `y` has {classes}")
            binarizer = self._label_binarizer if continuing else LabelBinarizer().fit(classes)
            n_outputs = binarizer.transform(classes[:1]).shape[1]
        else:
            n_outputs = 1 if y.ndim == 1 else y.shape[1]
        layer_units = [n_features] + hidden + [n_outputs]
        if continuing and (list(self._network.layer_dims) != layer_units
                           or self.n_features_in_ != n_features):
            raise ValueError(f"the network has layers {list(self._network.layer_dims)} but this "
                             f"data and hidden_layer_sizes need {layer_units}; warm_start "
                             "continues the same architecture")
        layout = "neurons" if self.solver == "lbfgs" else "examples"
        shards, info = _data.place(client, X, y, sample_weight, dtype, n_features, binarizer,
                                   layout)
        try:
            _data.check_positive_weight(info)
            # everything is checked: from here on the estimator changes
            self.n_features_in_ = n_features
            if feature_names is not None:
                self.feature_names_in_ = feature_names
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            if classifier:
                self._label_binarizer = binarizer
                self.classes_ = binarizer.classes_
            random_state = check_random_state(self.random_state)
            if not continuing:
                self._initialize(np.empty((0, n_outputs)), layer_units, dtype, random_state)
            if self.solver == "lbfgs":
                self._fit_lbfgs_distributed(client, shards, info)
            else:
                self._fit_averaged(client, shards, info, random_state)
        finally:
            client.cancel(shards)
        if not np.isfinite(self._network._theta).all():
            raise ValueError(_single._NON_FINITE)
        return self

    def _spec(self):
        net = self._network
        return (tuple(net.layer_dims), net.activations[0] if net.activations else "linear",
                net.output, net.dtype.str)

    def _fit_lbfgs_distributed(self, client, shards, info):
        """scikit-learn's L-BFGS (as ``fastbp.estimators._BaseMLP._fit_lbfgs``) on the sum of
        the workers' loss and gradient sums."""
        net = self._network
        loss_and_gradient = DistributedObjective(
            client, shards, info, net, self._spec(), float(self.alpha),
            average_outputs=not is_classifier(self) and net.layer_dims[-1] > 1)
        self._minimize_lbfgs(loss_and_gradient)

    def _fit_averaged(self, client, shards, info, random_state):
        """Epochs of local steps on every shard, averaged after each epoch."""
        net = self._network
        spec = self._spec()
        if self.solver == "adam":
            optimizer = "adam"
        else:
            optimizer = "momentum" if self.momentum > 0 else "sgd"
        # a fit starts a fresh optimizer, also when warm-started (scikit-learn's rule)
        net._optimizer = None
        self._learning_rate = float(self.learning_rate_init)
        net._select_optimizer(optimizer)
        opt_state, step = net._optimizer_state()
        size = net._theta.size
        totals = np.array([t for _, t in info], dtype=np.float64)
        rows = np.array([r for r, _ in info])
        n_samples = int(rows.sum())
        fractions = totals / totals.sum()
        batch_size = (min(200, n_samples) if self.batch_size == "auto"
                      else int(np.clip(self.batch_size, 1, n_samples)))
        settings = dict(optimizer=optimizer, batch_size=batch_size, shuffle=bool(self.shuffle),
                        momentum=float(self.momentum), nesterov=bool(self.nesterovs_momentum),
                        beta_1=float(self.beta_1), beta_2=float(self.beta_2),
                        epsilon=float(self.epsilon), alpha=float(self.alpha))
        n_iter_no_change = (int(self.n_iter_no_change) if np.isfinite(self.n_iter_no_change)
                            else _single._NEVER)
        if not hasattr(self, "loss_curve_"):
            self.loss_curve_ = []
        if self._plateau is None or self._plateau.higher_is_better:
            self._start_plateau(False)
        plateau = self._plateau
        plateau.tol = float(self.tol)
        n_outputs = net.layer_dims[-1]
        convert = not is_classifier(self) and n_outputs > 1
        workers = sorted({w for who in client.who_has(shards).values() for w in who})
        seed = random_state.randint(np.iinfo(np.int32).max)
        learning_rate = self._learning_rate
        losses = []
        stopped = False
        for epoch in range(self.max_iter):
            state = np.concatenate([net._theta.astype(np.float64),
                                    opt_state.ravel().astype(np.float64),
                                    [float(step[0])]])
            settings["learning_rate"] = learning_rate
            broadcast = client.scatter(state, broadcast=True, hash=False, workers=workers)
            seeds = np.random.SeedSequence([seed, epoch]).generate_state(len(shards))
            try:
                parts = client.gather([
                    client.submit(_worker.local_epoch, shard, broadcast, spec, settings,
                                  int(s), pure=False) for shard, s in zip(shards, seeds)])
            except FloatingPointError as error:
                raise ValueError(_single._NON_FINITE) from error
            # weighted mean in shard order (the fixed order of a reproducible fit)
            mean = as_float64_sum([fraction * part for fraction, part in zip(fractions, parts)])
            net._theta[...] = mean[:size]
            opt_state[...] = mean[size:-2].reshape(opt_state.shape)
            step[0] = int(round(max(part[-2] for part in parts)))
            cost = float(sum(part[-1] for part in parts) / totals.sum())
            if convert:
                squares = float(sum(np.dot(W.ravel(), W.ravel()) for W in self.coefs_))
                penalty = 0.5 * float(self.alpha) * squares / batch_size
                cost = penalty + (cost - penalty) / n_outputs
            losses.append(cost)
            net.samples_seen_ += n_samples
            if self.solver == "sgd" and self.learning_rate == "invscaling":
                learning_rate = (float(self.learning_rate_init)
                                 / (net.samples_seen_ + 1) ** float(self.power_t))
            plateau.update(cost)
            if plateau.count > n_iter_no_change:
                if (self.solver == "sgd" and self.learning_rate == "adaptive"
                        and learning_rate > training.ADAPTIVE_FLOOR):
                    learning_rate /= 5.0
                    plateau.count = 0
                else:
                    stopped = True
                    break
        self.n_iter_ = len(losses)
        self.t_ = int(net.samples_seen_)
        self.loss_curve_.extend(losses)
        net.history.extend(losses)
        self.loss_ = losses[-1]
        self.best_loss_ = plateau.best
        self._learning_rate = float(learning_rate)
        if self.n_iter_ == self.max_iter and not stopped:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached "
                          "and the optimization hasn't converged yet.", ConvergenceWarning)

    def partial_fit(self, X, y, *args, **kwargs):
        """One epoch over in-memory data, in this process (the single-process estimator's
        ``partial_fit``); to stream a dask array through it, wrap the estimator in
        ``dask_ml.wrappers.Incremental``."""
        if _data.is_dask_collection(X) or _data.is_dask_collection(y):
            raise TypeError("partial_fit takes NumPy arrays; for a dask array use fit (one model "
                            "trained across the workers) or dask_ml.wrappers.Incremental")
        return super().partial_fit(X, y, *args, **kwargs)

    # ----------------------------------------------------------------- inference
    def _blockwise(self, method, X, columns):
        """``method`` of this estimator applied to each row chunk of a dask X, lazily: the
        blocks are computed on the workers, each by the numpy method. ``columns`` is the
        number of output columns, or None for a 1-D result.

        (dask-ml's ``ParallelPostFit`` does this with ``drop_axis=1`` always, which gives a
        multi-output regressor's predictions the wrong shape.)
        """
        X = _data._as_dask_array(X, "X", (2,))
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is "
                             f"expecting {self.n_features_in_} features as input.")
        if method == "predict" and is_classifier(self):
            dtype = self.classes_.dtype
        else:
            dtype = self._network.dtype
        if columns is None:
            return X.map_blocks(_apply, estimator=self, method=method, drop_axis=1,
                                dtype=dtype, meta=np.empty((0,), dtype))
        return X.map_blocks(_apply, estimator=self, method=method, dtype=dtype,
                            chunks=(X.chunks[0], (columns,)), meta=np.empty((0, 0), dtype))

    def predict(self, X):
        """Predictions for X: a lazy dask array (computed on the workers) for a dask X, an
        ndarray for an ndarray."""
        if _data.is_dask_collection(X):
            single = is_classifier(self) or self.n_outputs_ == 1
            return self._blockwise("predict", X, None if single else self.n_outputs_)
        return super().predict(X)

    def score(self, X, y, sample_weight=None):
        """Accuracy (classifier) or R² (regressor, averaged over outputs): a lazy dask scalar
        for dask inputs, a float otherwise (scikit-learn's ``score``)."""
        if not _data.is_dask_collection(X):
            return super().score(X, y, sample_weight=sample_weight)
        X, y, sample_weight, _ = _data.check_inputs(X, y, sample_weight, is_classifier(self))
        prediction = self.predict(X)
        if is_classifier(self):
            return _scores.accuracy(y, prediction, sample_weight)
        return _scores.r2(y, prediction, sample_weight)


def _apply(block, estimator, method):
    """``estimator.method(block)`` on one NumPy row chunk (run on a worker)."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        # the chunk of a DataFrame the estimator was fitted on: give its columns back their
        # names, as scikit-learn checks them
        import pandas as pd
        block = pd.DataFrame(block, columns=names)
    with _worker._KernelThreads():
        return getattr(estimator, method)(block)


class MLPClassifier(_DaskMLP, _single.MLPClassifier):
    __doc__ = f"""Multi-layer perceptron classifier trained data-parallel on a Dask cluster.

    ``fastbp.MLPClassifier`` (same parameters and fitted attributes) whose :meth:`fit` trains
    one model across the workers of the default ``distributed.Client`` on dask arrays of row
    chunks (or NumPy arrays, scattered to the workers). ``solver="lbfgs"`` reaches the
    single-process fit's coefficients to rounding; ``"sgd"``/``"adam"`` average the workers'
    local epochs. Multiclass and binary labels in one column; no early stopping.

    ``predict``, ``predict_proba`` and ``score`` return lazy dask results for dask arrays and
    NumPy results for NumPy arrays; a fitted model pickles as any fastbp estimator.

    Parameters
    ----------{_single._COMMON_PARAMETERS}
    Attributes
    ----------
    classes_ : ndarray
        Class labels.{_single._COMMON_ATTRIBUTES}
    """

    def predict_proba(self, X):
        """Class probabilities: a lazy dask array of shape (n_samples, n_classes) for a dask
        X, an ndarray for an ndarray."""
        if _data.is_dask_collection(X):
            return self._blockwise("predict_proba", X, max(2, self.n_outputs_))
        return super().predict_proba(X)


class MLPRegressor(_DaskMLP, _single.MLPRegressor):
    __doc__ = f"""Multi-layer perceptron regressor trained data-parallel on a Dask cluster.

    ``fastbp.MLPRegressor`` (same parameters and fitted attributes) whose :meth:`fit` trains one
    model across the workers of the default ``distributed.Client``; see
    :class:`fastbp.dask.MLPClassifier`.

    Parameters
    ----------
    loss : {{'squared_error'}}, default='squared_error'{_single._COMMON_PARAMETERS}
    Attributes
    ----------{_single._COMMON_ATTRIBUTES}
    """
