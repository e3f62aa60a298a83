#!/usr/bin/env python
"""Time one epoch of plain SGD in fastbp and its peers, each in its own process, and tabulate.

For every workload (``asv_bench/benchmarks/workloads.py``: tiny, course, digits, mnist, plus any
given with ``--workload``) this runs, each in a fresh subprocess with explicit thread settings:

* fastbp with 2 Numba threads (the baseline of every ratio) and with 1;
* the vectorized NumPy reference (``fastbp.reference.sgd_epoch``), NumPy's OpenBLAS with 2 threads
  and with 1;
* PyTorch with 1 and with 2 threads (when torch imports);
* scikit-learn's MLPClassifier/MLPRegressor (one ``partial_fit`` per epoch, see
  ``scripts/peers.py``), OpenBLAS with 2 threads and with 1;

and, also in its own processes, a 2048x2048 OpenBLAS matrix product per dtype, the machine's
practical peak. Separate processes keep thread pools from fighting (an OpenBLAS or OpenMP pool
spins after each call and slows whatever runs next) and give each implementation a cold start.

Each worker builds the data and the shared starting parameters, warms up (compilation and the
first epoch), calibrates an epoch count so that its timed runs last about ``--seconds`` together,
times ``--repeat`` runs and reports the per-epoch median and minimum, and how many cores other
processes kept busy meanwhile. fastbp runs all epochs of a run in one ``fit`` call, its design;
the others loop in Python as their users do.

Usage::

    python scripts/compare.py                                   # everything, a few minutes
    python scripts/compare.py --quick --workloads tiny digits   # a fast look
    python scripts/compare.py --workload 100-50-1:sigmoid:m=500:batch=50:float64 --png cmp.png

The workload definitions are imported from ``asv_bench/benchmarks`` rather than the reverse: asv
imports only its ``benchmark_dir``, while a script can put any directory on ``sys.path``.
"""
import argparse
import dataclasses
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "asv_bench"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmarks import trainers, workloads  # noqa: E402

#: Side of the square matrices of the peak measurement.
PEAK_SIZE = 2048
#: Seconds a worker may take (a cold fastbp compiles for about a minute per dtype).
WORKER_TIMEOUT = 1200
#: Thread-count environment variables cleared before each worker gets its own.
THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS", "OMP_WAIT_POLICY")
RESULT_PREFIX = "COMPARE-RESULT "


@dataclasses.dataclass(frozen=True)
class Runner:
    """One implementation at one thread count.

    Parameters
    ----------
    implementation : {"fastbp", "reference", "torch", "sklearn", "peak"}
    threads : int
    """

    implementation: str
    threads: int

    def environment(self):
        """The thread variables this runner's process starts with.

        Only the pool the implementation computes with gets ``threads``; every other pool gets
        one thread, so that no idle pool is there to spin or oversubscribe the two cores.
        """
        numba_threads = self.threads if self.implementation == "fastbp" else 1
        blas_threads = self.threads if self.implementation in ("reference", "sklearn",
                                                               "peak") else 1
        # fastbp's Numba omp layer and torch's intra-op pool are OpenMP pools
        omp_threads = self.threads if self.implementation in ("fastbp", "torch") else 1
        return {"NUMBA_NUM_THREADS": str(numba_threads),
                "OMP_NUM_THREADS": str(omp_threads),
                "OPENBLAS_NUM_THREADS": str(blas_threads),
                "MKL_NUM_THREADS": str(omp_threads if self.implementation == "torch" else 1)}


#: The comparison's rows, baseline first.
RUNNERS = (Runner("fastbp", 2), Runner("fastbp", 1), Runner("reference", 2),
           Runner("reference", 1), Runner("torch", 1), Runner("torch", 2), Runner("sklearn", 2),
           Runner("sklearn", 1))
BASELINE = RUNNERS[0]


# ----------------------------------------------------------------------------------- the workers
def worker_main(task):
    """Run one task in this (fresh) process and print its JSON result on one line."""
    try:
        if task["kind"] == "peak":
            result = _peak_task(task)
        else:
            result = _train_task(task)
    except NotImplementedError as reason:
        result = {"skipped": str(reason)}
    except Exception:
        result = {"error": traceback.format_exc(limit=8)}
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def _peak_task(task):
    """GFLOP/s of an OpenBLAS matrix product C = A·B of two n×n matrices."""
    import numpy as np

    n, dtype = task["size"], np.dtype(task["dtype"])
    rng = np.random.default_rng(0)
    A, B = rng.random((n, n)).astype(dtype), rng.random((n, n)).astype(dtype)
    C = np.empty((n, n), dtype)
    np.matmul(A, B, out=C)  # warm-up: page in C, start the BLAS threads
    seconds = []
    before = _cpu_snapshot()
    for _ in range(task["repeat"]):
        started = time.perf_counter()
        np.matmul(A, B, out=C)
        seconds.append(time.perf_counter() - started)
    flops = 2.0 * n ** 3
    return {"median": flops / float(np.median(seconds)) / 1e9, "best": flops / min(seconds) / 1e9,
            "seconds": seconds, "other_cores": _other_cores(before, _cpu_snapshot()),
            "observed_threads": _observed_threads("peak")}


def _train_task(task):
    """Warm up and time one implementation on one workload."""
    import peers

    runner = Runner(task["implementation"], task["threads"])
    _set_threads(runner)
    workload = workloads.Workload.from_dict(task["workload"])
    registry = dict(trainers.TRAINERS, **peers.PEERS)
    started = time.perf_counter()
    trainer = registry[runner.implementation](workload, learning_rate=task["learning_rate"])
    trainer.train(1)  # compiles (fastbp), first touches every buffer
    warmup = time.perf_counter() - started
    before = _cpu_snapshot()
    timing = trainers.measure_epoch_seconds(trainer, task["seconds"], task["repeat"])
    timing["other_cores"] = _other_cores(before, _cpu_snapshot())
    timing["finite"] = math.isfinite(timing["cost"])
    timing["cost"] = timing["cost"] if timing["finite"] else str(timing["cost"])
    return dict(timing, warmup_seconds=warmup,
                observed_threads=_observed_threads(runner.implementation))


def _cpu_snapshot():
    """Wall time, this process's CPU time and the whole machine's busy CPU time, in seconds."""
    own = os.times()
    try:
        ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        # user nice system idle iowait irq softirq steal ...: everything but idle and iowait
        busy = (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        busy = float("nan")
    return time.perf_counter(), own.user + own.system, busy


def _other_cores(before, after):
    """Cores kept busy by other processes between two snapshots (0 on a quiet machine).

    The load average is no guide here: it counts waiting tasks the CPU counters do not, and other
    sandboxes on the same kernel are invisible to ``ps`` but not to ``/proc/stat``.
    """
    wall = after[0] - before[0]
    others = (after[2] - before[2]) - (after[1] - before[1])
    return max(0.0, others / wall) if wall > 0 else float("nan")


def measure_other_cores(seconds=1.0):
    """Cores busy with other work while this process sleeps for ``seconds``."""
    before = _cpu_snapshot()
    time.sleep(seconds)
    return _other_cores(before, _cpu_snapshot())


def _set_threads(runner):
    """Set the thread count through the library's own call as well as the environment."""
    if runner.implementation == "fastbp":
        import numba

        numba.set_num_threads(runner.threads)
    elif runner.implementation == "torch":
        import torch

        torch.set_num_threads(runner.threads)


def _observed_threads(implementation):
    """What the worker's thread pools actually are, after the work ran."""
    parts = []
    if implementation == "fastbp":
        import numba

        try:
            layer = numba.threading_layer()
        except ValueError:  # no parallel region ran: every kernel was small enough to be serial
            layer = "no parallel region ran"
        parts.append(f"numba {numba.get_num_threads()} ({layer})")
    if implementation == "torch":
        import torch

        parts.append(f"torch intra-op {torch.get_num_threads()}, "
                     f"inter-op {torch.get_num_interop_threads()}")
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            name = pool.get("internal_api", "?")
            detail = pool.get("architecture") or Path(pool.get("filepath", "")).name
            parts.append(f"{name} {pool.get('num_threads')} ({detail})")
    except ImportError:
        pass
    return ", ".join(parts)


# ----------------------------------------------------------------------------------- the parent
def run_worker(task, runner):
    """Run ``task`` in a subprocess with ``runner``'s thread environment; return its result."""
    env = {key: value for key, value in os.environ.items() if key not in THREAD_VARIABLES}
    env.update(runner.environment())
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(task)]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=WORKER_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {WORKER_TIMEOUT} s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    return {"error": f"worker exited with {done.returncode}: {done.stderr.strip()[-2000:]}"}


def measure_peaks(repeat, when):
    """Median and best GFLOP/s of the OpenBLAS product, by ``"dtype/threads"``.

    Run at the start and at the end (``when``), as other processes come and go.
    """
    peaks = {}
    for dtype in workloads.DTYPES:
        for threads in (2, 1):
            task = {"kind": "peak", "dtype": dtype, "size": PEAK_SIZE, "repeat": repeat}
            peaks[f"{dtype}/{threads}"] = run_worker(task, Runner("peak", threads))
            _progress(f"peak at the {when}, {dtype}, {threads} thread(s): "
                      f"{peaks[f'{dtype}/{threads}'].get('median', float('nan')):.1f} GFLOP/s")
    return peaks


def run_workload(workload, runners, options):
    """Results of every runner on one workload, in runner order."""
    rows = []
    for runner in runners:
        task = {"kind": "train", "implementation": runner.implementation,
                "threads": runner.threads, "workload": workload.to_dict(),
                "seconds": options.seconds, "repeat": options.repeat,
                "learning_rate": trainers.LEARNING_RATE}
        result = run_worker(task, runner)
        rows.append({"implementation": runner.implementation, "threads": runner.threads,
                     **result})
        _progress(f"{workload.name}: {runner.implementation} ({runner.threads} thread(s)): "
                  + _summary(result))
    return rows


def _summary(result):
    if "median" in result:
        return (f"{result['median'] * 1e3:.3f} ms/epoch, warm-up "
                f"{result['warmup_seconds']:.1f} s, cost {result['cost']}")
    return result.get("skipped") or result.get("error", "?").strip().splitlines()[-1]


def _progress(message):
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------- reporting
def machine_info():
    """CPU model, core counts, SIMD flags, platform and load average of this machine."""
    model, flags, cores_per_socket, sockets = "unknown", set(), None, set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = (part.strip() for part in line.partition(":"))
            if key == "model name":
                model = value
            elif key == "flags":
                flags = set(value.split())
            elif key == "cpu cores":
                cores_per_socket = int(value)
            elif key == "physical id":
                sockets.add(value)
    except OSError:
        pass
    physical = cores_per_socket * max(1, len(sockets)) if cores_per_socket else None
    return {"cpu": model, "logical_cpus": os.cpu_count(), "physical_cores": physical,
            "simd": [flag for flag in ("avx2", "fma", "avx512f") if flag in flags],
            "platform": platform.platform(), "load_average": list(os.getloadavg())}


def library_versions():
    """Versions of Python and the libraries compared (read without importing them)."""
    versions = {"python": platform.python_version()}
    for package in ("fastbp", "numpy", "numba", "scikit-learn", "torch", "threadpoolctl"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    versions["fastbp commit"] = _git_commit()
    return versions


def _git_commit():
    """Short commit of the working tree, with ``+dirty`` when it has local changes."""
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "fastbp"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty (uncommitted changes in fastbp/)" if dirty else "")


def print_header(report):
    """The machine, versions, peaks and thread settings, as markdown."""
    machine, versions = report["machine"], report["versions"]
    start, end = report["peaks"]["start"], report["peaks"]["end"]
    print("# fastbp vs peers: one epoch of plain SGD\n")
    print(f"- CPU: {machine['cpu']}, {machine['physical_cores']} physical core(s), "
          f"{machine['logical_cpus']} logical CPU(s), {'+'.join(machine['simd']) or 'no AVX2'}")
    print(f"- Platform: {machine['platform']}")
    print(f"- Cores busy with other processes (from /proc/stat while idle): "
          f"{report['other_cores_start']:.2f} at the start, {report['other_cores_end']:.2f} at "
          f"the end; load average {_load(machine['load_average'])} at the start")
    print("- Versions: " + ", ".join(f"{name} {version}" for name, version in versions.items()))
    blas = start.get("float64/2", {}).get("observed_threads", "")
    print(f"- NumPy's BLAS (threadpoolctl in the peak worker): {blas or 'unknown'}")
    print(f"- Learning rate {trainers.LEARNING_RATE} everywhere; timed runs of about "
          f"{report['options']['seconds']} s per worker in {report['options']['repeat']} "
          "repeats; times are medians")
    print(f"\n## Peak: OpenBLAS matrix product {PEAK_SIZE}x{PEAK_SIZE} (median GFLOP/s)\n")
    print("| dtype | 2 threads, start | 2 threads, end | 1 thread, start | 1 thread, end | "
          "peak used for % |")
    print("|---|---|---|---|---|---|")
    for dtype in workloads.DTYPES:
        cells = [_peak_cell(peaks.get(f"{dtype}/{threads}", {}))
                 for threads in (2, 1) for peaks in (start, end)]
        used = peak_gflops(report, dtype)
        print(f"| {dtype} | {' | '.join(cells)} | {used:.1f} |" if used else
              f"| {dtype} | {' | '.join(cells)} | – |")
    if not _warn_if_contended(start):
        _warn_if_contended(end)
    print("\n## Thread settings (each row runs in its own process)\n")
    print("| implementation | threads | environment | observed in the worker |")
    print("|---|---|---|---|")
    for runner in report["runners"]:
        observed = _first_observed(report, runner)
        env = " ".join(f"{k}={v}" for k, v in Runner(**runner).environment().items())
        extra = {"fastbp": "numba.set_num_threads", "torch": "torch.set_num_threads"}.get(
            runner["implementation"])
        setting = f"{env}; {extra}({runner['threads']})" if extra else env
        print(f"| {runner['implementation']} | {runner['threads']} | {setting} | {observed} |")
    print()


def _warn_if_contended(peaks):
    """Say so when two threads barely beat one: the cores are busy with other work."""
    for dtype in workloads.DTYPES:
        two = peaks.get(f"{dtype}/2", {}).get("median")
        one = peaks.get(f"{dtype}/1", {}).get("median")
        if two and one and two < 1.3 * one:
            print(f"\n**Warning**: the {dtype} product ran at {two:.1f} GFLOP/s on 2 threads and "
                  f"{one:.1f} on 1: another process is using the cores, so every 2-thread row "
                  "(whose threads wait for each other at each barrier) is unreliable here.")
            return True
    return False


def peak_gflops(report, dtype):
    """The 2-thread OpenBLAS peak of ``dtype``: the higher of the start and end medians."""
    medians = [report["peaks"][when].get(f"{dtype}/2", {}).get("median")
               for when in ("start", "end")]
    medians = [value for value in medians if value]
    return max(medians) if medians else None


def _load(values):
    return " / ".join(f"{value:.2f}" for value in values)


def _peak_cell(peak):
    if "median" not in peak:
        return peak.get("error", "failed").strip().splitlines()[-1]
    return f"{peak['median']:.1f}"


def _first_observed(report, runner):
    """The pools reported by the first worker of ``runner`` that ran."""
    for entry in report["workloads"]:
        for row in entry["results"]:
            if (row["implementation"], row["threads"]) == (runner["implementation"],
                                                           runner["threads"]):
                if "observed_threads" in row:
                    return row["observed_threads"]
    return "(did not run)"


def print_tables(report):
    """One markdown table per workload."""
    for entry in report["workloads"]:
        workload = workloads.Workload.from_dict(entry["workload"])
        flops = workloads.flops_per_epoch(workload)
        peak = peak_gflops(report, workload.dtype)
        baseline = next((row.get("median") for row in entry["results"]
                         if (row["implementation"], row["threads"]) ==
                         (BASELINE.implementation, BASELINE.threads)), None)
        print(f"## {workload.name}: {workload.describe()}\n")
        print(f"{_flops_text(flops)} per epoch, {workload.steps_per_epoch} step(s) per epoch\n")
        print(f"| implementation | threads | ms/epoch | min ms | ratio | GFLOP/s | "
              f"% of {workload.dtype} peak | other load |")
        print("|---|---|---|---|---|---|---|---|")
        for row in entry["results"]:
            print(_table_row(row, flops, baseline, peak))
        print()
    print(f"ratio = implementation's median / fastbp ({BASELINE.threads} threads) median: "
          "above 1 means fastbp is faster. GFLOP/s = 6·m·Σ n_l·n_(l-1) − 2·m·n_1·n_0 per epoch "
          f"over the median epoch time; % of the same dtype's 2-thread OpenBLAS peak above. "
          "other load = cores busy with other processes while the row was timed: with 2 "
          "threads on 2 cores, anything above ~0.3 makes every barrier wait for a time slice, "
          "and such a row measures the machine, not the library.")


def _table_row(row, flops, baseline, peak):
    name, threads = row["implementation"], row["threads"]
    if "median" not in row:
        reason = row.get("skipped") or row.get("error", "failed").strip().splitlines()[-1]
        return f"| {name} | {threads} | {reason} | | | | | |"
    ms = row["median"] * 1e3
    gflops = flops / row["median"] / 1e9
    ratio = f"{row['median'] / baseline:.2f}" if baseline else "–"
    percent = f"{100 * gflops / peak:.1f}%" if peak else "–"
    if not row["finite"]:
        name += f" (cost {row['cost']}!)"
    return (f"| {name} | {threads} | {_ms(ms)} | {_ms(row['min'] * 1e3)} | {ratio} | "
            f"{gflops:.2f} | {percent} | {row['other_cores']:.2f} |")


def _ms(value):
    return f"{value:.4f}" if value < 0.1 else f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _flops_text(flops):
    for unit, scale in (("GFLOP", 1e9), ("MFLOP", 1e6), ("kFLOP", 1e3)):
        if flops >= scale:
            return f"{flops / scale:.3g} {unit}"
    return f"{flops} FLOP"


def save_png(report, path):
    """Grouped bar chart of ms per epoch, log scale: workloads along x, one bar per runner."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = [entry["workload"]["name"] for entry in report["workloads"]]
    runners = [(r["implementation"], r["threads"]) for r in report["runners"]]
    width = 0.8 / len(runners)
    figure, axes = plt.subplots(figsize=(max(6, 1.8 * len(names) + 2), 4.5))
    for i, (implementation, threads) in enumerate(runners):
        heights = []
        for entry in report["workloads"]:
            row = next((row for row in entry["results"]
                        if (row["implementation"], row["threads"]) == (implementation, threads)),
                       {})
            heights.append(row["median"] * 1e3 if "median" in row else np.nan)
        axes.bar(np.arange(len(names)) + (i - (len(runners) - 1) / 2) * width, heights, width,
                 label=f"{implementation} ({threads} thr)")
    axes.set_yscale("log")
    # custom workloads are named by their spec: break it at the colons
    axes.set_xticks(np.arange(len(names)), [name.replace(":", "\n") for name in names],
                    fontsize="small")
    axes.set_ylabel("ms per epoch (median, log scale)")
    axes.set_title("One epoch of plain SGD (lower is better)")
    axes.legend(fontsize="small", ncol=2)
    axes.grid(axis="y", which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


# ----------------------------------------------------------------------------------- the CLI
def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", nargs="*", choices=sorted(workloads.WORKLOADS),
                        metavar="NAME", help="built-in workloads to run (default: all of "
                        f"{', '.join(workloads.WORKLOADS)}); give none to run only --workload")
    parser.add_argument("--workload", action="append", default=[], type=_workload_arg,
                        metavar="SPEC", help="an extra workload, repeatable: "
                        + workloads.SPEC_HELP)
    parser.add_argument("--implementations", nargs="+",
                        choices=sorted({runner.implementation for runner in RUNNERS}),
                        help="implementations to run (default: all; fastbp always runs, it is "
                        "the baseline)")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per worker "
                        "(default 5, 3 with --quick)")
    parser.add_argument("--seconds", type=float, default=None, help="total timed seconds per "
                        "worker (default 1.5, 0.3 with --quick)")
    parser.add_argument("--quick", action="store_true", help="short timings, for a look")
    parser.add_argument("--png", metavar="PATH", help="save a bar chart of ms per epoch")
    parser.add_argument("--json", metavar="PATH", help="save every measurement as JSON")
    parser.add_argument("--worker", metavar="TASK", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    options.repeat = options.repeat or (3 if options.quick else 5)
    options.seconds = options.seconds or (0.3 if options.quick else 1.5)
    if options.repeat < 1 or options.seconds <= 0:
        parser.error("--repeat and --seconds must be positive")
    return options


def _workload_arg(spec):
    try:
        return workloads.parse_workload(spec)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def select_runners(options):
    """The runners to use: the chosen implementations, torch only when it is installed."""
    chosen = set(options.implementations or [r.implementation for r in RUNNERS]) | {"fastbp"}
    runners = [runner for runner in RUNNERS if runner.implementation in chosen]
    if importlib.util.find_spec("torch") is None:
        _progress("torch is not installed: skipping the PyTorch rows")
        runners = [runner for runner in runners if runner.implementation != "torch"]
    return runners


def main(argv=None):
    options = parse_args(argv)
    if options.worker:
        worker_main(json.loads(options.worker))
        return 0
    started = time.perf_counter()
    names = list(workloads.WORKLOADS) if options.workloads is None else options.workloads
    selected = [workloads.WORKLOADS[name] for name in names] + options.workload
    if not selected:
        raise SystemExit("no workload selected")
    runners = select_runners(options)
    report = {"machine": machine_info(), "versions": library_versions(),
              "options": {"seconds": options.seconds, "repeat": options.repeat,
                          "quick": options.quick},
              "runners": [dataclasses.asdict(runner) for runner in runners]}
    report["other_cores_start"] = measure_other_cores()
    report["peaks"] = {"start": measure_peaks(options.repeat, "start")}
    report["workloads"] = [{"workload": workload.to_dict(),
                            "flops_per_epoch": workloads.flops_per_epoch(workload),
                            "results": run_workload(workload, runners, options)}
                           for workload in selected]
    report["peaks"]["end"] = measure_peaks(options.repeat, "end")
    report["other_cores_end"] = measure_other_cores()
    report["elapsed_seconds"] = time.perf_counter() - started
    print_header(report)
    print_tables(report)
    print(f"\n(total {report['elapsed_seconds']:.0f} s)")
    if options.json:
        Path(options.json).write_text(json.dumps(report, indent=1))
    if options.png:
        save_png(report, options.png)
    bad = [(entry["workload"]["name"], row["implementation"]) for entry in report["workloads"]
           for row in entry["results"] if "median" in row and not row["finite"]]
    if bad:
        _progress(f"non-finite final cost: {bad}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
