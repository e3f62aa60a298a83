"""fastbp.course as a drop-in for the course's NumPy functions (fastbp.reference, verbatim).

Every function against its reference twin on odd and parallel-sized shapes; the cache structure
and dict keys; compute_cost returning a Python float; update_parameters returning a new dict;
L_layer_model's costs and parameters. "Any input, valid or not": AL of exactly 0 or 1 and NaN,
NaN through relu, relu_backward zeroing an infinite dA, float32 staying float32, and b of shapes
other than (n, 1) broadcasting as NumPy does.
"""
import numpy as np
import pytest

from fastbp import _config
from fastbp import course
from fastbp import reference as ref

from _helpers import assert_close, assert_grads_close, assert_same_nonfinite

#: (layer_dims, m): one neuron, one example, widths not multiples of 8, and a parallel-sized net.
SHAPES = [([1, 1], 1), ([3, 1, 1], 5), ([7, 9, 33, 1], 1), ([7, 9, 33, 1], 65),
          ([33, 65, 7, 1], 13), ([130, 300, 1], 100)]
SHAPE_IDS = [f"{'-'.join(map(str, dims))}_m{m}" for dims, m in SHAPES]
DTYPES = [np.float64, np.float32]


def _problem(dims, m, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    params = ref.initialize_parameters_deep(dims, seed=seed + 1)
    for l in range(1, len(dims)):  # non-zero biases, so bias bugs show
        params[f"b{l}"] = 0.1 * rng.standard_normal((dims[l], 1))
    params = {key: value.astype(dtype) for key, value in params.items()}
    X = rng.standard_normal((dims[0], m)).astype(dtype)
    Y = rng.integers(0, 2, (1, m)).astype(dtype)
    return X, Y, params


def _assert_caches_equal(caches, expected, dtype):
    assert isinstance(caches, list) and len(caches) == len(expected)
    for l, (cache, cache_ref) in enumerate(zip(caches, expected), start=1):
        assert isinstance(cache, tuple) and len(cache) == 2, f"cache {l} is not (linear, Z)"
        linear, Z = cache
        assert isinstance(linear, tuple) and len(linear) == 3, f"cache {l}: not (A_prev, W, b)"
        for name, got, want in zip(("A_prev", "W", "b", "Z"), (*linear, Z), (*cache_ref[0],
                                                                             cache_ref[1])):
            assert np.asarray(got).dtype == np.asarray(want).dtype, f"cache {l} {name} dtype"
            assert_close(got, want, dtype, what=f"cache {l} {name}")


def test_initialize_parameters_deep_matches_reference_with_seed():
    dims = [5, 4, 3, 1]
    got = course.initialize_parameters_deep(dims, seed=3)
    want = ref.initialize_parameters_deep(dims, seed=3)
    assert list(got) == list(want) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    for key in want:
        np.testing.assert_array_equal(got[key], want[key])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims, m", SHAPES, ids=SHAPE_IDS)
def test_linear_forward(dims, m, dtype):
    X, _, params = _problem(dims, m, dtype=dtype)
    Z, cache = course.linear_forward(X, params["W1"], params["b1"])
    Z_ref, cache_ref = ref.linear_forward(X, params["W1"], params["b1"])
    assert Z.dtype == Z_ref.dtype == dtype
    assert_close(Z, Z_ref, dtype)
    assert len(cache) == 3
    for got, want in zip(cache, cache_ref):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("dims, m", SHAPES, ids=SHAPE_IDS)
def test_linear_activation_forward(dims, m, activation, dtype):
    X, _, params = _problem(dims, m, dtype=dtype)
    A, cache = course.linear_activation_forward(X, params["W1"], params["b1"], activation)
    A_ref, cache_ref = ref.linear_activation_forward(X, params["W1"], params["b1"], activation)
    assert A.dtype == A_ref.dtype == dtype
    assert_close(A, A_ref, dtype)
    _assert_caches_equal([cache], [cache_ref], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims, m", SHAPES, ids=SHAPE_IDS)
def test_L_model_forward_output_and_caches(dims, m, dtype):
    X, _, params = _problem(dims, m, dtype=dtype)
    AL, caches = course.L_model_forward(X, params)
    AL_ref, caches_ref = ref.L_model_forward(X, params)
    assert AL.dtype == AL_ref.dtype == dtype
    assert AL.shape == (1, m)
    assert_close(AL, AL_ref, dtype)
    _assert_caches_equal(caches, caches_ref, dtype)


def test_compute_cost_returns_a_python_float():
    X, Y, params = _problem([4, 3, 1], 10)
    AL, _ = ref.L_model_forward(X, params)
    cost = course.compute_cost(AL, Y)
    assert type(cost) is float
    assert_close(cost, ref.compute_cost(AL, Y))
    cost32 = course.compute_cost(AL.astype(np.float32), Y.astype(np.float32))
    assert type(cost32) is float
    assert_close(cost32, ref.compute_cost(AL, Y), np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims, m", SHAPES, ids=SHAPE_IDS)
def test_linear_backward(dims, m, dtype):
    X, _, params = _problem(dims, m, dtype=dtype)
    rng = np.random.default_rng(1)
    dZ = rng.standard_normal((dims[1], m)).astype(dtype)
    cache = (X, params["W1"], params["b1"])
    got = course.linear_backward(dZ, cache)
    want = ref.linear_backward(dZ, cache)
    assert len(got) == 3
    names = ("dA_prev", "dW", "db")
    assert_grads_close(dict(zip(names, got)), dict(zip(names, want)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("dims, m", SHAPES, ids=SHAPE_IDS)
def test_linear_activation_backward(dims, m, activation, dtype):
    X, _, params = _problem(dims, m, dtype=dtype)
    _, cache = ref.linear_activation_forward(X, params["W1"], params["b1"], activation)
    dA = np.random.default_rng(2).standard_normal((dims[1], m)).astype(dtype)
    got = course.linear_activation_backward(dA, cache, activation)
    want = ref.linear_activation_backward(dA, cache, activation)
    assert len(got) == 3
    names = ("dA_prev", "dW", "db")
    assert_grads_close(dict(zip(names, got)), dict(zip(names, want)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims, m", SHAPES, ids=SHAPE_IDS)
def test_L_model_backward(dims, m, dtype):
    X, Y, params = _problem(dims, m, dtype=dtype)
    AL, caches = course.L_model_forward(X, params)
    grads = course.L_model_backward(AL, Y, caches)
    AL_ref, caches_ref = ref.L_model_forward(X, params)
    grads_ref = ref.L_model_backward(AL_ref, Y, caches_ref)
    L = len(dims) - 1
    expected_keys = ({f"dW{l}" for l in range(1, L + 1)} | {f"db{l}" for l in range(1, L + 1)}
                     | {f"dA{l}" for l in range(L)})
    assert set(grads) == set(grads_ref) == expected_keys
    assert_grads_close(grads, grads_ref, dtype)


def test_parallel_shape_is_large_enough():
    dims, m = SHAPES[-1]
    assert 2 * m * dims[1] * dims[0] >= _config.PARALLEL_MIN_FLOPS


def test_L_model_backward_accepts_Y_of_another_shape_with_the_same_size():
    X, Y, params = _problem([4, 3, 1], 6)
    AL, caches = course.L_model_forward(X, params)
    grads = course.L_model_backward(AL, Y.ravel(), caches)
    grads_ref = ref.L_model_backward(AL, Y.ravel(), caches)
    for key in grads_ref:
        assert_close(grads[key], grads_ref[key], what=key)


@pytest.mark.parametrize("dtype", DTYPES)
def test_update_parameters_returns_a_new_dict_and_leaves_the_input_alone(dtype):
    X, Y, params = _problem([4, 5, 3, 1], 7, dtype=dtype)
    AL, caches = ref.L_model_forward(X, params)
    grads = ref.L_model_backward(AL, Y, caches)
    saved = {key: value.copy() for key, value in params.items()}
    saved_grads = {key: value.copy() for key, value in grads.items()}
    updated = course.update_parameters(params, grads, 0.3)
    expected = ref.update_parameters(saved, saved_grads, 0.3)
    assert updated is not params
    assert list(updated) == list(expected)
    for key in expected:
        assert updated[key].dtype == expected[key].dtype == dtype, key
        assert_close(updated[key], expected[key], dtype, what=key)
        assert not np.shares_memory(updated[key], params[key]), key
        np.testing.assert_array_equal(params[key], saved[key], err_msg=f"input {key} changed")
    for key in grads:
        np.testing.assert_array_equal(grads[key], saved_grads[key])


@pytest.mark.parametrize("dims, m", SHAPES[:4], ids=SHAPE_IDS[:4])
def test_predict(dims, m):
    X, _, params = _problem(dims, m)
    got = course.predict(X, params)
    want = ref.predict(X, params)
    assert got.shape == want.shape == (1, m)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_L_layer_model_matches_reference():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((6, 40))
    Y = (X[0:1] * X[1:2] + X[2:3] > 0).astype(np.float64)
    dims = [6, 5, 3, 1]
    params, costs = course.L_layer_model(X, Y, dims, learning_rate=0.1, num_iterations=300)
    params_ref, costs_ref = ref.L_layer_model(X, Y, dims, learning_rate=0.1, num_iterations=300)
    assert len(costs) == len(costs_ref) == 3
    assert all(type(c) is float for c in costs)
    assert_close(costs, np.array(costs_ref, dtype=np.float64), tol=1e-9)
    assert costs[-1] < costs[0]
    assert list(params) == list(params_ref)
    for key in params_ref:
        assert_close(params[key], params_ref[key], tol=1e-9, what=key)


def test_L_layer_model_prints_and_records_like_the_course(capsys):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((4, 30))
    Y = (X[0:1] > 0).astype(np.float64)
    dims = [4, 3, 1]
    params, costs = course.L_layer_model(X, Y, dims, learning_rate=0.05, num_iterations=250,
                                         print_cost=True)
    printed = capsys.readouterr().out.splitlines()
    ref.L_layer_model(X, Y, dims, learning_rate=0.05, num_iterations=250, print_cost=True)
    printed_ref = capsys.readouterr().out.splitlines()
    # iterations 0, 100, 200 and the last one, 249: the same lines, costs to rounding
    assert [line.rsplit(":", 1)[0] for line in printed] == [
        line.rsplit(":", 1)[0] for line in printed_ref] == [
        f"Cost after iteration {i}" for i in (0, 100, 200, 249)]
    assert_close([float(line.rsplit(":", 1)[1]) for line in printed],
                 [float(line.rsplit(":", 1)[1]) for line in printed_ref], tol=1e-9)
    assert len(costs) == 3


def test_L_layer_model_lets_nan_and_inf_flow_like_numpy():
    # a learning rate this large drives AL to exactly 0 or 1: inf costs, then NaN parameters,
    # and training goes on regardless, as in the course's NumPy
    rng = np.random.default_rng(6)
    X = 50 * rng.standard_normal((5, 24))
    Y = (X[0:1] > 0).astype(np.float64)
    dims = [5, 4, 1]
    with np.errstate(all="ignore"):
        params, costs = course.L_layer_model(X, Y, dims, learning_rate=500.0, num_iterations=201)
        params_ref, costs_ref = ref.L_layer_model(X, Y, dims, learning_rate=500.0,
                                                  num_iterations=201)
    assert not np.isfinite(costs_ref).all()
    assert_same_nonfinite(costs, np.array(costs_ref, dtype=np.float64), what="costs")
    for key in params_ref:
        assert_same_nonfinite(params[key], params_ref[key], what=key)


@pytest.mark.parametrize("X_shape, Y_shape", [((5, 10), (1, 10)), ((4, 10), (1, 9)),
                                               ((4, 10), (2, 10))])
def test_L_layer_model_names_mismatched_shapes(X_shape, Y_shape):
    with pytest.raises(ValueError, match="X has|Y must have"):
        course.L_layer_model(np.zeros(X_shape), np.zeros(Y_shape), [4, 3, 1], num_iterations=1)


# ---------------------------------------------------------------------- any input, valid or not
def _with_edge_values(AL):
    AL = AL.copy()
    AL[0, :4] = [0.0, 1.0, np.nan, 1.0]
    return AL


def test_compute_cost_with_0_1_and_nan_like_numpy():
    Y = np.array([[1.0, 0.0, 1.0, 1.0, 0.0]])
    for AL in ([[0.0, 0.2, 0.3, 0.4, 0.5]],   # log(0) with y = 1: +inf
               [[0.1, 1.0, 0.3, 0.4, 0.5]],   # log(1 - 1) with y = 0: +inf
               [[0.1, 0.2, 1.0, 0.4, 0.0]],   # 0 * log(0): NaN
               [[0.1, 0.2, np.nan, 0.4, 0.5]]):
        AL = np.array(AL)
        with np.errstate(all="ignore"):
            expected = ref.compute_cost(AL, Y)
        assert_same_nonfinite(course.compute_cost(AL, Y), expected, what=f"AL={AL}")


def test_L_model_backward_with_0_1_and_nan_in_AL_like_numpy():
    X, Y, params = _problem([4, 6, 5, 1], 9, seed=3)
    Y[0, :4] = [1.0, 0.0, 1.0, 1.0]
    AL, caches = ref.L_model_forward(X, params)
    AL = _with_edge_values(AL)
    with np.errstate(all="ignore"):
        expected = ref.L_model_backward(AL, Y, caches)
        grads = course.L_model_backward(AL, Y, caches)
    assert set(grads) == set(expected)
    for key in expected:
        assert_same_nonfinite(grads[key], expected[key], what=key)
    assert np.isnan(expected["dW3"]).any()  # the case really is non-finite


def test_relu_passes_nan():
    X, _, params = _problem([3, 4, 1], 5)
    X[1, 2] = np.nan
    A, cache = course.linear_activation_forward(X, params["W1"], params["b1"], "relu")
    A_ref, cache_ref = ref.linear_activation_forward(X, params["W1"], params["b1"], "relu")
    assert np.isnan(A_ref[:, 2]).all()
    assert_same_nonfinite(A, A_ref, what="A")
    assert_same_nonfinite(cache[1], cache_ref[1], what="Z")


def test_relu_backward_zeroes_infinite_dA_where_Z_is_not_positive():
    X, _, params = _problem([3, 4, 1], 6, seed=5)
    _, cache = ref.linear_activation_forward(X, params["W1"], params["b1"], "relu")
    Z = cache[1]
    assert (Z <= 0).any() and (Z > 0).any()
    dA = np.where(Z <= 0, np.inf, 1.5)
    got = course.linear_activation_backward(dA, cache, "relu")
    with np.errstate(all="ignore"):
        want = ref.linear_activation_backward(dA, cache, "relu")
    for name, g, w in zip(("dA_prev", "dW", "db"), got, want):
        assert np.isfinite(w).all()
        assert_close(g, w, what=name)


def test_sigmoid_of_huge_Z_gives_0_and_1_without_nan():
    W = np.array([[1e4], [-1e4]])
    b = np.zeros((2, 1))
    A, _ = course.linear_activation_forward(np.ones((1, 3)), W, b, "sigmoid")
    np.testing.assert_array_equal(A, [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])


def test_float32_inputs_stay_float32_through_the_model():
    X, Y, params = _problem([5, 4, 3, 1], 8, dtype=np.float32)
    AL, caches = course.L_model_forward(X, params)
    assert AL.dtype == np.float32
    assert all(cache[1].dtype == np.float32 for cache in caches)
    grads = course.L_model_backward(AL, Y, caches)
    assert all(value.dtype == np.float32 for value in grads.values())
    updated = course.update_parameters(params, grads, 0.1)
    assert all(value.dtype == np.float32 for value in updated.values())
    assert type(course.compute_cost(AL, Y)) is float
    assert course.predict(X, params).shape == (1, 8)


def test_mixed_dtypes_promote_like_numpy():
    X, _, params = _problem([3, 4, 1], 5)
    X_int = np.arange(15).reshape(3, 5) - 7
    W32 = params["W1"].astype(np.float32)
    Z, _ = course.linear_forward(X_int, W32, params["b1"])
    Z_ref, _ = ref.linear_forward(X_int, W32, params["b1"])
    assert Z.dtype == Z_ref.dtype == np.float64
    assert_close(Z, Z_ref)


@pytest.mark.parametrize("b_shape", [(1, 1), (), (1, 5), (5,), (5, 5), "python float"],
                         ids=["(1,1)", "0-d", "(1,m)", "(m,) with n == m", "(n,m)", "float"])
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_b_of_other_shapes_broadcasts_like_numpy(b_shape, activation):
    rng = np.random.default_rng(8)
    n, m = 5, 5
    A_prev = rng.standard_normal((3, m))
    W = rng.standard_normal((n, 3))
    b = 0.7 if b_shape == "python float" else rng.standard_normal(b_shape)
    Z, _ = course.linear_forward(A_prev, W, b)
    Z_ref, _ = ref.linear_forward(A_prev, W, b)
    assert Z.shape == Z_ref.shape
    assert_close(Z, Z_ref)
    A, cache = course.linear_activation_forward(A_prev, W, b, activation)
    A_ref, cache_ref = ref.linear_activation_forward(A_prev, W, b, activation)
    assert_close(A, A_ref)
    assert_close(cache[1], cache_ref[1])
    dA = rng.standard_normal(Z_ref.shape)
    for g, w in zip(course.linear_activation_backward(dA, cache, activation),
                    ref.linear_activation_backward(dA, cache_ref, activation)):
        assert_close(g, w)


def test_b_that_numpy_cannot_broadcast_raises_value_error():
    rng = np.random.default_rng(9)
    A_prev, W = rng.standard_normal((3, 6)), rng.standard_normal((4, 3))
    b = np.zeros((5, 1))
    with pytest.raises(ValueError):
        ref.linear_forward(A_prev, W, b)
    with pytest.raises(ValueError):
        course.linear_forward(A_prev, W, b)


def test_misaligned_shapes_raise_value_error_naming_them():
    rng = np.random.default_rng(10)
    with pytest.raises(ValueError, match="not aligned"):
        course.linear_forward(rng.standard_normal((3, 4)), rng.standard_normal((2, 5)),
                              np.zeros((2, 1)))
    with pytest.raises(ValueError, match="same shape"):
        course.compute_cost(np.full((1, 3), 0.5), np.ones((1, 4)))
    with pytest.raises(ValueError, match="activation"):
        course.linear_activation_forward(rng.standard_normal((3, 4)), rng.standard_normal((2, 3)),
                                         np.zeros((2, 1)), "softplus")
    with pytest.raises(TypeError, match="real numbers"):
        course.linear_forward(np.array([["a"]]), np.ones((1, 1)), np.zeros((1, 1)))


def test_update_parameters_broadcasts_b_like_numpy():
    """A b of shape (1, 1) gets a db of shape (n, 1) from backward; NumPy broadcasts the step."""
    rng = np.random.default_rng(11)
    X = rng.standard_normal((3, 6))
    Y = rng.integers(0, 2, (1, 6)).astype(np.float64)
    params = ref.initialize_parameters_deep([3, 4, 1], seed=2)
    params["b1"] = np.full((1, 1), 0.1)  # broadcasts over the 4 neurons of layer 1
    AL, caches = ref.L_model_forward(X, params)
    grads = ref.L_model_backward(AL, Y, caches)
    assert grads["db1"].shape == (4, 1)
    expected = ref.update_parameters(params, grads, 0.5)
    updated = course.update_parameters(params, grads, 0.5)
    for key in expected:
        assert_close(updated[key], expected[key], what=key)
