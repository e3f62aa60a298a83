"""Network.fit: the training loop against fastbp.reference, reproducibility, and real learning.

fit without shuffling reproduces reference.sgd_epoch (parameters and per-epoch costs), fit lowers
the cost, the history has one entry per epoch, the same seed gives bit-identical parameters, fit
continues from the current parameters, a diverging fit stops with FloatingPointError after the
last whole epoch, and a small softmax network reaches >= 0.95 test accuracy on scikit-learn's
digits.
"""
import numba
import numpy as np
import pytest

from fastbp import Network
from fastbp import reference as ref

from _helpers import assert_close, make_targets, parameters_of, snapshot


def _reference_training(net, X, Y, epochs, batch_size, learning_rate):
    params = parameters_of(net)
    costs = [ref.sgd_epoch(X, Y, params, net.activations, net.output, learning_rate, batch_size)
             for _ in range(epochs)]
    return params, costs


@pytest.mark.parametrize("hidden, output", [("relu", "sigmoid"), ("tanh", "softmax"),
                                            ("leaky_relu", "linear"), ("sigmoid", "softmax")])
@pytest.mark.parametrize("batch_size", [None, 8, 1])
def test_fit_without_shuffle_matches_reference_sgd(hidden, output, batch_size, rng):
    n_out = 3 if output == "softmax" else 2
    net = Network([4, 7, 5, n_out], activations=hidden, output=output, seed=2)
    X = rng.standard_normal((4, 30))  # 30 examples: batches of 8 leave a last batch of 6
    Y = make_targets(rng, output, n_out, 30)
    params_ref, costs_ref = _reference_training(net, X, Y, 4, batch_size, 0.05)
    net.fit(X, Y, epochs=4, batch_size=batch_size, learning_rate=0.05, shuffle=False)
    assert len(net.history) == 4
    assert_close(net.history, costs_ref, what="history")
    for key in params_ref:
        assert_close(net.parameters[key], params_ref[key], what=key)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_full_batch_fit_of_a_small_first_layer_reads_X_transposed_and_matches_reference(dtype,
                                                                                         rng):
    # the tiny benchmark's shape: its first layer's dW reads a copy of X.T made once per fit
    from fastbp.kernels.dense import transposes_inputs
    assert transposes_inputs(10, 20, 64)
    net = Network([20, 10, 1], activations="sigmoid", output="sigmoid", dtype=dtype, seed=3)
    X = rng.standard_normal((20, 64))
    Y = make_targets(rng, "sigmoid", 1, 64)
    params_ref, costs_ref = _reference_training(net, X, Y, 5, None, 0.5)
    net.fit(X, Y, epochs=5, learning_rate=0.5)
    assert_close(net.history, costs_ref, dtype, what="history")
    for key in params_ref:
        assert_close(net.parameters[key], params_ref[key], dtype, what=key)


def test_fit_float32_network_follows_reference_loosely(rng):
    net = Network([4, 6, 3], activations="tanh", output="softmax", dtype=np.float32, seed=1)
    X = rng.standard_normal((4, 24))
    Y = make_targets(rng, "softmax", 3, 24)
    params_ref, costs_ref = _reference_training(net, X, Y, 5, 8, 0.1)
    net.fit(X, Y, epochs=5, batch_size=8, learning_rate=0.1, shuffle=False)
    assert all(value.dtype == np.float32 for value in net.parameters.values())
    assert_close(net.history, costs_ref, np.float32, tol=1e-3)
    for key in params_ref:
        assert_close(net.parameters[key], params_ref[key], np.float32, tol=1e-3, what=key)


@pytest.mark.parametrize("batch_size", [None, 5])
def test_fit_lowers_the_cost_and_records_one_cost_per_epoch(batch_size, small_classification):
    X, Y = small_classification
    net = Network([4, 8, 3], activations="tanh", output="softmax", seed=0)
    initial = net.cost(X, Y)
    net.fit(X, Y, epochs=40, batch_size=batch_size, learning_rate=0.2, seed=1)
    assert len(net.history) == 40
    assert all(np.isfinite(net.history))
    final = net.cost(X, Y)
    assert final < 0.7 * initial
    assert net.history[-1] < net.history[0]
    net.fit(X, Y, epochs=3, batch_size=batch_size, learning_rate=0.2, seed=2)
    assert len(net.history) == 43


def test_full_batch_history_is_the_cost_before_each_update(small_binary):
    X, Y = small_binary
    net = Network([3, 4, 1], seed=0)
    costs = []
    for _ in range(3):
        costs.append(net.cost(X, Y))
        net.fit(X, Y, epochs=1, learning_rate=0.5)
    twin = Network([3, 4, 1], seed=0)
    twin.fit(X, Y, epochs=3, learning_rate=0.5)
    assert_close(twin.history, costs, tol=1e-12)
    assert_close(net.history, costs, tol=1e-12)


def test_same_seed_and_start_give_bit_identical_parameters(small_classification):
    X, Y = small_classification
    runs = []
    for _ in range(2):
        net = Network([4, 6, 3], activations="relu", output="softmax", seed=5)
        net.fit(X, Y, epochs=6, batch_size=4, learning_rate=0.1, shuffle=True, seed=11)
        runs.append((snapshot(net), list(net.history)))
    (first, history_first), (second, history_second) = runs
    assert history_first == history_second
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)

    other = Network([4, 6, 3], activations="relu", output="softmax", seed=5)
    other.fit(X, Y, epochs=6, batch_size=4, learning_rate=0.1, shuffle=True, seed=12)
    assert any(not np.array_equal(other.parameters[key], first[key]) for key in first), \
        "the shuffling seed had no effect"


def test_fit_continues_from_the_current_parameters(small_regression):
    X, Y = small_regression
    once = Network([3, 5, 2], activations="tanh", output="linear", seed=3)
    once.fit(X, Y, epochs=6, batch_size=7, learning_rate=0.05, shuffle=False)
    twice = Network([3, 5, 2], activations="tanh", output="linear", seed=3)
    twice.fit(X, Y, epochs=2, batch_size=7, learning_rate=0.05, shuffle=False)
    twice.fit(X, Y, epochs=4, batch_size=7, learning_rate=0.05, shuffle=False)
    assert list(once.history) == list(twice.history)
    for key in once.parameters:
        np.testing.assert_array_equal(once.parameters[key], twice.parameters[key])


def test_shuffling_a_full_batch_changes_nothing(small_binary):
    X, Y = small_binary
    a = Network([3, 4, 1], seed=0)
    b = Network([3, 4, 1], seed=0)
    a.fit(X, Y, epochs=5, learning_rate=0.3, shuffle=True, seed=1)
    b.fit(X, Y, epochs=5, learning_rate=0.3, shuffle=False)
    for key in a.parameters:
        np.testing.assert_array_equal(a.parameters[key], b.parameters[key])


def test_in_place_parameter_change_is_used_by_fit(small_classification):
    X, Y = small_classification
    net = Network([4, 5, 5, 3], activations="tanh", output="softmax", seed=0)
    net.parameters["W2"][...] *= 0.5  # W2 is also kept transposed for the backward sums
    params_ref, _ = _reference_training(net, X, Y, 2, None, 0.1)
    net.fit(X, Y, epochs=2, learning_rate=0.1, shuffle=False)
    for key in params_ref:
        assert_close(net.parameters[key], params_ref[key], what=key)


def test_diverging_fit_raises_and_keeps_the_last_whole_epoch(rng):
    X = rng.standard_normal((3, 16))
    Y = 1e3 * rng.standard_normal((1, 16))

    def network():
        return Network([3, 6, 1], activations="relu", output="linear", seed=0)

    net = network()
    with pytest.raises(FloatingPointError, match="NaN or infinite"):
        net.fit(X, Y, epochs=100, learning_rate=10.0, shuffle=False)
    completed = len(net.history)
    assert 1 <= completed < 100
    assert all(np.isfinite(net.history))
    twin = network()
    twin.fit(X, Y, epochs=completed, learning_rate=10.0, shuffle=False)
    assert list(twin.history) == list(net.history)
    for key in net.parameters:
        np.testing.assert_array_equal(net.parameters[key], twin.parameters[key], err_msg=key)


def test_digits_softmax_network_reaches_95_percent(restore_threads):
    # The result does not depend on the thread count (test_threads checks that bit for bit). One
    # thread keeps this test quick on a busy machine: its batches of 32 take the parallel path
    # thousands of times, and each parallel region waits for a second, descheduled thread.
    numba.set_num_threads(1)
    datasets = pytest.importorskip("sklearn.datasets")
    model_selection = pytest.importorskip("sklearn.model_selection")
    digits = datasets.load_digits()
    X = digits.data / 16.0
    X_train, X_test, y_train, y_test = model_selection.train_test_split(
        X, digits.target, test_size=0.25, random_state=0, stratify=digits.target)
    Y_train = np.eye(10)[y_train].T
    net = Network([64, 128, 10], output="softmax", seed=0)
    net.fit(X_train.T, Y_train, epochs=60, batch_size=32, learning_rate=0.05, seed=0)
    assert len(net.history) == 60
    assert net.history[-1] < 0.2 * net.history[0]
    predicted = net.predict(X_test.T)
    assert predicted.shape == y_test.shape
    accuracy = float((predicted == y_test).mean())
    assert accuracy >= 0.95, f"test accuracy {accuracy:.3f}"


def test_fit_on_non_contiguous_and_int_inputs_matches_contiguous_float(rng):
    X_rows = rng.integers(-2, 3, size=(20, 3))  # example-major ints: X_rows.T is a strided view
    Y = make_targets(rng, "softmax", 3, 20)
    X_view, Y_view = X_rows.T, np.asfortranarray(Y)
    assert not X_view.flags.c_contiguous
    a = Network([3, 5, 3], activations="relu", output="softmax", seed=4)
    b = Network([3, 5, 3], activations="relu", output="softmax", seed=4)
    a.fit(X_view, Y_view, epochs=3, batch_size=6, learning_rate=0.1, seed=9)
    b.fit(np.ascontiguousarray(X_view, dtype=np.float64), Y, epochs=3, batch_size=6,
          learning_rate=0.1, seed=9)
    assert list(a.history) == list(b.history)
    for key in a.parameters:
        np.testing.assert_array_equal(a.parameters[key], b.parameters[key])
