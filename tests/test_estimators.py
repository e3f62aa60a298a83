"""fastbp.MLPClassifier / MLPRegressor against scikit-learn's own MLP.

scikit-learn's conformance suite runs on several solver settings. Beyond it, every test that can
compares with ``sklearn.neural_network`` in a setting where the two must agree: full batch (or
minibatches without shuffling) makes the training deterministic, and then the math is the same,
so the parameters, loss curves, stopping epochs and validation scores must match to rounding.
"""
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from sklearn import neural_network as sk
from sklearn.datasets import load_diabetes, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastbp import MLPClassifier, MLPRegressor

IMPLEMENTATIONS = {MLPClassifier: sk.MLPClassifier, MLPRegressor: sk.MLPRegressor}

# rounding only: the kernels sum in another order than NumPy's BLAS
RTOL = 1e-9
ATOL = 1e-12

quiet = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# ----------------------------------------------------------------- scikit-learn's own checks
_SMALL = dict(hidden_layer_sizes=(16,), random_state=0)
_CONFORMANCE = [
    dict(max_iter=100, learning_rate_init=0.01),                        # adam, the default
    dict(solver="lbfgs", max_iter=200),
    dict(solver="sgd", max_iter=200, learning_rate_init=0.01),          # Nesterov momentum
    dict(solver="sgd", momentum=0.0, max_iter=200, learning_rate_init=0.02,
         learning_rate="adaptive"),
]


@quiet
@parametrize_with_checks([Estimator(**_SMALL, **settings) for settings in _CONFORMANCE
                          for Estimator in (MLPClassifier, MLPRegressor)])
def test_scikit_learn_conformance(estimator, check):
    check(estimator)


# ----------------------------------------------------------------- data
def _data(task, n=60, n_features=5, seed=0):
    """Small problems: binary (string labels), multiclass, multilabel, regression (3 outputs)
    and regression1 (one output)."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n, n_features)
    noise = 0.5 * rng.randn(n, 3)
    signal = X[:, :3] + 0.5 * np.tanh(X[:, 2:5]) + noise
    if task == "binary":
        return X, np.array(["no", "yes"])[(signal[:, 0] > 0).astype(int)]
    if task == "multiclass":
        return X, signal.argmax(axis=1) * 10
    if task == "multilabel":
        return X, (signal > 0).astype(int)
    if task == "regression":
        return X, signal * [1.0, 2.0, 0.5]
    return X, signal[:, 0]


_TASKS = {"binary": (MLPClassifier, "relu"), "multiclass": (MLPClassifier, "tanh"),
          "multilabel": (MLPClassifier, "logistic"), "regression": (MLPRegressor, "relu"),
          "regression1": (MLPRegressor, "tanh")}

_SOLVERS = {
    "sgd": dict(solver="sgd", momentum=0.0, learning_rate_init=0.1),
    "momentum": dict(solver="sgd", momentum=0.9, nesterovs_momentum=False,
                     learning_rate_init=0.05),
    "nesterov": dict(solver="sgd", momentum=0.9, nesterovs_momentum=True,
                     learning_rate_init=0.05),
    "adam": dict(solver="adam", learning_rate_init=0.02),
}


def _weights(n, seed=1):
    weights = np.random.RandomState(seed).uniform(0.2, 3.0, n)
    weights[::7] = 0.0
    return weights


def _both(task, **settings):
    """(fastbp estimator, scikit-learn estimator) with the same settings for ``task``."""
    Estimator, activation = _TASKS[task]
    settings = dict(dict(hidden_layer_sizes=(6, 4), activation=activation, alpha=0.01,
                         random_state=3), **settings)
    return Estimator(**settings), IMPLEMENTATIONS[Estimator](**settings)


def _assert_parameters_equal(ours, theirs, rtol=RTOL, atol=ATOL):
    assert len(ours.coefs_) == len(theirs.coefs_)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert a.shape == b.shape
        assert_allclose(a, b, rtol=rtol, atol=atol)


def _assert_same_training(ours, theirs, rtol=RTOL, loss_rtol=RTOL):
    """Same parameters, loss curve, epochs and samples seen as scikit-learn."""
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.t_ == theirs.t_
    _assert_parameters_equal(ours, theirs, rtol)
    assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=loss_rtol)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=loss_rtol)
    if theirs.best_loss_ is None:
        assert ours.best_loss_ is None
    else:
        assert ours.best_loss_ == pytest.approx(theirs.best_loss_, rel=loss_rtol)


def _lr_one_epoch(Estimator, X, y, **settings):
    """The initial parameters, through the public API: one epoch with a vanishing step."""
    model = Estimator(solver="sgd", momentum=0.0, learning_rate_init=1e-300, max_iter=1,
                      shuffle=False, **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


# ----------------------------------------------------------------- initialization
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("task", ["binary", "multiclass", "multilabel", "regression"])
def test_initial_parameters_are_scikit_learns(task, activation):
    X, y = _data(task)
    Estimator = _TASKS[task][0]
    settings = dict(hidden_layer_sizes=(7, 3), activation=activation, random_state=11)
    ours = _lr_one_epoch(Estimator, X, y, **settings)
    theirs = _lr_one_epoch(IMPLEMENTATIONS[Estimator], X, y, **settings)
    _assert_parameters_equal(ours, theirs, rtol=0, atol=0)
    assert ours.n_layers_ == theirs.n_layers_ == 4
    assert ours.n_outputs_ == theirs.n_outputs_
    assert ours.out_activation_ == theirs.out_activation_
    assert [c.shape for c in ours.coefs_] == [(5, 7), (7, 3), (3, theirs.n_outputs_)]


# ----------------------------------------------------------------- training, step for step
@quiet
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("solver", list(_SOLVERS))
@pytest.mark.parametrize("task", list(_TASKS))
def test_full_batch_training_matches_scikit_learn(task, solver, weighted):
    X, y = _data(task)
    weights = _weights(len(X)) if weighted else None
    ours, theirs = _both(task, batch_size=len(X), shuffle=False, max_iter=25,
                         **_SOLVERS[solver])
    ours.fit(X, y, sample_weight=weights)
    theirs.fit(X, y, sample_weight=weights)
    _assert_same_training(ours, theirs)
    assert_allclose(ours.predict(X) if task.startswith("regression") else
                    ours.predict_proba(X),
                    theirs.predict(X) if task.startswith("regression") else
                    theirs.predict_proba(X), rtol=1e-8, atol=ATOL)


@quiet
@pytest.mark.parametrize("task", ["multiclass", "regression", "regression1"])
@pytest.mark.parametrize("solver", ["nesterov", "adam"])
def test_minibatches_without_shuffling_match_scikit_learn(task, solver):
    # batches of 16 in order, the last one short: the same batches as scikit-learn's
    X, y = _data(task, n=70)
    weights = _weights(len(X))
    ours, theirs = _both(task, batch_size=16, shuffle=False, max_iter=15, **_SOLVERS[solver])
    ours.fit(X, y, sample_weight=weights)
    theirs.fit(X, y, sample_weight=weights)
    # the L2 penalty of a multi-output squared-error loss is interpolated within an epoch
    # (see fastbp.estimators): the reported loss is then close, everything else exact
    loss_rtol = 1e-4 if task == "regression" else RTOL
    _assert_same_training(ours, theirs, loss_rtol=loss_rtol)


@quiet
@pytest.mark.parametrize("schedule", ["invscaling", "adaptive"])
@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_learning_rate_schedules_match_scikit_learn(task, schedule):
    X, y = _data(task)
    # a coarse tol and a short patience make the adaptive rate drop several times
    ours, theirs = _both(task, solver="sgd", momentum=0.5, learning_rate=schedule,
                         learning_rate_init=0.2, power_t=0.3, batch_size=len(X),
                         shuffle=False, max_iter=60, tol=5e-3, n_iter_no_change=2)
    ours.fit(X, y)
    theirs.fit(X, y)
    _assert_same_training(ours, theirs)
    assert ours._learning_rate == pytest.approx(theirs._optimizer.learning_rate, rel=1e-12)
    if schedule == "adaptive":
        assert theirs._optimizer.learning_rate < 0.2 / 25   # the schedule did act


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_plateau_stops_at_scikit_learns_epoch(task):
    X, y = _data(task)
    ours, theirs = _both(task, solver="adam", learning_rate_init=0.02, batch_size=len(X),
                         shuffle=False, max_iter=500, tol=1e-3, n_iter_no_change=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)   # it stops before max_iter
        ours.fit(X, y)
        theirs.fit(X, y)
    assert ours.n_iter_ < 500
    _assert_same_training(ours, theirs)


@pytest.mark.parametrize("Estimator", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_convergence_warning_when_max_iter_is_reached(Estimator, solver):
    X, y = _data("multiclass" if Estimator is MLPClassifier else "regression")
    with pytest.warns(ConvergenceWarning):
        Estimator(hidden_layer_sizes=(5,), solver=solver, max_iter=3, random_state=0).fit(X, y)


# ----------------------------------------------------------------- L-BFGS
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("task", ["binary", "multiclass", "multilabel", "regression"])
def test_lbfgs_agrees_with_scikit_learn(task, weighted):
    X, y = _data(task)
    weights = _weights(len(X)) if weighted else None
    ours, theirs = _both(task, solver="lbfgs", max_iter=40, alpha=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y, sample_weight=weights)
        theirs.fit(X, y, sample_weight=weights)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-6)
    assert ours.n_iter_ == theirs.n_iter_
    assert not hasattr(ours, "loss_curve_")   # as scikit-learn: stochastic solvers only


def test_lbfgs_reports_scikit_learns_loss_for_several_outputs():
    # scikit-learn's squared error averages over the outputs (fastbp's cost sums over them)
    X, y = _data("regression")
    model = MLPRegressor(hidden_layer_sizes=(6,), solver="lbfgs", alpha=0.3, max_iter=20,
                         random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    residual = 0.5 * np.mean((model.predict(X) - y) ** 2)
    penalty = 0.5 * 0.3 * sum(np.sum(c ** 2) for c in model.coefs_) / len(X)
    assert model.loss_ == pytest.approx(residual + penalty, rel=1e-10)


# ----------------------------------------------------------------- early stopping
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_early_stopping_matches_scikit_learn_and_restores_the_best(task):
    X, y = _data(task, n=120, seed=4)
    settings = dict(solver="sgd", momentum=0.0, learning_rate_init=0.3, shuffle=False,
                    early_stopping=True, validation_fraction=0.25, n_iter_no_change=3,
                    tol=0.0, max_iter=300)
    ours, theirs = _both(task, **settings)
    ours.fit(X, y)
    theirs.fit(X, y)
    assert ours.best_loss_ is None and theirs.best_loss_ is None
    assert_allclose(ours.validation_scores_, theirs.validation_scores_, rtol=1e-9)
    assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_)
    assert ours.best_validation_score_ == max(ours.validation_scores_)
    _assert_same_training(ours, theirs)   # the restored parameters are scikit-learn's too

    # the restored parameters are those after the best epoch: train exactly that long
    best_epoch = int(np.argmax(ours.validation_scores_)) + 1
    assert best_epoch < ours.n_iter_      # it did go past the best and came back
    truncated, _ = _both(task, **dict(settings, max_iter=best_epoch))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        truncated.fit(X, y)
    _assert_parameters_equal(ours, truncated, rtol=0, atol=0)


def test_early_stopping_split_is_scikit_learns_stratified_split():
    X, y = _data("binary", n=90)
    ours, theirs = _both("binary", early_stopping=True, validation_fraction=0.2, max_iter=8,
                         solver="sgd", momentum=0.0, shuffle=False, batch_size=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours.fit(X, y)
        theirs.fit(X, y)
    assert ours.t_ == theirs.t_ == 8 * 72
    assert_allclose(ours.validation_scores_, theirs.validation_scores_)


# ----------------------------------------------------------------- continuing training
@pytest.mark.parametrize("task", ["multiclass", "multilabel", "regression"])
@pytest.mark.parametrize("solver", ["adam", "nesterov"])
def test_partial_fit_continues_training_as_scikit_learn(task, solver):
    X, y = _data(task)
    ours, theirs = _both(task, batch_size=len(X), shuffle=False, **_SOLVERS[solver])
    kwargs = {}
    if task == "multiclass":
        kwargs["classes"] = np.unique(y)
    elif task == "multilabel":
        kwargs["classes"] = np.arange(y.shape[1])   # required, as scikit-learn
    for _ in range(6):
        ours.partial_fit(X, y, **kwargs)
        theirs.partial_fit(X, y, **kwargs)
    assert ours.n_iter_ == theirs.n_iter_ == 1
    _assert_same_training(ours, theirs)
    assert ours.loss_curve_[-1] < ours.loss_curve_[0]

    # six partial_fit calls are six epochs of fit
    whole, _ = _both(task, batch_size=len(X), shuffle=False, max_iter=6, **_SOLVERS[solver])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        whole.fit(X, y)
    _assert_parameters_equal(ours, whole)
    assert_allclose(ours.loss_curve_, whole.loss_curve_, rtol=RTOL)


def test_partial_fit_needs_classes_first_and_refuses_unknown_ones():
    X, y = _data("multiclass")
    model = MLPClassifier(hidden_layer_sizes=(4,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        model.partial_fit(X, y)
    model.partial_fit(X[:30], y[:30], classes=[0, 10, 20])   # not every class in this batch
    assert list(model.classes_) == [0, 10, 20]
    with pytest.raises(ValueError, match="not in `self.classes_`"):
        model.partial_fit(X, y + 1)


def test_partial_fit_refusals():
    X, y = _data("regression1")
    assert not hasattr(MLPRegressor(solver="lbfgs"), "partial_fit")
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    with pytest.raises(ValueError, match="early_stopping"):
        MLPRegressor(early_stopping=True).partial_fit(X, y)


@quiet
@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_warm_start_matches_scikit_learn(task):
    # a new optimizer each fit, but the no-improvement count and best loss carry over
    X, y = _data(task)
    ours, theirs = _both(task, warm_start=True, batch_size=len(X), shuffle=False, max_iter=30,
                         tol=1e-3, n_iter_no_change=3, **_SOLVERS["adam"])
    for _ in range(3):
        ours.fit(X, y)
        theirs.fit(X, y)
        _assert_same_training(ours, theirs)


def test_partial_fit_after_fit_keeps_the_optimizer():
    X, y = _data("regression")
    ours, theirs = _both("regression", batch_size=len(X), shuffle=False, max_iter=10,
                         **_SOLVERS["adam"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)
        theirs.fit(X, y)
    for _ in range(3):
        ours.partial_fit(X, y)
        theirs.partial_fit(X, y)
    _assert_same_training(ours, theirs)


def test_network_fit_continues_a_given_plateau():
    # the hook the estimators use: Network.fit(plateau=...) carries the count across calls
    from fastbp import Network
    from fastbp.training import Plateau
    X, y = _data("regression1")
    net = Network([5, 4, 1], output="linear", seed=0)
    plateau = Plateau(tol=1e9, higher_is_better=False)   # only the first epoch improves
    net.fit(X.T, y[None], epochs=50, n_iter_no_change=3, plateau=plateau)
    assert len(net.history) == 5 and plateau.count == 4
    net.fit(X.T, y[None], epochs=50, n_iter_no_change=3, plateau=plateau)
    assert len(net.history) == 6          # the count carried over: one more epoch and stop
    with pytest.raises(ValueError, match="plateau"):
        net.fit(X.T, y[None], n_iter_no_change=3, early_stopping=True, plateau=plateau)
    with pytest.raises(TypeError, match="plateau"):
        net.fit(X.T, y[None], n_iter_no_change=3, plateau="count")


# ----------------------------------------------------------------- predictions and attributes
@pytest.mark.parametrize("task", ["binary", "multiclass", "multilabel", "regression",
                                  "regression1"])
def test_predictions_from_scikit_learns_parameters(task):
    # give fastbp scikit-learn's fitted parameters: every prediction method must agree
    X, y = _data(task)
    ours, theirs = _both(task, max_iter=50, learning_rate_init=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)
        theirs.fit(X, y)
    ours.coefs_ = theirs.coefs_
    ours.intercepts_ = theirs.intercepts_
    X_new = np.random.RandomState(9).randn(30, X.shape[1])
    assert_allclose(ours.predict(X_new) if task.startswith("regression") else 0,
                    theirs.predict(X_new) if task.startswith("regression") else 0, rtol=1e-10)
    if not task.startswith("regression"):
        np.testing.assert_array_equal(ours.predict(X_new), theirs.predict(X_new))
        assert_allclose(ours.predict_proba(X_new), theirs.predict_proba(X_new), rtol=1e-10)
        assert_allclose(ours.predict_log_proba(X_new), theirs.predict_log_proba(X_new),
                        rtol=1e-9)
        np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    assert ours.score(X, y) == pytest.approx(theirs.score(X, y), rel=1e-10)


def test_binary_predict_proba_has_two_columns():
    X, y = _data("binary")
    model = MLPClassifier(hidden_layer_sizes=(5,), max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2) and model.n_outputs_ == 1
    assert_allclose(proba.sum(axis=1), 1.0)
    assert set(model.predict(X)) <= {"no", "yes"}


def test_predictions_in_chunks_equal_predictions_at_once(monkeypatch):
    import fastbp.estimators
    X, y = _data("multiclass")
    model = MLPClassifier(hidden_layer_sizes=(6,), batch_size=8, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    whole = model.predict_proba(X)
    monkeypatch.setattr(fastbp.estimators, "PREDICT_CHUNK", 5)
    fresh = pickle.loads(pickle.dumps(model))
    assert_allclose(fresh.predict_proba(X), whole, rtol=1e-13)
    assert fresh._network._workspaces["predict"][0] == 5   # chunks of 5 rows
    assert_allclose(model.predict_proba(X), whole, rtol=1e-13)


def test_coefs_are_views_of_the_network():
    X, y = _data("regression")
    model = MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    before = model.predict(X)
    model.intercepts_[-1][:] += 1.0
    assert_allclose(model.predict(X), before + 1.0)
    with pytest.raises(ValueError):
        model.coefs_ = [np.zeros((2, 2)), np.zeros((4, 3))]
    assert not hasattr(MLPRegressor(), "coefs_")


def test_pickle_round_trip_predicts_and_trains_on():
    X, y = _data("multiclass")
    settings = dict(batch_size=len(X), shuffle=False, **_SOLVERS["nesterov"])
    model, _ = _both("multiclass", **settings)
    model.partial_fit(X, y, classes=np.unique(y))
    copy = pickle.loads(pickle.dumps(model))
    assert_allclose(copy.predict_proba(X), model.predict_proba(X), rtol=0, atol=0)
    for estimator in (model, copy):   # the optimizer state travels too
        estimator.partial_fit(X, y)
    _assert_parameters_equal(copy, model, rtol=0, atol=0)
    copy.coefs_[0][:] = 0.0           # the copy's views are its own network's
    assert not np.allclose(model.coefs_[0], 0.0)


def test_sparse_input_trains_like_dense():
    X, y = _data("multiclass")
    settings = dict(batch_size=len(X), shuffle=False, max_iter=5, **_SOLVERS["adam"])
    dense, _ = _both("multiclass", **settings)
    sparse, _ = _both("multiclass", **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense.fit(X, y)
        sparse.fit(sp.csr_matrix(X), y)
    # the sparse kernels sum the first layer in another order: equal to rounding
    _assert_parameters_equal(sparse, dense, rtol=1e-10, atol=1e-12)
    assert_allclose(sparse.predict_proba(sp.csc_matrix(X)), dense.predict_proba(X), rtol=1e-10)


def test_dataframe_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = _data("regression1")
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(frame, y)
    assert list(model.feature_names_in_) == list(frame.columns)
    assert model.n_features_in_ == X.shape[1]
    with pytest.warns(UserWarning, match="feature names"):
        model.predict(X)


@quiet
def test_float32_network():
    X, y = _data("multiclass")
    settings = dict(batch_size=len(X), shuffle=False, max_iter=10, **_SOLVERS["adam"])
    single = MLPClassifier(hidden_layer_sizes=(6, 4), alpha=0.01, random_state=3,
                           dtype=np.float32, **settings)
    double = MLPClassifier(hidden_layer_sizes=(6, 4), alpha=0.01, random_state=3, **settings)
    single.fit(X, y)
    double.fit(X, y)
    assert all(c.dtype == np.float32 for c in single.coefs_)
    assert single.predict_proba(X).dtype == np.float32
    _assert_parameters_equal(single, double, rtol=1e-3, atol=1e-4)


def test_verbose_and_poisson_targets(capsys):
    X, y = _data("regression1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MLPRegressor(hidden_layer_sizes=(3,), max_iter=3, verbose=True).fit(X, y)
    out = capsys.readouterr().out    # scikit-learn's lines (tests/test_estimator_features.py)
    assert out.count("Iteration ") == 3
    with pytest.raises(ValueError, match="poisson"):
        MLPRegressor(loss="poisson").fit(X, y - y.min() - 1)   # negative counts


# ----------------------------------------------------------------- held-out quality
@quiet
@pytest.mark.parametrize("settings", [dict(solver="adam", max_iter=100),
                                      dict(solver="sgd", learning_rate_init=0.01, max_iter=40)],
                         ids=["adam", "sgd"])
def test_digits_accuracy_at_least_scikit_learns(settings):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25,
                                                        stratify=y, random_state=0)
    settings = dict(hidden_layer_sizes=(100,), random_state=0, **settings)
    ours = MLPClassifier(**settings).fit(X_train, y_train).score(X_test, y_test)
    theirs = sk.MLPClassifier(**settings).fit(X_train, y_train).score(X_test, y_test)
    assert ours >= theirs - 0.02
    assert ours > 0.9


@quiet
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_diabetes_r2_at_least_scikit_learns(solver):
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    x_scale = StandardScaler().fit(X_train)
    y_scale = StandardScaler().fit(y_train[:, None])
    X_train, X_test = x_scale.transform(X_train), x_scale.transform(X_test)
    y_train = y_scale.transform(y_train[:, None]).ravel()
    y_test = y_scale.transform(y_test[:, None]).ravel()
    settings = dict(hidden_layer_sizes=(100,), random_state=0, max_iter=200, solver=solver)
    ours = MLPRegressor(**settings).fit(X_train, y_train).score(X_test, y_test)
    theirs = sk.MLPRegressor(**settings).fit(X_train, y_train).score(X_test, y_test)
    assert ours >= theirs - 0.02
    assert ours > 0.15   # diabetes is noisy: (100,) units overfit it, scikit-learn's too
