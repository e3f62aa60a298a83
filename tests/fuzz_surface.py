"""Fuzzing fastbp's whole public surface with Hypothesis (run by ``test_fuzz.py`` in a child
process, so that a crash of the interpreter is a failed test, not a lost test run).

Every call gets inputs drawn from many shapes (0 and 1 included), dtypes (ints, bool, object,
complex, float16, strings), memory layouts (Fortran, strided, negative strides, read-only,
memory-mapped), NaN and inf, lists and DataFrames, and arguments of every wrong kind. The
contract checked on each call:

* it succeeds, on input fastbp accepts, with exactly the result of the same call on a clean
  C-contiguous array of the working dtype; or
* it raises ValueError or TypeError (or the documented FloatingPointError of a diverging fit, or
  FileNotFoundError for a missing file) whose message is not empty, and leaves the network's
  parameters, optimizer state, history, examples seen, learning rate and generator (or the
  estimator's fitted attributes, or the caller's arrays) exactly as they were;
* anything else (another exception type, a crash, a hang) is a failure.

Usage: ``python fuzz_surface.py MAX_EXAMPLES`` prints one JSON line: outcome counts per area.
"""
import atexit
import collections
import contextlib
import copy
import io
import json
import os
import shutil
import sys
import tempfile
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastbp import MLPClassifier, MLPRegressor, Network, course, gradient_check

OUTCOMES = collections.Counter()
# examples per fuzzer from the command line; no deadline (a first call may compile a kernel);
# the same examples in every run (CI must not pass or fail by the draw), unless
# FASTBP_FUZZ_RANDOM=1 asks for new ones
settings.register_profile("fuzz", max_examples=int(sys.argv[1]) if len(sys.argv) > 1 else 20,
                          deadline=None, database=None, suppress_health_check=list(HealthCheck),
                          derandomize=not os.environ.get("FASTBP_FUZZ_RANDOM"))
settings.load_profile("fuzz")
TEMP = tempfile.mkdtemp(prefix="fastbp-fuzz-")
atexit.register(shutil.rmtree, TEMP, ignore_errors=True)

# --------------------------------------------------------------------------- array variants
#: Variants that keep an array's values usable (fastbp converts them once at the edge).
SAME_VALUES = ["c", "fortran", "strided", "negative", "readonly", "memmap_r", "memmap_rw", "list",
               "dataframe", "float32", "float16", "bigendian", "int", "bool"]
#: Variants of wrong kind or shape.
WRONG = ["object", "complex", "string", "nan", "inf", "1d", "3d", "transposed", "empty",
         "scalar", "none", "sparse", "ragged"]
VARIANTS = SAME_VALUES + WRONG
#: Drawn for an argument: usable variants three times as often as wrong ones, so that calls
#: succeed often enough to be compared with the clean call.
DRAWN_VARIANTS = SAME_VALUES * 3 + WRONG


def make_variant(a, kind, position=0):
    """``a`` (a float64 2-D array) in the form ``kind``."""
    if kind == "c":
        return a.copy()
    if kind == "fortran":
        return np.asfortranarray(a)
    if kind == "strided":
        big = np.zeros((a.shape[0], 2 * a.shape[1] + 1))
        big[:, 1::2] = a
        return big[:, 1::2]
    if kind == "negative":
        return np.ascontiguousarray(a[::-1, ::-1])[::-1, ::-1]
    if kind == "readonly":
        b = a.copy()
        b.flags.writeable = False
        return b
    if kind in ("memmap_r", "memmap_rw"):
        path = os.path.join(TEMP, f"mm{len(os.listdir(TEMP))}.dat")
        if a.size == 0:
            return a.copy()
        writer = np.memmap(path, dtype=np.float64, mode="w+", shape=a.shape)
        writer[...] = a
        writer.flush()
        del writer
        return np.memmap(path, dtype=np.float64, mode="r" if kind == "memmap_r" else "r+",
                         shape=a.shape)
    if kind == "list":
        return a.tolist()
    if kind == "dataframe":
        return pd.DataFrame(a)
    if kind == "float32":
        return a.astype(np.float32)
    if kind == "float16":
        return a.astype(np.float16)
    if kind == "bigendian":
        return a.astype(">f8")
    if kind == "int":
        return np.round(3 * a).astype(np.int32)
    if kind == "bool":
        return a > 0
    if kind == "object":
        return a.astype(object)
    if kind == "complex":
        return a.astype(complex)
    if kind == "string":
        return a.astype(str)
    if kind in ("nan", "inf"):
        b = a.copy()
        if b.size:
            b.flat[position % b.size] = np.nan if kind == "nan" else -np.inf
        return b
    if kind == "1d":
        return a.ravel()
    if kind == "3d":
        return a[None]
    if kind == "transposed":
        return a.T
    if kind == "empty":
        return a[:, :0]
    if kind == "scalar":
        return 1.5
    if kind == "none":
        return None
    if kind == "sparse":
        return sp.csr_matrix(a)
    if kind == "ragged":
        return [[1.0, 2.0], [3.0]]
    raise AssertionError(kind)


def clean(value, dtype):
    """The clean C-contiguous array of ``dtype`` that a call on ``value`` must match."""
    if sp.issparse(value):
        value = value.toarray()
    return np.ascontiguousarray(np.asarray(value), dtype=dtype)


def arrays_equal(x, y):
    if isinstance(x, dict):
        return x.keys() == y.keys() and all(arrays_equal(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple)):
        return len(x) == len(y) and all(arrays_equal(a, b) for a, b in zip(x, y))
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        return np.array_equal(x, y, equal_nan=x.dtype.kind in "fc")
    if isinstance(x, float) and isinstance(y, float):
        return x == y or (np.isnan(x) and np.isnan(y))
    return x == y


def arrays_close(x, y):
    """:func:`arrays_equal`, but floats need only agree to rounding: a sparse X is trained on by
    other kernels than the dense one, which sum in another order."""
    if isinstance(x, dict):
        return x.keys() == y.keys() and all(arrays_close(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple)):
        return len(x) == len(y) and all(arrays_close(a, b) for a, b in zip(x, y))
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        if x.dtype.kind != "f":
            return np.array_equal(x, y)
        rtol = 1e-3 if x.dtype == np.float32 else 1e-9
        return np.allclose(x, y, rtol=rtol, atol=rtol * max(1.0, float(np.abs(y).max(
            initial=0.0, where=np.isfinite(y)))), equal_nan=True)
    if isinstance(x, float) and isinstance(y, float):
        return bool(np.isclose(x, y, rtol=1e-3, equal_nan=True))
    return x == y


# --------------------------------------------------------------------------- the contract
def network_state(net):
    optimizer = None
    if net._optimizer is not None:
        optimizer = (net._optimizer[0], net._optimizer[1].copy(), net._optimizer[2].copy())
    return dict(theta=net._theta.copy(), optimizer=optimizer, history=list(net.history),
                validation=(list(net.history.validation_cost),
                            list(net.history.validation_score)),
                seen=net.samples_seen_, rate=net.learning_rate_,
                rng=json.dumps(net._rng.bit_generator.state), last=id(net._last_forward))


def estimator_state(est):
    state = {}
    for key, value in est.__dict__.items():
        if key == "_network":
            state[key] = network_state(value)
        elif isinstance(value, np.ndarray):
            state[key] = value.copy()
        elif isinstance(value, (list, dict, tuple, int, float, str, bool, type(None))):
            state[key] = copy.deepcopy(value)
        else:
            state[key] = repr(type(value))
    return state


def states_equal(a, b, same=arrays_equal):
    if a.keys() != b.keys():
        return False
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, dict):
            if not states_equal(x, y, same):
                return False
        elif not same(x, y):
            return False
    return True


def attempt(area, call, state=None, allowed=(ValueError, TypeError)):
    """Run ``call()``; returns (True, result) or (False, None) after an accepted refusal.

    A refusal must name its problem and leave ``state()`` (if given) as it was; any other
    exception escapes and fails the example.
    """
    before = state() if state is not None else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = call()
    except allowed as error:
        assert str(error).strip(), f"{area}: {type(error).__name__} without a message"
        if isinstance(error, FloatingPointError) and state is not None:
            # documented: a diverging fit keeps the parameters, optimizer state and history of
            # its last whole epoch (consistent with each other, all finite), not those before it
            after = state()
            assert after["history"][:len(before["history"])] == before["history"]
            assert np.isfinite(after["history"]).all() and np.isfinite(after["theta"]).all()
        elif state is not None:
            assert states_equal(before, state()), f"{area}: a refused call changed the state"
        OUTCOMES[f"{area}: {type(error).__name__}"] += 1
        return False, None
    OUTCOMES[f"{area}: ok"] += 1
    return True, result




# --------------------------------------------------------------------------- Network
dims_strategy = st.lists(st.integers(1, 6), min_size=2, max_size=4)
OUTPUTS = ["sigmoid", "softmax", "linear"]


def build(dims, output, dtype, trained):
    net = Network(dims, activations="tanh", output=output, dtype=dtype, seed=1)
    if trained:
        rng = np.random.default_rng(0)
        X = rng.standard_normal((dims[0], 5))
        Y = targets(rng, output, dims[-1], 5)
        net.fit(X, Y, epochs=2, batch_size=2, optimizer="adam", learning_rate=0.01, seed=0)
    return net


def targets(rng, output, n, m):
    if output == "softmax":
        return np.eye(n)[:, rng.integers(0, n, m)]
    if output == "sigmoid":
        return rng.integers(0, 2, (n, m)).astype(float)
    return rng.standard_normal((n, m))


NETWORK_METHODS = ["forward", "predict", "predict_proba", "cost", "fit", "backward",
                   "gradient_check"]


def call_network(net, method, X, Y, fit_kwargs):
    if method == "forward":
        return net.forward(X)
    if method == "predict":
        return net.predict(X)
    if method == "predict_proba":
        return net.predict_proba(X)
    if method == "cost":
        return net.cost(X, Y)
    if method == "fit":
        net.fit(X, Y, **fit_kwargs)
        state = network_state(net)
        state.pop("last")
        return state
    if method == "backward":
        return net.backward(Y)
    if method == "gradient_check":
        return gradient_check(net, X, Y, epsilon=1e-4)
    raise AssertionError(method)


@given(dims=dims_strategy, output=st.sampled_from(OUTPUTS),
       dtype=st.sampled_from([np.float64, np.float32]), trained=st.booleans(),
       method=st.sampled_from(NETWORK_METHODS), m=st.sampled_from([3, 1, 2, 5, 7, 0]),
       x_kind=st.sampled_from(DRAWN_VARIANTS), y_kind=st.sampled_from(DRAWN_VARIANTS),
       x_rows=st.sampled_from([0] * 6 + [-1, 1]), y_rows=st.sampled_from([0] * 6 + [-1, 1]),
       y_cols=st.sampled_from([0] * 6 + [-1, 1]),
       position=st.integers(0, 100), batch=st.sampled_from([None, 1, 2, 3, 10**9]),
       optimizer=st.sampled_from(["sgd", "momentum", "adam"]), seed=st.integers(0, 3))
def fuzz_network_arrays(dims, output, dtype, trained, method, m, x_kind, y_kind, x_rows, y_rows,
                        y_cols, position, batch, optimizer, seed):
    """Network methods on inputs of every layout, dtype and (mis)shape."""
    if output == "softmax" and dims[-1] == 1:
        dims = dims[:-1] + [2]
    rng = np.random.default_rng(seed)
    X0 = rng.standard_normal((max(dims[0] + x_rows, 0), m))
    Y0 = targets(rng, output, dims[-1], max(0, m + y_cols))
    if y_rows < 0:
        Y0 = Y0[:dims[-1] + y_rows]
    elif y_rows > 0:
        Y0 = np.vstack([Y0, np.zeros((y_rows, Y0.shape[1]))])
    X = make_variant(X0, x_kind, position)
    Y = make_variant(Y0, y_kind, position + 1)
    fit_kwargs = dict(epochs=2, batch_size=batch, optimizer=optimizer, learning_rate=0.01,
                      seed=3)
    net = build(dims, output, dtype, trained)
    if method == "backward":
        net.forward(rng.standard_normal((dims[0], max(1, m))))
    ok, result = attempt(f"Network.{method}", lambda: call_network(net, method, X, Y, fit_kwargs),
                         lambda: network_state(net),
                         allowed=(ValueError, TypeError, FloatingPointError))
    if not ok:
        return
    # a transposed square array is a legitimate array of the same shape; a sparse X is
    # trained on without making it dense
    usable = SAME_VALUES + ["transposed"]
    assert x_kind in usable + ["sparse"] or method == "backward", f"accepted X of kind {x_kind}"
    assert y_kind in usable or method in ("forward", "predict", "predict_proba"), (
        f"accepted Y of kind {y_kind}")
    uses_x = method != "backward"
    uses_y = method not in ("forward", "predict", "predict_proba")
    # (an array the method does not read may be of any shape)
    assert (x_kind != "transposed" or X.shape == X0.shape or not uses_x) and (
        y_kind != "transposed" or Y.shape == Y0.shape or not uses_y)
    twin = build(dims, output, dtype, trained)
    if method == "backward":
        twin.forward(net._last_forward)
    expected = call_network(twin, method, clean(X, dtype) if uses_x else X,
                            clean(Y, dtype) if uses_y else Y, fit_kwargs)
    same = arrays_close if x_kind == "sparse" and uses_x else arrays_equal
    assert same(result, expected), f"Network.{method}: {x_kind}/{y_kind} differs from clean"


bad_numbers = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True),
                        st.text(max_size=3), st.just([1]), st.just(np.int64(2)),
                        st.just(np.float32(0.5)), st.just(10**30), st.just(complex(1, 1)))


@given(key=st.sampled_from(["epochs", "batch_size", "optimizer", "learning_rate", "shuffle",
                            "momentum", "nesterov", "beta_1", "beta_2", "epsilon", "alpha",
                            "learning_rate_schedule", "power_t", "sample_weight",
                            "validation_data", "validation_fraction", "early_stopping",
                            "n_iter_no_change", "tol", "callbacks", "seed", "verbose",
                            "plateau", "unknown_name"]),
       value=bad_numbers, trained=st.booleans(), weight_kind=st.sampled_from(VARIANTS))
def fuzz_network_fit_arguments(key, value, trained, weight_kind):
    """Network.fit with one argument of any value (or an unknown keyword)."""
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((3, 6)), targets(rng, "softmax", 2, 6)
    if key == "sample_weight" and value is not None:
        value = make_variant(rng.random((1, 6)), weight_kind)
        value = value[0] if hasattr(value, "ndim") and getattr(value, "ndim", 0) == 2 else value
    if key == "validation_data" and value is not None:
        value = (make_variant(X, weight_kind), Y) if not isinstance(value, bool) else (X,)
    if key == "callbacks" and isinstance(value, bool):
        value = [lambda epoch, history: value]
    kwargs = {"epochs": 2, "learning_rate": 0.01, key: value}
    if key == "epochs" and isinstance(value, int) and value > 100:
        kwargs["callbacks"] = [lambda epoch, history: epoch >= 1]  # huge, stopped by a callback
    net = build([3, 4, 2], "softmax", np.float64, trained)
    allowed = (ValueError, TypeError, FloatingPointError)
    ok, result = attempt("Network.fit arguments",
                         lambda: _fit_state(net.fit(X, Y, **kwargs)),
                         lambda: network_state(net), allowed)
    if ok:
        twin = build([3, 4, 2], "softmax", np.float64, trained)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            twin.fit(X, Y, **kwargs)
        assert arrays_equal(result["theta"], twin._theta), f"fit({key}={value!r}) not repeatable"


def _fit_state(net):
    state = network_state(net)
    state.pop("last")
    return state


@given(layer_dims=st.one_of(dims_strategy, dims_strategy, dims_strategy, st.lists(st.one_of(
           st.integers(-2, 4), st.floats(allow_nan=True), st.text(max_size=2), st.none(),
           st.booleans(), st.just(np.int64(3)), st.just(10**13)), max_size=4), bad_numbers),
       activations=st.one_of(st.sampled_from(["relu", "tanh", "leaky_relu", "identity",
                                              "sigmoid", "linear", "softmax", "RELU", "",
                                              "nope"]),
                             st.sampled_from(["relu", "tanh", "sigmoid"]),
                             st.lists(st.sampled_from(["relu", "sigmoid", "x"]), max_size=3),
                             bad_numbers),
       output=st.one_of(st.sampled_from(OUTPUTS), st.sampled_from(OUTPUTS + [
           "relu", "tanh", "Sigmoid"]), bad_numbers),
       loss=st.one_of(st.none(), st.none(), st.sampled_from([None, "bce", "ce", "mse", "hinge"]),
                      bad_numbers),
       dtype=st.sampled_from([np.float64, np.float32, "float32", "float64"] * 3 + [
           np.float16, np.int64, bool, object, complex, "nonsense", None, 3]),
       seed=st.one_of(st.none(), st.integers(0, 2**32), st.integers(-2, 2**64), st.floats(),
                      st.text(max_size=2)),
       init=st.one_of(st.sampled_from(["course", "he", "glorot", "small"]),
                      st.sampled_from(["course", "he", "glorot", "small", "xavier"]),
                      bad_numbers))
def fuzz_network_construct(layer_dims, activations, output, loss, dtype, seed, init):
    """Network(...) with any arguments: a network, or ValueError/TypeError."""
    ok, net = attempt("Network()", lambda: Network(layer_dims, activations, output, loss, dtype,
                                                   seed, init))
    if ok:
        assert net._theta.dtype in (np.float32, np.float64)
        X = np.ones((net.layer_dims[0], 2))
        assert net.forward(X).shape == (net.layer_dims[-1], 2)


# --------------------------------------------------------------------------- save / load
def _saved_file():
    net = build([3, 4, 2], "softmax", np.float64, True)
    path = os.path.join(TEMP, "good.npz")
    net.save(path)
    return net, path


@given(action=st.sampled_from(["drop", "replace", "truncate", "flip", "bytes", "missing"]),
       key=st.sampled_from(["format", "format_version", "layer_dims", "activations", "output",
                            "loss", "dtype", "init", "theta", "optimizer_name",
                            "optimizer_state", "optimizer_step", "history", "validation_cost",
                            "validation_score", "samples_seen", "learning_rate", "rng_state"]),
       replacement=st.sampled_from(["int", "float", "text", "big", "negative", "2d", "empty",
                                    "object", "nan", "json", "deep_json", "huge_dims"]),
       fraction=st.floats(0, 1), data=st.binary(max_size=64))
def fuzz_load(action, key, replacement, fraction, data):
    """Network.load of damaged, foreign, forged and missing files: a network, or ValueError
    (FileNotFoundError for a missing file); never an unpickled object."""
    _, good = _saved_file()
    path = os.path.join(TEMP, "fuzzed.npz")
    raw = open(good, "rb").read()
    if action == "drop" or action == "replace":
        with np.load(good, allow_pickle=False) as archive:
            contents = {k: archive[k] for k in archive.files}
        if action == "drop":
            contents.pop(key)
        else:
            contents[key] = {
                "int": np.array(7), "float": np.array(2.5), "text": np.array("relu"),
                "big": np.array(2**62), "negative": np.array([-1, 4]),
                "2d": np.ones((2, 2)), "empty": np.array([]),
                "object": np.array([{"a": 1}], dtype=object), "nan": np.array(np.nan),
                "json": np.array('{"bit_generator": "PCG64", "state": 3}'),
                "deep_json": np.array("[" * 100000 + "]" * 100000),
                "huge_dims": np.array([10**6, 10**6, 10**6])}[replacement]
        if replacement == "object":
            np.savez(path, **{k: v for k, v in contents.items()})  # pickles: load must refuse
        else:
            np.savez(path, **contents)
    elif action == "truncate":
        open(path, "wb").write(raw[:int(fraction * len(raw))])
    elif action == "flip":
        blob = bytearray(raw)
        start = int(fraction * (len(blob) - 1))
        for i in range(start, min(len(blob), start + len(data))):
            blob[i] ^= data[i - start] or 1
        open(path, "wb").write(bytes(blob))
    elif action == "bytes":
        open(path, "wb").write(data)
    else:
        path = os.path.join(TEMP, "no-such-file.npz")
    ok, net = attempt("Network.load", lambda: Network.load(path),
                      allowed=(ValueError, FileNotFoundError))
    if ok:
        assert isinstance(net, Network)
        assert net.forward(np.ones((net.layer_dims[0], 1))).shape[0] == net.layer_dims[-1]


# --------------------------------------------------------------------------- course functions
COURSE = ["linear_forward", "linear_activation_forward", "L_model_forward", "compute_cost",
          "linear_backward", "linear_activation_backward", "L_model_backward",
          "update_parameters", "predict"]
#: The arrays each course function reads (of A, W, b, Y).
COURSE_USES = {"linear_forward": "AWb", "linear_activation_forward": "AWb",
               "L_model_forward": "AWb", "predict": "AWb", "compute_cost": "AY",
               "linear_backward": "AWY", "linear_activation_backward": "AWY",
               "L_model_backward": "AWY", "update_parameters": "Wb"}
#: The course's functions propagate NaN and inf as NumPy does: those are values, not errors.
COURSE_VALUES = SAME_VALUES + ["nan", "inf"]


def call_course(name, A, W, b, Y, activation):
    if name == "linear_forward":
        return course.linear_forward(A, W, b)[0]
    if name == "linear_activation_forward":
        return course.linear_activation_forward(A, W, b, activation)[0]
    if name == "L_model_forward":
        return course.L_model_forward(A, {"W1": W, "b1": b})[0]
    if name == "predict":
        return course.predict(A, {"W1": W, "b1": b})
    if name == "compute_cost":
        return course.compute_cost(A, Y)
    if name == "linear_backward":
        return course.linear_backward(Y, (A, W, b))
    if name == "linear_activation_backward":
        return course.linear_activation_backward(Y, ((A, W, b), Y), activation)
    if name == "L_model_backward":
        return course.L_model_backward(A, Y, [((A, W, b), Y)])
    if name == "update_parameters":
        return course.update_parameters({"W1": W, "b1": b}, {"dW1": W, "db1": b}, 0.1)
    raise AssertionError(name)


@given(name=st.sampled_from(COURSE), n=st.integers(0, 5), n_prev=st.integers(0, 5),
       m=st.integers(0, 5), kinds=st.tuples(*[st.sampled_from(DRAWN_VARIANTS + ["c"] * 20)] * 4),
       b_shape=st.sampled_from(["column", "row", "flat", "scalar", "matrix"]),
       activation=st.sampled_from(["relu", "sigmoid", "tanh", "softmax", "", None, 3]),
       position=st.integers(0, 50), seed=st.integers(0, 3))
def fuzz_course(name, n, n_prev, m, kinds, b_shape, activation, position, seed):
    """The course's functions: NumPy's result (NaN and inf included), or ValueError/TypeError;
    the caller's arrays are never changed."""
    rng = np.random.default_rng(seed)
    A0 = rng.standard_normal((n_prev, m))
    if name in ("compute_cost", "L_model_backward", "predict", "L_model_forward"):
        A0 = rng.random((n_prev, m)) * 0.98 + 0.01
    W0 = rng.standard_normal((n, n_prev))
    b0 = {"column": rng.standard_normal((n, 1)), "row": rng.standard_normal((1, m)),
          "flat": rng.standard_normal((1, n)), "scalar": np.ones((1, 1)),
          "matrix": rng.standard_normal((n, m))}[b_shape]
    Y0 = (rng.random(A0.shape) > 0.5).astype(float) if name in (
        "compute_cost", "L_model_backward") else rng.standard_normal((n, m))
    A, W, b, Y = (make_variant(x, k, position + i)
                  for i, (x, k) in enumerate(zip((A0, W0, b0, Y0), kinds)))
    inputs = [v for v in (A, W, b, Y) if isinstance(v, np.ndarray)]
    copies = [v.copy() for v in inputs]

    def untouched():
        return {str(i): v for i, v in enumerate(inputs)}

    ok, result = attempt(f"course.{name}", lambda: call_course(name, A, W, b, Y, activation),
                         untouched)
    assert all(arrays_equal(v, c) for v, c in zip(inputs, copies)), f"{name} changed an input"
    if not ok:
        return
    for argument, kind in zip("AWbY", kinds):
        if argument in COURSE_USES[name]:
            assert kind not in ("object", "complex", "string", "none", "sparse", "ragged"), (
                f"course.{name} accepted a {kind} {argument}")
    # the same call on clean arrays (float32 kept, any other real dtype as float64: the course
    # functions work in float32 when all their arrays are) gives the same result
    def tidy(v, argument):
        if argument not in COURSE_USES[name] or v is None or np.ndim(v) == 0:
            return v
        return clean(v, np.float32 if np.asarray(v).dtype == np.float32 else np.float64)

    expected = call_course(name, tidy(A, "A"), tidy(W, "W"), tidy(b, "b"), tidy(Y, "Y"),
                           activation)
    assert arrays_equal(result, expected), f"course.{name}: {kinds} differs from clean"


# --------------------------------------------------------------------------- estimators
ESTIMATOR_METHODS = ["fit", "partial_fit", "predict", "predict_proba", "predict_log_proba",
                     "score", "set_params"]
#: scikit-learn's validation (which the estimators share) also reads object arrays of numbers,
#: strings of numbers and sparse matrices.
ESTIMATOR_VALUES = SAME_VALUES + ["object", "string", "sparse"]


def make_estimator(kind, fitted, params):
    est = (MLPClassifier if kind != "regressor" else MLPRegressor)(
        hidden_layer_sizes=(3,), max_iter=3, random_state=0, batch_size=4, **params)
    if fitted:
        rng = np.random.default_rng(1)
        X = rng.standard_normal((12, 3))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X, labels(kind, rng, 12))
    return est


def labels(kind, rng, m):
    if kind == "binary":
        return rng.integers(0, 2, m)
    if kind == "multiclass":
        return np.array(["a", "b", "c"])[np.arange(m) % 3]
    if kind == "multilabel":
        return rng.integers(0, 2, (m, 2))
    return rng.standard_normal(m)


def call_estimator(est, method, X, y, weights, params):
    if method == "fit":
        return estimator_state(est.fit(X, y, sample_weight=weights))
    if method == "partial_fit":
        classes = None
        if isinstance(est, MLPClassifier) and not hasattr(est, "classes_"):
            classes = np.unique(np.asarray(y)) if np.ndim(y) == 1 else None
        if isinstance(est, MLPClassifier):
            est.partial_fit(X, y, sample_weight=weights, classes=classes)
        else:
            est.partial_fit(X, y, sample_weight=weights)
        return estimator_state(est)
    if method == "set_params":
        est.set_params(**params)
        return est.get_params()
    if method == "score":
        return est.score(X, y, sample_weight=weights)
    return getattr(est, method)(X)


@given(kind=st.sampled_from(["binary", "multiclass", "multilabel", "regressor"]),
       fitted=st.booleans(), method=st.sampled_from(ESTIMATOR_METHODS),
       m=st.sampled_from([6, 12, 1, 2, 0]), features=st.sampled_from([0] * 6 + [-1, 1]),
       x_kind=st.sampled_from(DRAWN_VARIANTS),
       y_kind=st.sampled_from(["same"] * 8 + ["nan", "float", "string", "2d", "short", "none",
                                              "list"]),
       weight_kind=st.sampled_from(["none"] * 4 + ["ok"] * 2 + ["negative", "nan", "zeros",
                                                                "short"]),
       params=st.dictionaries(st.sampled_from(["alpha", "batch_size", "hidden_layer_sizes",
                                               "solver", "activation", "learning_rate_init",
                                               "max_iter", "early_stopping", "warm_start",
                                               "dtype", "momentum", "nonsense"]),
                              st.one_of(bad_numbers, st.sampled_from(
                                  ["lbfgs", "sgd", "adam", "tanh", "auto", (2, 2), ()])),
                              max_size=2),
       seed=st.integers(0, 3), position=st.integers(0, 50))
def fuzz_estimators(kind, fitted, method, m, features, x_kind, y_kind, weight_kind, params,
                    seed, position):
    """MLPClassifier / MLPRegressor methods with inputs of every kind and any parameters."""
    rng = np.random.default_rng(seed)
    X0 = rng.standard_normal((m, max(0, 3 + features)))
    y = labels(kind, rng, m)
    if y_kind == "nan":
        y = y.astype(float) if kind != "multiclass" else y.astype(object)
        if m:
            y[0] = np.nan
    elif y_kind == "float":
        y = rng.standard_normal(m) if kind != "regressor" else y
    elif y_kind == "string":
        y = np.array(["x"] * m) if kind == "regressor" else y
    elif y_kind == "2d" and np.ndim(y) == 1:
        y = y[:, None]
    elif y_kind == "short":
        y = y[:-1]
    elif y_kind == "none":
        y = None
    elif y_kind == "list":
        y = np.asarray(y).tolist()
    weights = {"none": None, "ok": rng.random(m) + 0.1, "negative": -np.ones(m),
               "nan": np.full(m, np.nan), "zeros": np.zeros(m),
               "short": np.ones(max(0, m - 1))}[weight_kind]
    X = make_variant(X0, x_kind, position)
    est = make_estimator(kind, fitted, {} if method == "set_params" else {})
    if method != "set_params" and params:
        try:
            est.set_params(**params)
        except (ValueError, TypeError):
            params = {}
    if not hasattr(est, method):  # a regressor's predict_proba, lbfgs's partial_fit
        OUTCOMES[f"{type(est).__name__}.{method}: absent"] += 1
        return
    ok, result = attempt(f"{type(est).__name__}.{method}",
                         lambda: call_estimator(est, method, X, y, weights, params),
                         lambda: estimator_state(est))
    if not ok or method == "set_params":
        return
    assert x_kind in ESTIMATOR_VALUES, f"estimator accepted X of kind {x_kind}"
    same = arrays_close if x_kind == "sparse" else arrays_equal
    twin = make_estimator(kind, fitted, {})
    if params:
        twin.set_params(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = call_estimator(twin, method, clean(X, np.float64), y, weights, params)
    if isinstance(result, dict):  # fitted state: the parameters and the curve must agree
        result = {k: v for k, v in result.items() if k in ("_network", "loss_curve_", "n_iter_")}
        expected = {k: v for k, v in expected.items() if k in ("_network", "loss_curve_",
                                                               "n_iter_")}
        if "_network" in result:
            result["_network"].pop("last")
            expected["_network"].pop("last")
        assert states_equal(result, expected, same), (
            f"{method}: X of kind {x_kind} differs from clean")
    else:
        assert same(result, expected), f"{method}: X of kind {x_kind} differs from clean"


# --------------------------------------------------------------------------- command line
TOKENS = ["train", "compare", "--dataset", "iris", "wine", "digits", "nowhere.csv", "--hidden",
          "4", "0", "4,x", "none", "--activation", "relu", "bogus", "--epochs", "1", "-3",
          "--batch-size", "2", "0", "--learning-rate", "0.01", "nan", "-1", "--dtype",
          "float64", "float16", "--seed", "1", "--validation-fraction", "0.5", "1.5",
          "--early-stopping", "--target", "label", "--quiet", "--output", "softmax", "linear",
          "--optimizer", "sgd", "adam", "--test-size", "0.3", "--save", "/no/such/dir/m.npz",
          "--help", "--version", "--threads", "--peers", "", "x", "--unknown"]


@given(argv=st.lists(st.sampled_from(TOKENS), max_size=10),
       csv_text=st.sampled_from(["", "a,b\n", "a,label\n1,x\n2,y\n3,x\n4,y\n5,x\n",
                                 "a,b,label\n1,2,0\nnan,3,1\n4,5,0\n6,7,1\n8,9,1\n1,1,0\n",
                                 "a,label\n1,1\n", "\xff\xfe", "a;b\n1;2\n"]),
       use_csv=st.booleans())
def fuzz_cli(argv, csv_text, use_csv):
    """The fastbp command: exit status 0 (done) or 2 (a usage or data error, one line on stderr;
    argparse's --help/--version exit 0); never a traceback."""
    from fastbp import cli

    argv = list(argv)
    if "compare" in argv and "--epochs" not in argv:
        argv += ["--epochs", "-1"]          # never run the benchmark itself: argument errors only
    if "compare" in argv:
        argv = [t for t in argv if t != "--epochs"] + ["--epochs", "-1"]
    if "train" in argv:
        argv = [t for t in argv if t not in ("--epochs", "--save")] + ["--epochs", "2", "--quiet"]
        if use_csv:
            path = os.path.join(TEMP, "data.csv")
            with open(path, "w", encoding="latin-1") as f:
                f.write(csv_text)
            argv += ["--dataset", path]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            status = cli.main(argv)
    assert status in (0, 1, 2), f"fastbp {argv}: exit {status}"
    if status == 2:
        lines = [line for line in stderr.getvalue().splitlines()
                 if line.startswith("fastbp") and "error:" in line]
        assert len(lines) == 1, f"fastbp {argv}: not one error line: {stderr.getvalue()!r}"
    assert "Traceback" not in stderr.getvalue()
    OUTCOMES[f"fastbp command: exit {status}"] += 1


FUZZERS = [fuzz_network_arrays, fuzz_network_fit_arguments, fuzz_network_construct, fuzz_load,
           fuzz_course, fuzz_estimators, fuzz_cli]


def main(argv):
    chosen = argv[2].split(",") if len(argv) > 2 else [f.__name__ for f in FUZZERS]
    for fuzzer in FUZZERS:
        if fuzzer.__name__ in chosen:
            fuzzer()
    print(json.dumps(dict(sorted(OUTCOMES.items()))))


if __name__ == "__main__":
    main(sys.argv)
