#!/usr/bin/env python
"""Seconds per L-BFGS iteration and per Adam epoch of fastbp.dask on 1 and 2 workers, beside the
single-process fit, and the cost model of the README's Dask section.

Runs, in this order (nothing else heavy should run meanwhile; on a shared machine prefix ``nice``):

* the single-process ``fastbp.MLPClassifier``, each in a fresh process with 1 and with 2 Numba
  threads;
* ``fastbp.dask.MLPClassifier`` on a LocalCluster of 1 and then of 2 single-threaded worker
  processes (one kernel thread each), on the same rows, generated on the workers;
* on each cluster, the same network on 8 rows per worker: the round trip of a step alone.

Each time per step is (fit of 1 + k steps - fit of 1 step) / k (an objective evaluation: the
mean of 5 calls); see ``fastbp/bench/dask_scaling.py``. The configurations alternate in
``--repeat`` paired rounds, both clusters up throughout, and the table gives the median (min-max)
over rounds, the per-round speedups, and the machine's load average at each round.

Usage::

    nice -n 19 python scripts/dask_scaling.py                   # the README's table (~5 min)
    python scripts/dask_scaling.py --rows 4096 --repeat 1       # a quick look
"""
import argparse
import json
import os

import numpy as np

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
    # Paired rounds: every configuration once per round, both clusters up throughout (idle
    # workers cost nothing), so a round's numbers share the machine's mood of that minute.
    clusters = {workers: ds.start_cluster(workers) for workers in (1, 2)}
    rounds = []
    try:
        runs = {workers: ds.ClusterRun(client, args.rows, args.chunk)
                for workers, (_, client) in clusters.items()}
        for r in range(args.repeat):
            load = os.getloadavg()[0]
            current = {}
            for threads in (1, 2):
                print(f"round {r + 1}: single process, {threads} thread(s) ...", flush=True)
                current[f"single-{threads}"] = ds.single_process(args.rows, args.chunk, steps,
                                                                 threads, repeat=1)
            for workers, run in runs.items():
                print(f"round {r + 1}: LocalCluster, {workers} worker(s) ...", flush=True)
                current[f"dask-{workers}"] = run.measure(steps, repeat=1)
            current["load"] = (load, os.getloadavg()[0])
            rounds.append(current)
    finally:
        for cluster, client in clusters.values():
            client.close()
            cluster.close()
    results = {}
    for config in ("single-1", "single-2", "dask-1", "dask-2"):
        results[config] = {}
        for key in rounds[0][config]:
            if key in ("evaluation_cpu", "shard_cpu", "shard_wall"):
                results[config][key] = [rnd[config][key] for rnd in rounds]
                continue
            values = [rnd[config][key]["median"] for rnd in rounds]
            results[config][key] = {"median": float(np.median(values)), "min": min(values),
                                    "max": max(values), "runs": len(values)}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(args=vars(args), rounds=rounds, results=results), f, indent=1)
    print("\n1-minute load average before and after each round (2 cores): "
          + ", ".join(f"{a:.1f}-{b:.1f}" for a, b in (rnd["load"] for rnd in rounds)))
    print("Per-round ratios (the same round's single process on 1 thread / this):")
    for key in ("evaluation", "lbfgs", "adam"):
        parts = []
        for config in ("single-2", "dask-1", "dask-2"):
            ratios = [rnd["single-1"][key]["median"] / rnd[config][key]["median"]
                      for rnd in rounds]
            parts.append(f"{config} {np.median(ratios):.2f}x ({min(ratios):.2f}-"
                         f"{max(ratios):.2f})")
        print(f"  {key}: " + ", ".join(parts))

    P = ds.parameter_count(**shape)
    flops = ds.flops_per_row(**shape)
    print(f"\n{shape['n_features']}-{shape['hidden']}-{shape['n_classes']} softmax, float64, "
          f"m={args.rows} rows in chunks of {args.chunk}, {P} parameters; median (min-max) of "
          f"{args.repeat} paired rounds\n")
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
    print("\nCompute alone, CPU seconds of one objective evaluation (each round):")
    print("  single process, 1 thread: "
          + ", ".join(f"{v:.3f}" for v in results["single-1"]["evaluation_cpu"]))
    for workers in (1, 2):
        cpu = results[f"dask-{workers}"]["shard_cpu"]
        wall = results[f"dask-{workers}"]["shard_wall"]
        print(f"  dask, {workers} worker(s), per shard: "
              + "; ".join(", ".join(f"{v:.3f}" for v in rnd) for rnd in cpu)
              + "  (wall: " + "; ".join(", ".join(f"{v:.3f}" for v in rnd) for rnd in wall)
              + ")")
    per_worker = {"evaluation": 8 * P + 8 * (P + 1), "adam": 2 * 8 * (3 * P + 1) + 8}
    for solver, nbytes in per_worker.items():
        print(f"  bytes per step and worker ({solver}): {nbytes / 1e6:.1f} MB "
              "(parameters out, sums or parameters and state back)")


if __name__ == "__main__":
    main()
