"""Steadiness of fastbp's speed across fresh processes (issue 12's check).

For each workload, times fastbp in ``--processes`` fresh processes at its default thread settings
(no thread variable set) and as many with one Numba thread, each process a worker of
``fastbp.bench.runner`` (warm-up, then the median of short timed runs). The check: no default
process is more than 1.25x slower than the median single-thread process.

    python scripts/steadiness.py --processes 10 --workloads tiny digits
"""
import argparse
import pathlib
import statistics
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastbp.bench import runner as runners  # noqa: E402
from fastbp.bench.trainers import LEARNING_RATE  # noqa: E402
from fastbp.bench.workloads import WORKLOADS  # noqa: E402

#: The slowest default process may be this much slower than the median single-thread one.
LIMIT = 1.25


def epoch_ms(workload, threads, seconds, repeat):
    """ms per epoch of fastbp on ``workload`` in one fresh process (threads None = default)."""
    task = {"kind": "train", "implementation": "fastbp", "threads": threads,
            "workload": workload.to_dict(), "learning_rate": LEARNING_RATE,
            "seconds": seconds, "repeat": repeat}
    result = runners.run_worker(task, runners.Runner("fastbp", threads))
    if "error" in result:
        raise RuntimeError(f"{workload.name}: {result['error']}")
    return result["median"] * 1e3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=10)
    parser.add_argument("--workloads", nargs="+", default=["tiny", "course", "digits", "mnist"],
                        choices=sorted(WORKLOADS))
    parser.add_argument("--seconds", type=float, default=0.6, help="timed seconds per process")
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args(argv)
    failed = False
    for name in options.workloads:
        workload = WORKLOADS[name]
        default, single = [], []
        for _ in range(options.processes):  # alternated, so drift hits both alike
            default.append(epoch_ms(workload, None, options.seconds, options.repeat))
            single.append(epoch_ms(workload, 1, options.seconds, options.repeat))
        reference = statistics.median(single)
        worst = max(default) / reference
        failed |= worst > LIMIT
        print(f"{name:7s} default: median {statistics.median(default):.4g} ms, range "
              f"{min(default):.4g}-{max(default):.4g}; 1 thread: median {reference:.4g} ms, "
              f"range {min(single):.4g}-{max(single):.4g}; slowest default / median 1 thread "
              f"{worst:.2f} ({'ok' if worst <= LIMIT else 'over ' + str(LIMIT)})", flush=True)
        print("        default ms: " + " ".join(f"{v:.4g}" for v in default), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
