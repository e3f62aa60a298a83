"""The estimators' scikit-learn differences fixed (dtype, diverging fits, verbose lines,
parameters set by hand) and the features scikit-learn's MLP lacks (``class_weight``, a validation
set given to ``fit``, early stopping on the validation loss), with their defaults staying
scikit-learn's."""
import inspect
import re
import warnings

import numpy as np
import pytest
from sklearn import neural_network as sk
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.utils.class_weight import compute_sample_weight

from fastbp import MLPClassifier, MLPRegressor, Network

ESTIMATORS = [MLPClassifier, MLPRegressor]


def _classification(seed=0, n=120, classes=3, weights=None):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    scores = X[:, :classes] + 0.3 * rng.standard_normal((n, classes))
    if weights is not None:
        scores = scores + np.log(weights)
    return X, scores.argmax(axis=1)


def _regression(seed=0, n=100):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    return X, X[:, 0] - 0.5 * X[:, 1] ** 2 + 0.1 * rng.standard_normal(n)


def _quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return function(*args, **kwargs)


# ------------------------------------------------------------------------------ defaults
@pytest.mark.parametrize("ours, theirs", [(MLPClassifier, sk.MLPClassifier),
                                          (MLPRegressor, sk.MLPRegressor)])
def test_defaults_are_scikit_learns(ours, theirs):
    """Every parameter of scikit-learn's estimator exists with its default; the added ones
    default to scikit-learn's behaviour."""
    ours_params, theirs_params = ours().get_params(), theirs().get_params()
    for name, value in theirs_params.items():
        assert name in ours_params, name
        assert ours_params[name] == value or (ours_params[name] is value), name
    extra = {name: ours_params[name] for name in set(ours_params) - set(theirs_params)}
    expected = {"early_stopping_metric": "score", "dtype": None}
    if ours is MLPClassifier:
        expected["class_weight"] = None
    assert {key: extra[key] for key in expected} == expected


# --------------------------------------------------------------------------------- dtype
@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("dtype, expected", [(np.float32, np.float32), (np.float64, np.float64),
                                             (np.float16, np.float64), (np.int64, np.float64)])
def test_dtype_follows_the_input(Estimator, dtype, expected):
    X, y = _classification()
    model = _quiet(Estimator(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit,
                   (X * 4).astype(dtype), y)
    assert all(c.dtype == expected for c in model.coefs_ + model.intercepts_)
    prediction = model.predict(X.astype(dtype))
    if Estimator is MLPRegressor:
        assert prediction.dtype == expected
    else:
        assert model.predict_proba(X).dtype == expected


def test_dtype_parameter_still_forces_one():
    X, y = _classification()
    model = _quiet(MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, dtype=np.float64).fit,
                   X.astype(np.float32), y)
    assert model.coefs_[0].dtype == np.float64
    model = _quiet(MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, dtype=np.float32).fit, X, y)
    assert model.predict(X).dtype == np.float32
    # partial_fit keeps the network's dtype whatever the next batch's
    model.partial_fit(X.astype(np.float64), y)
    assert model.coefs_[0].dtype == np.float32


def test_float32_fit_is_close_to_float64():
    X, y = _classification()
    kwargs = dict(hidden_layer_sizes=(6,), max_iter=20, random_state=0)
    single = _quiet(MLPClassifier(**kwargs).fit, X.astype(np.float32), y)
    double = _quiet(MLPClassifier(**kwargs).fit, X, y)
    np.testing.assert_allclose(single.loss_curve_, double.loss_curve_, rtol=1e-4)


# ---------------------------------------------------------------------- diverging fits
def _diverging(Estimator=MLPRegressor, **kwargs):
    return Estimator(hidden_layer_sizes=(20,), activation="identity", solver="sgd",
                     learning_rate_init=1.0, max_iter=20, random_state=0, **kwargs)


def test_diverging_fit_with_early_stopping_warns_and_keeps_the_best_parameters():
    X, y = _regression()
    X_val, y_val = _regression(seed=1, n=40)
    model = _diverging(early_stopping=True)
    with pytest.warns(RuntimeWarning, match="NaN or infinite"):
        model.fit(X * 30, y, X_val=X_val * 30, y_val=y_val)
    assert np.isnan(model.validation_scores_[-1])
    assert isinstance(model.validation_scores_[-1], float)
    assert np.isnan(model.loss_curve_[-1])
    assert model.n_iter_ == len(model.loss_curve_) < 20
    assert all(np.isfinite(c).all() for c in model.coefs_ + model.intercepts_)
    # the parameters are the best epoch's: they score the best validation score
    assert model.score(X_val * 30, y_val) == pytest.approx(model.best_validation_score_,
                                                           rel=1e-9, abs=1e-12)


def test_diverging_fit_without_early_stopping_raises_as_scikit_learn():
    X, y = _regression()
    with pytest.raises(ValueError, match="non-finite"):
        _quiet(_diverging().fit, X * 30, y)


def test_network_fit_keeps_raising_on_divergence():
    rng = np.random.default_rng(0)
    X = 30 * rng.standard_normal((4, 50))
    Y = rng.standard_normal((1, 50))
    net = Network([4, 8, 1], activations="linear", output="linear", seed=0)
    with pytest.raises(FloatingPointError):
        net.fit(X, Y, epochs=30, learning_rate=1.0, batch_size=10)
    net = Network([4, 8, 1], activations="linear", output="linear", seed=0)
    with pytest.warns(RuntimeWarning, match="NaN or infinite"):
        net.fit(X, Y, epochs=30, learning_rate=1.0, batch_size=10, on_divergence="stop",
                validation_data=(X, Y))
    assert np.isnan(net.history[-1]) and np.isnan(net.history.validation_score[-1])
    assert np.isfinite(net._theta).all()
    with pytest.raises(ValueError, match="on_divergence"):
        net.fit(X, Y, on_divergence="ignore")


# ------------------------------------------------------------------------------- verbose
def test_verbose_prints_scikit_learns_lines(capsys):
    X, y = _classification()
    model = _quiet(MLPClassifier(hidden_layer_sizes=(4,), max_iter=4, verbose=True,
                                 random_state=0, early_stopping=True).fit, X, y)
    out, err = capsys.readouterr()
    lines = re.findall(r"Iteration (\d+), loss = (\S+)", out)
    assert [int(n) for n, _ in lines] == list(range(1, model.n_iter_ + 1))
    assert [float(v) for _, v in lines] == pytest.approx(model.loss_curve_, abs=1e-8)
    scores = [float(v) for v in re.findall(r"Validation score: (\S+)", out)]
    assert scores == pytest.approx(model.validation_scores_, abs=1e-6)
    assert "epoch/s" not in err and "it/s" not in err   # no progress bar on top


def test_verbose_reports_why_training_stops(capsys):
    X, y = _regression()
    model = MLPRegressor(hidden_layer_sizes=(4,), max_iter=500, tol=10.0, n_iter_no_change=2,
                         verbose=1, random_state=0).fit(X, y)
    out, _ = capsys.readouterr()
    assert model.n_iter_ == 4      # the first epoch improves on inf, then 3 > 2 do not
    assert out.strip().splitlines()[-1] == (
        "Training loss did not improve more than tol=10.000000 for 2 consecutive epochs. "
        "Stopping.")


def test_quiet_by_default(capsys):
    X, y = _classification()
    _quiet(MLPClassifier(hidden_layer_sizes=(4,), max_iter=3).fit, X, y)
    out, err = capsys.readouterr()
    assert out == "" and err == ""


# ---------------------------------------------------------------- parameters set by hand
def _set_by_hand(model, coefs, intercepts):
    model.coefs_ = [np.array(c) for c in coefs]
    model.intercepts_ = [np.array(b) for b in intercepts]
    model.n_outputs_ = coefs[-1].shape[1]
    model.n_layers_ = len(coefs) + 1
    model.out_activation_ = "identity"
    model.t_ = 0
    model.n_iter_ = 0
    model.n_features_in_ = coefs[0].shape[0]
    model.loss_curve_ = []
    model.best_loss_ = np.inf
    model._no_improvement_count = 0    # scikit-learn's own needs it
    return model


def test_partial_fit_continues_from_parameters_set_by_hand_as_scikit_learn():
    rng = np.random.default_rng(3)
    X, y = _regression(n=30)
    coefs = [rng.standard_normal((4, 3)), rng.standard_normal((3, 1))]
    intercepts = [rng.standard_normal(3), rng.standard_normal(1)]
    kwargs = dict(hidden_layer_sizes=(3,), solver="sgd", learning_rate_init=0.05, alpha=0.01,
                  shuffle=False, batch_size=30, momentum=0.5)
    ours = _set_by_hand(MLPRegressor(**kwargs), coefs, intercepts)
    theirs = _set_by_hand(sk.MLPRegressor(**kwargs), coefs, intercepts)
    for _ in range(3):
        ours.partial_fit(X, y)
        theirs.partial_fit(X, y)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-10)
    assert ours.t_ == theirs.t_ == 90


def test_parameters_set_by_hand_that_do_not_fit_the_data_are_refused():
    X, y = _regression(n=10)
    model = _set_by_hand(MLPRegressor(hidden_layer_sizes=(3,)),
                         [np.ones((5, 3)), np.ones((3, 1))], [np.ones(3), np.ones(1)])
    with pytest.raises(ValueError):
        model.partial_fit(X, y)
    model = MLPRegressor(hidden_layer_sizes=(3,))
    model.coefs_ = [np.ones((4, 3)), np.ones((3, 1))]
    with pytest.raises(ValueError, match="intercepts_"):
        model.partial_fit(X, y)
    model = _set_by_hand(MLPRegressor(hidden_layer_sizes=(3,)),
                         [np.full((4, 3), np.nan), np.ones((3, 1))], [np.ones(3), np.ones(1)])
    with pytest.raises(ValueError, match="NaN|finite|infinity"):
        model.partial_fit(X, y)
    assert "_network" not in model.__dict__   # nothing half-built is left behind


def test_assigning_a_layer_writes_into_the_fitted_network():
    X, y = _regression(n=30)
    model = _quiet(MLPRegressor(hidden_layer_sizes=(3,), max_iter=2).fit, X, y)
    model.coefs_[1] = np.zeros((3, 1))
    model.intercepts_[1] = np.array([2.5])
    np.testing.assert_array_equal(model.predict(X), np.full(30, 2.5))
    with pytest.raises(ValueError, match="shape"):
        model.coefs_[0] = np.zeros((3, 3))


# --------------------------------------------------------------------------- class_weight
def test_class_weight_dict_is_a_sample_weight_per_class():
    X, y = _classification()
    weights = {0: 3.0, 1: 0.5, 2: 1.0}
    kwargs = dict(hidden_layer_sizes=(5,), max_iter=5, random_state=0)
    by_class = _quiet(MLPClassifier(class_weight=weights, **kwargs).fit, X, y)
    by_sample = _quiet(MLPClassifier(**kwargs).fit, X, y,
                       sample_weight=np.vectorize(weights.get)(y))
    assert by_class.loss_curve_ == by_sample.loss_curve_
    for a, b in zip(by_class.coefs_, by_sample.coefs_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_class_weight_balanced_is_scikit_learns_and_multiplies_sample_weight(solver):
    X, y = _classification(weights=[6, 2, 1])
    sample_weight = np.random.default_rng(1).random(len(y)) + 0.5
    kwargs = dict(hidden_layer_sizes=(5,), max_iter=5, random_state=0, solver=solver)
    balanced = _quiet(MLPClassifier(class_weight="balanced", **kwargs).fit, X, y,
                      sample_weight=sample_weight)
    explicit = _quiet(MLPClassifier(**kwargs).fit, X, y,
                      sample_weight=sample_weight * compute_sample_weight("balanced", y))
    np.testing.assert_allclose(balanced.coefs_[0], explicit.coefs_[0], rtol=1e-12, atol=1e-14)
    assert balanced.loss_ == pytest.approx(explicit.loss_, rel=1e-12)


def test_class_weight_balanced_raises_the_recall_of_a_rare_class():
    X, y = _classification(n=400, weights=[20, 4, 1], seed=4)
    kwargs = dict(hidden_layer_sizes=(8,), max_iter=60, random_state=0)
    plain = _quiet(MLPClassifier(**kwargs).fit, X, y)
    balanced = _quiet(MLPClassifier(class_weight="balanced", **kwargs).fit, X, y)
    rare = y == 2
    assert (balanced.predict(X)[rare] == 2).mean() > (plain.predict(X)[rare] == 2).mean()


def test_class_weight_in_partial_fit_and_multilabel():
    X, y = _classification()
    model = MLPClassifier(hidden_layer_sizes=(4,), class_weight={2: 5.0})
    model.partial_fit(X[:40], y[:40], classes=[0, 1, 2])
    model.partial_fit(X[40:50], np.zeros(10, dtype=int))   # a batch without class 2
    with pytest.raises(ValueError, match="partial_fit"):
        MLPClassifier(class_weight="balanced").partial_fit(X, y, classes=[0, 1, 2])
    Y = np.stack([y == 0, y == 1], axis=1).astype(int)
    _quiet(MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, class_weight="balanced").fit, X, Y)
    with pytest.raises(ValueError):
        MLPClassifier(class_weight="unbalanced").fit(X, y)


# ------------------------------------------------------------------- validation data
def test_validation_data_given_to_fit_is_used_instead_of_a_split():
    X, y = _classification(n=100)
    X_val, y_val = _classification(n=40, seed=5)
    model = _quiet(MLPClassifier(hidden_layer_sizes=(6,), max_iter=15, early_stopping=True,
                                 random_state=0, n_iter_no_change=100).fit,
                   X, y, X_val=X_val, y_val=y_val)
    assert model.t_ == 100 * model.n_iter_          # every example trains
    assert len(model.validation_scores_) == model.n_iter_ == 15
    # the restored parameters are the best epoch's on the given validation set
    assert model.score(X_val, y_val) == model.best_validation_score_ == max(
        model.validation_scores_)
    weights = np.linspace(0.5, 2, 40)
    weighted = _quiet(MLPClassifier(hidden_layer_sizes=(6,), max_iter=6, early_stopping=True,
                                    random_state=0).fit,
                      X, y, X_val=X_val, y_val=y_val, sample_weight_val=weights)
    # the validation scores are weighted: the restored epoch's is its weighted accuracy
    assert weighted.score(X_val, y_val, sample_weight=weights) == pytest.approx(
        weighted.best_validation_score_, rel=1e-12)
    assert weighted.best_validation_score_ != pytest.approx(weighted.score(X_val, y_val))


def test_validation_data_errors():
    X, y = _classification(n=50)
    early = MLPClassifier(max_iter=2, early_stopping=True)
    with pytest.raises(ValueError, match="early_stopping"):
        MLPClassifier(max_iter=2).fit(X, y, X_val=X, y_val=y)
    with pytest.raises(ValueError, match="y_val was not provided"):
        early.fit(X, y, X_val=X)
    with pytest.raises(ValueError, match="X_val was not provided"):
        early.fit(X, y, y_val=y)
    with pytest.raises(ValueError, match="lbfgs"):
        MLPClassifier(solver="lbfgs", early_stopping=True).fit(X, y, X_val=X, y_val=y)
    with pytest.raises(ValueError, match="classes not in y"):
        early.fit(X, y, X_val=X[:5], y_val=[0, 1, 2, 7, 0])
    with pytest.raises(ValueError, match="features"):
        early.fit(X, y, X_val=X[:, :3], y_val=y)
    with pytest.raises(ValueError, match="samples"):
        early.fit(X, y, X_val=X[:10], y_val=y[:9])
    assert not hasattr(early, "coefs_")   # nothing was fitted by the refused calls


# ---------------------------------------------------------- early stopping on the loss
def test_early_stopping_on_validation_loss():
    X, y = _classification(n=150)
    X_val, y_val = _classification(n=60, seed=7)
    model = _quiet(MLPClassifier(hidden_layer_sizes=(16,), max_iter=300, learning_rate_init=0.05,
                                 early_stopping=True, early_stopping_metric="loss",
                                 n_iter_no_change=5, tol=0.0, random_state=0).fit,
                   X, y, X_val=X_val, y_val=y_val)
    curve = model.validation_loss_curve_
    assert len(curve) == len(model.validation_scores_) == model.n_iter_ < 300
    best = int(np.argmin(curve))
    assert model.n_iter_ == best + 7             # stopped n_iter_no_change + 1 epochs after
    assert model.best_validation_loss_ == curve[best]
    assert model.best_validation_score_ == model.validation_scores_[best]
    # the restored parameters are the best epoch's: their validation log-loss is the best
    assert log_loss(y_val, model.predict_proba(X_val)) == pytest.approx(curve[best], rel=1e-9)


def test_early_stopping_on_loss_for_multioutput_regression_is_scikit_learns_loss():
    X, y = _regression(n=80)
    Y = np.stack([y, -2 * y], axis=1)
    model = _quiet(MLPRegressor(hidden_layer_sizes=(6,), max_iter=8, early_stopping=True,
                                early_stopping_metric="loss", random_state=0).fit, X, Y,
                   X_val=X[:20], y_val=Y[:20])
    best = int(np.argmin(model.validation_loss_curve_))
    expected = 0.5 * ((model.predict(X[:20]) - Y[:20]) ** 2).mean()
    assert model.validation_loss_curve_[best] == pytest.approx(expected, rel=1e-9)


def test_early_stopping_on_score_is_the_default_and_unchanged():
    X, y = _classification(n=100)
    kwargs = dict(hidden_layer_sizes=(6,), max_iter=10, early_stopping=True, random_state=0)
    default = _quiet(MLPClassifier(**kwargs).fit, X, y)
    theirs = _quiet(sk.MLPClassifier(**kwargs).fit, X, y)
    assert default.validation_scores_ == pytest.approx(theirs.validation_scores_)
    assert default.best_validation_score_ == pytest.approx(theirs.best_validation_score_)
    assert default.n_iter_ == theirs.n_iter_
    with pytest.raises(ValueError):
        MLPClassifier(early_stopping_metric="accuracy").fit(X, y)


def test_network_early_stopping_on_validation_loss_restores_the_lowest():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((4, 120))
    Y = np.eye(3)[:, (X[0] + X[1] > 0).astype(int) + (X[2] > 1)]
    X_val, Y_val = X[:, :40] + 0.3 * rng.standard_normal((4, 40)), Y[:, :40]
    net = Network([4, 16, 3], activations="tanh", output="softmax", seed=0)
    net.fit(X, Y, epochs=400, batch_size=16, optimizer="adam", learning_rate=0.05,
            validation_data=(X_val, Y_val), early_stopping=True, early_stopping_metric="loss",
            n_iter_no_change=4, tol=0.0)
    costs = net.history.validation_cost
    assert len(costs) < 400
    assert len(costs) == int(np.argmin(costs)) + 6
    assert net.cost(X_val, Y_val) == pytest.approx(min(costs), rel=1e-12)
    with pytest.raises(ValueError, match="early_stopping_metric"):
        net.fit(X, Y, early_stopping_metric="accuracy")


def test_fit_signature_matches_histgradientboosting():
    from sklearn.ensemble import HistGradientBoostingClassifier
    ours = inspect.signature(MLPClassifier.fit).parameters
    theirs = inspect.signature(HistGradientBoostingClassifier.fit).parameters
    for name in ("X_val", "y_val", "sample_weight_val"):
        assert ours[name].kind == theirs[name].kind == inspect.Parameter.KEYWORD_ONLY
