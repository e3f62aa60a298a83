"""The kernels' disk cache: damaged files are recompiled, never crashed on; processes compiling at
the same time all succeed and leave a valid cache.

Each test works on a copy of the fastbp package in a temporary directory (so the real cache is
never touched) and on one small kernel, ``optim.scaled_difference``, which compiles in a second
or two. Children are separate interpreters: a damaged cache used to end them with an
``UnpicklingError``, a segmentation fault or an abort (Numba 0.68 trusts its files).
"""
import json
import pathlib
import shutil
import subprocess
import sys

import pytest

import fastbp

#: Calls the kernel in float64 and/or float32, checks the result, prints the cache statistics.
_CHILD = """
import json, sys
import numpy as np
from fastbp.kernels.optim import scaled_difference
report = {}
for name in sys.argv[1].split(","):
    x = np.arange(12, dtype=name).reshape(3, 4)
    y = np.ones((3, 4), dtype=name)
    out = np.empty_like(x)
    scaled_difference(x, y, 0.5, out)
    assert out.dtype == x.dtype and (out == x - np.asarray(0.5, name) * y).all(), out
    report[name] = out.tolist()
stats = scaled_difference.stats
print(json.dumps({"hits": sum(stats.cache_hits.values()),
                  "misses": sum(stats.cache_misses.values()), "results": report}))
"""


@pytest.fixture
def package(tmp_path):
    """A copy of fastbp without compiled kernels; returns the directory to put on sys.path."""
    source = pathlib.Path(fastbp.__file__).parent
    shutil.copytree(source, tmp_path / "fastbp",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (tmp_path / "child.py").write_text(_CHILD)
    return tmp_path


def _start(root, dtypes="float64"):
    return subprocess.Popen([sys.executable, str(root / "child.py"), dtypes], cwd=root,
                            env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin",
                                 "FASTBP_CACHE": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(child):
    out, err = child.communicate(timeout=600)
    assert child.returncode == 0, f"exit {child.returncode}: {err[-2000:]}"
    return json.loads(out.strip().splitlines()[-1])


def _run(root, dtypes="float64"):
    return _finish(_start(root, dtypes))


def _files(root, suffix):
    folder = root / "fastbp" / "kernels" / "__pycache__"
    return sorted(folder.glob(f"optim.scaled_difference-*{suffix}"))


def _truncate(path):
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 3])


def _flip(path):
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 3, len(data) // 3 + 64):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _empty(path):
    path.write_bytes(b"")


def _garbage(path):
    path.write_bytes(b"\x80\x04not a pickle at all" * 10)


_DAMAGES = [(suffix, damage) for suffix in (".nbi", ".nbc")
            for damage in (_truncate, _flip, _empty, _garbage)]


def test_a_damaged_cache_file_is_recompiled(package):
    first = _run(package)
    assert first["misses"] == 1
    for suffix, damage in _DAMAGES:
        files = _files(package, suffix)
        assert files, "no cache file written"
        for path in files:
            damage(path)
        again = _run(package)                            # compiles afresh, no crash
        assert again["misses"] == 1, (suffix, damage.__name__)
        assert again["results"] == first["results"]
    assert _run(package)["hits"] == 1                    # and the last one repaired the entry


def test_processes_compiling_at_once_leave_a_valid_cache(package):
    children = [_start(package, "float64") for _ in range(2)]
    children += [_start(package, "float32,float64"), _start(package, "float32")]
    results = [_finish(child) for child in children]
    assert all(result["misses"] >= 1 for result in results)
    after = _run(package, "float64,float32")
    assert after["results"]["float64"] == results[0]["results"]["float64"]
    assert after["results"]["float32"] == results[3]["results"]["float32"]
    # every entry is usable: a later process loads what it can and recompiles the rest (two
    # writers of one index may drop each other's entry, never corrupt one)
    assert after["hits"] + after["misses"] == 2


def test_an_entry_holding_another_signatures_code_is_refused(package):
    # what a race between two processes compiling two signatures can leave: the index names a
    # data file that holds the other signature's machine code
    _run(package, "float64")
    _run(package, "float32")
    data = _files(package, ".nbc")
    assert len(data) == 2
    first, second = data[0].read_bytes(), data[1].read_bytes()
    data[0].write_bytes(second)
    data[1].write_bytes(first)
    swapped = _run(package, "float64,float32")           # float32 code on float64 arrays: no
    assert swapped["misses"] == 2
    assert _run(package, "float64,float32")["hits"] == 2
