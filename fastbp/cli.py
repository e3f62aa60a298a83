"""The ``fastbp`` command: ``fastbp train``, ``fastbp compare`` and ``fastbp warmup``.

``fastbp train`` trains one network on a data set that scikit-learn ships or on a user's
.csv/.npz file and reports held-out accuracy or R²; ``fastbp compare`` trains the same network
with fastbp, the NumPy reference and, when installed, PyTorch and scikit-learn, each in its own
process, and prints score and time per epoch side by side (:mod:`fastbp.bench.compare`).

``train`` uses :class:`fastbp.Network` directly rather than the scikit-learn estimators: the
command's outputs are the network's own (``Network.save`` files that ``Network.load`` reads back,
the per-epoch training and validation costs of ``Network.history`` for ``--plot``, the progress bar
of ``fit(verbose=True)``), and the command already does what the estimators would add (label
encoding, a held-out split, scaling) in :mod:`fastbp._datasets`, shared with ``compare``.

Errors a user can cause (a missing file, a bad column, an unknown data set or activation, a value
out of range, training that diverges) print ``fastbp: error: <one line>`` on stderr and exit with
status 2, as argparse does for bad options; anything else is a bug and raises with its traceback
(set ``FASTBP_TRACEBACK=1`` to get the traceback of the expected errors too).
"""
import argparse
import importlib.util
import os
import sys
import time

#: Exceptions that are the user's to fix: reported in one line, exit status 2.
EXPECTED_ERRORS = (OSError, ValueError, TypeError, KeyError, FloatingPointError)

#: Default learning rate of each optimizer for ``fastbp train``.
LEARNING_RATES = {"sgd": 0.1, "momentum": 0.01, "adam": 0.001}

DTYPES = ("float32", "float64")


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (argparse prints the usage first)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    from . import __version__, _datasets
    from .bench import compare

    parser = _Parser(prog="fastbp", description="Train dense neural networks with fastbp's "
                     "compiled kernels, or compare fastbp with its peers on the same network.")
    parser.add_argument("--version", action="version", version=f"fastbp {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    data_help = f"data set: {_datasets.describe_choices()}"

    train = commands.add_parser(
        "train", help="train a network on a data set and report held-out accuracy or R²",
        description="Train a network on a data set and report its held-out accuracy (or R²). "
        "Features are standardized on the training split (regression targets too; R² and RMSE "
        "are on the original scale).")
    train.add_argument("--dataset", default="digits", metavar="NAME|FILE",
                       help=f"{data_help} (default: digits). A .csv file has a header row; a .npz "
                       "file holds arrays X (n_samples, n_features) and y (n_samples,)")
    _data_options(train)
    train.add_argument("--hidden", default="128", metavar="SIZES",
                       help="hidden layer sizes, comma-separated, e.g. 128,64; 'none' for no "
                       "hidden layer (default: 128)")
    train.add_argument("--activation", default="relu", metavar="NAME[,NAME...]",
                       help="hidden activation, one for all hidden layers or one per layer: "
                       "relu, leaky_relu, tanh, sigmoid, linear (default: relu)")
    train.add_argument("--output", choices=("sigmoid", "softmax", "linear"),
                       help="output activation (default: sigmoid for two classes, softmax for "
                       "more, linear for regression)")
    train.add_argument("--optimizer", choices=tuple(LEARNING_RATES), default="adam",
                       help="default: adam")
    train.add_argument("--learning-rate", type=float, metavar="RATE",
                       help="default: " + ", ".join(f"{rate:g} for {name}" for name, rate in
                                                    LEARNING_RATES.items()))
    train.add_argument("--epochs", type=int, default=100, help="default: 100")
    train.add_argument("--batch-size", type=int, default=64, metavar="N",
                       help="examples per minibatch (default: 64)")
    train.add_argument("--seed", type=int, default=0,
                       help="seed of the split, the initial weights and the shuffling "
                       "(default: 0)")
    train.add_argument("--dtype", choices=DTYPES, default="float32",
                       help="default: float32 (the dtype `fastbp compare` uses, so one Numba "
                       "compilation serves both)")
    train.add_argument("--validation-fraction", type=float, default=0.1, metavar="FRACTION",
                       help="fraction of the training split scored after each epoch (the "
                       "validation curve, early stopping); 0 for none (default: 0.1)")
    train.add_argument("--early-stopping", action="store_true",
                       help="stop when the validation score has not improved for 10 epochs and "
                       "keep the best parameters")
    train.add_argument("--save", metavar="PATH.npz",
                       help="save the trained network (fastbp.Network.load reads it back) and, "
                       "beside it as PATH.preprocessing.npz, the feature scaling and classes "
                       "new data need")
    train.add_argument("--plot", metavar="FILE.png",
                       help="write the training and validation cost curves (needs matplotlib: "
                       "pip install 'fastbp[plot]')")
    shown = train.add_mutually_exclusive_group()
    shown.add_argument("--progress", action="store_true",
                       help="show a progress bar (the default when stdout is a terminal)")
    shown.add_argument("-q", "--quiet", action="store_true",
                       help="no progress bar, print only the result")
    train.set_defaults(run=run_train)

    d = compare.DEFAULTS
    comp = commands.add_parser(
        "compare", help="train the same network with fastbp, the NumPy reference, lean NumPy, "
        "PyTorch and scikit-learn and compare score and time per epoch",
        description="Train the same network (same data split, same starting parameters, plain "
        "SGD) with fastbp, the vectorized NumPy reference, the leanest NumPy loop and, when "
        "installed, PyTorch and scikit-learn, each in its own process, and print held-out score and time per epoch "
        "side by side. The first epoch (Numba's compilation) is run and timed separately.")
    comp.add_argument("--dataset", default=d["dataset"], metavar="NAME|FILE",
                      help=f"{data_help} (default: {d['dataset']}, pixels divided by 16; other "
                      "data sets are standardized)")
    _data_options(comp)
    comp.add_argument("--hidden", default=d["hidden"], metavar="SIZES",
                      help=f"hidden layer sizes, comma-separated (default: {d['hidden']})")
    comp.add_argument("--activation", default=d["activation"], metavar="NAME",
                      help="hidden activation: relu, leaky_relu, tanh, sigmoid, linear "
                      f"(default: {d['activation']})")
    comp.add_argument("--epochs", type=int, default=d["epochs"],
                      help=f"epochs per timed run (default: {d['epochs']})")
    comp.add_argument("--batch-size", type=int, default=d["batch_size"], metavar="N",
                      help=f"default: {d['batch_size']}")
    comp.add_argument("--learning-rate", type=float, default=d["learning_rate"], metavar="RATE",
                      help=f"plain SGD's learning rate (default: {d['learning_rate']})")
    comp.add_argument("--dtype", choices=DTYPES, default=d["dtype"],
                      help=f"default: {d['dtype']}")
    comp.add_argument("--threads", type=int, metavar="N",
                      help="threads of every implementation (default: the CPUs available, "
                      f"{_cpus()} here)")
    comp.add_argument("--peers", metavar="NAMES",
                      help="comma-separated implementations to run: fastbp, reference, lean, "
                      "torch, sklearn (default: all that are installed)")
    comp.add_argument("--repeat", type=int, default=d["repeat"], metavar="N",
                      help=f"timed runs per implementation; the median is shown "
                      f"(default: {d['repeat']})")
    comp.add_argument("--seed", type=int, default=d["seed"],
                      help="seed of the split, the starting parameters and the shuffling "
                      f"(default: {d['seed']})")
    comp.set_defaults(run=run_compare)

    warm = commands.add_parser(
        "warmup", help="compile every kernel into the disk cache (for images and CI caches)",
        description="Compile fastbp's kernels for both dtypes into Numba's disk cache, one "
        "process per dtype side by side, so that no later process compiles at run time. Run it "
        "once after installing (a Docker image's build step, a CI cache).")
    warm.add_argument("--dtype", choices=DTYPES, action="append",
                      help="only this dtype (repeatable; default: both)")
    warm.set_defaults(run=run_warmup)
    return parser


def _data_options(parser):
    parser.add_argument("--target", metavar="COLUMN",
                        help="label column of a .csv file (default: the last)")
    parser.add_argument("--task", choices=("classification", "regression"),
                        help="default: the data set's; for a file, integer or string labels "
                        "are classification, other numbers regression")
    parser.add_argument("--test-size", type=float, default=0.2, metavar="FRACTION",
                        help="fraction of the examples held out for the score (default: 0.2)")


def _cpus():
    from .bench.system import available_cpus

    return available_cpus()


def main(argv=None):
    """Run the ``fastbp`` command; returns the exit status (0 on success, 2 on a user error)."""
    try:
        parser = build_parser()
        options = parser.parse_args(argv)
    except SystemExit as done:  # --help, --version or an argparse error (already printed)
        return done.code if isinstance(done.code, int) else 1
    if options.command is None:
        print("fastbp: error: choose a command, train, compare or warmup (see fastbp --help)",
              file=sys.stderr)
        return 2
    try:
        return options.run(options) or 0
    except KeyboardInterrupt:
        print("fastbp: interrupted", file=sys.stderr)
        return 130
    except EXPECTED_ERRORS as error:
        if os.environ.get("FASTBP_TRACEBACK"):
            raise
        print(f"fastbp: error: {_one_line(error)}", file=sys.stderr)
        return 2


def _one_line(error):
    """The message of an expected error, on one line."""
    if isinstance(error, KeyError) and error.args:
        message = str(error.args[0])  # str(KeyError) would quote the whole message
    elif isinstance(error, OSError) and error.strerror and error.filename:
        message = f"{error.filename}: {error.strerror}"
    else:
        message = str(error)
    return " ".join(message.split()) or type(error).__name__


# ----------------------------------------------------------------------------------- arguments
def parse_hidden(text):
    """``"128,64"`` -> ``(128, 64)``; ``"none"`` or ``""`` -> ``()``."""
    if text.strip().lower() in ("", "none"):
        return ()
    sizes = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise ValueError(f"--hidden must be comma-separated positive layer sizes such as "
                             f"128,64, got {text!r}")
        sizes.append(int(part))
    return tuple(sizes)


def parse_activations(text, n_hidden):
    """One activation name for every hidden layer, or one per layer (comma-separated)."""
    from .kernels import activations

    names = [name.strip() for name in text.split(",")]
    for name in names:
        if name not in activations.HIDDEN_ACTIVATIONS:
            raise ValueError(f"unknown activation {name!r}; expected one of "
                             + ", ".join(sorted(activations.HIDDEN_ACTIVATIONS)))
    if len(names) == 1:
        return [activations.NAMES[activations.HIDDEN_ACTIVATIONS[names[0]]]] * n_hidden
    if len(names) != n_hidden:
        raise ValueError(f"--activation lists {len(names)} names but --hidden has {n_hidden} "
                         "layer(s); give one name for all or one per layer")
    return [activations.NAMES[activations.HIDDEN_ACTIVATIONS[name]] for name in names]


def _positive(value, option):
    if value < 1:
        raise ValueError(f"{option} must be at least 1, got {value}")
    return value


# ----------------------------------------------------------------------------------- train
def run_train(options):
    import numpy as np

    from . import Network, _datasets

    say = (lambda *args, **kwargs: None) if options.quiet else print
    hidden = parse_hidden(options.hidden)
    activations = parse_activations(options.activation, len(hidden))
    _positive(options.epochs, "--epochs")
    _positive(options.batch_size, "--batch-size")
    learning_rate = options.learning_rate
    if learning_rate is None:
        learning_rate = LEARNING_RATES[options.optimizer]
    elif not learning_rate > 0:
        raise ValueError(f"--learning-rate must be positive, got {learning_rate}")
    validation = options.validation_fraction
    if not 0 <= validation < 1:
        raise ValueError(f"--validation-fraction must be in [0, 1), got {validation}")
    if options.early_stopping and validation == 0:
        raise ValueError("--early-stopping needs validation data; give a --validation-fraction "
                         "above 0")
    save = _npz_path(options.save) if options.save else None
    plot = options.plot
    if plot and importlib.util.find_spec("matplotlib") is None:
        print("note: --plot skipped: matplotlib is not installed (pip install 'fastbp[plot]')",
              file=sys.stderr)
        plot = None
    if plot and not plot.lower().endswith(".png"):
        raise ValueError(f"--plot writes a PNG file; give a name ending in .png, got {plot!r}")
    for path in (save, plot):
        folder = os.path.dirname(os.path.abspath(path)) if path else None
        if folder and not os.path.isdir(folder):
            raise FileNotFoundError(f"no such directory: {os.path.dirname(path)} (for {path})")

    dataset = _datasets.load(options.dataset, options.target, options.task)
    data = _datasets.split(dataset, options.test_size, options.seed, options.output)
    dims = (data.X_train.shape[0], *hidden, data.n_outputs)
    network = Network(dims, activations=activations or "relu", output=data.output,
                      dtype=options.dtype, seed=options.seed)
    say(data.summary())
    note = _datasets.many_classes_note(data)
    if note:
        print(note, file=sys.stderr)
    hidden_text = (", ".join(dict.fromkeys(activations)) + " hidden, ") if hidden else ""
    say(f"network {'-'.join(map(str, dims))}, {hidden_text}{data.output} output, "
        f"{options.dtype}; {options.optimizer}, learning rate {learning_rate:g}, batch "
        f"{options.batch_size}, {options.epochs} epochs"
        + (f", {validation:g} of the training split for validation" if validation else ""))

    progress = not options.quiet and (options.progress or sys.stdout.isatty())
    first_epoch = []

    def clock(epoch, history):
        if not first_epoch:
            first_epoch.append(time.perf_counter() - started)

    started = time.perf_counter()
    network.fit(data.X_train, data.Y_train, epochs=options.epochs,
                batch_size=options.batch_size, optimizer=options.optimizer,
                learning_rate=learning_rate, seed=options.seed,
                validation_fraction=validation or None, early_stopping=options.early_stopping,
                verbose=progress, callbacks=[clock])
    elapsed = time.perf_counter() - started
    epochs = len(network.history)
    if first_epoch and epochs > 1:
        from .bench.system import kernel_origin

        why = {"compiled": "Numba compiled fastbp's kernels, once: they are cached on disk now",
               "cache": "loading fastbp's kernels from Numba's disk cache"}.get(
            kernel_origin(), "compiling fastbp's kernels or loading them from Numba's cache")
        rest = (elapsed - first_epoch[0]) / (epochs - 1) * 1e3
        say(f"trained {epochs} epochs in {elapsed:.2f} s: the first took {first_epoch[0]:.2f} s "
            f"({why}), then {rest:.2f} ms/epoch")
    else:
        say(f"trained {epochs} epoch(s) in {elapsed:.2f} s")
    if options.early_stopping and epochs < options.epochs:
        say(f"stopped early after {epochs} epochs (no validation improvement for 10 epochs); "
            "the best parameters are kept")

    predictions = data.decode(network.forward(data.X_test))
    if data.output == "linear":
        from sklearn.metrics import r2_score

        r2 = r2_score(data.y_test, predictions)
        rmse = float(np.sqrt(np.mean((data.y_test - predictions) ** 2)))
        print(f"held-out R²: {r2:.4f} (RMSE {rmse:.4g} on {len(predictions)} examples)")
    else:
        right = int(np.sum(predictions == data.y_test))
        print(f"held-out accuracy: {right / len(predictions):.4f} ({right} of "
              f"{len(predictions)} right)")

    if save:
        network.save(save)
        extra = _save_preprocessing(save, data)
        print(f"saved the network to {save} (fastbp.Network.load reads it) and its input "
              f"scaling to {extra}")
    if plot:
        _plot(plot, network, data, dims)
        print(f"wrote the cost curves to {plot}")
    return 0


def _npz_path(path):
    """``path`` as NumPy will write it (np.savez adds .npz to a name without it)."""
    return path if path.endswith(".npz") else path + ".npz"


def _save_preprocessing(path, data):
    """Write what new data need before ``Network.predict``: ``PATH.preprocessing.npz``.

    Arrays: ``x_offset``, ``x_scale`` (features as ``(x - x_offset) / x_scale``), ``classes``
    (labels in output order; empty for regression), ``y_offset``, ``y_scale`` (regression
    outputs times ``y_scale`` plus ``y_offset``), ``feature_names``, ``target_name``, ``task``
    and ``output``.
    """
    import numpy as np

    extra = path[:-len(".npz")] + ".preprocessing.npz"
    classes = data.classes if data.classes is not None else np.array([])
    from .persistence import atomic_savez

    atomic_savez(extra, x_offset=data.x_offset, x_scale=data.x_scale, classes=classes,
                 y_offset=np.array(data.y_offset), y_scale=np.array(data.y_scale),
                 feature_names=np.array(data.dataset.feature_names, dtype=str),
                 target_name=np.array(data.dataset.target_name), task=np.array(data.task),
                 output=np.array(data.output))
    return extra


def _plot(path, network, data, dims):
    """Training and validation cost per epoch (left) and validation score (right), as PNG."""
    from matplotlib.figure import Figure

    history = network.history
    epochs = range(1, len(history) + 1)
    validating = bool(history.validation_cost)
    figure = Figure(figsize=(10 if validating else 6, 4), layout="constrained")
    axes = figure.subplots(1, 2 if validating else 1, squeeze=False)[0]
    axes[0].plot(epochs, list(history), label="training (mean over the epoch's minibatches)")
    if validating:
        axes[0].plot(epochs, history.validation_cost, label="validation (after the epoch)")
    axes[0].set_xlabel("epoch")
    loss = {"bce": "binary cross-entropy", "ce": "cross-entropy",
            "mse": "half squared error, standardized targets"}.get(network.loss, network.loss)
    axes[0].set_ylabel(f"cost ({loss})")
    axes[0].set_yscale("log")
    axes[0].legend()
    axes[0].grid(alpha=0.3)
    if validating:
        axes[1].plot(epochs, history.validation_score, color="C1")
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("validation " + ("R²" if data.output == "linear" else "accuracy"))
        axes[1].grid(alpha=0.3)
    name = os.path.basename(data.dataset.name)
    figure.suptitle(f"fastbp: {name}, network {'-'.join(map(str, dims))}")
    figure.savefig(path, dpi=100)


# ----------------------------------------------------------------------------------- compare
def run_warmup(options):
    from . import warmup

    return warmup.run(tuple(options.dtype or DTYPES))


def run_compare(options):
    from .bench import compare

    options.hidden_sizes = parse_hidden(options.hidden)
    names = parse_activations(options.activation, max(1, len(options.hidden_sizes)))
    if "," in options.activation:
        raise ValueError("compare takes one hidden activation for every hidden layer, got "
                         f"{options.activation!r}")
    options.hidden_activation = names[0]
    _positive(options.epochs, "--epochs")
    _positive(options.batch_size, "--batch-size")
    _positive(options.repeat, "--repeat")
    if options.threads is not None:
        _positive(options.threads, "--threads")
    if not options.learning_rate > 0:
        raise ValueError(f"--learning-rate must be positive, got {options.learning_rate}")
    return compare.run(options)


if __name__ == "__main__":
    sys.exit(main())
