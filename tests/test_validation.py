"""Bad input is refused at the edge with an error naming the problem, and changes nothing.

Network's constructor (layer_dims, activations, output, loss, dtype) and forward, backward, cost,
fit and gradient_check (shapes, NaN/inf, non-real dtypes, empty arrays, bad hyper-parameters):
each raises ValueError or TypeError with a message that names the problem, and the parameters
(and the training history) are bit-identical before and after the failed call.
"""
import numpy as np
import pytest

from fastbp import Network, gradient_check

from _helpers import assert_parameters_identical, snapshot


# ----------------------------------------------------------------------------- constructor
@pytest.mark.parametrize("layer_dims, match", [
    (5, "layer_dims must be a sequence"),
    (None, "layer_dims must be a sequence"),
    ([3], "at least an input and an output"),
    ([], "at least an input and an output"),
    ([3, 0, 1], "positive integer"),
    ([3, -2, 1], "positive integer"),
    ([3, 2.5, 1], "positive integer"),
    (["3", 2], "positive integer"),
    ([True, 2], "positive integer"),
])
def test_constructor_rejects_bad_layer_dims(layer_dims, match):
    with pytest.raises(ValueError, match=match):
        Network(layer_dims)


def test_constructor_accepts_numpy_integers_and_tuples():
    net = Network(np.array([3, 4, 2]), seed=0)
    assert net.layer_dims == (3, 4, 2)
    assert Network((3, 2)).layer_dims == (3, 2)


@pytest.mark.parametrize("activations, match", [
    ("softplus", "unknown hidden activation 'softplus'"),
    ("softmax", "unknown hidden activation 'softmax'"),
    (["relu", "swish"], "unknown hidden activation 'swish'"),
    (["relu"], r"activations lists 1 name\(s\) but the network has 2 hidden layer"),
    (["relu", "tanh", "relu"], r"lists 3 name\(s\) but the network has 2"),
])
def test_constructor_rejects_bad_activations(activations, match):
    with pytest.raises(ValueError, match=match):
        Network([3, 4, 4, 1], activations=activations)


@pytest.mark.parametrize("output", ["relu", "tanh", "softplus", None, 3])
def test_constructor_rejects_unknown_output(output):
    with pytest.raises(ValueError, match="unknown output activation"):
        Network([3, 4, 1], output=output)


@pytest.mark.parametrize("output, loss, match", [
    ("sigmoid", "hinge", "unknown loss 'hinge'"),
    ("sigmoid", 3, "unknown loss 3"),
    ("sigmoid", "mse", "loss 'mse' does not match output 'sigmoid'"),
    ("softmax", "bce", "loss 'bce' does not match output 'softmax'"),
    ("linear", "ce", "loss 'ce' does not match output 'linear'"),
])
def test_constructor_rejects_unknown_or_unmatched_loss(output, loss, match):
    with pytest.raises(ValueError, match=match):
        Network([3, 4, 2], output=output, loss=loss)


@pytest.mark.parametrize("dtype", [np.int32, np.float16, "complex128", "nonsense", object])
def test_constructor_rejects_bad_dtype(dtype):
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        Network([3, 4, 1], dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, "float32", np.float64, "float64", float])
def test_constructor_accepts_float_dtypes(dtype):
    net = Network([3, 4, 1], dtype=dtype)
    assert net.dtype in (np.float32, np.float64)
    assert all(value.dtype == net.dtype for value in net.parameters.values())


# -------------------------------------------------------------------------- array arguments
@pytest.fixture
def net():
    return Network([3, 4, 2], activations="tanh", output="sigmoid", seed=0)


@pytest.fixture
def data(rng):
    return rng.standard_normal((3, 6)), rng.integers(0, 2, (2, 6)).astype(np.float64)


def _bad_X(good):
    with_nan = good.copy()
    with_nan[1, 2] = np.nan
    with_inf = good.copy()
    with_inf[0, 0] = np.inf
    return [
        (good[0], ValueError, "X must be 2-D"),
        (good[None], ValueError, "X must be 2-D"),
        (good[:2], ValueError, "X has 2 rows but the network has 3 input"),
        (np.vstack([good, good]), ValueError, "X has 6 rows but the network has 3 input"),
        (with_nan, ValueError, "X contains 1 NaN or infinite"),
        (with_inf, ValueError, "X contains 1 NaN or infinite"),
        (good.astype(object), TypeError, "X must hold real numbers"),
        (good.astype(str), TypeError, "X must hold real numbers"),
        (good.astype(complex), TypeError, "X must hold real numbers"),
        (np.empty((3, 0)), ValueError, "X is empty"),
        ([[1, 2], [3]], ValueError, "X"),
    ]


BAD_X_IDS = ["1-D", "3-D", "too few rows", "too many rows", "NaN", "inf", "object", "str",
             "complex", "empty", "ragged"]


@pytest.mark.parametrize("case", range(len(BAD_X_IDS)), ids=BAD_X_IDS)
def test_forward_rejects_bad_X(net, data, case):
    X_bad, error, match = _bad_X(data[0])[case]
    before = snapshot(net)
    with pytest.raises(error, match=match):
        net.forward(X_bad)
    assert_parameters_identical(net, before)


@pytest.mark.parametrize("method", ["cost", "fit", "gradient_check"])
@pytest.mark.parametrize("case", range(len(BAD_X_IDS)), ids=BAD_X_IDS)
def test_training_calls_reject_bad_X(net, data, method, case):
    X_bad, error, match = _bad_X(data[0])[case]
    Y = data[1]
    before = snapshot(net)
    with pytest.raises(error, match=match):
        _call(net, method, X_bad, Y)
    assert_parameters_identical(net, before)
    assert len(net.history) == 0


def _call(net, method, X, Y, **kwargs):
    if method == "gradient_check":
        return gradient_check(net, X, Y, **kwargs)
    return getattr(net, method)(X, Y, **kwargs)


def _bad_Y(good):
    with_nan = good.copy()
    with_nan[0, 1] = np.nan
    return [
        (good[0], ValueError, "Y must be 2-D"),
        (good[:1], ValueError, "Y has 1 rows but the network has 2 output"),
        (good[:, :5], ValueError, "X has 6 examples .* but Y has 5"),
        (np.hstack([good, good]), ValueError, "X has 6 examples .* but Y has 12"),
        (with_nan, ValueError, "Y contains 1 NaN or infinite"),
        (good.astype(object), TypeError, "Y must hold real numbers"),
        (good.astype(complex), TypeError, "Y must hold real numbers"),
    ]


BAD_Y_IDS = ["1-D", "wrong rows", "fewer examples", "more examples", "NaN", "object",
             "complex"]


@pytest.mark.parametrize("method", ["cost", "fit", "gradient_check"])
@pytest.mark.parametrize("case", range(len(BAD_Y_IDS)), ids=BAD_Y_IDS)
def test_training_calls_reject_bad_Y(net, data, method, case):
    Y_bad, error, match = _bad_Y(data[1])[case]
    before = snapshot(net)
    with pytest.raises(error, match=match):
        _call(net, method, data[0], Y_bad)
    assert_parameters_identical(net, before)
    assert len(net.history) == 0


@pytest.mark.parametrize("case", range(len(BAD_Y_IDS)), ids=BAD_Y_IDS)
def test_backward_rejects_bad_Y(net, data, case):
    Y_bad, error, match = _bad_Y(data[1])[case]
    if "examples" in match or "rows" in match:  # backward names the shape it expects
        match = r"Y must have shape \(2, 6\) to match the last forward pass"
    net.forward(data[0])
    before = snapshot(net)
    with pytest.raises(error, match=match):
        net.backward(Y_bad)
    assert_parameters_identical(net, before)


# ------------------------------------------------------------------------- fit's arguments
@pytest.mark.parametrize("kwargs, match", [
    (dict(epochs=0), "epochs must be a positive integer"),
    (dict(epochs=-3), "epochs must be a positive integer"),
    (dict(epochs=2.5), "epochs must be a positive integer"),
    (dict(epochs=True), "epochs must be a positive integer"),
    (dict(epochs="10"), "epochs must be a positive integer"),
    (dict(batch_size=0), "batch_size must be a positive integer"),
    (dict(batch_size=-1), "batch_size must be a positive integer"),
    (dict(batch_size=4.0), "batch_size must be a positive integer"),
    (dict(learning_rate=0), "learning_rate must be > 0"),
    (dict(learning_rate=-0.1), "learning_rate must be > 0"),
    (dict(learning_rate=np.nan), "learning_rate must be a finite number"),
    (dict(learning_rate=np.inf), "learning_rate must be a finite number"),
    (dict(learning_rate="0.1"), "learning_rate must be a finite number"),
    (dict(optimizer="rmsprop"), "unknown optimizer 'rmsprop'"),
    (dict(optimizer=None), "unknown optimizer None"),
    (dict(optimizer="SGD"), "unknown optimizer 'SGD'"),
])
def test_fit_rejects_bad_arguments_and_changes_nothing(net, data, kwargs, match):
    net.fit(*data, epochs=2, learning_rate=0.1)
    before = snapshot(net)
    history = list(net.history)
    with pytest.raises(ValueError, match=match):
        net.fit(*data, **kwargs)
    assert_parameters_identical(net, before)
    assert list(net.history) == history


def test_fit_accepts_numpy_integer_arguments_and_batch_larger_than_m(net, data):
    net.fit(*data, epochs=np.int64(2), batch_size=np.int32(100), learning_rate=np.float32(0.1))
    assert len(net.history) == 2


@pytest.mark.parametrize("epsilon, match", [(0, "epsilon must be > 0"),
                                            (-1e-7, "epsilon must be > 0"),
                                            (np.nan, "epsilon must be a finite number")])
def test_gradient_check_rejects_bad_epsilon(net, data, epsilon, match):
    before = snapshot(net)
    with pytest.raises(ValueError, match=match):
        gradient_check(net, *data, epsilon=epsilon)
    assert_parameters_identical(net, before)


def test_a_failed_call_keeps_the_remembered_forward(net, data):
    """A refused forward() must not disturb the pass that backward() differentiates."""
    X, Y = data
    net.forward(X)
    expected = net.backward(Y)
    net.forward(X)
    with pytest.raises(ValueError):
        net.forward(np.full((3, 6), np.nan))
    grads = net.backward(Y)
    for key in expected:
        np.testing.assert_array_equal(grads[key], expected[key])
