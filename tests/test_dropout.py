"""Dropout on hidden layers (``Network(dropout=...)``, the estimators' ``dropout=``).

With fixed masks the kernels' loss and gradient are checked against fastbp.reference (the course's
``A = A * D / keep_prob``), finite differences and torch autograd; the masks a fit draws against
the splitmix64 stream they are defined by, replayed through the reference's SGD; then
reproducibility, thread independence, dropout=0 changing nothing, the dropped fraction, the whole
network at predict time, save/load, and the estimators.
"""
import pickle

import numba
import numpy as np
import pytest

import fastbp
from fastbp import MLPClassifier, MLPRegressor, Network
from fastbp import reference as ref
from fastbp.kernels import dropout as kd
from fastbp.kernels import loop

from _helpers import (HIDDEN_ACTIVATIONS, OUTPUTS, assert_close, assert_grads_close,
                      make_targets, parameters_of, snapshot)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

DIMS = [5, 7, 6, 3]
RATES = [0.5, 0.3]

GAMMA = np.uint64(0x9E3779B97F4A7C15)


def splitmix_stream(state, count):
    """``count`` outputs of ``loop.next_random`` from ``state`` (an int), and the state after."""
    with np.errstate(over="ignore"):
        states = np.uint64(state) + GAMMA * np.arange(1, count + 1, dtype=np.uint64)
        z = states.copy()
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z, int(states[-1]) if count else state


def masks_from_stream(state, dims, rates, m):
    """The masks D (0/1, per hidden layer, None where not dropped) that ``draw_masks`` draws for
    a batch of ``m``, and the state after."""
    masks = []
    for l in range(1, len(dims) - 1):
        if rates[l - 1] == 0:
            masks.append(None)
            continue
        z, state = splitmix_stream(state, dims[l] * m)
        u = (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
        masks.append((u < 1.0 - rates[l - 1]).reshape(dims[l], m))
    return masks, state


def problem(hidden, output, dtype=np.float64, m=11, seed=0, rates=RATES, dims=DIMS):
    rng = np.random.default_rng(seed)
    dims = list(dims[:-1]) + [{"sigmoid": 2, "softmax": 3, "linear": 2}[output]]
    net = Network(dims, hidden, output, dtype=dtype, seed=seed, dropout=rates)
    X = rng.standard_normal((dims[0], m))
    Y = np.ascontiguousarray(make_targets(rng, output, dims[-1], m))
    return net, X, Y


def random_masks(net, m, seed=1):
    rng = np.random.default_rng(seed)
    return [None if rate == 0 else rng.random((net.layer_dims[l], m)) < 1.0 - rate
            for l, rate in enumerate(net.dropout, start=1)]


def fixed_mask_work(net, masks, m):
    """A training workspace of ``net`` holding the given masks (as the kernels store them)."""
    work = net._work(m)
    act_off, stored = work[0], work[1]
    mask_off = act_off[len(net.layer_dims):]
    for l, D in enumerate(masks, start=1):
        if D is not None:
            n = net.layer_dims[l]
            factor = net.dtype.type(1.0 / (1.0 - net.dropout[l - 1]))
            stored[mask_off[l]:mask_off[l] + n * m].reshape(n, m)[...] = D * factor
    return work


def kernel_loss_and_gradient(net, X, Y, masks, alpha=0.0, weights=None):
    """Loss and gradient dict of ``net`` on (X, Y) with the given masks, by the kernels."""
    m = X.shape[1]
    work = fixed_mask_work(net, masks, m)
    weighted = weights is not None
    w = np.ascontiguousarray(weights, net.dtype) if weighted else np.empty(0, net.dtype)
    cost = loop.loss_and_gradient(np.ascontiguousarray(X, net.dtype),
                                  np.ascontiguousarray(Y, net.dtype), w, weighted, float(alpha),
                                  net._model(training=True), work)
    return cost, net._gradient_dict(work[6])


def reference_masks(net, masks):
    return [None if D is None else (D.astype(np.float64), 1.0 - rate)
            for D, rate in zip(masks, net.dropout)]


# ------------------------------------------------------------------ fixed masks: the gradient
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
def test_loss_and_gradient_with_fixed_masks_match_the_reference(hidden, output, dtype):
    net, X, Y = problem(hidden, output, dtype, m=13, seed=3)
    masks = random_masks(net, 13, seed=4)
    weights = np.random.default_rng(5).random(13) + 0.1
    for alpha, w in ((0.0, None), (0.3, weights)):
        cost, grads = kernel_loss_and_gradient(net, X, Y, masks, alpha, w)
        expected_cost, expected = ref.loss_and_gradient(
            X, Y, parameters_of(net), net.activations, net.output, sample_weight=w, alpha=alpha,
            dropout=reference_masks(net, masks))
        assert_close(cost, expected_cost, dtype, what=f"cost alpha={alpha}")
        assert_grads_close(grads, expected, dtype, what=f"alpha={alpha} ")
    # and they are not the gradient without dropout
    _, whole = ref.loss_and_gradient(X, Y, parameters_of(net), net.activations, net.output)
    assert not np.allclose(grads["dW1"], whole["dW1"], rtol=1e-2)


@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
def test_fixed_mask_gradient_matches_finite_differences(hidden):
    # forward_loss with the training model applies the workspace's masks without drawing new
    # ones: the loss with fixed masks, differentiated numerically
    net, X, Y = problem(hidden, "softmax", m=9, seed=6, rates=[0.4, 0.25])
    masks = random_masks(net, 9, seed=7)
    _, grads = kernel_loss_and_gradient(net, X, Y, masks, alpha=0.2)
    work = fixed_mask_work(net, masks, 9)
    model = net._model(training=True)
    theta, original = net._theta, net._theta.copy()
    numeric = np.empty(theta.size)
    epsilon = 1e-6
    empty = np.empty(0)
    for i in range(theta.size):
        theta[i] = original[i] + epsilon
        plus = loop.forward_loss(X, Y, empty, False, 0.2, model, work)
        theta[i] = original[i] - epsilon
        minus = loop.forward_loss(X, Y, empty, False, 0.2, model, work)
        theta[i] = original[i]
        numeric[i] = (plus - minus) / (2 * epsilon)
    analytic = np.concatenate([np.concatenate([grads[f"dW{l}"].ravel(), grads[f"db{l}"].ravel()])
                               for l in range(1, 4)])
    difference = (np.linalg.norm(analytic - numeric)
                  / (np.linalg.norm(analytic) + np.linalg.norm(numeric)))
    assert difference < 1e-7, difference


def _torch_pass(torch, net, X, Y, masks):
    """Cost and gradients by torch autograd, the masks applied by hand (torch's own dropout
    draws from its own generator)."""
    functional = torch.nn.functional
    params = {key: torch.tensor(np.array(value, dtype=np.float64), requires_grad=True)
              for key, value in net.parameters.items()}
    hidden = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
              "leaky_relu": lambda z: functional.leaky_relu(z, 0.01), "linear": lambda z: z}
    A = torch.tensor(np.asarray(X, np.float64))
    Yt = torch.tensor(np.asarray(Y, np.float64))
    L = len(net.layer_dims) - 1
    for l in range(1, L + 1):
        Z = params[f"W{l}"] @ A + params[f"b{l}"]
        if l < L:
            A = hidden[net.activations[l - 1]](Z)
            if masks[l - 1] is not None:
                A = A * torch.tensor(masks[l - 1].astype(np.float64)) / (1 - net.dropout[l - 1])
    m = X.shape[1]
    if net.output == "sigmoid":
        cost = functional.binary_cross_entropy_with_logits(Z, Yt, reduction="sum") / m
    elif net.output == "softmax":
        cost = -(Yt * torch.log_softmax(Z, dim=0)).sum() / m
    else:
        cost = 0.5 * ((Z - Yt) ** 2).sum() / m
    cost.backward()
    return float(cost.detach()), {"d" + key: value.grad.numpy() for key, value in params.items()}


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("hidden", ["relu", "tanh", "sigmoid"])
def test_fixed_mask_gradient_matches_torch_autograd(hidden, output, dtype):
    torch = pytest.importorskip("torch")
    net, X, Y = problem(hidden, output, dtype, m=10, seed=8, dims=[6, 9, 5, 0])
    masks = random_masks(net, 10, seed=9)
    cost, grads = kernel_loss_and_gradient(net, X, Y, masks)
    expected_cost, expected = _torch_pass(torch, net, X.astype(dtype), Y, masks)
    assert_close(cost, expected_cost, dtype, what="cost")
    assert_grads_close(grads, {k: v.astype(dtype) for k, v in expected.items()}, dtype)


def test_one_dropped_layer_among_others():
    # per-layer rates: the undropped layer is the plain network's
    net, X, Y = problem("tanh", "linear", m=8, seed=10, rates=[0.0, 0.0, 0.6],
                        dims=[4, 5, 6, 7, 0])
    masks = random_masks(net, 8, seed=11)
    assert masks[0] is None and masks[1] is None and masks[2] is not None
    cost, grads = kernel_loss_and_gradient(net, X, Y, masks)
    expected_cost, expected = ref.loss_and_gradient(X, Y, parameters_of(net), net.activations,
                                                    net.output,
                                                    dropout=reference_masks(net, masks))
    assert_close(cost, expected_cost)
    assert_grads_close(grads, expected)


# ------------------------------------------------------------------ the masks a fit draws
def test_draw_masks_is_the_splitmix_stream_and_drops_the_rate():
    dims = np.array([3, 400, 300, 2], np.int64)
    m = 50
    keep = np.array([1.0, 0.7, 0.25, 1.0])
    for dtype in (np.float32, np.float64):
        net = Network(list(dims), dtype=dtype, dropout=[0.3, 0.75])
        work = net._work(m)
        state = np.array([123456789], np.uint64)
        kd.draw_masks(state, keep, dims, m, work[0], work[1])
        expected, after = masks_from_stream(123456789, list(dims), [0.3, 0.75], m)
        assert int(state[0]) == after
        # the state moved exactly as that many loop.next_random calls move it
        check = np.array([123456789], np.uint64)
        for _ in range(int(dims[1] + dims[2]) * m):
            loop.next_random(check)
        assert check[0] == state[0]
        mask_off, masks = work[0][len(dims):], work[1]
        for l, D in enumerate(expected, start=1):
            n = int(dims[l])
            mask = masks[mask_off[l]:mask_off[l] + n * m].reshape(n, m)
            factor = np.dtype(dtype).type(1.0 / keep[l])
            np.testing.assert_array_equal(mask, np.where(D, factor, 0).astype(dtype))
            dropped = 1.0 - D.mean()
            sigma = np.sqrt(keep[l] * (1 - keep[l]) / D.size)
            assert abs(dropped - (1 - keep[l])) < 5 * sigma, (l, dropped)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("hidden", ["relu", "sigmoid"])
def test_fit_replays_through_the_reference_sgd(hidden, dtype):
    # unshuffled minibatches (a short last one), two epochs: every batch's masks are the next
    # ones of the stream seeded as fit seeds it, and plain SGD on the reference's gradients
    # with those masks gives the fitted parameters
    net, X, Y = problem(hidden, "softmax", dtype, m=23, seed=12, rates=[0.5, 0.2])
    params = {key: value.astype(np.float64) for key, value in parameters_of(net).items()}
    net.fit(X, Y, epochs=2, batch_size=8, learning_rate=0.1, shuffle=False, seed=21)
    state = int(np.random.default_rng(21).integers(0, 2**63, size=1, dtype=np.int64)[0])
    costs = []
    for epoch in range(2):
        total = 0.0
        for start in range(0, 23, 8):
            Xb, Yb = X[:, start:start + 8], Y[:, start:start + 8]
            masks, state = masks_from_stream(state, net.layer_dims, net.dropout, Xb.shape[1])
            cost, grads = ref.loss_and_gradient(Xb, Yb, params, net.activations, net.output,
                                                dropout=reference_masks(net, masks))
            total += cost * Xb.shape[1]
            for key in grads:
                params[key[1:]] -= 0.1 * grads[key]
        costs.append(total / 23)
    tol = 1e-9 if dtype == np.float64 else 2e-4
    np.testing.assert_allclose(net.history, costs, rtol=tol)
    for key, value in params.items():
        assert_close(net.parameters[key], value, dtype, tol=tol, what=key)


def test_fit_is_reproducible_from_the_seed():
    X, Y = problem("relu", "softmax", m=40)[1:]

    def fit(seed):
        net = Network([5, 7, 6, 3], "relu", "softmax", seed=0, dropout=0.5)
        net.fit(X, Y, epochs=3, batch_size=9, learning_rate=0.1, seed=seed)
        return snapshot(net), list(net.history)

    one, history = fit(4)
    again, history_again = fit(4)
    other, history_other = fit(5)
    assert history == history_again
    for key in one:
        np.testing.assert_array_equal(one[key], again[key])
    assert history != history_other


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                    reason="numba runs with fewer than 2 threads here")
def test_fit_with_dropout_is_bit_identical_with_1_and_2_threads(restore_threads):
    # big enough for the parallel products and update (see test_threads)
    dims, batch = [96, 512, 400, 80], 64
    rng = np.random.default_rng(0)
    X = rng.standard_normal((dims[0], 2 * batch + 9))
    Y = make_targets(rng, "softmax", dims[-1], X.shape[1])

    def fit(threads):
        numba.set_num_threads(threads)
        net = Network(dims, ["tanh", "relu"], "softmax", seed=0, dropout=[0.3, 0.5])
        net.fit(X, Y, epochs=2, batch_size=batch, learning_rate=0.05, seed=3)
        return snapshot(net), list(net.history)

    one, history_one = fit(1)
    two, history_two = fit(2)
    assert history_one == history_two
    for key in one:
        np.testing.assert_array_equal(one[key], two[key], err_msg=key)


def test_dropout_zero_is_the_network_without_dropout_bit_for_bit():
    X, Y = problem("tanh", "softmax", m=30)[1:]
    runs = []
    for kwargs in ({}, {"dropout": 0.0}, {"dropout": [0, 0]}, {"dropout": np.float32(0)}):
        net = Network([5, 7, 6, 3], "tanh", "softmax", seed=2, **kwargs)
        net.fit(X, Y, epochs=2, batch_size=7, optimizer="adam", learning_rate=0.01, seed=6)
        net.fit(X, Y, epochs=1)   # a full batch too
        assert net._model(training=True)[6].size == 0   # the kernels' no-dropout path
        runs.append((snapshot(net), list(net.history)))
    for params, history in runs[1:]:
        assert history == runs[0][1]
        for key in params:
            np.testing.assert_array_equal(params[key], runs[0][0][key])


def test_dropout_changes_training_and_nothing_else():
    X, Y = problem("relu", "softmax", m=30)[1:]
    plain = Network([5, 7, 6, 3], "relu", "softmax", seed=2)
    dropped = Network([5, 7, 6, 3], "relu", "softmax", seed=2, dropout=0.5)
    for net in (plain, dropped):
        net.fit(X, Y, epochs=2, batch_size=10, seed=1)
    assert plain.history != dropped.history
    # the whole network at predict time: forward, predict, cost, gradient check
    params = parameters_of(dropped)
    AL, caches = ref.forward(X, params, dropped.activations, dropped.output)
    assert_close(dropped.forward(X), AL)
    np.testing.assert_array_equal(dropped.predict(X), AL.argmax(axis=0))
    for _ in range(2):   # nothing random left in predictions
        np.testing.assert_array_equal(dropped.forward(X), dropped.forward(X))
    assert_close(dropped.cost(X, Y), ref.loss(caches[-1][3], AL, Y, "softmax"))
    grads = dropped.backward(Y)
    assert_grads_close(grads, ref.backward(AL, Y, caches, dropped.activations))
    assert fastbp.gradient_check(dropped, X[:, :6], Y[:, :6]) < 1e-7


def test_validation_scores_use_the_whole_network():
    X, Y = problem("relu", "softmax", m=40)[1:]
    net = Network([5, 7, 6, 3], "relu", "softmax", seed=2, dropout=0.6)
    seen = []
    net.fit(X, Y, epochs=3, batch_size=10, validation_data=(X, Y), seed=0,
            callbacks=[lambda epoch, history: seen.append(net.cost(X, Y))])
    assert net.history.validation_cost == seen


# ------------------------------------------------------------------ arguments, save and load
@pytest.mark.parametrize("bad", [1.0, -0.1, np.nan, "0.5", True, [0.1], [0.1, 0.2, 0.3],
                                 [0.1, 1.5], None])
def test_bad_dropout_is_refused(bad):
    with pytest.raises(ValueError, match="dropout"):
        Network(DIMS, dropout=bad)
    net = Network(DIMS, dropout=0.2)
    with pytest.raises(ValueError, match="dropout"):
        net.dropout = bad
    assert net.dropout == (0.2, 0.2)


def test_dropout_setter_changes_the_next_fit():
    X, Y = problem("relu", "softmax", m=20)[1:]
    net = Network(DIMS, "relu", "softmax", seed=0)
    net.fit(X, Y, epochs=1, batch_size=5, seed=0)
    net.dropout = [0.5, 0.0]
    assert net.dropout == (0.5, 0.0)
    assert "dropout=[0.5, 0.0]" in repr(net)
    net.fit(X, Y, epochs=1, batch_size=5, seed=0)
    twin = Network(DIMS, "relu", "softmax", seed=0)
    twin.fit(X, Y, epochs=1, batch_size=5, seed=0)
    twin.fit(X, Y, epochs=1, batch_size=5, seed=0)
    assert net.history[0] == twin.history[0] and net.history[1] != twin.history[1]


def test_save_load_and_pickle_keep_the_dropout(tmp_path):
    X, Y = problem("tanh", "softmax", m=20)[1:]
    net = Network(DIMS, "tanh", "softmax", seed=0, dropout=[0.25, 0.5])
    net.fit(X, Y, epochs=1, batch_size=5, seed=0)
    path = tmp_path / "net.npz"
    net.save(path)
    loaded = Network.load(path)
    unpickled = pickle.loads(pickle.dumps(net))
    assert np.load(path)["format_version"] == 2
    for copy in (loaded, unpickled):
        assert copy.dropout == (0.25, 0.5)
        # the same continued training (parameters, optimizer and generator state, dropout)
        net_copy = pickle.loads(pickle.dumps(net))
        net_copy.fit(X, Y, epochs=2, batch_size=5)
        copy.fit(X, Y, epochs=2, batch_size=5)
        assert copy.history == net_copy.history
    # without dropout the file stays format 1, which older fastbp reads
    Network(DIMS).save(tmp_path / "plain.npz")
    assert np.load(tmp_path / "plain.npz")["format_version"] == 1
    assert Network.load(tmp_path / "plain.npz").dropout == (0.0, 0.0)


def test_damaged_dropout_in_a_file_is_refused(tmp_path):
    Network(DIMS, dropout=0.5).save(tmp_path / "net.npz")
    contents = dict(np.load(tmp_path / "net.npz"))
    for value, match in ((np.array([0.5, 1.5]), "dropout"), (np.array([0.5]), "dropout"),
                         (np.array("x"), "dropout"), (None, "dropout")):
        changed = dict(contents)
        if value is None:
            del changed["dropout"]
        else:
            changed["dropout"] = value
        np.savez(tmp_path / "bad.npz", **changed)
        with pytest.raises(ValueError, match=match):
            Network.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_masks_live_in_the_training_workspace_on_cache_lines(dtype):
    net = Network([37, 29, 5, 11, 3], ["tanh", "relu", "sigmoid"], dtype=dtype,
                  dropout=[0.5, 0.5, 0.0])
    act_off, acts = net._work(45)[:2]
    layers = 5
    mask_off, raw_off = act_off[layers:2 * layers], act_off[2 * layers:]
    itemsize = np.dtype(dtype).itemsize
    # the masks and the copy come after every layer's activations in the activations' buffer
    end_of_activations = act_off[layers - 1] + 45 * 3
    assert min(mask_off[1], mask_off[2], raw_off[1]) >= end_of_activations
    assert acts.size >= raw_off[1] + 45 * 29 and acts.ctypes.data % 64 == 0
    assert all(offset * itemsize % 64 == 0 for offset in (mask_off[1], mask_off[2], raw_off[1]))
    regions = sorted([(mask_off[1], 29 * 45), (raw_off[1], 29 * 45), (mask_off[2], 5 * 45)])
    assert all(start + size <= after for (start, size), (after, _) in zip(regions, regions[1:]))
    # a copy before the mask only where g' reads A (tanh, sigmoid), and only for dropped layers
    assert list(raw_off[2:]) == [-1, -1, -1]
    # layers without a mask point past the end of the buffer
    assert mask_off[3] == acts.size
    for purpose in ("forward", "predict"):
        work = net._work(45, purpose)
        assert (work[0][layers:2 * layers] == work[1].size).all()


def test_a_workspace_without_masks_raises_instead_of_writing_past_it():
    net, X, Y = problem("relu", "softmax", m=6)
    kd.prepare_dropout(net.dtype)
    work = net._work(6, "forward")   # no masks: only the training workspace has them
    with pytest.raises(IndexError):
        loop.forward_loss(X, Y, np.empty(0), False, 0.0, net._model(training=True), work)


# ------------------------------------------------------------------ the estimators
def _classification(m=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, 6))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int) + (X[:, 3] > 1)
    return X, y


def test_estimators_default_to_no_dropout():
    for Estimator in (MLPClassifier, MLPRegressor):
        assert Estimator().get_params()["dropout"] == 0.0
    X, y = _classification()
    plain = MLPClassifier((8,), max_iter=5, random_state=0).fit(X, y)
    zero = MLPClassifier((8,), max_iter=5, random_state=0, dropout=0.0).fit(X, y)
    assert plain.loss_curve_ == zero.loss_curve_
    for a, b in zip(plain.coefs_, zero.coefs_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_estimators_train_with_dropout_reproducibly(dtype):
    X, y = _classification()
    fits = [MLPClassifier((16, 8), max_iter=40, random_state=1, dropout=[0.2, 0.5],
                          learning_rate_init=0.02, dtype=dtype).fit(X, y) for _ in range(2)]
    plain = MLPClassifier((16, 8), max_iter=40, random_state=1, learning_rate_init=0.02,
                          dtype=dtype).fit(X, y)
    assert fits[0].loss_curve_ == fits[1].loss_curve_
    assert fits[0].loss_curve_ != plain.loss_curve_
    assert fits[0]._network.dropout == (0.2, 0.5)
    # predictions use the whole network: deterministic, and the reference forward pass
    proba = fits[0].predict_proba(X)
    np.testing.assert_array_equal(proba, fits[0].predict_proba(X))
    AL, _ = ref.forward(X.T, parameters_of(fits[0]._network), ["relu", "relu"], "softmax")
    assert_close(proba, AL.T, dtype)
    assert fits[0].score(X, y) > 0.75   # it learns (the commonest class: 0.47)
    regressor = MLPRegressor(hidden_layer_sizes=(10,), max_iter=10, random_state=0, dropout=0.3, dtype=dtype,
                             solver="sgd", early_stopping=True).fit(X, X[:, 0])
    assert len(regressor.validation_scores_) == regressor.n_iter_


def test_lbfgs_with_dropout_is_refused_before_anything_changes():
    X, y = _classification()
    clf = MLPClassifier((8,), solver="lbfgs", dropout=0.5, max_iter=5)
    with pytest.raises(ValueError, match="dropout needs solver='sgd' or 'adam'.*L-BFGS"):
        clf.fit(X, y)
    assert not hasattr(clf, "coefs_")
    fitted = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=5, random_state=0).fit(X, X[:, 0])
    before = [c.copy() for c in fitted.coefs_]
    fitted.set_params(dropout=0.1, warm_start=True)
    with pytest.raises(ValueError, match="deterministic"):
        fitted.fit(X, X[:, 0])
    for a, b in zip(before, fitted.coefs_):
        np.testing.assert_array_equal(a, b)
    MLPClassifier((8,), solver="lbfgs", dropout=0.0, max_iter=5).fit(X, y)   # 0 is fine


@pytest.mark.parametrize("bad", [1.0, -0.5, "high", [0.1, 0.2]])
def test_estimators_refuse_bad_dropout(bad):
    X, y = _classification()
    with pytest.raises(ValueError):
        MLPClassifier((8,), dropout=bad, max_iter=2).fit(X, y)


def test_warm_start_and_partial_fit_follow_the_dropout_parameter():
    X, y = _classification()
    clf = MLPClassifier((8,), max_iter=3, random_state=0, warm_start=True).fit(X, y)
    clf.set_params(dropout=0.4)
    clf.fit(X, y)
    assert clf._network.dropout == (0.4,)
    clf.set_params(dropout=0.0)
    clf.partial_fit(X, y)
    assert clf._network.dropout == (0.0,)
