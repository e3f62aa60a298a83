"""Fork safety: a child forked from a process with Numba's thread pool runs serially.

Numba's ``omp`` threading layer (GNU OpenMP) cannot be used across ``fork()``: a forked child
that enters a parallel region is killed at once ("Terminating: fork() called from a process
already using GNU OpenMP, this is unsafe"), and ``fastbp.kernels`` starts the pool on import.
So after a fork the child tells every kernel to stay serial: the kernels run a sum on threads
only when the scratch workspace given to them has more than one row (the parameter update takes
the same rule from its caller's scratch), and the child builds single-row scratch from then on. Workspaces built before the fork (with one row per thread)
belong to an older :data:`generation` and are rebuilt on their next use.

This is what ``multiprocessing``'s ``fork`` start method (the default on Linux before Python
3.14), ``os.fork`` and libraries built on them (joblib's ``multiprocessing`` backend) get: a
child that trains and predicts correctly, on one thread. ``spawn`` and ``forkserver`` children
start a fresh interpreter and use threads as usual.
"""
import os

import numba

#: Counts the forks this process descends from; a workspace remembers the generation it was
#: built in and is rebuilt when it differs.
generation = 0

_serial = False


def threads_allowed():
    """Whether kernels may enter parallel regions in this process.

    False in a process forked after Numba's thread pool started, unless the pool is Intel TBB's,
    which survives a fork.
    """
    return not _serial


def scratch_rows(threads):
    """The rows of scratch to build for ``threads`` wanted rows: 1 when threads are not allowed."""
    return threads if threads_allowed() else 1


def _after_fork_in_child():
    global generation, _serial
    generation += 1
    try:
        layer = numba.threading_layer()
    except ValueError:  # the pool never started in the parent: the child may start its own
        return
    _serial = _serial or layer != "tbb"


os.register_at_fork(after_in_child=_after_fork_in_child)
