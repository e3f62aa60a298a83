"""The compiled training loop: minibatch gather -> forward -> loss -> backward -> update.

Everything a network is made of travels into these kernels as two tuples of flat arrays, built
once by :class:`fastbp.network.Network`:

``model = (dims, codes, loss, w_off, b_off, theta, keep)``
    ``dims[l]`` neurons of layer l (``dims[0]`` inputs), ``codes[l]`` its activation code, ``loss``
    the loss code; ``theta`` the flat parameters, with W[l] of shape (dims[l], dims[l-1]) at
    ``w_off[l]`` and b[l] at ``b_off[l]``; ``keep[l]`` the probability that dropout keeps a unit
    of layer l, or ``keep`` empty: no dropout (every pass but training's, see ``dropout``).
``work = (act_off, acts, z, y_b, w_b, delta, grad, scratch)``
    Workspaces for batches of up to B examples, allocated once, all neuron-major: layer l's
    activations (dims[l], m) at ``act_off[l]`` of ``acts`` (layer 0 is the gathered batch), the
    output layer's logits ``z`` (its dZ in the backward pass), the batch's targets ``y_b`` and
    weights ``w_b``, two ping-pong regions for the hidden layers' dZ in ``delta``, ``grad`` laid
    out like ``theta``, and the per-thread packing buffers ``scratch`` of the products. ``acts``
    also holds the dropout masks, at offsets after the activations' in ``act_off`` (see
    ``dropout``'s docstring). With dropout a hidden layer's activations in ``acts`` are those
    after its mask: what the next layer reads.

Nothing here allocates: a whole epoch, or many, runs in one call with no Python in between.
"""
import numpy as np

from .._config import kernel
from .activations import LINEAR, SIGMOID, backprop_array
from .dense import dense_forward, dense_input_gradients, dense_weight_gradients
from .dropout import draw_masks, drop_backward, drop_forward
from .losses import (batch_loss, course_cost, course_output_gradient, output_gradient,
                     sum_of_squares)
from .optim import SGD, apply_update
from .simd import vector_lanes, vgather_transpose
from .views import as_flat, matrix


@kernel
def copy_into(target, source):
    """``target[...] = source`` for C-contiguous arrays of one shape, as a loop (a slice
    assignment would need Numba's runtime, which the kernels run without)."""
    flat_target = as_flat(target)
    flat_source = as_flat(source)
    for i in range(flat_target.shape[0]):
        flat_target[i] = flat_source[i]


@kernel(python=True)
def forward_pass(A0, model, work):
    """Forward propagation of the columns of ``A0`` (dims[0], m) into ``work``.

    Writes every layer's A and the output logits.
    """
    dims, codes, loss, w_off, b_off, theta, keep = model
    act_off, acts, z, y_b, w_b, delta, grad, scratch = work
    n_layers = dims.shape[0] - 1
    m = A0.shape[1]
    A_prev = A0
    for l in range(1, n_layers + 1):
        n = dims[l]
        W = matrix(theta, w_off[l], n, dims[l - 1])
        b = theta[b_off[l]:b_off[l] + n]
        A = matrix(acts, act_off[l], n, m)
        last = l == n_layers
        Z = matrix(z, 0, n, m) if last else matrix(z, 0, 0, 0)
        dense_forward(A_prev, W, b, codes[l], A, Z, last, scratch)
        # --- dropout (training only): A *= this batch's mask
        if keep.shape[0] > 0 and keep[l] < 1.0:
            drop_forward(A, l, act_off, acts)
        # ---
        A_prev = A


@kernel
def output_loss(Y, weights, weighted, alpha, scale, model, work):
    """Mean loss of the last forward pass on the columns of ``Y``, plus the L2 penalty.

    The penalty is scikit-learn's: ``0.5 * alpha * sum(W**2) * scale`` (scale = 1/m, or 1/sum of
    weights), over the weights only, not the biases.
    """
    dims, codes, loss, w_off, b_off, theta, keep = model
    act_off, acts, z, y_b, w_b, delta, grad, scratch = work
    n_layers = dims.shape[0] - 1
    n_out, m = Y.shape
    cost = batch_loss(loss, matrix(z, 0, n_out, m), matrix(acts, act_off[n_layers], n_out, m), Y,
                      weights, weighted)
    if alpha != 0.0:
        squares = 0.0
        for l in range(1, n_layers + 1):
            squares += sum_of_squares(theta, w_off[l], w_off[l] + dims[l] * dims[l - 1])
        cost += 0.5 * alpha * squares * scale
    return cost


@kernel(python=True)
def backward_pass(A0, A0_rows, Y, weights, weighted, scale, alpha, model, work):
    """Backward propagation of the last forward pass (inputs ``A0``) into ``work``'s grad.

    dZ[L] = (A[L] - Y) * w, then :func:`backpropagate`.
    """
    dims, codes, loss, w_off, b_off, theta, keep = model
    act_off, acts, z, y_b, w_b, delta, grad, scratch = work
    n_layers = dims.shape[0] - 1
    m = A0.shape[1]
    # the output layer's dZ takes the place of its logits (read by the loss, not after)
    output_gradient(matrix(acts, act_off[n_layers], dims[n_layers], m), Y, weights, weighted,
                    matrix(z, 0, dims[n_layers], m))
    backpropagate(A0, A0_rows, scale, alpha, model, work)


@kernel(inline=True)
def backpropagate(A0, A0_rows, scale, alpha, model, work):
    """The gradient of every layer from the output layer's dZ (in ``work``'s z) down.

    For each layer from the last: dW, db (scaled by ``scale``, plus ``alpha * scale * W``) and the
    dZ of the layer below, never dA[0]. ``A0_rows``, if not empty, is A0 example-major, shape
    (m, dims[0]): the first layer's dW reads it instead of transposing A0 (see
    ``dense.transposes_inputs``).
    """
    dims, codes, loss, w_off, b_off, theta, keep = model
    act_off, acts, z, y_b, w_b, delta, grad, scratch = work
    n_layers = dims.shape[0] - 1
    m = A0.shape[1]
    # the hidden layers' dZ alternate between the regions of ``delta`` (one for one hidden layer)
    region = delta.shape[0] // max(1, min(2, n_layers - 1))
    dZ = matrix(z, 0, dims[n_layers], m)
    typed_scale = theta.dtype.type(scale)
    typed_l2 = theta.dtype.type(alpha * scale)
    current = 1
    for l in range(n_layers, 0, -1):
        n = dims[l]
        n_prev = dims[l - 1]
        A_prev = A0 if l == 1 else matrix(acts, act_off[l - 1], n_prev, m)
        W = matrix(theta, w_off[l], n, n_prev)
        dW = matrix(grad, w_off[l], n, n_prev)
        db = grad[b_off[l]:b_off[l] + n]
        by_rows = l == 1 and A0_rows.shape[0] > 0
        dense_weight_gradients(dZ, A0_rows if by_rows else A_prev, dW, db, typed_scale, typed_l2,
                               W, scratch, by_rows)
        if l > 1:
            current = 1 - current
            dZ_prev = matrix(delta, current * region, n_prev, m)
            # --- dropout: dZ_prev = (Wᵀ·dZ) * g' * mask, the last two by drop_backward
            dropped = keep.shape[0] > 0 and keep[l - 1] < 1.0
            dense_input_gradients(dZ, W, LINEAR if dropped else codes[l - 1], A_prev, False,
                                  dZ_prev, scratch)
            if dropped:
                drop_backward(dZ_prev, A_prev, codes[l - 1], l - 1, act_off, acts)
            # ---
            dZ = dZ_prev


@kernel(python=True)
def loss_and_gradient(X, Y, weights, weighted, alpha, model, work):
    """Loss and gradient (into ``work``'s grad) over all examples given, in one pass.

    Parameters
    ----------
    X : ndarray, shape (dims[0], m)
    Y : ndarray, shape (dims[L], m)
    weights : ndarray, shape (m,)
        Sample weights, read only when ``weighted``.
    alpha : float
        L2 penalty.

    Returns
    -------
    float
        The mean loss plus the penalty.
    """
    scale = 1.0 / (weights.sum() if weighted else X.shape[1])
    forward_pass(X, model, work)
    cost = output_loss(Y, weights, weighted, alpha, scale, model, work)
    backward_pass(X, X[:0], Y, weights, weighted, scale, alpha, model, work)
    return cost


@kernel(python=True)
def forward_loss(X, Y, weights, weighted, alpha, model, work):
    """Mean loss (plus the L2 penalty) of the network on all examples given, without gradients."""
    scale = 1.0 / (weights.sum() if weighted else X.shape[1])
    forward_pass(X, model, work)
    return output_loss(Y, weights, weighted, alpha, scale, model, work)


@kernel
def next_random(state):
    """splitmix64: the next 64 random bits from the one-word ``state`` (updated in place)."""
    state[0] += np.uint64(0x9E3779B97F4A7C15)
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@kernel
def shuffle_in_place(order, state):
    """Fisher-Yates shuffle of ``order`` driven by :func:`next_random`: reproducible from the seed."""
    for i in range(order.shape[0] - 1, 0, -1):
        j = np.int64(next_random(state) % np.uint64(i + 1))
        order[i], order[j] = order[j], order[i]


@kernel
def gather_batch(X_t, X, Y, weights, weighted, order, start, A0, y_b, w_b):
    """Copy examples ``order[start:start + m]`` into the batch buffers, neuron-major.

    Inputs come from the example-major ``X_t`` (one contiguous row per example, scikit-learn's
    layout) when it is not empty, else from the columns of the neuron-major ``X``; targets and
    weights from their neuron-major arrays.
    """
    n_in, m = A0.shape
    if X_t.shape[0] > 0:
        # L x L blocks (L examples by L inputs) transposed in registers: element by element,
        # each example's row was written down a column of A0, a store per element to another
        # line (10% of a digits MLPClassifier epoch)
        L = vector_lanes(A0)
        whole_rows = m // L * L
        whole_columns = n_in // L * L
        flat_rows = as_flat(X_t)
        flat_A0 = as_flat(A0)
        for i in range(0, whole_rows, L):
            for k in range(0, whole_columns, L):
                vgather_transpose(flat_rows, order, start + i, k, n_in, flat_A0, k * m + i, m)
            for k in range(whole_columns, n_in):
                for j in range(i, i + L):
                    A0[k, j] = X_t[order[start + j], k]
        for i in range(whole_rows, m):
            source = order[start + i]
            for k in range(n_in):
                A0[k, i] = X_t[source, k]
    else:
        gather_columns(X, order[start:start + m], A0)
    gather_columns(Y, order[start:start + m], y_b)
    if weighted:
        for i in range(m):
            w_b[i] = weights[order[start + i]]


@kernel(inline="ir")   # inlined as Numba IR: a compile unit of its own cost 0.07 s of a first fit
def gather_columns(source, columns, target):
    """``target[r, i] = source[r, columns[i]]`` for every row r.

    Each row is a view and each index unsigned: with a signed index Numba tests every element for
    a negative (wrap-around) index, which took over a quarter of the time (mnist's 784 x 256
    batch: 344 against 249 us). ``columns`` are valid column numbers (an example order).
    """
    for r in range(target.shape[0]):
        source_row = source[r]
        target_row = target[r]
        for i in range(columns.shape[0]):
            target_row[i] = source_row[np.uint64(columns[i])]


#: What :func:`train_epochs` returns when ``stop`` was set during an epoch.
INTERRUPTED = -(1 << 62)

#: Positions in the ``plateau`` array of :func:`train_epochs`: scikit-learn's best loss and
#: no-improvement count, its ``tol``, and the count above which training stops
#: (``n_iter_no_change``).
PLATEAU_BEST = 0
PLATEAU_COUNT = 1
PLATEAU_TOL = 2
PLATEAU_LIMIT = 3


@kernel(inline="ir")   # (as gather_columns: 0.06 s of a first fit as a compile unit)
def plateau_reached(plateau, cost):
    """Count one epoch's ``cost`` into ``plateau`` (lower is better, as
    ``fastbp.training.Plateau.update``) and tell whether training stops: more than the limit of
    epochs in a row did not improve on the best by ``tol``. An empty ``plateau`` watches
    nothing."""
    if plateau.shape[0] == 0:
        return False
    best = plateau[PLATEAU_BEST]
    plateau[PLATEAU_COUNT] = (plateau[PLATEAU_COUNT] + 1.0
                              if cost > best - plateau[PLATEAU_TOL] else 0.0)
    if cost < best:
        plateau[PLATEAU_BEST] = cost
    return plateau[PLATEAU_COUNT] > plateau[PLATEAU_LIMIT]


@kernel(python=True)
def train_epochs(n_epochs, X_t, X, Y, weights, weighted, batch_size, shuffle, order, rng_state,
                 alpha, model, work, optimizer, opt_state, hyper, step, costs, progress,
                 theta_backup, state_backup, stop, plateau):
    """Run ``n_epochs`` epochs of minibatch training in one call.

    Parameters
    ----------
    n_epochs : int
    X_t : ndarray, shape (m, dims[0]) or (0, 0)
        Training inputs, example-major: batches are gathered from its rows if it is not empty;
        when one batch holds every example, the first layer's weight gradient reads it.
    X : ndarray, shape (dims[0], m) or (0, 0)
        The same inputs neuron-major: read when one batch holds every example, and batches are
        gathered from its columns when ``X_t`` is empty.
    Y : ndarray, shape (dims[L], m)
    weights : ndarray, shape (m,)
        Sample weights, read only when ``weighted``.
    batch_size : int
    shuffle : bool
        Reshuffle ``order`` (the example order, kept between calls) before each epoch.
    rng_state : ndarray of uint64, shape (1,)
        State of the generator of the shuffles and the dropout masks.
    alpha : float
        L2 penalty.
    model, work : tuple
        See the module docstring.
    optimizer, opt_state, hyper, step
        See ``optim.apply_update``.
    costs : ndarray of float64, shape (>= n_epochs,)
        Receives each epoch's cost: the mean over batches of the batch cost (with penalty)
        weighted by batch length, computed before each batch's update (scikit-learn's loss_);
        with dropout, the cost of the network with that batch's masks.
    progress : ndarray of int64, shape (1,)
        Number of whole epochs completed, kept current so the caller can trust it even if
        interrupted between calls.
    theta_backup, state_backup : ndarray
        Scratch for the parameters and optimizer state at the start of each epoch.
    stop : ndarray of int64, shape (1,)
        Read before every minibatch: nonzero stops the epoch (another thread sets it on Ctrl-C).
    plateau : ndarray of float64, shape (4,) or (0,)
        scikit-learn's no-improvement count on the epoch costs, updated after each epoch (see
        :func:`plateau_reached`): training stops after the epoch that takes the count over the
        limit, so that many epochs need no Python in between. Empty: no count.

    Returns
    -------
    int
        The number of epochs run: ``n_epochs``, or fewer when ``plateau`` stopped training;
        ``-(e + 1)`` if epoch ``e`` met a NaN or infinite cost, or :data:`INTERRUPTED` if
        ``stop`` was set during it: parameters and optimizer state are then restored to their
        values at the start of that epoch.
    """
    dims, codes, loss, w_off, b_off, theta, keep = model
    act_off, acts, z, y_b, w_b, delta, grad, scratch = work
    m = Y.shape[1]
    n_in = dims[0]
    n_out = dims[dims.shape[0] - 1]
    whole = batch_size >= m
    for epoch in range(n_epochs):
        backup_step = step[0]
        if not whole:
            # one batch per epoch needs no copy: its cost is checked before its only update
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
                # one batch of every example: the order does not change the sum, skip the copy
                A0 = X
                Y_b = Y
                W_b = weights
            else:
                A0 = matrix(acts, act_off[0], n_in, mb)
                Y_b = matrix(y_b, 0, n_out, mb)
                W_b = w_b[:mb]
                gather_batch(X_t, X, Y, weights, weighted, order, start, A0, Y_b, W_b)
            scale = 1.0 / (W_b.sum() if weighted else mb)
            if keep.shape[0] > 0:
                draw_masks(rng_state, keep, dims, mb, act_off, acts)   # dropout: this batch's masks
            forward_pass(A0, model, work)
            cost = output_loss(Y_b, W_b, weighted, alpha, scale, model, work)
            if not np.isfinite(cost):
                if not whole:
                    copy_into(theta, theta_backup)
                    copy_into(opt_state, state_backup)
                step[0] = backup_step
                return -(epoch + 1)
            total += cost * mb
            # one batch of every example may come with X example-major too (X_t)
            backward_pass(A0, X_t if whole else X_t[:0], Y_b, W_b, weighted, scale, alpha, model,
                          work)
            apply_update(optimizer, theta, grad, opt_state, hyper, step, scratch.shape[0] > 1)
        costs[epoch] = total / m
        progress[0] += 1
        if plateau_reached(plateau, costs[epoch]):
            return epoch + 1
    return n_epochs


@kernel(python=True)
def course_iterations(X, Y, count, last_cost, model, work, dAL, state, hyper, step):
    """``count`` iterations of the course's gradient descent (``L_layer_model``), in place.

    Each iteration is the course's ``L_model_forward``, ``L_model_backward`` and
    ``update_parameters`` with the course's formulas: ``dAL = -(Y/AL - (1-Y)/(1-AL))``, the
    sigmoid's derivative at the output's Z, relu's ``dZ[Z <= 0] = 0`` (from A: A <= 0 exactly
    where Z <= 0, NaN included), ``W -= learning_rate * dW`` (plain SGD of ``optim``, its rate in
    ``hyper``). Nothing is checked: NaN and inf flow on as they do in NumPy. The course's cost
    (``compute_cost``) is evaluated in the first iteration and, if ``last_cost``, in the last one:
    the course computes it every iteration but only records and prints some.

    Parameters
    ----------
    X : ndarray, shape (dims[0], m)
    Y : ndarray, shape (1, m)
    count : int
    last_cost : bool
    model, work : tuple
        See the module docstring.
    dAL : ndarray, shape (1, m)
        Scratch for the output layer's dA.
    state, hyper, step
        Plain SGD's (empty) state, hyper-parameters and step (see ``optim.apply_update``).

    Returns
    -------
    (float, float)
        The cost at the first and (if ``last_cost``, else NaN) at the last iteration.
    """
    dims, codes, loss, w_off, b_off, theta, keep = model
    act_off, acts, z, y_b, w_b, delta, grad, scratch = work
    n_layers = dims.shape[0] - 1
    n_out, m = Y.shape
    AL = matrix(acts, act_off[n_layers], n_out, m)
    ZL = matrix(z, 0, n_out, m)
    first = last = np.nan
    scale = 1.0 / m
    for i in range(count):
        forward_pass(X, model, work)
        if i == 0:
            first = course_cost(AL, Y)
        if last_cost and i == count - 1:
            last = course_cost(AL, Y)
        course_output_gradient(AL, Y, dAL)
        # dZ[L] = dAL * s (1 - s), s the sigmoid of Z[L], over the logits (read no more)
        backprop_array(SIGMOID, dAL, ZL, ZL)
        backpropagate(X, X[:0], scale, 0.0, model, work)
        apply_update(SGD, theta, grad, state, hyper, step, scratch.shape[0] > 1)
    return first, last
