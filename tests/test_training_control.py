"""What Network.fit does between epochs: validation, early stopping, plateaus, callbacks, the
progress bar, Ctrl-C, NaN/inf, and refused arguments.

validation_data / validation_fraction fill ``history.validation_cost`` and ``validation_score``
once per epoch with the cost and the accuracy (or R²) of the network at that point; early stopping
stops on a plateau of the validation score and restores the parameters of the best epoch;
n_iter_no_change stops on a plateau of the training cost; callbacks get (epoch, history) and can
stop training; verbose shows a tqdm bar; a KeyboardInterrupt ends training cleanly after the last
whole epoch; a NaN or infinite cost raises FloatingPointError with finite parameters and history;
bad arguments raise an error naming the problem and change nothing.
"""
import math

import numpy as np
import pytest

from fastbp import Network
from fastbp import reference as ref
from fastbp.training import Plateau

from _helpers import assert_parameters_identical, make_targets, parameters_of, snapshot


def recorder(network, snapshots):
    """A callback appending a copy of the parameters after every epoch."""
    def callback(epoch, history):
        snapshots.append(snapshot(network))
    return callback


def accuracy_or_r2(network, X, Y, weights=None):
    """The validation score computed here: accuracy (subset accuracy for several sigmoid
    outputs) or R² averaged over outputs."""
    AL = network.forward(X)
    if network.output == "softmax":
        right = AL.argmax(axis=0) == Y.argmax(axis=0)
    elif network.output == "sigmoid":
        right = np.all((AL > 0.5) == (Y > 0.5), axis=0)
    else:
        w = np.ones(Y.shape[1]) if weights is None else weights
        residual = ((Y - AL) ** 2 * w).sum(axis=1)
        mean = (Y * w).sum(axis=1, keepdims=True) / w.sum()
        total = ((Y - mean) ** 2 * w).sum(axis=1)
        return float(np.mean(1 - residual / total))
    return float(np.average(right, weights=weights))


def _data(rng, output, n_out, m, n_in=4):
    X = rng.standard_normal((n_in, m))
    if output == "linear":
        Y = np.vstack([X[0] - 0.5 * X[1] + 0.1 * rng.standard_normal(m) for _ in range(n_out)])
        Y[-1] += X[2]
        return X, Y
    return X, make_targets(rng, output, n_out, m)


def assert_same_parameters(a, b):
    for key in b:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("output, n_out", [("softmax", 3), ("sigmoid", 2), ("linear", 2)])
def test_validation_data_is_scored_after_every_epoch(output, n_out, rng):
    X, Y = _data(rng, output, n_out, 30)
    X_val, Y_val = _data(rng, output, n_out, 11)
    net = Network([4, 6, n_out], activations="tanh", output=output, seed=1)
    seen = []   # what the test computes itself at the end of each epoch

    def score_here(epoch, history):
        assert len(history.validation_cost) == len(history.validation_score) == epoch + 1
        seen.append((net.cost(X_val, Y_val), accuracy_or_r2(net, X_val, Y_val)))

    net.fit(X, Y, epochs=6, batch_size=8, learning_rate=0.1, seed=0,
            validation_data=(X_val, Y_val), callbacks=[score_here])
    assert len(net.history) == 6
    assert len(net.history.validation_cost) == len(net.history.validation_score) == 6
    for epoch, (cost, score) in enumerate(seen):
        assert net.history.validation_cost[epoch] == pytest.approx(cost, rel=1e-12, abs=1e-15)
        assert net.history.validation_score[epoch] == pytest.approx(score, rel=1e-12, abs=1e-15)
    # the last values are those of the final network, checked against the reference too
    AL, caches = ref.forward(X_val, parameters_of(net), net.activations, output)
    expected_cost = ref.loss(caches[-1][3], AL, Y_val, output)
    assert net.history.validation_cost[-1] == pytest.approx(expected_cost, rel=1e-10)
    assert net.history.validation_score[-1] == pytest.approx(
        accuracy_or_r2(net, X_val, Y_val), rel=1e-12)
    assert len(set(net.history.validation_cost)) > 1     # it changes as the network trains
    # a second fit with validation data appends to the lists
    net.fit(X, Y, epochs=2, learning_rate=0.1, validation_data=(X_val, Y_val))
    assert len(net.history.validation_cost) == len(net.history.validation_score) == 8


@pytest.mark.parametrize("output, n_out", [("softmax", 3), ("linear", 2)])
def test_weighted_validation_data(output, n_out, rng):
    X, Y = _data(rng, output, n_out, 24)
    X_val, Y_val = _data(rng, output, n_out, 15)
    w_val = rng.uniform(0.0, 4.0, 15)
    w_val[:3] = 0.0
    net = Network([4, 5, n_out], activations="relu", output=output, seed=2)
    net.fit(X, Y, epochs=3, learning_rate=0.05, validation_data=(X_val, Y_val, w_val))
    AL, caches = ref.forward(X_val, parameters_of(net), net.activations, output)
    expected_cost = ref.loss(caches[-1][3], AL, Y_val, output, sample_weight=w_val)
    assert net.history.validation_cost[-1] == pytest.approx(expected_cost, rel=1e-10)
    assert net.history.validation_score[-1] == pytest.approx(
        accuracy_or_r2(net, X_val, Y_val, w_val), rel=1e-10)
    assert net.history.validation_cost[-1] != pytest.approx(net.cost(X_val, Y_val), rel=1e-6)


def test_validation_fraction_holds_out_examples_and_scores_them(rng):
    X, Y = _data(rng, "softmax", 3, 40)
    fraction, seed = 0.25, 8
    net = Network([4, 6, 3], activations="tanh", output="softmax", seed=3)
    initial = Network([4, 6, 3], activations="tanh", output="softmax", seed=3)
    net.fit(X, Y, epochs=4, learning_rate=0.1, validation_fraction=fraction, seed=seed)
    n_val = math.ceil(fraction * 40)
    assert net.samples_seen_ == 4 * (40 - n_val)           # trained on the rest only
    assert len(net.history.validation_cost) == len(net.history.validation_score) == 4

    # the split the seed makes (as fit documents: the seed drives the split)
    order = np.random.default_rng(seed).permutation(40)
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    # a full batch: the first epoch's cost is the cost of the training part before any update
    assert net.history[0] == pytest.approx(initial.cost(X[:, train], Y[:, train]), rel=1e-12)
    assert net.history.validation_cost[-1] == pytest.approx(net.cost(X[:, val], Y[:, val]),
                                                            rel=1e-12)
    assert net.history.validation_score[-1] == pytest.approx(
        accuracy_or_r2(net, X[:, val], Y[:, val]), rel=1e-12)


# ----------------------------------------------------------------------------- plateaus
def _half_target_problem(rng):
    """Linear regression validated against half the targets: the validation R² rises while the
    predictions grow towards Y/2, peaks, and falls as they go on towards Y."""
    X = rng.standard_normal((3, 40))
    Y = (X[0] - 0.5 * X[1] + 0.3 * X[2])[None, :]
    net = Network([3, 1], output="linear", seed=0)
    net.parameters["W1"] = np.zeros((1, 3))
    return net, X, Y, (X, 0.5 * Y)


def test_early_stopping_stops_on_a_plateau_and_restores_the_best_epoch(rng):
    net, X, Y, validation = _half_target_problem(rng)
    patience = 3
    snapshots = []
    net.fit(X, Y, epochs=200, learning_rate=0.05, early_stopping=True, validation_data=validation,
            n_iter_no_change=patience, tol=0.0, callbacks=[recorder(net, snapshots)])
    scores = net.history.validation_score
    epochs = len(net.history)
    assert epochs < 200 and len(scores) == len(snapshots) == epochs
    best = int(np.argmax(scores))
    assert best < epochs - 1, "the score did not peak before the end; the test proves nothing"
    # tol = 0: every epoch after the best counts, and the count must exceed the patience
    assert epochs == best + 1 + patience + 1
    assert_same_parameters(net.parameters, snapshots[best])
    assert not np.array_equal(net.parameters["W1"], snapshots[-1]["W1"])
    # the restored parameters score the best validation score
    assert accuracy_or_r2(net, *validation) == pytest.approx(scores[best], rel=1e-12)


def test_early_stopping_without_validation_data_holds_out_a_tenth(rng):
    X, Y = _data(rng, "softmax", 3, 50)
    net = Network([4, 5, 3], activations="tanh", output="softmax", seed=4)
    snapshots = []
    # tol = 1000: no epoch improves the score by tol, so the default patience of 10 ends the fit
    # after 12 epochs
    net.fit(X, Y, epochs=100, learning_rate=0.3, early_stopping=True, tol=1000.0,
            callbacks=[recorder(net, snapshots)])
    assert len(net.history) == 12
    assert len(net.history.validation_score) == 12
    assert net.samples_seen_ == 12 * (50 - 5)
    best = int(np.argmax(net.history.validation_score))
    assert_same_parameters(net.parameters, snapshots[best])


def test_n_iter_no_change_on_the_training_cost_stops_without_restoring(small_regression):
    X, Y = small_regression

    def network():
        return Network([3, 5, 2], activations="tanh", output="linear", seed=5)

    net = network()
    # tol = 1000: after the first epoch every epoch counts; the count exceeds 4 at epoch 6
    net.fit(X, Y, epochs=50, learning_rate=0.05, n_iter_no_change=4, tol=1000.0)
    assert len(net.history) == 6
    assert net.history.validation_cost == [] and net.history.validation_score == []
    clean = network()
    clean.fit(X, Y, epochs=6, learning_rate=0.05)
    assert list(net.history) == list(clean.history)
    assert_same_parameters(net.parameters, clean.parameters)   # the last epoch's, not the best

    # while the cost keeps falling by more than tol, training runs every epoch
    falling = network()
    falling.fit(X, Y, epochs=15, learning_rate=0.05, n_iter_no_change=1, tol=0.0)
    assert len(falling.history) == 15 and np.all(np.diff(falling.history) < 0)


@pytest.mark.parametrize("batch_size,schedule", [(7, "constant"), (None, "constant"),
                                                  (7, "adaptive")])
def test_the_kernel_counts_the_plateau_as_python_does_in_fewer_calls(batch_size, schedule,
                                                                      monkeypatch, rng):
    # without validation data the compiled loop counts scikit-learn's plateau itself and runs
    # many epochs per call; a callback brings back a call per epoch and the count in Python:
    # both must stop after the same epoch with the same parameters, best cost and count
    from fastbp import training
    X, Y = _data(rng, "softmax", 3, 60)
    calls = []
    original = training.loop.train_epochs

    def counting(*args):
        calls.append(args[0])
        return original(*args)

    monkeypatch.setattr(training.loop, "train_epochs", counting)
    kwargs = dict(epochs=400, batch_size=batch_size, optimizer="sgd", learning_rate=0.3,
                  seed=2, n_iter_no_change=3, tol=1e-3, learning_rate_schedule=schedule)
    results = []
    for callbacks in ([], [lambda epoch, history: False]):
        net = Network([4, 8, 3], activations="relu", output="softmax", seed=4)
        plateau = Plateau(1e-3, higher_is_better=False)
        calls.clear()
        net.fit(X, Y, plateau=plateau, callbacks=callbacks, **kwargs)
        stopped, first_count = len(net.history), plateau.count
        # a second fit carries the best cost and the count over
        net.fit(X, Y, plateau=plateau, callbacks=callbacks, **kwargs)
        results.append((stopped, first_count, list(net.history), plateau.best, plateau.count,
                        net.learning_rate_, net.parameters, len(calls)))
    (stopped, first_count, history, best, count, rate, params, n_calls), python = results
    assert 10 < stopped < 400 and first_count == 4     # a plateau stopped it, not the budget
    assert len(history) < stopped + 400
    assert (stopped, first_count, history, best, count, rate) == python[:6]
    assert best == min(history) and count > 3   # the plateau stopped the second fit too
    if schedule == "adaptive":
        # plateaus divided the rate by 5 until it reached scikit-learn's floor
        assert rate <= training.ADAPTIVE_FLOOR < 5 * rate
    assert_same_parameters(params, python[6])
    assert python[7] == len(history) and n_calls < len(history) / 4


# ----------------------------------------------------------------------------- callbacks, verbose
def test_callbacks_get_epoch_and_history_and_true_stops(small_classification):
    X, Y = small_classification
    net = Network([4, 5, 3], activations="tanh", output="softmax", seed=6)
    calls, second_calls = [], []

    def watch(epoch, history):
        assert history is net.history
        calls.append((epoch, len(history), history[-1]))

    def stop_after_third(epoch, history):
        second_calls.append(epoch)
        return epoch == 2

    net.fit(X, Y, epochs=4, learning_rate=0.1, callbacks=[watch])
    assert [c[:2] for c in calls] == [(0, 1), (1, 2), (2, 3), (3, 4)]
    assert [c[2] for c in calls] == list(net.history)
    calls.clear()
    net.fit(X, Y, epochs=10, learning_rate=0.1, callbacks=[watch, stop_after_third])
    assert len(net.history) == 4 + 3
    assert second_calls == [0, 1, 2]
    assert [c[:2] for c in calls] == [(0, 5), (1, 6), (2, 7)]    # epochs count from 0 per call
    assert net.samples_seen_ == 7 * X.shape[1]

    # returning a falsy value never stops
    net.fit(X, Y, epochs=3, learning_rate=0.1, callbacks=[lambda e, h: None])
    assert len(net.history) == 10


def test_verbose_shows_a_progress_bar_and_changes_nothing(capfd, small_classification):
    X, Y = small_classification
    quiet = Network([4, 5, 3], activations="tanh", output="softmax", seed=7)
    loud = Network([4, 5, 3], activations="tanh", output="softmax", seed=7)
    quiet.fit(X, Y, epochs=5, batch_size=4, learning_rate=0.1, seed=1)
    assert capfd.readouterr().err == ""
    loud.fit(X, Y, epochs=5, batch_size=4, learning_rate=0.1, seed=1, verbose=True)
    err = capfd.readouterr().err
    assert "epoch" in err and "5/5" in err and "cost" in err
    assert list(loud.history) == list(quiet.history)
    assert_same_parameters(loud.parameters, quiet.parameters)


# ----------------------------------------------------------------------------- Ctrl-C
@pytest.mark.parametrize("validate", [False, True])
def test_keyboard_interrupt_stops_cleanly_after_the_last_whole_epoch(validate, rng):
    X, Y = _data(rng, "softmax", 3, 26)
    kwargs = dict(batch_size=5, optimizer="adam", learning_rate=0.02, seed=3)
    if validate:
        kwargs["validation_data"] = (X[:, :8], Y[:, :8])

    def network():
        return Network([4, 6, 3], activations="relu", output="softmax", seed=8)

    snapshots = []

    def interrupt_at_third(epoch, history):
        snapshots.append(snapshot(net))
        if epoch == 2:
            raise KeyboardInterrupt

    net = network()
    with pytest.warns(RuntimeWarning, match="interrupted"):
        result = net.fit(X, Y, epochs=10, callbacks=[interrupt_at_third], **kwargs)
    assert result is net
    assert len(net.history) == 3
    assert net.samples_seen_ == 3 * 26
    assert net.learning_rate_ == 0.02
    if validate:
        assert len(net.history.validation_cost) == len(net.history.validation_score) == 3

    clean = network()
    clean.fit(X, Y, epochs=3, **kwargs)
    assert list(net.history) == list(clean.history)
    assert_same_parameters(net.parameters, clean.parameters)
    assert_same_parameters(net.parameters, snapshots[-1])
    # the optimizer state agrees with the parameters: training on gives the same results
    net.fit(X, Y, epochs=2, batch_size=5, optimizer="adam", learning_rate=0.02, seed=4)
    clean.fit(X, Y, epochs=2, batch_size=5, optimizer="adam", learning_rate=0.02, seed=4)
    assert list(net.history) == list(clean.history)
    assert_same_parameters(net.parameters, clean.parameters)


# ----------------------------------------------------------------------------- NaN / inf
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch_size", [6, 24], ids=["minibatches", "full-batch"])
def test_diverging_momentum_raises_with_finite_parameters_and_history(dtype, batch_size, rng):
    # a full-batch epoch keeps no copy of the parameters: its cost is checked before its update
    X = rng.standard_normal((3, 24))
    Y = 1e3 * rng.standard_normal((1, 24))
    net = Network([3, 6, 1], activations="tanh", output="linear", dtype=dtype, seed=0)
    snapshots = [snapshot(net)]
    velocities = [np.zeros_like(net._theta)]

    def record(epoch, history):
        snapshots.append(snapshot(net))
        velocities.append(net._optimizer[1][0].copy())

    with pytest.raises(FloatingPointError, match="NaN or infinite"):
        net.fit(X, Y, epochs=500, batch_size=batch_size, optimizer="momentum", learning_rate=5.0,
                seed=1, validation_data=(X, Y), callbacks=[record])
    completed = len(net.history)
    assert completed < 500
    for value in net.parameters.values():
        assert np.isfinite(value).all()
    assert np.isfinite(net.history).all()
    # (the validation cost of the last whole epoch may be inf: the training cost of an epoch is
    # taken before each update, so divergence shows in the next epoch)
    assert len(net.history.validation_cost) == len(net.history.validation_score) == completed
    assert net.samples_seen_ == 24 * completed
    # the parameters and the velocity are those of the last whole epoch
    assert len(snapshots) == completed + 1
    assert_same_parameters(net.parameters, snapshots[-1])
    np.testing.assert_array_equal(net._optimizer[1][0], velocities[-1])
    assert np.isfinite(net._optimizer[1]).all()


# ----------------------------------------------------------------------------- refusals
@pytest.fixture
def trained(rng):
    """A network trained a little with adam (with validation), and its data."""
    X, Y = _data(rng, "softmax", 3, 12)
    net = Network([4, 5, 3], activations="tanh", output="softmax", seed=9)
    net.fit(X, Y, epochs=2, batch_size=5, optimizer="adam", learning_rate=0.05,
            validation_data=(X, Y))
    return net, X, Y


def _bad_arguments():
    rng = np.random.default_rng(0)
    X_val = rng.standard_normal((4, 5))
    Y_val = np.eye(3)[:, [0, 1, 2, 0, 1]]
    return [
        (dict(validation_data=(X_val[:3], Y_val)), ValueError, "X_val has 3 rows"),
        (dict(validation_data=(X_val, Y_val[:, :4])), ValueError,
         r"X_val has 5 examples \(columns\) but Y_val has 4"),
        (dict(validation_data=(X_val, Y_val[:2])), ValueError, "Y_val has 2 rows"),
        (dict(validation_data=(X_val.T, Y_val.T)), ValueError, "X_val has 5 rows"),
        (dict(validation_data=X_val), ValueError, "validation_data must be a tuple"),
        (dict(validation_data=(X_val,)), ValueError, "validation_data must be a tuple"),
        (dict(validation_data=(X_val, Y_val, -np.ones(5))), ValueError,
         "sample_weight must be non-negative"),
        (dict(validation_data=(X_val, np.full((3, 5), np.nan))), ValueError,
         "Y_val contains 15 NaN"),
        (dict(validation_fraction=0.0), ValueError, r"validation_fraction must be in \(0, 1\)"),
        (dict(validation_fraction=1.0), ValueError, r"validation_fraction must be in \(0, 1\)"),
        (dict(validation_fraction=1.5), ValueError, r"validation_fraction must be in \(0, 1\)"),
        (dict(validation_fraction=-0.2), ValueError, r"validation_fraction must be in \(0, 1\)"),
        (dict(validation_fraction=np.nan), ValueError, "validation_fraction must be a number"),
        (dict(validation_fraction=0.95), ValueError, "leaves an empty training"),
        (dict(validation_fraction=0.2, validation_data=(X_val, Y_val)), ValueError,
         "validation_data or validation_fraction, not both"),
        (dict(learning_rate_schedule="adaptive"), ValueError, "adaptive.*needs n_iter_no_change"),
        (dict(learning_rate_schedule="optimal"), ValueError,
         "unknown learning_rate_schedule 'optimal'"),
        (dict(n_iter_no_change=0), ValueError, "n_iter_no_change must be a positive integer"),
        (dict(tol=-1.0), ValueError, "tol must be >= 0"),
        (dict(callbacks=[1]), TypeError, "callbacks must be callables, got 1"),
        (dict(callbacks=[print, "stop"]), TypeError, "callbacks must be callables, got 'stop'"),
        (dict(sample_weight=np.r_[np.ones(11), -1.0]), ValueError,
         "sample_weight must be non-negative"),
        (dict(sample_weight=np.ones(11)), ValueError, "sample_weight has 11 entries"),
        (dict(sample_weight=np.zeros(12)), ValueError, "sample_weight is zero for every example"),
        (dict(plateau="best"), TypeError, "plateau must be a fastbp.training.Plateau"),
        (dict(plateau=Plateau(1e-4, higher_is_better=True), n_iter_no_change=2), ValueError,
         "plateau must watch a score"),
    ]


@pytest.mark.parametrize("kwargs, error, match", _bad_arguments())
def test_bad_arguments_are_refused_and_change_nothing(trained, kwargs, error, match):
    net, X, Y = trained
    before = snapshot(net)
    history = (list(net.history), list(net.history.validation_cost),
               list(net.history.validation_score))
    state = [part.copy() for part in net._optimizer[1:]]
    rng_state = net._rng.bit_generator.state
    samples, rate = net.samples_seen_, net.learning_rate_
    with pytest.raises(error, match=match):
        # another optimizer too: a refused call must not reset adam's state either
        net.fit(X, Y, epochs=3, optimizer="momentum", learning_rate=0.05, **kwargs)
    assert_parameters_identical(net, before)
    assert (list(net.history), list(net.history.validation_cost),
            list(net.history.validation_score)) == history
    assert net._optimizer[0] == "adam"
    for part, saved in zip(net._optimizer[1:], state):
        np.testing.assert_array_equal(part, saved)
    assert net._rng.bit_generator.state == rng_state
    assert (net.samples_seen_, net.learning_rate_) == (samples, rate)


def test_keyboard_interrupt_inside_a_long_epoch_keeps_the_last_whole_epoch(monkeypatch):
    # an epoch of many minibatches runs in a worker thread that Ctrl-C stops between two of them;
    # the threshold is lowered so a small network takes that path. The first epoch is whole, the
    # second is interrupted after its first minibatch (the callback is when Ctrl-C "arrives")
    from fastbp import training
    monkeypatch.setattr(training, "INTERRUPTIBLE_FLOPS", 0)
    rng = np.random.default_rng(11)
    X, Y = _data(rng, "softmax", 3, 40)
    kwargs = dict(batch_size=4, optimizer="adam", learning_rate=0.02, seed=5, shuffle=False)
    gathered = []

    def network():
        return Network([4, 6, 3], activations="relu", output="softmax", seed=9)

    net = network()
    original = training.loop.train_epochs

    def kernel_seeing_ctrl_c(*args):
        # the stop flag is the kernel's last argument but one (the plateau's is last): set as
        # the waiting thread would on Ctrl-C once an epoch has completed, so the next epoch
        # stops before its first minibatch
        gathered.append(int(args[-5][0]))   # epochs completed before this call (progress)
        if gathered[-1] == 1:
            args[-2][0] = 1
        return original(*args)

    monkeypatch.setattr(training.loop, "train_epochs", kernel_seeing_ctrl_c)
    with pytest.warns(RuntimeWarning, match="interrupted"):
        net.fit(X, Y, epochs=5, **kwargs)
    assert len(net.history) == 1 and net.samples_seen_ == 40

    monkeypatch.setattr(training.loop, "train_epochs", original)
    clean = network()
    clean.fit(X, Y, epochs=1, **kwargs)
    assert_same_parameters(net.parameters, clean.parameters)
    # the optimizer state was restored with the parameters: training on agrees too
    net.fit(X, Y, epochs=2, **kwargs)
    clean.fit(X, Y, epochs=2, **kwargs)
    assert list(net.history) == list(clean.history)
    assert_same_parameters(net.parameters, clean.parameters)


def test_ctrl_c_while_a_worker_thread_runs_the_epoch_stops_it(monkeypatch):
    # the real signal path: KeyboardInterrupt raised in the waiting (main) thread
    import _thread
    import signal
    import threading
    from fastbp import training
    monkeypatch.setattr(training, "INTERRUPTIBLE_FLOPS", 0)
    rng = np.random.default_rng(12)
    X = rng.standard_normal((64, 20000))
    Y = np.eye(10)[rng.integers(0, 10, 20000)].T
    net = Network([64, 256, 10], activations="relu", output="softmax", seed=1)
    net.fit(X[:, :50], Y[:, :50], epochs=1, batch_size=10)   # compile before timing anything
    before = snapshot(net)
    # Python's own SIGINT handler, whatever an earlier test left: interrupt_main() does nothing
    # where SIGINT is ignored
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.02, _thread.interrupt_main)
    try:
        timer.start()
        with pytest.warns(RuntimeWarning, match="interrupted"):
            # 20 epochs of 20000 single-example steps: a few seconds if the interrupt were lost
            net.fit(X, Y, epochs=20, batch_size=1)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    # whatever number of whole epochs ran, the history and the parameters agree with them
    assert len(net.history) < 1 + 20
    if len(net.history) == 1:   # only the warm-up's epoch: the parameters are as before
        assert_same_parameters(net.parameters, before)
