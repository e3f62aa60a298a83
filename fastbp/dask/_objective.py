"""The L-BFGS objective of a distributed fit: cost and gradient summed over the workers.

It is ``fastbp.estimators``' objective — the network's mean loss over all rows plus
scikit-learn's L2 penalty, as ``Network._loss_and_gradient`` computes it in one pass — assembled
from per-shard sums: each worker returns the loss and gradient sums over its rows (no penalty,
:func:`fastbp.dask._worker.loss_gradient_sums`), the client adds them in shard order, divides by
the total weight and adds the penalty once.
"""
import numpy as np

from . import _worker


def as_float64_sum(parts):
    """Add float64 vectors in the order given: the fixed order that makes a fit reproducible."""
    total = np.array(parts[0], dtype=np.float64)
    for part in parts[1:]:
        total += part
    return total


class DistributedObjective:
    """``objective(x) -> (cost, gradient)`` for ``scipy.optimize.minimize(jac=True)``.

    Parameters
    ----------
    client : distributed.Client
    shards : list of Future
        The training shards (:func:`fastbp.dask._data.place`), in order.
    info : list of (rows, total weight)
    network : fastbp.Network
        Holds the parameters (its ``_theta`` is set to each ``x``) and their layout.
    spec : tuple
        The architecture, for the workers' networks.
    alpha : float
        L2 penalty: ``0.5 * alpha * sum(W**2) / total`` and ``alpha * W / total`` on the weights
        (not the biases), as the kernels add it.
    average_outputs : bool
        Report the cost as scikit-learn's squared error averaged over the outputs (regression
        with several outputs); the gradient stays that of the summed form, as in
        ``fastbp.estimators``.

    Attributes
    ----------
    evaluations : int
        Calls so far (each one broadcast of the parameters and one gather of sums).
    """

    def __init__(self, client, shards, info, network, spec, alpha, average_outputs=False):
        self.client, self.shards, self.network, self.spec = client, shards, network, spec
        self.total = float(sum(t for _, t in info))
        self.alpha = float(alpha)
        self.average_outputs = average_outputs
        self.is_weight = np.zeros(network._theta.size, dtype=bool)
        dims = network.layer_dims
        for l in range(1, len(dims)):
            start = network._w_off[l]
            self.is_weight[start:start + dims[l] * dims[l - 1]] = True
        # the parameters go only to the workers holding shards
        self.workers = sorted({w for who in client.who_has(shards).values() for w in who})
        self.evaluations = 0

    def sums(self, theta):
        """Loss and gradient sums over every shard at ``theta``, added in shard order."""
        client = self.client
        broadcast = client.scatter(theta, broadcast=True, hash=False, workers=self.workers)
        parts = client.gather([client.submit(_worker.loss_gradient_sums, shard, broadcast,
                                             self.spec, pure=False) for shard in self.shards])
        return as_float64_sum(parts)

    def __call__(self, x):
        net = self.network
        net._theta[...] = x
        theta = net._theta      # in the network's dtype, as the kernels read it
        sums = self.sums(theta)
        self.evaluations += 1
        weights = theta[self.is_weight].astype(np.float64)
        alpha, total = self.alpha, self.total
        penalty = 0.5 * alpha * float(np.dot(weights, weights)) / total if alpha else 0.0
        cost = sums[0] / total + penalty
        grad = sums[1:] / total
        if alpha:
            grad[self.is_weight] += (alpha / total) * weights
        if net.dtype != np.float64:
            # the single-process objective's gradient is the kernel's, in the network's dtype
            grad = grad.astype(net.dtype).astype(np.float64)
        if self.average_outputs:
            cost = penalty + (cost - penalty) / net.layer_dims[-1]
        return cost, grad
