#!/usr/bin/env python
"""Seconds per L-BFGS iteration and per Adam epoch of fastbp.dask on 1 and 2 workers, beside the
single-process fit, and the cost model of the README's Dask section.

Runs, in this order (nothing else heavy should run meanwhile; on a shared machine prefix ``nice``):

* the single-process ``fastbp.MLPClassifier``, each in a fresh process with 1 and with 2 Numba
  threads;
* ``fastbp.dask.MLPClassifier`` on a LocalCluster of 1 and then of 2 single-threaded worker
  processes (one kernel thread each), on the same rows, generated on the workers;
* on each cluster, the same network on 8 rows per worker: the round trip of a step alone.

Each time per step is (fit of 1 + k steps - fit of 1 step) / k, the median of ``--repeat`` runs
(min and max printed too); see ``fastbp/bench/dask_scaling.py``.

Usage::

    nice -n 19 python scripts/dask_scaling.py                   # the README's table (~5 min)
    python scripts/dask_scaling.py --rows 4096 --repeat 1       # a quick look
"""
import argparse
import json

from fastbp.bench import dask_scaling as ds


def _fmt(entry):
    return f"{entry['median']:.3f} s ({entry['min']:.3f}-{entry['max']:.3f})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=16384)
    parser.add_argument("--chunk", type=int, default=2048)
    parser.add_argument("--lbfgs-steps", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="also write the raw results to this file")
    args = parser.parse_args(argv)
    steps = {"lbfgs": args.lbfgs_steps, "adam": args.epochs}
    shape = ds.WIDE
    results = {}
    for threads in (1, 2):
        print(f"single process, {threads} thread(s) ...", flush=True)
        results[f"single-{threads}"] = ds.single_process(args.rows, args.chunk, steps, threads,
                                                         args.repeat)
    for workers in (1, 2):
        print(f"LocalCluster, {workers} worker(s) ...", flush=True)
        cluster, client = ds.start_cluster(workers)
        try:
            results[f"dask-{workers}"] = ds.on_cluster(client, args.rows, args.chunk, steps,
                                                       args.repeat)
        finally:
            client.close()
            cluster.close()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(args=vars(args), results=results), f, indent=1)

    P = ds.parameter_count(**shape)
    flops = ds.flops_per_row(**shape)
    print(f"\n{shape['n_features']}-{shape['hidden']}-{shape['n_classes']} softmax, float64, "
          f"m={args.rows} rows in chunks of {args.chunk}, {P} parameters; median (min-max) of "
          f"{args.repeat} runs\n")
    print("| step | single process, 1 thread | single process, 2 threads | dask, 1 worker "
          "| dask, 2 workers | round trip alone, 1 worker | round trip alone, 2 workers |")
    print("|---|---|---|---|---|---|---|")
    for key, name in (("evaluation", "L-BFGS objective evaluation"),
                      ("lbfgs", "L-BFGS iteration"), ("adam", "Adam epoch (batch 200)")):
        row = [results["single-1"][key], results["single-2"][key], results["dask-1"][key],
               results["dask-2"][key], results["dask-1"][key + "_round_trip"],
               results["dask-2"][key + "_round_trip"]]
        print(f"| {name} | " + " | ".join(_fmt(e) for e in row) + " |")

    print("\nModel: t(K) = c * m / K + r(K), c from the single process on 1 thread, r(K) the "
          "round trip alone measured on K workers")
    for key in ("evaluation", "lbfgs", "adam"):
        c = results["single-1"][key]["median"] / args.rows
        line = f"  {key}: c = {c * 1e6:.2f} us per row"
        if key == "evaluation":
            gflops = flops * args.rows / results["single-1"][key]["median"] / 1e9
            line += f" ({flops / 1e6:.2f} MFLOP per row: {gflops:.0f} GFLOP/s on one core)"
        print(line)
        for workers in (1, 2):
            r = results[f"dask-{workers}"][key + "_round_trip"]["median"]
            predicted = c * args.rows / workers + r
            measured = results[f"dask-{workers}"][key]["median"]
            print(f"    K={workers}: predicted {predicted:.3f} s = {c * args.rows / workers:.3f} "
                  f"compute + {r:.3f} round trip; measured {measured:.3f} s "
                  f"({(measured / predicted - 1) * 100:+.0f}%)")
        r2 = results["dask-2"][key + "_round_trip"]["median"]
        print(f"    rows per worker at which compute equals the round trip (K=2): {r2 / c:.0f}")
    per_worker = {"evaluation": 8 * P + 8 * (P + 1), "adam": 2 * 8 * (3 * P + 1) + 8}
    for solver, nbytes in per_worker.items():
        print(f"  bytes per step and worker ({solver}): {nbytes / 1e6:.1f} MB "
              "(parameters out, sums or parameters and state back)")


if __name__ == "__main__":
    main()
