"""Inputs found by fuzzing (``fuzz_surface.py``) that once crashed, misbehaved or stalled: each
test fails on the code before its fix."""
import json
import tracemalloc

import numpy as np
import pytest
from numba.core import types

from fastbp import MLPRegressor, Network, course, gradient_check
from fastbp.kernels import dense, loop, optim


def _read_only(array):
    array = np.array(array)
    array.flags.writeable = False
    return array


def _readonly_signatures(*dispatchers):
    def read_only(kind):
        if isinstance(kind, types.BaseTuple):
            return any(read_only(member) for member in kind.types)
        return isinstance(kind, types.Array) and not kind.mutable

    return [sig for d in dispatchers for sig in d.signatures if any(map(read_only, sig))]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_read_only_inputs_do_not_compile_the_kernels_again(tmp_path):
    # a read-only array reached the kernels as a new type: every kernel on its path compiled
    # again (21 s for a forward pass, minutes for a fit) and was cached a second time
    rng = np.random.default_rng(0)
    path = tmp_path / "X.f8"
    rng.standard_normal((3, 8)).tofile(path)
    X = np.memmap(path, dtype=np.float64, mode="r", shape=(3, 8))
    Y = _read_only(np.eye(2)[:, rng.integers(0, 2, 8)])
    net = Network([3, 4, 2], output="softmax", seed=0)
    expected = Network([3, 4, 2], output="softmax", seed=0).forward(np.array(X))
    np.testing.assert_array_equal(net.forward(X), expected)
    net.fit(X, Y, epochs=2, batch_size=3)
    net.fit(X, Y, epochs=1)
    net.cost(X, Y)
    net.forward(X)
    net.backward(Y)
    params = {"W1": _read_only(rng.standard_normal((2, 3))), "b1": _read_only(np.ones((2, 1)))}
    AL, caches = course.L_model_forward(X, params)
    course.L_model_backward(AL, _read_only((AL > 0.5).astype(float)), caches)
    course.update_parameters(params, {"dW1": params["W1"], "db1": params["b1"]}, 0.1)
    # L-BFGS reaches the kernels through the loss and gradient: a regressor's targets from a
    # read-only memmap went there as they were (scikit-learn's readonly_memmap checks)
    y = np.memmap(tmp_path / "y.f8", dtype=np.float64, mode="w+", shape=(8,))
    y[:] = rng.standard_normal(8)
    y.flush()
    y = np.memmap(tmp_path / "y.f8", dtype=np.float64, mode="r", shape=(8,))
    weights = _read_only(np.ones(8))
    MLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=3).fit(
        np.asarray(X).T, y, sample_weight=weights)
    assert _readonly_signatures(loop.forward_pass, loop.train_epochs, loop.backward_pass,
                                loop.forward_loss, loop.loss_and_gradient, dense.dense_forward,
                                optim.scaled_difference) == []


def test_course_gradients_of_no_examples_are_a_clear_error():
    # the course's 1./m raised ZeroDivisionError
    with pytest.raises(ValueError, match="no examples"):
        course.linear_backward(np.ones((2, 0)), (np.ones((3, 0)), np.ones((2, 3)), None))


@pytest.mark.parametrize("n", [1, 3, 5])
def test_course_db_of_a_layer_without_inputs_is_computed(n):
    # the kernel writes db with dW's first column block; a dW with no columns has none, and db
    # came back as uninitialized memory
    rng = np.random.default_rng(n)
    dZ = rng.standard_normal((n, 4))
    for _ in range(5):
        np.full(4096, 7.5)  # leave garbage where db's allocation may land
        dA_prev, dW, db = course.linear_backward(dZ, (np.ones((0, 4)), np.ones((n, 0)), None))
        np.testing.assert_allclose(db, dZ.mean(axis=1, keepdims=True), rtol=1e-12)
        assert dW.shape == (n, 0) and dA_prev.shape == (0, 4)


@pytest.mark.parametrize("b", [np.ones((2, 1), dtype=object), np.ones((2, 1), dtype=complex),
                               np.array([["x"], ["y"]]), None])
def test_course_bias_of_another_kind_is_a_type_error(b):
    # such a b broadcast into Z reached the activation kernel as object or complex values and
    # raised Numba's typing error
    with pytest.raises(TypeError, match="b must hold real numbers"):
        course.linear_activation_forward(np.ones((3, 4)), np.ones((2, 3)), b[:1] if (
            b is not None and b.ndim == 2) else b, "relu")


def test_course_bias_that_broadcasts_beyond_2d_is_a_value_error():
    with pytest.raises(ValueError, match="must broadcast to 2-D"):
        course.linear_forward(np.ones((3, 4)), np.ones((2, 3)), np.ones((1, 1, 1)))


def test_update_parameters_refuses_arrays_of_another_kind():
    params = {"W1": np.ones((2, 3)), "b1": np.ones((2, 1), dtype=object)}
    with pytest.raises(TypeError, match="b1 must hold real numbers"):
        course.update_parameters(params, {"dW1": np.ones((2, 3)), "db1": np.ones((2, 1))}, 0.1)


def test_gradient_check_of_something_else_is_a_type_error():
    with pytest.raises(TypeError, match="needs a fastbp.Network"):
        gradient_check(object(), np.ones((2, 2)), np.ones((1, 2)))


def test_a_forged_file_asking_for_huge_layers_is_refused_before_allocating(tmp_path):
    net = Network([3, 4, 2], seed=0)
    net.save(tmp_path / "good.npz")
    with np.load(tmp_path / "good.npz", allow_pickle=False) as archive:
        contents = {key: archive[key] for key in archive.files}
    contents["layer_dims"] = np.array([20000, 20000, 2])      # 3.2 GB of parameters
    np.savez(tmp_path / "forged.npz", **contents)
    tracemalloc.start()
    with pytest.raises(ValueError, match="do not fit the architecture"):
        Network.load(tmp_path / "forged.npz")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * 2**20
    contents["layer_dims"] = np.array([3, 4, 2])
    contents["samples_seen"] = np.array(-5)
    np.savez(tmp_path / "negative.npz", **contents)
    with pytest.raises(ValueError, match="samples_seen -5 is negative"):
        Network.load(tmp_path / "negative.npz")
    contents["samples_seen"] = np.array(0)
    contents["rng_state"] = np.array(json.dumps({"bit_generator": "PCG64", "state": 3}))
    np.savez(tmp_path / "generator.npz", **contents)
    with pytest.raises(ValueError, match="damaged"):
        Network.load(tmp_path / "generator.npz")
