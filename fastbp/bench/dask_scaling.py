"""Scaling of fastbp.dask: seconds per L-BFGS iteration and per epoch on 1 and 2 workers.

Shared by ``scripts/dask_scaling.py`` (the README's table) and ``asv_bench/benchmarks/
bench_dask.py``. Importing this module imports dask.

The data are generated chunk by chunk from fixed seeds (:func:`make_block`), on the workers for
the cluster runs and in the measuring process for the single-process baseline, so both fit the
same rows; fastbp.dask's L-BFGS then takes the same path as the single-process fit (it computes
the same objective), and the per-iteration times compare like for like.

A time per iteration is a difference: a fit of ``1 + k`` iterations minus a fit of 1, divided
by ``k``, so data placement, the first evaluation and compilation cancel.
"""
import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np

#: The wide network of the README's table: compute per row dominates a step's round trip.
WIDE = dict(n_features=256, hidden=1024, n_classes=10)


def make_block(index, rows, n_features, n_classes, seed=0):
    """Rows of chunk ``index``: Gaussian X and labels of a fixed random linear teacher."""
    rng = np.random.default_rng([seed, index])
    X = rng.standard_normal((rows, n_features))
    teacher = np.random.default_rng([seed, 1 << 30]).standard_normal((n_features, n_classes))
    y = np.argmax(X @ teacher + 0.5 * rng.standard_normal((rows, n_classes)), axis=1)
    return X, y


def numpy_data(m, chunk, n_features, n_classes, seed=0):
    """The rows of :func:`dask_data` as NumPy arrays."""
    parts = [make_block(i, min(chunk, m - start), n_features, n_classes, seed)
             for i, start in enumerate(range(0, m, chunk))]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def dask_data(client, m, chunk, n_features, n_classes, seed=0):
    """X, y as dask arrays whose chunks are generated, and kept, on the workers."""
    import dask
    import dask.array as da
    import distributed
    xs, ys = [], []
    for i, start in enumerate(range(0, m, chunk)):
        rows = min(chunk, m - start)
        block = dask.delayed(make_block, pure=True)(i, rows, n_features, n_classes, seed)
        xs.append(da.from_delayed(block[0], (rows, n_features), dtype=np.float64))
        ys.append(da.from_delayed(block[1], (rows,), dtype=np.int64))
    X, y = client.persist([da.concatenate(xs), da.concatenate(ys)])
    distributed.wait([X, y])
    return X, y


def _settings(solver, max_iter, hidden):
    settings = dict(hidden_layer_sizes=(hidden,), solver=solver, max_iter=max_iter,
                    random_state=0, tol=0.0, n_iter_no_change=10 ** 6)
    if solver != "lbfgs":
        settings["learning_rate_init"] = 1e-3
    return settings


def seconds_per_step(Estimator, X, y, solver, steps, hidden, repeat=3):
    """Median, min and max over ``repeat`` runs of (fit(1 + steps) - fit(1)) / steps, seconds.

    A step is an L-BFGS iteration or an epoch of the stochastic solver.
    """
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Estimator(**_settings(solver, 1, hidden)).fit(X, y)      # warm-up: kernels, workspaces
        for _ in range(repeat):
            started = time.perf_counter()
            Estimator(**_settings(solver, 1, hidden)).fit(X, y)
            one = time.perf_counter() - started
            started = time.perf_counter()
            fitted = Estimator(**_settings(solver, 1 + steps, hidden)).fit(X, y)
            more = time.perf_counter() - started
            assert fitted.n_iter_ == 1 + steps, "the fit stopped early"
            results.append((more - one) / steps)
    return {"median": float(np.median(results)), "min": float(min(results)),
            "max": float(max(results)), "runs": repeat}


def _timed(function, calls, repeat):
    function()                                   # warm-up
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(calls):
            function()
        runs.append((time.perf_counter() - started) / calls)
    return {"median": float(np.median(runs)), "min": float(min(runs)), "max": float(max(runs)),
            "runs": repeat}


def _single_objective(X, y, hidden):
    """The L-BFGS objective ``fastbp.MLPClassifier`` evaluates, in this process: one compiled
    pass of ``Network._loss_and_gradient`` over all rows, as a callable of no arguments."""
    import fastbp
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fastbp.MLPClassifier(**_settings("lbfgs", 1, hidden)).fit(X, y)
    net = model._network
    X_nm = np.ascontiguousarray(X.T)
    Y_nm = np.ascontiguousarray(model._label_binarizer.transform(y).T.astype(np.float64))
    return lambda: net._loss_and_gradient(X_nm, Y_nm, 1e-4, None)


def evaluation_single(X, y, hidden, calls=5, repeat=3):
    """Seconds per evaluation of the L-BFGS objective in one process (see
    :func:`_single_objective`)."""
    return _timed(_single_objective(X, y, hidden), calls, repeat)


def _cpu_timed_sums(shard, theta, spec):
    """(thread CPU seconds, wall seconds) of one worker's loss and gradient sums."""
    from fastbp.dask import _worker
    _worker.loss_gradient_sums(shard, theta, spec)      # warm: workspace, kernels loaded
    cpu, wall = time.thread_time(), time.perf_counter()
    _worker.loss_gradient_sums(shard, theta, spec)
    return time.thread_time() - cpu, time.perf_counter() - wall


def worker_compute(client, objective, theta):
    """Per shard (CPU, wall) seconds of its part of one evaluation, computed where it lies: the
    compute per row, measured in CPU time so that other processes on the machine do not count."""
    futures = [client.submit(_cpu_timed_sums, shard, theta, objective.spec, pure=False)
               for shard in objective.shards]
    return client.gather(futures)


def evaluation_cpu_single(X, y, hidden):
    """CPU seconds of one objective evaluation in this process (one kernel thread)."""
    evaluate = _single_objective(X, y, hidden)
    evaluate()
    cpu = time.process_time()
    evaluate()
    return time.process_time() - cpu


def evaluation_dask(client, X, y, hidden, calls=5, repeat=3, cpu=None):
    """Seconds per evaluation of fastbp.dask's L-BFGS objective: broadcast the parameters,
    a compiled pass over each worker's shard, gather and add the sums."""
    import fastbp.dask
    from fastbp.dask import _data
    from fastbp.dask._objective import DistributedObjective
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fastbp.dask.MLPClassifier(**_settings("lbfgs", 1, hidden)).fit(X, y)
    shards, info = _data.place(client, X, y, None, np.float64, X.shape[1],
                               model._label_binarizer, "neurons")
    try:
        objective = DistributedObjective(client, shards, info, model._network, model._spec(),
                                         1e-4)
        x = model._network._theta.astype(np.float64)
        if cpu is not None:
            cpu.extend(worker_compute(client, objective, model._network._theta))
        return _timed(lambda: objective(x), calls, repeat)
    finally:
        client.cancel(shards)


def single_process(m, chunk, steps, threads, repeat=3, **shape):
    """The single-process fastbp.MLPClassifier in a fresh process with ``threads`` Numba
    threads (a new process: Numba's thread count is fixed at its start)."""
    shape = dict(WIDE, **shape)
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS="1")
    task = json.dumps(dict(m=m, chunk=chunk, steps=steps, repeat=repeat, **shape))
    out = subprocess.run([sys.executable, "-m", "fastbp.bench.dask_scaling", task], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _single_worker_main(task):
    import fastbp
    task = json.loads(task)
    X, y = numpy_data(task["m"], task["chunk"], task["n_features"], task["n_classes"])
    result = {solver: seconds_per_step(fastbp.MLPClassifier, X, y, solver, task["steps"][solver],
                                       task["hidden"], task["repeat"])
              for solver in ("lbfgs", "adam")}
    result["evaluation"] = evaluation_single(X, y, task["hidden"], repeat=task["repeat"])
    result["evaluation_cpu"] = evaluation_cpu_single(X, y, task["hidden"])
    print(json.dumps(result))


def start_cluster(n_workers):
    """A LocalCluster of ``n_workers`` single-threaded worker processes, one kernel thread each
    (``NUMBA_NUM_THREADS=1`` in the workers' environment), and a client on it."""
    import dask
    import distributed
    with dask.config.set({"distributed.nanny.environ.NUMBA_NUM_THREADS": 1}):
        cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                           processes=True, dashboard_address="127.0.0.1:0",
                                           host="127.0.0.1")
    return cluster, distributed.Client(cluster)


class ClusterRun:
    """fastbp.dask.MLPClassifier on a client's cluster, its data generated and kept on the
    workers: the wide network on m rows, and on 8 rows per worker (the round trip alone)."""

    def __init__(self, client, m, chunk, **shape):
        self.client = client
        self.shape = dict(WIDE, **shape)
        n_features, n_classes = self.shape["n_features"], self.shape["n_classes"]
        self.X, self.y = dask_data(client, m, chunk, n_features, n_classes)
        n_workers = len(client.scheduler_info()["workers"])
        self.tiny_X, self.tiny_y = dask_data(client, 8 * n_workers, 8, n_features, n_classes)

    def measure(self, steps, repeat=1):
        """Seconds per step of each kind; fits use this run's client (several may be up)."""
        with self.client.as_current():
            return self._measure(steps, repeat)

    def _measure(self, steps, repeat):
        import fastbp.dask
        hidden = self.shape["hidden"]
        cpu = []
        result = {"evaluation": evaluation_dask(self.client, self.X, self.y, hidden,
                                                repeat=repeat, cpu=cpu),
                  "shard_cpu": [c for c, _ in cpu], "shard_wall": [w for _, w in cpu],
                  "evaluation_round_trip": evaluation_dask(self.client, self.tiny_X,
                                                           self.tiny_y, hidden, repeat=repeat)}
        for solver in ("lbfgs", "adam"):
            result[solver] = seconds_per_step(fastbp.dask.MLPClassifier, self.X, self.y, solver,
                                              steps[solver], hidden, repeat)
            result[solver + "_round_trip"] = seconds_per_step(
                fastbp.dask.MLPClassifier, self.tiny_X, self.tiny_y, solver, steps[solver],
                hidden, repeat)
        return result


def parameter_count(n_features, hidden, n_classes):
    return hidden * (n_features + 1) + n_classes * (hidden + 1)


def flops_per_row(n_features, hidden, n_classes):
    """Forward, weight gradients and the hidden layer's input gradients (PERFORMANCE.md)."""
    return 2 * (2 * n_features * hidden + 3 * hidden * n_classes)


if __name__ == "__main__":
    _single_worker_main(sys.argv[1])
