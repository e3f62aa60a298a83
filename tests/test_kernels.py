"""The Numba kernels against plain NumPy / fastbp.reference, in float32 and float64.

Covers kernels.dense (dense_forward, dense_weight_gradients, dense_input_gradients, and through
them the SIMD products of kernels.gemm), kernels.losses (batch_loss, output_gradient, course_cost,
course_output_gradient) and kernels.activations (activate_array, backprop_array, activation_code),
over random shapes: m = 1, one neuron, widths that are not multiples of 8, and shapes large enough
to take the parallel path.
"""
import numba
import numpy as np
import pytest
from hypothesis import given, strategies as st

from fastbp import _config
from fastbp import reference as ref
from fastbp.kernels import activations as act
from fastbp.kernels import losses
from fastbp.kernels import prepare_parallel
from fastbp.kernels.dense import (MAX_BLOCK_COLUMNS, dense_forward, dense_input_gradients,
                                  dense_weight_gradients, scratch_elements)
from fastbp.kernels import dense, gemm, simd, views
from fastbp.kernels.gemm import KC

from _helpers import assert_close, assert_same_nonfinite

DTYPES = [np.float64, np.float32]
WIDTHS = [1, 3, 7, 8, 9, 33, 65, 130]
HIDDEN_CODES = [act.LINEAR, act.RELU, act.LEAKY_RELU, act.TANH, act.SIGMOID]
FORWARD_CODES = HIDDEN_CODES + [act.SOFTMAX]


def _names(codes):
    return [act.NAMES[code] for code in codes]


#: (m, n_prev, n) shapes whose sums take the parallel path (checked in the tests).
PARALLEL_SHAPES = [(300, 110, 65), (1800, 130, 9), (14, 600, 300), (257, 129, 61)]

widths = st.sampled_from(WIDTHS)
examples = st.one_of(st.sampled_from([1, 2, 3, 7, 9, 65, 130]), st.integers(1, 80))
seeds = st.integers(0, 2**32 - 1)


def _is_parallel(m, n_prev, n):
    return 2 * m * n * n_prev >= _config.PARALLEL_MIN_FLOPS


def _activate(Z, code):
    """reference.activate for a neuron-major Z (softmax over each column)."""
    return ref.activate(Z, act.NAMES[code])


def _random(rng, shape, dtype, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(dtype)


def _scratch(dtype):
    prepare_parallel(dtype)
    return np.full((numba.config.NUMBA_NUM_THREADS, scratch_elements(dtype)), np.nan, dtype)


# ----------------------------------------------------------------------------------- forward
def check_dense_forward(m, n_prev, n, code, dtype, seed, keep_z=True):
    rng = np.random.default_rng(seed)
    A_prev = _random(rng, (n_prev, m), dtype)
    W = _random(rng, (n, n_prev), dtype, 1 / np.sqrt(n_prev))
    b = _random(rng, n, dtype)
    A = np.full((n, m), np.nan, dtype)
    Z = np.full((n, m), -7.0, dtype)
    dense_forward(A_prev, W, b, code, A, Z, keep_z, _scratch(dtype))

    W64, A64, b64 = (a.astype(np.float64) for a in (W, A_prev, b[:, None]))
    Z_ref = W64 @ A64 + b64
    A_ref = _activate(Z_ref, code)
    # a sum is as accurate as its terms are large; every g here has |g'| <= 1
    scale = (np.abs(W64) @ np.abs(A64) + np.abs(b64)).max()
    assert A.dtype == dtype
    assert_close(A, A_ref, dtype, what=f"A code={code}", scale=scale)
    if keep_z:
        assert_close(Z, Z_ref, dtype, what="Z", scale=scale)
    else:
        assert (Z == -7.0).all(), "Z was written although keep_z is False"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("code", FORWARD_CODES, ids=_names(FORWARD_CODES))
@given(m=examples, n_prev=widths, n=widths, seed=seeds)
def test_dense_forward_matches_numpy(dtype, code, m, n_prev, n, seed):
    check_dense_forward(m, n_prev, n, code, dtype, seed)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("code", FORWARD_CODES, ids=_names(FORWARD_CODES))
@pytest.mark.parametrize("m, n_prev, n", PARALLEL_SHAPES)
def test_dense_forward_parallel_path(dtype, code, m, n_prev, n):
    assert _is_parallel(m, n_prev, n)
    check_dense_forward(m, n_prev, n, code, dtype, seed=m * n)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("code", [act.RELU, act.SOFTMAX], ids=["relu", "softmax"])
def test_dense_forward_without_z(dtype, code):
    check_dense_forward(11, 9, 7, code, dtype, 5, keep_z=False)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_forward_one_example_one_neuron(dtype):
    check_dense_forward(1, 1, 1, act.SIGMOID, dtype, 3)
    check_dense_forward(1, 1, 1, act.SOFTMAX, dtype, 3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_of_a_large_output(dtype):
    # 210,000 outputs: many whole vectors of examples and a partial last one, 100 classes each
    check_dense_forward(2100, 3, 100, act.SOFTMAX, dtype, 11)


@pytest.mark.parametrize("dtype", DTYPES)
def test_products_longer_than_one_chunk_and_wider_than_one_block(dtype):
    # k beyond KC exercises the accumulation over chunks; columns beyond one block the grid
    check_dense_forward(MAX_BLOCK_COLUMNS + 37, KC * 2 + 5, 13, act.TANH, dtype, 2)
    check_weight_gradients(KC + 3, MAX_BLOCK_COLUMNS + 9, 7, dtype, 4, l2=0.2)
    check_input_gradients(MAX_BLOCK_COLUMNS + 1, 10, KC + 11, act.RELU, dtype, 6, False)


# ----------------------------------------------------------------------------- weight grads
def check_weight_gradients(m, n_prev, n, dtype, seed, l2=0.0, by_rows=False):
    rng = np.random.default_rng(seed)
    dZ = _random(rng, (n, m), dtype)
    A_prev = _random(rng, (n_prev, m), dtype)
    W = _random(rng, (n, n_prev), dtype)
    dW = np.full((n, n_prev), np.nan, dtype)
    db = np.full(n, np.nan, dtype)
    scale = dtype(1.0 / m)
    # by_rows: A_prev handed over example-major, as the first layer's X.T in full-batch training
    given = np.ascontiguousarray(A_prev.T) if by_rows else A_prev
    dense_weight_gradients(dZ, given, dW, db, scale, dtype(l2), W, _scratch(dtype), by_rows)

    dZ64, A64, W64 = (a.astype(np.float64) for a in (dZ, A_prev, W))
    l2 = float(dtype(l2))
    dW_ref = dZ64 @ A64.T / m + l2 * W64
    db_ref = dZ64.sum(axis=1) / m
    assert dW.dtype == dtype and db.dtype == dtype
    assert_close(dW, dW_ref, dtype, what="dW",
                 scale=(np.abs(dZ64) @ np.abs(A64).T / m + l2 * np.abs(W64)).max())
    assert_close(db, db_ref, dtype, what="db", scale=np.abs(dZ64).mean(axis=1).max())


@pytest.mark.parametrize("dtype", DTYPES)
@given(m=examples, n_prev=widths, n=widths, seed=seeds, l2=st.sampled_from([0.0, 0.3]))
def test_dense_weight_gradients_match_numpy(dtype, m, n_prev, n, seed, l2):
    check_weight_gradients(m, n_prev, n, dtype, seed, l2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m, n_prev, n", PARALLEL_SHAPES)
def test_dense_weight_gradients_parallel_path(dtype, m, n_prev, n):
    assert _is_parallel(m, n_prev, n)
    check_weight_gradients(m, n_prev, n, dtype, seed=n, l2=0.1)


# ------------------------------------------------------------------------------ input grads
def check_input_gradients(m, n_prev, n, code, dtype, seed, g_is_input):
    rng = np.random.default_rng(seed)
    dZ = _random(rng, (n, m), dtype)
    W = _random(rng, (n, n_prev), dtype)
    Z_prev = rng.standard_normal((n_prev, m))
    Z_prev[np.abs(Z_prev) < 1e-3] = 0.5  # keep relu's kink out of float32 rounding
    name = act.NAMES[code]
    # g' at Z, or recovered from A = g(Z): what the course and the network pass respectively
    G = (Z_prev if g_is_input else ref.activate(Z_prev, name)).astype(dtype)
    dZ_prev = np.full((n_prev, m), np.nan, dtype)
    dense_input_gradients(dZ, W, code, G, g_is_input, dZ_prev, _scratch(dtype))

    W64, dZ64 = W.astype(np.float64), dZ.astype(np.float64)
    expected = (W64.T @ dZ64) * ref.derivative(Z_prev, name)
    assert dZ_prev.dtype == dtype
    assert_close(dZ_prev, expected, dtype, what=f"dZ_prev code={code}",
                 scale=(np.abs(W64.T) @ np.abs(dZ64)).max())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("code", HIDDEN_CODES, ids=_names(HIDDEN_CODES))
@pytest.mark.parametrize("g_is_input", [True, False])
@given(m=examples, n_prev=widths, n=widths, seed=seeds)
def test_dense_input_gradients_match_numpy(dtype, code, g_is_input, m, n_prev, n, seed):
    check_input_gradients(m, n_prev, n, code, dtype, seed, g_is_input)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("code", HIDDEN_CODES, ids=_names(HIDDEN_CODES))
@pytest.mark.parametrize("m, n_prev, n", PARALLEL_SHAPES)
def test_dense_input_gradients_parallel_path(dtype, code, m, n_prev, n):
    assert _is_parallel(m, n_prev, n)
    check_input_gradients(m, n_prev, n, code, dtype, seed=m + n, g_is_input=False)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_input_gradients_in_place_over_g(dtype):
    # the network writes dZ_prev over nothing it still needs, but the course passes G = dZ_prev
    rng = np.random.default_rng(8)
    dZ, W = _random(rng, (5, 9), dtype), _random(rng, (5, 4), dtype)
    out = np.full((4, 9), 3.0, dtype)
    dense_input_gradients(dZ, W, act.LINEAR, out, False, out, _scratch(dtype))
    assert_close(out, W.astype(np.float64).T @ dZ.astype(np.float64), dtype, what="in place",
                 scale=(np.abs(W.astype(np.float64)).T @ np.abs(dZ.astype(np.float64))).max())



# ----------------------------------------------------------------------------------- losses
LOSS_OF_OUTPUT = {"sigmoid": losses.BCE, "softmax": losses.CE, "linear": losses.MSE}


def _loss_inputs(rng, output, n, m, dtype, scale=2.0):
    Z = scale * rng.standard_normal((n, m))
    A = ref.activate(Z, output)
    if output == "sigmoid":
        Y = rng.integers(0, 2, (n, m)).astype(np.float64)
    elif output == "softmax":
        Y = np.eye(n)[:, rng.integers(0, n, m)]
    else:
        Y = rng.standard_normal((n, m))
    # the kernels take C-contiguous arrays, as the training loop's workspaces are
    return tuple(np.ascontiguousarray(array, dtype) for array in (Z, A, Y))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", ["sigmoid", "softmax", "linear"])
@pytest.mark.parametrize("weighted", [False, True])
@given(m=examples, n=st.sampled_from([1, 2, 3, 7, 9]), seed=seeds)
def test_batch_loss_matches_reference(dtype, output, weighted, m, n, seed):
    rng = np.random.default_rng(seed)
    Z, A, Y = _loss_inputs(rng, output, n, m, dtype)
    weights = rng.uniform(0.1, 2.0, m).astype(dtype)
    value = losses.batch_loss(LOSS_OF_OUTPUT[output], Z, A, Y,
                              weights if weighted else np.empty(0, dtype), weighted)
    expected = ref.loss(Z.astype(np.float64), A.astype(np.float64), Y.astype(np.float64), output,
                        weights.astype(np.float64) if weighted else None)
    # BCE and CE subtract z*y from terms as large as |z|: that is the loss's own magnitude
    assert_close(value, expected, dtype, what="batch_loss",
                 scale=expected + np.abs(Z.astype(np.float64)).sum(axis=0).mean())


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_loss_is_finite_and_exact_for_huge_logits(dtype):
    # logits of magnitude 1e4: A rounds to exactly 0 or 1, yet the loss comes from the logits
    Z = np.array([[1e4, -1e4, 1e4, -1e4, 0.0]], dtype)
    A = np.array([[1.0, 0.0, 1.0, 0.0, 0.5]], dtype)
    Y = np.array([[1.0, 0.0, 0.0, 1.0, 1.0]], dtype)
    bce = losses.batch_loss(losses.BCE, Z, A, Y, np.empty(0, dtype), False)
    assert np.isfinite(bce)
    assert_close(bce, (0 + 0 + 1e4 + 1e4 + np.log(2)) / 5, dtype, what="BCE")

    Zs = np.array([[1e4, -1e4], [-1e4, 1e4], [1e4 - 1, 0.0]], dtype)
    As = ref.activate(Zs.astype(np.float64), "softmax").astype(dtype)
    Ys = np.array([[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]], dtype)
    ce = losses.batch_loss(losses.CE, Zs, As, Ys, np.empty(0, dtype), False)
    assert np.isfinite(ce)
    # example 0: log(1 + e^-1); example 1: log-sum-exp is 1e4, the true class has -1e4
    expected = (np.log1p(np.exp(-1.0)) + 2e4) / 2
    assert_close(ce, expected, dtype, what="CE")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
@given(m=examples, n=st.sampled_from([1, 3, 9]), seed=seeds)
def test_output_gradient_is_A_minus_Y(dtype, weighted, m, n, seed):
    rng = np.random.default_rng(seed)
    A = _random(rng, (n, m), dtype)
    Y = _random(rng, (n, m), dtype)
    weights = rng.uniform(0.1, 2.0, m).astype(dtype)
    dZ = np.full((n, m), np.nan, dtype)
    losses.output_gradient(A, Y, weights if weighted else np.empty(0, dtype), weighted, dZ)
    expected = (A - Y) * weights if weighted else A - Y
    assert dZ.dtype == dtype
    assert_close(dZ, expected, dtype, tol=1e-6 if dtype == np.float32 else 1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
@given(m=examples, rows=st.sampled_from([1, 2, 5]), seed=seeds)
def test_course_cost_matches_reference(dtype, m, rows, seed):
    rng = np.random.default_rng(seed)
    AL = rng.uniform(0.01, 0.99, (rows, m)).astype(dtype)
    Y = rng.integers(0, 2, (rows, m)).astype(dtype)
    value = losses.course_cost(AL, Y)
    expected = ref.compute_cost(AL.astype(np.float64), Y.astype(np.float64))
    assert_close(value, expected, dtype, what="course_cost")


# AL exactly 0 or 1 (and NaN) with either label: log(0) gives inf, 0 * log(0) gives NaN
COURSE_EDGE_CASES = [
    ([[0.0]], [[1.0]]),                      # -1 * log(0): +inf
    ([[1.0]], [[0.0]]),                      # -1 * log(1 - 1): +inf
    ([[0.0]], [[0.0]]),                      # 0 * log(0): NaN
    ([[1.0]], [[1.0]]),                      # 0 * log(0): NaN
    ([[1.0, 0.5, 0.0]], [[0.0, 1.0, 1.0]]),  # +inf among finite terms
    ([[0.0, 1.0, 0.0, 1.0, np.nan, 0.3]], [[0.0, 1.0, 1.0, 0.0, 1.0, 1.0]]),
]
COURSE_EDGE_IDS = ["AL0-Y1", "AL1-Y0", "AL0-Y0", "AL1-Y1", "inf-among-finite", "with-NaN"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("AL, Y", COURSE_EDGE_CASES, ids=COURSE_EDGE_IDS)
def test_course_cost_keeps_numpys_nan_and_inf(dtype, AL, Y):
    AL = np.array(AL, dtype)
    Y = np.array(Y, dtype)
    with np.errstate(all="ignore"):
        expected = ref.compute_cost(AL, Y)
    assert_same_nonfinite(losses.course_cost(AL, Y), expected, what="course_cost")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("AL, Y", COURSE_EDGE_CASES, ids=COURSE_EDGE_IDS)
def test_course_output_gradient_keeps_numpys_nan_and_inf(dtype, AL, Y):
    AL = np.array(AL, dtype)
    Y = np.array(Y, dtype)
    with np.errstate(all="ignore"):
        expected = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    dAL = np.full_like(AL, 7.0)
    losses.course_output_gradient(AL, Y, dAL)
    assert dAL.dtype == dtype
    assert_same_nonfinite(dAL, expected, what="dAL")


# ------------------------------------------------------------------------------ activations
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("code", FORWARD_CODES, ids=_names(FORWARD_CODES))
@given(m=examples, n=widths, seed=seeds)
def test_activate_array_matches_reference(dtype, code, m, n, seed):
    rng = np.random.default_rng(seed)
    Z = _random(rng, (n, m), dtype, 3.0)
    A = np.full_like(Z, np.nan)
    act.activate_array(code, Z, A)
    assert A.dtype == dtype
    assert_close(A, _activate(Z.astype(np.float64), code), dtype, what=act.NAMES[code])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("code", HIDDEN_CODES, ids=_names(HIDDEN_CODES))
@given(m=examples, n=widths, seed=seeds)
def test_backprop_array_matches_reference(dtype, code, m, n, seed):
    rng = np.random.default_rng(seed)
    Z = _random(rng, (n, m), dtype, 3.0)
    dA = _random(rng, (n, m), dtype)
    dZ = np.full_like(Z, np.nan)
    act.backprop_array(code, dA, Z, dZ)
    expected = dA.astype(np.float64) * ref.derivative(Z.astype(np.float64), act.NAMES[code])
    # |g'| <= 1, and 1 - tanh(z)**2 cancels for large |z|: the error scale is |dA|
    assert_close(dZ, expected, dtype, what=act.NAMES[code], scale=np.abs(dA).max())


@pytest.mark.parametrize("dtype", DTYPES)
def test_activations_at_special_values(dtype):
    Z = np.array([[np.nan, -np.inf, np.inf, -1e4, 1e4, 0.0, -0.0]], dtype)
    results = {}
    with np.errstate(all="ignore"):
        for code in [act.RELU, act.SIGMOID, act.TANH, act.LEAKY_RELU, act.LINEAR]:
            A = np.empty_like(Z)
            act.activate_array(code, Z, A)
            expected = ref.activate(Z, act.NAMES[code])
            assert_same_nonfinite(A, expected, what=act.NAMES[code])
            results[code] = A[0]
    assert np.isnan(results[act.RELU][0])  # np.maximum(0, NaN) is NaN: relu passes it
    np.testing.assert_array_equal(results[act.SIGMOID][1:5], [0.0, 1.0, 0.0, 1.0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_derivative_zeroes_infinite_dA_where_Z_not_positive(dtype):
    Z = np.array([[-1.0, 0.0, -0.0, 2.0, np.nan]], dtype)
    dA = np.array([[np.inf, -np.inf, np.nan, np.inf, 3.0]], dtype)
    dZ = np.empty_like(Z)
    act.backprop_array(act.RELU, dA, Z, dZ)
    expected = ref.relu_backward(dA, Z)  # the course's dZ[Z <= 0] = 0
    assert_same_nonfinite(dZ, expected, what="relu_backward")
    np.testing.assert_array_equal(dZ[0, :3], 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_at_huge_logits(dtype):
    Z = np.array([[1e4, -1e4, 3.0], [1e4 - 1, -1e4, 3.0], [-1e4, 1e4, 3.0]], dtype)
    A = np.full_like(Z, np.nan)
    act.activate_array(act.SOFTMAX, Z, A)
    p = 1 / (1 + np.exp(-1.0))
    expected = np.array([[p, 0, 1 / 3], [1 - p, 0, 1 / 3], [0, 1, 1 / 3]])
    assert_close(A, expected, dtype, what="softmax")


def test_activation_code_names_and_errors():
    assert act.activation_code("relu") == act.RELU
    assert act.activation_code("identity") == act.activation_code("linear") == act.LINEAR
    assert act.activation_code("softmax", output=True) == act.SOFTMAX
    with pytest.raises(ValueError, match="unknown hidden activation 'softmax'"):
        act.activation_code("softmax")
    with pytest.raises(ValueError, match="unknown output activation 'relu'"):
        act.activation_code("relu", output=True)
    with pytest.raises(ValueError, match="unknown hidden activation"):
        act.activation_code(None)


# ------------------------------------------------------------------------ each product path
def _product_path(rows, cols, depth, b_transposed=False):
    """Which of gemm.block_product's ways computes a one-block product of this shape."""
    if depth <= gemm.DIRECT_MAX_DEPTH or rows * cols * depth <= gemm.DIRECT_MAX_MACS:
        return "plain loops"
    if not b_transposed and rows <= gemm.DIRECT_B_MAX_ROWS:
        return "opB in place"
    return "packed tiles"


#: (m, n_prev, n, the path the forward product takes): a sum of 5 terms, a small block, few
#: rows over a long sum (the course network's first layer, shrunk), and a large product.
PATH_SHAPES = [(300, 5, 40, "plain loops"), (20, 30, 12, "plain loops"),
               (209, 700, 20, "opB in place"), (150, 90, 70, "packed tiles")]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m, n_prev, n, path", PATH_SHAPES, ids=[s[3] for s in PATH_SHAPES])
def test_every_product_path_matches_numpy(dtype, m, n_prev, n, path):
    assert _product_path(n, m, n_prev) == path
    check_dense_forward(m, n_prev, n, act.TANH, dtype, seed=n_prev)
    check_weight_gradients(m, n_prev, n, dtype, seed=n, l2=0.1)
    check_input_gradients(m, n_prev, n, act.SIGMOID, dtype, seed=m, g_is_input=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, gemm.DOT_MAX_ROWS, gemm.DOT_MAX_ROWS + 1, 10])
def test_small_weight_gradients_by_dot_products_or_a_transposed_copy(dtype, n):
    # plain loops: up to DOT_MAX_ROWS rows of dW take a dot product per output, more rows
    # transpose A_prev into scratch first and sum whole rows of dW
    assert _product_path(n, 11, 64, b_transposed=True) == "plain loops"
    check_weight_gradients(64, 11, n, dtype, seed=n, l2=0.2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m, n_prev, n", [(64, 20, 10), (1, 3, 5), (64, 11, 1), (300, 90, 70),
                                          (209, 700, 20), (256, 129, 33)])
def test_weight_gradients_from_example_major_inputs(dtype, m, n_prev, n):
    # plain loops, one example, a single row (dot products), register tiles, a layer whose dW
    # would otherwise be swapped, and a parallel product: all read A_prev.T in place
    if (m, n_prev, n) == (64, 20, 10):  # the tiny network's first layer takes this path in fit
        assert dense.transposes_inputs(n, n_prev, m)
    check_weight_gradients(m, n_prev, n, dtype, seed=n, l2=0.1, by_rows=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("panels, extra", [(0, 1), (0, "L"), (1, 4)])
def test_weight_gradients_with_a_last_panel_of_at_most_one_vector(dtype, panels, extra):
    # dWᵀ = A_prev · dZᵀ has n columns: its last panel holds n mod 2L of them, which the
    # half-width tile computes when they fit one vector (L lanes)
    lanes = simd.lanes(np.dtype(dtype))
    n = 2 * lanes * panels + (lanes if extra == "L" else extra)
    assert _product_path(400, n, 260, b_transposed=True) == "packed tiles"
    check_weight_gradients(260, 400, n, dtype, seed=n)


@numba.njit
def _lane_sum(x):
    return simd.vsum(simd.vload(x, 0))


def _sum_by_halves(values):
    """The documented order of ``simd.vsum``: the upper half added onto the lower half."""
    while values.shape[0] > 1:
        values = values[:values.shape[0] // 2] + values[values.shape[0] // 2:]
    return values[0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_vsum_adds_the_lanes_halves_first(dtype):
    lanes = simd.lanes(np.dtype(dtype))
    x = np.random.default_rng(3).standard_normal(lanes).astype(dtype) * 1e3
    assert _lane_sum(x) == _sum_by_halves(x)
    assert _lane_sum(np.arange(lanes, dtype=dtype)) == lanes * (lanes - 1) // 2


@numba.njit
def _lane_sum_float64(x):
    return simd.vsum_float64(simd.vload(x, 0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_vsum_float64_widens_each_lane_then_adds_the_halves_first(dtype):
    lanes = simd.lanes(np.dtype(dtype))
    # float32 lanes whose float32 sum would round: 1 + 2**-30 is exact only in float64
    x = np.random.default_rng(4).standard_normal(lanes).astype(dtype) * 1e3
    x[0], x[lanes // 2] = 1.0, 2.0 ** -30
    total = _lane_sum_float64(x)
    assert isinstance(total, float) and total == _sum_by_halves(x.astype(np.float64))


@numba.njit
def _plain_loop_block(A, a_trans, B, C, r_start, r_stop, scratch):
    gemm.direct_product(A, a_trans, B, False, C, False, r_start, r_stop, 0, C.shape[1], scratch)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", range(1, 10))
def test_plain_loops_write_exactly_their_rows_in_groups_of_four_two_and_one(dtype, rows):
    # 4k rows take groups of four, a remainder of 2 or 3 a group of two, an odd one a group of
    # one: every remainder, and the rows around the block left alone
    rng = np.random.default_rng(rows)
    lanes = simd.lanes(np.dtype(dtype))
    cols = 4 * lanes + 3  # a second column block, partly filled
    A = _random(rng, (rows + 2, 9), dtype)
    B = _random(rng, (9, cols), dtype)
    C = np.full((rows + 2, cols), np.nan, dtype)
    _plain_loop_block(A, False, B, C, 1, rows + 1, np.zeros(64, dtype))
    want = A[1:rows + 1].astype(np.float64) @ B.astype(np.float64)
    assert_close(C[1:rows + 1], want, dtype, what=f"{rows} rows", scale=np.abs(want).max())
    assert np.isnan(C[0]).all() and np.isnan(C[rows + 1]).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("a_trans", [False, True], ids=["A", "A transposed"])
@pytest.mark.parametrize("vectors, extra", [(1, 2), (2, 0), (3, -1), (4, 0), (6, 1)])
def test_plain_loops_take_two_three_or_four_vectors_of_columns(dtype, a_trans, vectors, extra):
    # the k loop is compiled for 2, 3 and 4 vectors of columns (gemm._sweep): column counts
    # whose last four vectors hold 2, 3 or 4 (whole or partial), with opA in either layout
    rng = np.random.default_rng(vectors)
    lanes = simd.lanes(np.dtype(dtype))
    cols = vectors * lanes + extra
    rows, depth = 7, 5
    A = _random(rng, (depth, rows) if a_trans else (rows, depth), dtype)
    B = _random(rng, (depth, cols), dtype)
    C = np.full((rows, cols), np.nan, dtype)
    _plain_loop_block(A, a_trans, B, C, 0, rows, np.zeros(64, dtype))
    want = (A.T if a_trans else A).astype(np.float64) @ B.astype(np.float64)
    assert_close(C, want, dtype, what=f"{cols} columns", scale=np.abs(want).max())


@numba.njit
def _transpose_block(source, source_index, source_stride, rows, target, target_index,
                     target_stride):
    simd.vtranspose(source, source_index, source_stride, rows, target, target_index,
                    target_stride)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", [1, 3, "L"])
def test_vtranspose_moves_an_lanes_by_lanes_block(dtype, rows):
    lanes = simd.lanes(np.dtype(dtype))
    rows = lanes if rows == "L" else rows
    source = np.arange(1, 40 * 50 + 1, dtype=dtype)
    target = np.zeros(60 * 70, dtype)
    _transpose_block(source, 3, 50, rows, target, 5, 70)
    block = source[3:3 + 50 * lanes].reshape(lanes, 50)[:, :lanes].copy()
    block[rows:] = block[rows - 1]  # rows from ``rows`` on repeat the last one read
    moved = target[5:5 + 70 * lanes].reshape(lanes, 70)[:, :lanes]
    np.testing.assert_array_equal(moved, block.T)
    assert np.count_nonzero(target) == lanes * lanes  # nothing written elsewhere


@numba.njit
def _gather_transpose_block(source, rows, first, column, row_length, target, target_index,
                            target_stride):
    simd.vgather_transpose(source, rows, first, column, row_length, target, target_index,
                           target_stride)


@pytest.mark.parametrize("dtype", DTYPES)
def test_vgather_transpose_moves_picked_rows_transposed(dtype):
    lanes = simd.lanes(np.dtype(dtype))
    source = np.arange(1, 40 * 50 + 1, dtype=dtype)
    rows = np.random.default_rng(0).permutation(40).astype(np.int64)
    target = np.zeros(60 * 70, dtype)
    _gather_transpose_block(source, rows, 2, 7, 50, target, 5, 70)
    block = source.reshape(40, 50)[rows[2:2 + lanes], 7:7 + lanes]
    moved = target[5:5 + 70 * lanes].reshape(lanes, 70)[:, :lanes]
    np.testing.assert_array_equal(moved, block.T)
    assert np.count_nonzero(target) == lanes * lanes  # nothing written elsewhere


@pytest.mark.parametrize("dtype", DTYPES)
@given(m=examples, n_in=st.sampled_from([1, 3, 8, 16, 17, 33, 64]), seed=seeds)
def test_gather_batch_copies_the_picked_examples_neuron_major(dtype, m, n_in, seed):
    # from example-major rows (blocks transposed in registers, the rest element by element)
    # and from neuron-major columns: the same batch, exactly
    from fastbp.kernels import loop

    rng = np.random.default_rng(seed)
    total = m + 5
    X_t = rng.standard_normal((total, n_in)).astype(dtype)
    Y = rng.standard_normal((2, total)).astype(dtype)
    weights = rng.uniform(0.5, 2.0, total).astype(dtype)
    order = rng.permutation(total).astype(np.int64)
    start = int(rng.integers(0, 6))
    count = min(m, total - start)
    want = X_t[order[start:start + count]].T
    for rows, columns in ((X_t, np.empty((0, 0), dtype)),
                          (np.empty((0, 0), dtype), np.ascontiguousarray(X_t.T))):
        A0 = np.full((n_in, count), np.nan, dtype)
        y_b = np.full((2, count), np.nan, dtype)
        w_b = np.full(count, np.nan, dtype)
        loop.gather_batch(rows, columns, Y, weights, True, order, start, A0, y_b, w_b)
        np.testing.assert_array_equal(A0, want)
        np.testing.assert_array_equal(y_b, Y[:, order[start:start + count]])
        np.testing.assert_array_equal(w_b, weights[order[start:start + count]])


def _lanewise(function):
    """A kernel ``(x, out)`` applying the SIMD intrinsic ``function`` to every element of x."""

    @numba.njit
    def apply(x, out):
        lanes = simd.vector_lanes(x)
        for i in range(0, x.shape[0], lanes):
            count = min(lanes, x.shape[0] - i)
            simd.vstore_part(out, i, function(simd.vload_part(x, i, count)), count)

    return apply


_vector_exp = _lanewise(simd.vexp)


@pytest.mark.parametrize("dtype", DTYPES)
def test_vexp_is_within_one_ulp_of_the_exact_exp_and_keeps_its_special_values(dtype):
    rng = np.random.default_rng(1)
    info = np.finfo(dtype)
    edges = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, -1e-30, np.log(info.max) * 0.9999,
             np.log(info.max) * 1.0001, np.log(info.tiny), np.log(info.smallest_subnormal) - 1,
             1e30, -1e30]
    x = np.concatenate([rng.uniform(-30, 30, 5000), rng.uniform(-800, 800, 5000),
                        rng.uniform(-1, 1, 1000), edges]).astype(dtype)
    out = np.empty_like(x)
    _vector_exp(x, out)
    # the exact exp from a wider float (long double on x86: 64 mantissa bits), rounded once;
    # NumPy's own float32 exp is 2.4 ulp off. Where long double is only double, float64 is
    # measured against NumPy's exp, itself up to about 1 ulp off
    wider = np.finfo(np.longdouble).nmant > np.finfo(dtype).nmant + 8
    with np.errstate(over="ignore", under="ignore"):
        exact = np.exp(x.astype(np.longdouble))
        want = exact.astype(dtype)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(want))
    np.testing.assert_array_equal(np.isposinf(out), np.isposinf(want))
    np.testing.assert_array_equal(out == 0, want == 0)
    normal = np.isfinite(want) & (want >= info.tiny)
    ulps = np.abs(out[normal] - exact[normal]) / np.spacing(want[normal])
    assert ulps.max() <= (1.1 if wider else 2.0)
    subnormal = np.isfinite(want) & (want > 0) & (want < info.tiny)
    assert np.abs(out[subnormal] - want[subnormal]).max(initial=0) <= 2 * info.smallest_subnormal


_vector_log = _lanewise(simd.vlog)


@pytest.mark.parametrize("dtype", DTYPES)
def test_vlog_is_within_one_ulp_of_the_rounded_log_and_keeps_its_special_values(dtype):
    rng = np.random.default_rng(2)
    info = np.finfo(dtype)
    edges = [0.0, -0.0, -1.0, np.inf, -np.inf, np.nan, 1.0, 2.0, 0.5, info.max, info.tiny,
             info.tiny / 3, info.smallest_subnormal, np.sqrt(2), np.sqrt(0.5)]
    x = np.concatenate([rng.uniform(0, 2, 5000), np.exp(rng.uniform(-80, 80, 5000)),
                        1 + rng.uniform(-1e-3, 1e-3, 2000), rng.uniform(0.5, 1, 2000),
                        edges]).astype(dtype)
    out = np.empty_like(x)
    _vector_log(x, out)
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.log(x)
        # float32 against the float64 log rounded once (NumPy's own float32 log is 3 ulp off)
        exact = np.log(x.astype(np.float64)) if dtype == np.float32 else want
    np.testing.assert_array_equal(np.isnan(out), np.isnan(want))
    np.testing.assert_array_equal(out[~np.isfinite(want)], want[~np.isfinite(want)])
    finite = np.isfinite(want)
    ulps = np.abs(out[finite] - exact[finite]) / np.spacing(np.abs(want[finite]).astype(dtype))
    assert ulps.max() <= 1.0
    assert out[x == 1][0] == 0.0


@numba.njit
def _write_through_views(flat, offset, rows, cols):
    block = views.matrix(flat, offset, rows, cols)
    for r in range(rows):
        for c in range(cols):
            block[r, c] = -block[r, c]
    line = views.as_flat(block)
    if line.shape[0] > 0:
        line[line.shape[0] - 1] = 1000.0
    return block.shape[0], block.shape[1], line.shape[0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("offset, rows, cols", [(0, 1, 1), (3, 4, 5), (7, 0, 3), (2, 6, 1)])
def test_views_are_the_slice_and_reshape_they_replace(dtype, offset, rows, cols):
    flat = np.arange(1, 40, dtype=dtype)
    want = flat.copy()
    want[offset:offset + rows * cols] *= -1
    if rows * cols:
        want[offset + rows * cols - 1] = 1000.0
    assert _write_through_views(flat, offset, rows, cols) == (rows, cols, rows * cols)
    np.testing.assert_array_equal(flat, want)


@pytest.mark.parametrize("offset, rows, cols", [(35, 1, 5), (0, 8, 5), (-1, 1, 1)])
def test_matrix_view_past_its_flat_array_raises(offset, rows, cols):
    flat = np.zeros(39)
    with pytest.raises(IndexError, match="outside its flat array"):
        _write_through_views(flat, offset, rows, cols)
    assert not flat.any()


_vector_tanh = _lanewise(simd.vtanh)


@pytest.mark.parametrize("dtype", DTYPES)
def test_vtanh_is_within_three_ulp_and_keeps_its_special_values(dtype):
    rng = np.random.default_rng(3)
    info = np.finfo(dtype)
    # both sides of the switch from the series to exp (|x| = 0.5), tiny and saturated values
    x = np.concatenate([rng.uniform(-1, 1, 5000), rng.uniform(-25, 25, 5000),
                        rng.uniform(0.49, 0.51, 1000), rng.uniform(-1e-3, 1e-3, 1000),
                        np.exp(rng.uniform(-80, 3, 2000)),
                        [0.5, -0.5, 9.0, 19.5, 1e-30, info.tiny, info.smallest_subnormal]]
                       ).astype(dtype)
    out = np.empty_like(x)
    _vector_tanh(x, out)
    exact = np.tanh(x.astype(np.longdouble))
    ulps = np.abs(out - exact) / np.spacing(np.abs(np.tanh(x)))
    assert ulps.max() <= 3.0
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan], dtype)
    got = np.empty_like(special)
    _vector_tanh(special, got)
    np.testing.assert_array_equal(got, [0.0, -0.0, 1.0, -1.0, np.nan])
    np.testing.assert_array_equal(np.signbit(got[:2]), [False, True])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m, n_prev, n", PARALLEL_SHAPES)
def test_a_large_sum_on_one_thread_gives_the_parallel_bits(dtype, m, n_prev, n):
    # one row of scratch keeps a large sum on the calling thread (a forked child, one thread):
    # it must sum every output as the parallel tasks do
    rng = np.random.default_rng(m + n)
    A_prev = rng.standard_normal((n_prev, m)).astype(dtype)
    W = rng.standard_normal((n, n_prev)).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    dZ = rng.standard_normal((n, m)).astype(dtype)
    results = []
    for scratch in (_scratch(dtype), _scratch(dtype)[:1].copy()):
        A = np.empty((n, m), dtype)
        dense_forward(A_prev, W, b, act.TANH, A, A, False, scratch)
        dW = np.empty((n, n_prev), dtype)
        db = np.empty(n, dtype)
        dense_weight_gradients(dZ, A_prev, dW, db, dtype(1 / m), dtype(0.1), W, scratch, False)
        dA = np.empty((n_prev, m), dtype)
        dense_input_gradients(dZ, W, act.RELU, A_prev, False, dA, scratch)
        results.append((A, dW, db, dA))
    for parallel, serial in zip(*results):
        np.testing.assert_array_equal(parallel, serial)
