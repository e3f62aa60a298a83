"""Estimators: a refused fit changes nothing; fitted estimators pickle and round-trip exactly,
also into another process."""
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastbp import MLPClassifier, MLPRegressor


def _data(seed=0, features=4):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((40, features))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5)


def _fitted(cls=MLPClassifier, **params):
    X, y = _data()
    if cls is MLPRegressor:
        y = X[:, 0] - 2 * X[:, 1]
    model = cls(hidden_layer_sizes=(5,), max_iter=4, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    return model, X, y


def _fitted_state(model):
    net = model._network
    return (model.n_features_in_, list(getattr(model, "classes_", [])), list(model.loss_curve_),
            model.n_iter_, net._theta.copy(), list(net.history), net.samples_seen_)


def _assert_same_state(a, b):
    assert a[0] == b[0] and a[1] == b[1] and a[2] == b[2] and a[3] == b[3]
    np.testing.assert_array_equal(a[4], b[4])
    assert a[5] == b[5] and a[6] == b[6]


def test_a_refused_fit_leaves_the_fitted_estimator_whole():
    model, X, y = _fitted()
    before = _fitted_state(model)
    predictions = model.predict_proba(X)
    X_wide = np.hstack([X, X[:, :1]])
    # validation of X and y passes (and used to reset n_features_in_ and classes_), then the
    # sample weights are refused: the model must be exactly the fitted one, not a hybrid that
    # believes in 5 features while its network has 4 inputs
    with pytest.raises(ValueError, match="sample_weight"):
        model.fit(X_wide, y + 7, sample_weight=np.ones(3))
    _assert_same_state(before, _fitted_state(model))
    np.testing.assert_array_equal(model.predict_proba(X), predictions)
    with pytest.raises(ValueError, match="features"):
        model.predict(X_wide)


def test_a_refused_partial_fit_leaves_the_estimator_whole():
    model, X, y = _fitted(solver="sgd")
    model.partial_fit(X, y)
    before = _fitted_state(model)
    state = model._network._optimizer[1].copy()
    with pytest.raises(ValueError):
        model.partial_fit(X, y + 10)                     # unknown classes
    with pytest.raises(ValueError, match="early_stopping"):
        model.set_params(early_stopping=True).partial_fit(X, y)
    model.set_params(early_stopping=False)
    _assert_same_state(before, _fitted_state(model))
    np.testing.assert_array_equal(model._network._optimizer[1], state)


@pytest.mark.parametrize("cls, solver", [(MLPClassifier, "adam"), (MLPClassifier, "sgd"),
                                         (MLPClassifier, "lbfgs"), (MLPRegressor, "adam"),
                                         (MLPRegressor, "lbfgs")])
def test_fitted_estimators_pickle_exactly(cls, solver):
    model, X, y = _fitted(cls, solver=solver)
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(copy.predict(X), model.predict(X))
    for got, want in zip(copy.coefs_ + copy.intercepts_, model.coefs_ + model.intercepts_):
        np.testing.assert_array_equal(got, want)
    assert copy.get_params() == model.get_params()
    if solver != "lbfgs":                                # the optimizer state travels too
        model.partial_fit(X, y)
        copy.partial_fit(X, y)
        np.testing.assert_array_equal(copy._network._theta, model._network._theta)
        assert copy.loss_curve_ == model.loss_curve_


def test_a_pickled_estimator_predicts_the_same_in_another_process():
    model, X, _ = _fitted()
    code = ("import pickle, sys\n"
            "model, X = pickle.loads(sys.stdin.buffer.read())\n"
            "sys.stdout.buffer.write(pickle.dumps(model.predict_proba(X)))\n")
    done = subprocess.run([sys.executable, "-c", code], input=pickle.dumps((model, X)),
                          capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    np.testing.assert_array_equal(pickle.loads(done.stdout), model.predict_proba(X))


def test_set_params_with_an_unknown_name_sets_nothing():
    # found by the fuzz suite: scikit-learn's set_params sets the valid names before it refuses
    from fastbp import MLPClassifier

    estimator = MLPClassifier(alpha=0.5)
    with pytest.raises(ValueError, match="nonsense"):
        estimator.set_params(alpha=0.25, nonsense=1)
    assert estimator.alpha == 0.5
    assert estimator.set_params(alpha=0.25) is estimator and estimator.alpha == 0.25
