"""Loss values and the output-layer gradient.

Each output activation is paired with its matching loss, so the output layer's gradient is always
``dZ[L] = A[L] - Y`` (times the example's weight):

==========  ==============================  ===============================================
output      loss                            per-example loss, summed over the outputs j
==========  ==============================  ===============================================
sigmoid     binary cross-entropy (BCE)      max(z, 0) - z*y + log1p(exp(-|z|)), the last term
                                            as -log(max(a, 1 - a))
softmax     categorical cross-entropy (CE)  sum_j y_j * (logsumexp(z) - z_j), logsumexp(z)
                                            as z_top - log(a_top) at the largest logit
linear      mean squared error (MSE)        (a - y)**2 / 2
==========  ==============================  ===============================================

BCE and CE are computed from the logits Z, never from log(A) or log(1 - A) alone: no log(0) when A
rounds to 0 or 1 (BCE takes the log of max(a, 1 - a), which is at least 0.5), and no overflow for
|Z| up to 1e4 and beyond. The loss is the mean over examples (a weighted mean
with sample weights).
"""
import numpy as np

from .._config import kernel
from .activations import like

BCE = 0
CE = 1
MSE = 2

#: Loss names accepted by the Network, with their codes.
LOSSES = {"bce": BCE, "binary_cross_entropy": BCE, "log_loss": BCE,
          "ce": CE, "cross_entropy": CE, "categorical_cross_entropy": CE,
          "mse": MSE, "squared_error": MSE}

#: The loss each output activation is paired with.
MATCHING_LOSS = {"sigmoid": BCE, "logistic": BCE, "softmax": CE, "linear": MSE, "identity": MSE}

NAMES = {BCE: "bce", CE: "ce", MSE: "mse"}


@kernel(inline="always")
def example_loss(loss, Z, A, Y, i):
    """Loss of example ``i`` (column i of the neuron-major arrays), summed over the outputs."""
    n = Z.shape[0]
    total = Z.dtype.type(0)
    if loss == BCE:
        one = like(total, 1)
        for j in range(n):
            # log1p(exp(-|z|)) = -log(sigmoid(|z|)) = -log(max(a, 1 - a)) with a = sigmoid(z):
            # one log instead of exp and log1p, and the argument stays in [0.5, 1]
            z = Z[j, i]
            a = A[j, i]
            total += max(z, like(z, 0)) - z * Y[j, i] - np.log(max(a, one - a))
    elif loss == CE:
        top = 0
        for j in range(1, n):
            if Z[j, i] > Z[top, i]:
                top = j
        # log-sum-exp from the softmax the forward pass computed, one log instead of n exps:
        # the largest logit's probability is 1 / sum_j exp(z_j - z_top), at least 1/n, so its
        # log is as exact as log(sum) and never -inf
        log_sum_exp = Z[top, i] - np.log(A[top, i])
        for j in range(n):
            total += Y[j, i] * (log_sum_exp - Z[j, i])
    else:
        for j in range(n):
            d = A[j, i] - Y[j, i]
            total += d * d
        total *= like(total, 0.5)
    return total


@kernel
def batch_loss(loss, Z, A, Y, weights, weighted):
    """Mean loss over the examples of a batch (weighted mean when ``weighted``).

    Parameters
    ----------
    loss : int
        BCE, CE or MSE.
    Z, A, Y : ndarray, shape (n_L, m)
        Logits, outputs and targets, one column per example; A = g(Z) as the forward pass
        computed it (CE reads the softmax's largest probability).
    weights : ndarray, shape (m,)
        Sample weights (read only when ``weighted``).

    Returns
    -------
    float
        Accumulated in float64 in a fixed order, whatever the dtype of the network.
    """
    total = 0.0
    weight_sum = 0.0
    m = Z.shape[1]
    for i in range(m):
        value = np.float64(example_loss(loss, Z, A, Y, i))
        if weighted:
            total += weights[i] * value
            weight_sum += weights[i]
        else:
            total += value
    if not weighted:
        weight_sum = m
    return total / weight_sum


@kernel
def output_gradient(A, Y, weights, weighted, dZ):
    """``dZ[L] = (A[L] - Y) * w`` for every matched output/loss pair.

    Parameters
    ----------
    A, Y : ndarray, shape (n_L, m)
    weights : ndarray, shape (m,)
        Sample weights (read only when ``weighted``).
    dZ : ndarray, shape (n_L, m)
        Receives dZ.
    """
    n, m = A.shape
    for j in range(n):
        for i in range(m):
            d = A[j, i] - Y[j, i]
            if weighted:
                d *= weights[i]
            dZ[j, i] = d


@kernel(exact=True)
def course_cost(AL, Y):
    """The course's cost, ``-1/m * sum(Y*log(AL) + (1-Y)*log(1-AL))``, exactly as written.

    Unlike :func:`batch_loss` it works from probabilities, so ``AL`` of exactly 0 or 1 gives inf
    or NaN, as the course's NumPy does.
    """
    rows, m = AL.shape
    total = 0.0
    for r in range(rows):
        for i in range(m):
            a = np.float64(AL[r, i])
            y = np.float64(Y[r, i])
            total += y * np.log(a) + (1.0 - y) * np.log(1.0 - a)
    return -total / m


@kernel(exact=True)
def course_output_gradient(AL, Y, dAL):
    """The course's ``dAL = -(Y / AL - (1 - Y) / (1 - AL))``, exactly as written (inf/NaN included)."""
    rows, m = AL.shape
    one = AL.dtype.type(1)
    for r in range(rows):
        for i in range(m):
            y = Y[r, i]
            a = AL[r, i]
            dAL[r, i] = -(y / a - (one - y) / (one - a))
