"""Every kernel is compiled once per dtype, whatever a user passes.

A new combination of argument types recompiles a kernel and everything that calls it (a minute,
before fastbp._dispatch). In a fresh process this drives every face of fastbp — Network with each
layout of X, sample weights, each optimizer and schedule, validation and early stopping, odd batch
sizes, dropout, forward/backward/cost/gradient check, the exp output's Poisson loss, the course's
functions and loop, and both estimators with each solver (and class weights, a validation set,
early stopping on the loss) — and then counts the versions each kernel was compiled in.
"""
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("sklearn")

SCRIPT = textwrap.dedent('''
    import json
    import warnings

    import numpy as np
    import scipy.sparse as sp
    from numba.core import types
    from numba.core.registry import CPUDispatcher

    import fastbp
    from fastbp import course, _dispatch
    from fastbp.reference import initialize_parameters_deep

    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        X = rng.standard_normal((5, 40)).astype(dtype)
        labels = rng.integers(0, 3, 40)
        Y = np.eye(3, dtype=dtype)[labels].T
        layouts = [X, np.asfortranarray(X), np.ascontiguousarray(X.T).T, X.astype(np.float16),
                   np.broadcast_to(X, X.shape)]
        for inputs in layouts:
            net = fastbp.Network([5, 7, 3], "tanh", "softmax", dtype=dtype, seed=1)
            net.fit(inputs, Y, epochs=2, batch_size=16)
            net.fit(inputs, Y, epochs=2)
        for optimizer in ("sgd", "momentum", "adam"):
            net = fastbp.Network([5, 4, 4, 3], "relu", "softmax", dtype=dtype, seed=2)
            net.fit(X, Y, epochs=3, batch_size=7, optimizer=optimizer, alpha=0.1,
                    sample_weight=rng.random(40), learning_rate_schedule="invscaling",
                    validation_data=(X, Y), n_iter_no_change=1)
            net.fit(X, Y, epochs=3, batch_size=40, optimizer=optimizer, early_stopping=True)
            net.fit(X, Y, epochs=2, batch_size=1, validation_fraction=0.2,
                    learning_rate_schedule="adaptive", n_iter_no_change=1)
            net.predict(X)
            net.cost(X, Y)
            net.forward(X[:, :3])
            net.backward(Y[:, :3])
            fastbp.gradient_check(net, X[:, :4], Y[:, :4])
        dropped = fastbp.Network([5, 4, 4, 3], ["tanh", "relu"], "softmax", dtype=dtype,
                                 dropout=[0.3, 0.5])
        dropped.fit(X, Y, epochs=2, batch_size=7, validation_data=(X, Y))
        dropped.fit(np.asfortranarray(X), Y, epochs=2)
        dropped.predict(X)
        fastbp.MLPClassifier(hidden_layer_sizes=(6,), max_iter=3, dtype=dtype,
                             dropout=0.2).fit(X.T, labels).predict(X.T)
        binary = fastbp.Network([5, 3, 1], "sigmoid", "sigmoid", dtype=dtype)
        binary.fit(X, Y[:1], epochs=2)
        regression = fastbp.Network([5, 3, 2], "leaky_relu", "linear", dtype=dtype)
        regression.fit(X, Y[:2], epochs=2, batch_size=9)
        counts = fastbp.Network([5, 3, 2], "tanh", "exp", dtype=dtype)
        counts.fit(X, Y[:2], epochs=2, batch_size=9, validation_data=(X, Y[:2]),
                   early_stopping=True, early_stopping_metric="loss")
        fastbp.gradient_check(counts, X[:, :4], Y[:2, :4])
        for solver in ("adam", "sgd", "lbfgs"):
            fastbp.MLPClassifier(hidden_layer_sizes=(6,), solver=solver, max_iter=3, dtype=dtype,
                                 early_stopping=solver != "lbfgs").fit(X.T, labels).predict(X.T)
            fastbp.MLPRegressor(hidden_layer_sizes=(6,), solver=solver, max_iter=3, dtype=dtype).fit(
                X.T, Y.T).predict(X.T)
            fastbp.MLPRegressor(loss="poisson", hidden_layer_sizes=(6,), solver=solver,
                                max_iter=3).fit(X.T, Y.T).predict(X.T)
        fastbp.MLPClassifier(hidden_layer_sizes=(6,), max_iter=3, dtype=dtype).partial_fit(X.T, labels, classes=[0, 1, 2])
        fastbp.MLPClassifier(hidden_layer_sizes=(6,), max_iter=3, class_weight="balanced",
                             early_stopping=True).fit(X.T, labels, X_val=X.T, y_val=labels)
        # sparse inputs: every format and index type, each face
        csc = sp.csc_matrix(X * (rng.random(X.shape) < 0.5))
        wide = sp.csc_matrix(csc, dtype=np.int64 if dtype == np.float32 else np.float32)
        wide.indices = wide.indices.astype(np.int64)
        for inputs in (csc, csc.tocsr(), csc.tocoo(), wide):
            net = fastbp.Network([5, 4, 3], "relu", "softmax", dtype=dtype, seed=3)
            net.fit(inputs, Y, epochs=2, batch_size=16, optimizer="adam", alpha=0.1,
                    sample_weight=rng.random(40), validation_data=(inputs, Y))
            net.fit(inputs, Y, epochs=2, validation_fraction=0.2, early_stopping=True)
            net.forward(inputs)
            net.backward(Y)
            net.cost(inputs, Y)
        fastbp.Network([5, 3], "relu", "softmax", dtype=dtype).fit(csc, Y, epochs=2, batch_size=9)
        fastbp.gradient_check(net, csc[:, :4], Y[:, :4])
        for solver in ("adam", "sgd", "lbfgs"):
            for inputs in (csc.T.tocsr(), csc.T.tocsc()):
                model = fastbp.MLPClassifier(hidden_layer_sizes=(6,), solver=solver, max_iter=3,
                                             dtype=dtype, early_stopping=solver != "lbfgs")
                model.fit(inputs, labels).predict_proba(inputs)
        params = {key: value.astype(dtype)
                  for key, value in initialize_parameters_deep([5, 4, 1], seed=1).items()}
        AL, caches = course.L_model_forward(X, params)
        grads = course.L_model_backward(AL, Y[:1], caches)
        course.update_parameters(params, grads, 0.1)
        course.compute_cost(AL, Y[:1])
        course.L_layer_model(X, Y[:1], [5, 4, 1], num_iterations=3)

    def float_dtypes(t):
        # the float dtypes of an argument, inside tuples too (the dropout kernels take the
        # workspace's arrays in a tuple, beside float64 arrays of any network)
        if isinstance(t, types.BaseTuple):
            return set().union(*(float_dtypes(item) for item in t))
        name = str(getattr(t, "dtype", t))
        return {name} if name.startswith("float") else set()

    versions = {}
    for dispatcher in _dispatch.DISPATCHERS:
        for signature in dispatcher.signatures:
            dtypes = sorted(set().union(*(float_dtypes(t) for t in signature)))
            key = f"{dispatcher.py_func.__module__}.{dispatcher.py_func.__qualname__}"
            versions.setdefault(key, []).append((",".join(dtypes), str(signature)))
    print(json.dumps(versions))
''')


def test_each_kernel_is_compiled_once_per_dtype():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    import json
    versions = json.loads(result.stdout.splitlines()[-1])
    assert versions, "no kernel was compiled"
    # a kernel a face calls from Python must be compiled with Numba's wrappers (python=True):
    # otherwise every process compiles a twin of it (fastbp._dispatch.KernelDispatcher)
    twins = [name for name in versions if name.endswith("_from_python")]
    assert not twins, f"kernels called from Python without python=True: {twins}"
    repeated = {}
    for name, compiled in versions.items():
        by_dtype = {}
        for dtypes, signature in compiled:
            by_dtype.setdefault(dtypes, []).append(signature)
        for dtypes, signatures in by_dtype.items():
            # copy_into copies both the flat parameters (1-D) and the optimizer state (2-D);
            # the specialized row groups are compiled once per row count (2 or 4) by design
            allowed = {"fastbp.kernels.loop.copy_into": 2, "fastbp.kernels.gemm._row_group": 2}
            if len(signatures) > allowed.get(name, 1):
                repeated[f"{name} [{dtypes}]"] = signatures
    assert not repeated, "compiled more than once per dtype:\n" + "\n".join(
        f"{name}:\n  " + "\n  ".join(signatures) for name, signatures in repeated.items())
