"""The exp output with the half Poisson deviance (scikit-learn's ``MLPRegressor(loss="poisson")``).

The kernels' loss and gradient against fastbp.reference, finite differences and torch autograd
(``poisson_nll_loss(log_input=True)``, which leaves out the deviance's constant y log y - y), in
float64 and float32, odd shapes, 1 and 2 threads; the Network's checks and the estimator against
scikit-learn's own.
"""
import numba
import numpy as np
import pytest

from fastbp import MLPRegressor, Network, gradient_check
from fastbp import reference as ref

from _helpers import (HIDDEN_ACTIVATIONS, assert_close, assert_grads_close, parameters_of,
                      snapshot)


def _problem(hidden, seed, dims=(3, 5, 4), n_out=2, m=7, dtype=np.float64, zeros=True):
    """A small exp-output network, random non-zero biases, Poisson counts as targets (some 0)."""
    rng = np.random.default_rng(seed)
    layer_dims = list(dims) + [n_out]
    net = Network(layer_dims, activations=hidden, output="exp", dtype=dtype, seed=seed)
    for l in range(1, len(layer_dims)):
        net.parameters[f"b{l}"] = 0.2 * rng.standard_normal((layer_dims[l], 1))
    X = rng.standard_normal((dims[0], m))
    Y = rng.poisson(1.3, size=(n_out, m)).astype(np.float64)
    if zeros:
        Y[0, 0] = 0.0
    return net, X, Y


def _reference(net, X, Y, weights=None, alpha=0.0):
    params = parameters_of(net)
    return ref.loss_and_gradient(X, Y, params, net.activations, "exp", weights, alpha)


def test_exp_output_pairs_with_the_poisson_loss():
    net = Network([2, 3, 1], output="exp")
    assert (net.output, net.loss) == ("exp", "poisson")
    assert Network([2, 1], output="exp", loss="poisson").loss == "poisson"
    with pytest.raises(ValueError, match="does not match"):
        Network([2, 1], output="exp", loss="mse")
    with pytest.raises(ValueError, match="does not match"):
        Network([2, 1], output="linear", loss="poisson")
    with pytest.raises(ValueError, match="unknown hidden activation"):
        Network([2, 3, 1], activations="exp", output="exp")


def test_reference_loss_is_scikit_learns_poisson_loss():
    from sklearn.neural_network._base import poisson_loss
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((3, 9))
    Y = rng.poisson(2.0, size=(3, 9)).astype(float)
    Y[1, 2] = 0.0
    A = np.exp(Z)
    assert_close(ref.loss(Z, A, Y, "exp"), poisson_loss(Y.T, A.T), what="loss")
    w = rng.random(9)
    assert_close(ref.loss(Z, A, Y, "exp", w), poisson_loss(Y.T, A.T, w), what="weighted loss")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
def test_loss_and_gradients_match_the_reference(hidden, dtype):
    net, X, Y = _problem(hidden, seed=3, dims=(5, 7, 6), n_out=3, m=13, dtype=dtype)
    weights = np.random.default_rng(1).random(13) + 0.1
    cost, grad = net._loss_and_gradient(X.astype(dtype), Y.astype(dtype), 0.3,
                                        weights.astype(dtype))
    cost_ref, grads_ref = _reference(net, X, Y, weights, alpha=0.3)
    assert_close(cost, cost_ref, dtype, what="cost")
    grads = {key: value for key, value in net._gradient_dict(grad).items()}
    assert_grads_close(grads, grads_ref, dtype)
    assert_close(net.forward(X), np.exp(ref.forward(X, parameters_of(net), net.activations,
                                                    "exp")[1][-1][3]), dtype, what="A")


@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
def test_gradient_check_float64_below_1e_7(hidden):
    net, X, Y = _problem(hidden, seed=7)
    before = snapshot(net)
    assert gradient_check(net, X, Y) < 1e-7
    for key, value in before.items():
        np.testing.assert_array_equal(net.parameters[key], value)


def test_gradient_check_float32_agrees_roughly():
    net, X, Y = _problem("tanh", seed=3, dtype=np.float32)
    assert gradient_check(net, X, Y, epsilon=1e-3) < 1e-2


def test_gradient_check_detects_a_wrong_output_gradient(monkeypatch):
    """dZ = exp(Z) - Y is what the check confirms: the gradient of a squared error is far off."""
    net, X, Y = _problem("relu", seed=5)
    honest = net._loss_and_gradient

    def as_if_squared_error(X, Y, alpha=0.0, weights=None):
        linear = Network(net.layer_dims, activations=net.activations, output="linear")
        linear._theta[:] = net._theta
        cost, _ = honest(X, Y, alpha, weights)
        return cost, linear._loss_and_gradient(X, Y, alpha, weights)[1]

    monkeypatch.setattr(net, "_loss_and_gradient", as_if_squared_error)
    assert gradient_check(net, X, Y) > 1e-3


@pytest.mark.torch
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
def test_matches_torch_autograd(hidden):
    torch = pytest.importorskip("torch")
    net, X, Y = _problem(hidden, seed=13, dims=(5, 7, 6), n_out=3, m=9)
    params = {key: torch.tensor(np.array(value), requires_grad=True)
              for key, value in net.parameters.items()}
    functional = torch.nn.functional
    hidden_fn = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
                 "leaky_relu": lambda z: functional.leaky_relu(z, 0.01),
                 "linear": lambda z: z}[hidden]
    A = torch.tensor(X)
    for l in (1, 2, 3):
        Z = params[f"W{l}"] @ A + params[f"b{l}"]
        A = hidden_fn(Z) if l < 3 else Z
    m = X.shape[1]
    Yt = torch.tensor(Y)
    cost = functional.poisson_nll_loss(Z, Yt, log_input=True, full=False, reduction="sum") / m
    cost.backward()
    # torch leaves out the deviance's constant sum(y log y - y) / m
    constant = float((Y * np.log(np.where(Y > 0, Y, 1)) - Y).sum() / m)
    assert_close(net.forward(X), torch.exp(Z).detach().numpy(), what="A")
    grads = net.backward(Y)
    for key, value in params.items():
        assert_close(grads["d" + key], value.grad.numpy(), what="d" + key)
    assert_close(net.cost(X, Y), float(cost.detach()) + constant, what="cost")


def test_loss_at_zero_targets_and_extreme_logits():
    """y = 0 contributes exp(z) (xlogy's 0, no NaN from 0 * log 0); a logit of 700 overflows
    nothing in float64; one past exp's range is an infinite cost, not NaN."""
    net = Network([1, 1], output="exp")
    net.parameters["W1"] = [[1.0]]
    net.parameters["b1"] = [[0.0]]
    X = np.array([[0.0, 2.0, 700.0]])
    Y = np.array([[0.0, 0.0, 3.0]])
    expected = ref.loss(X, np.exp(X), Y, "exp")
    assert np.isfinite(expected)
    assert_close(net.cost(X, Y), expected, what="cost")
    assert net.cost(np.array([[800.0]]), np.array([[1.0]])) == np.inf


def test_negative_targets_are_refused_before_anything_changes():
    net, X, Y = _problem("tanh", seed=2)
    Y[1, 3] = -1.0
    before = snapshot(net)
    with pytest.raises(ValueError, match="negative"):
        net.fit(X, Y, epochs=2)
    with pytest.raises(ValueError, match="negative"):
        net.fit(X, np.abs(Y), epochs=2, validation_data=(X, Y))
    for key, value in before.items():
        np.testing.assert_array_equal(net.parameters[key], value)
    assert len(net.history) == 0


def test_training_lowers_the_loss_and_predicts_positive_values(tmp_path):
    net, X, Y = _problem("tanh", seed=4, m=40)
    net.fit(X, Y, epochs=60, batch_size=9, optimizer="adam", learning_rate=0.02,
            validation_data=(X, Y))
    assert net.history[-1] < net.history[0]
    assert (net.predict(X) > 0).all()
    assert np.isfinite(net.history.validation_score).all()
    with pytest.raises(ValueError, match="exp"):
        net.predict_proba(X)
    path = tmp_path / "poisson.npz"
    net.save(path)
    loaded = Network.load(path)
    assert (loaded.output, loaded.loss) == ("exp", "poisson")
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 threads")
def test_bit_identical_with_1_and_2_threads(restore_threads):
    rng = np.random.default_rng(0)
    dims = [96, 512, 400, 3]   # every dense sum above the parallel threshold (test_threads)
    X = rng.standard_normal((dims[0], 64 * 3 + 5))
    Y = rng.poisson(1.0, size=(3, X.shape[1])).astype(np.float64)

    def train():
        net = Network(dims, activations="relu", output="exp", seed=0, init="he")
        net.fit(X, Y, epochs=2, batch_size=64, learning_rate=0.001, seed=3)
        return snapshot(net), list(net.history)

    numba.set_num_threads(1)
    one, history_one = train()
    numba.set_num_threads(2)
    two, history_two = train()
    assert history_one == history_two
    for key in one:
        np.testing.assert_array_equal(one[key], two[key], err_msg=key)


# ---------------------------------------------------------------------------------- estimator
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_regressor_poisson_matches_scikit_learn():
    """Same initial parameters, same full-batch L-BFGS objective: the same fit to rounding."""
    from sklearn.neural_network import MLPRegressor as SkMLPRegressor
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    y = rng.poisson(np.exp(0.3 * X[:, 0] - 0.2 * X[:, 1]))
    kwargs = dict(loss="poisson", hidden_layer_sizes=(5,), solver="lbfgs", max_iter=30,
                  random_state=1, tol=1e-9)
    ours = MLPRegressor(**kwargs).fit(X, y)
    theirs = SkMLPRegressor(**kwargs).fit(X, y)
    assert ours.out_activation_ == "exp"
    assert_close(ours.loss_, theirs.loss_, tol=1e-6, what="loss_")
    assert_close(ours.predict(X), theirs.predict(X), tol=1e-4, what="predictions")


def test_regressor_poisson_adam_loss_curve_matches_scikit_learn():
    from sklearn.neural_network import MLPRegressor as SkMLPRegressor
    rng = np.random.default_rng(1)
    X = rng.standard_normal((50, 3))
    y = rng.poisson(1.0 + X[:, 0] ** 2, size=50)
    kwargs = dict(loss="poisson", hidden_layer_sizes=(4,), max_iter=5, random_state=0,
                  shuffle=False, batch_size=50)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = MLPRegressor(**kwargs).fit(X, y)
        theirs = SkMLPRegressor(**kwargs).fit(X, y)
    assert_close(ours.loss_curve_, theirs.loss_curve_, tol=1e-8, what="loss_curve_")


def test_regressor_poisson_refuses_negative_targets():
    X = np.ones((5, 2))
    with pytest.raises(ValueError, match="negative"):
        MLPRegressor(loss="poisson", max_iter=2).fit(X, [1, 2, -1, 0, 3])


def test_regressor_default_loss_stays_squared_error():
    assert MLPRegressor().loss == "squared_error"
    model = MLPRegressor(hidden_layer_sizes=(3,), max_iter=3, random_state=0)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(np.eye(4), [0.5, -1.0, 2.0, 0.0])
    assert model.out_activation_ == "identity"
    assert model._network.output == "linear"
