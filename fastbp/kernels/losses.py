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
exp         half Poisson deviance           y log(y) - y z - y + a (y log(y) = 0 at y = 0), with
            (POISSON)                       a = exp(z): scikit-learn's ``poisson_loss``
==========  ==============================  ===============================================

BCE and CE are computed from the logits Z, never from log(A) or log(1 - A) alone: no log(0) when A
rounds to 0 or 1 (BCE takes the log of max(a, 1 - a), which is at least 0.5), and no overflow for
|Z| up to 1e4 and beyond. The loss is the mean over examples (a weighted mean
with sample weights).
"""
import numpy as np

from .._config import kernel
from .simd import (vadd, vector_lanes, vfma, vlane, vlog, vload_part, vmax, vmul, vsplat, vsub,
                   vsum_float64, vzeros)
from .views import as_flat

BCE = 0
CE = 1
MSE = 2
#: Half Poisson deviance, paired with the exp output (a log link): dZ = exp(Z) - Y.
POISSON = 3

#: Loss names accepted by the Network, with their codes.
LOSSES = {"bce": BCE, "binary_cross_entropy": BCE, "log_loss": BCE,
          "ce": CE, "cross_entropy": CE, "categorical_cross_entropy": CE,
          "mse": MSE, "squared_error": MSE, "poisson": POISSON}

#: The loss each output activation is paired with.
MATCHING_LOSS = {"sigmoid": BCE, "logistic": BCE, "softmax": CE, "linear": MSE, "identity": MSE,
                 "exp": POISSON}

NAMES = {BCE: "bce", CE: "ce", MSE: "mse", POISSON: "poisson"}


@kernel(inline=True)
def example_losses(loss, flat_Z, flat_A, flat_Y, n, m, c, count):
    """Losses of the ``count`` (at most one vector of) examples from column ``c`` on, each summed
    over the outputs: a vector with one example per lane.

    ``flat_Z``, ``flat_A``, ``flat_Y`` are the flat views of the (n, m) neuron-major arrays, made
    once by the caller (a ``reshape`` per call cost more than the losses of a small batch). Their
    rows run along the examples, so every step is whole vectors, and the logs are
    :func:`simd.vlog`'s: one per output and example for BCE, one per example for CE.
    """
    total = vzeros(flat_Z)
    if loss == BCE:
        zeros = vzeros(flat_Z)
        ones = vsplat(flat_Z.dtype.type(1))
        for j in range(n):
            # log1p(exp(-|z|)) = -log(sigmoid(|z|)) = -log(max(a, 1 - a)) with a = sigmoid(z):
            # one log instead of exp and log1p, and the argument stays in [0.5, 1]
            z = vload_part(flat_Z, j * m + c, count)
            a = vload_part(flat_A, j * m + c, count)
            y = vload_part(flat_Y, j * m + c, count)
            term = vsub(vsub(vmax(z, zeros), vmul(z, y)), vlog(vmax(a, vsub(ones, a))))
            total = vadd(total, term)
    elif loss == CE:
        z_top = vload_part(flat_Z, c, count)
        a_top = vload_part(flat_A, c, count)
        for j in range(1, n):
            z_top = vmax(z_top, vload_part(flat_Z, j * m + c, count))
            a_top = vmax(a_top, vload_part(flat_A, j * m + c, count))
        # log-sum-exp from the softmax the forward pass computed, one log instead of n exps:
        # the largest logit's probability (the largest probability) is 1 / sum_j exp(z_j -
        # z_top), at least 1/n, so its log is as exact as log(sum) and never -inf
        log_sum_exp = vsub(z_top, vlog(a_top))
        for j in range(n):
            y = vload_part(flat_Y, j * m + c, count)
            total = vfma(y, vsub(log_sum_exp, vload_part(flat_Z, j * m + c, count)), total)
    elif loss == POISSON:
        for j in range(n):
            # a - y z - y: log(a) is z itself (no log of an exp that may have rounded to 0 or
            # overflowed); the deviance's y log(y), a constant of the targets, is added by
            # batch_loss (a scalar log there compiles to far less than a vector one here)
            z = vload_part(flat_Z, j * m + c, count)
            y = vload_part(flat_Y, j * m + c, count)
            total = vadd(total, vsub(vsub(vload_part(flat_A, j * m + c, count), vmul(y, z)), y))
    else:
        for j in range(n):
            d = vsub(vload_part(flat_A, j * m + c, count), vload_part(flat_Y, j * m + c, count))
            total = vfma(d, d, total)
        total = vmul(total, vsplat(flat_Z.dtype.type(0.5)))
    return total


@kernel(inline=True)
def sum_of_squares(theta, start, stop):
    """``sum(theta[start:stop]**2)`` in float64: the L2 penalty's sum over a layer's weights.

    The loop runs over a view from 0, which LLVM vectorizes; indexed from ``start`` it stayed
    scalar (mnist's 1.9M float32 weights: 1.05 ms, 0.31 ms as a view).
    """
    values = theta[start:stop]
    total = 0.0
    for p in range(values.shape[0]):
        value = np.float64(values[p])
        total += value * value
    return total


@kernel(inline=True)
def batch_loss(loss, Z, A, Y, weights, weighted):
    """Mean loss over the examples of a batch (weighted mean when ``weighted``).

    Parameters
    ----------
    loss : int
        BCE, CE, MSE or POISSON.
    Z, A, Y : ndarray, shape (n_L, m)
        Logits, outputs and targets, one column per example, C-contiguous; A = g(Z) as the
        forward pass computed it (CE reads the softmax's largest probability).
    weights : ndarray, shape (m,)
        Sample weights (read only when ``weighted``).

    Returns
    -------
    float
        Each example's loss in the network's dtype, accumulated in float64 in a fixed order
        (a vector of examples at a time by ``simd.vsum_float64``), whatever the dtype of the
        network.
    """
    total = 0.0
    weight_sum = 0.0
    n, m = Z.shape
    L = vector_lanes(Z)
    flat_Z = as_flat(Z)
    flat_A = as_flat(A)
    flat_Y = as_flat(Y)
    for c in range(0, m, L):
        count = min(L, m - c)
        values = example_losses(loss, flat_Z, flat_A, flat_Y, n, m, c, count)
        if count == L and not weighted:
            # a whole vector's sum in one shuffle tree, not L dependent adds (with vlog's
            # Estrin series, the 20-10-1 network's loss went from 0.21 to 0.12 us); the
            # lanes of a partial vector may hold NaN, so those take the loop below
            total += vsum_float64(values)
            continue
        for i in range(count):
            value = np.float64(vlane(values, i))
            if weighted:
                total += weights[c + i] * value
                weight_sum += weights[c + i]
            else:
                total += value
    if loss == POISSON:
        total += _targets_y_log_y(Y, weights, weighted)
    if not weighted:
        weight_sum = m
    return total / weight_sum


@kernel(inline=True)
def _targets_y_log_y(Y, weights, weighted):
    """The Poisson deviance's constant, sum over examples (weighted) and outputs of
    ``xlogy(y, y)`` (0 where y is 0), in float64."""
    total = 0.0
    n, m = Y.shape
    for i in range(m):
        example = 0.0
        for j in range(n):
            y = np.float64(Y[j, i])
            if y > 0:
                example += y * np.log(y)
        total += weights[i] * example if weighted else example
    return total


@kernel(inline=True)
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


@kernel(exact=True, python=True)
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


@kernel(exact=True, python=True)
def course_output_gradient(AL, Y, dAL):
    """The course's ``dAL = -(Y / AL - (1 - Y) / (1 - AL))``, exactly as written (inf/NaN included)."""
    rows, m = AL.shape
    one = AL.dtype.type(1)
    for r in range(rows):
        for i in range(m):
            y = Y[r, i]
            a = AL[r, i]
            dAL[r, i] = -(y / a - (one - y) / (one - a))
