"""Results do not depend on the number of threads: bit-identical with 1 and with 2 threads.

Shapes are chosen to take every parallel path (dense sums above PARALLEL_MIN_FLOPS, the parameter
update above PARALLEL_MIN_ELEMENTS). The thread count is restored
afterwards.
"""
import subprocess
import sys

import numba
import numpy as np
import pytest

from fastbp import Network, _config
from fastbp import course
from fastbp import reference as ref

from _helpers import make_targets, snapshot

pytestmark = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                                reason="numba runs with fewer than 2 threads here")

#: W2 alone (400 x 512) is above PARALLEL_MIN_ELEMENTS, so the update is
#: parallel; a batch of 64 puts every dense sum above PARALLEL_MIN_FLOPS.
DIMS = [96, 512, 400, 80]
BATCH = 64


def _with_threads(count, function):
    numba.set_num_threads(count)
    assert numba.get_num_threads() == count
    return function()


def _data(m, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((DIMS[0], m)), make_targets(rng, "softmax", DIMS[-1], m)


def test_shapes_take_the_parallel_paths():
    for l in range(1, len(DIMS)):
        assert 2 * BATCH * DIMS[l] * DIMS[l - 1] >= _config.PARALLEL_MIN_FLOPS
    assert DIMS[1] * DIMS[2] >= _config.PARALLEL_MIN_ELEMENTS
    n_parameters = sum(DIMS[l] * DIMS[l - 1] + DIMS[l] for l in range(1, len(DIMS)))
    assert n_parameters >= _config.PARALLEL_MIN_ELEMENTS


def test_fit_is_bit_identical_with_1_and_2_threads(restore_threads):
    X, Y = _data(4 * BATCH + 17)  # a short last batch too

    def train():
        net = Network(DIMS, activations="relu", output="softmax", seed=0)
        net.fit(X, Y, epochs=2, batch_size=BATCH, learning_rate=0.05, shuffle=True, seed=3)
        return snapshot(net), list(net.history)

    one, history_one = _with_threads(1, train)
    two, history_two = _with_threads(2, train)
    assert history_one == history_two
    for key in one:
        np.testing.assert_array_equal(one[key], two[key], err_msg=key)
    assert len(history_one) == 2 and all(np.isfinite(history_one))


def test_forward_backward_cost_are_bit_identical_with_1_and_2_threads(restore_threads):
    X, Y = _data(256, seed=1)
    net = Network(DIMS, activations="tanh", output="softmax", seed=1)

    def run():
        AL = net.forward(X)
        grads = net.backward(Y)
        return AL, grads, net.cost(X, Y)

    AL_one, grads_one, cost_one = _with_threads(1, run)
    AL_two, grads_two, cost_two = _with_threads(2, run)
    np.testing.assert_array_equal(AL_one, AL_two)
    assert cost_one == cost_two
    for key in grads_one:
        np.testing.assert_array_equal(grads_one[key], grads_two[key], err_msg=key)
    # and the gradients are the right ones
    params = {key: value.copy() for key, value in net.parameters.items()}
    AL_ref, caches = ref.forward(X, params, net.activations, net.output)
    expected = ref.backward(AL_ref, Y, caches, net.activations)
    for key in expected:
        np.testing.assert_allclose(grads_two[key], expected[key], rtol=0,
                                   atol=1e-10 * np.abs(expected[key]).max())


def test_course_L_model_backward_is_bit_identical_with_1_and_2_threads(restore_threads):
    dims, m = [300, 200, 100, 1], 128
    assert 2 * m * dims[1] * dims[0] >= _config.PARALLEL_MIN_FLOPS
    rng = np.random.default_rng(2)
    X = rng.standard_normal((dims[0], m))
    Y = rng.integers(0, 2, (1, m)).astype(np.float64)
    params = ref.initialize_parameters_deep(dims, seed=4)

    def run():
        AL, caches = course.L_model_forward(X, params)
        return AL, course.L_model_backward(AL, Y, caches)

    AL_one, grads_one = _with_threads(1, run)
    AL_two, grads_two = _with_threads(2, run)
    np.testing.assert_array_equal(AL_one, AL_two)
    assert set(grads_one) == set(grads_two)
    for key in grads_one:
        np.testing.assert_array_equal(grads_one[key], grads_two[key], err_msg=key)



def test_importing_fastbp_starts_numbas_thread_pool():
    # A serial kernel loaded from the disk cache may call a parallel one without starting the
    # pool itself (Numba drops the reload hook of a library read from disk): the process then
    # died with "Symbol not found: allocate_sched". fastbp.kernels starts the pool on import.
    code = ("import fastbp.kernels\n"
            "from numba.np.ufunc import parallel\n"
            "assert parallel._is_initialized, 'thread pool not started'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
