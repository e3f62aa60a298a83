"""The ``fastbp compare`` command: one data set, one network, every implementation side by side.

The parent process reads and splits the data (:mod:`fastbp._datasets`), draws the starting
parameters once (the course's initialization, :func:`fastbp.reference.init_parameters`) and writes
both to a temporary ``.npz`` file. Each implementation then runs in its own process
(:func:`fastbp.bench.runner.run_worker`, task ``fit``) with its thread variables set: it trains a
throwaway copy for one epoch first (fastbp compiles its kernels or loads them from Numba's disk
cache, thread pools start), then trains ``epochs`` epochs from the shared parameters ``repeat``
times, timing each run, and scores the held-out examples. The parent prints one markdown table.
"""
import dataclasses
import importlib.util
import os
import sys
import tempfile

from . import runner as runners
from . import system

#: Implementations in table order, with their display names.
IMPLEMENTATIONS = {"fastbp": "fastbp", "reference": "NumPy reference", "lean": "lean NumPy",
                   "torch": "PyTorch", "sklearn": "scikit-learn"}
#: The module each implementation needs beyond fastbp's own dependencies.
OPTIONAL = {"torch": ("torch", "pip install torch")}

DEFAULTS = dict(dataset="digits", hidden="128", activation="relu", epochs=30, batch_size=64,
                learning_rate=0.2, dtype="float32", seed=0, test_size=0.2, repeat=5)
#: The digits' pixels are 0..16: compare divides them by 16, as the benchmark workload does.
DIGITS_RANGE = 16.0
#: Cores busy with other processes above which a row's time is flagged as unreliable, and the
#: shortest timed span over which that load can be measured (CPU time is counted in 10 ms ticks).
BUSY_CORES = 0.3
BUSY_MIN_SECONDS = 0.5


@dataclasses.dataclass
class Row:
    implementation: str
    threads: int
    result: dict

    @property
    def label(self):
        return IMPLEMENTATIONS[self.implementation]

    @property
    def ok(self):
        return "median" in self.result and self.result.get("finite", True)

    def problem(self):
        """One line: why the row has no time (skipped, failed or diverged)."""
        if "skipped" in self.result:
            return "skipped: " + self.result["skipped"]
        if "error" in self.result:
            lines = self.result["error"].strip().splitlines()
            return "failed: " + (lines[-1] if lines else "unknown error")
        return f"diverged (final cost {self.result.get('cost')})"


def choose(peers):
    """The implementations named by a comma-separated ``--peers`` value, in table order.

    Validation only, silent: unknown or no names raise ValueError. None chooses all.
    """
    if peers is None:
        return list(IMPLEMENTATIONS)
    chosen = [name.strip() for name in peers.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in IMPLEMENTATIONS]
    if unknown:
        raise ValueError(f"unknown implementation {unknown[0]!r} in --peers; expected a "
                         f"comma-separated list of {', '.join(IMPLEMENTATIONS)}")
    if not chosen:
        raise ValueError("--peers is empty; expected a comma-separated list of "
                         + ", ".join(IMPLEMENTATIONS))
    return [name for name in IMPLEMENTATIONS if name in chosen]


def available(chosen):
    """The chosen implementations whose libraries are installed, and a note for each other.

    Returns
    -------
    runnable : list of str
    notes : list of str
        One line per implementation dropped because its library is missing. The caller prints
        them only once every argument has been validated, so that a user error is the only line
        a failed command prints.

    Raises
    ------
    ValueError
        When none of ``chosen`` can run (the message names what is missing).
    """
    runnable, notes, missing = [], [], []
    for name in chosen:
        if name in OPTIONAL and importlib.util.find_spec(OPTIONAL[name][0]) is None:
            module, install = OPTIONAL[name]
            notes.append(f"note: {module} is not installed: skipping {IMPLEMENTATIONS[name]} "
                         f"({install} to compare with it)")
            missing.append(f"{module} is not installed ({install})")
            continue
        runnable.append(name)
    if not runnable:
        raise ValueError("none of the implementations in --peers can run here: "
                         + "; ".join(missing))
    return runnable, notes


def select(peers, err):
    """:func:`choose` then :func:`available`, printing the notes on ``err``."""
    runnable, notes = available(choose(peers))
    for note in notes:
        print(note, file=err)
    return runnable


def run(options, out=None, err=None):
    """Run ``fastbp compare`` with parsed ``options``; return the exit status.

    ``options`` has the attributes of :data:`DEFAULTS` plus ``peers``, ``threads``, ``target``,
    ``task`` and ``hidden_sizes`` / ``hidden_activation`` (parsed by the CLI).
    """
    import numpy as np

    from .. import _datasets, reference
    from . import workloads

    out = out or sys.stdout
    err = err or sys.stderr
    threads = options.threads or system.available_cpus()
    if threads < 1:
        raise ValueError(f"--threads must be at least 1, got {threads}")
    if options.repeat < 1:
        raise ValueError(f"--repeat must be at least 1, got {options.repeat}")
    # every argument (peers, data set, file, split) is checked before anything is printed, so a
    # user error is the only line a failed command prints (notes go to stderr too)
    implementations, notes = available(choose(options.peers))
    dataset = _datasets.load(options.dataset, options.target, options.task)
    scale = DIGITS_RANGE if dataset.name == "digits" else None
    data = _datasets.split(dataset, options.test_size, options.seed, feature_scale=scale)
    for note in notes:
        print(note, file=err)
    dtype = np.dtype(options.dtype)
    dims = (data.X_train.shape[0], *options.hidden_sizes, data.n_outputs)
    workload = workloads.Workload(
        name=os.path.basename(dataset.name), layer_dims=dims, output=data.output,
        m=data.X_train.shape[1], batch_size=options.batch_size, dtype=dtype.name,
        data=os.path.basename(dataset.name), hidden=options.hidden_activation)
    parameters = reference.init_parameters(dims, np.random.default_rng(options.seed), dtype)
    other_start = system.measure_other_cores(0.5)
    rows = []
    with tempfile.TemporaryDirectory(prefix="fastbp-compare-") as folder:
        path = os.path.join(folder, "data.npz")
        np.savez(path, X_train=data.X_train.astype(dtype), Y_train=data.Y_train.astype(dtype),
                 X_test=data.X_test.astype(dtype), Y_test=data.Y_test.astype(dtype),
                 **{f"param_{key}": value for key, value in parameters.items()})
        for name in implementations:
            print(f"running {IMPLEMENTATIONS[name]} ({threads} thread"
                  f"{'' if threads == 1 else 's'}) in its own process ...", file=err, flush=True)
            task = {"kind": "fit", "implementation": name, "threads": threads,
                    "workload": workload.to_dict(), "data": path, "epochs": options.epochs,
                    "repeat": options.repeat, "learning_rate": options.learning_rate,
                    "seed": options.seed}
            rows.append(Row(name, threads, runners.run_worker(task, runners.Runner(name,
                                                                                   threads))))
    report(rows, data, workload, options, other_start, out)
    failed = [row for row in rows if not row.ok and "skipped" not in row.result]
    for row in failed:
        print(f"fastbp compare: {row.label} {row.problem()}", file=err)
    return 1 if failed else 0


def report(rows, data, workload, options, other_start, out):
    """Print the header, the table and the notes, ending with fastbp's speedup."""
    machine = system.machine_info()
    score_name = "held-out R²" if data.output == "linear" else "held-out accuracy"
    scaling = ("features divided by 16" if workload.data == "digits" else
               "features standardized on the training split")
    if data.output == "linear":
        scaling += ", targets too"
    dims = "-".join(str(n) for n in workload.layer_dims)
    hidden = f"{workload.hidden} hidden, " if len(workload.layer_dims) > 2 else ""
    batch = "full batch" if workload.full_batch else f"batch {workload.batch_size}"
    print(f"# fastbp compare: {workload.name}\n", file=out)
    print(f"- Data: {data.summary()}; {scaling}", file=out)
    print(f"- Network: {dims}, {hidden}{workload.output} output, {workload.dtype}; plain SGD, "
          f"learning rate {options.learning_rate:g}, {batch}, {options.epochs} epochs, seed "
          f"{options.seed}", file=out)
    print("- Every implementation starts from the same parameters and trains on the same split, "
          "each in its own process; each shuffles the minibatches with its own generator, so "
          "scores differ a little", file=out)
    print(f"- Machine: {machine['cpu']}, {machine['logical_cpus']} logical CPU(s); other "
          f"processes kept {other_start:.2f} cores busy at the start (from /proc/stat)\n",
          file=out)

    reference = next((row for row in rows if row.implementation == "reference" and row.ok), None)
    header = ["implementation", "threads", score_name, "ms/epoch", "speedup vs reference",
              "first epoch"]
    table = []
    for row in rows:
        r = row.result
        if not row.ok:
            table.append([row.label, str(row.threads), _shorten(row.problem()), "", "", ""])
            continue
        speedup = _ratio(reference.result["median"] / r["median"]) if reference else "–"
        table.append([row.label, str(row.threads), f"{r['score']:.4f}",
                      _ms(r["median"] * 1e3), speedup, _seconds(r["warmup_seconds"])])
    _print_table(header, table, out)

    runs = "1 run" if options.repeat == 1 else f"median of {options.repeat} runs"
    print(f"\nms/epoch: {runs} of {options.epochs} epochs, each from the starting parameters "
          "(fastbp trains a run's epochs in one fit call, its compiled loop; the others loop "
          "over epochs in Python, as their users do); speedup = the reference's ms/epoch / the "
          "row's. Not timed: the first epoch (\"first epoch\" column), run beforehand on a "
          "throwaway copy, where fastbp's Numba kernels are compiled or loaded from the disk "
          "cache and thread pools start.", file=out)
    fastbp = next((row for row in rows if row.implementation == "fastbp" and row.ok), None)
    if fastbp is not None:
        seconds = fastbp.result["warmup_seconds"]
        origin = fastbp.result.get("kernels")
        if origin == "compiled":
            print(f"fastbp's kernels: compiled by Numba in this run (first epoch {seconds:.1f} s, "
                  f"once per machine and dtype); they are now cached on disk, so the next run "
                  "loads them in about a second.", file=out)
        elif origin == "cache":
            print(f"fastbp's kernels: loaded from Numba's disk cache (first epoch {seconds:.1f} "
                  "s); compiling them afresh takes about a minute per dtype, once per machine.",
                  file=out)
    print("Threads, one process per row:", file=out)
    for row in rows:
        observed = row.result.get("observed_threads")
        setting = runners.Runner(row.implementation, row.threads).setting()
        print(f"- {row.label}: {setting}" + (f" (observed: {observed})" if observed else ""),
              file=out)
    busy = [(row.label, row.result["other_cores"]) for row in rows
            if row.ok and row.result.get("other_cores", 0) > BUSY_CORES
            and row.result.get("span_seconds", 0) >= BUSY_MIN_SECONDS]
    for label, cores in busy:
        print(f"Warning: other processes kept {cores:.2f} cores busy while {label} was timed; its "
              "time measures the machine more than the library.", file=out)

    if fastbp is not None and reference is not None:
        ratio = reference.result["median"] / fastbp.result["median"]
        each = "1 thread each" if fastbp.threads == 1 else f"{fastbp.threads} threads each"
        if ratio >= 1:
            print(f"\nfastbp is {_ratio(ratio)} faster per epoch than the NumPy reference "
                  f"({each}).", file=out)
        else:
            print(f"\nfastbp is {_ratio(1 / ratio)} slower per epoch than the NumPy reference "
                  f"({each}).", file=out)


def _print_table(header, rows, out):
    """A markdown table padded into columns, readable in a terminal too."""
    widths = [max(len(line[i]) for line in [header] + rows) for i in range(len(header))]
    numeric = [False, True, True, True, True, True]

    def cells(line):
        return "| " + " | ".join(
            (text.rjust(width) if numeric[i] and line is not header else text.ljust(width))
            for i, (text, width) in enumerate(zip(line, widths))) + " |"

    print(cells(header), file=out)
    print("|" + "|".join("-" * (width + 1) + (":" if numeric[i] else "-")
                         for i, width in enumerate(widths)) + "|", file=out)
    for line in rows:
        print(cells(line), file=out)


def _ratio(value):
    """``12x``, ``1.9x``, ``1.0x``, ``0.31x``, ``0.052x``."""
    if value >= 10:
        return f"{value:.0f}x"
    return f"{value:.1f}x" if value >= 1 else f"{value:.2g}x"


def _seconds(value):
    return f"{value:.2f} s" if value < 1 else f"{value:.1f} s"


def _shorten(text, limit=90):
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _ms(value):
    return f"{value:.4f}" if value < 0.1 else f"{value:.3f}" if value < 10 else f"{value:.1f}"
