"""The disk cache of compiled kernels: filled by ``fastbp warmup``, shared safely, never trusted
blindly.

A copy of the package whose ``kernels/__pycache__`` cannot be a directory (a file stands in its
way, as a read-only install would refuse it) must cache in ``NUMBA_CACHE_DIR`` instead;
``fastbp warmup`` fills that cache from two processes at once (one per dtype, both writing the
same index files); a later process then compiles nothing and computes bit for bit what a process
that compiled everything itself computes; and after every cached entry has been truncated, a
process recompiles and still gets the same bits.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import fastbp

PROBE = textwrap.dedent('''
    import hashlib, json
    import numpy as np
    import fastbp
    from fastbp import _dispatch
    rng = np.random.default_rng(0)
    digests = {}
    for dtype in (np.float64,):
        X = rng.standard_normal((6, 50)).astype(dtype)
        Y = np.eye(3, dtype=dtype)[rng.integers(0, 3, 50)].T
        net = fastbp.Network([6, 9, 3], "relu", "softmax", dtype=dtype, seed=3)
        net.fit(X, Y, epochs=3, batch_size=16, optimizer="adam")
        digests[np.dtype(dtype).name] = hashlib.sha256(net._theta.tobytes()).hexdigest()
    compiled = sorted(f"{d.py_func.__module__}.{d.py_func.__qualname__}"
                      for d in _dispatch.DISPATCHERS if d.stats.cache_misses)
    print(json.dumps({"digests": digests, "compiled": compiled}))
''')


@pytest.fixture(scope="module")
def installed_copy(tmp_path_factory):
    """A copy of fastbp whose in-tree cache directory cannot be created, and its environment."""
    root = tmp_path_factory.mktemp("install")
    package = root / "fastbp"
    shutil.copytree(Path(fastbp.__file__).parent, package,
                    ignore=shutil.ignore_patterns("__pycache__"))
    (package / "kernels" / "__pycache__").write_text("not a directory\n")
    env = dict(os.environ, PYTHONPATH=str(root), NUMBA_CACHE_DIR=str(root / "cache"))
    env.pop("FASTBP_CACHE", None)
    return root, env


def _run(args, env, **extra):
    result = subprocess.run([sys.executable, *args], env=dict(env, **extra), cwd=env["PYTHONPATH"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _probe(env, **extra):
    return json.loads(_run(["-c", PROBE], env, **extra).splitlines()[-1])


def test_warmup_fills_a_fallback_cache_that_later_processes_trust(installed_copy):
    root, env = installed_copy
    printed = _run(["-m", "fastbp", "warmup"], env)
    assert "float32:" in printed and "float64:" in printed
    cached = list((root / "cache").rglob("*.nbc"))
    assert cached, "warmup wrote no cache entry to NUMBA_CACHE_DIR"
    assert not (root / "fastbp" / "kernels").joinpath("__pycache__").is_dir()

    warm = _probe(env)
    assert warm["compiled"] == [], f"compiled although warmed up: {warm['compiled']}"
    cold = _probe(env, FASTBP_CACHE="0")
    assert cold["compiled"], "FASTBP_CACHE=0 should compile"
    assert warm["digests"] == cold["digests"]

    # a killed writer or a bad disk: every entry cut in half is compiled again, not raised
    for path in cached:
        data = path.read_bytes()
        path.write_bytes(data[:len(data) // 2])
    damaged = _probe(env)
    assert damaged["compiled"], "truncated entries were not recompiled"
    assert damaged["digests"] == cold["digests"]
    again = _probe(env)
    assert again["compiled"] == [] and again["digests"] == cold["digests"]


SEQUENCE = [
    # the course's functions call the dense sums' wrappers from Python: compiled and cached alone
    """
    import numpy as np
    from fastbp import course
    X = np.random.default_rng(1).standard_normal((6, 30))
    parameters = course.initialize_parameters_deep([6, 4, 1], seed=1)
    AL, caches = course.L_model_forward(X, parameters)
    course.L_model_backward(AL, (X[:1] > 0).astype(float), caches)
    """,
    # the course's loop and Network's forward pass, compiled over those cached wrappers
    """
    import numpy as np
    from fastbp import course
    X = np.random.default_rng(1).standard_normal((6, 30))
    course.L_layer_model(X, (X[:1] > 0).astype(float), [6, 4, 1], num_iterations=5)
    """,
    # a fit that loads that forward pass from the cache before anything else loads the sums
    """
    import numpy as np
    import fastbp
    X = np.random.default_rng(1).standard_normal((6, 30))
    fastbp.Network([6, 4, 1]).fit(X, (X[:1] > 0).astype(float), epochs=2)
    print("fitted")
    """,
]


def test_a_kernel_compiled_over_cached_helpers_loads_in_the_next_process(installed_copy):
    # a cached helper's library came back without its reload hooks, so a kernel compiled over it
    # was cached without the hooks that load what the helper calls: "Symbol not found", abort
    root, env = installed_copy
    env = dict(env, NUMBA_CACHE_DIR=str(root / "sequence-cache"))
    for script in SEQUENCE:
        printed = _run(["-c", textwrap.dedent(script)], env)
    assert printed.strip() == "fitted"


def test_an_inlined_helper_caches_the_hooks_of_what_it_calls():
    # a helper compiled to IR alone (backpropagate calls dense_sum by symbol): Numba gives its
    # library's reload hooks to the compile result, which the cache stores, only for code it
    # compiles to machine code; without them a caller compiled later over the cached helper
    # misses the hook that loads dense_sum ("Symbol not found" in the next process)
    script = """
        import numpy as np
        import fastbp
        from fastbp import _dispatch
        from fastbp.kernels.loop import backpropagate

        X = np.random.default_rng(1).standard_normal((6, 30))
        fastbp.Network([6, 4, 1]).fit(X, (X[:1] > 0).astype(float), epochs=1)
        assert isinstance(backpropagate, _dispatch.InlineDispatcher)
        assert backpropagate.overloads, "backpropagate was not compiled"
        for compiled in backpropagate.overloads.values():
            calls = {hook for hook in compiled.library._reload_init
                     if isinstance(hook, _dispatch.LoadKernel)}
            assert any(hook.name[1] == "dense_sum" for hook in calls), calls
            assert calls <= set(compiled.reload_init), (calls, compiled.reload_init)
        print("hooks kept")
    """
    root = str(Path(fastbp.__file__).resolve().parent.parent)
    env = dict(os.environ, FASTBP_CACHE="0", PYTHONPATH=root)
    assert _run(["-c", textwrap.dedent(script)], env).strip() == "hooks kept"


def test_the_stamp_covers_every_kernel_source(installed_copy):
    root, env = installed_copy
    stamp = "from fastbp import _cache, _config; print(_cache.sources_stamp(_config.VECTOR_BITS).hex())"
    before = _run(["-c", stamp], env).strip()
    kernel = root / "fastbp" / "kernels" / "simd.py"
    original = kernel.read_text()
    try:
        kernel.write_text(original + "\n# an edit\n")
        after = _run(["-c", stamp], env).strip()
    finally:
        kernel.write_text(original)
    assert before != after
    assert hashlib.sha256(bytes.fromhex(before)).digest()  # a digest, not an empty stamp
