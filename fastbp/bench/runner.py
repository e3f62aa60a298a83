"""Each implementation in a fresh process with explicit thread settings: the parent and the worker.

The parent (scripts/compare.py, ``fastbp compare``) calls :func:`run_worker` with a task (a JSON
dict) and a :class:`Runner` (an implementation and a thread count); that starts
``python -m fastbp.bench.runner TASK`` with the runner's thread variables, and the worker prints
its result as one JSON line. Separate processes keep thread pools from fighting (an OpenBLAS or
OpenMP pool spins after each call and slows whatever runs next) and give each implementation a
cold start.

Tasks, by ``kind``:

``peak``
    GFLOP/s of an OpenBLAS matrix product (scripts/compare.py's machine peak).
``train``
    Warm up and time one workload on generated data with :func:`trainers.measure_epoch_seconds`
    (scripts/compare.py).
``fit``
    ``fastbp compare``: train a fixed number of epochs on the arrays of an ``.npz`` file from the
    starting parameters stored there, after a separate warm-up, and score the held-out examples.
``course-loop``
    Time one implementation of the course's training loop per iteration
    (:mod:`fastbp.bench.course_loop`, scripts/compare.py).
"""
import dataclasses
import importlib
import json
import math
import os
import statistics
import subprocess
import sys
import time
import traceback

from . import system

#: Seconds a worker may take (a cold fastbp compiles for about a minute per dtype).
WORKER_TIMEOUT = 1200
#: Thread-count environment variables cleared before each worker gets its own.
THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS", "OMP_WAIT_POLICY")
#: Variables that pin OpenBLAS to an older kernel. Some machines set them for old OpenBLAS builds
#: (``OPENBLAS_CORETYPE=Haswell`` stops a current one from using AVX-512); workers run without
#: them so that NumPy, scikit-learn and the peak run the kernel OpenBLAS picks for this CPU (the
#: tables print which one it ran).
BLAS_PINNING_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
RESULT_PREFIX = "COMPARE-RESULT "
#: Peers' libraries that may be missing: a worker that cannot import one reports a skip.
OPTIONAL_MODULES = ("torch", "sklearn", "threadpoolctl")
#: The module each implementation trains with.
LIBRARIES = {"fastbp": "fastbp", "reference": "fastbp.reference", "lean": "numpy",
             "torch": "torch", "sklearn": "sklearn.neural_network"}
#: Implementations that compute with NumPy's OpenBLAS, and with Numba's threads (fastbp's kernels;
#: the course-loop names are those of :data:`fastbp.bench.course_loop.IMPLEMENTATIONS`).
BLAS_IMPLEMENTATIONS = ("reference", "lean", "sklearn", "peak", "numpy")
NUMBA_IMPLEMENTATIONS = ("fastbp", "fastbp.course", "L_layer_model")


@dataclasses.dataclass(frozen=True)
class Runner:
    """One implementation at one thread count.

    Parameters
    ----------
    implementation : str
        ``fastbp``, ``reference``, ``lean``, ``torch``, ``sklearn``, ``peak``, or a course-loop
        implementation (``numpy``, ``fastbp.course``, ``L_layer_model``).
    threads : int or None
        Threads of the pool the implementation computes with; None leaves that pool at the
        library's default (its variables unset, no ``set_num_threads`` call): how a user who
        sets nothing runs it.
    """

    implementation: str
    threads: int = None

    @property
    def label(self):
        """The thread count as tables show it: a number, or ``default``."""
        return "default" if self.threads is None else str(self.threads)

    def environment(self):
        """The thread variables this runner's process starts with.

        Only the pool the implementation computes with gets ``threads`` (or is left unset, for
        the library's default); every other pool gets one thread, so that no idle pool is there
        to spin or oversubscribe the cores.
        """
        name = self.implementation
        numba = name in NUMBA_IMPLEMENTATIONS
        # fastbp's Numba omp layer and torch's intra-op pool are OpenMP pools
        pools = {"NUMBA_NUM_THREADS": numba, "OMP_NUM_THREADS": numba or name == "torch",
                 "OPENBLAS_NUM_THREADS": name in BLAS_IMPLEMENTATIONS,
                 "MKL_NUM_THREADS": name == "torch"}
        return {variable: str(self.threads if computes else 1)
                for variable, computes in pools.items()
                if not (computes and self.threads is None)}

    def setting(self):
        """The thread settings as text: the environment, plus the library call if there is one."""
        env = " ".join(f"{key}={value}" for key, value in self.environment().items())
        name = self.implementation
        call = ("numba.set_num_threads" if name in NUMBA_IMPLEMENTATIONS else
                "torch.set_num_threads" if name == "torch" else None)
        if self.threads is None:
            unset = [key for key in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS",
                                     "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
                     if key not in self.environment()]
            return f"{env}; {', '.join(unset)} unset (the library's default)"
        return f"{env}; {call}({self.threads})" if call else env


# ----------------------------------------------------------------------------------- the parent
def run_worker(task, runner, timeout=WORKER_TIMEOUT):
    """Run ``task`` in a subprocess with ``runner``'s thread environment; return its result.

    The result is the worker's dict, or ``{"error": ...}`` if it failed or timed out. A task
    the implementation cannot run (a missing library, an activation it lacks) comes back as
    ``{"skipped": reason}``.
    """
    env = {key: value for key, value in os.environ.items()
           if key not in THREAD_VARIABLES + BLAS_PINNING_VARIABLES}
    env.update(runner.environment())
    command = [sys.executable, "-m", "fastbp.bench.runner", json.dumps(task)]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    return {"error": f"worker exited with {done.returncode}: {done.stderr.strip()[-2000:]}"}


# ----------------------------------------------------------------------------------- the worker
def worker_main(task):
    """Run one task in this (fresh) process and print its JSON result on one line."""
    try:
        result = TASKS[task["kind"]](task)
    except NotImplementedError as reason:
        result = {"skipped": str(reason)}
    except Exception as error:
        if isinstance(error, ModuleNotFoundError) and error.name in OPTIONAL_MODULES:
            result = {"skipped": f"{error.name} is not installed"}
        else:
            result = {"error": traceback.format_exc(limit=8)}
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def set_threads(runner):
    """Set the thread count through the library's own call as well as the environment.

    A runner at the default thread count (None) calls nothing.
    """
    if runner.threads is None:
        return
    if runner.implementation in NUMBA_IMPLEMENTATIONS:
        import numba

        numba.set_num_threads(runner.threads)
    elif runner.implementation == "torch":
        import torch

        torch.set_num_threads(runner.threads)


def trainer_class(implementation):
    """The trainer class of an implementation: fastbp, reference, lean, torch or sklearn."""
    from . import peers, trainers

    return dict(trainers.TRAINERS, **peers.PEERS)[implementation]


def _peak_task(task):
    """GFLOP/s of an OpenBLAS matrix product C = A·B of two n×n matrices."""
    import numpy as np

    n, dtype = task["size"], np.dtype(task["dtype"])
    rng = np.random.default_rng(0)
    A, B = rng.random((n, n)).astype(dtype), rng.random((n, n)).astype(dtype)
    C = np.empty((n, n), dtype)
    np.matmul(A, B, out=C)  # warm-up: page in C, start the BLAS threads
    seconds = []
    before = system.cpu_snapshot()
    for _ in range(task["repeat"]):
        started = time.perf_counter()
        np.matmul(A, B, out=C)
        seconds.append(time.perf_counter() - started)
    flops = 2.0 * n ** 3
    return {"median": flops / float(np.median(seconds)) / 1e9, "best": flops / min(seconds) / 1e9,
            "seconds": seconds, "other_cores": system.other_cores(before, system.cpu_snapshot()),
            "observed_threads": system.observed_threads("peak")}


def _train_task(task):
    """Warm up and time one implementation on one workload (scripts/compare.py)."""
    from . import trainers, workloads

    runner = Runner(task["implementation"], task["threads"])
    set_threads(runner)
    workload = workloads.Workload.from_dict(task["workload"])
    started = time.perf_counter()
    trainer = trainer_class(runner.implementation)(workload, learning_rate=task["learning_rate"])
    trainer.train(1)  # compiles (fastbp), first touches every buffer
    warmup = time.perf_counter() - started
    before = system.cpu_snapshot()
    timing = trainers.measure_epoch_seconds(trainer, task["seconds"], task["repeat"])
    timing["other_cores"] = system.other_cores(before, system.cpu_snapshot())
    timing["finite"] = math.isfinite(timing["cost"])
    timing["cost"] = timing["cost"] if timing["finite"] else str(timing["cost"])
    return dict(timing, warmup_seconds=warmup,
                observed_threads=system.observed_threads(runner.implementation))


def _fit_task(task):
    """``fastbp compare``: warm up, train ``epochs`` epochs ``repeat`` times, score held out.

    Task keys: ``implementation``, ``threads``, ``workload`` (a dict), ``data`` (an ``.npz``
    path with ``X_train``, ``Y_train``, ``X_test``, ``Y_test`` in the course's layout and the
    starting parameters as ``param_W1``, ``param_b1``, ...), ``epochs``, ``repeat``,
    ``learning_rate`` and ``seed``.
    """
    import numpy as np

    from . import trainers, workloads

    runner = Runner(task["implementation"], task["threads"])
    cls = trainer_class(runner.implementation)
    set_threads(runner)
    # import the library now, so that the warm-up below measures its first epoch, not its import
    importlib.import_module(LIBRARIES[runner.implementation])
    workload = workloads.Workload.from_dict(task["workload"])
    with np.load(task["data"], allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    parameters = {key[len("param_"):]: value for key, value in arrays.items()
                  if key.startswith("param_")}

    def build():
        return cls(workload, seed=task["seed"], learning_rate=task["learning_rate"],
                   data=(arrays["X_train"], arrays["Y_train"]), parameters=parameters)

    # the warm-up trainer is thrown away: the timed runs all start from the shared parameters
    started = time.perf_counter()
    warm = build()
    warm.train(1)  # fastbp compiles its kernels here, or loads them from Numba's disk cache
    warm.outputs(arrays["X_test"])
    warmup = time.perf_counter() - started
    del warm
    timing, trainer = time_fixed_epochs(build, task["epochs"], task["repeat"])
    outputs = trainer.outputs(arrays["X_test"])
    finite = math.isfinite(timing["cost"]) and bool(np.isfinite(outputs).all())
    score = trainers.score_outputs(outputs, arrays["Y_test"], workload.output) if finite else None
    result = dict(timing, warmup_seconds=warmup, score=score, finite=finite,
                  observed_threads=system.observed_threads(runner.implementation))
    result["cost"] = timing["cost"] if math.isfinite(timing["cost"]) else str(timing["cost"])
    if runner.implementation == "fastbp":
        result["kernels"] = system.kernel_origin()
    return result


def time_fixed_epochs(build, epochs, repeat):
    """Time ``repeat`` runs of exactly ``epochs`` epochs, each from a freshly built trainer.

    Building is not timed. Every run starts from the same parameters and seeds, so each ends
    with the same network (up to floating-point reduction order in multithreaded peers): the
    score of the last one is the score of all.

    Parameters
    ----------
    build : callable
        Returns a new trainer in its starting state (already warmed up in this process).
    epochs, repeat : int

    Returns
    -------
    timing : dict
        ``seconds`` (per-epoch time of each run), ``median``, ``min`` (seconds per epoch),
        ``cost`` (the last epoch's cost), and ``other_cores``, the cores other processes kept
        busy over all the runs, which lasted ``span_seconds`` (the kernel counts CPU time in
        ticks of 10 ms, so over a fraction of a second this is noise).
    trainer : the last run's trainer
    """
    seconds = []
    before = system.cpu_snapshot()
    for _ in range(repeat):
        trainer = build()
        started = time.perf_counter()
        cost = trainer.train(epochs)
        seconds.append((time.perf_counter() - started) / epochs)
    after = system.cpu_snapshot()
    if cost is None:  # a trainer that evaluates no cost while training (lean NumPy)
        cost = trainer.cost()
    return ({"seconds": seconds, "median": statistics.median(seconds), "min": min(seconds),
             "other_cores": system.other_cores(before, after), "span_seconds": after[0] - before[0],
             "cost": float(cost)}, trainer)


def _course_loop_task(task):
    """Time one implementation of the course's loop per iteration (scripts/compare.py)."""
    from . import course_loop

    runner = Runner(task["implementation"], task["threads"])
    set_threads(runner)
    before = system.cpu_snapshot()
    result = course_loop.measure_iteration_seconds(runner.implementation, task["iterations"],
                                                   task["repeat"])
    result["other_cores"] = system.other_cores(before, system.cpu_snapshot())
    result["finite"] = math.isfinite(result["cost"])
    result["cost"] = result["cost"] if result["finite"] else str(result["cost"])
    result["observed_threads"] = system.observed_threads(
        "fastbp" if runner.implementation in NUMBA_IMPLEMENTATIONS else runner.implementation)
    return result


TASKS = {"peak": _peak_task, "train": _train_task, "fit": _fit_task,
         "course-loop": _course_loop_task}


def main(argv=None):
    """``python -m fastbp.bench.runner TASK``: run one JSON task (how :func:`run_worker` calls)."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m fastbp.bench.runner TASK_JSON", file=sys.stderr)
        return 2
    worker_main(json.loads(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
