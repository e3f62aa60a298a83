"""asv benchmarks: fastbp's MLPClassifier / MLPRegressor beside scikit-learn's, same arguments.

The cases of issue 12's estimator table (:mod:`fastbp.bench.estimator_cases`, shared with
scripts/estimators_vs_sklearn.py): each fit runs a fixed number of epochs in float64 at the
libraries' default threads, keeping scikit-learn's plateau count as the estimators' defaults do.
asv runs each (benchmark, parameters) pair in a fresh process; ``setup_cache`` first fits every
case once with fastbp, which compiles its kernels into Numba's disk cache, and ``setup`` fits
once more, so that no timing includes compilation or loading.
"""
import time

from fastbp.bench.estimator_cases import CASES, LIBRARIES, fit_seconds, load_data


class Estimators:
    """Milliseconds per epoch of a whole ``fit`` (its per-fit work spread over the epochs)."""

    params = (list(CASES), list(LIBRARIES))
    param_names = ["case", "library"]
    timeout = 300

    #: Epochs per timed fit, and timed fits per measurement (the best is reported).
    EPOCHS = 30
    FITS = 3

    def setup_cache(self):
        """Compile fastbp's estimator kernels (float64) into Numba's disk cache.

        Returns
        -------
        float
            Seconds it took (mostly compilation when the cache is cold).
        """
        started = time.perf_counter()
        for case in CASES:
            fit_seconds("fastbp", case, 2, *load_data(case))
        return time.perf_counter() - started

    setup_cache.timeout = 1200

    def setup(self, warmup_seconds, case, library):
        self.X, self.y = load_data(case)
        fit_seconds(library, case, 2, self.X, self.y)   # load the kernels, allocate once

    def track_ms_per_epoch(self, warmup_seconds, case, library):
        """Best of ``FITS`` fits of ``EPOCHS`` epochs, per epoch, in milliseconds."""
        best = min(fit_seconds(library, case, self.EPOCHS, self.X, self.y)[0]
                   for _ in range(self.FITS))
        return best / self.EPOCHS * 1e3

    track_ms_per_epoch.unit = "ms"
