"""Helpers shared by the test modules: tolerances, reference parameters, data makers."""
import numpy as np

from fastbp import reference as ref

#: Tolerance relative to the magnitude of the expected array, per dtype.
TOLERANCE = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-4}

HIDDEN_ACTIVATIONS = ["relu", "leaky_relu", "tanh", "sigmoid", "linear"]
OUTPUTS = ["sigmoid", "softmax", "linear"]
#: Output size used for each output in the network tests (multi-label sigmoid on purpose).
N_OUTPUTS = {"sigmoid": 2, "softmax": 3, "linear": 2}


def tolerance(dtype):
    return TOLERANCE[np.dtype(dtype)]


def assert_close(actual, expected, dtype=np.float64, tol=None, what="", scale=None):
    """Assert ``|actual - expected| <= tol * scale`` elementwise (shapes must match).

    ``scale`` is the magnitude of the computation: by default the largest ``|expected|`` (never
    below 1e-300), so entries near zero are not held to an impossible relative accuracy. A sum
    whose terms cancel is only as accurate as its terms are large: pass their magnitude then.
    """
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert np.isfinite(actual).all(), f"{what}: non-finite values in the result"
    tol = tolerance(dtype) if tol is None else tol
    if scale is None:
        scale = float(np.abs(expected).max(initial=0.0))
    scale = max(float(scale), 1e-300)
    error = float(np.abs(actual.astype(np.float64) - expected.astype(np.float64)).max(initial=0.0))
    assert error <= tol * scale, (f"{what}: max abs error {error:.3e} > {tol:.1e} * "
                                  f"magnitude {scale:.3e}")


def assert_grads_close(grads, expected, dtype=np.float64, what=""):
    """Every array of ``expected`` (a gradient dict) matches ``grads``, dtype included.

    float64 is held to its tolerance relative to each array's own magnitude. In float32 a
    gradient such as db, a mean whose terms cancel, can be far smaller than the terms it sums,
    so the bound is relative to the largest gradient of the dict instead.
    """
    assert set(grads) == set(expected), f"{what}: keys {sorted(grads)} != {sorted(expected)}"
    dict_scale = max(float(np.abs(value).max(initial=0.0)) for value in expected.values())
    for key in expected:
        assert np.asarray(grads[key]).dtype == np.dtype(dtype), f"{what}{key}: dtype"
        scale = dict_scale if np.dtype(dtype) == np.float32 else None
        assert_close(grads[key], expected[key], dtype, what=f"{what}{key}", scale=scale)


def assert_same_nonfinite(actual, expected, what=""):
    """Same shape, NaN where expected is NaN, the same infinities, finite values close."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected),
                                  err_msg=f"{what}: NaN pattern differs")
    np.testing.assert_array_equal(np.isposinf(actual), np.isposinf(expected),
                                  err_msg=f"{what}: +inf pattern differs")
    np.testing.assert_array_equal(np.isneginf(actual), np.isneginf(expected),
                                  err_msg=f"{what}: -inf pattern differs")
    finite = np.isfinite(expected)
    if finite.any():
        assert_close(actual[finite], expected[finite], what=what)


def parameters_of(network):
    """The network's parameters as a plain dict of float64 copies (for fastbp.reference)."""
    return {key: np.array(value, dtype=np.float64) for key, value in network.parameters.items()}


def snapshot(network):
    """Bit-exact copies of every parameter (to compare before and after a call)."""
    return {key: value.copy() for key, value in network.parameters.items()}


def assert_parameters_identical(network, before):
    assert set(network.parameters) == set(before)
    for key, value in before.items():
        np.testing.assert_array_equal(network.parameters[key], value,
                                      err_msg=f"{key} changed")


def make_targets(rng, output, n_outputs, m):
    """Targets of the right kind for an output: 0/1 labels, one-hot columns, or real values."""
    if output == "sigmoid":
        return rng.integers(0, 2, size=(n_outputs, m)).astype(np.float64)
    if output == "softmax":
        return np.eye(n_outputs)[:, rng.integers(0, n_outputs, size=m)]
    return rng.standard_normal((n_outputs, m))


def reference_pass(network, X, Y):
    """(AL, cost, grads) of fastbp.reference for the network's parameters, in float64."""
    params = parameters_of(network)
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    AL, caches = ref.forward(X, params, network.activations, network.output)
    cost = ref.loss(caches[-1][3], AL, Y, network.output)
    grads = ref.backward(AL, Y, caches, network.activations)
    return AL, cost, grads
