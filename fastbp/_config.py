"""Every Numba option fastbp uses, in one place.

Kernels never pass options to ``numba.njit`` themselves: they are decorated with :func:`kernel`
(serial) or :func:`parallel_kernel`, so the flags below are the whole story. How kernels are
compiled and linked to each other is ``fastbp._dispatch``'s job.
"""
import os

import numba

#: LLVM fast-math flags. ``reassoc`` and ``contract`` let LLVM vectorize the sums and fuse
#: multiply-adds; ``nsz`` and ``arcp`` are harmless for this math. ``nnan``/``ninf`` are left out on
#: purpose: training must be able to *detect* a NaN or infinite cost, and the course drop-in must
#: propagate NaN and inf exactly as NumPy does. ``afn`` is left out so exp/log/tanh stay accurate.
FASTMATH = frozenset({"nsz", "arcp", "contract", "reassoc"})

#: Cache compiled kernels on disk (keyed on the CPU, so it is safe with ``parallel=True``; see
#: ``fastbp._cache`` for where and when). Set ``FASTBP_CACHE=0`` to compile afresh every process.
CACHE = os.environ.get("FASTBP_CACHE", "1") != "0"

#: NumPy's error model: a float divided by zero gives inf/NaN instead of raising, as NumPy does.
#: The course drop-in relies on it (``Y / AL`` with ``AL == 0``).
ERROR_MODEL = "numpy"

#: A sum of fewer floating-point operations than this runs on the calling thread. Entering a
#: parallel region costs microseconds, and Numba's OpenMP threads then spin between regions,
#: which is what made two-thread processes bimodal (shared/PERFORMANCE.md): the digits network's
#: largest products (1 MFLOP) gained nothing from a second thread even in a good process. At
#: this size a block is still tens of microseconds of work for each of two threads.
PARALLEL_MIN_FLOPS = 4_000_000

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

_OPTIONS = dict(fastmath=set(FASTMATH), error_model=ERROR_MODEL, nogil=True, _nrt=NRT)


def _njit(function, inline=False, specialize=False, python=False, **options):
    """A lazily compiling dispatcher of ``function`` with fastbp's options (see :func:`kernel`)."""
    from . import _dispatch

    options = dict(_OPTIONS, nopython=True, **options)
    if not python:
        options.update(_dispatch.NO_WRAPPERS)
    if inline == "ir":
        return numba.njit(cache=CACHE, inline="always",
                          **{k: v for k, v in options.items()
                             if k != "nopython" and k not in _dispatch.NO_WRAPPERS})(function)
    if inline:
        kind = _dispatch.SpecializedInlineDispatcher if specialize else _dispatch.InlineDispatcher
    else:
        kind = _dispatch.SeparateDispatcher
    return _with_cache(kind(py_func=function, locals={}, targetoptions=options))


def _with_cache(dispatcher):
    """``dispatcher`` with the disk cache (checked entries, see ``fastbp._diskcache``) unless
    ``FASTBP_CACHE=0``, and counted in ``_dispatch.DISPATCHERS``."""
    from . import _diskcache, _dispatch

    if CACHE:
        dispatcher.enable_caching()
        _diskcache.protect(dispatcher)
    _dispatch.DISPATCHERS.append(dispatcher)
    return dispatcher


def kernel(function=None, exact=False, inline=False, specialize=False, python=False, **extra):
    """Compile ``function`` lazily as a serial Numba kernel with fastbp's options.

    Usable bare (``@kernel``) or with options (``@kernel(inline=True)``).

    Parameters
    ----------
    exact : bool
        Turn fast-math off, for kernels that must reproduce NumPy's NaN and inf bit for bit:
        with ``reassoc`` and ``nsz`` LLVM may factor ``y*log(a) + (1-y)*log(1-a)`` into a form
        that gives ``0 * inf = NaN`` where NumPy gives inf.
    inline : bool or "ir"
        False: compiled once per argument types into a library of its own, which callers call by
        symbol (:class:`fastbp._dispatch.SeparateDispatcher`). True: a small helper, compiled once
        and inlined by LLVM into each caller. ``"ir"``: Numba's own ``inline="always"``, which
        copies and re-types the body at every call site (slow to compile): only for helpers that
        return array views, which a compiled function cannot return without Numba's runtime.
    specialize : bool
        With ``inline=True``: one version per constant value of an argument (a row count that
        must fold away), as Numba does by default; otherwise constants are runtime values.
    python : bool
        Called from Python (an entry point of fastbp's faces): compiled with Numba's wrappers,
        which box and unbox its arguments. Other kernels are compiled without them, and a call
        from Python compiles a twin that has them (see :class:`fastbp._dispatch.KernelDispatcher`).
    """
    options = dict(extra, fastmath=False) if exact else extra

    def decorate(fn):
        return _njit(fn, inline=inline, specialize=specialize, python=python, **options)

    return decorate if function is None else decorate(function)


def parallel_kernel(function):
    """Compile ``function`` with ``parallel=True`` (its ``prange`` loops run on threads), only in a
    process that prepares it: other kernels call it through a slot
    (:class:`fastbp._dispatch.SlotDispatcher`), filled by its ``prepare``."""
    from . import _dispatch

    options = dict(_OPTIONS, nopython=True, parallel=True, **_dispatch.NO_WRAPPERS)
    return _with_cache(_dispatch.SlotDispatcher(py_func=function, locals={},
                                                targetoptions=options))


def optional_kernel(function):
    """Compile ``function`` as a serial kernel reached through a slot, as :func:`parallel_kernel`
    is: only in a process that prepares it. For code that only some networks run (dropout): the
    kernels that call it compile no more for it than a pointer check."""
    from . import _dispatch

    options = dict(_OPTIONS, nopython=True, **_dispatch.NO_WRAPPERS)
    return _with_cache(_dispatch.SlotDispatcher(py_func=function, locals={},
                                                targetoptions=options))


if CACHE:
    from . import _cache

    _cache.install(VECTOR_BITS)
