"""Back-propagated gradients against finite differences (fastbp.gradient_check) and torch autograd.

For every hidden activation and every matched output/loss pair: the float64 gradient check is
below 1e-7, the check leaves the parameters bit-identical, and (when torch is importable) the
output, cost and gradients agree with torch's autograd in float64.
"""
import numpy as np
import pytest

from fastbp import Network, gradient_check

from _helpers import (HIDDEN_ACTIVATIONS, N_OUTPUTS, OUTPUTS, assert_close,
                      assert_parameters_identical, make_targets, snapshot)


def _problem(hidden, output, seed, dims=(3, 5, 4), m=6, dtype=np.float64):
    """A small network with random non-zero biases, and data away from relu's kink."""
    rng = np.random.default_rng(seed)
    n_out = N_OUTPUTS[output]
    layer_dims = list(dims) + [n_out]
    net = Network(layer_dims, activations=hidden, output=output, dtype=dtype, seed=seed)
    for l in range(1, len(layer_dims)):
        net.parameters[f"b{l}"] = 0.2 * rng.standard_normal((layer_dims[l], 1))
    X = rng.standard_normal((dims[0], m))
    Y = make_targets(rng, output, n_out, m)
    return net, X, Y


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
def test_gradient_check_float64_below_1e_7(hidden, output):
    net, X, Y = _problem(hidden, output, seed=7)
    before = snapshot(net)
    difference = gradient_check(net, X, Y)
    assert 0 <= difference < 1e-7, f"{hidden}/{output}: relative difference {difference:.2e}"
    assert_parameters_identical(net, before)


def test_gradient_check_of_a_network_without_hidden_layer():
    net = Network([4, 3], output="softmax", seed=2)
    rng = np.random.default_rng(2)
    X = rng.standard_normal((4, 5))
    assert gradient_check(net, X, make_targets(rng, "softmax", 3, 5)) < 1e-7


def test_gradient_check_float32_network_agrees_roughly():
    # the docstring's advice for float32: a step of ~1e-3 and agreement to about 1e-3
    net, X, Y = _problem("tanh", "softmax", seed=3, dtype=np.float32)
    before = snapshot(net)
    assert gradient_check(net, X, Y, epsilon=1e-3) < 1e-2
    assert_parameters_identical(net, before)


def test_gradient_check_detects_a_wrong_gradient(monkeypatch):
    """The check is not vacuous: a gradient off by a factor is reported far above 1e-7."""
    net, X, Y = _problem("tanh", "sigmoid", seed=5)
    honest = net._loss_and_gradient

    def doubled(*args, **kwargs):
        cost, grad = honest(*args, **kwargs)
        return cost, 2 * grad

    monkeypatch.setattr(net, "_loss_and_gradient", doubled)
    assert gradient_check(net, X, Y) > 0.1


def test_gradients_match_the_mean_loss_over_examples():
    """Gradients are of the mean loss: duplicating every example leaves them unchanged."""
    net, X, Y = _problem("relu", "softmax", seed=11)
    net.forward(X)
    single = net.backward(Y)
    net.forward(np.hstack([X, X]))
    double = net.backward(np.hstack([Y, Y]))
    for key in single:
        assert_close(double[key], single[key], what=key)


# ---------------------------------------------------------------------------------- torch
def _torch_pass(torch, net, X, Y):
    """Output, cost and parameter gradients of the same network computed by torch autograd."""
    functional = torch.nn.functional
    params = {key: torch.tensor(np.array(value, dtype=np.float64), requires_grad=True)
              for key, value in net.parameters.items()}
    hidden = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
              "leaky_relu": lambda z: functional.leaky_relu(z, 0.01), "linear": lambda z: z}
    A = torch.tensor(X, dtype=torch.float64)
    Yt = torch.tensor(Y, dtype=torch.float64)
    L = len(net.layer_dims) - 1
    for l in range(1, L + 1):
        Z = params[f"W{l}"] @ A + params[f"b{l}"]
        A = hidden[net.activations[l - 1]](Z) if l < L else Z
    m = X.shape[1]
    if net.output == "sigmoid":
        output = torch.sigmoid(Z)
        cost = functional.binary_cross_entropy_with_logits(Z, Yt, reduction="sum") / m
    elif net.output == "softmax":
        output = torch.softmax(Z, dim=0)
        cost = -(Yt * torch.log_softmax(Z, dim=0)).sum() / m
    else:
        output = Z
        cost = 0.5 * ((Z - Yt) ** 2).sum() / m
    cost.backward()
    grads = {"d" + key: value.grad.numpy() for key, value in params.items()}
    return output.detach().numpy(), float(cost.detach()), grads


@pytest.mark.torch
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
def test_matches_torch_autograd(hidden, output):
    torch = pytest.importorskip("torch")
    net, X, Y = _problem(hidden, output, seed=13, dims=(5, 7, 6), m=9)
    AL_torch, cost_torch, grads_torch = _torch_pass(torch, net, X, Y)
    assert_close(net.forward(X), AL_torch, what="AL")
    grads = net.backward(Y)
    assert set(grads) == set(grads_torch)
    for key in grads_torch:
        assert_close(grads[key], grads_torch[key], what=key)
    assert_close(net.cost(X, Y), cost_torch, what="cost")


@pytest.mark.torch
@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
def test_matches_torch_at_logits_of_1e4(output):
    torch = pytest.importorskip("torch")
    net, X, Y = _problem("tanh", output, seed=17)
    L = len(net.layer_dims) - 1
    net.parameters[f"W{L}"] = 3e3 * np.sign(net.parameters[f"W{L}"])  # |Z| of order 1e4
    AL_torch, cost_torch, grads_torch = _torch_pass(torch, net, X, Y)
    assert cost_torch > 100 and np.isfinite(cost_torch)
    assert_close(net.forward(X), AL_torch, what="AL")
    grads = net.backward(Y)
    for key in grads_torch:
        assert_close(grads[key], grads_torch[key], what=key)
    assert_close(net.cost(X, Y), cost_torch, what="cost")
