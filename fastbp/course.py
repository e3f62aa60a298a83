"""The course's functions, computed by fastbp's kernels: a drop-in for its NumPy notebooks.

``from fastbp.course import *`` replaces the functions of deeplearning.ai's "Building your Deep
Neural Network: Step by Step" / "Deep Neural Network for Image Classification: Application" with
the same names, arguments, return values, cache structure and dict keys. Every function returns
what the course's vectorized NumPy returns for any input, valid or not: NaN and inf flow through as
they do in NumPy (``relu`` passes NaN, ``dZ[Z <= 0] = 0`` still zeroes an infinite dA), and
``L_model_backward`` starts from ``dAL = -(Y/AL - (1-Y)/(1-AL))`` and applies g' at the cached Z.

Inputs may be any real arrays; the work is done in float32 when every array is float32 and in
float64 otherwise (the course's own arrays are float64). Shapes NumPy would reject raise a
ValueError naming them.
"""
import threading

import numba
import numpy as np

from . import _fork
from ._config import PARALLEL_MIN_FLOPS
from .kernels import activations as act
from .kernels import loop, optim, prepare_parallel
from .kernels.dense import (dense_forward, dense_input_gradients, dense_weight_gradients,
                            scratch_elements)
from .kernels.losses import course_cost, course_output_gradient
from .kernels.optim import scaled_difference
from .network import Network
from .reference import initialize_parameters_deep

__all__ = ["initialize_parameters_deep", "linear_forward", "linear_activation_forward",
           "L_model_forward", "compute_cost", "linear_backward", "linear_activation_backward",
           "L_model_backward", "update_parameters", "predict", "L_layer_model"]


#: The course records (and prints) the cost every this many iterations.
_COST_EVERY = 100


def _working_dtype(*arrays):
    if all(np.asarray(a).dtype == np.float32 for a in arrays):
        return np.float32
    return np.float64


def _matrix(array, name, dtype):
    array = np.asarray(array)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {array.shape}")
    return _kernel_array(array, dtype)


def _kernel_array(array, dtype):
    """``array`` C-contiguous, of ``dtype`` and writeable: a read-only array (a memory map, a
    broadcast view) would make Numba compile the kernels again for a read-only type."""
    array = np.ascontiguousarray(array, dtype=dtype)
    return array if array.flags.writeable else array.copy()


def _code(activation):
    if not isinstance(activation, str) or activation not in act.HIDDEN_ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; expected 'relu' or 'sigmoid' "
                         f"(or one of {sorted(act.HIDDEN_ACTIVATIONS)})")
    return act.HIDDEN_ACTIVATIONS[activation]


#: Each calling thread's packing buffers, by (dtype, rows) and fork generation: the course's
#: loop calls a product nine times an iteration, and a fresh buffer each time cost 4-8% of its
#: backward pass (paired A/B).
#: Per calling thread, so that two threads running the course's functions never share one.
_scratch_held = threading.local()


def _scratch(dtype, flops):
    """Packing buffers for a product of ``flops``: one per thread if it is large enough to run
    in parallel (the kernels take a parallel region only then), else one; always one in a forked
    child (see :mod:`fastbp._fork`)."""
    threads = numba.config.NUMBA_NUM_THREADS if flops >= PARALLEL_MIN_FLOPS else 1
    threads = _fork.scratch_rows(threads)
    key = (np.dtype(dtype), threads, _fork.generation)
    held = getattr(_scratch_held, "buffers", None)
    if held is None:
        held = _scratch_held.buffers = {}
    scratch = held.get(key)
    if scratch is None:
        if threads > 1:
            prepare_parallel(dtype)
        scratch = held[key] = np.empty((threads, scratch_elements(dtype)), dtype)
    return scratch


def _forward(A_prev, W, b, code):
    """Z = W·A_prev + b and A = g(Z), both (n, m), with NumPy's broadcasting rules for b."""
    dtype = _working_dtype(A_prev, W, b)
    A_prev = _matrix(A_prev, "A_prev", dtype)
    W = _matrix(W, "W", dtype)
    if W.shape[1] != A_prev.shape[0]:
        raise ValueError(f"shapes of W {W.shape} and A_prev {A_prev.shape} are not aligned: "
                         f"W has {W.shape[1]} columns, A_prev {A_prev.shape[0]} rows")
    n, m = W.shape[0], A_prev.shape[1]
    bias = np.asarray(b)
    if bias.dtype.kind not in "biuf":
        # Z + b of another kind would reach the activation kernel as object or complex values
        raise TypeError(f"b must hold real numbers, got dtype {bias.dtype}")
    A = np.empty((n, m), dtype)
    Z = np.empty((n, m), dtype)
    scratch = _scratch(dtype, 2 * n * m * W.shape[1])
    if bias.shape == (n, 1):
        dense_forward(A_prev, W, _kernel_array(bias, dtype).reshape(n), code, A, Z,
                      True, scratch)
        return Z, A
    # any other b broadcasts as NumPy would (or fails as NumPy would); the product is still ours
    dense_forward(A_prev, W, np.zeros(n, dtype), act.LINEAR, Z, Z, False, scratch)
    Z = Z + bias
    if Z.ndim != 2:
        raise ValueError(f"b of shape {bias.shape} makes W·A_prev + b {Z.ndim}-D (shape "
                         f"{Z.shape}); it must broadcast to 2-D, e.g. shape ({n}, 1)")
    A = np.empty_like(Z)
    act.activate_array(code, np.ascontiguousarray(Z), A)
    return Z, A


def linear_forward(A, W, b):
    """Z = W·A + b. Returns ``(Z, (A, W, b))``."""
    Z, _ = _forward(A, W, b, act.LINEAR)
    return Z, (A, W, b)


def linear_activation_forward(A_prev, W, b, activation):
    """A = g(W·A_prev + b). Returns ``(A, ((A_prev, W, b), Z))``."""
    Z, A = _forward(A_prev, W, b, _code(activation))
    return A, ((A_prev, W, b), Z)


def L_model_forward(X, parameters):
    """[LINEAR->RELU] x (L-1) -> LINEAR->SIGMOID. Returns ``(AL, caches)``."""
    caches = []
    A = X
    L = len(parameters) // 2
    for l in range(1, L + 1):
        activation = "relu" if l < L else "sigmoid"
        A, cache = linear_activation_forward(A, parameters["W" + str(l)],
                                             parameters["b" + str(l)], activation)
        caches.append(cache)
    return A, caches


def compute_cost(AL, Y):
    """Cross-entropy cost ``-1/m sum(Y log AL + (1-Y) log(1-AL))`` as a Python float."""
    dtype = _working_dtype(AL, Y)
    AL = _matrix(AL, "AL", dtype)
    Y = _matrix(Y, "Y", dtype)
    if AL.shape != Y.shape:
        raise ValueError(f"AL {AL.shape} and Y {Y.shape} must have the same shape")
    return float(course_cost(AL, Y))


def _backward(dZ, A_prev, W):
    """dW, db and dA_prev from dZ (the course's ``linear_backward``)."""
    dtype = dZ.dtype
    n, m = dZ.shape
    A_prev = _matrix(A_prev, "A_prev", dtype)
    W = _matrix(W, "W", dtype)
    if A_prev.shape[1] != m or W.shape[0] != n or W.shape[1] != A_prev.shape[0]:
        raise ValueError(f"dZ {dZ.shape}, A_prev {A_prev.shape} and W {W.shape} do not fit: "
                         "expected dZ (n, m), A_prev (n_prev, m), W (n, n_prev)")
    if m == 0:
        # the course's 1./m would raise ZeroDivisionError: name the problem instead
        raise ValueError(f"dZ {dZ.shape} has no examples (m = 0): the gradients are means over "
                         "the examples")
    n_prev = A_prev.shape[0]
    scratch = _scratch(dtype, 2 * n * m * n_prev)
    dW = np.empty((n, n_prev), dtype)
    db = np.empty(n, dtype)
    dense_weight_gradients(dZ, A_prev, dW, db, dtype.type(1.0 / m), dtype.type(0), W, scratch,
                           False)
    if n_prev == 0:
        # the kernel computes db with dW's first column block, and a dW without columns has none
        db = dZ.sum(axis=1) / dtype.type(m)
    dA_prev = np.empty((n_prev, m), dtype)
    dense_input_gradients(dZ, W, act.LINEAR, dA_prev, False, dA_prev, scratch)
    return dA_prev, dW, db.reshape(n, 1)


def linear_backward(dZ, cache):
    """Returns ``(dA_prev, dW, db)`` for the cache ``(A_prev, W, b)``."""
    A_prev, W, b = cache
    dtype = _working_dtype(dZ, A_prev, W)
    return _backward(_matrix(dZ, "dZ", dtype), A_prev, W)


def _activation_backward(dA, cache, code):
    (A_prev, W, b), Z = cache
    dtype = _working_dtype(dA, Z, A_prev, W)
    dA = _matrix(dA, "dA", dtype)
    Z = _matrix(Z, "Z", dtype)
    if dA.shape != Z.shape:
        raise ValueError(f"dA {dA.shape} and the cached Z {Z.shape} must have the same shape")
    dZ = np.empty_like(Z)
    act.backprop_array(code, dA, Z, dZ)
    return _backward(dZ, A_prev, W)


def linear_activation_backward(dA, cache, activation):
    """dZ = dA * g'(Z) at the cached Z, then ``linear_backward``: ``(dA_prev, dW, db)``."""
    return _activation_backward(dA, cache, _code(activation))


def L_model_backward(AL, Y, caches):
    """Gradients of the course's network: ``dW{l}``, ``db{l}`` (l = 1..L), ``dA{l}`` (l = 0..L-1)."""
    dtype = _working_dtype(AL, Y)
    AL = _matrix(AL, "AL", dtype)
    Y = np.asarray(Y)
    if Y.size != AL.size:
        raise ValueError(f"cannot reshape Y of shape {Y.shape} into AL's shape {AL.shape}")
    Y = _kernel_array(Y.reshape(AL.shape), dtype)
    dAL = np.empty_like(AL)
    course_output_gradient(AL, Y, dAL)
    grads = {}
    L = len(caches)
    dA = dAL
    for l in range(L, 0, -1):
        code = act.SIGMOID if l == L else act.RELU
        dA_prev, dW, db = _activation_backward(dA, caches[l - 1], code)
        grads["dA" + str(l - 1)] = dA_prev
        grads["dW" + str(l)] = dW
        grads["db" + str(l)] = db
        dA = dA_prev
    return grads


def update_parameters(params, grads, learning_rate):
    """One gradient-descent step: a new dict with ``W - learning_rate * dW`` and ``b - ... db``."""
    parameters = params.copy()
    L = len(parameters) // 2
    for l in range(1, L + 1):
        for name in ("W", "b"):
            value = np.asarray(parameters[name + str(l)])
            grad = np.asarray(grads["d" + name + str(l)])
            dtype = _working_dtype(value, grad)
            # NumPy's broadcasting rules (and its error for shapes that do not broadcast)
            for array, key in ((value, name + str(l)), (grad, "d" + name + str(l))):
                if array.dtype.kind not in "biuf":
                    raise TypeError(f"{key} must hold real numbers, got dtype {array.dtype}")
            value, grad = np.broadcast_arrays(value, grad)
            value = _kernel_array(value, dtype)
            result = np.empty_like(value)
            scaled_difference(value, _kernel_array(grad, dtype), learning_rate, result)
            parameters[name + str(l)] = result
    return parameters


def predict(X, parameters):
    """0/1 predictions (AL > 0.5) of the course's network, shape (1, m), as floats."""
    probas, _ = L_model_forward(X, parameters)
    return (probas > 0.5).astype(np.float64)


def L_layer_model(X, Y, layers_dims, learning_rate=0.0075, num_iterations=3000, print_cost=False):
    """The course's training loop: returns ``(parameters, costs)``, a cost every 100 iterations.

    Parameters start from ``initialize_parameters_deep(layers_dims, seed=1)`` as in the course.
    The iterations run in one compiled loop (``kernels.loop.course_iterations``, a call per 100
    iterations) with the course's formulas; it never builds the caches or ``dA0`` that the
    function-by-function loop must return.
    """
    parameters = initialize_parameters_deep(layers_dims, seed=1)
    dims = [int(n) for n in layers_dims]
    dtype = _working_dtype(X, Y, *parameters.values())
    X = _matrix(X, "X", dtype)
    Y = _matrix(Y, "Y", dtype)
    if X.shape[0] != dims[0]:
        raise ValueError(f"X has {X.shape[0]} rows but layers_dims starts with {dims[0]} inputs")
    if Y.shape != (dims[-1], X.shape[1]):
        raise ValueError(f"Y must have shape {(dims[-1], X.shape[1])} to match AL, got {Y.shape}")
    iterations = int(num_iterations)
    net = Network(dims, activations="relu", output="sigmoid", dtype=dtype)
    for key, value in parameters.items():
        net.parameters[key] = value
    net._select_optimizer("sgd")
    state, step = net._optimizer_state()
    hyper = np.zeros(optim.N_HYPER)
    hyper[optim.LEARNING_RATE] = learning_rate
    work = net._work(X.shape[1])
    dAL = np.empty_like(Y)
    costs = []
    for start in range(0, iterations, _COST_EVERY):
        count = min(_COST_EVERY, iterations - start)
        last = start + count - 1
        first_cost, last_cost = loop.course_iterations(X, Y, count, last == iterations - 1,
                                                       net._model(), work, dAL, state, hyper,
                                                       step)
        costs.append(float(first_cost))
        if print_cost:
            print("Cost after iteration {}: {}".format(start, float(first_cost)))
            if last == iterations - 1 and last != start:
                print("Cost after iteration {}: {}".format(last, float(last_cost)))
    return {key: np.array(value) for key, value in net.parameters.items()}, costs
