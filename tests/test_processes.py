"""Processes: children made by fork, spawn and forkserver train correctly.

GNU OpenMP (Numba's ``omp`` layer) kills a forked child that enters a parallel region; fastbp
makes a forked child build single-row scratch, which keeps every kernel serial (``fastbp._fork``).
Children are joined with a generous timeout so that a hang fails the test instead of stalling it;
the timeout measures nothing.
"""
import multiprocessing
import os

import numba
import numpy as np
import pytest

import fastbp._fork
from fastbp import Network

import _workers

#: Seconds a child may take before it counts as hung (it loads compiled kernels from the cache).
HANG = 600

needs_threads = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                                   reason="numba runs with fewer than 2 threads here")
needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")


def _run_child(method, target, *args):
    """Start ``target(connection, *args)`` in a ``method`` child; returns (exitcode, message)."""
    context = multiprocessing.get_context(method)
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=target, args=(send, *args))
    child.start()
    send.close()
    try:
        message = receive.recv() if receive.poll(HANG) else ("silent", None)
    except EOFError:  # the child died before it said anything
        message = ("silent", None)
    child.join(HANG)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail(f"the {method} child hung")
    return child.exitcode, message


@pytest.fixture(scope="module")
def parent_result():
    """The parent's own fit: it runs parallel kernels, so later forks are of a 'used' pool."""
    return _workers.fit_parallel_network()


def _assert_same_training(result, expected):
    # bit for bit: a serial child sums every block as the parent's parallel tasks do
    theta, history, AL, dW1 = result
    theta_e, history_e, AL_e, dW1_e = expected
    np.testing.assert_array_equal(theta, theta_e)
    assert history == history_e
    np.testing.assert_array_equal(AL, AL_e)
    np.testing.assert_array_equal(dW1, dW1_e)


@needs_fork
@needs_threads
def test_forked_child_trains_after_the_parent_ran_parallel_kernels(parent_result):
    exitcode, (status, result) = _run_child("fork", _workers.child_fit)
    assert exitcode == 0 and status == "ok", (exitcode, status, result)
    _assert_same_training(result, parent_result)


@needs_fork
@needs_threads
def test_forked_child_without_the_guard_is_killed(parent_result):
    # the control experiment: the same fit with the guard off dies in its first parallel
    # region, so the test above does reach parallel kernels and the guard is what saves it
    exitcode, (status, _) = _run_child("fork", _workers.child_fit_without_fork_guard)
    assert exitcode != 0 and status == "silent"


@needs_fork
def test_fork_marks_the_child_serial_and_renews_workspaces(parent_result):
    net = Network([5, 4, 2], output="softmax", seed=0)
    net.forward(np.ones((5, 3)))
    inherited = net._workspaces["forward"][1]
    generation = fastbp._fork.generation
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave at once, without pytest's exit handlers
        ok = (not fastbp._fork.threads_allowed() and fastbp._fork.generation == generation + 1
              and fastbp._fork.scratch_rows(8) == 1
              and net._work(3, "forward") is not inherited
              and net._work(3, "forward")[7].shape[0] == 1)
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.close(read)
    os.waitpid(pid, 0)
    assert answer == b"1"
    assert fastbp._fork.threads_allowed() and fastbp._fork.generation == generation


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_spawn_and_forkserver_children_train_like_the_parent(method, parent_result):
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    exitcode, (status, result) = _run_child(method, _workers.child_fit)
    assert exitcode == 0 and status == "ok", (exitcode, status, result)
    # a fresh interpreter takes the same (parallel) paths: bit for bit
    _assert_same_training(result, parent_result)
