"""Compile every kernel ahead of use, into the disk cache: ``fastbp warmup``.

A process's first fit compiles the kernels of its dtype (seconds, see the README's compile-time
section) unless the disk cache holds them. ``fastbp warmup`` fills the cache for both dtypes, one
process per dtype running side by side (the cache's index files are locked, see
``fastbp._cache``), so that a Docker image, a CI cache or a cluster's shared install never
compiles at run time. Each process runs small calls of every face that reaches a kernel:
``Network`` (minibatches, one full batch, sample weights, every optimizer, forward, backward,
cost, dropout), the gradient used by the estimators' L-BFGS, and the course's functions and loop.
"""
import subprocess
import sys
import time

DTYPES = ("float32", "float64")


def warm(dtype):
    """Compile (or load) every kernel for ``dtype`` in this process; returns the seconds taken."""
    import numpy as np

    from . import Network, course, gradient_check

    started = time.perf_counter()
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, 20)).astype(dtype)
    Y = np.eye(3, dtype=dtype)[rng.integers(0, 3, 20)].T
    net = Network([4, 5, 3], "relu", "softmax", dtype=dtype, seed=0)
    for optimizer in ("sgd", "momentum", "adam"):
        net.fit(X, Y, epochs=1, batch_size=8, optimizer=optimizer, alpha=0.1,
                sample_weight=np.ones(20))
    net.fit(np.asfortranarray(X), Y, epochs=1, batch_size=8)   # batches from rows of X.T
    net.fit(X, Y, epochs=1)                                    # one batch of every example
    net.dropout = 0.5                          # dropout's kernels, compiled only when used
    net.fit(X, Y, epochs=1, batch_size=8)
    net.dropout = 0.0
    net.predict(X)
    net.cost(X, Y)
    net.backward(Y)
    net._loss_and_gradient(X, Y, 0.1)
    gradient_check(net, X[:, :3], Y[:, :3])
    parameters = {key: value.astype(dtype) for key, value in
                  course.initialize_parameters_deep([4, 3, 1], seed=1).items()}
    AL, caches = course.L_model_forward(X, parameters)
    grads = course.L_model_backward(AL, Y[:1], caches)
    course.update_parameters(parameters, grads, 0.1)
    course.compute_cost(AL, Y[:1])
    if dtype == np.float64:   # the course's loop works in float64 (its parameters' dtype)
        course.L_layer_model(X, Y[:1], [4, 3, 1], num_iterations=1)
    return time.perf_counter() - started


def run(dtypes=DTYPES, out=sys.stdout):
    """Warm each dtype in its own process, side by side; returns 0 if all succeeded."""
    started = time.perf_counter()
    workers = {dtype: subprocess.Popen([sys.executable, "-m", "fastbp.warmup", dtype],
                                       stdout=subprocess.PIPE, text=True)
               for dtype in dtypes}
    status = 0
    for dtype, worker in workers.items():
        output, _ = worker.communicate()
        if worker.returncode:
            status = 1
            print(f"{dtype}: failed (exit status {worker.returncode})", file=out)
        else:
            print(f"{dtype}: {float(output.split()[-1]):.1f} s", file=out)
    print(f"kernels compiled or found in the cache in {time.perf_counter() - started:.1f} s",
          file=out)
    return status


if __name__ == "__main__":
    print(f"{warm(sys.argv[1]):.3f}")
