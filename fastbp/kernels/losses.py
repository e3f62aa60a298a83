"""Loss values and the output-layer gradient.

Each output activation is paired with its matching loss, so the output layer's gradient is always
``dZ[L] = A[L] - Y`` (times the example's weight):

==========  ==============================  ===============================================
output      loss                            per-example loss, summed over the outputs j
==========  ==============================  ===============================================
sigmoid     binary cross-entropy (BCE)      max(z, 0) - z*y + log1p(exp(-|z|))
softmax     categorical cross-entropy (CE)  sum_j y_j * (logsumexp(z) - z_j)
linear      mean squared error (MSE)        (a - y)**2 / 2
==========  ==============================  ===============================================

BCE and CE are computed from the logits Z, never from log(A): no log(0) when A rounds to 0 or 1,
and no overflow for |Z| up to 1e4 and beyond. The loss is the mean over examples (a weighted mean
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


@kernel
def example_loss(loss, Z_t, A_t, Y_t, i):
    """Loss of example ``i`` (row i of the example-major arrays), summed over the outputs."""
    n = Z_t.shape[1]
    total = Z_t.dtype.type(0)
    if loss == BCE:
        for j in range(n):
            z = Z_t[i, j]
            total += max(z, like(z, 0)) - z * Y_t[i, j] + np.log1p(np.exp(-abs(z)))
    elif loss == CE:
        largest = Z_t[i, 0]
        for j in range(1, n):
            largest = max(largest, Z_t[i, j])
        exp_sum = Z_t.dtype.type(0)
        for j in range(n):
            exp_sum += np.exp(Z_t[i, j] - largest)
        log_sum_exp = largest + np.log(exp_sum)
        for j in range(n):
            total += Y_t[i, j] * (log_sum_exp - Z_t[i, j])
    else:
        for j in range(n):
            d = A_t[i, j] - Y_t[i, j]
            total += d * d
        total *= like(total, 0.5)
    return total


@kernel
def batch_loss(loss, Z_t, A_t, Y_t, weights, weighted):
    """Mean loss over the examples of a batch (weighted mean when ``weighted``).

    Parameters
    ----------
    loss : int
        BCE, CE or MSE.
    Z_t, A_t, Y_t : ndarray, shape (m, n_L)
        Logits, outputs and targets, one row per example.
    weights : ndarray, shape (m,)
        Sample weights (read only when ``weighted``).

    Returns
    -------
    float
        Accumulated in float64 in a fixed order, whatever the dtype of the network.
    """
    total = 0.0
    weight_sum = 0.0
    for i in range(Z_t.shape[0]):
        value = np.float64(example_loss(loss, Z_t, A_t, Y_t, i))
        if weighted:
            total += weights[i] * value
            weight_sum += weights[i]
        else:
            total += value
    if not weighted:
        weight_sum = Z_t.shape[0]
    return total / weight_sum


@kernel
def output_gradient(A_t, Y_t, weights, weighted, dZ_t, dZ):
    """``dZ[L] = (A[L] - Y) * w`` in both layouts, for every matched output/loss pair.

    Parameters
    ----------
    A_t, Y_t : ndarray, shape (m, n_L)
    weights : ndarray, shape (m,)
        Sample weights (read only when ``weighted``).
    dZ_t : ndarray, shape (m, n_L)
        Receives dZ example-major.
    dZ : ndarray, shape (n_L, m)
        Receives dZ neuron-major.
    """
    m, n = A_t.shape
    for i in range(m):
        for j in range(n):
            d = A_t[i, j] - Y_t[i, j]
            if weighted:
                d *= weights[i]
            dZ_t[i, j] = d
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
