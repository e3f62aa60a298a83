"""Extremes: offsets past 2**31 elements, workspaces too large to allocate, 1-neuron layers and
50-layer networks give a correct result or a clear error.

Why flat indices past 2**31 are safe (the paper half of the proof): every index the kernels use
comes from array shapes (``intp``, 64-bit), from the int64 offset arrays the network builds
(``w_off``, ``b_off``, ``act_off``), or from ``range`` over those, and Numba types all of these as
int64; ``views.matrix`` casts its offset and sizes to ``intp`` before it computes an address, and
no kernel converts an index to a 32-bit type (there is no ``int32`` in ``fastbp/kernels``). The
test below makes the network's views start beyond 2**31 elements of a memory-mapped (sparse)
buffer, so a 32-bit truncation anywhere on that path would read or write the wrong place.
"""
import numpy as np
import pytest

from fastbp import Network
from fastbp import reference as ref
from fastbp.kernels import loop

from _helpers import assert_close, make_targets, parameters_of, reference_pass, snapshot

BEYOND = 2**31 + 64


def _overcommits_everything():
    try:
        with open("/proc/sys/vm/overcommit_memory") as f:
            return f.read().strip() == "1"
    except OSError:
        return True


@pytest.fixture
def big_flat(tmp_path):
    """A float32 vector of 2**31 + 4096 elements in a sparse memory-mapped file (8 GiB of
    address space, a few pages of disk and memory)."""
    path = tmp_path / "flat.f32"
    try:
        mapped = np.memmap(path, dtype=np.float32, mode="w+", shape=(BEYOND + 4032,))
    except (OSError, ValueError) as error:
        pytest.skip(f"cannot map an 8 GiB sparse file here: {error}")
    yield np.asarray(mapped)  # the plain ndarray view the kernels take
    del mapped


def test_parameters_and_activations_past_2_31_elements(big_flat):
    net = Network([3, 4, 2], activations="tanh", output="softmax", dtype=np.float32, seed=0)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, 5)).astype(np.float32)
    expected = net.forward(X)

    # the same parameters, stored past element 2**31 of the big buffer
    dims, codes, loss, w_off, b_off, theta, keep = net._model()
    shift = BEYOND
    big_flat[shift:shift + theta.size] = theta
    model = (dims, codes, loss, w_off + shift, b_off + shift, big_flat, keep)
    # and the activations written past element 2**31 + 512
    act_off, acts, z, y_b, w_b, delta, grad, scratch = net._work(5, "forward")
    act_off = act_off[:3]  # the layers' (the dropout offsets after them are not used here)
    work = (act_off + shift + 512, big_flat, z, y_b, w_b, delta, grad, scratch)
    assert (act_off + shift + 512).max() + 5 * 4 < big_flat.size
    loop.forward_pass(X, model, work)
    start = shift + 512 + act_off[-1]
    got = big_flat[start:start + 2 * 5].reshape(2, 5)
    np.testing.assert_array_equal(got, expected)
    # nothing was written below 2**31: the start of the buffer is still untouched zeros
    assert not big_flat[:4096].any() and not big_flat[2**31 - 4096:2**31].any()


@pytest.mark.skipif(_overcommits_everything(), reason="this kernel never refuses an allocation")
def test_a_batch_too_large_for_memory_is_refused_before_anything_changes():
    net = Network([1, 2**20, 1], output="linear", dtype=np.float32, seed=0)  # 1M hidden units
    X = np.ones((1, 2**17), np.float32)          # a full batch of 131072: 512 GiB of activations
    Y = np.ones((1, 2**17), np.float32)
    before = snapshot(net)
    with pytest.raises(ValueError, match="GiB, which cannot be allocated; use a smaller"):
        net.fit(X, Y, epochs=1, optimizer="adam")
    assert net._optimizer is None and list(net.history) == []
    for key, value in before.items():
        np.testing.assert_array_equal(net.parameters[key], value)
    with pytest.raises(ValueError, match="cannot be allocated"):
        net.forward(X)
    # the largest batch that fits is a correct one: the same network on 4 examples
    np.testing.assert_allclose(net.forward(X[:, :4]),
                               ref.forward(X[:, :4].astype(np.float64), parameters_of(net),
                                           net.activations, net.output)[0],
                               rtol=1e-3, atol=1e-4)


@pytest.mark.skipif(_overcommits_everything(), reason="this kernel never refuses an allocation")
def test_layer_sizes_too_large_for_memory_are_refused():
    with pytest.raises(ValueError, match=r"need \d+ parameters .* which cannot be allocated"):
        Network([2**20, 2**20, 2**20])             # 2**41 parameters: 16 TiB


@pytest.mark.parametrize("dims", [[1, 1], [1, 1, 1, 1], [5, 1, 5, 1], [1, 7, 1, 3]])
@pytest.mark.parametrize("output", ["sigmoid", "linear", "softmax"])
def test_one_neuron_layers_match_the_reference(dims, output):
    if output == "softmax" and dims[-1] == 1:
        dims = dims[:-1] + [2]
    rng = np.random.default_rng(len(dims))
    X = rng.standard_normal((dims[0], 9))
    Y = make_targets(rng, output, dims[-1], 9)
    net = Network(dims, activations="tanh", output=output, seed=3)
    AL = net.forward(X)
    grads = net.backward(Y)
    AL_ref, cost_ref, grads_ref = reference_pass(net, X, Y)
    assert_close(AL, AL_ref, what="AL")
    assert_close(net.cost(X, Y), cost_ref, what="cost")
    for key, value in grads_ref.items():
        if key.startswith(("dW", "db")):
            assert_close(grads[key], value, what=key, scale=max(1e-3, np.abs(value).max()))
    net.fit(X, Y, epochs=5, batch_size=1, learning_rate=0.05)
    assert len(net.history) == 5 and np.isfinite(net.history).all()


def test_a_50_layer_network_matches_the_reference_and_trains():
    dims = [6] + [5] * 49 + [3]
    rng = np.random.default_rng(50)
    X = rng.standard_normal((6, 11))
    Y = make_targets(rng, "softmax", 3, 11)
    net = Network(dims, activations="tanh", output="softmax", seed=5, init="glorot")
    assert len(net.parameters) == 100
    AL_ref, cost_ref, grads_ref = reference_pass(net, X, Y)
    assert_close(net.forward(X), AL_ref, what="AL")
    grads = net.backward(Y)
    for key in ("dW1", "db1", "dW25", "dW50", "db50"):
        assert_close(grads[key], grads_ref[key], what=key,
                     scale=max(1e-6, np.abs(grads_ref[key]).max()))
    net.fit(X, Y, epochs=3, batch_size=4, optimizer="adam", learning_rate=0.001)
    assert len(net.history) == 3 and np.isfinite(net.history).all()


@pytest.mark.parametrize("dims", [[5, 10**30, 1], [2**40, 2**40, 1]])
def test_layer_sizes_beyond_64_bit_counts_are_a_clear_error(dims):
    # found by the deep fuzz profile: an OverflowError out of NumPy, naming nothing
    with pytest.raises(ValueError, match="layer_dims"):
        Network(dims)
