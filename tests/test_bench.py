"""The benchmark package's own NumPy code: the lean peer trains the reference's network, the
course-loop workload runs the course's loop, and thread settings are what the tables say.

These check answers, never speed.
"""
import numpy as np
import pytest

from fastbp import reference as ref
from fastbp.bench import course_loop, lean, trainers, workloads
from fastbp.bench.runner import Runner

from _helpers import HIDDEN_ACTIVATIONS, N_OUTPUTS, OUTPUTS, assert_close


def network(hidden, output, dtype, m=37, seed=0):
    """A 6-5-4-n_L network's data and starting parameters (two hidden layers)."""
    dims = (6, 5, 4, N_OUTPUTS[output])
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((dims[0], m)).astype(dtype)
    if output == "softmax":
        Y = np.eye(dims[-1], dtype=dtype)[:, rng.integers(0, dims[-1], m)]
    elif output == "sigmoid":
        Y = (rng.random((dims[-1], m)) < 0.5).astype(dtype)
    else:
        Y = rng.standard_normal((dims[-1], m)).astype(dtype)
    return X, Y, ref.init_parameters(dims, rng, dtype), (hidden, hidden)


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
def test_lean_epochs_give_the_reference_parameters(hidden, output):
    X, Y, start, activations = network(hidden, output, np.float64)
    expected = {key: value.copy() for key, value in start.items()}
    actual = {key: value.copy() for key, value in start.items()}
    orders = np.random.default_rng(1)
    for _ in range(3):
        order = orders.permutation(X.shape[1])  # batches of 10, the last one of 7
        ref.sgd_epoch(X, Y, expected, activations, output, 0.5, batch_size=10, order=order)
        assert lean.sgd_epoch(X, Y, actual, activations, output, 0.5, batch_size=10,
                              order=order) is None
    ref.sgd_epoch(X, Y, expected, activations, output, 0.5)  # a full batch, in place
    lean.sgd_epoch(X, Y, actual, activations, output, 0.5)
    for key in start:
        assert actual[key].dtype == np.float64
        assert not np.array_equal(actual[key], start[key]), key  # it trained
        assert_close(actual[key], expected[key], tol=1e-12, what=key)


@pytest.mark.parametrize("output", OUTPUTS)
def test_lean_gradients_and_outputs_match_the_reference_in_float32(output):
    X, Y, parameters, activations = network("tanh", output, np.float32)
    AL, caches = ref.forward(X, parameters, activations, output)
    expected = ref.backward(AL, Y, caches, activations)
    outputs = lean.forward(X, parameters, activations, output)
    assert [A.shape for A in outputs[1:]] == [c[3].shape for c in caches]
    assert_close(outputs[-1], AL, np.float32, what="AL")
    grads = lean.gradients(outputs, Y, parameters, activations)
    assert set(grads) == set(expected)
    for key in expected:
        assert grads[key].dtype == np.float32
        assert_close(grads[key], expected[key], np.float32, what=key)


def test_lean_trainer_follows_the_reference_trainer():
    """Same workload, seed and shuffling: the two trainers end with the same network."""
    workload = workloads.Workload("small", (8, 6, 3), "softmax", m=50, batch_size=16)
    reference = trainers.make_trainer("reference", workload)
    leanest = trainers.make_trainer("lean", workload)
    assert np.isfinite(reference.train(3))
    assert leanest.train(3) is None  # no cost while training ...
    for key in reference.parameters:
        assert_close(leanest.parameters[key], reference.parameters[key], tol=1e-12, what=key)
    # ... but on demand: the cost of the trained parameters
    w = workload
    trained_cost, _ = ref.loss_and_gradient(reference.X, reference.Y, reference.parameters,
                                            w.hidden_activations, w.output)
    assert leanest.cost() == pytest.approx(trained_cost, rel=1e-12)
    assert_close(leanest.outputs(reference.X[:, :5]), reference.outputs(reference.X[:, :5]),
                 tol=1e-12)
    assert_close(leanest.forward_backward()["dW1"], reference.forward_backward()["dW1"],
                 tol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("output, dims", [("sigmoid", (8, 6, 1)), ("softmax", (8, 6, 3))])
def test_torch_peer_trains_the_reference_network(output, dims):
    """Full batch (no shuffling to differ): PyTorch's SGD ends where the reference does."""
    pytest.importorskip("torch")
    from fastbp.bench import peers

    workload = workloads.Workload("small", dims, output, m=40, hidden="tanh")
    reference = trainers.make_trainer("reference", workload, learning_rate=0.5)
    torch_peer = peers.TorchTrainer(workload, learning_rate=0.5)
    cost = reference.train(4)
    assert torch_peer.train(4) == pytest.approx(cost, rel=1e-10)
    layers = [layer for layer in torch_peer.model if hasattr(layer, "weight")]
    for l, layer in enumerate(layers, 1):
        assert_close(layer.weight.detach().numpy(), reference.parameters[f"W{l}"], tol=1e-10)
        assert_close(layer.bias.detach().numpy(), reference.parameters[f"b{l}"][:, 0],
                     tol=1e-10)


def test_course_loop_numpy_is_the_reference_course_model():
    """The benchmark's loop on the course's NumPy functions is the course's L_layer_model."""
    X, Y = course_loop.make_data()
    assert X.shape == (12288, 209) and Y.shape == (1, 209)
    assert 0 <= X.min() and X.max() < 1 and set(np.unique(Y)) == {0.0, 1.0}
    X, dims = X[:30], (30, 5, 3, 1)  # the same loop on a smaller first layer
    parameters, costs = course_loop.course_loop(ref, X, Y, dims, 0.0075, 3)
    expected, expected_costs = ref.L_layer_model(X, Y, list(dims), 0.0075, 3)
    assert costs == expected_costs and len(costs) == 1
    for key in expected:
        np.testing.assert_array_equal(parameters[key], expected[key])


def test_course_loop_unknown_implementation():
    with pytest.raises(ValueError, match="L_layer_model"):
        course_loop.trainer("jax")


def test_default_threads_leave_the_pool_unset():
    default = Runner("fastbp").environment()
    assert "NUMBA_NUM_THREADS" not in default and "OMP_NUM_THREADS" not in default
    assert default["OPENBLAS_NUM_THREADS"] == "1"
    assert "default" in Runner("fastbp").setting() and Runner("fastbp").label == "default"
    lean_two = Runner("lean", 2).environment()
    assert lean_two["OPENBLAS_NUM_THREADS"] == "2" and lean_two["NUMBA_NUM_THREADS"] == "1"
    assert Runner("L_layer_model", 1).environment()["NUMBA_NUM_THREADS"] == "1"
    assert Runner("numpy", 2).environment()["OPENBLAS_NUM_THREADS"] == "2"


@pytest.mark.parametrize("case", ["digits-sgd", "diabetes-adam"])
def test_the_estimator_cases_fit_every_epoch_on_the_same_arguments(case):
    # issue 12's estimator table times whole fits per epoch: both libraries must run exactly the
    # epochs asked for, from the same arguments, to comparable losses
    from fastbp.bench import estimator_cases
    X, y = estimator_cases.load_data(case)
    losses = []
    for library in estimator_cases.LIBRARIES:
        seconds, estimator = estimator_cases.fit_seconds(library, case, 4, X, y)
        assert seconds > 0 and estimator.n_iter_ == 4 and len(estimator.loss_curve_) == 4
        assert estimator.get_params()["hidden_layer_sizes"] == \
            estimator_cases.CASES[case][2]["hidden_layer_sizes"]
        losses.append(estimator.loss_)
    assert losses[0] == pytest.approx(losses[1], rel=0.2)
    with pytest.raises(ValueError, match="library"):
        estimator_cases.make_estimator("torch", case, 4)


@pytest.mark.parametrize("spec", ["20-10-1:m=64:batch=full", "64-128-10:softmax:m=1797:batch=64",
                                  "12288-20-7-5-1:m=209:batch=full", "7-5-3-2:m=50:batch=16"])
def test_epoch_products_are_the_flops_of_an_epoch(spec):
    """scripts/floors.py times these products: they must be the epoch's, shape for shape. Their
    multiply-adds add up to flops_per_epoch; a last, partial minibatch has shapes of its own, and
    the first layer has no input gradient."""
    workload = workloads.parse_workload(spec)
    products = workloads.epoch_products(workload)
    macs = sum(count * rows * depth * cols
               for (rows, depth, cols, _, _), count in products.items())
    assert 2 * macs == workloads.flops_per_epoch(workload)
    steps = workload.steps_per_epoch
    layers = len(workload.layer_dims) - 1
    assert sum(products.values()) == steps * (3 * layers - 1)
    if spec.startswith("7-5-3-2"):
        # 50 = 3 x 16 + 2: the last minibatch's forward product of the first layer
        assert products[(5, 7, 2, False, False)] == 1
        assert products[(5, 7, 16, False, False)] == 3
