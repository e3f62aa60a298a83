"""asv benchmarks: one epoch of plain SGD, forward and backward, fastbp beside the NumPy reference
and lean NumPy; and the course's training loop, per iteration.

The workloads and trainers are fastbp's own (:mod:`fastbp.bench`), shared with scripts/compare.py
and the ``fastbp compare`` command. Every ``Training`` benchmark is parameterised over workload
(``workloads.ASV_WORKLOADS``) x dtype x implementation; ``CourseLoop`` over the three
implementations of the course's loop (:mod:`fastbp.bench.course_loop`). asv runs each
(benchmark, parameters) pair in a fresh process, so:

* ``setup_cache`` runs once, before everything else, in a process of its own: it trains every
  workload for one epoch with fastbp in both dtypes, which compiles each kernel fastbp uses into
  Numba's on-disk cache (about a minute per dtype when the cache is cold);
* ``setup`` then only loads the compiled kernels (well under a second), builds the data and the
  network and runs one epoch plus a forward/backward pass, so no timing includes compilation.

asv passes ``setup_cache``'s return value as the first argument of ``setup`` and of every
benchmark method of the class, before the parameters.
"""
import time
import tracemalloc

from fastbp.bench import course_loop, trainers
from fastbp.bench.workloads import ASV_WORKLOADS, DTYPES, flops_per_epoch


class Training:
    """Training throughput and propagation time of each workload."""

    params = (list(ASV_WORKLOADS), list(DTYPES), ["fastbp", "reference", "lean"])
    param_names = ["workload", "dtype", "implementation"]
    # a process whose kernels were invalidated (fastbp edited mid-run) recompiles in setup
    timeout = 300

    #: Timed training per track_* benchmark: short, as each runs in every asv invocation.
    TRACK_SECONDS = 0.3
    TRACK_REPEAT = 3

    def setup_cache(self):
        """Compile fastbp's kernels for every workload and dtype into Numba's disk cache.

        Returns
        -------
        dict
            Seconds each warm-up took, by ``"workload-dtype"`` (mostly compilation when cold).
        """
        seconds = {}
        for name, workload in ASV_WORKLOADS.items():
            for dtype in DTYPES:
                started = time.perf_counter()
                trainer = trainers.make_trainer("fastbp", workload, dtype)
                trainer.train(1)
                trainer.forward_backward()
                seconds[f"{name}-{dtype}"] = time.perf_counter() - started
        return seconds

    setup_cache.timeout = 1200

    def setup(self, warmup_seconds, workload, dtype, implementation):
        self.workload = ASV_WORKLOADS[workload]
        self.trainer = trainers.make_trainer(implementation, self.workload, dtype)
        # first epoch and first backward: load the compiled kernels, allocate workspaces
        self.trainer.train(1)
        self.trainer.forward_backward()

    def time_epoch(self, *params):
        """One epoch as a user calls it: ``fit(epochs=1)`` or one ``sgd_epoch``."""
        self.trainer.train(1)

    def time_forward(self, *params):
        """Forward propagation of all m examples."""
        self.trainer.forward()

    def time_backward(self, *params):
        """Forward then backward propagation of all m examples (the full-batch gradient)."""
        self.trainer.forward_backward()

    def peakmem_fit(self, *params):
        """Peak memory of a process that built the data and network and trained one epoch."""
        self.trainer.train(1)

    def track_fit_allocated_mib(self, warmup_seconds, workload, dtype, implementation):
        """Peak memory allocated while a fresh trainer trains 3 epochs, in MiB.

        Counted with ``tracemalloc`` (NumPy arrays, fastbp's workspaces included), from a trainer
        whose data already exist, so it compares what the two implementations allocate to train
        rather than what their processes load (``peakmem_fit`` includes Numba and its compiled
        code, tens of MiB that the NumPy reference's process never loads).
        """
        trainer = trainers.make_trainer(implementation, self.workload, dtype)
        tracemalloc.start()
        try:
            trainer.train(3)
            return tracemalloc.get_traced_memory()[1] / 2**20
        finally:
            tracemalloc.stop()

    track_fit_allocated_mib.unit = "MiB"

    def _epoch_seconds(self):
        """Per-epoch time with many epochs per call, measured as scripts/compare.py does.

        The best of the short runs: on a shared machine it is the estimate least disturbed by
        other processes, which matters more than the median for spotting regressions between
        commits.
        """
        return trainers.measure_epoch_seconds(self.trainer, self.TRACK_SECONDS,
                                              self.TRACK_REPEAT)["min"]

    def track_examples_per_second(self, *params):
        """Training examples processed per second (best of short runs of many epochs)."""
        return self.workload.m / self._epoch_seconds()

    track_examples_per_second.unit = "examples/s"

    def track_gflops(self, *params):
        """Training GFLOP/s: ``workloads.flops_per_epoch`` over the best epoch time."""
        return flops_per_epoch(self.workload) / self._epoch_seconds() / 1e9

    track_gflops.unit = "GFLOP/s"


class CourseLoop:
    """The course's training loop (12288-20-7-5-1, m=209, float64), per iteration.

    ``numpy`` is the course's loop on the course's NumPy functions, ``fastbp.course`` the same
    loop on fastbp.course's, ``L_layer_model`` fastbp.course's own loop
    (:mod:`fastbp.bench.course_loop`).
    """

    params = [list(course_loop.IMPLEMENTATIONS)]
    param_names = ["implementation"]
    timeout = 300

    def setup_cache(self):
        """Compile fastbp.course's kernels (float64) into Numba's disk cache; returns seconds."""
        started = time.perf_counter()
        X, Y = course_loop.make_data()
        course_loop.trainer("L_layer_model")(X, Y, 1)
        course_loop.trainer("fastbp.course")(X, Y, 1)
        return time.perf_counter() - started

    setup_cache.timeout = 1200

    def setup(self, warmup_seconds, implementation):
        self.X, self.Y = course_loop.make_data()
        self.train = course_loop.trainer(implementation)
        self.train(self.X, self.Y, 1)  # load the compiled kernels, first touch of every buffer

    def track_ms_per_iteration(self, warmup_seconds, implementation):
        """Milliseconds per iteration of a call of ``course_loop.ITERATIONS`` iterations."""
        started = time.perf_counter()
        self.train(self.X, self.Y, course_loop.ITERATIONS)
        return (time.perf_counter() - started) / course_loop.ITERATIONS * 1e3

    track_ms_per_iteration.unit = "ms"
