"""Data for the command line: scikit-learn's bundled data sets or a user's .csv/.npz file, split,
scaled and encoded for a :class:`fastbp.Network`.

Used by ``fastbp train`` and ``fastbp compare`` so that both read, split and scale data the same
way. Errors a user can cause (a missing file, a bad column, an unknown data set, unparsable values)
raise FileNotFoundError, KeyError or ValueError with a message that fits on one line.

Scaling: features are standardized with a StandardScaler fitted on the training split, unless the
caller gives a fixed divisor (``fastbp compare`` divides the digits' pixels by 16, their range, as
the benchmark workload of the same name does). Regression targets are standardized too (on the
training split); scores are reported on the original scale.
"""
import csv
import dataclasses
import os

import numpy as np

#: scikit-learn's bundled data sets: loader name and task.
BUILTIN = {
    "digits": ("load_digits", "classification"),
    "breast_cancer": ("load_breast_cancer", "classification"),
    "iris": ("load_iris", "classification"),
    "wine": ("load_wine", "classification"),
    "diabetes": ("load_diabetes", "regression"),
}

TASKS = ("classification", "regression")
FILE_TYPES = (".csv", ".npz")


@dataclasses.dataclass
class Dataset:
    """A data set as read: one row per example.

    Attributes
    ----------
    name : str
        The built-in name or the file's path.
    X : ndarray, shape (n_samples, n_features), float64
    y : ndarray, shape (n_samples,)
        Labels (any type) or real targets.
    task : {"classification", "regression"}
    feature_names : list of str
    target_name : str
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    task: str
    feature_names: list
    target_name: str

    @property
    def builtin(self):
        return self.name in BUILTIN


def describe_choices():
    """``digits, breast_cancer, ... or a .csv/.npz file`` for help texts and errors."""
    return ", ".join(BUILTIN) + " or a .csv/.npz file"


def load(spec, target=None, task=None):
    """Read a built-in data set by name, or a .csv or .npz file by path.

    Parameters
    ----------
    spec : str
        A name in :data:`BUILTIN` or a path ending in .csv or .npz. A .csv file has a header row
        and one example per row; a .npz file holds ``X`` (n_samples, n_features) and ``y``
        (n_samples,).
    target : str, optional
        The label column of a .csv file (default: the last).
    task : {"classification", "regression"}, optional
        Default: the built-in data set's, or for a file inferred from y: integer, boolean or
        string labels are classification, other numbers regression.

    Returns
    -------
    Dataset
    """
    if task is not None and task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    extension = os.path.splitext(spec)[1].lower()
    if spec in BUILTIN:
        if target is not None:
            raise ValueError(f"--target names a column of a .csv file; {spec} is a built-in "
                             "data set")
        dataset = _load_builtin(spec)
    elif extension in FILE_TYPES:
        if not os.path.exists(spec):
            raise FileNotFoundError(f"no such file: {spec}")
        if os.path.isdir(spec):
            raise ValueError(f"{spec} is a directory, not a {extension} file")
        if extension == ".csv":
            dataset = _load_csv(spec, target)
        else:
            if target is not None:
                raise ValueError("--target names a column of a .csv file; a .npz file holds "
                                 "its labels as the array y")
            dataset = _load_npz(spec)
    elif os.path.exists(spec):
        raise ValueError(f"cannot read {spec}: expected a .csv or .npz file")
    elif os.sep in spec or "." in spec:
        raise FileNotFoundError(f"no such file: {spec}")
    else:
        raise ValueError(f"unknown data set {spec!r}; expected {describe_choices()}")
    if task is not None and task != dataset.task:
        if task == "regression" and dataset.y.dtype.kind not in "biuf":
            raise ValueError(f"--task regression needs numeric targets; the targets of "
                             f"{spec} are labels like {dataset.y[0]!r}")
        dataset.task = task
        if task == "regression":
            dataset.y = dataset.y.astype(np.float64)
    return dataset


def _load_builtin(name):
    import sklearn.datasets

    loader, task = BUILTIN[name]
    bunch = getattr(sklearn.datasets, loader)()
    feature_names = [str(n) for n in getattr(bunch, "feature_names", [])] or \
        [f"x{i}" for i in range(bunch.data.shape[1])]
    return Dataset(name, np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target),
                   task, feature_names, "target")


def _load_csv(path, target):
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = [(number, row) for number, row in enumerate(csv.reader(handle), start=1)
                if any(cell.strip() for cell in row)]
    if not rows:
        raise ValueError(f"{path} is empty; expected a header row and one row per example")
    header = [cell.strip() for cell in rows[0][1]]
    if len(header) < 2:
        raise ValueError(f"{path} has {len(header)} column(s); expected at least one feature "
                         "column and a label column, separated by commas")
    if target is None:
        column = len(header) - 1
    elif target in header:
        column = header.index(target)
    else:
        raise KeyError(f"column {target!r} is not in {path}; its columns are "
                       + _shorten(", ".join(header)))
    body = rows[1:]
    if not body:
        raise ValueError(f"{path} has a header row but no examples")
    features = [i for i in range(len(header)) if i != column]
    X = np.empty((len(body), len(features)))
    labels = []
    for index, (line, row) in enumerate(body):
        if len(row) != len(header):
            raise ValueError(f"{path}, line {line}: {len(row)} field(s) where the header has "
                             f"{len(header)}")
        for j, i in enumerate(features):
            try:
                X[index, j] = float(row[i])
            except ValueError:
                raise ValueError(f"{path}, line {line}, column {header[i]!r}: {row[i]!r} is not "
                                 "a number (feature columns must be numeric)") from None
        label = row[column].strip()
        if not label:
            raise ValueError(f"{path}, line {line}: the label column {header[column]!r} is empty")
        labels.append(label)
    _check_finite(X, path, [header[i] for i in features])
    y, task = _parse_labels(labels)
    return Dataset(path, X, y, task, [header[i] for i in features], header[column])


def _parse_labels(labels):
    """Labels read as text -> (array, task): integers or strings classify, other numbers regress."""
    try:
        return np.array([int(label) for label in labels], dtype=np.int64), "classification"
    except ValueError:
        pass
    try:
        y = np.array([float(label) for label in labels])
    except ValueError:
        return np.array(labels), "classification"
    if not np.isfinite(y).all():
        raise ValueError("the label column holds NaN or infinite values")
    return y, "regression"


def _load_npz(path):
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read {path} as a .npz file: {error}") from None
    with archive:
        missing = [key for key in ("X", "y") if key not in archive.files]
        if missing:
            raise KeyError(f"{path} has no array {missing[0]!r}; expected arrays X (n_samples, "
                           f"n_features) and y (n_samples,), found "
                           + (", ".join(archive.files) or "none"))
        try:
            X, y = archive["X"], archive["y"]
        except ValueError as error:  # object arrays need pickle, refused on purpose
            raise ValueError(f"cannot read {path}: {error}") from None
    if X.ndim != 2:
        raise ValueError(f"X in {path} must be 2-D (n_samples, n_features), got shape {X.shape}")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y in {path} must be 1-D (n_samples,), got shape {y.shape}")
    if len(y) != len(X):
        raise ValueError(f"X in {path} has {len(X)} rows but y has {len(y)}")
    if len(y) == 0:
        raise ValueError(f"{path} holds no examples")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"X in {path} must be numeric, got dtype {X.dtype}")
    X = X.astype(np.float64)
    names = [f"x{i}" for i in range(X.shape[1])]
    _check_finite(X, path, names)
    if y.dtype.kind in "biuUS":
        task = "classification"
    elif y.dtype.kind == "f":
        task = "regression"
        if not np.isfinite(y).all():
            raise ValueError(f"y in {path} holds NaN or infinite values")
    else:
        raise ValueError(f"y in {path} must hold numbers or strings, got dtype {y.dtype}")
    return Dataset(path, X, y, task, names, "y")


def _check_finite(X, source, names):
    bad = ~np.isfinite(X)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise ValueError(f"{source}: feature {names[column]!r} of example {row + 1} is "
                         f"{X[row, column]} (features must be finite numbers)")


def _shorten(text, limit=200):
    return text if len(text) <= limit else text[:limit - 3] + "..."


@dataclasses.dataclass
class Split:
    """A data set split, scaled and encoded for a network (the course's layout: one column per
    example).

    Attributes
    ----------
    dataset : Dataset
    output : {"sigmoid", "softmax", "linear"}
        The network's output: sigmoid (one unit) for two classes, softmax for more, linear for
        regression.
    classes : ndarray or None
        Class labels in output order (classification).
    X_train, X_test : ndarray, shape (n_features, m_train / m_test), float64
        Scaled features.
    Y_train, Y_test : ndarray, shape (n_outputs, m_train / m_test), float64
        One-hot columns (softmax), 0/1 labels (sigmoid) or standardized targets (linear).
    y_train, y_test : ndarray
        The original labels or targets.
    x_offset, x_scale : ndarray, shape (n_features,)
        Features are scaled as ``(x - x_offset) / x_scale``.
    y_offset, y_scale : float
        Regression targets are scaled as ``(y - y_offset) / y_scale`` (0 and 1 otherwise).
    stratified : bool
        Whether the test split kept the class proportions.
    """

    dataset: Dataset
    output: str
    classes: np.ndarray
    X_train: np.ndarray
    X_test: np.ndarray
    Y_train: np.ndarray
    Y_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    x_offset: np.ndarray
    x_scale: np.ndarray
    y_offset: float = 0.0
    y_scale: float = 1.0
    stratified: bool = False

    @property
    def n_outputs(self):
        return self.Y_train.shape[0]

    @property
    def task(self):
        return self.dataset.task

    def decode(self, outputs):
        """Predicted labels (classification) or targets on the original scale from network
        outputs of shape (n_outputs, m)."""
        if self.output == "linear":
            return outputs[0] * self.y_scale + self.y_offset
        if self.output == "sigmoid":
            return self.classes[(outputs[0] > 0.5).astype(np.int64)]
        return self.classes[outputs.argmax(axis=0)]

    def summary(self):
        """One line: examples, features, classes and the split."""
        d = self.dataset
        n = len(d.y)
        kind = (f"{len(self.classes)} classes" if d.task == "classification"
                else f"regression on {d.target_name!r}")
        how = ", stratified" if self.stratified else ""
        return (f"{d.name}: {n} examples, {d.X.shape[1]} features, {kind}; "
                f"{self.X_train.shape[1]} for training, {self.X_test.shape[1]} held out{how}")


def split(dataset, test_size=0.2, seed=0, output=None, feature_scale=None):
    """Split ``dataset`` into training and held-out parts, scale and encode them.

    Parameters
    ----------
    dataset : Dataset
    test_size : float in (0, 1)
        Fraction of the examples held out (stratified by class when every class allows it).
    seed : int
        Seed of the split.
    output : {"sigmoid", "softmax", "linear"}, optional
        Default: sigmoid for two classes, softmax for more, linear for regression. Sigmoid
        needs exactly two classes and linear a regression task.
    feature_scale : float, optional
        Divide the features by this instead of standardizing them.

    Returns
    -------
    Split
    """
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    if not 0 < test_size < 1:
        raise ValueError(f"--test-size must be between 0 and 1 (a fraction), got {test_size}")
    X, y = dataset.X, dataset.y
    n = len(y)
    n_test = int(np.ceil(test_size * n))
    if n_test < 1 or n - n_test < 2:
        raise ValueError(f"--test-size {test_size} of {n} examples leaves too few for training "
                         "or testing")
    classes, output = _output_for(dataset, output)
    stratified = False
    stratify = None
    if dataset.task == "classification":
        counts = np.unique(y, return_counts=True)[1]
        if counts.min() >= 2 and n_test >= len(classes) and n - n_test >= len(classes):
            stratify, stratified = y, True
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size,
                                                        random_state=seed, stratify=stratify)
    if feature_scale is not None:
        x_offset = np.zeros(X.shape[1])
        x_scale = np.full(X.shape[1], float(feature_scale))
    else:
        scaler = StandardScaler().fit(X_train)
        x_offset, x_scale = scaler.mean_, scaler.scale_
    scale = lambda A: np.ascontiguousarray(((A - x_offset) / x_scale).T)  # noqa: E731
    y_offset, y_scale = 0.0, 1.0
    if output == "linear":
        y_offset = float(np.mean(y_train))
        y_scale = float(np.std(y_train)) or 1.0
        encode = lambda v: ((v - y_offset) / y_scale).reshape(1, -1)  # noqa: E731
    elif output == "sigmoid":
        encode = lambda v: (v == classes[1]).astype(np.float64).reshape(1, -1)  # noqa: E731
    else:
        def encode(v):
            Y = np.zeros((len(classes), len(v)))
            Y[np.searchsorted(classes, v), np.arange(len(v))] = 1.0
            return Y
    return Split(dataset, output, classes, scale(X_train), scale(X_test), encode(y_train),
                 encode(y_test), y_train, y_test, x_offset, x_scale, y_offset, y_scale,
                 stratified)


def _output_for(dataset, output):
    """(classes, output activation) for the data set, checking a requested output."""
    if dataset.task == "regression":
        if output not in (None, "linear"):
            raise ValueError(f"--output {output} does not fit a regression task; use linear "
                             "(or --task classification)")
        return None, "linear"
    classes = np.unique(dataset.y)
    if len(classes) < 2:
        raise ValueError(f"{dataset.name} has a single class ({classes[0]!r}); classification "
                         "needs two or more")
    default = "sigmoid" if len(classes) == 2 else "softmax"
    if output is None:
        return classes, default
    if output == "linear":
        raise ValueError("--output linear does not fit a classification task; use "
                         f"{default} (or --task regression)")
    if output == "sigmoid" and len(classes) != 2:
        raise ValueError(f"--output sigmoid needs two classes; {dataset.name} has "
                         f"{len(classes)} (use softmax)")
    if output not in ("sigmoid", "softmax"):
        raise ValueError(f"unknown output {output!r}; expected sigmoid, softmax or linear")
    return classes, output


def many_classes_note(split_data):
    """A hint when integer labels look like a quantity (many distinct values), else None."""
    d = split_data.dataset
    if (d.task == "classification" and not d.builtin and d.y.dtype.kind in "iu"
            and len(split_data.classes) > max(20, len(d.y) // 10)):
        return (f"note: {len(split_data.classes)} distinct integer labels; if {d.target_name!r} "
                "is a quantity, use --task regression")
    return None
