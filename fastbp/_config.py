"""Every Numba option fastbp uses, in one place.

Kernels never pass options to ``numba.njit`` themselves: they are decorated with :func:`kernel`
(serial) or compiled twice with :func:`serial_and_parallel`, so the flags below are the whole story.
"""
import os
import types

import numba

#: LLVM fast-math flags. ``reassoc`` and ``contract`` let LLVM vectorize the sums and fuse
#: multiply-adds; ``nsz`` and ``arcp`` are harmless for this math. ``nnan``/``ninf`` are left out on
#: purpose: training must be able to *detect* a NaN or infinite cost, and the course drop-in must
#: propagate NaN and inf exactly as NumPy does. ``afn`` is left out so exp/log/tanh stay accurate.
FASTMATH = frozenset({"nsz", "arcp", "contract", "reassoc"})

#: Cache compiled kernels on disk (keyed on the CPU, so it is safe with ``parallel=True``).
#: Set ``FASTBP_CACHE=0`` to compile afresh every process.
CACHE = os.environ.get("FASTBP_CACHE", "1") != "0"

#: NumPy's error model: a float divided by zero gives inf/NaN instead of raising, as NumPy does.
#: The course drop-in relies on it (``Y / AL`` with ``AL == 0``).
ERROR_MODEL = "numpy"

#: A sum with fewer multiply-adds than this runs serially: entering a parallel region costs a few
#: microseconds (see shared/PERFORMANCE.md), more than small sums take on one core.
PARALLEL_MIN_FLOPS = 300_000

#: An elementwise pass (update, transpose, gather) over fewer elements than this runs serially.
PARALLEL_MIN_ELEMENTS = 200_000

_OPTIONS = dict(fastmath=set(FASTMATH), cache=CACHE, error_model=ERROR_MODEL, nogil=True)


def kernel(function=None, exact=False, **extra):
    """Compile ``function`` lazily as a serial Numba kernel with fastbp's options.

    Usable bare (``@kernel``) or with options (``@kernel(inline="always")``). ``exact=True``
    turns fast-math off, for kernels that must reproduce NumPy's NaN and inf bit for bit:
    with ``reassoc`` and ``nsz`` LLVM may factor ``y*log(a) + (1-y)*log(1-a)`` into a form that
    gives ``0 * inf = NaN`` where NumPy gives inf.
    """
    options = dict(_OPTIONS, fastmath=False) if exact else _OPTIONS

    def decorate(fn):
        return numba.njit(**options, **extra)(fn)

    return decorate if function is None else decorate(function)


def parallel_kernel(function):
    """Compile ``function`` lazily with ``parallel=True`` (its ``prange`` loops run on threads)."""
    return numba.njit(parallel=True, **_OPTIONS)(function)


def serial_and_parallel(function):
    """Compile one plain function twice: serially and with ``parallel=True``.

    Inside the serial copy ``prange`` is an ordinary ``range``. Callers pick the copy by the size
    of the work (:data:`PARALLEL_MIN_FLOPS`), never by the thread count, so a result does not
    depend on how many threads run it.

    Returns
    -------
    (serial, parallel) : tuple of Numba dispatchers
    """
    # Numba's disk cache names an entry after the function's qualified name and does not key it on
    # ``parallel``: the parallel copy needs a name of its own, or the two would load each other.
    twin = types.FunctionType(function.__code__, function.__globals__, function.__name__,
                              function.__defaults__, function.__closure__)
    twin.__qualname__ = function.__qualname__ + "_parallel"
    twin.__doc__ = function.__doc__
    twin.__module__ = function.__module__
    return numba.njit(**_OPTIONS)(function), numba.njit(parallel=True, **_OPTIONS)(twin)

#: Output tile of the blocked sums (rows x columns of the product). Each tile is one parallel task,
#: computed whole by one thread in a fixed order, so a result never depends on the thread count.
TILE_ROWS = 32
TILE_COLS = 64
