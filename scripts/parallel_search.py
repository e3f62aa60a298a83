#!/usr/bin/env python
"""A small network's hyperparameter search at ``n_jobs=1`` and ``n_jobs=2``, in fresh processes.

A network whose products are all below ``PARALLEL_MIN_FLOPS`` (the digits estimators) trains on
one core; a search over several fits can use the others by running fits side by side. This times
scikit-learn's ``GridSearchCV`` over fastbp's ``MLPClassifier`` on digits (the ``digits-adam``
case of ``fastbp.bench.estimator_cases``: hidden (64, 32), 60 epochs; 4 candidates x 4 folds)
at each ``--jobs`` value, alternating, ``--runs`` fresh processes each, after a warm-up search in
the same process (kernels loaded, workers started).

    python scripts/parallel_search.py --runs 2
"""
import argparse
import json
import pathlib
import subprocess
import sys
import time
import warnings

ROOT = pathlib.Path(__file__).resolve().parent.parent
GRID = {"alpha": [1e-4, 1e-3], "learning_rate_init": [1e-3, 3e-3]}


def search_seconds(jobs):
    """Seconds of one search at ``n_jobs=jobs``, and its best parameters and score."""
    sys.path.insert(0, str(ROOT))
    from sklearn.model_selection import GridSearchCV

    from fastbp.bench.estimator_cases import load_data, make_estimator

    warnings.simplefilter("ignore")      # ConvergenceWarning: every fit runs its 60 epochs
    X, y = load_data("digits-adam")
    estimator = make_estimator("fastbp", "digits-adam", epochs=60)
    GridSearchCV(estimator, {"alpha": [1e-4]}, cv=2, n_jobs=jobs).fit(X, y)   # warm-up
    started = time.perf_counter()
    search = GridSearchCV(estimator, GRID, cv=4, n_jobs=jobs).fit(X, y)
    return {"seconds": time.perf_counter() - started, "best": search.best_params_,
            "score": search.best_score_}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.worker is not None:
        print(json.dumps(search_seconds(options.worker)))
        return 0
    for _ in range(options.runs):
        for jobs in options.jobs:
            output = subprocess.run([sys.executable, __file__, "--worker", str(jobs)],
                                    check=True, capture_output=True, text=True).stdout
            result = json.loads(output.strip().splitlines()[-1])
            print(f"n_jobs={jobs}: {result['seconds']:.2f} s, best {result['best']} "
                  f"score {result['score']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
