"""Optimizers, learning-rate schedules and initializers of Network.fit against NumPy.

sgd, momentum (plain and Nesterov) and adam follow scikit-learn's update formulas step for step:
each is written out in NumPy below from gradients of ``fastbp.reference`` (with the L2 penalty and
sample weights) and compared after every step, and each has one step worked out by hand on a
2-1 linear network. The optimizer state survives between ``fit`` calls and is reset when the
optimizer changes; the invscaling and adaptive schedules give the learning rates scikit-learn's
rules give; the initializers draw the documented distributions; adam with shuffled minibatches is
bit-identical with 1 and 2 threads.
"""
import numba
import numpy as np
import pytest

from fastbp import Network, _config
from fastbp import reference as ref

from _helpers import assert_close, make_targets, parameters_of, snapshot


# ----------------------------------------------------------------------------- NumPy optimizers
class NumpyOptimizer:
    """scikit-learn's sgd / momentum / Nesterov / adam on a dict of float64 parameters."""

    def __init__(self, name, momentum=0.9, nesterov=False, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8):
        self.name, self.mu, self.nesterov = name, momentum, nesterov
        self.b1, self.b2, self.eps = beta_1, beta_2, epsilon
        self.t = 0
        self.first = {}
        self.second = {}

    def step(self, params, grads, lr):
        if self.name == "adam":
            self.t += 1
            lr_t = lr * np.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        for key in params:
            g = grads["d" + key]
            if self.name == "sgd":
                params[key] = params[key] - lr * g
            elif self.name == "momentum":
                v = self.mu * self.first.get(key, 0.0) - lr * g
                self.first[key] = v
                params[key] = params[key] + (self.mu * v - lr * g if self.nesterov else v)
            else:
                m = self.b1 * self.first.get(key, 0.0) + (1 - self.b1) * g
                v = self.b2 * self.second.get(key, 0.0) + (1 - self.b2) * g * g
                self.first[key], self.second[key] = m, v
                params[key] = params[key] - lr_t * m / (np.sqrt(v) + self.eps)


def numpy_epoch(optimizer, params, X, Y, activations, output, lr, batch_size=None,
                sample_weight=None, alpha=0.0):
    """One epoch in the given order; returns the epoch cost (batch costs weighted by length)."""
    m = X.shape[1]
    batch_size = m if batch_size is None else batch_size
    total = 0.0
    for start in range(0, m, batch_size):
        part = slice(start, min(start + batch_size, m))
        weights = None if sample_weight is None else sample_weight[part]
        cost, grads = ref.loss_and_gradient(X[:, part], Y[:, part], params, activations, output,
                                            sample_weight=weights, alpha=alpha)
        total += cost * X[:, part].shape[1]
        optimizer.step(params, grads, lr)
    return total / m


def recorder(network, snapshots):
    """A callback appending a copy of the parameters after every epoch."""
    def callback(epoch, history):
        snapshots.append(snapshot(network))
    return callback


def assert_parameters_close(network, expected, tol=1e-10, what=""):
    scale = max(float(np.abs(value).max()) for value in expected.values())
    for key, value in expected.items():
        assert_close(network[key] if isinstance(network, dict) else network.parameters[key],
                     value, tol=tol, scale=scale, what=f"{what}{key}")


OPTIMIZER_SETTINGS = {
    "sgd": dict(optimizer="sgd"),
    "momentum": dict(optimizer="momentum", momentum=0.8, nesterov=False),
    "nesterov": dict(optimizer="momentum", momentum=0.7, nesterov=True),
    "adam": dict(optimizer="adam", beta_1=0.85, beta_2=0.99, epsilon=1e-7),
}

#: (hidden, output, batch_size, alpha, weighted): full batch and unshuffled minibatches, with and
#: without the L2 penalty and sample weights; 23 examples so that batches of 7 end with 2.
SCENARIOS = {
    "full-batch": ("tanh", "softmax", None, 0.0, False),
    "full-batch-l2-weighted": ("relu", "sigmoid", None, 0.3, True),
    "minibatch-l2-weighted": ("leaky_relu", "linear", 7, 0.1, True),
}


def _numpy_optimizer(settings):
    options = {key: value for key, value in settings.items() if key != "optimizer"}
    return NumpyOptimizer(settings["optimizer"], **options)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("name", list(OPTIMIZER_SETTINGS))
def test_every_step_matches_numpy_optimizer(name, scenario, rng):
    hidden, output, batch_size, alpha, weighted = SCENARIOS[scenario]
    settings = OPTIMIZER_SETTINGS[name]
    n_out = 3 if output == "softmax" else 2
    m, epochs, lr = 23, 5, 0.05
    X = rng.standard_normal((4, m))
    Y = make_targets(rng, output, n_out, m)
    weights = rng.uniform(0.2, 3.0, m) if weighted else None
    net = Network([4, 6, 5, n_out], activations=hidden, output=output, seed=3)
    for l, n in enumerate([6, 5, n_out], start=1):   # non-zero biases, so bias updates show
        net.parameters[f"b{l}"] = 0.1 * rng.standard_normal((n, 1))

    params = parameters_of(net)
    optimizer = _numpy_optimizer(settings)
    expected, expected_costs = [], []
    for _ in range(epochs):
        expected_costs.append(numpy_epoch(optimizer, params, X, Y, net.activations, output, lr,
                                          batch_size, weights, alpha))
        expected.append({key: value.copy() for key, value in params.items()})

    snapshots = []
    net.fit(X, Y, epochs=epochs, batch_size=batch_size, shuffle=False, learning_rate=lr,
            alpha=alpha, sample_weight=weights, callbacks=[recorder(net, snapshots)], **settings)
    assert len(snapshots) == epochs
    for epoch, (got, want) in enumerate(zip(snapshots, expected)):
        assert_parameters_close(got, want, tol=1e-9, what=f"epoch {epoch}: ")
    assert_close(net.history, expected_costs, tol=1e-10, what="history")
    # the parameters really moved, by different amounts per epoch
    assert not np.allclose(snapshots[0]["W1"], snapshots[-1]["W1"])


@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_float32_steps_follow_numpy_loosely(name, small_regression):
    X, Y = small_regression
    settings = OPTIMIZER_SETTINGS[name]
    net = Network([3, 5, 2], activations="tanh", output="linear", dtype=np.float32, seed=1)
    params = parameters_of(net)
    optimizer = _numpy_optimizer(settings)
    for _ in range(4):
        numpy_epoch(optimizer, params, X.astype(np.float32).astype(np.float64),
                    Y.astype(np.float32).astype(np.float64), net.activations, "linear", 0.01)
    net.fit(X, Y, epochs=4, learning_rate=0.01, **settings)
    for key, value in net.parameters.items():
        assert value.dtype == np.float32
    assert_parameters_close(net, params, tol=2e-4)
    assert net._optimizer[1].dtype == np.float32


# ----------------------------------------------------------------------------- by hand
def _tiny():
    """2-1 linear network W = [0.5, -1], b = 0.25 on two examples whose residuals are both 1.

    X = [[1, 2], [1, 0]], Y = [[-1.25, 0.25]]: Z = [-0.25, 1.25], A - Y = [1, 1], so
    cost = 0.5, dW = [1.5, 0.5], db = 1.
    """
    net = Network([2, 1], output="linear", seed=0)
    net.parameters["W1"] = np.array([[0.5, -1.0]])
    net.parameters["b1"] = np.array([[0.25]])
    X = np.array([[1.0, 2.0], [1.0, 0.0]])
    Y = np.array([[-1.25, 0.25]])
    return net, X, Y


@pytest.mark.parametrize("settings, steps, b, cost", [
    # theta -= 0.1 * g
    (dict(optimizer="sgd"), [[0.35, -1.05]], [0.15], 0.5),
    # L2 (alpha = 0.2, m = 2): dW += 0.1 * W = [0.05, -0.1]; cost += 0.1 * 1.25 / 2; b unpenalized
    (dict(optimizer="sgd", alpha=0.2), [[0.345, -1.04]], [0.15], 0.5625),
    # weights [3, 1]: dW = (3 * [1, 1] + [2, 0]) / 4 = [1.25, 0.75], db = 1, cost = 0.5
    (dict(optimizer="sgd", sample_weight=np.array([3.0, 1.0])), [[0.375, -1.075]], [0.15], 0.5),
    # v1 = -0.1 g = [-0.15, -0.05 | -0.1]; then g2 = [0.95, 0.35 | 0.65] at the new point and
    # v2 = 0.9 v1 - 0.1 g2 = [-0.23, -0.08 | -0.155]
    (dict(optimizer="momentum", momentum=0.9), [[0.35, -1.05], [0.12, -1.13]], [0.15, -0.005],
     0.5),
    # Nesterov: theta += 0.9 v1 - 0.1 g = [-0.285, -0.095 | -0.19]
    (dict(optimizer="momentum", momentum=0.9, nesterov=True), [[0.215, -1.095]], [0.06], 0.5),
    # adam's first step is lr * sign(g) (up to epsilon): bias correction undoes (1 - beta)
    (dict(optimizer="adam"), [[0.4, -1.1]], [0.15], 0.5),
], ids=["sgd", "sgd-l2", "sgd-weighted", "momentum-2-steps", "nesterov", "adam"])
def test_hand_computed_steps_on_a_2_1_linear_network(settings, steps, b, cost):
    net, X, Y = _tiny()
    for k, (W_k, b_k) in enumerate(zip(steps, b)):
        net.fit(X, Y, epochs=1, learning_rate=0.1, **settings)
        # adam: the step is 0.1 * g sqrt(1e-3) / (sqrt(1e-3) |g| + 1e-8), off lr by < 1e-7
        tol = 1e-6 if settings["optimizer"] == "adam" else 1e-12
        np.testing.assert_allclose(net.parameters["W1"], [W_k], rtol=0, atol=tol,
                                   err_msg=f"W after step {k + 1}")
        np.testing.assert_allclose(net.parameters["b1"], [[b_k]], rtol=0, atol=tol,
                                   err_msg=f"b after step {k + 1}")
    assert net.history[0] == pytest.approx(cost, rel=1e-12)


# ----------------------------------------------------------------------------- optimizer state
@pytest.mark.parametrize("settings", [dict(optimizer="adam"),
                                      dict(optimizer="momentum", nesterov=True)],
                         ids=["adam", "nesterov"])
def test_optimizer_state_survives_between_fit_calls(settings, small_classification):
    X, Y = small_classification

    def network():
        return Network([4, 6, 3], activations="tanh", output="softmax", seed=2)

    once, thrice = network(), network()
    once.fit(X, Y, epochs=3, batch_size=5, shuffle=False, learning_rate=0.05, **settings)
    for _ in range(3):
        thrice.fit(X, Y, epochs=1, batch_size=5, shuffle=False, learning_rate=0.05, **settings)
    assert list(once.history) == list(thrice.history)
    for key in once.parameters:
        np.testing.assert_array_equal(once.parameters[key], thrice.parameters[key], err_msg=key)
    if settings["optimizer"] == "adam":
        assert once._optimizer[2][0] == thrice._optimizer[2][0] == 9   # 3 batches x 3 epochs

    # with a fresh state each call the result would differ: the state is what carries over
    fresh = network()
    for _ in range(3):
        fresh.fit(X, Y, epochs=1, batch_size=5, shuffle=False, learning_rate=0.05, **settings)
        fresh._optimizer = None
    assert not np.array_equal(fresh.parameters["W1"], once.parameters["W1"])


@pytest.mark.parametrize("first, other", [("adam", "sgd"), ("momentum", "adam"),
                                          ("adam", "momentum")])
def test_switching_optimizer_resets_its_state(first, other, small_classification):
    X, Y = small_classification
    kwargs = dict(batch_size=4, shuffle=False, learning_rate=0.05)
    net = Network([4, 6, 3], activations="relu", output="softmax", seed=4)
    net.fit(X, Y, epochs=2, optimizer=first, **kwargs)
    net.fit(X, Y, epochs=1, optimizer=other, **kwargs)
    # a network that never trained, from the same parameters: its `first` state starts at zero
    fresh = Network([4, 6, 3], activations="relu", output="softmax", seed=99)
    for key, value in net.parameters.items():
        fresh.parameters[key] = value
    net.fit(X, Y, epochs=2, optimizer=first, **kwargs)
    fresh.fit(X, Y, epochs=2, optimizer=first, **kwargs)
    for key in net.parameters:
        np.testing.assert_array_equal(net.parameters[key], fresh.parameters[key], err_msg=key)
    assert net.history[-2:] == fresh.history[-2:]


# ----------------------------------------------------------------------------- schedules
@pytest.mark.parametrize("settings, batch_size, power_t", [
    (dict(optimizer="sgd"), None, 0.5),
    (dict(optimizer="momentum", momentum=0.9), 5, 0.25),
])
def test_invscaling_schedule_matches_numpy(settings, batch_size, power_t, small_regression):
    X, Y = small_regression
    m, lr0, epochs = X.shape[1], 0.2, 6
    net = Network([3, 4, 2], activations="tanh", output="linear", seed=5)
    params = parameters_of(net)
    optimizer = _numpy_optimizer(settings)
    lr, rates = lr0, []
    for epoch in range(epochs):
        rates.append(lr)
        numpy_epoch(optimizer, params, X, Y, net.activations, "linear", lr, batch_size)
        lr = lr0 / (m * (epoch + 1) + 1) ** power_t      # t = examples seen after the epoch
    net.fit(X, Y, epochs=epochs, batch_size=batch_size, shuffle=False, learning_rate=lr0,
            learning_rate_schedule="invscaling", power_t=power_t, **settings)
    assert_parameters_close(net, params, tol=1e-10)
    assert net.samples_seen_ == m * epochs
    assert net.learning_rate_ == pytest.approx(lr0 / (m * epochs + 1) ** power_t, rel=1e-12)
    assert rates[-1] < 0.4 * lr0      # the schedule does lower the rate noticeably

    # a second call goes on counting the examples this network has seen
    net.fit(X, Y, epochs=2, batch_size=batch_size, shuffle=False, learning_rate=lr0,
            learning_rate_schedule="invscaling", power_t=power_t, **settings)
    assert net.samples_seen_ == m * (epochs + 2)
    assert net.learning_rate_ == pytest.approx(lr0 / (m * (epochs + 2) + 1) ** power_t,
                                               rel=1e-12)


def test_constant_schedule_keeps_the_learning_rate(small_regression):
    X, Y = small_regression
    net = Network([3, 4, 2], activations="tanh", output="linear", seed=5)
    assert net.learning_rate_ is None
    net.fit(X, Y, epochs=3, learning_rate=0.07)
    assert net.learning_rate_ == 0.07


def test_adaptive_schedule_divides_by_5_on_each_plateau_and_stops_below_1e_6(small_regression):
    X, Y = small_regression
    lr0, patience = 0.01, 2
    net = Network([3, 4, 2], activations="tanh", output="linear", seed=6)
    assert net.cost(X, Y) < 100
    # tol = 1000: no epoch improves the cost by tol, so after the first epoch every epoch counts
    # towards the plateau; it is reached (count > 2) at epochs 4, 7, 10, ..., each time dividing
    # the rate by 5, until the rate is 0.01 / 5**6 = 6.4e-7 <= 1e-6 and the next plateau stops
    rates = [lr0] * 4 + sum(([lr0 / 5 ** k] * 3 for k in range(1, 7)), [])
    assert len(rates) == 22
    params = parameters_of(net)
    optimizer = NumpyOptimizer("sgd")
    costs = [numpy_epoch(optimizer, params, X, Y, net.activations, "linear", lr) for lr in rates]

    net.fit(X, Y, epochs=100, learning_rate=lr0, learning_rate_schedule="adaptive",
            n_iter_no_change=patience, tol=1000.0)
    assert len(net.history) == 22
    assert net.learning_rate_ == pytest.approx(lr0 / 5 ** 6, rel=1e-12)
    assert_close(net.history, costs, tol=1e-10, what="history")
    assert_parameters_close(net, params, tol=1e-10)


def test_adaptive_schedule_without_a_plateau_keeps_the_rate(small_regression):
    X, Y = small_regression
    net = Network([3, 4, 2], activations="tanh", output="linear", seed=6)
    twin = Network([3, 4, 2], activations="tanh", output="linear", seed=6)
    # full-batch gradient descent with a small rate lowers the cost by more than tol = 0 each epoch
    net.fit(X, Y, epochs=8, learning_rate=0.01, learning_rate_schedule="adaptive",
            n_iter_no_change=1, tol=0.0)
    twin.fit(X, Y, epochs=8, learning_rate=0.01)
    assert np.all(np.diff(net.history) < 0)
    assert len(net.history) == 8 and net.learning_rate_ == 0.01
    for key in net.parameters:
        np.testing.assert_array_equal(net.parameters[key], twin.parameters[key])


# ----------------------------------------------------------------------------- initializers
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("init", ["course", "he", "glorot", "small"])
def test_initializer_shapes_dtype_and_biases(init, dtype):
    dims = [6, 5, 4, 3]
    net = Network(dims, activations="relu", output="softmax", init=init, dtype=dtype, seed=0)
    assert net.init == init
    assert list(net.parameters) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    for l in range(1, len(dims)):
        W, b = net.parameters[f"W{l}"], net.parameters[f"b{l}"]
        assert W.shape == (dims[l], dims[l - 1]) and b.shape == (dims[l], 1)
        assert W.dtype == dtype and b.dtype == dtype
        assert np.all(W != 0)
        if init == "glorot":
            assert np.all(b != 0)      # drawn like the weights, as scikit-learn does
        else:
            np.testing.assert_array_equal(b, 0)


@pytest.mark.parametrize("init, std", [("course", lambda n_prev: 1 / np.sqrt(n_prev)),
                                       ("he", lambda n_prev: np.sqrt(2 / n_prev)),
                                       ("small", lambda n_prev: 0.01)])
def test_gaussian_initializers_have_the_documented_scale(init, std):
    net = Network([400, 300, 1], init=init, seed=1)
    W = net.parameters["W1"]       # 120000 draws: the sample std is within 0.5% of the true one
    expected = std(400)
    assert abs(W.std() / expected - 1) < 0.03, f"std {W.std():.5f}, expected {expected:.5f}"
    assert abs(W.mean()) < 0.03 * expected
    assert abs(net.parameters["W2"].std() / std(300) - 1) < 0.2


@pytest.mark.parametrize("hidden, factor", [("relu", 6.0), ("tanh", 6.0), ("sigmoid", 2.0),
                                            (["tanh", "sigmoid"], 2.0), (["relu", "relu"], 6.0)])
def test_glorot_bounds(hidden, factor):
    dims = [60, 50, 40, 10]
    net = Network(dims, activations=hidden, output="sigmoid", init="glorot", seed=2)
    for l in range(1, len(dims)):
        bound = np.sqrt(factor / (dims[l - 1] + dims[l]))
        W, b = net.parameters[f"W{l}"], net.parameters[f"b{l}"]
        assert np.abs(W).max() <= bound and np.abs(b).max() <= bound, f"layer {l}"
        assert np.abs(W).max() > 0.95 * bound, f"layer {l}: the bound is not reached"
        if W.size >= 2000:   # uniform(-r, r) has std r / sqrt(3)
            assert abs(W.std() / (bound / np.sqrt(3)) - 1) < 0.06
    # the biases are uniform within the bound of their layer too
    b1 = net.parameters["b1"]
    assert np.abs(b1).max() > 0.5 * np.sqrt(factor / (dims[0] + dims[1]))


def test_glorot_without_hidden_layer_uses_factor_6():
    net = Network([30, 20], output="softmax", init="glorot", seed=3)
    bound = np.sqrt(6 / 50)
    assert 0.95 * bound < np.abs(net.parameters["W1"]).max() <= bound


@pytest.mark.parametrize("init", ["course", "he", "glorot", "small"])
def test_same_seed_same_parameters_and_reset_draws_afresh(init):
    a = Network([5, 4, 2], init=init, seed=11)
    b = Network([5, 4, 2], init=init, seed=11)
    c = Network([5, 4, 2], init=init, seed=12)
    for key in a.parameters:
        np.testing.assert_array_equal(a.parameters[key], b.parameters[key], err_msg=key)
    assert not np.array_equal(a.parameters["W1"], c.parameters["W1"])
    first = snapshot(a)
    a.reset_parameters()
    b.reset_parameters()
    assert not np.array_equal(a.parameters["W1"], first["W1"])
    for key in a.parameters:   # the generator advances the same way for the same seed
        np.testing.assert_array_equal(a.parameters[key], b.parameters[key], err_msg=key)


@pytest.mark.parametrize("init", ["xavier", "Glorot", None, 3])
def test_unknown_initializer_raises_value_error(init):
    with pytest.raises(ValueError, match="unknown initializer"):
        Network([3, 2], init=init)


# ----------------------------------------------------------------------------- threads
THREAD_DIMS = [64, 512, 400, 10]   # the update (~240k parameters) and every sum run in parallel


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 numba threads")
def test_adam_with_shuffled_minibatches_is_bit_identical_with_1_and_2_threads(restore_threads):
    n_parameters = sum(THREAD_DIMS[l] * THREAD_DIMS[l - 1] + THREAD_DIMS[l]
                       for l in range(1, len(THREAD_DIMS)))
    assert n_parameters >= _config.PARALLEL_MIN_ELEMENTS
    assert 2 * 64 * THREAD_DIMS[2] * THREAD_DIMS[1] >= _config.PARALLEL_MIN_FLOPS
    rng = np.random.default_rng(7)
    m = 2 * 64 + 19
    X = rng.standard_normal((THREAD_DIMS[0], m))
    Y = make_targets(rng, "softmax", THREAD_DIMS[-1], m)

    def train(threads):
        numba.set_num_threads(threads)
        assert numba.get_num_threads() == threads
        net = Network(THREAD_DIMS, activations="relu", output="softmax", seed=0)
        net.fit(X, Y, epochs=2, batch_size=64, optimizer="adam", learning_rate=1e-3,
                shuffle=True, seed=5, alpha=1e-3)
        return net

    one, two = train(1), train(2)
    assert list(one.history) == list(two.history)
    for key in one.parameters:
        np.testing.assert_array_equal(one.parameters[key], two.parameters[key], err_msg=key)
    np.testing.assert_array_equal(one._optimizer[1], two._optimizer[1])
    start = Network(THREAD_DIMS, activations="relu", output="softmax", seed=0)
    assert not np.array_equal(start.parameters["W2"], two.parameters["W2"])
