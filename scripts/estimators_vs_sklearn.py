"""fastbp's MLPClassifier / MLPRegressor against scikit-learn's, same arguments (issue 12's table).

Each fit runs in a fresh process of its own (``--worker``), the two libraries alternating, both
at their default thread settings (no thread variable set). A worker fits once to warm up (fastbp
compiles or loads its kernels then), then times ``--fits`` fits of ``--epochs`` epochs with
``tol=0`` and ``n_iter_no_change`` out of reach, so every fit runs all its epochs, and reports
the median per epoch. The cases (``fastbp.bench.estimator_cases``, which the asv suite shares):
scikit-learn's digits (X/16) and diabetes, in float64.

    python scripts/estimators_vs_sklearn.py --processes 3
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastbp.bench.estimator_cases import CASES, fit_seconds, load_data  # noqa: E402


def worker(library, case, epochs, fits):
    """ms per epoch (median of ``fits`` fits) and the last fit's loss, in this process."""
    X, y = load_data(case)
    fit_seconds(library, case, 3, X, y)    # fastbp compiles or loads its kernels here
    seconds = []
    for _ in range(fits):
        elapsed, estimator = fit_seconds(library, case, epochs, X, y)
        seconds.append(elapsed)
    return {"ms": statistics.median(seconds) / epochs * 1e3, "loss": float(estimator.loss_)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=3, help="fresh processes per library")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--fits", type=int, default=5)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--worker", nargs=2, metavar=("LIBRARY", "CASE"), help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.worker:
        print(json.dumps(worker(*options.worker, options.epochs, options.fits)))
        return 0
    print(f"{'case':<14} {'fastbp ms/epoch':>22} {'scikit-learn ms/epoch':>24} {'ratio':>16}")
    for case in options.cases:
        runs = {"fastbp": [], "sklearn": []}
        for _ in range(options.processes):
            for library in runs:
                output = subprocess.run(
                    [sys.executable, __file__, "--worker", library, case,
                     "--epochs", str(options.epochs), "--fits", str(options.fits)],
                    check=True, capture_output=True, text=True).stdout
                runs[library].append(json.loads(output.strip().splitlines()[-1]))
        ours = [run["ms"] for run in runs["fastbp"]]
        theirs = [run["ms"] for run in runs["sklearn"]]
        ratios = [b / a for a, b in zip(ours, theirs)]
        print(f"{case:<14} {statistics.median(ours):8.3f} ({min(ours):.3f}-{max(ours):.3f}) "
              f"{statistics.median(theirs):10.3f} ({min(theirs):.3f}-{max(theirs):.3f}) "
              f"{statistics.median(ratios):6.2f}x ({min(ratios):.2f}-{max(ratios):.2f})   "
              f"loss {runs['fastbp'][-1]['loss']:.4f} vs {runs['sklearn'][-1]['loss']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
