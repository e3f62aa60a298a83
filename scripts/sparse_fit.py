"""fastbp's and scikit-learn's MLPClassifier on a large sparse matrix: fit time, peak memory and
held-out accuracy, each fit in a process of its own.

The data is synthetic TF-IDF-like text: 20,000 training rows (and 5,000 held-out rows) of
100,000 features at 0.1% density (Poisson(100) nonzeros per row, features drawn with Zipf-like
frequencies, uniform values, rows scaled to unit length), labels the argmax of a random linear
function of the row plus noise (5 classes).
It is written once to a .npz file that every child loads, so that making it counts in no
child's memory. Both estimators get the same arguments (``hidden_layer_sizes=(64,)``,
``solver="adam"``, ``max_iter=EPOCHS``, ``random_state=0``, the rest at their defaults; fastbp
in float64, its default).

Each child reports:

* ``fit s``: wall time of ``fit``. fastbp's kernels come from its disk cache (the child first
  fits a tiny sparse problem, which loads or compiles them); ``--cold`` shows the compile too.
* ``RSS MiB``: the child's ``ru_maxrss`` at the end (the whole process: Python, the libraries,
  the loaded data and the fit).
* ``traced MiB``: with ``--tracemalloc``, the peak of memory traced by ``tracemalloc`` during
  ``fit`` above what was allocated before it (NumPy's and SciPy's arrays: the fit's own data
  memory, without the interpreter, libraries or compiled code), in a separate child.
* ``score``: accuracy on the 5,000 held-out rows.

    python scripts/sparse_fit.py --runs 3 --epochs 3
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N_TRAIN, N_TEST, N_FEATURES, DENSITY, N_CLASSES = 20_000, 5_000, 100_000, 0.001, 5


def make_data(path, seed=0):
    """Write the synthetic data set to ``path`` (.npz of the CSR arrays and labels)."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    m = N_TRAIN + N_TEST
    lengths = rng.poisson(DENSITY * N_FEATURES, m)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    # word frequencies fall off as in text (Zipf): some features are in thousands of rows
    frequency = 1.0 / (np.arange(N_FEATURES) + 100.0)
    rank = np.searchsorted(np.cumsum(frequency / frequency.sum()), rng.random(indptr[-1]))
    indices = rng.permutation(N_FEATURES)[np.minimum(rank, N_FEATURES - 1)].astype(np.int32)
    data = rng.random(indptr[-1])
    X = sp.csr_matrix((data, indices, indptr), shape=(m, N_FEATURES))
    X.sum_duplicates()                     # canonical: sorted, no repeated column in a row
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ X)
    weights = rng.standard_normal((N_FEATURES, N_CLASSES))
    scores = np.asarray(X @ weights) + 0.1 * rng.standard_normal((m, N_CLASSES))
    y = scores.argmax(axis=1)
    np.savez(path, data=X.data, indices=X.indices, indptr=X.indptr, y=y)


def load(path):
    import scipy.sparse as sp

    saved = np.load(path)
    X = sp.csr_matrix((saved["data"], saved["indices"], saved["indptr"]),
                      shape=(N_TRAIN + N_TEST, N_FEATURES))
    return X[:N_TRAIN], saved["y"][:N_TRAIN], X[N_TRAIN:], saved["y"][N_TRAIN:]


def child(implementation, path, epochs, traced, cold, seed=0):
    """One fit; prints a JSON line of its measurements."""
    import resource
    import tracemalloc
    import warnings

    warnings.simplefilter("ignore")
    if implementation == "fastbp":
        sys.path.insert(0, ROOT)
        from fastbp import MLPClassifier
    else:
        from sklearn.neural_network import MLPClassifier
    X, y, X_test, y_test = load(path)
    compile_seconds = None
    if implementation == "fastbp" and not cold:
        import scipy.sparse as sp

        started = time.perf_counter()
        tiny = sp.random(50, 30, density=0.1, format="csr", random_state=0)
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=1, batch_size=20).fit(
            tiny, np.arange(50) % N_CLASSES).predict(tiny)
        compile_seconds = time.perf_counter() - started
    model = MLPClassifier(hidden_layer_sizes=(64,), solver="adam", max_iter=epochs,
                          random_state=seed)
    if traced:
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - started
    peak = None
    if traced:
        peak = (tracemalloc.get_traced_memory()[1] - before) / 2**20
        tracemalloc.stop()
    result = {"fit_s": seconds, "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
              / 1024, "traced_mib": peak, "score": float(model.score(X_test, y_test)),
              "n_iter": int(model.n_iter_), "warmup_s": compile_seconds}
    print(json.dumps(result))


def run_child(implementation, path, epochs, traced=False, cold=False, seed=0):
    command = [sys.executable, os.path.abspath(__file__), "--child", implementation,
               "--data", path, "--epochs", str(epochs), "--random-state", str(seed)]
    if traced:
        command.append("--tracemalloc")
    if cold:
        command.append("--cold")
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{implementation} child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def spread(values, digits):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    middle = float(np.median(values))
    if len(values) == 1:
        return f"{middle:.{digits}f}"
    return f"{middle:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--data", default="/tmp/fastbp_sparse_fit.npz")
    parser.add_argument("--only", choices=["fastbp", "sklearn"])
    parser.add_argument("--no-tracemalloc", action="store_true",
                        help="skip the (separate) tracemalloc children")
    parser.add_argument("--cold", action="store_true", help="time fastbp with its compile")
    parser.add_argument("--vary-seed", action="store_true",
                        help="run r uses random_state=r (the score's spread), not 0")
    parser.add_argument("--random-state", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--tracemalloc", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.data, args.epochs, args.tracemalloc, args.cold,
              args.random_state)
        return
    if not os.path.exists(args.data):
        make_data(args.data)
    implementations = [args.only] if args.only else ["sklearn", "fastbp"]
    results = {name: [] for name in implementations}
    traced = {name: [] for name in implementations}
    for run in range(args.runs):
        # alternate, so that a busy machine slows both alike
        for name in implementations:
            results[name].append(run_child(name, args.data, args.epochs, cold=args.cold,
                                           seed=run if args.vary_seed else 0))
            print(name, run, results[name][-1], file=sys.stderr)
    if not args.no_tracemalloc:
        for name in implementations:
            traced[name].append(run_child(name, args.data, args.epochs, traced=True)["traced_mib"])
    print(f"{N_TRAIN} x {N_FEATURES} CSR, density {DENSITY}, hidden (64,), adam, "
          f"{args.epochs} epochs, {args.runs} runs"
          f"{' (random_state = run)' if args.vary_seed else ''}: median (min-max)")
    print(f"| {'':8} | {'fit s':>20} | {'RSS MiB':>20} | {'traced MiB':>10} | {'score':>20} |")
    print(f"|{'-' * 10}|{'-' * 22}|{'-' * 22}|{'-' * 12}|{'-' * 22}|")
    for name in implementations:
        rows = results[name]
        print(f"| {name:8} | {spread([r['fit_s'] for r in rows], 1):>20} | "
              f"{spread([r['rss_mib'] for r in rows], 0):>20} | {spread(traced[name], 0):>10} | "
              f"{spread([r['score'] for r in rows], 3):>20} |")
    if len(implementations) == 2:
        fast, slow = (np.median([r["fit_s"] for r in results[name]]) for name in
                      ("fastbp", "sklearn"))
        print(f"fit time: fastbp is {slow / fast:.1f}x faster (medians)")


if __name__ == "__main__":
    main()
