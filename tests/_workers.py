"""Functions run in child processes and threads by the reliability tests (importable by name, so
that ``spawn`` and ``forkserver`` children can find them)."""
import numpy as np

#: Every dense sum of a batch of 64 is above PARALLEL_MIN_FLOPS and the parameter update above
#: PARALLEL_MIN_ELEMENTS, so a fit of this network enters every kind of parallel region.
PARALLEL_DIMS = [64, 512, 400, 10]


def parallel_data(m=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((PARALLEL_DIMS[0], m))
    Y = np.eye(PARALLEL_DIMS[-1])[:, rng.integers(0, PARALLEL_DIMS[-1], m)]
    return X, Y


def fit_parallel_network(seed=0, optimizer="adam", epochs=2):
    """Fit the parallel-sized network; returns (theta, history, forward output, course grads)."""
    from fastbp import Network, course

    X, Y = parallel_data(seed=seed)
    net = Network(PARALLEL_DIMS, activations="relu", output="softmax", seed=seed)
    net.fit(X, Y, epochs=epochs, batch_size=64, optimizer=optimizer, learning_rate=0.01,
            seed=seed)
    AL = net.forward(X)
    params = {"W1": net.parameters["W1"].copy(), "b1": net.parameters["b1"].copy(),
              "W2": net.parameters["W2"][:1].copy(), "b2": net.parameters["b2"][:1].copy()}
    AL_course, caches = course.L_model_forward(X, params)
    grads = course.L_model_backward(AL_course, (Y[:1] > 0).astype(float), caches)
    return net._theta.copy(), list(net.history), AL, grads["dW1"]


def child_fit(connection, seed=0):
    """Run :func:`fit_parallel_network` and send its result (or the error) back."""
    try:
        connection.send(("ok", fit_parallel_network(seed)))
    except BaseException as error:  # report, never hang the parent
        connection.send(("error", repr(error)))
    finally:
        connection.close()


def child_fit_without_fork_guard(connection):
    """The same fit with fastbp's fork guard switched off: the control experiment (GNU
    OpenMP kills a forked child that enters a parallel region)."""
    import fastbp._fork

    fastbp._fork._serial = False
    fastbp._fork.generation += 1
    child_fit(connection)
