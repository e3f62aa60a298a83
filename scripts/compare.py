#!/usr/bin/env python
"""Time one epoch of plain SGD in fastbp and its peers, each in its own process, and tabulate.

For every workload (``fastbp/bench/workloads.py``: tiny, course, digits, mnist, plus any given
with ``--workload``) this runs, each in a fresh subprocess with stated thread settings:

* fastbp at its default thread settings (no ``NUMBA_NUM_THREADS``: Numba's default, one thread
  per core), the baseline of every ratio, and at any counts given with ``--fastbp-threads``;
* the vectorized NumPy reference (``fastbp.reference.sgd_epoch``), NumPy's OpenBLAS with 2 threads
  and with 1;
* lean NumPy (``fastbp/bench/lean.py``: the same math as a speed-minded user writes it, no cost,
  in-place updates), OpenBLAS with 2 threads and with 1;
* PyTorch with 1 and with 2 threads (when torch imports);
* scikit-learn's MLPClassifier/MLPRegressor (one ``partial_fit`` per epoch, see
  ``fastbp/bench/peers.py``), OpenBLAS with 2 threads and with 1;

and, also in its own processes, a 2048x2048 OpenBLAS matrix product per dtype, the machine's
practical peak. The summary compares fastbp with the best peer: the fastest of lean NumPy, the
reference and PyTorch at either thread count.

The ``course-loop`` workload (``fastbp/bench/course_loop.py``) is timed per iteration rather than
per epoch: the course's training loop on the course's NumPy functions (OpenBLAS with 2 threads and
with 1), the same loop on ``fastbp.course``'s functions and ``fastbp.course.L_layer_model`` (both
at fastbp's default threads), 100 iterations per call after a warm-up call. Separate processes keep thread pools from fighting (an OpenBLAS or OpenMP pool
spins after each call and slows whatever runs next) and give each implementation a cold start.

Each worker builds the data and the shared starting parameters, warms up (compilation and the
first epoch), calibrates an epoch count so that its timed runs last about ``--seconds`` together,
times ``--repeat`` runs and reports the per-epoch median and minimum, and how many cores other
processes kept busy meanwhile. fastbp runs all epochs of a run in one ``fit`` call, its design;
the others loop in Python as their users do.

Usage::

    python scripts/compare.py                                   # everything, a few minutes
    python scripts/compare.py --quick --workloads tiny digits   # a fast look
    python scripts/compare.py --workloads course-loop           # only the course's loop
    python scripts/compare.py --fastbp-threads 1 2              # fastbp at 1 and 2 threads too
    python scripts/compare.py --workload 100-50-1:sigmoid:m=500:batch=50:float64 --png cmp.png

The workloads, trainers, worker processes and machine probes live in ``fastbp.bench``, which the
asv suite and the ``fastbp compare`` command use too; this script adds the peak measurement
rows, the calibrated timings and the report.
"""
import argparse
import dataclasses
import importlib.util
import json
import sys
import time
from pathlib import Path

from fastbp.bench import course_loop, system, trainers, workloads
from fastbp.bench.runner import Runner, run_worker

ROOT = Path(__file__).resolve().parents[1]

#: Side of the square matrices of the peak measurement.
PEAK_SIZE = 2048

#: fastbp at its default thread settings: the baseline of every ratio. ``--fastbp-threads``
#: adds rows of fastbp at fixed thread counts.
BASELINE = Runner("fastbp", None)
#: The comparison's rows, baseline first.
RUNNERS = (BASELINE, Runner("reference", 2), Runner("reference", 1), Runner("lean", 2),
           Runner("lean", 1), Runner("torch", 1), Runner("torch", 2), Runner("sklearn", 2),
           Runner("sklearn", 1))
#: The name of the course-loop workload, and its rows: the NumPy loop (the baseline of its ratios)
#: at both OpenBLAS thread counts, fastbp's two at their default threads.
COURSE_LOOP = "course-loop"
COURSE_LOOP_RUNNERS = (Runner("numpy", 2), Runner("numpy", 1), Runner("fastbp.course", None),
                       Runner("L_layer_model", None))


# ----------------------------------------------------------------------------------- the parent
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
        _progress(f"{workload.name}: {runner.implementation} ({runner.label} thread(s)): "
                  + _summary(result))
    return rows


def run_course_loop(options):
    """Results of every course-loop runner, in runner order."""
    rows = []
    for runner in COURSE_LOOP_RUNNERS:
        task = {"kind": "course-loop", "implementation": runner.implementation,
                "threads": runner.threads, "iterations": course_loop.ITERATIONS,
                "repeat": options.repeat}
        result = run_worker(task, runner)
        rows.append({"implementation": runner.implementation, "threads": runner.threads,
                     **result})
        _progress(f"{COURSE_LOOP}: {runner.implementation} ({runner.label} thread(s)): "
                  + (f"{result['median'] * 1e3:.3f} ms/iteration, warm-up "
                     f"{result['warmup_seconds']:.1f} s, cost {result['cost']}"
                     if "median" in result else _summary(result)))
    return rows


def _summary(result):
    if "median" in result:
        return (f"{result['median'] * 1e3:.3f} ms/epoch, warm-up "
                f"{result['warmup_seconds']:.1f} s, cost {result['cost']}")
    return result.get("skipped") or result.get("error", "?").strip().splitlines()[-1]


def _progress(message):
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------- reporting
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
        setting = Runner(**runner).setting()
        print(f"| {runner['implementation']} | {Runner(**runner).label} | {setting} | "
              f"{observed} |")
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
    print("ratio = implementation's median / fastbp's median at its default thread settings: "
          "above 1 means fastbp is faster. GFLOP/s = 6·m·Σ n_l·n_(l-1) − 2·m·n_1·n_0 per epoch "
          f"over the median epoch time; % of the same dtype's 2-thread OpenBLAS peak above. "
          "other load = cores busy with other processes while the row was timed: with 2 "
          "threads on 2 cores, anything above ~0.3 makes every barrier wait for a time slice, "
          "and such a row measures the machine, not the library.\n")


#: Speed-up over the best peer each built-in workload is meant to reach (issue 12's table: the
#: fastest of lean NumPy, the reference and PyTorch, each at its faster thread count).
TARGETS = {"tiny": 20.0, "course": 2.0, "digits": 4.0, "mnist": 1.25}
#: The peers a target is measured against: the fastest of these, at its faster thread count.
TARGET_PEERS = ("lean", "reference", "torch")


def best_peer(entry):
    """The row of the fastest target peer (:data:`TARGET_PEERS`, finite cost) in one
    workload's entry of the report, or None."""
    peers = [row for row in entry["results"] if "median" in row and row["finite"]
             and row["implementation"] in TARGET_PEERS]
    return min(peers, key=lambda row: row["median"]) if peers else None


def print_summary(report):
    """One row per workload: the best peer against fastbp at its default thread settings.

    Rows of fastbp at other thread counts (``--fastbp-threads``) get a column of their own.
    """
    others = sorted({runner["threads"] for runner in report["runners"]
                     if runner["implementation"] == "fastbp" and runner["threads"] is not None})
    print("## Summary\n")
    print("| workload | fastbp (default threads) | best peer | best peer / fastbp | target |"
          + "".join(f" fastbp, {n} thread(s) (best peer / it) |" for n in others))
    print("|---|---|---|---|---|" + "---|" * len(others))
    for entry in report["workloads"]:
        rows = [row for row in entry["results"] if "median" in row and row["finite"]]
        ours = {row["threads"]: row for row in rows if row["implementation"] == "fastbp"}
        peer = best_peer(entry)
        default = ours.get(BASELINE.threads)
        if not (peer and default):
            continue
        target = TARGETS.get(entry["workload"]["name"])
        target_text = "–" if target is None else f"≥ {target:g}x"
        cells = [f"{_ms(ours[n]['median'] * 1e3)} ms ({peer['median'] / ours[n]['median']:.2f}x)"
                 if n in ours else "–" for n in others]
        print(f"| {entry['workload']['name']} | {_ms(default['median'] * 1e3)} ms | "
              f"{peer['implementation']} ({peer['threads']} thr) {_ms(peer['median'] * 1e3)} ms | "
              f"{peer['median'] / default['median']:.2f}x | {target_text} |"
              + "".join(f" {cell} |" for cell in cells))
    print("\nbest peer = the fastest of " + ", ".join(TARGET_PEERS) + " at 1 or 2 threads.\n")


def print_course_loop(rows):
    """The course-loop table: ms per iteration and each row's time over the NumPy loop's."""
    print(f"## {COURSE_LOOP}: the course's training loop, "
          f"{'-'.join(map(str, course_loop.LAYER_DIMS))} (relu hidden, sigmoid output), "
          f"m={course_loop.M}, {course_loop.DTYPE}, learning rate {course_loop.LEARNING_RATE}, "
          "full batch\n")
    numpy_rows = [row for row in rows if row["implementation"] == "numpy" and "median" in row]
    baseline = min(numpy_rows, key=lambda row: row["median"]) if numpy_rows else None
    print("| implementation | threads | ms/iteration | min ms | time / NumPy loop's | "
          "cost after | first call |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        runner = Runner(row["implementation"], row["threads"])
        name = f"{row['implementation']}: {course_loop.IMPLEMENTATIONS[row['implementation']]}"
        if "median" not in row:
            reason = row.get("skipped") or row.get("error", "failed").strip().splitlines()[-1]
            print(f"| {name} | {runner.label} | {reason} | | | | |")
            continue
        ratio = f"{row['median'] / baseline['median']:.2f}" if baseline else "–"
        print(f"| {name} | {runner.label} | {_ms(row['median'] * 1e3)} | "
              f"{_ms(row['min'] * 1e3)} | {ratio} | {row['cost']} | "
              f"{row['warmup_seconds']:.2f} s |")
    print(f"\nms/iteration: median of timed calls of {course_loop.ITERATIONS} iterations each "
          "(the initialization included, as in every call of the course's L_layer_model), after "
          "a warm-up call of one iteration; time / NumPy loop's = the row's median over the "
          "faster NumPy row's (below 1: faster than the course's NumPy). cost after = the cost "
          "of the trained parameters, the same for all rows up to rounding. Threads:")
    for row in rows:
        runner = Runner(row["implementation"], row["threads"])
        print(f"- {row['implementation']} ({runner.label}): {runner.setting()}"
              + (f" (observed: {row['observed_threads']})" if row.get("observed_threads")
                 else ""))
    print()


def _table_row(row, flops, baseline, peak):
    name, threads = row["implementation"], Runner(row["implementation"], row["threads"]).label
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

    if not report["workloads"]:
        return  # only the course loop ran: it has its own table, no chart
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
                 label=f"{implementation} ({Runner(implementation, threads).label} thr)")
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
    builtin = list(workloads.WORKLOADS) + [COURSE_LOOP]
    parser.add_argument("--workloads", nargs="*", choices=builtin,
                        metavar="NAME", help="built-in workloads to run (default: all of "
                        f"{', '.join(builtin)}); give none to run only --workload")
    parser.add_argument("--workload", action="append", default=[], type=_workload_arg,
                        metavar="SPEC", help="an extra workload, repeatable: "
                        + workloads.SPEC_HELP)
    parser.add_argument("--implementations", nargs="+",
                        choices=sorted({runner.implementation for runner in RUNNERS}),
                        help="implementations to run (default: all; fastbp always runs, it is "
                        "the baseline)")
    parser.add_argument("--fastbp-threads", nargs="+", type=int, default=[], metavar="N",
                        help="also run fastbp with N Numba threads (NUMBA_NUM_THREADS=N and "
                        "numba.set_num_threads(N)), e.g. 1 2; the baseline is always fastbp at "
                        "its default thread settings")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per worker "
                        "(default 5, 3 with --quick)")
    parser.add_argument("--seconds", type=float, default=None, help="total timed seconds per "
                        "worker (default 1.5, 0.3 with --quick)")
    parser.add_argument("--quick", action="store_true", help="short timings, for a look")
    parser.add_argument("--png", metavar="PATH", help="save a bar chart of ms per epoch")
    parser.add_argument("--json", metavar="PATH", help="save every measurement as JSON")
    options = parser.parse_args(argv)
    options.repeat = options.repeat or (3 if options.quick else 5)
    options.seconds = options.seconds or (0.3 if options.quick else 1.5)
    if options.repeat < 1 or options.seconds <= 0:
        parser.error("--repeat and --seconds must be positive")
    if any(n < 1 for n in options.fastbp_threads):
        parser.error("--fastbp-threads must be positive")
    return options


def _workload_arg(spec):
    try:
        return workloads.parse_workload(spec)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def select_runners(options):
    """The runners to use: the chosen implementations, torch only when it is installed."""
    chosen = set(options.implementations or [r.implementation for r in RUNNERS]) | {"fastbp"}
    extra = [Runner("fastbp", n) for n in dict.fromkeys(options.fastbp_threads)]
    runners = [runner for runner in RUNNERS[:1] + tuple(extra) + RUNNERS[1:]
               if runner.implementation in chosen]
    if importlib.util.find_spec("torch") is None:
        _progress("torch is not installed: skipping the PyTorch rows")
        runners = [runner for runner in runners if runner.implementation != "torch"]
    return runners


def main(argv=None):
    options = parse_args(argv)
    started = time.perf_counter()
    names = list(workloads.WORKLOADS) + [COURSE_LOOP] if options.workloads is None else \
        options.workloads
    selected = [workloads.WORKLOADS[name] for name in names if name != COURSE_LOOP] \
        + options.workload
    if not selected and COURSE_LOOP not in names:
        raise SystemExit("no workload selected")
    runners = select_runners(options)
    report = {"machine": system.machine_info(), "versions": system.library_versions(ROOT),
              "options": {"seconds": options.seconds, "repeat": options.repeat,
                          "quick": options.quick},
              "runners": [dataclasses.asdict(runner) for runner in runners]}
    report["other_cores_start"] = system.measure_other_cores()
    report["peaks"] = {"start": measure_peaks(options.repeat, "start")}
    report["workloads"] = [{"workload": workload.to_dict(),
                            "flops_per_epoch": workloads.flops_per_epoch(workload),
                            "results": run_workload(workload, runners, options)}
                           for workload in selected]
    if COURSE_LOOP in names:
        report["course_loop"] = run_course_loop(options)
    report["peaks"]["end"] = measure_peaks(options.repeat, "end")
    report["other_cores_end"] = system.measure_other_cores()
    report["elapsed_seconds"] = time.perf_counter() - started
    print_header(report)
    print_tables(report)
    print_summary(report)
    if "course_loop" in report:
        print_course_loop(report["course_loop"])
    print(f"\n(total {report['elapsed_seconds']:.0f} s)")
    if options.json:
        Path(options.json).write_text(json.dumps(report, indent=1))
    if options.png:
        save_png(report, options.png)
    bad = [(entry["workload"]["name"], row["implementation"]) for entry in report["workloads"]
           for row in entry["results"] if "median" in row and not row["finite"]]
    bad += [(COURSE_LOOP, row["implementation"]) for row in report.get("course_loop", [])
            if "median" in row and not row["finite"]]
    if bad:
        _progress(f"non-finite final cost: {bad}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
