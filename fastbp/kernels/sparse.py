"""A network's first layer on sparse inputs (CSR, one row per example), and the loop around it.

A sparse X is never made dense: the first layer's two sums over the inputs read the nonzeros of
the rows of a batch, everything after the first layer is the dense code of ``dense``/``loop``.

=================  ===========================================  ==================================
sum                formula                                      loops
=================  ===========================================  ==================================
forward            Z1[j, i] = Σ_p data[p] W1[j, indices[p]]     neuron j, example i, its nonzeros
                   (+ b1, then g1 as ``dense``)
weight gradients   dW1[j, :] = l2 W1[j, :] +                    neuron j, example i, its nonzeros
                   Σ_i (scale dZ1[j, i]) X[i, :]                (a scatter into row j of dW1)
                   db1[j] = scale Σ_i dZ1[j, i]
=================  ===========================================  ==================================

Both sums are cut by neuron (rows of W1, dW1, Z1): a row is computed by one task from start to
end, its terms summed example by example and nonzero by nonzero in the order of the batch, so the
results are bit-identical whatever the number of tasks or threads. dW1 is dense, as the update of
every weight (momentum, Adam's moments, the L2 term) needs it: the gradient of a weight whose
input is zero in every row of the batch is ``l2 * W`` (or 0).

A CSR matrix travels as three arrays: ``indptr`` (int64, rows + 1), ``indices`` (int32 column
of each nonzero) and ``data`` (the network's dtype); one signature per dtype. Column indices
need not be sorted and may repeat (repeated entries add up, as in scipy).

Nothing here is compiled unless sparse inputs are used: the dense training loop neither calls nor
imports these kernels' code, and they reach the dense layers' sums by symbol (``_dispatch``).
"""
import numba
import numpy as np
from numba import prange

from .._config import PARALLEL_MIN_ELEMENTS, kernel, parallel_kernel
from .activations import LINEAR, SOFTMAX, activate_block
from .dense import _softmax_columns, dense_forward, dense_input_gradients, dense_weight_gradients
from .loop import INTERRUPTED, copy_into, output_loss, plateau_reached, shuffle_in_place
from .losses import output_gradient, sum_of_squares
from .optim import next_step_rate, update_range
from .views import matrix

#: The two sums of the sparse first layer (:func:`sparse_sum`'s ``op``).
FORWARD = 0
WEIGHT_GRADIENTS = 1

#: Tasks per scratch row (thread) a parallel sum is cut into: rows of a layer differ little in
#: cost, and a few tasks per thread even out what they do differ.
TASKS_PER_THREAD = 4


@kernel
def _rows_block(op, indptr, indices, data, row0, W, P, out, vec, code, flag, scale, l2, j0, j1):
    """Rows j0:j1 (neurons) of one of the two sums, over CSR rows ``row0`` on (see
    :func:`sparse_sum` for the operands)."""
    zero = W.dtype.type(0)
    if op == FORWARD:
        m = out.shape[1]
        for j in range(j0, j1):
            w = W[j]
            a = out[j]
            for i in range(m):
                total = zero
                for p in range(indptr[row0 + i], indptr[row0 + i + 1]):
                    total += data[p] * w[indices[p]]
                a[i] = total
        # softmax normalizes whole columns, after every row is done (the caller)
        activate_block(LINEAR if code == SOFTMAX else code, out, vec, P, flag, j0, j1, 0, m)
        return
    m = P.shape[1]
    for j in range(j0, j1):
        g = out[j]
        if l2 == 0:
            for k in range(g.shape[0]):
                g[k] = zero
        else:
            w = W[j]
            for k in range(g.shape[0]):
                g[k] = l2 * w[k]
        d = P[j]
        total = zero
        for i in range(m):
            total += d[i]
            factor = scale * d[i]
            for p in range(indptr[row0 + i], indptr[row0 + i + 1]):
                g[indices[p]] += factor * data[p]
        vec[j] = total * scale


@parallel_kernel
def _rows_parallel(op, indptr, indices, data, row0, W, P, out, vec, code, flag, scale, l2,
                   tasks):
    """:func:`sparse_sum`'s rows cut into ``tasks`` parallel tasks."""
    n = W.shape[0]
    for task in prange(tasks):
        # prange counts in unsigned integers: one signed type keeps _rows_block compiled once
        t = np.int64(task)
        _rows_block(op, indptr, indices, data, row0, W, P, out, vec, code, flag, scale, l2,
                    t * n // tasks, (t + 1) * n // tasks)


@kernel
def sparse_sum(op, indptr, indices, data, row0, m, W, P, out, vec, code, flag, scale, l2,
               scratch):
    """One of the two sums of a first layer over CSR rows ``row0:row0 + m``.

    ==================  ============  ===========  ======  ======  ==========  ============
    ``op``              W             P            out     vec     flag        scale, l2
    ==================  ============  ===========  ======  ======  ==========  ============
    FORWARD             W1 (n, n0)    Z (n, m)     A       b1      keep Z      --
    WEIGHT_GRADIENTS    W1 (for L2)   dZ1 (n, m)   dW1     db1     --          1/m, alpha/m
    ==================  ============  ===========  ======  ======  ==========  ============

    FORWARD: ``A = g(W1 · X_rowsᵀ + b1)`` (and Z when ``flag``: the output layer's logits);
    ``code`` is the activation (SOFTMAX normalizes each column). WEIGHT_GRADIENTS:
    ``dW1 = scale * dZ1 · X_rows + l2 * W1`` and ``db1 = scale * Σ_i dZ1[:, i]``.

    The neurons are shared out among parallel tasks when ``scratch`` has a row per thread (see
    ``dense.dense_sum``) and the sum touches at least ``PARALLEL_MIN_ELEMENTS`` elements (n
    per nonzero, plus dW1's n x n0): each neuron's sums are the same either way.
    """
    n, n_in = W.shape
    nonzeros = indptr[row0 + m] - indptr[row0]
    elements = n * nonzeros + (n * n_in if op == WEIGHT_GRADIENTS else 0)
    if scratch.shape[0] > 1 and elements >= PARALLEL_MIN_ELEMENTS and n > 1:
        tasks = min(n, TASKS_PER_THREAD * scratch.shape[0])
        _rows_parallel(op, indptr, indices, data, row0, W, P, out, vec, code, flag, scale, l2,
                       tasks)
    else:
        _rows_block(op, indptr, indices, data, row0, W, P, out, vec, code, flag, scale, l2, 0,
                    n)
    if op == FORWARD and code == SOFTMAX:
        _softmax_columns(out)


@kernel(python=True)
def sparse_forward_pass(indptr, indices, data, row0, m, model, work):
    """Forward propagation of CSR rows ``row0:row0 + m`` (one example each) into ``work``.

    As ``loop.forward_pass`` with A0 = those rows: every layer's A and the output logits, the
    first layer by :func:`sparse_sum`, the others by ``dense.dense_forward``.
    """
    dims, codes, loss, w_off, b_off, theta, keep = model
    act_off, acts, z, y_b, w_b, delta, grad, scratch = work
    n_layers = dims.shape[0] - 1
    zero = theta.dtype.type(0)
    A_prev = matrix(acts, act_off[1], 0, 0)
    for l in range(1, n_layers + 1):
        n = dims[l]
        W = matrix(theta, w_off[l], n, dims[l - 1])
        b = theta[b_off[l]:b_off[l] + n]
        A = matrix(acts, act_off[l], n, m)
        last = l == n_layers
        Z = matrix(z, 0, n, m) if last else matrix(z, 0, 0, 0)
        if l == 1:
            sparse_sum(FORWARD, indptr, indices, data, row0, m, W, Z, A, b, codes[l], last, zero,
                       zero, scratch)
        else:
            dense_forward(A_prev, W, b, codes[l], A, Z, last, scratch)
        A_prev = A


@kernel
def _backward_to_first_layer(Y, weights, weighted, scale, alpha, model, work):
    """dZ[L] = (A[L] - Y) * w, then, as ``loop.backpropagate``, each layer's dW and db (scaled,
    with the L2 term) and the dZ of the layer below, from the top layer down to the second.

    Returns
    -------
    int
        Where the first layer's dZ is: -1 in ``work``'s z (the first layer is the output
        layer), else its offset in ``work``'s delta.
    """
    dims, codes, loss, w_off, b_off, theta, keep = model
    act_off, acts, z, y_b, w_b, delta, grad, scratch = work
    n_layers = dims.shape[0] - 1
    m = Y.shape[1]
    output_gradient(matrix(acts, act_off[n_layers], dims[n_layers], m), Y, weights, weighted,
                    matrix(z, 0, dims[n_layers], m))
    region = delta.shape[0] // max(1, min(2, n_layers - 1))
    dZ = matrix(z, 0, dims[n_layers], m)
    typed_scale = theta.dtype.type(scale)
    typed_l2 = theta.dtype.type(alpha * scale)
    current = 1
    offset = -1
    for l in range(n_layers, 1, -1):
        n = dims[l]
        n_prev = dims[l - 1]
        A_prev = matrix(acts, act_off[l - 1], n_prev, m)
        W = matrix(theta, w_off[l], n, n_prev)
        dense_weight_gradients(dZ, A_prev, matrix(grad, w_off[l], n, n_prev),
                               grad[b_off[l]:b_off[l] + n], typed_scale, typed_l2, W, scratch,
                               False)
        current = 1 - current
        offset = current * region
        dZ_prev = matrix(delta, offset, n_prev, m)
        dense_input_gradients(dZ, W, codes[l - 1], A_prev, False, dZ_prev, scratch)
        dZ = dZ_prev
    return offset


@kernel(python=True)
def sparse_backward_pass(indptr, indices, data, row0, Y, weights, weighted, scale, alpha, model,
                         work):
    """Backward propagation of the last :func:`sparse_forward_pass` (CSR rows ``row0`` on, as
    many as ``Y`` has columns) into ``work``'s grad.

    As ``loop.backward_pass``: dZ[L] = (A[L] - Y) * w, then each layer's dW, db (``scale`` and
    the L2 term ``alpha * scale * W`` included) and the dZ of the layer below, down to the first
    layer, whose dW1 and db1 :func:`sparse_sum` computes from the CSR rows.
    """
    dims, codes, loss, w_off, b_off, theta, keep = model
    act_off, acts, z, y_b, w_b, delta, grad, scratch = work
    m = Y.shape[1]
    offset = _backward_to_first_layer(Y, weights, weighted, scale, alpha, model, work)
    n = dims[1]
    dZ = matrix(z, 0, n, m) if offset < 0 else matrix(delta, offset, n, m)
    typed_scale = theta.dtype.type(scale)
    typed_l2 = theta.dtype.type(alpha * scale)
    sparse_sum(WEIGHT_GRADIENTS, indptr, indices, data, row0, m,
               matrix(theta, w_off[1], n, dims[0]),
               dZ, matrix(grad, w_off[1], n, dims[0]), grad[b_off[1]:b_off[1] + n], LINEAR, False,
               typed_scale, typed_l2, scratch)


@kernel
def _fused_rows(indptr, indices, data, row0, dZ, theta, state, hyper, adam_rate, optimizer,
                scale, l2, n_in, buffer, row_squares, track, j0, j1):
    """Rows j0:j1 of dW1 (see :func:`sparse_sum`), each computed into ``buffer`` and applied
    to W1's row at once (``optim.update_range``): dW1 never goes to memory. With ``track``,
    ``row_squares[j]`` receives the sum of squares of row j's new weights (in float64), for the
    next step's L2 penalty, while the row is in cache."""
    zero = theta.dtype.type(0)
    m = dZ.shape[1]
    g = buffer[:n_in]
    for j in range(j0, j1):
        start = j * n_in
        if l2 == 0:
            for k in range(n_in):
                g[k] = zero
        else:
            w = theta[start:start + n_in]
            for k in range(n_in):
                g[k] = l2 * w[k]
        d = dZ[j]
        for i in range(m):
            factor = scale * d[i]
            for p in range(indptr[row0 + i], indptr[row0 + i + 1]):
                g[indices[p]] += factor * data[p]
        update_range(optimizer, theta, g, state, hyper, adam_rate, start)
        if track:
            row_squares[j] = sum_of_squares(theta, start, start + n_in)


@kernel
def first_layer_squares(theta, n, n_in, row_squares):
    """``row_squares[j]`` = sum of squares of row j of W1 (n x n_in, first in ``theta``)."""
    for j in range(n):
        row_squares[j] = sum_of_squares(theta, j * n_in, (j + 1) * n_in)


@kernel
def penalty_squares(model, row_squares):
    """sum(W**2) over every layer's weights: the first layer's from ``row_squares`` (kept
    current by :func:`first_layer_update`), the others' summed here."""
    dims, codes, loss, w_off, b_off, theta, keep = model
    total = 0.0
    for j in range(row_squares.shape[0]):
        total += row_squares[j]
    for l in range(2, dims.shape[0]):
        total += sum_of_squares(theta, w_off[l], w_off[l] + dims[l] * dims[l - 1])
    return total


@parallel_kernel
def _fused_parallel(indptr, indices, data, row0, dZ, theta, state, hyper, adam_rate, optimizer,
                    scale, l2, n_in, scratch, row_squares, track, tasks):
    """:func:`_fused_rows` cut into ``tasks`` parallel tasks, each on its thread's scratch row."""
    n = dZ.shape[0]
    for task in prange(tasks):
        t = np.int64(task)
        _fused_rows(indptr, indices, data, row0, dZ, theta, state, hyper, adam_rate, optimizer,
                    scale, l2, n_in, scratch[numba.get_thread_id()], row_squares, track,
                    t * n // tasks, (t + 1) * n // tasks)


@kernel
def first_layer_update(indptr, indices, data, row0, dZ, scale, alpha, optimizer, opt_state,
                       hyper, step, model, work, row_squares):
    """The training step's update, with the first layer's weight gradient fused into it.

    Given dZ1 (n1, m) of CSR rows ``row0:row0 + m`` and the gradient of every other parameter in
    ``work``'s grad (db1 is computed here), update every parameter as ``optim.apply_update``
    would from the full gradient, but compute each row of dW1 into a thread's scratch row and
    apply it there: dW1 (n1 x n0, most of the parameters) is neither written nor read back,
    which saves two of the five passes over W1's size that an update otherwise makes. The
    rows of W1 are shared out among parallel tasks as :func:`sparse_sum`'s; the other
    parameters are updated serially. With an L2 penalty, ``row_squares`` receives the sum of
    squares of each new row of W1 (see :func:`penalty_squares`).
    """
    dims, codes, loss, w_off, b_off, theta, keep = model
    act_off, acts, z, y_b, w_b, delta, grad, scratch = work
    n, n_in = dims[1], dims[0]
    m = dZ.shape[1]
    adam_rate = next_step_rate(optimizer, hyper, step)
    typed_scale = theta.dtype.type(scale)
    typed_l2 = theta.dtype.type(alpha * scale)
    zero = theta.dtype.type(0)
    db = grad[b_off[1]:b_off[1] + n]
    for j in range(n):
        total = zero
        for i in range(m):
            total += dZ[j, i]
        db[j] = total * typed_scale
    nonzeros = indptr[row0 + m] - indptr[row0]
    track = alpha != 0.0
    if scratch.shape[0] > 1 and n * (nonzeros + n_in) >= PARALLEL_MIN_ELEMENTS and n > 1:
        _fused_parallel(indptr, indices, data, row0, dZ, theta, opt_state, hyper, adam_rate,
                        optimizer, typed_scale, typed_l2, n_in, scratch, row_squares, track,
                        min(n, TASKS_PER_THREAD * scratch.shape[0]))
    else:
        _fused_rows(indptr, indices, data, row0, dZ, theta, opt_state, hyper, adam_rate,
                    optimizer, typed_scale, typed_l2, n_in, scratch[0], row_squares, track, 0, n)
    # W1 comes first in theta: everything else follows it
    rest = w_off[1] + n * n_in
    update_range(optimizer, theta, grad[rest:], opt_state, hyper, adam_rate, rest)


@kernel(python=True)
def sparse_loss_and_gradient(indptr, indices, data, Y, weights, weighted, alpha, model, work):
    """As ``loop.loss_and_gradient`` on the examples of a CSR matrix (its rows): the mean loss
    plus the L2 penalty, and the gradient into ``work``'s grad."""
    m = Y.shape[1]
    scale = 1.0 / (weights.sum() if weighted else m)
    sparse_forward_pass(indptr, indices, data, 0, m, model, work)
    cost = output_loss(Y, weights, weighted, alpha, scale, model, work)
    sparse_backward_pass(indptr, indices, data, 0, Y, weights, weighted, scale, alpha, model,
                         work)
    return cost


@kernel(python=True)
def sparse_forward_loss(indptr, indices, data, Y, weights, weighted, alpha, model, work):
    """As ``loop.forward_loss`` on the examples of a CSR matrix: the mean loss plus the L2
    penalty, without gradients."""
    m = Y.shape[1]
    scale = 1.0 / (weights.sum() if weighted else m)
    sparse_forward_pass(indptr, indices, data, 0, m, model, work)
    return output_loss(Y, weights, weighted, alpha, scale, model, work)


@kernel
def gather_sparse_batch(indptr, indices, data, Y, weights, weighted, order, start, b_indptr,
                        b_indices, b_data, y_b, w_b):
    """Copy examples ``order[start:start + m]`` (m the columns of ``y_b``) into the batch
    buffers: their CSR rows into ``b_indptr``/``b_indices``/``b_data``, their targets and
    weights neuron-major.

    The buffers must hold the nonzeros of the ``m`` longest rows (the caller sizes them so).
    """
    m = y_b.shape[1]
    n_out = Y.shape[0]
    position = 0
    b_indptr[0] = 0
    for i in range(m):
        source = order[start + i]
        for p in range(indptr[source], indptr[source + 1]):
            b_indices[position] = indices[p]
            b_data[position] = data[p]
            position += 1
        b_indptr[i + 1] = position
        for j in range(n_out):
            y_b[j, i] = Y[j, source]
        if weighted:
            w_b[i] = weights[source]


@kernel(python=True)
def sparse_train_epochs(n_epochs, rows, batch_rows, row_squares, Y, weights, weighted, batch_size,
                        shuffle, order, rng_state, alpha, model, work, optimizer, opt_state, hyper,
                        step, costs, progress, theta_backup, state_backup, stop, plateau):
    """``loop.train_epochs`` on inputs given as a CSR matrix, one row per example.

    Parameters
    ----------
    rows : (indptr, indices, data)
        The training inputs' CSR arrays (m rows of dims[0] columns).
    batch_rows : (indptr, indices, data)
        Buffers a minibatch's rows are gathered into (see :func:`gather_sparse_batch`); unused
        when one batch holds every example, which reads ``rows`` in place.
    row_squares : ndarray of float64, shape (dims[1],)
        Scratch for the sums of squares of W1's rows: with an L2 penalty, each step's update
        leaves them for the next step's cost, so that the cost reads no W1.
    Y, weights, weighted, batch_size, shuffle, order, rng_state, alpha, model, work, optimizer,
    opt_state, hyper, step, costs, progress, theta_backup, state_backup, stop, plateau
        As ``loop.train_epochs`` (``work`` has no room for a batch of dense inputs).

    Returns
    -------
    int
        As ``loop.train_epochs``: the epochs run (``n_epochs``, or fewer when ``plateau``
        stopped training), ``-(e + 1)`` if epoch ``e`` met a NaN or infinite cost, or
        ``loop.INTERRUPTED``.
    """
    dims, codes, loss, w_off, b_off, theta, keep = model
    act_off, acts, z, y_b, w_b, delta, grad, scratch = work
    indptr, indices, data = rows
    b_indptr, b_indices, b_data = batch_rows
    m = Y.shape[1]
    n_out = dims[dims.shape[0] - 1]
    whole = batch_size >= m
    if alpha != 0.0:
        first_layer_squares(theta, dims[1], dims[0], row_squares)
    for epoch in range(n_epochs):
        backup_step = step[0]
        if not whole:
            copy_into(theta_backup, theta)
            copy_into(state_backup, opt_state)
        if shuffle and not whole:
            shuffle_in_place(order, rng_state)
        total = 0.0
        for start in range(0, m, batch_size):
            if stop[0] != 0 and not whole:
                copy_into(theta, theta_backup)
                copy_into(opt_state, state_backup)
                step[0] = backup_step
                return INTERRUPTED
            mb = min(batch_size, m - start)
            if whole:
                Y_b = Y
                W_b = weights
                scale = 1.0 / (W_b.sum() if weighted else mb)
                sparse_forward_pass(indptr, indices, data, 0, mb, model, work)
            else:
                Y_b = matrix(y_b, 0, n_out, mb)
                W_b = w_b[:mb]
                gather_sparse_batch(indptr, indices, data, Y, weights, weighted, order, start,
                                    b_indptr, b_indices, b_data, Y_b, W_b)
                scale = 1.0 / (W_b.sum() if weighted else mb)
                sparse_forward_pass(b_indptr, b_indices, b_data, 0, mb, model, work)
            # the penalty as output_loss adds it, from the squares the last update left
            cost = output_loss(Y_b, W_b, weighted, 0.0, scale, model, work)
            if alpha != 0.0:
                cost += 0.5 * alpha * penalty_squares(model, row_squares) * scale
            if not np.isfinite(cost):
                if not whole:
                    copy_into(theta, theta_backup)
                    copy_into(opt_state, state_backup)
                step[0] = backup_step
                return -(epoch + 1)
            total += cost * mb
            offset = _backward_to_first_layer(Y_b, W_b, weighted, scale, alpha, model, work)
            dZ = (matrix(z, 0, dims[1], mb) if offset < 0
                  else matrix(delta, offset, dims[1], mb))
            if whole:
                first_layer_update(indptr, indices, data, 0, dZ, scale, alpha, optimizer,
                                   opt_state, hyper, step, model, work, row_squares)
            else:
                first_layer_update(b_indptr, b_indices, b_data, 0, dZ, scale, alpha, optimizer,
                                   opt_state, hyper, step, model, work, row_squares)
        costs[epoch] = total / m
        progress[0] += 1
        if plateau_reached(plateau, costs[epoch]):
            return epoch + 1
    return n_epochs


def prepare_sparse_parallel(dtype):
    """Compile (or load) the sparse sums' parallel region for ``dtype`` and fill its slot (see
    ``fastbp.kernels.prepare_parallel``, which whoever builds scratch with a row per thread also
    calls). Once per dtype and process."""
    _prepare(np.dtype(dtype))


_PREPARED = set()


def _prepare(dtype):
    if dtype in _PREPARED:
        return
    matrix_ = np.zeros((1, 1), dtype)
    vector = np.zeros(1, dtype)
    zero = dtype.type(0)
    indptr, indices = np.zeros(2, np.int64), np.zeros(1, np.int32)
    _rows_parallel.prepare(0, indptr, indices, vector, 0, matrix_, matrix_, matrix_, vector, 0,
                           False, zero, zero, 1)
    _fused_parallel.prepare(indptr, indices, vector, 0, matrix_, vector, matrix_, np.zeros(1),
                            0.0, 0, zero, zero, 0, matrix_, np.zeros(1), False, 1)
    _PREPARED.add(dtype)
