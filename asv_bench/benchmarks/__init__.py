"""fastbp's asv benchmark suite (fastbp beside the vectorized NumPy reference and lean NumPy, and
the course's training loop).

Run from ``asv_bench/`` (asv needs a machine description once per machine; ``--yes`` accepts the
detected values non-interactively)::

    asv machine --yes                    # once: writes ~/.asv-machine.json
    asv check --python=same              # import and signature check, runs nothing
    asv run --python=same --quick        # every benchmark once, in the current environment
    asv run --python=same                # full statistics on the working tree
    asv run main~5..main                 # commits of main, each built into its own virtualenv

``bench_training.py`` is the suite. The workloads and their data (``fastbp/bench/workloads.py``,
``fastbp/bench/course_loop.py``) and what "one epoch" of each implementation is
(``fastbp/bench/trainers.py``, ``fastbp/bench/lean.py``) live in the package,
shared with ``scripts/compare.py`` and the ``fastbp compare`` command (PyTorch and scikit-learn
are compared there, not here). asv imports ``fastbp.bench`` from the fastbp it benchmarks, so
commits from before ``fastbp.bench`` existed cannot be run with this suite. fastbp uses Numba's
default thread count (one per core) and the reference and lean NumPy's OpenBLAS with its default
(one per core).
"""
