"""Numba kernels: only ``@njit`` code; no Python objects cross into it.

Modules: ``activations`` (codes, scalar g and g'), ``dense`` (the three sums of a dense layer),
``gemm`` (the register-blocked products they are computed by), ``simd`` (vector intrinsics),
``views`` (array views without Numba's runtime), ``losses`` (loss values and the output-layer
gradient), ``optim`` (parameter updates), ``dropout`` (masks for training, compiled only when
used) and ``loop`` (the compiled training epoch).
"""
import functools

import numba

# Start Numba's thread pool now, before any kernel is loaded from the disk cache. Parallel code
# needs the pool's symbols; a cached parallel kernel starts the pool when it is loaded, but a cached
# serial kernel that *calls* one (``dense_sum`` reaches ``_sum_parallel``) carries that duty
# only if its callee was compiled, not loaded from the cache, in the process that compiled it
# (Numba does not keep the reload hook of a library it read from disk). Without this, a process
# whose first call is such a kernel died with "LLVM ERROR: Symbol not found: allocate_sched" or a
# segmentation fault. It costs about 20 ms, once.
numba.get_num_threads()


def prepare_parallel(dtype, n_parameters=0):
    """Compile (or load) the parallel regions of ``dtype``'s kernels: the dense sums' and, for a
    network of at least ``PARALLEL_MIN_ELEMENTS`` parameters, the optimizer's (see
    ``fastbp._dispatch.SlotDispatcher``).

    A kernel takes a parallel region only with a scratch row per thread, so whoever builds such
    scratch calls this first; a process whose networks are all small never compiles them, and
    one whose networks are small enough for a serial update (the digits network predicting on
    all its examples) never compiles the optimizer's (0.6 s of a first fit). Once per dtype and
    process: the slots stay filled.
    """
    import numpy as np

    from .._config import PARALLEL_MIN_ELEMENTS

    _prepare_sums(np.dtype(dtype))
    if n_parameters >= PARALLEL_MIN_ELEMENTS:
        _prepare_update(np.dtype(dtype))


@functools.lru_cache(maxsize=None)
def _prepare_sums(dtype):
    import numpy as np

    from .dense import _sum_parallel

    matrix = np.zeros((1, 1), dtype)
    vector = np.zeros(1, dtype)
    zero = dtype.type(0)
    _sum_parallel.prepare(0, matrix, matrix, matrix, matrix, vector, 0, False, zero, zero, matrix)


@functools.lru_cache(maxsize=None)
def _prepare_update(dtype):
    import numpy as np

    from .optim import _update_parallel

    vector = np.zeros(1, dtype)
    _update_parallel.prepare(0, vector, vector, np.zeros((1, 1), dtype), np.zeros(1), 0.0)
