"""Paired A/B timing of two versions of fastbp in one process (see shared/PERFORMANCE.md).

Separate processes run back to back differ by +-15% on these machines, so a change of a few
percent is measured by importing both versions into one process and alternating short rounds:
each round times one version, then the other, on the same network and data; the result is the
median of the per-round ratios. Run it in both orders (``--a X --b Y`` and ``--a Y --b X``):
code placement alone moves a 1.5 us epoch by +-15%.

Each version is a git revision (or ``.`` for the working tree), exported once to
``/tmp/fastbp-ab/<name>/fastbp_<tag>`` and imported under that name, so the two versions' Numba
disk caches stay apart and survive between runs.

    python scripts/ab.py --a HEAD~1 --b . --workload tiny --workload digits
"""
import argparse
import importlib
import pathlib
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastbp.bench.workloads import WORKLOADS, make_data  # noqa: E402

CACHE = pathlib.Path("/tmp/fastbp-ab")


def export(revision, tag):
    """Import the fastbp of ``revision`` (a git revision, or "." for the working tree) as the
    package ``fastbp_<tag>`` and return it."""
    if revision == ".":
        name = "worktree"
        target = CACHE / name / f"fastbp_{tag}"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(ROOT / "fastbp", target, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        name = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", revision],
                              check=True, capture_output=True, text=True).stdout.strip()
        target = CACHE / name / f"fastbp_{tag}"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "fastbp"],
                                     check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(target.parent)], input=archive, check=True)
            (target.parent / "fastbp").rename(target)
    sys.path.insert(0, str(target.parent))
    return importlib.import_module(f"fastbp_{tag}"), name


def epoch_seconds(package, workload, X, Y, epochs, alpha=0.0):
    """A callable that trains ``epochs`` epochs (L2 penalty ``alpha``) and returns the seconds
    per epoch."""
    net = package.Network(workload.layer_dims, activations=workload.hidden,
                          output=workload.output, dtype=np.dtype(workload.dtype), seed=0)

    def run():
        started = time.perf_counter()
        net.fit(X, Y, epochs=epochs, batch_size=workload.batch_size, learning_rate=0.01,
                alpha=alpha)
        return (time.perf_counter() - started) / epochs

    run()  # compile or load the kernels, allocate the workspaces
    return run


def calibrate(package, workload, X, Y, seconds):
    """Epochs for a round of about ``seconds``: a fit's fixed cost (validation, a first call)
    is ~0.1 ms, more than a whole 20-10-1 epoch, so one probe of a single epoch would size the
    rounds by that cost (23 epochs where 10000 were meant); the probe grows until the fixed cost
    is a small part of it."""
    epochs = 1
    while True:
        per_epoch = epoch_seconds(package, workload, X, Y, epochs)()
        if per_epoch * epochs >= seconds / 10 or epochs >= 10**6:
            return max(1, int(seconds / per_epoch))
        epochs *= 10


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", default="HEAD", help="git revision of version A (. = worktree)")
    parser.add_argument("--b", default=".", help="git revision of version B (. = worktree)")
    parser.add_argument("--workload", action="append", choices=sorted(WORKLOADS))
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=0.05, help="length of one timed round")
    parser.add_argument("--alpha", type=float, default=0.0, help="L2 penalty of the timed fits")
    parser.add_argument("--example-major", action="store_true",
                        help="give X as the transpose of an example-major array (scikit-learn's "
                             "layout): minibatches are gathered from its rows")
    options = parser.parse_args(argv)
    a, name_a = export(options.a, "a")
    b, name_b = export(options.b, "b")
    print(f"A = {options.a} ({name_a}), B = {options.b} ({name_b}); ratio = B / A time")
    for key in options.workload or ["tiny", "digits"]:
        workload = WORKLOADS[key]
        X, Y = make_data(workload)
        if options.example_major:
            X = np.ascontiguousarray(X.T).T
        epochs = calibrate(a, workload, X, Y, options.seconds)
        run_a = epoch_seconds(a, workload, X, Y, epochs, options.alpha)
        run_b = epoch_seconds(b, workload, X, Y, epochs, options.alpha)
        ratios, times_a, times_b = [], [], []
        for round_ in range(options.rounds):
            # alternate which goes first, so neither always follows the other
            if round_ % 2:
                t_b, t_a = run_b(), run_a()
            else:
                t_a, t_b = run_a(), run_b()
            times_a.append(t_a)
            times_b.append(t_b)
            ratios.append(t_b / t_a)
        print(f"{key:8s} A {statistics.median(times_a) * 1e3:9.4f} ms  "
              f"B {statistics.median(times_b) * 1e3:9.4f} ms  B/A median {statistics.median(ratios):.3f} "
              f"(quartiles {np.percentile(ratios, 25):.3f}-{np.percentile(ratios, 75):.3f}, "
              f"{options.rounds} rounds of {epochs} epochs)")


if __name__ == "__main__":
    main()
