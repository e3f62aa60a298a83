"""Long use: many fits and predictions in one process, and many epochs in one fit, keep memory flat.

Python allocations are counted with tracemalloc (deterministic, unlike the process's RSS, which
``scripts/memory_growth.py`` measures over thousands of fits). Bounds are generous: they catch a
retained workspace or array per call, not allocator noise.
"""
import gc
import tracemalloc
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from fastbp import MLPRegressor, Network


def _traced_growth(step, warmup=30, count=300):
    for i in range(warmup):
        step(i)
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for i in range(count):
            step(warmup + i)
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return after - before


def test_hundreds_of_fits_and_predictions_retain_no_memory():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 40))
    Y = np.eye(3)[:, rng.integers(0, 3, 40)]

    def network_step(i):
        net = Network([6, 12, 3], output="softmax", seed=i)
        net.fit(X, Y, epochs=2, batch_size=8, optimizer="adam", learning_rate=0.01)
        net.predict(X)
        net.forward(X[:, : 1 + i % 40])    # workspaces of many sizes
        net.cost(X, Y)

    def estimator_step(i):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = MLPRegressor(hidden_layer_sizes=(8,), max_iter=2, random_state=i)
            model.fit(X.T, X[0] * 2)
        model.predict(X.T)

    # a retained 12 x 40 workspace alone would be 300 x 4 KiB = 1.2 MiB
    assert _traced_growth(network_step) < 256 * 1024
    assert _traced_growth(estimator_step) < 256 * 1024


def test_one_network_refitted_many_times_reuses_its_workspaces():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((6, 40))
    Y = rng.standard_normal((2, 40))
    net = Network([6, 12, 2], output="linear", seed=0)

    def step(i):
        net.fit(X, Y, epochs=1, batch_size=8, learning_rate=0.01)
        net.forward(X[:, : 1 + i % 40])

    growth = _traced_growth(step)
    # what must grow: one history entry per fit (a float and a list slot)
    assert growth < 300 * 64 + 64 * 1024
    assert len(net._workspaces) <= 3


def test_many_epochs_cost_only_their_history():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((4, 32))
    Y = np.eye(2)[:, rng.integers(0, 2, 32)]
    peaks = {}
    for epochs in (200, 4000):
        net = Network([4, 8, 2], output="softmax", seed=0)
        net.fit(X, Y, epochs=1, batch_size=8)
        gc.collect()
        tracemalloc.start()
        net.fit(X, Y, epochs=epochs, batch_size=8, learning_rate=0.01)
        peaks[epochs] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert len(net.history) == epochs + 1
    # 3800 more epochs: their history (a float object and a list slot each, < 64 B) and nothing
    # that grows with them
    assert peaks[4000] - peaks[200] < 3800 * 64


def test_fit_with_a_huge_epoch_count_allocates_only_what_it_runs():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((3, 16))
    Y = rng.standard_normal((1, 16))
    net = Network([3, 4, 1], output="linear", seed=0)
    tracemalloc.start()
    # stopped by a plateau after a few epochs: a cost buffer per requested epoch (8 GB for
    # 10**9) was allocated up front before
    net.fit(X, Y, epochs=10**9, learning_rate=1e-9, n_iter_no_change=2, tol=1.0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert 1 <= len(net.history) < 10
    assert peak < 64 * 2**20
