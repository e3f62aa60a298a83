"""Training data in place on the cluster: checks on the client, one shard per worker.

:func:`place` turns (X, y, sample_weight) — dask arrays of row chunks, a dask DataFrame, or
NumPy arrays — into one :class:`~fastbp.dask._worker.Shard` per worker, built on the workers
from the chunks that already lie there. The client sees only shapes, dtypes and (for a
classifier) the distinct labels.

Chunks are grouped in their order into runs of about equal rows, one run per task thread of the
cluster (:func:`task_slots`, workers in sorted order), so the shards, and every sum over them,
depend only on the chunking and the cluster's thread count: a fit is reproducible for a given
chunking and cluster.
"""
import numpy as np

import dask
import dask.array as da

from . import _worker


def is_dask_collection(obj):
    return dask.is_dask_collection(obj)


def _as_dask_array(obj, name, ndim):
    """A dask array of known row chunks, its columns in one chunk (or None for None)."""
    if obj is None:
        return None
    if hasattr(obj, "to_dask_array"):            # dask DataFrame / Series
        obj = obj.to_dask_array(lengths=True)
    if not isinstance(obj, da.Array):
        raise TypeError(f"{name} is a dask collection of type {type(obj).__name__}; fastbp.dask "
                        "fits dask arrays, dask DataFrames or NumPy arrays")
    if obj.ndim not in ndim:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndim))} dimension(s), got "
                         f"{obj.ndim}")
    if any(np.isnan(c) for c in obj.chunks[0]):
        obj = obj.compute_chunk_sizes()           # counts rows on the workers
    if obj.ndim == 2 and len(obj.chunks[1]) > 1:
        obj = obj.rechunk({1: -1})
    return obj


def _check_kind(dtype, name, numeric=True):
    """Numbers, or (``numeric=False``: class labels) anything but complex numbers and raw
    bytes."""
    if dtype.kind not in "biuf" and (numeric or dtype.kind in "cV"):
        raise TypeError(f"{name} must be numeric, got dtype {dtype}")


def classes_of(client, y):
    """The sorted distinct labels of y, computed on the workers for a dask y."""
    if isinstance(y, da.Array):
        y = client.compute(da.unique(y)).result()
    return np.unique(np.asarray(y))


def check_inputs(X, y, sample_weight, classifier):
    """Validate the shapes and kinds of X, y, sample_weight on the client, computing nothing
    but chunk sizes. Returns (X, y, sample_weight, feature_names) as dask arrays (row chunks of
    X's chunking) or, if X is not a dask collection, as NumPy arrays."""
    feature_names = None
    if hasattr(X, "columns"):
        columns = list(X.columns)
        if columns and all(isinstance(c, str) for c in columns):
            feature_names = np.asarray(columns, dtype=object)
    lazy = is_dask_collection(X)
    if lazy:
        X = _as_dask_array(X, "X", (2,))
        y = _as_dask_array(y, "y", (1, 2)) if is_dask_collection(y) else y
        sample_weight = (_as_dask_array(sample_weight, "sample_weight", (1,))
                         if is_dask_collection(sample_weight) else sample_weight)
        rows = X.chunks[0]
        if y is None:
            raise ValueError("y is required")
        if not isinstance(y, da.Array):
            y = np.asarray(y)
            y = da.from_array(y, chunks=(rows,) + y.shape[1:])
        if sample_weight is not None and not isinstance(sample_weight, da.Array):
            sample_weight = da.from_array(np.asarray(sample_weight), chunks=(rows,))
    else:
        if is_dask_collection(y) or is_dask_collection(sample_weight):
            raise TypeError("X is a NumPy array but y or sample_weight a dask collection; give "
                            "all as dask collections or all as NumPy arrays")
        X = np.asarray(X)
        y = np.asarray(y)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight)
    _check_kind(X.dtype, "X")
    _check_kind(y.dtype, "y", numeric=not classifier)
    n = X.shape[0]
    if n == 0 or X.shape[1] == 0:
        raise ValueError(f"X has shape {X.shape}: it needs at least one sample and one feature")
    if y.shape[0] != n:
        raise ValueError(f"X has {n} samples but y has {y.shape[0]}")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if classifier and y.ndim != 1:
        raise ValueError("fastbp.dask.MLPClassifier fits one column of class labels; multilabel "
                         "y is not supported (use fastbp.MLPClassifier)")
    if y.ndim > 2:
        raise ValueError(f"y must be 1-D or 2-D, got {y.ndim} dimensions")
    if sample_weight is not None:
        _check_kind(sample_weight.dtype, "sample_weight")
        if sample_weight.shape != (n,):
            raise ValueError(f"sample_weight must have shape ({n},), got "
                             f"{sample_weight.shape}")
    if lazy:
        y = y.rechunk((X.chunks[0],) + ((y.shape[1],) if y.ndim == 2 else ()))
        if sample_weight is not None:
            sample_weight = sample_weight.rechunk((X.chunks[0],))
    return X, y, sample_weight, feature_names


def group_rows(chunk_rows, n_groups):
    """Split consecutive chunks into at most ``n_groups`` runs of about equal rows.

    Returns
    -------
    list of list of int
        Chunk indices of each run, in order (``n_groups`` runs, some empty when there are fewer
        chunks than runs).
    """
    total = float(sum(chunk_rows))
    groups = [[] for _ in range(n_groups)]
    start = 0
    for i, rows in enumerate(chunk_rows):
        # a chunk goes to the run its middle row falls in
        g = min(n_groups - 1, int((start + rows / 2.0) * n_groups / total)) if total else 0
        groups[g].append(i)
        start += rows
    return groups


def _numpy_chunks(client, arrays, n_parts, workers):
    """Scatter the row blocks of NumPy arrays straight to the workers (block i to worker i)."""
    n = arrays[0].shape[0]
    bounds = np.linspace(0, n, n_parts + 1).astype(int)
    result = []
    for a in arrays:
        if a is None:
            result.append(None)
            continue
        blocks = []
        for i in range(n_parts):
            blocks.append(client.scatter(np.ascontiguousarray(a[bounds[i]:bounds[i + 1]]),
                                         workers=[workers[i]], hash=False))
        result.append(blocks)
    return result, [int(bounds[i + 1] - bounds[i]) for i in range(n_parts)]


def task_slots(client):
    """One worker address per task thread of the cluster (sorted): the places of the shards.

    A worker of n threads gets n shards, each computed in one task with one kernel thread
    (:func:`fastbp.dask.kernel_threads`), so the worker's task threads are its parallelism, as
    Dask intends, and never more kernel threads run than it has task threads.
    """
    info = client.scheduler_info(n_workers=-1)["workers"]
    if not info:
        raise ValueError("the Dask cluster has no workers")
    return [address for address in sorted(info) for _ in range(max(1, info[address]["nthreads"]))]


def place(client, X, y, sample_weight, dtype, n_features, binarizer, layout):
    """Build one shard per worker from validated inputs (see :func:`check_inputs`).

    Returns
    -------
    shards : list of distributed.Future
        In chunk order; each lives on the worker that built it, one per task thread (fewer if
        there are fewer chunks).
    info : list of (rows, total weight)
        Gathered once, after every shard was built and checked.

    Raises
    ------
    ValueError
        From the workers' checks (NaN, infinity, negative weights), before the caller changes.
    """
    workers = task_slots(client)
    if isinstance(X, da.Array):
        parts = [list(a.to_delayed().ravel()) if a is not None else None
                 for a in (X, y, sample_weight)]
        groups = group_rows(X.chunks[0], len(workers))
        # the chunks as futures on the workers (computed there if they are not yet)
        parts = [client.compute(p) if p is not None else None for p in parts]
    else:
        n_parts = max(1, min(len(workers), X.shape[0]))
        parts, _ = _numpy_chunks(client, (X, y, sample_weight), n_parts, workers)
        groups = [[i] for i in range(n_parts)]
    x_parts, y_parts, w_parts = parts
    shards = []
    for worker, group in zip(workers, groups):
        if not group:
            continue
        shards.append(client.submit(
            _worker.make_shard, [x_parts[i] for i in group], [y_parts[i] for i in group],
            None if w_parts is None else [w_parts[i] for i in group], np.dtype(dtype).str,
            n_features, binarizer, layout, workers=[worker], allow_other_workers=True,
            pure=False))
    try:
        info = client.gather(client.map(_worker.shard_info, shards, pure=False))
    except BaseException:
        client.cancel(shards)
        raise
    finally:
        # the shards hold the data now; the chunk futures can go
        del x_parts, y_parts, w_parts, parts
    return shards, info


def check_positive_weight(info):
    if sum(total for _, total in info) <= 0:
        raise ValueError("sample_weight is zero for every sample")
