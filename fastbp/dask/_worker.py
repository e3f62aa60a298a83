"""What runs on the Dask workers: shards of training data, and the kernel calls on them.

Every function here is submitted to a worker by :mod:`fastbp.dask._estimators`; none needs a
client. A worker keeps one :class:`fastbp.Network` per architecture and per executor thread
(:func:`network_for`): the network only carries parameters and workspaces, and the parameters
arrive with each task, so a cached network is never stale, and two tasks in two threads of one
worker never share a workspace.
"""
import os
import threading
from collections import OrderedDict

import numba
import numpy as np

from ..network import History, Network


def kernel_threads():
    """Numba threads fastbp's kernels use inside a Dask task.

    Dask's Nanny starts every worker process with ``OMP_NUM_THREADS=1`` (its
    ``distributed.nanny.pre-spawn-environ``): native code in a task is to use one thread, and the
    worker's task threads are its parallelism. Numba does not read that variable (it starts one
    thread per core), so fastbp does: a task runs its kernels on
    ``min(NUMBA_NUM_THREADS, OMP_NUM_THREADS)`` threads, or ``NUMBA_NUM_THREADS`` where
    ``OMP_NUM_THREADS`` is not set. To give each task more, raise ``OMP_NUM_THREADS`` in the
    workers' environment (``dask.config.set({"distributed.nanny.environ.OMP_NUM_THREADS": 4})``
    before the cluster starts, or in the shell of ``dask worker``); fastbp reads it in each task.
    fastbp.dask places one shard per task thread, so a worker's threads are all used.

    Returns
    -------
    int
    """
    threads = numba.config.NUMBA_NUM_THREADS
    omp = os.environ.get("OMP_NUM_THREADS", "")
    if omp.strip().isdigit() and int(omp) > 0:
        threads = min(threads, int(omp))
    return max(1, threads)


class _KernelThreads:
    """``with _KernelThreads():`` runs the block's kernels on :func:`kernel_threads` threads.

    ``numba.set_num_threads`` is per calling thread, so the setting is this task thread's only;
    it is restored so that a worker thread that later runs user code finds Numba as it was.
    """

    def __enter__(self):
        self.previous = numba.get_num_threads()
        numba.set_num_threads(kernel_threads())

    def __exit__(self, *exc):
        numba.set_num_threads(self.previous)


#: Networks kept per worker process: (spec, thread) -> Network, least recently used dropped.
_NETWORKS = OrderedDict()
_NETWORKS_LOCK = threading.Lock()
_NETWORKS_KEPT = 8


def network_for(spec):
    """This thread's network of architecture ``spec`` (layer_dims, hidden, output, dtype)."""
    key = (spec, threading.get_ident())
    with _NETWORKS_LOCK:
        net = _NETWORKS.pop(key, None)
        if net is None:
            layer_dims, hidden, output, dtype = spec
            net = Network(list(layer_dims), activations=hidden, output=output, dtype=dtype,
                          seed=0)
        _NETWORKS[key] = net
        while len(_NETWORKS) > _NETWORKS_KEPT:
            _NETWORKS.popitem(last=False)
    return net


class Shard:
    """One worker's training rows, in the layout the kernels read.

    Attributes
    ----------
    X : ndarray
        ``(n_features, rows)`` neuron-major (``layout="neurons"``, L-BFGS's full-batch pass) or
        ``(rows, n_features)`` example-major (``layout="examples"``: minibatches are gathered
        from its rows, as the single-process estimators do).
    Y : ndarray of shape (n_outputs, rows)
    weights : ndarray of shape (rows,) or None
    rows : int
    total : float
        Rows, or the sum of the sample weights: the weight of this shard in every mean.
    """

    def __init__(self, X, Y, weights, layout):
        self.X, self.Y, self.weights, self.layout = X, Y, weights, layout
        self.rows = Y.shape[1]
        self.total = float(self.rows if weights is None else weights.astype(np.float64).sum())

    def neuron_major(self):
        return self.X if self.layout == "neurons" else self.X.T


def make_shard(x_parts, y_parts, w_parts, dtype, n_features, binarizer, layout):
    """Concatenate a run of row chunks into one :class:`Shard`, checking every value.

    Raises
    ------
    ValueError
        A chunk with the wrong number of columns, NaN or infinity, or negative sample weights.
    """
    dtype = np.dtype(dtype)
    X = np.concatenate([np.asarray(p) for p in x_parts]) if len(x_parts) > 1 else np.asarray(
        x_parts[0])
    y = np.concatenate([np.asarray(p) for p in y_parts]) if len(y_parts) > 1 else np.asarray(
        y_parts[0])
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(f"X has chunks of shape {X.shape}; every chunk needs {n_features} "
                         "columns")
    X = X.astype(dtype, copy=False)
    if not np.isfinite(X).all():
        raise ValueError("Input X contains NaN or infinity.")
    if binarizer is not None:
        Y = binarizer.transform(y).astype(dtype)
    else:
        Y = y.astype(dtype, copy=False).reshape(y.shape[0], -1)
        if not np.isfinite(Y).all():
            raise ValueError("Input y contains NaN or infinity.")
    weights = None
    if w_parts is not None:
        weights = np.concatenate([np.asarray(p) for p in w_parts]).astype(dtype).ravel()
        if not np.isfinite(weights).all() or (weights < 0).any():
            raise ValueError("sample_weight must be finite and non-negative")
    X = np.ascontiguousarray(X.T) if layout == "neurons" else np.ascontiguousarray(X)
    return Shard(X, np.ascontiguousarray(Y.T), weights, layout)


def shard_info(shard):
    """(rows, total weight) of a shard: small, gathered to the client."""
    return shard.rows, shard.total


def loss_gradient_sums(shard, theta, spec):
    """Sum over the shard's examples of the loss and of its gradient (no penalty).

    The kernels return means (``Network._loss_and_gradient``); times the shard's weight they
    are sums, which the client adds across shards and divides by the total weight.

    Returns
    -------
    ndarray of float64, shape (1 + theta.size,)
        The loss sum, then the gradient sum laid out like ``theta``.
    """
    net = network_for(spec)
    out = np.empty(1 + theta.size, np.float64)
    with _KernelThreads():
        net._theta[...] = theta
        if shard.rows == 0 or shard.total == 0.0:
            out[:] = 0.0
            return out
        cost, grad = net._loss_and_gradient(shard.neuron_major(), shard.Y, 0.0, shard.weights)
        out[0] = cost * shard.total
        np.multiply(grad, shard.total, out=out[1:])
    return out


def local_epoch(shard, state, spec, settings, seed):
    """One epoch of the stochastic solver over the shard, from the broadcast ``state``.

    ``state`` is ``theta`` followed by the optimizer's state rows (float, laid out like theta)
    and its step count; the result is laid out the same, followed by the epoch's cost times the
    shard's weight. The epoch is :meth:`fastbp.Network.fit` with one epoch: the compiled loop of
    the single-process estimators.
    """
    net = network_for(spec)
    size = net._theta.size
    optimizer = settings["optimizer"]
    rows = (state.size - 1) // size - 1
    with _KernelThreads():
        net._theta[...] = state[:size]
        net._optimizer = None
        net._select_optimizer(optimizer)
        opt_state, step = net._optimizer_state()
        opt_state[...] = state[size:size * (1 + rows)].reshape(rows, size)
        step[0] = int(state[-1])
        net.history = History()
        X = shard.X.T if shard.layout == "examples" else shard.X
        net.fit(X, shard.Y, epochs=1, batch_size=min(settings["batch_size"], shard.rows),
                optimizer=optimizer, learning_rate=settings["learning_rate"],
                shuffle=settings["shuffle"], seed=seed, momentum=settings["momentum"],
                nesterov=settings["nesterov"], beta_1=settings["beta_1"],
                beta_2=settings["beta_2"], epsilon=settings["epsilon"], alpha=settings["alpha"],
                sample_weight=shard.weights)
        out = np.empty(state.size + 1, np.float64)
        out[:size] = net._theta
        out[size:size * (1 + rows)] = opt_state.ravel()
        out[-2] = step[0]
        out[-1] = net.history[-1] * shard.total
    return out
