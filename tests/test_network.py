"""Network.forward / cost / backward against fastbp.reference, and the Network's API contract.

Every hidden activation with every matched output/loss pair, float64 and float32; networks with no
hidden layer, one neuron, one example and widths that are not multiples of 8; numerical stability
at logits of magnitude 1e4; the ``parameters`` dict (views, copying assignment); predict and
predict_proba; int, float32 and non-contiguous inputs.
"""
import numpy as np
import pytest

from fastbp import Network
from fastbp import reference as ref

from _helpers import (HIDDEN_ACTIVATIONS, N_OUTPUTS, OUTPUTS, assert_close, assert_grads_close,
                      make_targets, reference_pass)

DTYPES = [np.float64, np.float32]


def _network(dims, hidden="relu", output="sigmoid", dtype=np.float64, seed=1, rng=None):
    """A network with its course initialization plus non-zero biases (so bias bugs show)."""
    net = Network(dims, activations=hidden, output=output, dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed) if rng is None else rng
    for l in range(1, len(dims)):
        net.parameters[f"b{l}"] = 0.3 * rng.standard_normal((dims[l], 1))
    return net


def check_against_reference(net, X, Y):
    dtype = net.dtype
    AL_ref, cost_ref, grads_ref = reference_pass(net, np.asarray(X, dtype), np.asarray(Y, dtype))
    AL = net.forward(X)
    assert AL.dtype == dtype and AL.shape == AL_ref.shape
    assert_close(AL, AL_ref, dtype, what="AL")
    grads = net.backward(Y)
    assert_grads_close(grads, grads_ref, dtype)
    cost = net.cost(X, Y)
    assert isinstance(cost, float)
    assert_close(cost, cost_ref, dtype, what="cost")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
def test_forward_cost_backward_match_reference(hidden, output, dtype, rng):
    n_out = N_OUTPUTS[output]
    net = _network([4, 6, 5, n_out], hidden, output, dtype, rng=rng)
    assert net.activations == (hidden, hidden) and net.output == output
    X = rng.standard_normal((4, 9))
    Y = make_targets(rng, output, n_out, 9)
    check_against_reference(net, X, Y)


@pytest.mark.parametrize("output", OUTPUTS)
def test_network_without_hidden_layer(output, rng):
    n_out = N_OUTPUTS[output]
    net = _network([3, n_out], output=output, rng=rng)
    X = rng.standard_normal((3, 8))
    check_against_reference(net, X, make_targets(rng, output, n_out, 8))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims, m", [([1, 1, 1], 1), ([1, 1, 1], 5), ([9, 33, 7, 3], 1),
                                     ([9, 33, 7, 3], 65), ([7, 65, 130, 1], 3),
                                     ([3, 9, 1, 2], 33)])
def test_odd_shapes_match_reference(dims, m, dtype, rng):
    output = "softmax" if dims[-1] > 1 else "sigmoid"
    net = _network(dims, "tanh", output, dtype, rng=rng)
    X = rng.standard_normal((dims[0], m))
    check_against_reference(net, X, make_targets(rng, output, dims[-1], m))


def test_one_activation_per_hidden_layer(rng):
    net = _network([3, 5, 4, 6, 2], ["tanh", "relu", "leaky_relu"], "softmax", rng=rng)
    assert net.activations == ("tanh", "relu", "leaky_relu")
    X = rng.standard_normal((3, 10))
    check_against_reference(net, X, make_targets(rng, "softmax", 2, 10))


def test_identity_is_an_alias_of_linear(rng):
    net = Network([3, 4, 2], activations="identity", output="identity", seed=0)
    assert net.activations == ("linear",) and net.output == "linear" and net.loss == "mse"
    X = rng.standard_normal((3, 6))
    check_against_reference(net, X, rng.standard_normal((2, 6)))


@pytest.mark.parametrize("output, loss", [("sigmoid", "bce"), ("softmax", "ce"),
                                          ("linear", "mse")])
def test_loss_is_inferred_from_output(output, loss):
    assert Network([2, 3, 2], output=output).loss == loss
    assert Network([2, 3, 2], output=output, loss=loss).loss == loss


# ------------------------------------------------------------------------------- stability
def _single_layer(output, W, b, dtype):
    net = Network([W.shape[1], W.shape[0]], output=output, dtype=dtype, seed=0)
    net.parameters["W1"] = W
    net.parameters["b1"] = b
    return net


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_bce_at_logits_of_1e4(dtype):
    # X = identity columns: Z = W's columns + b, logits of +-1e4 and one moderate value
    W = np.array([[1e4, -1e4, 1e4, -1e4, 0.5]])
    X = np.eye(5)
    Y = np.array([[1.0, 0.0, 0.0, 1.0, 1.0]])
    net = _single_layer("sigmoid", W, np.zeros((1, 1)), dtype)
    AL = net.forward(X)
    assert np.isfinite(AL).all()
    np.testing.assert_array_equal(AL[0, :4], [1.0, 0.0, 1.0, 0.0])
    assert_close(AL[0, 4], 1 / (1 + np.exp(-0.5)), dtype)
    cost = net.cost(X, Y)
    assert np.isfinite(cost)
    assert_close(cost, (0 + 0 + 1e4 + 1e4 + np.log1p(np.exp(-0.5))) / 5, dtype, what="BCE")
    grads = net.backward(Y)
    assert all(np.isfinite(g).all() for g in grads.values())
    assert_close(grads["db1"], (AL - Y).mean(axis=1, keepdims=True), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_ce_at_logits_of_1e4(dtype):
    W = np.array([[1e4, -1e4, 2.0], [1e4 - 1, -1e4, 2.0], [-1e4, 1e4, 2.0]])
    X = np.eye(3)
    Y = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    net = _single_layer("softmax", W, np.zeros((3, 1)), dtype)
    AL = net.forward(X)
    p = 1 / (1 + np.exp(-1.0))
    assert_close(AL, [[p, 0, 1 / 3], [1 - p, 0, 1 / 3], [0, 1, 1 / 3]], dtype, what="softmax")
    cost = net.cost(X, Y)
    assert np.isfinite(cost)
    expected = (np.log1p(np.exp(-1.0)) + 2e4 + np.log(3.0)) / 3
    assert_close(cost, expected, dtype, what="CE")
    with np.errstate(all="ignore"):
        assert_close(cost, ref.loss(W.astype(dtype).astype(np.float64), AL, Y, "softmax"), dtype)
    grads = net.backward(Y)
    assert all(np.isfinite(g).all() for g in grads.values())


def test_saturated_hidden_sigmoid_matches_reference():
    net = Network([2, 3, 1], activations="sigmoid", output="sigmoid", seed=0)
    net.parameters["W1"] = np.array([[1e4, 0.0], [-1e4, 0.0], [0.0, 1e4]])
    X = np.array([[1.0, -1.0], [1.0, 2.0]])
    Y = np.array([[1.0, 0.0]])
    with np.errstate(over="ignore"):  # the reference's exp(-Z) overflows to inf (harmless)
        check_against_reference(net, X, Y)


# ------------------------------------------------------------------------------ parameters
def test_parameters_have_course_names_shapes_and_initialization():
    net = Network([5, 4, 3, 1], seed=3)
    assert list(net.parameters) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    for l, (n, n_prev) in enumerate([(4, 5), (3, 4), (1, 3)], start=1):
        assert net.parameters[f"W{l}"].shape == (n, n_prev)
        np.testing.assert_array_equal(net.parameters[f"b{l}"], np.zeros((n, 1)))
    Ws = np.concatenate([net.parameters[f"W{l}"].ravel() * np.sqrt(n_prev)
                         for l, n_prev in [(1, 5), (2, 4), (3, 3)]])
    assert 0.3 < Ws.std() < 2.0  # randn / sqrt(n_prev)
    same = Network([5, 4, 3, 1], seed=3)
    for key in net.parameters:
        np.testing.assert_array_equal(net.parameters[key], same.parameters[key])


def test_in_place_change_is_seen_by_the_next_forward_and_backward(rng):
    net = _network([3, 4, 4, 2], "tanh", "softmax", rng=rng)
    X = rng.standard_normal((3, 7))
    Y = make_targets(rng, "softmax", 2, 7)
    before = net.forward(X)
    net.parameters["W1"][0, 0] += 1.0
    net.parameters["W2"][1, :] *= -2.0   # W2 also lives transposed for the backward sums
    net.parameters["b3"][...] = 0.25
    after = net.forward(X)
    assert not np.allclose(before, after)
    check_against_reference(net, X, Y)


def test_assigning_a_parameter_copies_it_with_a_shape_check(rng):
    net = _network([3, 4, 2], rng=rng)
    new = rng.standard_normal((4, 3))
    net.parameters["W1"] = new
    np.testing.assert_array_equal(net.parameters["W1"], new)
    new[0, 0] = 100.0
    assert net.parameters["W1"][0, 0] != 100.0, "the network kept a reference to the array"
    X = rng.standard_normal((3, 5))
    check_against_reference(net, X, make_targets(rng, "sigmoid", 2, 5))

    net.parameters["b1"] = [[1], [2], [3], [4]]  # lists and ints are converted
    np.testing.assert_array_equal(net.parameters["b1"], [[1.0], [2.0], [3.0], [4.0]])
    with pytest.raises(ValueError, match=r"W1 must have shape \(4, 3\)"):
        net.parameters["W1"] = np.ones((3, 4))
    with pytest.raises(ValueError, match="b2"):
        net.parameters["b2"] = np.ones(2)
    with pytest.raises(ValueError, match="NaN"):
        net.parameters["W2"] = np.full((2, 4), np.nan)
    with pytest.raises(KeyError, match="W3"):
        net.parameters["W3"] = np.ones((2, 2))
    with pytest.raises(TypeError):
        del net.parameters["W1"]


# ------------------------------------------------------------------------- predict & proba
def test_predict_sigmoid_gives_labels_of_shape_n_out_by_m(rng):
    net = _network([3, 5, 2], output="sigmoid", rng=rng)
    X = rng.standard_normal((3, 11))
    labels = net.predict(X)
    assert labels.shape == (2, 11)
    assert set(np.unique(labels)) <= {0, 1}
    np.testing.assert_array_equal(labels, (net.forward(X) > 0.5).astype(int))
    np.testing.assert_array_equal(net.predict_proba(X), net.forward(X))


def test_predict_softmax_gives_class_indices(rng):
    net = _network([3, 5, 4], output="softmax", rng=rng)
    X = rng.standard_normal((3, 12))
    classes = net.predict(X)
    assert classes.shape == (12,)
    np.testing.assert_array_equal(classes, net.forward(X).argmax(axis=0))
    proba = net.predict_proba(X)
    assert_close(proba.sum(axis=0), np.ones(12))


def test_predict_linear_gives_values_and_predict_proba_refuses(rng):
    net = _network([3, 5, 2], output="linear", rng=rng)
    X = rng.standard_normal((3, 6))
    np.testing.assert_array_equal(net.predict(X), net.forward(X))
    AL_ref, _, _ = reference_pass(net, X, np.zeros((2, 6)))
    assert_close(net.predict(X), AL_ref)
    with pytest.raises(ValueError, match="linear"):
        net.predict_proba(X)


# ------------------------------------------------------------------------- input handling
def test_int_and_float32_inputs_to_a_float64_network(rng):
    net = _network([3, 4, 2], "relu", "softmax", rng=rng)
    X_int = rng.integers(-3, 4, size=(3, 8))
    Y = make_targets(rng, "softmax", 2, 8)
    expected = net.forward(X_int.astype(np.float64))
    AL = net.forward(X_int)
    assert AL.dtype == np.float64
    np.testing.assert_array_equal(AL, expected)
    grads_int = net.backward(Y.astype(np.int64))
    grads = net.backward(Y)
    for key in grads:
        np.testing.assert_array_equal(grads_int[key], grads[key])
    X32 = rng.standard_normal((3, 8)).astype(np.float32)
    np.testing.assert_array_equal(net.forward(X32), net.forward(X32.astype(np.float64)))
    assert net.cost(X32, Y.astype(np.float32)) == net.cost(X32.astype(np.float64), Y)
    check_against_reference(net, X_int, Y)


def test_non_contiguous_inputs_give_the_same_results(rng):
    net = _network([4, 6, 3], "tanh", "softmax", rng=rng)
    big = rng.standard_normal((4, 30))
    Y_big = make_targets(rng, "softmax", 3, 30)
    views = {
        "slice with step": (big[:, ::3], Y_big[:, ::3]),
        "transposed view": (np.ascontiguousarray(big[:, :10].T).T,
                            np.ascontiguousarray(Y_big[:, :10].T).T),
        "fortran order": (np.asfortranarray(big[:, :10]), np.asfortranarray(Y_big[:, :10])),
        "row step": (np.repeat(big[:, :10], 2, axis=0)[::2], Y_big[:, :10]),
    }
    for name, (X, Y) in views.items():
        assert not X.flags.c_contiguous, name
        X_c, Y_c = np.ascontiguousarray(X), np.ascontiguousarray(Y)
        AL = net.forward(X)
        grads = net.backward(Y)
        AL_c = net.forward(X_c)
        grads_c = net.backward(Y_c)
        np.testing.assert_array_equal(AL, AL_c, err_msg=name)
        for key in grads:
            np.testing.assert_array_equal(grads[key], grads_c[key], err_msg=f"{name} {key}")
        assert net.cost(X, Y) == net.cost(X_c, Y_c), name


def test_backward_needs_a_forward_first():
    net = Network([2, 3, 1], seed=0)
    with pytest.raises(RuntimeError, match="forward"):
        net.backward(np.zeros((1, 4)))


def test_backward_after_other_calls_uses_the_last_forward(rng):
    """backward() differentiates at the last forward(); cost() in between must not change it."""
    net = _network([4, 6, 3], "tanh", "softmax", rng=rng)
    X = rng.standard_normal((4, 9))
    Y = make_targets(rng, "softmax", 3, 9)
    _, _, expected = reference_pass(net, X, Y)
    for m_other in (9, 40):  # the same number of examples, and more (a bigger workspace)
        X_other = rng.standard_normal((4, m_other))
        Y_other = make_targets(rng, "softmax", 3, m_other)
        net.forward(X)
        net.cost(X_other, Y_other)
        grads = net.backward(Y)
        for key in expected:
            assert_close(grads[key], expected[key], what=f"{key} after cost(m={m_other})")


def test_backward_returns_new_arrays(rng):
    net = _network([3, 4, 1], rng=rng)
    X = rng.standard_normal((3, 5))
    Y = make_targets(rng, "sigmoid", 1, 5)
    net.forward(X)
    first = net.backward(Y)
    saved = {key: value.copy() for key, value in first.items()}
    net.forward(rng.standard_normal((3, 5)))
    net.backward(Y)
    for key in first:
        np.testing.assert_array_equal(first[key], saved[key])
    assert not any(np.shares_memory(first[key], value)
                   for key in first for value in net.parameters.values())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("gather", [False, True])
def test_workspaces_start_each_buffer_layer_and_scratch_row_on_a_cache_line(dtype, gather):
    net = _network([37, 29, 5, 3], dtype=dtype, rng=np.random.default_rng(0))
    act_off, *buffers = net._work(45, gather=gather)
    itemsize = np.dtype(dtype).itemsize
    assert all(buffer.ctypes.data % 64 == 0 for buffer in buffers if buffer.size)
    assert all(offset * itemsize % 64 == 0 for offset in act_off[:4])  # the layers' (4 of them)
    scratch = buffers[-1]
    assert scratch.strides[0] % 64 == 0 and scratch.flags.c_contiguous
    assert (buffers[5] == 0).all()  # the gradient starts at zero


#: (layer dims, examples per pass): the digits and tiny networks, a first layer whose dW is
#: computed transposed (inputs >= 16x neurons), widths that are no multiple of a vector, one
#: example, and products large enough to run in parallel.
SCRATCH_CASES = [((20, 10, 1), 64), ((64, 128, 10), 64), ((400, 20, 1), 50),
                 ((37, 29, 3), 45), ((5, 3, 2), 1), ((300, 200, 10), 256)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dims, m", SCRATCH_CASES)
def test_passes_stay_inside_the_scratch_sized_for_them(dims, m, dtype):
    # the packing buffers are sized per network (kernels.dense.scratch_shape), not for any
    # product: run a whole pass with a sentinel region right after them, which must stay intact
    from fastbp.kernels import loop
    from fastbp.kernels.dense import scratch_shape
    rng = np.random.default_rng(m)
    net = _network(list(dims), dtype=dtype, rng=rng)
    X = rng.standard_normal((dims[0], m)).astype(dtype)
    Y = (rng.random((dims[-1], m)) < 0.5).astype(dtype)
    work = net._work(m, "guarded")
    threads, elements = scratch_shape(dims, m, dtype)
    # each row of the workspace's scratch is rounded up to whole cache lines
    assert work[7].shape[0] == threads and 0 <= work[7].shape[1] - elements < 64
    guard = 4096
    buffer = np.full(threads * elements + guard, 12345.0, dtype)
    guarded = work[:7] + (buffer[:threads * elements].reshape(threads, elements),)
    cost = loop.loss_and_gradient(X, Y, np.empty(0, dtype), False, 0.0, net._model(), guarded)
    assert (buffer[threads * elements:] == 12345.0).all()
    net.forward(X)
    grads = net.backward(Y)
    assert_close(cost, net.cost(X, Y), dtype, what="cost")
    flat_grads = np.concatenate([np.concatenate([grads[f"dW{l}"].ravel(),
                                                 grads[f"db{l}"].ravel()])
                                 for l in range(1, len(dims))])
    assert_close(guarded[6], flat_grads, dtype, what="gradient")
