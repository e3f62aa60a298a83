"""Training control around the compiled epoch loop: what happens between epochs.

The epochs themselves run in ``kernels.loop.train_epochs``. This module decides how many epochs
each compiled call runs, and between calls: records the history, scores validation data, watches
for a plateau (early stopping, the adaptive learning rate), applies learning-rate schedules, calls
callbacks, draws the progress bar, and turns Ctrl-C into a clean stop after the last whole epoch.
The rules are scikit-learn's (``MLPClassifier._fit_stochastic``) so that the estimators built on
it behave as scikit-learn's do.
"""
import threading
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from ._sparse import SparseRows
from .kernels import loop
from .kernels import optim
from .kernels import sparse as sparse_kernels

#: An epoch of at least this many floating-point operations (some 10-100 ms) runs in a worker
#: thread that Ctrl-C can stop between minibatches; smaller ones run on the calling thread, where
#: a thread per call would cost more than it saves.
INTERRUPTIBLE_FLOPS = 2_000_000_000

#: Seconds one compiled call may run when nothing is needed between epochs: long enough to make
#: the call overhead vanish, short enough that Ctrl-C is honoured promptly.
CALL_SECONDS = 0.1

#: Most epochs one compiled call runs (a bound on the per-call buffer of epoch costs).
MAX_EPOCHS_PER_CALL = 1 << 20

#: scikit-learn's floor for the adaptive learning rate: below it a plateau stops training.
ADAPTIVE_FLOOR = 1e-6

SCHEDULES = ("constant", "invscaling", "adaptive")


@dataclass
class Plan:
    """Everything ``run`` needs to know about one ``fit`` call (already validated)."""

    epochs: int
    batch_size: int
    shuffle: bool
    optimizer: int
    hyper: np.ndarray
    learning_rate: float
    alpha: float = 0.0
    schedule: str = "constant"
    power_t: float = 0.5
    n_iter_no_change: int = None
    tol: float = 1e-4
    restore_best: bool = False
    callbacks: list = field(default_factory=list)
    verbose: bool = False
    plateau: "Plateau" = None
    #: what the plateau rule watches with validation data: its "score" or its "loss"
    metric: str = "score"
    #: a NaN or infinite cost ends training with a warning (the best parameters restored with
    #: ``restore_best``) instead of raising FloatingPointError
    stop_on_divergence: bool = False


@dataclass
class Data:
    """Training arrays, plus optional validation data.

    ``X`` (n_0, m) and ``Y`` (n_L, m) are neuron-major and ``Y`` is C-contiguous. ``X_t``
    (m, n_0), when not empty, is the C-contiguous example-major view minibatches are gathered
    from; otherwise ``X`` is C-contiguous and the kernel reads it. ``X`` (and ``X_val``) may
    be ``fastbp._sparse.SparseRows`` instead (``X_t`` is then empty): the sparse kernels train
    on its rows.
    """

    X_t: np.ndarray
    X: np.ndarray
    Y: np.ndarray
    weights: np.ndarray
    weighted: bool
    X_val: np.ndarray = None
    Y_val: np.ndarray = None
    weights_val: np.ndarray = None


class Plateau:
    """scikit-learn's no-improvement count on a cost (lower is better) or a score (higher)."""

    #: A function each value passes through before it is compared, or None (the estimators set
    #: one for a fit, to compare scikit-learn's loss rather than the network's cost).
    transform = None

    def __init__(self, tol, higher_is_better):
        self.tol = tol
        self.higher_is_better = higher_is_better
        self.best = -np.inf if higher_is_better else np.inf
        self.count = 0

    def update(self, value):
        """Record one epoch's value; return True if it is the best so far."""
        if self.transform is not None:
            value = self.transform(value)
        if self.higher_is_better:
            self.count = self.count + 1 if value < self.best + self.tol else 0
            improved = value > self.best
        else:
            self.count = self.count + 1 if value > self.best - self.tol else 0
            improved = value < self.best
        if improved:
            self.best = value
        return improved


class Scorer:
    """Accuracy (``output`` sigmoid or softmax) or R² (linear or exp) of a network's outputs
    against the targets ``Y`` (n_L, m), with sample ``weights`` or None.

    Multi-output sigmoid accuracy counts an example right only if all its labels are (subset
    accuracy, as scikit-learn). R² is averaged uniformly over outputs. What depends on the
    targets alone (their classes, or their spread for R²) is computed once: a fit with
    validation data scores the same targets after every epoch.
    """

    def __init__(self, output, Y, weights=None):
        self.output = output
        self.Y = Y
        self.weights = weights
        if output in ("linear", "exp"):
            spread = np.average((Y - np.average(Y, axis=1, weights=weights)[:, None]) ** 2,
                                axis=1, weights=weights)
            self.varies = spread > 0
            self.spread = np.where(self.varies, spread, 1)
        elif output == "softmax":
            self.truth = Y.argmax(axis=0)
        else:
            self.truth = Y > 0.5

    def __call__(self, AL):
        """The score of the outputs ``AL`` (n_L, m), a float."""
        # means rather than np.average without weights: the same sums, and a diabetes
        # regressor's score, which early stopping pays every epoch, in 14.5 us rather than 21
        if self.output in ("linear", "exp"):
            # outputs that overflow (a diverging fit) score NaN or -inf, without numpy's warnings
            with np.errstate(over="ignore", invalid="ignore"):
                squares = (self.Y - AL) ** 2
                residual = (squares.mean(axis=1) if self.weights is None
                            else np.average(squares, axis=1, weights=self.weights))
                r2 = np.where(self.varies, 1 - residual / self.spread,
                              np.where(residual > 0, 0.0, 1.0))
            return float(r2.mean())
        if self.output == "softmax":
            right = AL.argmax(axis=0) == self.truth
        else:
            right = ((AL > 0.5) == self.truth).all(axis=0)
        return float(right.mean() if self.weights is None
                     else np.average(right, weights=self.weights))


def run(network, data, plan, rng_state):
    """Train ``network`` as ``plan`` says. Returns the number of epochs completed.

    Raises
    ------
    FloatingPointError
        If the cost becomes NaN or infinite (unless ``plan.stop_on_divergence``); the parameters
        are then those of the last whole epoch and the history holds the epochs before it.
    """
    m = data.X.shape[1]
    whole = plan.batch_size >= m
    # minibatches are gathered from X_t when there is one; one batch of every example reads X
    # (and X_t too, for the first layer's weight gradient, when the network asked for it)
    X_kernel = data.X if whole or data.X_t.shape[0] == 0 else np.empty((0, 0), data.X.dtype)
    inputs_by_rows = whole and data.X_t.shape[0] > 0
    sparse = isinstance(data.X, SparseRows)
    if sparse:
        epochs_kernel = sparse_kernels.sparse_train_epochs
        # minibatches are gathered into buffers for the longest batch of rows; one batch of
        # every example reads the rows in place (empty buffers keep one signature)
        batch_rows = (data.X.batch_buffers(plan.batch_size) if not whole else
                      (np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, data.X.dtype)))
        inputs = (data.X.arrays, batch_rows, np.zeros(network.layer_dims[1]))
    else:
        epochs_kernel = loop.train_epochs
        inputs = (data.X_t, X_kernel)
    state, step = network._optimizer_state()
    hyper = plan.hyper
    learning_rate = plan.learning_rate
    validating = data.X_val is not None
    scorer = Scorer(network.output, data.Y_val, data.weights_val) if validating else None
    plateau = None
    if plan.n_iter_no_change is not None:
        # a caller's plateau carries its best value and count over from earlier calls
        plateau = plan.plateau
        if plateau is None:
            plateau = Plateau(plan.tol, higher_is_better=validating and plan.metric == "score")
    between_epochs = (validating or plan.callbacks or plan.verbose
                      or plan.schedule == "invscaling")
    # with nothing else to do between epochs, the kernel counts a plateau of the training cost
    # itself (scikit-learn's default) and returns after the epoch that takes the count over the
    # limit: training ends there, or an adaptive rate is lowered and it goes on. The epochs in
    # between need no Python.
    counted = plateau is not None and not between_epochs and plateau.transform is None
    plateau_array = np.zeros(4 if counted else 0)
    between_epochs = between_epochs or (plateau is not None and not counted)
    best_theta = None

    # the order of examples matters only to minibatches
    order = np.arange(0 if whole else m, dtype=np.int64)
    # one call's epoch costs at a time: fit(epochs=10**9) with early stopping must not allocate
    # a cost per epoch it may never run
    costs = np.empty(min(plan.epochs, MAX_EPOCHS_PER_CALL))
    call_start = 0
    progress = np.zeros(1, dtype=np.int64)
    # the kernel restores the parameters of an epoch that met a NaN from these copies; an epoch of
    # one batch needs none (it stops before the update)
    theta_backup = np.empty_like(network._theta[:0] if whole else network._theta)
    state_backup = np.empty_like(state[..., :0] if whole else state)
    recorded = 0
    bar = _progress_bar(plan.epochs, plan.verbose)

    def record():
        # make the history match the epochs the kernel finished, even after an interrupt
        nonlocal recorded
        completed = int(progress[0])
        network.history.extend(costs[recorded - call_start:completed - call_start].tolist())
        network.samples_seen_ += m * (completed - recorded)
        recorded = completed

    stop_flag = np.zeros(1, dtype=np.int64)
    # an epoch of many minibatches that takes long runs in a worker thread, so that Ctrl-C can
    # stop it between two minibatches (Python handles the signal only once the kernel returns)
    interruptible = not whole and epoch_flops(network.layer_dims, m) >= INTERRUPTIBLE_FLOPS
    call = _interruptible(epochs_kernel, stop_flag) if interruptible else epochs_kernel
    chunk = 1
    try:
        while recorded < plan.epochs:
            count = 1 if between_epochs else min(chunk, plan.epochs - recorded)
            call_start = recorded
            hyper[optim.LEARNING_RATE] = learning_rate
            # the update takes threads under the dense sums' rule, inside the kernel: only with
            # more than one scratch row (never in a forked child, see fastbp._fork)
            work = network._work(plan.batch_size, gather=not whole, inputs_by_rows=inputs_by_rows,
                                 sparse_inputs=sparse)
            if counted:
                plateau_array[:] = (plateau.best, plateau.count, plateau.tol,
                                    plan.n_iter_no_change)
            started = time.perf_counter()
            status = call(
                count, *inputs, data.Y, data.weights, data.weighted, plan.batch_size,
                plan.shuffle, order, rng_state, plan.alpha, network._model(training=not sparse),
                work,
                plan.optimizer,
                state, hyper, step,
                costs, progress, theta_backup, state_backup, stop_flag, plateau_array)
            elapsed = time.perf_counter() - started
            record()
            if counted:
                # the epochs this call finished, even an interrupted or diverged one's
                plateau.best = float(plateau_array[loop.PLATEAU_BEST])
                plateau.count = int(plateau_array[loop.PLATEAU_COUNT])
            if status == loop.INTERRUPTED:
                raise KeyboardInterrupt
            if status < 0:
                if not plan.stop_on_divergence:
                    raise FloatingPointError(
                        f"the training cost became NaN or infinite in epoch {recorded + 1} of "
                        "this fit; the parameters are those of the last whole epoch. Lower the "
                        "learning rate or scale the inputs.")
                _stop_diverged(network, plan, recorded, validating, best_theta is not None)
                bar.update(1)
                break
            # (from the epochs run: a plateau may have ended the call early)
            chunk = max(1, min(int(CALL_SECONDS * status / max(elapsed, 1e-9)),
                               MAX_EPOCHS_PER_CALL))
            if not between_epochs:
                bar.update(status)
                if counted and plateau.count > plan.n_iter_no_change:
                    # the kernel stopped on a plateau (an adaptive rate is lowered here, in
                    # Python: fast-math kernels would multiply by 0.2, not divide by 5)
                    learning_rate, stop = _after_plateau(plan, plateau, learning_rate)
                    if stop:
                        break
                continue
            stop = False
            postfix = {"cost": network.history[-1]}
            if validating:
                # one forward pass gives both: the score reads the outputs the cost left
                cost, AL = network._cost(data.X_val, data.Y_val, data.weights_val, outputs=True)
                network.history.validation_cost.append(cost)
                network.history.validation_score.append(scorer(AL))
                postfix["val_cost"] = network.history.validation_cost[-1]
                postfix["val_score"] = network.history.validation_score[-1]
            if plan.schedule == "invscaling":
                learning_rate = plan.learning_rate / (network.samples_seen_ + 1) ** plan.power_t
            if plateau is not None:
                if not validating:
                    watched = network.history[-1]
                elif plan.metric == "loss":
                    watched = network.history.validation_cost[-1]
                else:
                    watched = network.history.validation_score[-1]
                if plateau.update(watched) and plan.restore_best:
                    best_theta = network._theta.copy()
                if plateau.count > plan.n_iter_no_change:
                    learning_rate, stop = _after_plateau(plan, plateau, learning_rate)
            for callback in plan.callbacks:
                if callback(recorded - 1, network.history):
                    stop = True
            bar.set_postfix(postfix)
            bar.update(1)
            if stop:
                break
    except KeyboardInterrupt:
        record()
        warnings.warn(f"training interrupted by the user after {recorded} whole epoch(s); the "
                      "parameters are those of the last whole epoch", RuntimeWarning)
    finally:
        bar.close()
        network.learning_rate_ = float(learning_rate)
    if best_theta is not None:
        network._theta[:] = best_theta
    return recorded


def _after_plateau(plan, plateau, learning_rate):
    """scikit-learn's rule once the no-improvement count passes ``n_iter_no_change``: an
    adaptive rate above its floor is divided by 5 and the count starts again; otherwise training
    stops. Returns the learning rate and whether to stop."""
    if plan.schedule == "adaptive" and learning_rate > ADAPTIVE_FLOOR:
        plateau.count = 0
        return learning_rate / 5.0, False
    return learning_rate, True


def _stop_diverged(network, plan, completed, validating, restoring):
    """End a fit whose epoch ``completed + 1`` met a NaN or infinite cost (the kernel has put
    back the parameters of the epoch's start): record it as NaN, as scikit-learn's history
    shows a diverged epoch, tell the callbacks, and warn."""
    network.history.append(float("nan"))
    if validating:
        network.history.validation_cost.append(float("nan"))
        network.history.validation_score.append(float("nan"))
    for callback in plan.callbacks:
        callback(completed, network.history)
    kept = ("the best epoch's parameters are restored" if restoring
            else "the parameters are those of the last whole epoch")
    warnings.warn(f"the training cost became NaN or infinite in epoch {completed + 1} of this "
                  f"fit; training stopped there and {kept}. Lower the learning rate or scale "
                  "the inputs.", RuntimeWarning, stacklevel=3)


def epoch_flops(dims, m):
    """Floating-point operations of one training epoch of ``m`` examples (forward, weight and
    input gradients: 6·m·Σ n_l·n_(l-1))."""
    return 6 * m * sum(dims[l] * dims[l - 1] for l in range(1, len(dims)))


def _interruptible(kernel, stop_flag):
    """``kernel`` run in a worker thread while this one waits: Ctrl-C here sets ``stop_flag``,
    which the kernel reads between minibatches, and the call then returns (the kernel releases
    the GIL, so the wait costs nothing)."""

    def call(*args):
        outcome = []
        began, done = threading.Event(), threading.Event()

        def target():
            began.set()
            try:
                outcome.append(kernel(*args))
            except BaseException as error:  # handed to the waiting thread
                outcome.append(error)
            finally:
                done.set()

        worker = threading.Thread(target=target, name="fastbp-epoch", daemon=True)
        try:
            try:
                worker.start()
                while not done.wait(0.05):
                    pass
            except KeyboardInterrupt:
                stop_flag[0] = 1
                # the kernel stops at its next minibatch; never leave it running (a second
                # Ctrl-C waits too), or it would change the parameters behind the caller's back.
                # Ctrl-C can even land inside start(): a thread that was created begins at once
                while True:
                    try:
                        if done.wait(0.5) or not began.wait(1.0):
                            break
                    except KeyboardInterrupt:
                        pass
                raise
        finally:
            stop_flag[0] = 0
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0]

    return call


def _progress_bar(total, verbose):
    """A tqdm bar when ``verbose``, else a silent stand-in with the same methods."""
    if verbose:
        from tqdm.auto import tqdm
        return tqdm(total=total, unit="epoch", leave=True)
    return _NoBar()


class _NoBar:
    def update(self, count):
        pass

    def set_postfix(self, values):
        pass

    def close(self):
        pass
