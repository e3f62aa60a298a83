"""Every Numba option fastbp uses, in one place.

Kernels never pass options to ``numba.njit`` themselves: they are decorated with :func:`kernel`
(serial) or compiled twice with :func:`serial_and_parallel`, so the flags below are the whole story.
"""
import functools
import hashlib
import os
import pathlib
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

def _host_vector_bits():
    """Width of the widest SIMD registers the kernels may use on this CPU: 512 with AVX-512F
    (32 registers of 16 float32), else 256 (AVX2; LLVM splits them where AVX is missing too)."""
    try:
        import llvmlite.binding as llvm
        features = numba.config.CPU_FEATURES or llvm.get_host_cpu_features().flatten()
    except Exception:  # pragma: no cover - no feature query: the width every x86-64 handles
        return 256
    return 512 if "+avx512f" in features.split(",") else 256


#: Bits of one SIMD vector in the kernels (``fastbp/kernels/simd.py``): the host's widest, or
#: ``FASTBP_VECTOR_BITS`` (256 or 512) to force one, e.g. to measure or test the AVX2 path on an
#: AVX-512 machine. It is part of the disk cache's key.
VECTOR_BITS = int(os.environ.get("FASTBP_VECTOR_BITS", 0)) or _host_vector_bits()
if VECTOR_BITS not in (256, 512):
    raise ValueError(f"FASTBP_VECTOR_BITS must be 256 or 512, not {VECTOR_BITS}")

#: Kernels run without Numba's runtime (``_nrt=False``): they never allocate, and with the
#: runtime every array view a kernel makes (a layer's W out of the flat parameters, a row of a
#: block) pays atomic reference-count updates, which were two thirds of an epoch of a 1-1-1
#: network (3.0 -> 1.1 us) and a quarter of the 20-10-1 one. Numba refuses at compile time
#: what would need the runtime (allocating, returning a new array); a kernel that must allocate
#: passes ``_nrt=True`` to :func:`kernel`.
NRT = False

_OPTIONS = dict(fastmath=set(FASTMATH), cache=CACHE, error_model=ERROR_MODEL, nogil=True,
                _nrt=NRT)


def kernel(function=None, exact=False, **extra):
    """Compile ``function`` lazily as a serial Numba kernel with fastbp's options.

    Usable bare (``@kernel``) or with options (``@kernel(inline="always")``). ``exact=True``
    turns fast-math off, for kernels that must reproduce NumPy's NaN and inf bit for bit:
    with ``reassoc`` and ``nsz`` LLVM may factor ``y*log(a) + (1-y)*log(1-a)`` into a form that
    gives ``0 * inf = NaN`` where NumPy gives inf.
    """
    options = dict(_OPTIONS, fastmath=False) if exact else _OPTIONS

    def decorate(fn):
        return _njit(fn, **dict(options, **extra))

    return decorate if function is None else decorate(function)


def parallel_kernel(function):
    """Compile ``function`` lazily with ``parallel=True`` (its ``prange`` loops run on threads)."""
    return _njit(function, parallel=True, **_OPTIONS)


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
    return _njit(function, **_OPTIONS), _njit(twin, parallel=True, **_OPTIONS)


def _njit(function, **options):
    """``numba.njit(**options)(function)``, its disk cache checked (see ``fastbp._diskcache``)."""
    dispatcher = numba.njit(**options)(function)
    if options.get("cache") and _protect is not None:
        _protect(dispatcher)
    return dispatcher


# --------------------------------------------------------------------------- disk cache stamps
_PACKAGE = pathlib.Path(__file__).resolve().parent

try:  # damaged cache files recompile instead of crashing; needs Numba's cache internals
    from ._diskcache import protect as _protect
except ImportError:  # pragma: no cover - a Numba without them: its own cache as it is
    _protect = None


@functools.lru_cache(maxsize=None)
def _kernel_sources_stamp():
    """A hash of every kernel source file (and this one and the cache files' format) and of the
    vector width."""
    digest = hashlib.sha256(str(VECTOR_BITS).encode())
    for path in (sorted(_PACKAGE.joinpath("kernels").glob("*.py"))
                 + [pathlib.Path(__file__), _PACKAGE / "_diskcache.py"]):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.digest()


def _install_cache_locator():
    """Stamp fastbp's cached kernels with all kernel sources, not only their own file.

    Numba invalidates a cached function when *its* file changes, but the cached machine code also
    holds every kernel it calls: after an edit to ``gemm.py`` a cached ``dense.py`` kernel would
    still run the old product (with the old scratch layout). This locator, used only for files
    inside ``fastbp/``, makes any kernel edit invalidate every fastbp cache entry. It relies on
    Numba's locator classes; if they are missing, Numba's default behaviour stays.
    """
    try:
        from numba.core import caching
        from numba.core.caching import InTreeCacheLocator
        locators = getattr(caching, "CacheImpl", getattr(caching, "_CacheImpl", None))
        locators = locators._locator_classes
    except (ImportError, AttributeError):  # pragma: no cover - a Numba without these internals
        return

    class FastbpCacheLocator(InTreeCacheLocator):
        @classmethod
        def from_function(cls, py_func, py_file):
            if not pathlib.Path(py_file).resolve().is_relative_to(_PACKAGE):
                return None
            return super().from_function(py_func, py_file)

        def get_source_stamp(self):
            return _kernel_sources_stamp()

    if not any(c.__name__ == "FastbpCacheLocator" for c in locators):
        locators.insert(0, FastbpCacheLocator)


if CACHE:
    _install_cache_locator()
