"""Does long use grow a process's memory? Thousands of fits and predictions in one process.

Measures the resident set size (RSS, from /proc/self/statm) and Python's own allocations
(tracemalloc) after a warm-up and after ``--fits`` more fits with predictions, for
``fastbp.Network`` and for ``fastbp.MLPClassifier``, and one fit of ``--epochs`` epochs against one
of a tenth as many. Prints growth per thousand fits. Run it with the package's compiled kernels
in the cache (a first run compiles them and measures the compiler too):

    python scripts/memory_growth.py --fits 2000 --epochs 20000
"""
import argparse
import gc
import os
import tracemalloc
import warnings

import numpy as np


def rss_mib():
    """Resident set size of this process, in MiB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(name, step, warmup, count):
    """Run ``step(i)`` ``warmup`` times, then ``count`` times more; returns growth figures."""
    for i in range(warmup):
        step(i)
    gc.collect()
    tracemalloc.start()
    rss_before = rss_mib()
    traced_before, _ = tracemalloc.get_traced_memory()
    for i in range(count):
        step(warmup + i)
    gc.collect()
    traced_after, peak = tracemalloc.get_traced_memory()
    rss_after = rss_mib()
    tracemalloc.stop()
    per_thousand = 1000 / count
    result = dict(name=name, calls=count, rss_before_mib=rss_before, rss_after_mib=rss_after,
                  rss_growth_mib_per_1000=(rss_after - rss_before) * per_thousand,
                  traced_growth_kib_per_1000=(traced_after - traced_before) / 1024 * per_thousand,
                  traced_peak_kib=peak / 1024)
    print(f"{name}: {count} calls, RSS {rss_before:.1f} -> {rss_after:.1f} MiB "
          f"({result['rss_growth_mib_per_1000']:+.2f} MiB per 1000), tracemalloc "
          f"{result['traced_growth_kib_per_1000']:+.1f} KiB per 1000 (peak {peak / 1024:.0f} KiB)")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=20000)
    options = parser.parse_args(argv)

    from sklearn.exceptions import ConvergenceWarning

    from fastbp import MLPClassifier, Network

    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 64))
    Y = np.eye(3)[:, rng.integers(0, 3, 64)]
    labels = Y.argmax(axis=0)

    def network_fit(i):
        net = Network([8, 16, 3], output="softmax", seed=i)
        net.fit(X, Y, epochs=3, batch_size=16, optimizer="adam", learning_rate=0.01)
        net.predict(X)
        net.cost(X, Y)

    def estimator_fit(i):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = MLPClassifier(hidden_layer_sizes=(16,), max_iter=3, random_state=i)
            model.fit(X.T, labels)
        model.predict_proba(X.T)

    shared = Network([8, 16, 3], output="softmax", seed=0)

    def refit(i):
        # one network fitted again and again: workspaces must be reused, not piled up
        shared.fit(X, Y, epochs=1, batch_size=16)
        shared.forward(X[:, : 1 + i % 64])

    results = [measure("Network fit + predict + cost", network_fit, 100, options.fits),
               measure("MLPClassifier fit + predict_proba", estimator_fit, 100, options.fits),
               measure("one Network, fit(epochs=1) + forward", refit, 100, options.fits)]

    # a long run against a short one: the same memory but for the history (8 + 24 B per epoch)
    for epochs in (options.epochs // 10, options.epochs):
        net = Network([8, 16, 3], output="softmax", seed=0)
        net.fit(X, Y, epochs=1)
        gc.collect()
        tracemalloc.start()
        net.fit(X, Y, epochs=epochs, batch_size=16)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"fit(epochs={epochs}): tracemalloc peak {peak / 1024:.0f} KiB "
              f"({peak / epochs:.1f} B per epoch, the history's float and list slot included)")
    return results


if __name__ == "__main__":
    main()
