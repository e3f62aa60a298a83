"""The disk cache of compiled kernels: where it lives, when it is fresh, and sharing it safely.

Numba's cache, with three changes for fastbp's files only (other libraries' caches are untouched):

* **Freshness.** Numba invalidates a cached function when *its own* file changes, but fastbp's
  cached machine code depends on every kernel it calls (and, through ``_dispatch``, on how they are
  linked): every entry is stamped with a hash of all kernel sources, the compile options and the
  vector width, so any edit invalidates them all.
* **Place.** In the package's ``__pycache__`` when it is writable, else in ``NUMBA_CACHE_DIR`` or
  the per-user cache directory (a system-wide or container install), keeping the same stamp.
  ``NUMBA_CACHE_DIR``, when set, comes first, as in Numba.
* **Sharing.** Numba saves an entry by reading the index, picking a data file name and writing
  both, with no lock: two processes compiling at once (``fastbp warmup``'s two dtypes, pytest
  workers, a cluster's workers) could both pick the same file name, and one entry would then point
  at the other's code. Saves take an exclusive lock and loads a shared one; an entry that cannot
  be read back (a file truncated by a killed process, say) is compiled again instead of raising.
"""
import contextlib
import fcntl
import functools
import hashlib
import os
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parent

#: Cache directories in use for fastbp's kernels (see :func:`_locked`).
_PATHS = set()


@functools.lru_cache(maxsize=None)
def sources_stamp(vector_bits):
    """A hash of every kernel source file, of the modules that set how they are compiled, linked
    and stored, and of the vector width: computed once per process, from the sources it
    imported."""
    digest = hashlib.sha256(str(vector_bits).encode())
    sources = sorted(PACKAGE.joinpath("kernels").glob("*.py"))
    for path in sources + [PACKAGE / "_config.py", PACKAGE / "_dispatch.py",
                           PACKAGE / "_diskcache.py"]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.digest()


def _fastbp_locator(base, vector_bits):
    """Numba's locator ``base``, for fastbp's files only, with :func:`sources_stamp`."""

    class Locator(base):
        @classmethod
        def from_function(cls, py_func, py_file):
            if not pathlib.Path(py_file).resolve().is_relative_to(PACKAGE):
                return None
            return super().from_function(py_func, py_file)

        def get_source_stamp(self):
            return sources_stamp(vector_bits)

        def get_cache_path(self):
            path = super().get_cache_path()
            _PATHS.add(path)
            return path

    Locator.__name__ = Locator.__qualname__ = "Fastbp" + base.__name__
    return Locator


@contextlib.contextmanager
def _locked(cache_file, mode):
    """Hold ``mode`` (an ``fcntl.flock`` mode) on the lock file beside ``cache_file``'s index
    while the body runs, if it is one of fastbp's caches."""
    if cache_file._cache_path not in _PATHS:
        yield
        return
    with open(cache_file._index_path + ".lock", "a+b") as lock:
        fcntl.flock(lock, mode)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def install(vector_bits):
    """Put fastbp's locators in front of Numba's and make its index files safe to share.

    Relies on Numba's caching internals (locator classes, ``IndexDataCacheFile``); without them
    Numba's default behaviour stays.
    """
    try:
        from numba.core import caching
        impl = getattr(caching, "CacheImpl", getattr(caching, "_CacheImpl", None))
        locators = impl._locator_classes
        bases = (caching.UserProvidedCacheLocator, caching.InTreeCacheLocator,
                 caching.UserWideCacheLocator)
        index = caching.IndexDataCacheFile
    except (ImportError, AttributeError):  # pragma: no cover - a Numba without these internals
        return
    if any(c.__name__.startswith("Fastbp") for c in locators):
        return
    locators[:0] = [_fastbp_locator(base, vector_bits) for base in bases]

    save, load = index.save, index.load

    def locked_save(self, key, data):
        with _locked(self, fcntl.LOCK_EX):
            save(self, key, data)

    def locked_load(self, key):
        if self._cache_path not in _PATHS:
            return load(self, key)
        with _locked(self, fcntl.LOCK_SH):
            try:
                return load(self, key)
            except Exception:
                # an unreadable entry (truncated, corrupt, foreign) is compiled again and saved
                # over, never raised to the user
                return None

    index.save, index.load = locked_save, locked_load
