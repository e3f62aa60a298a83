#!/usr/bin/env python
"""How fast an epoch's matrix products alone can run here, beside the budget a target leaves.

For each workload this lists the products of one epoch of plain SGD (per minibatch and layer:
``Z = W · A_prev``, ``dW = dZ · A_prevᵀ``, and above the first layer ``dA_prev = Wᵀ · dZ``) and
times each shape with NumPy's OpenBLAS and with ``torch.mm`` (when torch imports), each library and
thread count (1 and 2) in a fresh process of its own, operands preallocated, outputs written in
place, best of ``--repeat`` timings of a calibrated loop. The **products floor** is the sum over
the epoch of the fastest of those four for each shape: an epoch of that math cannot be faster than
its products are computed by the best libraries on this machine, whatever else it does. The
epoch's FLOPs at the OpenBLAS peak on a 2048² product (``compare.py``'s, the faster of its
start and end, at 2 threads and at 1) bound any implementation that runs at most at that peak on
every shape: the 1-thread one is the bound for a network too small for the second core to pay.

With ``--compare-json`` (``scripts/compare.py --json``, run just before on the same machine) each
workload also gets its **budget**: the best peer's epoch divided by issue 12's target, the time a
fastbp epoch must reach. A products floor above the budget means the target cannot be met by
computing the same products, however the rest of the epoch is written; the call overhead that
the library timings carry (about 1-3 us a call) makes the products floor meaningless for the
small networks (tiny, digits), whose products fastbp already computes faster than these calls.

    python scripts/compare.py --workloads course mnist --json /tmp/compare.json
    python scripts/floors.py --workloads course mnist --compare-json /tmp/compare.json
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from compare import TARGETS, best_peer  # noqa: E402
from fastbp.bench.workloads import WORKLOADS, epoch_products  # noqa: E402

LIBRARIES = ("numpy", "torch")


def worker(library, threads, dtype, shapes, repeat):
    """Best seconds of each product shape, with ``library`` at ``threads`` threads."""
    import numpy as np

    rng = np.random.default_rng(0)
    if library == "torch":
        import torch

        torch.set_num_threads(threads)
    results = []
    for rows, depth, cols, a_t, b_t in shapes:
        A = rng.random((depth, rows) if a_t else (rows, depth)).astype(dtype)
        B = rng.random((cols, depth) if b_t else (depth, cols)).astype(dtype)
        C = np.empty((rows, cols), dtype)
        opA, opB = (A.T if a_t else A), (B.T if b_t else B)
        if library == "torch":
            tA, tB, tC = (torch.from_numpy(x) for x in (A, B, C))
            opA, opB = (tA.T if a_t else tA), (tB.T if b_t else tB)

            def product():
                torch.mm(opA, opB, out=tC)
        else:
            def product():
                np.matmul(opA, opB, out=C)
        product()
        calls = 1
        while True:      # a loop of about 20 ms per timing
            started = time.perf_counter()
            for _ in range(calls):
                product()
            if time.perf_counter() - started > 0.02:
                break
            calls *= 4
        best = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            for _ in range(calls):
                product()
            best = min(best, (time.perf_counter() - started) / calls)
        results.append(best)
    return results


def run_worker(library, threads, dtype, shapes, repeat):
    """:func:`worker` in a fresh process with its library's thread variables set."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads if library == "numpy" else 1),
               OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    task = json.dumps({"library": library, "threads": threads, "dtype": dtype,
                       "shapes": shapes, "repeat": repeat})
    done = subprocess.run([sys.executable, __file__, "--worker", task], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        print(f"  {library} ({threads} threads) skipped: {done.stderr.strip().splitlines()[-1]}",
              file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def peer_of(compare, name):
    """(label, seconds) of workload ``name``'s best peer in a compare.py JSON (compare's
    :func:`best_peer`), or (None, None)."""
    for entry in compare["workloads"] if compare else []:
        if entry["workload"]["name"] == name:
            row = best_peer(entry)
            if row:
                return f"{row['implementation']} ({row['threads']} thr)", row["median"]
    return None, None


def peak_seconds(compare, dtype, threads, flops):
    """Seconds of ``flops`` at the faster of the compare run's two 2048² peaks (at its start and
    end) for ``dtype`` and ``threads``, or None without them."""
    peaks = [compare["peaks"][when].get(f"{dtype}/{threads}", {}).get("best")
             for when in ("start", "end") if compare and when in compare["peaks"]]
    peaks = [peak for peak in peaks if peak]
    return flops / (max(peaks) * 1e9) if peaks else None


def _ms(seconds):
    return "-" if seconds is None else f"{seconds * 1e3:.3g} ms"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=["course", "mnist"],
                        choices=sorted(WORKLOADS))
    parser.add_argument("--compare-json", help="scripts/compare.py --json output of this machine")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.worker:
        task = json.loads(options.worker)
        shapes = [tuple(shape) for shape in task["shapes"]]
        print(json.dumps(worker(task["library"], task["threads"], task["dtype"], shapes,
                                task["repeat"])))
        return 0
    compare = json.load(open(options.compare_json)) if options.compare_json else None
    print("| workload | products floor | FLOPs at the 2-thread peak | at the 1-thread peak "
          "| best peer | budget (peer / target) | products floor / budget |")
    print("|---|---|---|---|---|---|---|")
    for name in options.workloads:
        workload = WORKLOADS[name]
        products = epoch_products(workload)
        shapes = sorted(products)
        timings = [run_worker(library, threads, workload.dtype, shapes, options.repeat)
                   for library in LIBRARIES for threads in (1, 2)]
        timings = [t for t in timings if t is not None]
        floor = sum(products[shape] * min(t[i] for t in timings)
                    for i, shape in enumerate(shapes))
        flops = 2 * sum(count * rows * depth * cols
                        for (rows, depth, cols, _, _), count in products.items())
        at_peak = [peak_seconds(compare, workload.dtype, threads, flops) for threads in (2, 1)]
        label, peer = peer_of(compare, name)
        budget = peer / TARGETS[name] if peer else None
        cells = [name, _ms(floor), *(_ms(seconds) for seconds in at_peak),
                 f"{label} {_ms(peer)}" if peer else "-", _ms(budget),
                 f"{floor / budget:.2f}" if budget else "-"]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
