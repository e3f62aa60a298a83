"""The three sums of a dense layer, each a register-blocked product fused with its elementwise work.

Everything is neuron-major, as in the course: A[l] is (n_l, m), one column per example.

=================  ==========================================  ==============================
sum                formula                                     product (see ``gemm``)
=================  ==========================================  ==============================
forward            Z = W · A_prev + b,  A = g(Z)                W (n, n_prev) · A_prev
weight gradients   dW = scale dZ · A_prevᵀ + l2 W, db = Σ dZ    dZ · A_prevᵀ  (opB transposed)
input gradients    dZ_prev = (Wᵀ · dZ) * g'_prev                Wᵀ (opA transposed) · dZ
=================  ==========================================  ==============================

Each sum is cut into a grid of output blocks, one parallel task each; a task computes its block with
``gemm.block_product`` and applies the elementwise work (bias and activation, scale and penalty, or
the previous layer's g') to it while it is still in cache. Every output is summed in the same order
whatever the grid or the number of threads, so results are bit-identical with 1 or 2 threads. The
three ``dense_*`` entry points share one compiled entry, :func:`dense_sum`, which runs the blocks
serially or as parallel tasks by the amount of work.

``scratch`` is a (threads, size) array of per-thread packing buffers, rows at least
:func:`scratch_elements` long; ``numba.get_thread_id()`` picks the row, which affects only where
packed copies live, never a result.
"""
import numba
import numpy as np
from numba import prange

from .._config import PARALLEL_MIN_FLOPS, kernel, parallel_kernel
from .activations import LINEAR, SOFTMAX, activate_block, backprop_block
from .gemm import (KC, MC, MR, block_product, scratch_size, takes_plain_loops,
                   transposed_opb_elements, transposes_opb)
from .simd import (lanes, vadd, vdiv, vector_lanes, vexp, vload, vload_part, vmax, vstore_part,
                   vsub, vsum, vzeros)
from .views import as_flat

#: Widest block of output columns a task takes (its packed opB block, KC x width, stays in L2).
MAX_BLOCK_COLUMNS = 256
#: Tasks a parallel product is cut into at least (when the output has enough tiles).
PARALLEL_TASKS = 4
#: dW is computed as dWᵀ = A_prev · dZᵀ when a layer has this many times fewer neurons than
#: inputs: transposing A_prev would cost a whole extra pass over it (X, for the course network's
#: first layer), while dWᵀ is written back transposed element by element. With fewer inputs
#: (the digits network's 10-neuron output over 128), transposing A_prev in registers is cheaper.
SWAP_RATIO = 16
#: Cost of packing one element of a transposed opB (the weight gradients' A_prevᵀ or dZᵀ),
#: relative to one of an untransposed operand: see :func:`_grid`.
TRANSPOSED_PACK_COST = 4


def scratch_elements(dtype, columns=MAX_BLOCK_COLUMNS, depth=KC, rows=MC):
    """Length of one thread's packing buffer for kernels of ``dtype`` (float32 or float64).

    Enough for products of up to ``columns`` output columns, ``depth`` summed terms and ``rows``
    output rows; the defaults cover any product.
    """
    return scratch_size(min(columns, MAX_BLOCK_COLUMNS), lanes(np.dtype(dtype)), depth, rows)


def _product_scratch(M, N, K, a_trans, b_trans, L):
    """Elements of scratch ``block_product`` may use for any block of an M x N product of K terms.

    Register tiles pack a block of at most ``MAX_BLOCK_COLUMNS`` columns (and MC rows of a
    transposed opA); plain loops only copy a transposed opB (``gemm.transposes_opb``). A product
    whose whole output takes plain loops has only blocks that do (a block is never larger);
    otherwise a block may take either way.
    """
    columns = min(N, MAX_BLOCK_COLUMNS)
    plain = (transposed_opb_elements.py_func(columns, K, L)
             if b_trans and transposes_opb.py_func(M, K) else 0)
    if takes_plain_loops.py_func(M, N, K):
        return plain
    return max(plain, scratch_size(columns, L, K, M if a_trans else 0))


def scratch_shape(dims, capacity, dtype, inputs_by_rows=False):
    """Shape ``(threads, elements)`` of the packing buffers a network's passes need.

    Parameters
    ----------
    dims : sequence of int
        Neurons per layer, inputs first.
    capacity : int
        Most examples a pass computes at once (the batch size, or all examples).
    dtype : float32 or float64
    inputs_by_rows : bool
        The first layer's weight gradient reads its inputs example-major (``by_rows``).

    Returns
    -------
    (int, int)
        One row per thread (``numba.config.NUMBA_NUM_THREADS``) if any product is large enough
        to run in parallel, else a single row; each row the largest need of the forward, weight-
        and input-gradient products of every layer (at least 1 element).
    """
    L = lanes(np.dtype(dtype))
    need = 1
    parallel = False
    for l in range(1, len(dims)):
        n, n_prev, m = int(dims[l]), int(dims[l - 1]), int(capacity)
        parallel = parallel or 2 * n * n_prev * m >= PARALLEL_MIN_FLOPS
        need = max(need, _product_scratch(n, m, n_prev, False, False, L))
        by_rows = inputs_by_rows and l == 1
        rows, cols, swapped = _weight_gradient_shape.py_func(n, n_prev, m, by_rows)
        need = max(need, _product_scratch(rows, cols, m, False, not by_rows, L))
        if l > 1:
            need = max(need, _product_scratch(n_prev, m, n, True, False, L))
    return (numba.config.NUMBA_NUM_THREADS if parallel else 1), need


@kernel(inline=True)
def _grid(M, N, L, tasks, b_cost=1):
    """Block counts ``(row_blocks, col_blocks)`` of an M x N output cut into about ``tasks``
    blocks (:func:`_block` gives each block's rows and columns).

    Every block packs its rows of opA (M x K over all column blocks) and its columns of opB
    (K x N over all row blocks), so a grid of R x C blocks copies about ``C*M + R*N*b_cost``
    elements per k: a wide, short output (the course network's 20 x 12288 gradient) is cut into
    columns, a tall one into rows. ``b_cost`` weighs opB's copies: a transposed opB is packed
    element by element, several times slower than a row. Blocks are at most
    ``MAX_BLOCK_COLUMNS`` wide.
    """
    NR = 2 * L
    panels = (N + NR - 1) // NR
    micro_rows = (M + MR - 1) // MR
    narrowest = (N + MAX_BLOCK_COLUMNS - 1) // MAX_BLOCK_COLUMNS
    best_rows = 1
    best_cols = narrowest
    best_cost = -1
    for col_blocks in range(narrowest, max(narrowest, min(tasks, panels)) + 1):
        row_blocks = min(micro_rows, max(1, (tasks + col_blocks - 1) // col_blocks))
        cost = col_blocks * M + row_blocks * N * b_cost
        if best_cost < 0 or cost < best_cost:
            best_cost = cost
            best_rows = row_blocks
            best_cols = col_blocks
    return best_rows, best_cols


@kernel(inline=True)
def _block(task, M, N, L, row_blocks, col_blocks):
    """Rows and columns ``(r0, r1, c0, c1)`` of block ``task`` of the grid.

    Blocks share out whole register tiles (MR rows, 2L columns) as evenly as possible, so that
    14 column panels in 4 blocks are 3, 4, 3, 4 panels (two threads get equal work), not 4, 4,
    4, 2; none is larger than :func:`_grid`'s block sizes.
    """
    NR = 2 * L
    micro_rows = (M + MR - 1) // MR
    panels = (N + NR - 1) // NR
    i = task % row_blocks
    j = task // row_blocks
    return (i * micro_rows // row_blocks * MR, min((i + 1) * micro_rows // row_blocks * MR, M),
            j * panels // col_blocks * NR, min((j + 1) * panels // col_blocks * NR, N))


#: The three sums of a dense layer (:func:`dense_sum`'s ``op``).
FORWARD = 0
WEIGHT_GRADIENTS = 1
INPUT_GRADIENTS = 2


@kernel(inline=True)
def _weight_gradient_shape(n, n_prev, m, by_rows):
    """Rows and columns of the product computed for dW, and whether it is dWᵀ.

    Either dW = dZ · A_prevᵀ packs A_prev transposed, or dWᵀ = A_prev · dZᵀ packs dZ: the product
    transposes dZ when it is much smaller (:data:`SWAP_RATIO`; the course network's first layer
    has 20 neurons and 12288 inputs). A product small enough for ``gemm.direct_product`` is never
    swapped: there it transposes opB once into scratch and writes dW's rows whole, which a
    transposed C cannot. An A_prev given example-major (``by_rows``) needs no transposing: never
    swapped either.
    """
    if (not by_rows and SWAP_RATIO * n <= n_prev
            and not (m <= KC and takes_plain_loops(n, n_prev, m))):
        return n_prev, n, True
    return n, n_prev, False


def transposes_inputs(n, n_prev, m):
    """Whether :func:`dense_weight_gradients` of a layer of ``n`` neurons over ``n_prev`` inputs
    and ``m`` examples copies its A_prev transposed on every call (the plain-loop path), which an
    example-major copy given once (``by_rows``) saves: the 20-10-1 network's first layer spent
    half its weight gradient transposing X."""
    rows, cols, swapped = _weight_gradient_shape.py_func(n, n_prev, m, False)
    return (not swapped and takes_plain_loops.py_func(rows, cols, m)
            and transposes_opb.py_func(rows, m))


@kernel(inline=True)
def _sum_shape(op, P, out, by_rows):
    """The product computed for a sum: its rows, columns and terms, whether it is dWᵀ, and the
    relative cost of packing its opB (see :func:`_grid`)."""
    if op == WEIGHT_GRADIENTS:
        rows, cols, swapped = _weight_gradient_shape(out.shape[0], out.shape[1], P.shape[1],
                                                     by_rows)
        return rows, cols, P.shape[1], swapped, 1 if by_rows else TRANSPOSED_PACK_COST
    depth = P.shape[0] if op == INPUT_GRADIENTS else P.shape[1]
    return out.shape[0], out.shape[1], depth, False, 1


@kernel
def _sum_block(op, P, Q, R, out, vec, code, flag, swapped, scale, l2, r0, r1, c0, c1, scratch):
    """Block (r0:r1, c0:c1) of one of the three sums (see :func:`dense_sum` for the operands),
    its elementwise work applied while the block is in cache."""
    if op == FORWARD:
        block_product(P, False, Q, False, out, False, r0, r1, c0, c1, scratch)
        activate_block(LINEAR if code == SOFTMAX else code, out, vec, R, flag, r0, r1, c0, c1)
        return
    if op == INPUT_GRADIENTS:
        block_product(P, True, Q, False, out, False, r0, r1, c0, c1, scratch)
        backprop_block(code, out, R, flag, r0, r1, c0, c1)
        return
    # weight gradients: P = dZ, Q = A_prev (example-major with ``flag``), out = dW, R = W
    if swapped:
        # dWᵀ = A_prev · dZᵀ: A_prev is read in place and only the small dZ is transposed
        block_product(Q, False, P, True, out, True, r0, r1, c0, c1, scratch)
        r0, r1, c0, c1 = c0, c1, r0, r1
    else:
        block_product(P, False, Q, not flag, out, False, r0, r1, c0, c1, scratch)
    # loops over views of a row from 0 vectorize; indexed from c0 they stayed scalar
    for r in range(r0, r1):
        row = out[r, c0:c1]
        if l2 == 0:
            for c in range(row.shape[0]):
                row[c] *= scale
        else:
            w_row = R[r, c0:c1]
            for c in range(row.shape[0]):
                row[c] = row[c] * scale + l2 * w_row[c]
    if c0 == 0:
        # db rides with the first column block of its rows: the same rows of dZ
        for r in range(r0, r1):
            vec[r] = _row_sum(P, r) * scale


@parallel_kernel
def _sum_parallel(op, P, Q, R, out, vec, code, flag, scale, l2, scratch):
    """:func:`dense_sum`'s blocks as parallel tasks, each on the calling thread's scratch row."""
    rows, cols, depth, swapped, b_cost = _sum_shape(op, P, out, flag)
    row_blocks, col_blocks = _grid(rows, cols, vector_lanes(out), PARALLEL_TASKS, b_cost)
    for task in prange(row_blocks * col_blocks):
        # prange counts in unsigned integers: one signed type keeps _block compiled once
        r0, r1, c0, c1 = _block(np.int64(task), rows, cols, vector_lanes(scratch), row_blocks,
                                col_blocks)
        _sum_block(op, P, Q, R, out, vec, code, flag, swapped, scale, l2, r0, r1, c0, c1,
                   scratch[numba.get_thread_id()])


@kernel
def _softmax_columns(A):
    """Softmax of each column of A (n, m) in place, a vector of L columns at a time: rows of a
    neuron-major array are contiguous along the examples, so each step is whole vectors and
    the exps are :func:`simd.vexp`'s."""
    n, m = A.shape
    L = vector_lanes(A)
    flat = as_flat(A)
    for c in range(0, m, L):
        count = min(L, m - c)
        largest = vload_part(flat, c, count)
        for r in range(1, n):
            largest = vmax(largest, vload_part(flat, r * m + c, count))
        total = vzeros(A)
        for r in range(n):
            e = vexp(vsub(vload_part(flat, r * m + c, count), largest))
            vstore_part(flat, r * m + c, e, count)
            total = vadd(total, e)
        for r in range(n):
            vstore_part(flat, r * m + c, vdiv(vload_part(flat, r * m + c, count), total), count)


@kernel
def dense_sum(op, P, Q, R, out, vec, code, flag, scale, l2, scratch):
    """One of the three sums of a dense layer, cut into blocks, with its elementwise work fused.

    ==================  =========  =============  ===========  ==========  ======  ===========
    ``op``              P          Q              R            out         vec     flag
    ==================  =========  =============  ===========  ==========  ======  ===========
    FORWARD             W          A_prev         Z            A           b       keep Z
    WEIGHT_GRADIENTS    dZ         A_prev         W (for L2)   dW          db      by rows
    INPUT_GRADIENTS     W          dZ             G (Z or A)   dZ_prev     --      G is Z
    ==================  =========  =============  ===========  ==========  ======  ===========

    See :func:`dense_forward`, :func:`dense_weight_gradients` and :func:`dense_input_gradients`
    for each sum's formula and shapes. One entry for all three, so each of the block loop, the
    parallel region and the product is compiled once.

    The blocks run as parallel tasks when the sum has at least ``PARALLEL_MIN_FLOPS`` and
    ``scratch`` has a row per thread; with a single row of scratch everything runs on the calling
    thread (a forked child's workspaces are built so: an OpenMP pool cannot survive a fork), over
    the same blocks, so each output is summed in the same order either way.
    """
    rows, cols, depth, swapped, b_cost = _sum_shape(op, P, out, flag)
    large = 2 * rows * cols * depth >= PARALLEL_MIN_FLOPS
    if large and scratch.shape[0] > 1:
        _sum_parallel(op, P, Q, R, out, vec, code, flag, scale, l2, scratch)
    else:
        # a large sum keeps the parallel grid on one thread: a block's size decides how its
        # outputs are summed (tiles or plain loops), so the same grid gives the same bits. A
        # small one is a single block, the whole output: what _grid and _block give it, without
        # their integer divisions (3% of the 20-10-1 network's epoch)
        whole = not large and cols <= MAX_BLOCK_COLUMNS
        row_blocks, col_blocks = (1, 1) if whole else _grid(rows, cols, vector_lanes(out),
                                                            PARALLEL_TASKS if large else 1, b_cost)
        for task in range(row_blocks * col_blocks):
            if whole:
                r0, r1, c0, c1 = 0, rows, 0, cols
            else:
                r0, r1, c0, c1 = _block(task, rows, cols, vector_lanes(scratch), row_blocks,
                                        col_blocks)
            _sum_block(op, P, Q, R, out, vec, code, flag, swapped, scale, l2, r0, r1, c0, c1,
                       scratch[0])
    if op == FORWARD and code == SOFTMAX:
        _softmax_columns(out)


@kernel(inline=True, python=True)
def dense_forward(A_prev, W, b, code, A, Z, keep_z, scratch):
    """Forward pass of one dense layer, bias and activation fused into the product.

    ``Z = W · A_prev + b`` and ``A = g(Z)``.

    Parameters
    ----------
    A_prev : ndarray, shape (n_prev, m)
    W : ndarray, shape (n, n_prev)
    b : ndarray, shape (n,)
    code : int
        Activation code (see ``activations``); SOFTMAX normalizes each column (example).
    A : ndarray, shape (n, m)
        Receives g(Z).
    Z : ndarray, shape (n, m)
        Receives Z when ``keep_z`` (the output layer's logits, for a stable loss).
    scratch : ndarray, shape (threads, scratch_elements)
    """
    zero = A.dtype.type(0)
    dense_sum(FORWARD, W, A_prev, Z, A, b, code, keep_z, zero, zero, scratch)


@kernel(inline=True)
def _row_sum(X, r):
    """Sum of row r of the C-contiguous X, a vector at a time (the scalar loop, even with
    reassociation allowed, took 0.15 us for the 10 rows of 64 of the 20-10-1 network's dZ)."""
    L = vector_lanes(X)
    flat = as_flat(X)
    start = r * X.shape[1]
    stop = start + X.shape[1]
    full_stop = start + X.shape[1] // L * L
    total = vzeros(X)
    for i in range(start, full_stop, L):
        total = vadd(total, vload(flat, i))
    if stop > full_stop:
        total = vadd(total, vload_part(flat, full_stop, stop - full_stop))
    return vsum(total)


@kernel(inline=True, python=True)
def dense_weight_gradients(dZ, A_prev, dW, db, scale, l2, W, scratch, by_rows):
    """Weight and bias gradients of one dense layer in one pass.

    ``dW = scale * dZ · A_prevᵀ + l2 * W`` and ``db = scale * sum_i dZ[:, i]``, sums over the
    examples; ``scale`` is 1/m for a mean loss (1/sum of weights with sample weights) and ``l2`` is
    the L2 penalty's factor (``alpha * scale``, as scikit-learn; 0 for none).

    Parameters
    ----------
    dZ : ndarray, shape (n, m)
    A_prev : ndarray, shape (n_prev, m), or (m, n_prev) with ``by_rows``
    dW : ndarray, shape (n, n_prev)
        Receives the weight gradient.
    db : ndarray, shape (n,)
        Receives the bias gradient.
    scale, l2 : float
        Of the array dtype.
    W : ndarray, shape (n, n_prev)
        The layer's weights (read only for the L2 term).
    scratch : ndarray, shape (threads, scratch_elements)
    by_rows : bool
        A_prev is given example-major (a C-contiguous copy of its transpose), read in place
        instead of transposed (see :func:`transposes_inputs`).
    """
    dense_sum(WEIGHT_GRADIENTS, dZ, A_prev, W, dW, db, LINEAR, by_rows, scale, l2, scratch)


@kernel(inline=True, python=True)
def dense_input_gradients(dZ, W, code, G, g_is_input, dZ_prev, scratch):
    """Gradient flowing into the previous layer, with that layer's g' fused.

    ``dA_prev = Wᵀ · dZ`` (a sum over this layer's neurons), then ``dZ_prev = dA_prev * g'_prev``.

    Parameters
    ----------
    dZ : ndarray, shape (n, m)
    W : ndarray, shape (n, n_prev)
    code : int
        Activation code of the previous layer (LINEAR gives dA_prev itself).
    G : ndarray, shape (n_prev, m)
        Where g' is evaluated: the previous layer's Z (``g_is_input``) or its A.
    dZ_prev : ndarray, shape (n_prev, m)
        Receives dZ_prev (may be the same array as G).
    scratch : ndarray, shape (threads, scratch_elements)
    """
    zero = dZ.dtype.type(0)
    dense_sum(INPUT_GRADIENTS, W, dZ, G, dZ_prev, as_flat(dZ_prev)[:0], code, g_is_input, zero,
              zero, scratch)
