"""The leanest vectorized NumPy epoch: the speed baseline a NumPy user would have to beat.

The same math as :func:`fastbp.reference.sgd_epoch` (the seeds' formulas, the course's layout),
written as a speed-minded user writes it rather than as the course teaches it:

* forward ``Z = W @ A + b``, the activation applied in place on Z (no separate caches: the
  backward pass needs only each layer's A);
* output gradient ``dZ = A - Y`` (sigmoid + BCE, softmax + cross-entropy, linear + half squared
  error all reduce to it), no cost evaluated;
* ``dW = dZ @ A_prev.T / m``, ``db = dZ.sum(axis=1, keepdims=True) / m``,
  ``dA_prev = W.T @ dZ`` then ``* g'`` with g' taken from A_prev (``A > 0`` for relu,
  ``A * (1 - A)`` for sigmoid, ``1 - A * A`` for tanh), so no Z is kept;
* in-place ``W -= lr * dW``, after ``dA_prev`` has used the old W;
* minibatches gathered by fancy indexing of a shuffled order, as the reference trainer does.

Only NumPy is imported. Parameters are the course's dict (``W1``, ``b1``, ...), updated in place.
"""
import numpy as np

#: Slope of leaky relu for negative inputs (the same as fastbp's and the reference's).
LEAKY_SLOPE = 0.01


def activate_(Z, name):
    """g(Z), overwriting Z where the activation allows; ``name`` is a hidden or output one."""
    if name == "relu":
        return np.maximum(Z, 0, out=Z)
    if name == "sigmoid":
        # 1 / (1 + exp(-Z)), the reference's formula, one pass at a time without temporaries
        np.negative(Z, out=Z)
        np.exp(Z, out=Z)
        Z += 1
        return np.reciprocal(Z, out=Z)
    if name == "softmax":
        Z -= Z.max(axis=0, keepdims=True)
        np.exp(Z, out=Z)
        Z /= Z.sum(axis=0, keepdims=True)
        return Z
    if name == "tanh":
        return np.tanh(Z, out=Z)
    if name == "leaky_relu":
        return np.where(Z > 0, Z, LEAKY_SLOPE * Z)
    if name == "linear":
        return Z
    raise ValueError(f"unknown activation {name!r}")


def derivative_from_output(A, name):
    """g'(Z) of a hidden activation, computed from its output A = g(Z) (Z is not kept)."""
    if name == "relu":
        return A > 0
    if name == "sigmoid":
        return A * (1 - A)
    if name == "tanh":
        return 1 - A * A
    if name == "leaky_relu":
        # leaky relu keeps the sign, so A > 0 exactly where Z > 0
        return np.where(A > 0, 1.0, LEAKY_SLOPE).astype(A.dtype)
    if name == "linear":
        return None
    raise ValueError(f"unknown activation {name!r}")


def forward(X, parameters, activations, output):
    """Every layer's output ``[X, A1, ..., AL]`` of the network for the columns of X.

    Parameters
    ----------
    X : ndarray, shape (n_0, m)
    parameters : dict
        ``W{l}`` (n_l, n_{l-1}) and ``b{l}`` (n_l, 1).
    activations : sequence of str
        Hidden activation of each hidden layer.
    output : {"sigmoid", "softmax", "linear"}

    Returns
    -------
    list of ndarray
    """
    names = list(activations) + [output]
    outputs = [X]
    for l, name in enumerate(names, 1):
        Z = parameters[f"W{l}"] @ outputs[-1]
        Z += parameters[f"b{l}"]
        outputs.append(activate_(Z, name))
    return outputs


def gradients(outputs, Y, parameters, activations):
    """``dW{l}`` and ``db{l}`` of the mean loss from the layer outputs of :func:`forward`.

    Parameters
    ----------
    outputs : list of ndarray
        ``[X, A1, ..., AL]``.
    Y : ndarray, shape (n_L, m)
    parameters : dict
    activations : sequence of str

    Returns
    -------
    dict
    """
    grads = {}
    for l, dW, db in _backward(outputs, Y, parameters, activations):
        grads[f"dW{l}"], grads[f"db{l}"] = dW, db
    return grads


def _backward(outputs, Y, parameters, activations):
    """Yield ``(l, dW, db)`` from the last layer to the first.

    A caller that updates ``W{l}`` in place as soon as its gradient arrives is safe: the
    generator has already used the old W for ``dA_prev`` before it yields.
    """
    m = Y.shape[1]
    dZ = outputs[-1] - Y
    for l in range(len(outputs) - 1, 0, -1):
        A_prev = outputs[l - 1]
        dW = dZ @ A_prev.T
        dW /= m
        db = dZ.sum(axis=1, keepdims=True)
        db /= m
        if l > 1:
            dZ_prev = parameters[f"W{l}"].T @ dZ
            slope = derivative_from_output(A_prev, activations[l - 2])
            if slope is not None:
                dZ_prev *= slope
            dZ = dZ_prev
        yield l, dW, db


def sgd_step(X, Y, parameters, activations, output, learning_rate):
    """One gradient step on the batch (X, Y), updating ``parameters`` in place; no cost."""
    outputs = forward(X, parameters, activations, output)
    for l, dW, db in _backward(outputs, Y, parameters, activations):
        parameters[f"W{l}"] -= learning_rate * dW
        parameters[f"b{l}"] -= learning_rate * db


def sgd_epoch(X, Y, parameters, activations, output, learning_rate, batch_size=None, order=None):
    """One epoch of minibatch gradient descent, updating ``parameters`` in place.

    The same batches as :func:`fastbp.reference.sgd_epoch`: ``order`` (a permutation of
    range(m), None for the given order) cut into ``batch_size`` columns, each gathered by fancy
    indexing; a full batch in the given order uses X and Y as they are. Returns nothing: a lean
    loop evaluates no cost.
    """
    m = X.shape[1]
    batch_size = m if batch_size is None else batch_size
    if batch_size >= m and order is None:
        sgd_step(X, Y, parameters, activations, output, learning_rate)
        return
    for start in range(0, m, batch_size):
        index = (np.arange(start, min(start + batch_size, m)) if order is None
                 else order[start:start + batch_size])
        sgd_step(X[:, index], Y[:, index], parameters, activations, output, learning_rate)
