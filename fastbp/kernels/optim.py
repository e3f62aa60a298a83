"""In-place parameter updates, one pass over the flat parameter vector.

The formulas are scikit-learn's (``sklearn/neural_network/_stochastic_optimizers.py``), so the
estimators reproduce its training step for step:

* ``sgd``:       theta -= lr * g
* ``momentum``:  v = mu * v - lr * g;  theta += v, or with Nesterov theta += mu * v - lr * g
* ``adam``:      t += 1;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g**2;
  theta -= lr * sqrt(1 - b2**t) / (1 - b1**t) * m / (sqrt(v) + eps)

The L2 penalty is already in ``g`` (see ``dense.dense_weight_gradients``). Optimizer state lives in
``state`` (rows: velocity; or first and second moments) and ``step`` (Adam's t), owned by the
caller so that training can continue across calls.
"""
import numpy as np
from numba import prange

from .._config import PARALLEL_MIN_ELEMENTS, kernel, parallel_kernel

SGD = 0
MOMENTUM = 1
ADAM = 2

OPTIMIZERS = {"sgd": SGD, "momentum": MOMENTUM, "adam": ADAM}

#: Rows of optimizer state each optimizer needs.
STATE_ROWS = {SGD: 0, MOMENTUM: 1, ADAM: 2}

# Positions in the ``hyper`` array of hyper-parameters.
LEARNING_RATE = 0
MOMENTUM_FACTOR = 1
NESTEROV = 2
BETA_1 = 3
BETA_2 = 4
EPSILON = 5
N_HYPER = 6

_CHUNK = 4096


@kernel(inline=True)
def update_range(optimizer, theta, g, state, hyper, adam_rate, start):
    """Update ``theta[start:start + len(g)]`` and the same columns of ``state`` from their
    gradient ``g`` (see :func:`apply_update`; ``adam_rate`` is Adam's rate for this step).

    The one place the optimizers' formulas are written: :func:`apply_update`'s chunks and the
    sparse first layer's rows (``kernels.sparse``, which applies each row of dW1 as it is
    computed) both call it with whole arrays and a view of the gradient, so one version serves
    both.
    """
    stop = start + g.shape[0]
    lr = theta.dtype.type(hyper[LEARNING_RATE])
    # loops over views of the range vectorize; indexed from ``start`` they stayed scalar
    # (7x slower on the digits network's 9610 parameters)
    t = theta[start:stop]
    if optimizer == SGD:
        for p in range(t.shape[0]):
            t[p] -= lr * g[p]
    elif optimizer == MOMENTUM:
        mu = theta.dtype.type(hyper[MOMENTUM_FACTOR])
        nesterov = hyper[NESTEROV] != 0
        velocity = state[0, start:stop]
        for p in range(t.shape[0]):
            v = mu * velocity[p] - lr * g[p]
            velocity[p] = v
            if nesterov:
                t[p] += mu * v - lr * g[p]
            else:
                t[p] += v
    else:
        b1 = theta.dtype.type(hyper[BETA_1])
        b2 = theta.dtype.type(hyper[BETA_2])
        eps = theta.dtype.type(hyper[EPSILON])
        one = theta.dtype.type(1)
        rate = theta.dtype.type(adam_rate)
        first = state[0, start:stop]
        second = state[1, start:stop]
        for p in range(t.shape[0]):
            gradient = g[p]
            m1 = b1 * first[p] + (one - b1) * gradient
            m2 = b2 * second[p] + (one - b2) * (gradient * gradient)
            first[p] = m1
            second[p] = m2
            t[p] -= rate * m1 / (np.sqrt(m2) + eps)


@kernel(inline=True)
def next_step_rate(optimizer, hyper, step):
    """Count a step (Adam's time step t, in place) and return Adam's rate for it,
    ``lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``; 0 for the other optimizers."""
    if optimizer != ADAM:
        return 0.0
    step[0] += 1
    t = step[0]
    return (hyper[LEARNING_RATE] * np.sqrt(1.0 - hyper[BETA_2] ** t)
            / (1.0 - hyper[BETA_1] ** t))


@kernel(inline=True)
def _update_chunk(optimizer, theta, grad, state, hyper, adam_rate, chunk):
    """The update of parameters ``chunk * _CHUNK`` up to the next chunk (see :func:`apply_update`)."""
    start = chunk * _CHUNK
    stop = min(start + _CHUNK, theta.shape[0])
    update_range(optimizer, theta, grad[start:stop], state, hyper, adam_rate, start)


@parallel_kernel
def _update_parallel(optimizer, theta, grad, state, hyper, adam_rate):
    for chunk in prange((theta.shape[0] + _CHUNK - 1) // _CHUNK):
        # prange counts in unsigned integers: one signed type keeps _update_chunk compiled once
        _update_chunk(optimizer, theta, grad, state, hyper, adam_rate, np.int64(chunk))


@kernel
def apply_update(optimizer, theta, grad, state, hyper, step, parallel):
    """Update ``theta`` in place from ``grad`` with the chosen optimizer.

    Parameters
    ----------
    optimizer : int
        SGD, MOMENTUM or ADAM.
    theta, grad : ndarray, shape (P,)
        Flat parameters and their gradient.
    state : ndarray, shape (STATE_ROWS[optimizer], P)
        Velocity, or Adam's first and second moments; updated in place.
    hyper : ndarray of float64, shape (N_HYPER,)
        Learning rate, momentum, Nesterov flag (0/1), beta_1, beta_2, epsilon.
    step : ndarray of int64, shape (1,)
        Adam's time step t, incremented in place.
    parallel : bool
        Threads may be used (chunks run in parallel from ``PARALLEL_MIN_ELEMENTS`` parameters
        on); each parameter's update is the same either way.
    """
    adam_rate = next_step_rate(optimizer, hyper, step)
    if parallel and theta.shape[0] >= PARALLEL_MIN_ELEMENTS:
        _update_parallel(optimizer, theta, grad, state, hyper, adam_rate)
    else:
        for chunk in range((theta.shape[0] + _CHUNK - 1) // _CHUNK):
            _update_chunk(optimizer, theta, grad, state, hyper, adam_rate, chunk)


@kernel(_nrt=True, python=True)
def scaled_difference(x, y, factor, out):
    """``out = x - factor * y`` elementwise (the course's update, into a new array).

    Compiled with Numba's runtime: ``ravel`` copies an array that is not contiguous.
    """
    flat_x = x.ravel()
    flat_y = y.ravel()
    flat_out = out.ravel()
    typed = x.dtype.type(factor)
    for p in range(flat_x.shape[0]):
        flat_out[p] = flat_x[p] - typed * flat_y[p]
