"""The three sums of a dense layer, each fused with its elementwise work.

Layouts. Every product is computed in the *dot form* ``C[r, c] = sum_k P[r, k] * Q[c, k]``, where both
operands are read along their contiguous last axis, so the inner loop vectorizes (see
:func:`dot_block`). To give each sum that form, activations are kept in two layouts, both written by
the kernel that produces them (the second write is O(n*m), the sum O(n*n_prev*m)):

* example-major ``X_t`` of shape (m, n): one row per example (scikit-learn's layout), and
* neuron-major ``X`` of shape (n, m): one row per neuron (the course's layout).

=================  ====================================  ================================
sum                formula                               operands of the dot form
=================  ====================================  ================================
forward            Z_t = A_prev_t · Wᵀ + b               rows of A_prev_t, rows of W
weight gradients   dW = dZ · A_prevᵀ / m, db = Σ dZ / m  rows of dZ, rows of A_prev
input gradients    dA_prev_t = dZ_t · W                  rows of dZ_t, rows of Wᵀ (kept)
=================  ====================================  ================================

Parallel work is split over fixed tiles of the output (``TILE_ROWS`` x ``TILE_COLS``); each tile is
computed whole by one thread, so no two threads write one element and the summation order, hence
every bit of the result, is the same with any number of threads. Each kernel exists twice, serial
and parallel (``*_serial`` / ``*_parallel``); the ``dense_*`` entry points pick one by the amount of
work, never by the thread count.
"""
import numpy as np
from numba import prange

from .._config import (PARALLEL_MIN_ELEMENTS, PARALLEL_MIN_FLOPS, TILE_COLS, TILE_ROWS, kernel,
                       serial_and_parallel)
from .activations import SOFTMAX, activate, backprop_at_input, backprop_at_output


@kernel
def dot_block(P, Q, C, r0, r1, c0, c1):
    """Blocked dot-form product on one output block.

    ``C[r, c] = sum_k P[r, k] * Q[c, k]`` for ``r0 <= r < r1`` and ``c0 <= c < c1``.

    Parameters
    ----------
    P : ndarray, shape (R, K), C-contiguous
    Q : ndarray, shape (N, K), C-contiguous
    C : ndarray, shape (>= r1, >= c1)
        Receives the raw sums (the caller's epilogue then adds bias, applies g or g', scales).
    r0, r1, c0, c1 : int
        The block of C to compute.

    Notes
    -----
    A 4 x 2 block of outputs is accumulated at once: eight independent accumulators, each loaded
    P element used twice and each Q element four times, which keeps the FMA units busy instead of
    the load ports. The accumulators start from ``P.dtype`` so float32 stays float32.
    """
    K = P.shape[1]
    zero = P.dtype.type(0)
    r = r0
    while r + 4 <= r1:
        c = c0
        while c + 2 <= c1:
            s00 = zero
            s01 = zero
            s10 = zero
            s11 = zero
            s20 = zero
            s21 = zero
            s30 = zero
            s31 = zero
            for k in range(K):
                q0 = Q[c, k]
                q1 = Q[c + 1, k]
                p = P[r, k]
                s00 += p * q0
                s01 += p * q1
                p = P[r + 1, k]
                s10 += p * q0
                s11 += p * q1
                p = P[r + 2, k]
                s20 += p * q0
                s21 += p * q1
                p = P[r + 3, k]
                s30 += p * q0
                s31 += p * q1
            C[r, c] = s00
            C[r, c + 1] = s01
            C[r + 1, c] = s10
            C[r + 1, c + 1] = s11
            C[r + 2, c] = s20
            C[r + 2, c + 1] = s21
            C[r + 3, c] = s30
            C[r + 3, c + 1] = s31
            c += 2
        if c < c1:
            s00 = zero
            s10 = zero
            s20 = zero
            s30 = zero
            for k in range(K):
                q0 = Q[c, k]
                s00 += P[r, k] * q0
                s10 += P[r + 1, k] * q0
                s20 += P[r + 2, k] * q0
                s30 += P[r + 3, k] * q0
            C[r, c] = s00
            C[r + 1, c] = s10
            C[r + 2, c] = s20
            C[r + 3, c] = s30
        r += 4
    while r < r1:
        c = c0
        while c + 2 <= c1:
            s00 = zero
            s01 = zero
            for k in range(K):
                p = P[r, k]
                s00 += p * Q[c, k]
                s01 += p * Q[c + 1, k]
            C[r, c] = s00
            C[r, c + 1] = s01
            c += 2
        if c < c1:
            s00 = zero
            for k in range(K):
                s00 += P[r, k] * Q[c, k]
            C[r, c] = s00
        r += 1


@kernel(inline="always")
def _tile_bounds(tile, n_rows, n_cols):
    """Row and column range of output tile number ``tile`` (tiles numbered row by row)."""
    tiles_per_row = (n_cols + TILE_COLS - 1) // TILE_COLS
    r0 = (tile // tiles_per_row) * TILE_ROWS
    c0 = (tile % tiles_per_row) * TILE_COLS
    return r0, min(r0 + TILE_ROWS, n_rows), c0, min(c0 + TILE_COLS, n_cols)


@kernel(inline="always")
def _tile_count(n_rows, n_cols):
    return ((n_rows + TILE_ROWS - 1) // TILE_ROWS) * ((n_cols + TILE_COLS - 1) // TILE_COLS)


@kernel(inline="always")
def _copy_transposed(source, target, r0, r1, c0, c1):
    """``target[c, r] = source[r, c]`` on one block (the second layout of a tile)."""
    for c in range(c0, c1):
        for r in range(r0, r1):
            target[c, r] = source[r, c]


def _forward(A_prev_t, W, b, code, A_t, A, Z_t, write_neuron_major, keep_z):
    m = A_prev_t.shape[0]
    n = W.shape[0]
    for tile in prange(_tile_count(m, n)):
        i0, i1, j0, j1 = _tile_bounds(tile, m, n)
        dot_block(A_prev_t, W, A_t, i0, i1, j0, j1)
        for i in range(i0, i1):
            for j in range(j0, j1):
                z = A_t[i, j] + b[j]
                if keep_z:
                    Z_t[i, j] = z
                A_t[i, j] = z if code == SOFTMAX else activate(code, z)
        if write_neuron_major and code != SOFTMAX:
            _copy_transposed(A_t, A, i0, i1, j0, j1)


_forward_serial, _forward_parallel = serial_and_parallel(_forward)


def _softmax_rows(A_t, A, write_neuron_major):
    m, n = A_t.shape
    for i in prange(m):
        largest = A_t[i, 0]
        for j in range(1, n):
            largest = max(largest, A_t[i, j])
        total = A_t.dtype.type(0)
        for j in range(n):
            e = np.exp(A_t[i, j] - largest)
            A_t[i, j] = e
            total += e
        for j in range(n):
            A_t[i, j] /= total
        if write_neuron_major:
            for j in range(n):
                A[j, i] = A_t[i, j]


_softmax_serial, _softmax_parallel = serial_and_parallel(_softmax_rows)


@kernel
def dense_forward(A_prev_t, W, b, code, A_t, A, Z_t, write_neuron_major, keep_z):
    """Forward pass of one dense layer, bias and activation fused into the product.

    ``Z = W · A_prev + b`` and ``A = g(Z)``, computed example-major as
    ``Z_t[i, j] = sum_k A_prev_t[i, k] * W[j, k] + b[j]``.

    Parameters
    ----------
    A_prev_t : ndarray, shape (m, n_prev)
        The layer's input, one row per example.
    W : ndarray, shape (n, n_prev)
    b : ndarray, shape (n,)
    code : int
        Activation code (see ``activations``); SOFTMAX normalizes each example's row.
    A_t : ndarray, shape (m, n)
        Receives g(Z), example-major.
    A : ndarray, shape (n, m)
        Receives g(Z), neuron-major, when ``write_neuron_major``.
    Z_t : ndarray, shape (m, n)
        Receives Z when ``keep_z`` (the output layer's logits, for a stable loss).
    """
    m = A_prev_t.shape[0]
    n = W.shape[0]
    if 2 * m * n * A_prev_t.shape[1] >= PARALLEL_MIN_FLOPS:
        _forward_parallel(A_prev_t, W, b, code, A_t, A, Z_t, write_neuron_major, keep_z)
    else:
        _forward_serial(A_prev_t, W, b, code, A_t, A, Z_t, write_neuron_major, keep_z)
    if code == SOFTMAX:
        if m * n >= PARALLEL_MIN_ELEMENTS:
            _softmax_parallel(A_t, A, write_neuron_major)
        else:
            _softmax_serial(A_t, A, write_neuron_major)


def _weight_gradients(dZ, A_prev, dW, db, scale, l2, W):
    n = dZ.shape[0]
    n_prev = A_prev.shape[0]
    m = dZ.shape[1]
    for tile in prange(_tile_count(n, n_prev)):
        j0, j1, k0, k1 = _tile_bounds(tile, n, n_prev)
        dot_block(dZ, A_prev, dW, j0, j1, k0, k1)
        for j in range(j0, j1):
            for k in range(k0, k1):
                dW[j, k] = dW[j, k] * scale + l2 * W[j, k]
        if k0 == 0:
            # db rides along with the first column tile of its rows: same rows of dZ, already cached
            for j in range(j0, j1):
                total = dZ.dtype.type(0)
                for i in range(m):
                    total += dZ[j, i]
                db[j] = total * scale


_weight_gradients_serial, _weight_gradients_parallel = serial_and_parallel(_weight_gradients)


@kernel
def dense_weight_gradients(dZ, A_prev, dW, db, scale, l2, W):
    """Weight and bias gradients of one dense layer in one pass.

    ``dW = scale * dZ · A_prevᵀ + l2 * W`` and ``db = scale * sum_i dZ[:, i]``, sums over the
    examples; ``scale`` is 1/m for a mean loss (1/sum of weights with sample weights) and ``l2`` is
    the L2 penalty's factor (``alpha * scale``, as scikit-learn; 0 for none).

    Parameters
    ----------
    dZ : ndarray, shape (n, m)
        Gradient of the loss with respect to Z, neuron-major.
    A_prev : ndarray, shape (n_prev, m)
        The layer's input, neuron-major.
    dW : ndarray, shape (n, n_prev)
        Receives the weight gradient.
    db : ndarray, shape (n,)
        Receives the bias gradient.
    scale, l2 : float
        Of the array dtype.
    W : ndarray, shape (n, n_prev)
        The layer's weights (read only for the L2 term).
    """
    if 2 * dZ.shape[0] * dZ.shape[1] * A_prev.shape[0] >= PARALLEL_MIN_FLOPS:
        _weight_gradients_parallel(dZ, A_prev, dW, db, scale, l2, W)
    else:
        _weight_gradients_serial(dZ, A_prev, dW, db, scale, l2, W)


def _input_gradients(dZ_t, W_t, code, G_t, g_is_input, dZ_prev_t, dZ_prev, write_neuron_major):
    m = dZ_t.shape[0]
    n_prev = W_t.shape[0]
    for tile in prange(_tile_count(m, n_prev)):
        i0, i1, k0, k1 = _tile_bounds(tile, m, n_prev)
        dot_block(dZ_t, W_t, dZ_prev_t, i0, i1, k0, k1)
        for i in range(i0, i1):
            for k in range(k0, k1):
                if g_is_input:
                    dZ_prev_t[i, k] = backprop_at_input(code, dZ_prev_t[i, k], G_t[i, k])
                else:
                    dZ_prev_t[i, k] = backprop_at_output(code, dZ_prev_t[i, k], G_t[i, k])
        if write_neuron_major:
            _copy_transposed(dZ_prev_t, dZ_prev, i0, i1, k0, k1)


_input_gradients_serial, _input_gradients_parallel = serial_and_parallel(_input_gradients)


@kernel
def dense_input_gradients(dZ_t, W_t, code, G_t, g_is_input, dZ_prev_t, dZ_prev, write_neuron_major):
    """Gradient flowing into the previous layer, with that layer's g' fused.

    ``dA_prev = Wᵀ · dZ`` (a sum over this layer's neurons), then
    ``dZ_prev = dA_prev * g'_prev``, computed example-major as
    ``dA_prev_t[i, k] = sum_j dZ_t[i, j] * W_t[k, j]``.

    Parameters
    ----------
    dZ_t : ndarray, shape (m, n)
        This layer's dZ, example-major.
    W_t : ndarray, shape (n_prev, n)
        This layer's weights, transposed (kept contiguous so the sum is a dot form).
    code : int
        Activation code of the previous layer (LINEAR gives dA_prev itself).
    G_t : ndarray, shape (m, n_prev)
        Where g' is evaluated: the previous layer's Z (``g_is_input``) or its A.
    dZ_prev_t : ndarray, shape (m, n_prev)
        Receives dZ_prev, example-major.
    dZ_prev : ndarray, shape (n_prev, m)
        Receives dZ_prev, neuron-major, when ``write_neuron_major``.
    """
    if 2 * dZ_t.shape[0] * dZ_t.shape[1] * W_t.shape[0] >= PARALLEL_MIN_FLOPS:
        _input_gradients_parallel(dZ_t, W_t, code, G_t, g_is_input, dZ_prev_t, dZ_prev,
                                  write_neuron_major)
    else:
        _input_gradients_serial(dZ_t, W_t, code, G_t, g_is_input, dZ_prev_t, dZ_prev,
                                write_neuron_major)


def _transpose(source, target):
    rows, cols = source.shape
    for r0 in prange((rows + TILE_ROWS - 1) // TILE_ROWS):
        start = r0 * TILE_ROWS
        _copy_transposed(source, target, start, min(start + TILE_ROWS, rows), 0, cols)


_transpose_serial, _transpose_parallel = serial_and_parallel(_transpose)


@kernel
def transpose_into(source, target):
    """``target[:] = source.T`` for 2-D arrays (target of shape (cols, rows), C-contiguous)."""
    if source.size >= PARALLEL_MIN_ELEMENTS:
        _transpose_parallel(source, target)
    else:
        _transpose_serial(source, target)
