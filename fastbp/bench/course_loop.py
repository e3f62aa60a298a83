"""The ``course-loop`` workload: the course's training loop, iteration by iteration.

The network of deeplearning.ai's "Deep Neural Network for Image Classification: Application":
12288-20-7-5-1, relu hidden layers, a sigmoid output, m=209 examples in float64, learning rate
0.0075, full batch. No course data ship with fastbp, so X is uniform in [0, 1) (the course's
images are scaled to [0, 1]) and Y holds random 0/1 labels.

Three implementations of the same iterations, which scripts/compare.py times each in its own
process and the asv suite beside each other:

``numpy``
    The course's own loop (:func:`course_loop`, the body of the course's ``L_layer_model``) on the
    course's own vectorized NumPy functions, which :mod:`fastbp.reference` holds as the course
    writes them: ``initialize_parameters_deep``, ``L_model_forward`` (``linear_activation_forward``
    caches), ``compute_cost``, ``L_model_backward`` (from ``dAL = -(Y/AL - (1-Y)/(1-AL))``),
    ``update_parameters``.
``fastbp.course``
    The same loop, with the same functions imported from :mod:`fastbp.course` instead (what a
    course user gets from ``from fastbp.course import *``).
``L_layer_model``
    ``fastbp.course.L_layer_model(X, Y, dims, learning_rate, num_iterations)`` itself.

Each call starts from ``initialize_parameters_deep(dims, seed=1)``, as the course's
``L_layer_model`` does, so the three time the same work: the initialization plus the iterations.
"""
import time

import numpy as np

#: The course's network, example count, learning rate and dtype.
LAYER_DIMS = (12288, 20, 7, 5, 1)
M = 209
LEARNING_RATE = 0.0075
DTYPE = "float64"
#: Iterations per timed call (after a warm-up call of one iteration).
ITERATIONS = 100

#: Implementations in table order, with what each runs.
IMPLEMENTATIONS = {
    "numpy": "the course's loop on the course's NumPy functions (fastbp.reference)",
    "fastbp.course": "the course's loop on fastbp.course's functions",
    "L_layer_model": "fastbp.course.L_layer_model",
}


def make_data(seed=0):
    """X (12288, 209) uniform in [0, 1) and Y (1, 209) of 0/1 labels, float64."""
    rng = np.random.default_rng(seed)
    X = rng.random((LAYER_DIMS[0], M))
    Y = (rng.random((1, M)) < 0.5).astype(np.float64)
    return X, Y


def course_loop(functions, X, Y, layers_dims, learning_rate, num_iterations):
    """The course's ``L_layer_model`` loop, calling the course functions found in ``functions``.

    Parameters
    ----------
    functions : module
        Holds ``initialize_parameters_deep``, ``L_model_forward``, ``compute_cost``,
        ``L_model_backward`` and ``update_parameters`` (:mod:`fastbp.reference` or
        :mod:`fastbp.course`).
    X : ndarray, shape (n_x, m)
    Y : ndarray, shape (1, m)
    layers_dims : sequence of int
    learning_rate : float
    num_iterations : int

    Returns
    -------
    parameters : dict
    costs : list
        The cost every 100 iterations, as the course records it.
    """
    costs = []
    parameters = functions.initialize_parameters_deep(layers_dims, seed=1)
    for i in range(num_iterations):
        AL, caches = functions.L_model_forward(X, parameters)
        cost = functions.compute_cost(AL, Y)
        grads = functions.L_model_backward(AL, Y, caches)
        parameters = functions.update_parameters(parameters, grads, learning_rate)
        if i % 100 == 0:
            costs.append(cost)
    return parameters, costs


def trainer(implementation):
    """A callable ``train(X, Y, num_iterations) -> (parameters, costs)`` for an implementation.

    Importing the implementation's module happens here, outside any timing.
    """
    if implementation == "numpy":
        from fastbp import reference

        return lambda X, Y, n: course_loop(reference, X, Y, LAYER_DIMS, LEARNING_RATE, n)
    if implementation == "fastbp.course":
        from fastbp import course

        return lambda X, Y, n: course_loop(course, X, Y, LAYER_DIMS, LEARNING_RATE, n)
    if implementation == "L_layer_model":
        from fastbp.course import L_layer_model

        return lambda X, Y, n: L_layer_model(X, Y, list(LAYER_DIMS), LEARNING_RATE, n)
    raise ValueError(f"unknown course-loop implementation {implementation!r}; expected one of "
                     f"{', '.join(IMPLEMENTATIONS)}")


def measure_iteration_seconds(implementation, iterations=ITERATIONS, repeat=3, seed=0):
    """Seconds per iteration of one implementation, after a warm-up call of one iteration.

    Parameters
    ----------
    implementation : str
        A key of :data:`IMPLEMENTATIONS`.
    iterations : int
        Iterations per timed call (the initialization is timed with them, as in every call).
    repeat : int
        Timed calls; the median is reported.
    seed : int
        Seed of the data.

    Returns
    -------
    dict
        ``seconds`` (per iteration, each call), ``median``, ``min``, ``warmup_seconds`` and
        ``cost``, the cost of the last call's final parameters (computed afterwards by the
        course's NumPy functions, so the three implementations can be checked against each
        other).
    """
    from fastbp import reference

    X, Y = make_data(seed)
    train = trainer(implementation)
    started = time.perf_counter()
    train(X, Y, 1)  # fastbp compiles its kernels (or loads them from the disk cache) here
    warmup = time.perf_counter() - started
    seconds, parameters = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        parameters, _ = train(X, Y, iterations)
        seconds.append((time.perf_counter() - started) / iterations)
    cost = reference.compute_cost(reference.L_model_forward(X, parameters)[0], Y)
    return {"seconds": seconds, "median": float(np.median(seconds)), "min": min(seconds),
            "warmup_seconds": warmup, "cost": float(cost), "iterations": iterations}
