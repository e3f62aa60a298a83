"""What one core pays to read data the other core just wrote (issue 12: why two threads do not pay
on small networks here).

One parallel region of two threads, entered many times: each thread sums a buffer of ``--kib``
KiB, then adds 1 to its own buffer. "own" reads the buffer the same thread wrote in the previous
region (it is still in that core's cache); "cross" reads the one the other thread wrote, so every
cache line moves between the cores. The difference is the price of the move, which a
data-parallel training step pays for the weights and the gradients at every minibatch and a
product split over threads pays for its output at every layer.

    python scripts/cross_core.py --kib 9 37 75
"""
import argparse
import sys
import time

import numba
import numpy as np
from numba import prange


@numba.njit(parallel=True, nogil=True, fastmath=True)
def _region(buffers, cross, sums):
    for thread in prange(2):
        source = buffers[(thread + cross) % 2]
        total = 0.0
        for i in range(source.shape[0]):
            total += source[i]
        sums[thread] = total
        own = buffers[thread]
        for i in range(own.shape[0]):
            own[i] += 1.0


@numba.njit(nogil=True)
def _regions(buffers, cross, sums, count):
    for _ in range(count):
        _region(buffers, cross, sums)


def microseconds_per_region(kib, cross, count=3000, repeat=3):
    """Best of ``repeat`` runs of ``count`` regions, in us per region."""
    buffers = np.zeros((2, kib * 256), np.float32)
    sums = np.zeros(2)
    _regions(buffers, cross, sums, 10)
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        _regions(buffers, cross, sums, count)
        best = min(best, (time.perf_counter() - started) / count * 1e6)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kib", type=int, nargs="+", default=[9, 37, 75])
    options = parser.parse_args(argv)
    if numba.get_num_threads() < 2:
        print("needs two Numba threads (unset NUMBA_NUM_THREADS)")
        return 1
    print(f"{'KiB':>5} {'own us':>8} {'cross us':>9} {'moved GB/s':>11}")
    for kib in options.kib:
        own = microseconds_per_region(kib, 0)
        cross = microseconds_per_region(kib, 1)
        rate = kib * 1024 / ((cross - own) * 1e-6) / 1e9 if cross > own else float("inf")
        print(f"{kib:>5} {own:8.2f} {cross:9.2f} {rate:11.1f}")
    print(f"threading layer: {numba.threading_layer()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
