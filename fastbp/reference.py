"""The same math as plain vectorized NumPy, the way the course writes it.

This module is fastbp's test oracle and the baseline its benchmarks compare against; nothing in it
is fast on purpose. It has two parts:

* the course's own functions (``initialize_parameters_deep`` ... ``L_layer_model``), written exactly
  as in the deeplearning.ai notebooks "Building your Deep Neural Network: Step by Step" and "Deep
  Neural Network for Image Classification: Application", so ``fastbp.course`` can be checked
  against them for any input;
* the general network fastbp trains (any hidden activations, sigmoid/softmax/linear/exp output
  with the matched loss, L2 penalty, sample weights, minibatch SGD, inverted dropout with given
  masks as in the course's regularization assignment), the oracle for ``fastbp.Network`` and
  the "vectorized NumPy" peer in every comparison.

Shapes follow the course: X (n_0, m), Y (n_L, m), W[l] (n_l, n_{l-1}), b[l] (n_l, 1).
"""
import numpy as np

LEAKY_SLOPE = 0.01


# ----------------------------------------------------------------------------- course functions
def sigmoid(Z):
    A = 1 / (1 + np.exp(-Z))
    cache = Z
    return A, cache


def relu(Z):
    A = np.maximum(0, Z)
    cache = Z
    return A, cache


def relu_backward(dA, cache):
    Z = cache
    dZ = np.array(dA, copy=True)
    dZ[Z <= 0] = 0
    return dZ


def sigmoid_backward(dA, cache):
    Z = cache
    s = 1 / (1 + np.exp(-Z))
    dZ = dA * s * (1 - s)
    return dZ


def initialize_parameters_deep(layer_dims, seed=None):
    if seed is not None:
        np.random.seed(seed)
    parameters = {}
    L = len(layer_dims)
    for l in range(1, L):
        parameters['W' + str(l)] = (np.random.randn(layer_dims[l], layer_dims[l - 1])
                                    / np.sqrt(layer_dims[l - 1]))
        parameters['b' + str(l)] = np.zeros((layer_dims[l], 1))
    return parameters


def linear_forward(A, W, b):
    Z = np.dot(W, A) + b
    cache = (A, W, b)
    return Z, cache


def linear_activation_forward(A_prev, W, b, activation):
    if activation == "sigmoid":
        Z, linear_cache = linear_forward(A_prev, W, b)
        A, activation_cache = sigmoid(Z)
    elif activation == "relu":
        Z, linear_cache = linear_forward(A_prev, W, b)
        A, activation_cache = relu(Z)
    cache = (linear_cache, activation_cache)
    return A, cache


def L_model_forward(X, parameters):
    caches = []
    A = X
    L = len(parameters) // 2
    for l in range(1, L):
        A_prev = A
        A, cache = linear_activation_forward(A_prev, parameters['W' + str(l)],
                                             parameters['b' + str(l)], activation="relu")
        caches.append(cache)
    AL, cache = linear_activation_forward(A, parameters['W' + str(L)], parameters['b' + str(L)],
                                          activation="sigmoid")
    caches.append(cache)
    return AL, caches


def compute_cost(AL, Y):
    m = Y.shape[1]
    cost = -1 / m * np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL))
    cost = np.squeeze(cost)
    return cost


def linear_backward(dZ, cache):
    A_prev, W, b = cache
    m = A_prev.shape[1]
    dW = 1. / m * np.dot(dZ, A_prev.T)
    db = 1. / m * np.sum(dZ, axis=1, keepdims=True)
    dA_prev = np.dot(W.T, dZ)
    return dA_prev, dW, db


def linear_activation_backward(dA, cache, activation):
    linear_cache, activation_cache = cache
    if activation == "relu":
        dZ = relu_backward(dA, activation_cache)
        dA_prev, dW, db = linear_backward(dZ, linear_cache)
    elif activation == "sigmoid":
        dZ = sigmoid_backward(dA, activation_cache)
        dA_prev, dW, db = linear_backward(dZ, linear_cache)
    return dA_prev, dW, db


def L_model_backward(AL, Y, caches):
    grads = {}
    L = len(caches)
    Y = Y.reshape(AL.shape)
    dAL = - (np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    current_cache = caches[L - 1]
    dA_prev_temp, dW_temp, db_temp = linear_activation_backward(dAL, current_cache, "sigmoid")
    grads["dA" + str(L - 1)] = dA_prev_temp
    grads["dW" + str(L)] = dW_temp
    grads["db" + str(L)] = db_temp
    for l in reversed(range(L - 1)):
        current_cache = caches[l]
        dA_prev_temp, dW_temp, db_temp = linear_activation_backward(grads["dA" + str(l + 1)],
                                                                    current_cache, "relu")
        grads["dA" + str(l)] = dA_prev_temp
        grads["dW" + str(l + 1)] = dW_temp
        grads["db" + str(l + 1)] = db_temp
    return grads


def update_parameters(params, grads, learning_rate):
    parameters = params.copy()
    L = len(parameters) // 2
    for l in range(L):
        parameters["W" + str(l + 1)] = parameters["W" + str(l + 1)] - learning_rate * grads["dW" + str(l + 1)]
        parameters["b" + str(l + 1)] = parameters["b" + str(l + 1)] - learning_rate * grads["db" + str(l + 1)]
    return parameters


def predict(X, parameters):
    m = X.shape[1]
    p = np.zeros((1, m))
    probas, caches = L_model_forward(X, parameters)
    for i in range(0, probas.shape[1]):
        if probas[0, i] > 0.5:
            p[0, i] = 1
        else:
            p[0, i] = 0
    return p


def L_layer_model(X, Y, layers_dims, learning_rate=0.0075, num_iterations=3000, print_cost=False):
    costs = []
    parameters = initialize_parameters_deep(layers_dims, seed=1)
    for i in range(0, num_iterations):
        AL, caches = L_model_forward(X, parameters)
        cost = compute_cost(AL, Y)
        grads = L_model_backward(AL, Y, caches)
        parameters = update_parameters(parameters, grads, learning_rate)
        if print_cost and (i % 100 == 0 or i == num_iterations - 1):
            print("Cost after iteration {}: {}".format(i, np.squeeze(cost)))
        if i % 100 == 0 or i == num_iterations:
            costs.append(cost)
    return parameters, costs


# ----------------------------------------------------------------------------- general network
def activate(Z, name):
    """g(Z) for a hidden or output activation name."""
    if name == "relu":
        return np.maximum(0, Z)
    if name == "leaky_relu":
        return np.where(Z > 0, Z, LEAKY_SLOPE * Z)
    if name == "tanh":
        return np.tanh(Z)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-Z))
    if name == "softmax":
        E = np.exp(Z - Z.max(axis=0, keepdims=True))
        return E / E.sum(axis=0, keepdims=True)
    if name == "exp":
        return np.exp(Z)
    if name == "linear":
        return Z
    raise ValueError(f"unknown activation {name!r}")


def derivative(Z, name):
    """g'(Z) for a hidden activation name."""
    if name == "relu":
        return (Z > 0).astype(Z.dtype)
    if name == "leaky_relu":
        return np.where(Z > 0, 1.0, LEAKY_SLOPE).astype(Z.dtype)
    if name == "tanh":
        return 1 - np.tanh(Z) ** 2
    if name == "sigmoid":
        s = 1 / (1 + np.exp(-Z))
        return s * (1 - s)
    if name == "linear":
        return np.ones_like(Z)
    raise ValueError(f"unknown activation {name!r}")


def init_parameters(layer_dims, rng, dtype=np.float64):
    """W ~ randn / sqrt(n_prev), b = 0, drawn from the NumPy Generator ``rng``."""
    parameters = {}
    for l in range(1, len(layer_dims)):
        W = rng.standard_normal((layer_dims[l], layer_dims[l - 1])) / np.sqrt(layer_dims[l - 1])
        parameters["W" + str(l)] = W.astype(dtype)
        parameters["b" + str(l)] = np.zeros((layer_dims[l], 1), dtype=dtype)
    return parameters


def forward(X, parameters, activations, output, dropout=None):
    """Forward propagation of the general network.

    ``activations`` names the hidden activation of each hidden layer. Returns the output A[L] and
    the caches ``[(A_prev, W, b, Z), ...]``, one per layer.

    ``dropout``, if given, has one entry per hidden layer: None, or ``(D, keep_prob)`` with D the
    layer's mask of 0/1 (its shape, (n_l, m)): the course's inverted dropout,
    ``A = A * D; A = A / keep_prob``, so the next layer (and its cache) sees the dropped A.
    """
    L = len(parameters) // 2
    names = list(activations) + [output]
    caches = []
    A = X
    for l in range(1, L + 1):
        W, b = parameters["W" + str(l)], parameters["b" + str(l)]
        Z = W @ A + b
        caches.append((A, W, b, Z))
        A = activate(Z, names[l - 1])
        if l < L and dropout is not None and dropout[l - 1] is not None:
            D, keep_prob = dropout[l - 1]
            A = A * D
            A = A / keep_prob
    return A, caches


def loss(ZL, AL, Y, output, sample_weight=None):
    """Mean loss of the matched pair for ``output``, stable from the logits ZL.

    BCE and CE are means over examples of sums over outputs; MSE is 1/(2m) sum of squares; the
    exp output's half Poisson deviance is the mean over examples of
    ``sum(xlogy(Y, Y) - Y * ZL - Y + AL)`` (scikit-learn's ``poisson_loss``, written with ZL
    for log(AL)). With ``sample_weight`` the mean over examples is weighted.
    """
    if output == "sigmoid":
        per_example = (np.maximum(ZL, 0) - ZL * Y + np.log1p(np.exp(-np.abs(ZL)))).sum(axis=0)
    elif output == "softmax":
        top = ZL.max(axis=0, keepdims=True)
        log_sum_exp = top + np.log(np.exp(ZL - top).sum(axis=0, keepdims=True))
        per_example = (Y * (log_sum_exp - ZL)).sum(axis=0)
    elif output == "exp":
        y_log_y = Y * np.log(np.where(Y > 0, Y, 1))
        per_example = (y_log_y - Y * ZL - Y + AL).sum(axis=0)
    else:
        per_example = 0.5 * ((AL - Y) ** 2).sum(axis=0)
    if sample_weight is None:
        return float(per_example.mean())
    return float((per_example * sample_weight).sum() / sample_weight.sum())


def backward(AL, Y, caches, activations, sample_weight=None, alpha=0.0, dropout=None):
    """Gradients of the mean loss (plus ``0.5 * alpha * sum W**2 / m``) from the forward caches.

    ``dropout`` as in :func:`forward` (the same masks): the course's ``dA = dA * D;
    dA = dA / keep_prob`` before ``dZ = dA * g'(Z)``. Returns a dict with ``dW{l}`` and ``db{l}``.
    """
    L = len(caches)
    m = Y.shape[1]
    dZ = AL - Y
    total = m
    if sample_weight is not None:
        dZ = dZ * sample_weight
        total = sample_weight.sum()
    grads = {}
    for l in range(L, 0, -1):
        A_prev, W, b, Z = caches[l - 1]
        grads["dW" + str(l)] = (dZ @ A_prev.T + alpha * W) / total
        grads["db" + str(l)] = dZ.sum(axis=1, keepdims=True) / total
        if l > 1:
            dA_prev = W.T @ dZ
            if dropout is not None and dropout[l - 2] is not None:
                D, keep_prob = dropout[l - 2]
                dA_prev = dA_prev * D
                dA_prev = dA_prev / keep_prob
            dZ = dA_prev * derivative(caches[l - 2][3], activations[l - 2])
    return grads


def loss_and_gradient(X, Y, parameters, activations, output, sample_weight=None, alpha=0.0,
                      dropout=None):
    """Cost (with the L2 penalty) and gradients of the general network on (X, Y), with the
    dropout masks ``dropout`` if given (see :func:`forward`)."""
    AL, caches = forward(X, parameters, activations, output, dropout)
    cost = loss(caches[-1][3], AL, Y, output, sample_weight)
    total = Y.shape[1] if sample_weight is None else sample_weight.sum()
    if alpha:
        squares = sum(float((parameters["W" + str(l)] ** 2).sum())
                      for l in range(1, len(caches) + 1))
        cost += 0.5 * alpha * squares / total
    return cost, backward(AL, Y, caches, activations, sample_weight, alpha, dropout)


def sgd_epoch(X, Y, parameters, activations, output, learning_rate, batch_size=None, order=None):
    """One epoch of minibatch gradient descent, updating ``parameters`` in place.

    ``order`` is the example order (a permutation of range(m)); None keeps the given order.
    Returns the epoch's cost: the mean of the batch costs weighted by batch length.
    """
    m = X.shape[1]
    batch_size = m if batch_size is None else batch_size
    total = 0.0
    for start in range(0, m, batch_size):
        if batch_size >= m and order is None:
            X_batch, Y_batch = X, Y
        else:
            index = (np.arange(start, min(start + batch_size, m)) if order is None
                     else order[start:start + batch_size])
            X_batch, Y_batch = X[:, index], Y[:, index]
        cost, grads = loss_and_gradient(X_batch, Y_batch, parameters, activations, output)
        total += cost * X_batch.shape[1]
        for key in grads:
            parameters[key[1:]] -= learning_rate * grads[key]
    return total / m
