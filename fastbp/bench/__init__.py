"""Benchmark code shared by the ``fastbp compare`` command, scripts/compare.py and the asv suite.

``import fastbp`` never imports this subpackage, and importing it imports nothing heavy: NumPy,
scikit-learn, torch and matplotlib are imported by the functions that need them.

Modules
-------
workloads
    What is trained: :class:`~fastbp.bench.workloads.Workload` (network, data, batch size,
    dtype), the standard workloads and their generated data and shared starting parameters.
trainers
    What "one epoch" of plain SGD is for fastbp, the NumPy reference (:mod:`fastbp.reference`) and
    lean NumPy, the held-out score of any trainer, and
    :func:`~fastbp.bench.trainers.measure_epoch_seconds`.
lean
    The leanest vectorized NumPy epoch (the seeds' math as a speed-minded user writes it): the
    NumPy speed baseline.
course_loop
    The ``course-loop`` workload: the course's training loop on the course's NumPy functions, on
    :mod:`fastbp.course`'s, and ``fastbp.course.L_layer_model``, timed per iteration.
peers
    The same training written with PyTorch and with scikit-learn.
estimator_cases
    fastbp's estimators beside scikit-learn's on the same arguments (issue 12's estimator table).
runner
    Each implementation in its own process with explicit thread settings
    (``python -m fastbp.bench.runner``): :class:`~fastbp.bench.runner.Runner`,
    :func:`~fastbp.bench.runner.run_worker` and the worker's tasks.
system
    The machine: CPU, library versions, cores kept busy by other processes, thread pools.
compare
    The ``fastbp compare`` command: one data set, every implementation side by side.
"""
