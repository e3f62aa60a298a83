"""Threads: separate networks train at once exactly as one after another; calls on one network (or
one estimator) from several threads are serialized and never see each other's workspaces."""
import threading

import numpy as np
import pytest

from fastbp import MLPClassifier, Network

import _workers
from _helpers import make_targets


def _in_threads(functions):
    """Run each function in its own thread, started together; return their results in order."""
    results = [None] * len(functions)
    errors = []
    start = threading.Barrier(len(functions))

    def run(i, function):
        try:
            start.wait()
            results[i] = function()
        except BaseException as error:  # noqa: BLE001 - re-raised in the main thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate(functions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


_SPECS = [  # one network per thread: small (serial kernels) and parallel-sized, both dtypes
    (_workers.PARALLEL_DIMS, "relu", "softmax", np.float64, 64),
    ([20, 10, 1], "tanh", "sigmoid", np.float64, 16),
    ([64, 128, 10], "relu", "softmax", np.float32, 32),
    ([7, 5, 5, 2], "sigmoid", "linear", np.float64, None),
]


def _fit_spec(index):
    dims, activation, output, dtype, batch = _SPECS[index]
    rng = np.random.default_rng(index)
    X = rng.standard_normal((dims[0], 150))
    Y = make_targets(rng, output, dims[-1], 150)
    net = Network(dims, activations=activation, output=output, dtype=dtype, seed=index)
    net.fit(X, Y, epochs=3, batch_size=batch, optimizer="adam", learning_rate=0.01, seed=index)
    return net._theta.copy(), list(net.history), net.forward(X)


def test_separate_networks_in_threads_match_sequential_fits():
    sequential = [_fit_spec(i) for i in range(len(_SPECS))]
    concurrent = _in_threads([lambda i=i: _fit_spec(i) for i in range(len(_SPECS))])
    for i, (expected, got) in enumerate(zip(sequential, concurrent)):
        np.testing.assert_array_equal(got[0], expected[0], err_msg=f"network {i}")
        assert got[1] == expected[1]
        np.testing.assert_array_equal(got[2], expected[2], err_msg=f"network {i}")


def test_one_network_fitted_from_two_threads_is_serialized():
    X, Y = _workers.parallel_data(m=96)

    def fresh():
        return Network(_workers.PARALLEL_DIMS, output="softmax", seed=1)

    kwargs = dict(epochs=1, batch_size=32, optimizer="momentum", learning_rate=0.01, seed=5)
    rounds = 3
    expected = fresh()
    for _ in range(2 * rounds):
        expected.fit(X, Y, **kwargs)

    shared = fresh()

    def train():
        for _ in range(rounds):
            shared.fit(X, Y, **kwargs)

    _in_threads([train, train])
    # every fit is the same function of the state it starts from, so 2 x 3 whole fits in any
    # order give the sequential result; an interleaved update would not
    np.testing.assert_array_equal(shared._theta, expected._theta)
    assert list(shared.history) == list(expected.history)
    np.testing.assert_array_equal(shared._optimizer[1], expected._optimizer[1])


def test_one_network_used_for_predictions_from_many_threads_while_it_trains():
    X, Y = _workers.parallel_data(m=128)
    net = Network(_workers.PARALLEL_DIMS, output="softmax", seed=2)
    batches = [X[:, :40], X[:, 40:], X[:, 7:100]]
    reference = Network(_workers.PARALLEL_DIMS, output="softmax", seed=2)
    expected = [reference.forward(batch) for batch in batches]

    def predict(batch_index):
        def run():
            # each thread's forward pass uses the shared "forward" workspace: serialized, it
            # always returns its own batch's outputs
            return [net.forward(batches[batch_index]) for _ in range(15)]
        return run

    results = _in_threads([predict(0), predict(1), predict(2), predict(0)])
    for batch_index, outputs in zip([0, 1, 2, 0], results):
        for output in outputs:
            np.testing.assert_array_equal(output, expected[batch_index])

    # predictions while another thread trains see whole epochs, never a half-updated network
    snapshots = []

    def train():
        for _ in range(3):
            net.fit(X, Y, epochs=1, batch_size=64, learning_rate=0.01, seed=0)
            snapshots.append(net._theta.copy())

    def watch():
        seen = []
        for _ in range(20):
            with net._lock:
                seen.append((net._theta.copy(), net.predict(X)))
        return seen

    _, seen = _in_threads([train, watch])
    states = [reference._theta] + snapshots
    for theta, labels in seen:
        assert any(np.array_equal(theta, state) for state in states)
        index = next(i for i, state in enumerate(states) if np.array_equal(theta, state))
        probe = Network(_workers.PARALLEL_DIMS, output="softmax", seed=2)
        probe._theta[:] = states[index]
        np.testing.assert_array_equal(labels, probe.predict(X))


def test_one_estimator_fitted_and_used_from_threads():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 6))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)

    def make():
        return MLPClassifier(hidden_layer_sizes=(8,), max_iter=15, random_state=0)

    import warnings
    from sklearn.exceptions import ConvergenceWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        expected = make().fit(X, y)
        shared = make()
        _in_threads([lambda: shared.fit(X, y), lambda: shared.fit(X, y)])
    for got, want in zip(shared.coefs_, expected.coefs_):
        np.testing.assert_array_equal(got, want)
    assert shared.loss_curve_ == expected.loss_curve_ and shared.n_iter_ == expected.n_iter_
    probabilities = _in_threads([lambda: [shared.predict_proba(X) for _ in range(10)]] * 3)
    for batch in probabilities:
        for p in batch:
            np.testing.assert_array_equal(p, expected.predict_proba(X))


def _course_steps(seed, dims, parameters):
    """Ten iterations of the course's loop on fastbp.course's functions (parallel-sized first
    layer: each thread's calls use the packing buffers the course module keeps per thread)."""
    from fastbp import course

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((dims[0], 90))
    Y = (rng.random((1, 90)) < 0.5).astype(np.float64)
    for _ in range(10):
        AL, caches = course.L_model_forward(X, parameters)
        grads = course.L_model_backward(AL, Y, caches)
        parameters = course.update_parameters(parameters, grads, 0.05)
    return [parameters[key].copy() for key in sorted(parameters)] + [grads["dA0"]]


def test_the_course_functions_in_threads_match_one_after_another():
    from fastbp import course

    dims = [2000, 12, 1]  # 4.3 MFLOP per sum: the first layer runs in parallel
    # drawn up front: the course's initialization seeds NumPy's global generator, as the course
    # does, which threads drawing at once would share
    starts = [course.initialize_parameters_deep(dims, seed=seed) for seed in range(4)]
    sequential = [_course_steps(seed, dims, starts[seed]) for seed in range(4)]
    threaded = _in_threads([lambda seed=seed: _course_steps(seed, dims, starts[seed])
                            for seed in range(4)])
    for alone, together in zip(sequential, threaded):
        for a, b in zip(alone, together):
            np.testing.assert_array_equal(a, b)
