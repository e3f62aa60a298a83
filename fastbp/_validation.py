"""Input checks at the edge: every problem named, raised before anything changes.

Arrays that pass leave here contiguous and of the network's dtype, converted once per call.
"""
import numbers

import numpy as np

from . import _sparse

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_dtype(dtype):
    """Return ``dtype`` as a NumPy dtype if it is float32 or float64; raise otherwise."""
    try:
        resolved = np.dtype(dtype)
    except TypeError as error:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from error
    if resolved not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {resolved}")
    return resolved


def check_array(array, name, dtype, ndim=2):
    """Validate a numeric, finite array of ``ndim`` dimensions and return it as ``dtype``.

    Raises
    ------
    TypeError
        If ``array`` is not numeric (object, string, complex ...).
    ValueError
        If it has the wrong number of dimensions, no elements, or a NaN or infinite value.
    """
    if hasattr(array, "toarray") and not isinstance(array, np.ndarray):
        raise TypeError(f"{name} is a sparse matrix; pass a dense array (e.g. {name}.toarray())")
    try:
        converted = np.asarray(array)
    except Exception as error:  # ragged lists and the like
        raise ValueError(f"{name} could not be read as an array: {error}") from error
    kind = converted.dtype.kind
    if kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {converted.dtype}")
    if converted.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got {converted.ndim}-D with shape "
                         f"{converted.shape}")
    if converted.size == 0:
        raise ValueError(f"{name} is empty (shape {converted.shape})")
    converted = np.asarray(converted, dtype=dtype)
    if not converted.flags.writeable:
        # the kernels never write it, but Numba types a read-only array apart and would compile
        # every kernel that sees it again (a memmap opened "r", a broadcast, an unpickled array)
        converted = np.array(converted)
    # min and max propagate NaN and reach inf without a temporary the size of the data
    if not (np.isfinite(converted.min()) and np.isfinite(converted.max())):
        count = int(converted.size - np.isfinite(converted).sum())
        raise ValueError(f"{name} contains {count} NaN or infinite value(s)")
    return converted


def check_training_pair(X, Y, n_inputs, n_outputs, dtype, X_name="X", Y_name="Y",
                        sparse=False):
    """Validate inputs X (n_inputs, m) and targets Y (n_outputs, m), neuron-major.

    Returns
    -------
    X, Y : ndarray of ``dtype``
        X is ``fastbp._sparse.SparseRows`` if it is a scipy sparse matrix and ``sparse`` (see
        :func:`check_inputs`).
    """
    X = check_inputs(X, n_inputs, dtype, X_name, sparse)
    Y = check_array(Y, Y_name, dtype)
    if Y.shape[0] != n_outputs:
        raise ValueError(f"{Y_name} has {Y.shape[0]} rows but the network has {n_outputs} "
                         f"output(s); {Y_name} must be (n_outputs, m)")
    if Y.shape[1] != X.shape[1]:
        raise ValueError(f"{X_name} has {X.shape[1]} examples (columns) but {Y_name} has "
                         f"{Y.shape[1]}")
    return X, Y


def check_inputs(X, n_inputs, dtype, name="X", sparse=False):
    """Validate inputs X of shape (n_inputs, m), one column per example.

    With ``sparse``, a scipy sparse X is accepted and returned as ``fastbp._sparse.SparseRows``
    (its examples as CSR rows, never made dense); otherwise it is refused with a TypeError.
    """
    if sparse and _sparse.issparse(X):
        return _sparse.check_sparse_inputs(X, n_inputs, dtype, name)
    X = check_array(X, name, dtype)
    if X.shape[0] != n_inputs:
        raise ValueError(f"{name} has {X.shape[0]} rows but the network has {n_inputs} "
                         f"input(s); {name} must be (n_inputs, m) with one column per example")
    return X


def check_positive_int(value, name, allow_none=False):
    """Return ``value`` as an int if it is a positive integer (or None when allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_positive_float(value, name, allow_zero=False):
    """Return ``value`` as a float if it is a finite positive (or non-negative) number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return float(value)


def check_fraction(value, name, closed=False):
    """Return ``value`` as a float in (0, 1) (or [0, 1] when ``closed``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}")
    inside = 0 <= value <= 1 if closed else 0 < value < 1
    if not inside:
        interval = "[0, 1]" if closed else "(0, 1)"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return float(value)


def check_sample_weight(sample_weight, m, dtype):
    """Validate sample weights: shape (m,), finite, non-negative, not all zero."""
    weights = check_array(sample_weight, "sample_weight", dtype, ndim=1)
    if weights.shape[0] != m:
        raise ValueError(f"sample_weight has {weights.shape[0]} entries but there are {m} "
                         "examples")
    if (weights < 0).any():
        raise ValueError("sample_weight must be non-negative")
    if not weights.any():
        raise ValueError("sample_weight is zero for every example")
    return np.ascontiguousarray(weights)


def check_dropout(dropout, n_hidden):
    """Dropout rates, one per hidden layer, from one rate for all or a sequence of them.

    Each rate is the probability of dropping a unit, a number in [0, 1) (0: no dropout).

    Returns
    -------
    tuple of float, length ``n_hidden``
    """
    if isinstance(dropout, np.ndarray) and dropout.ndim == 0:
        dropout = dropout.item()
    if isinstance(dropout, numbers.Real):
        rates = [dropout] * max(n_hidden, 1)   # checked even without hidden layers
    elif isinstance(dropout, (str, bytes)) or not hasattr(dropout, "__iter__"):
        raise ValueError(f"dropout must be a rate in [0, 1) or a sequence of one rate per "
                         f"hidden layer, got {dropout!r}")
    else:
        rates = list(dropout)
        if len(rates) != n_hidden:
            raise ValueError(f"dropout lists {len(rates)} rate(s) but the network has "
                             f"{n_hidden} hidden layer(s)")
    for rate in rates:
        if (isinstance(rate, bool) or not isinstance(rate, numbers.Real)
                or not np.isfinite(rate) or not 0 <= rate < 1):
            raise ValueError(f"dropout rates must be numbers in [0, 1) (the probability of "
                             f"dropping a unit; 0 is none), got {rate!r}")
    return tuple(float(rate) for rate in rates)[:n_hidden]
