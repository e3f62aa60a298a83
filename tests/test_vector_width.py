"""The kernels at the vector width this machine does not default to.

fastbp compiles its products for 512-bit vectors where the CPU has AVX-512F and for 256-bit ones
elsewhere (``FASTBP_VECTOR_BITS`` forces either). The rest of the suite checks the default width;
this test reruns the kernel and thread tests in a fresh process at the other one, so both tile
shapes (6 x 16 and 6 x 32 float32, 6 x 8 and 6 x 16 float64) are checked on any machine. On a
CPU without AVX-512, LLVM splits 512-bit operations in two: slower, with the same results.
"""
import os
import subprocess
import sys

from fastbp import _config

HERE = os.path.dirname(os.path.abspath(__file__))


def test_kernels_and_threads_at_the_other_vector_width():
    other = 256 if _config.VECTOR_BITS == 512 else 512
    env = dict(os.environ, FASTBP_VECTOR_BITS=str(other))
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
               os.path.join(HERE, "test_kernels.py"), os.path.join(HERE, "test_threads.py")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
    report = done.stdout[-4000:] + done.stderr[-2000:]
    assert done.returncode == 0, f"at {other}-bit vectors:\n{report}"
    assert " passed" in done.stdout
