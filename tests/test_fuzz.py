"""Fuzzing the whole public surface (``fuzz_surface.py``), in a child process.

The child runs every fuzzer with the current Hypothesis profile's number of examples (20 under
the default "fastbp" profile, 400 with ``--hypothesis-profile=fastbp-deep``) and checks the
contract on each call (see ``fuzz_surface.py``): the same result as on clean input, or a
ValueError/TypeError naming the problem with nothing changed. Running it in a child turns a
crash of the interpreter into a failed test with its exit signal, and a hang into a timeout.
"""
import json
import os
import subprocess
import sys

from hypothesis import settings

SCRIPT = os.path.join(os.path.dirname(__file__), "fuzz_surface.py")
AREAS = {"Network()", "Network.forward", "Network.fit", "Network.fit arguments", "Network.load",
         "fastbp command"}


def test_public_surface_survives_fuzzing():
    examples = settings().max_examples
    done = subprocess.run([sys.executable, SCRIPT, str(examples)], capture_output=True,
                          text=True, timeout=3600, cwd=os.path.dirname(SCRIPT))
    assert done.returncode == 0, (f"exit {done.returncode}\n{done.stdout[-3000:]}\n"
                                  f"{done.stderr[-6000:]}")
    outcomes = json.loads(done.stdout.strip().splitlines()[-1])
    areas = {key.split(": ")[0] for key in outcomes}
    assert AREAS <= areas, f"not exercised: {AREAS - areas}"
    assert any(key.startswith("course.") for key in outcomes)
    assert any(key.startswith("MLP") for key in outcomes)
    # every outcome is a success or an accepted refusal (the child fails on anything else)
    kinds = {key.split(": ")[1] for key in outcomes}
    assert kinds <= {"ok", "ValueError", "TypeError", "FloatingPointError", "FileNotFoundError",
                     "NotFittedError", "InvalidParameterError", "absent", "exit 0", "exit 1",
                     "exit 2"}, kinds
    print(json.dumps(outcomes, indent=1))
