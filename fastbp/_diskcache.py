"""Numba's disk cache for fastbp's kernels, made safe against damaged and mixed-up files.

Numba trusts its cache files: a truncated index (``*.nbi``) or data file (``*.nbc``) raises
``UnpicklingError`` out of the first call of a kernel, and a data file with damaged bytes that
still unpickles is loaded as machine code and crashes the process (segmentation fault or abort;
measured on Numba 0.68). Two processes compiling two signatures of one kernel at once can also
both write data file 1 and leave an index that names one signature's file for the other (Numba
picks the file number from the index it read before either wrote).

fastbp's kernels therefore use :class:`CheckedFunctionCache`: each data file starts with a
SHA-256 of the rest, checked before anything is unpickled; an unreadable index or data file, a
digest that does not match, or a loaded entry whose signature is not the one asked for is a
cache miss, so the kernel compiles afresh and overwrites the entry (Numba writes every cache file
to a temporary name and renames it, so a reader never sees half a file).
"""
import hashlib
import pickle

from numba.core.caching import FunctionCache, IndexDataCacheFile
from numba.core import sigutils

#: Marks a data file written by this module (and its layout: magic, SHA-256, pickle).
_MAGIC = b"fastbp-nbc-1\n"
_DIGEST = hashlib.sha256().digest_size


class _CheckedCacheFile(IndexDataCacheFile):
    """Numba's index and data files, with a digest in each data file."""

    def _load_index(self):
        try:
            return super()._load_index()
        except Exception:  # truncated or foreign: no entries (the next save rewrites it)
            return {}

    def _save_data(self, name, data):
        payload = self._dump(data)
        with self._open_for_write(self._data_path(name)) as f:
            f.write(_MAGIC + hashlib.sha256(payload).digest() + payload)

    def _load_data(self, name):
        with open(self._data_path(name), "rb") as f:
            blob = f.read()
        head = len(_MAGIC) + _DIGEST
        payload = blob[head:]
        if (len(blob) < head or not blob.startswith(_MAGIC)
                or hashlib.sha256(payload).digest() != blob[len(_MAGIC):head]):
            # IndexDataCacheFile.load takes an OSError as a missing file: a cache miss
            raise OSError(f"damaged fastbp cache file {name}")
        return pickle.loads(payload)


class CheckedFunctionCache(FunctionCache):
    """Numba's per-function cache with :class:`_CheckedCacheFile` and a signature check."""

    def __init__(self, py_func, uses_runtime=True):
        super().__init__(py_func)
        self._cache_file = _CheckedCacheFile(self._cache_path, self._impl.filename_base,
                                             self._impl.locator.get_source_stamp())
        self._uses_runtime = uses_runtime

    def load_overload(self, sig, target_context):
        # Numba refreshes the target context before it loads an entry: the first refresh of a
        # process imports and installs every lowering registry (0.1 s of a warm process's
        # half second), which compiling needs and loading machine code does not; the one thing
        # loaded code may need from it is the symbols of Numba's runtime (NRT), which only a
        # kernel compiled with the runtime calls
        if self._uses_runtime:
            target_context.refresh()
        try:
            with self._guard_against_spurious_io_errors():
                result = self._load_overload(sig, target_context)
        except Exception:  # a file that unpickles into something Numba cannot rebuild
            return None
        if result is not None:
            wanted = tuple(sigutils.normalize_signature(sig)[0])
            if tuple(result.signature.args) != wanted:
                return None  # another signature's code under this one's key
        return result


def protect(dispatcher):
    """Give ``dispatcher`` (compiled with ``cache=True``) a :class:`CheckedFunctionCache`.

    Returns the dispatcher. Without Numba's internals that this relies on it is returned as it is.
    """
    if isinstance(getattr(dispatcher, "_cache", None), FunctionCache):
        uses_runtime = getattr(dispatcher, "targetoptions", {}).get("_nrt", True)
        dispatcher._cache = CheckedFunctionCache(dispatcher.py_func, uses_runtime)
    return dispatcher
