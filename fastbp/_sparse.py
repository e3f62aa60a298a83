"""Sparse inputs at the edge: a scipy sparse X checked once and held as the CSR arrays the
sparse kernels (``fastbp.kernels.sparse``) read, one row per example, never made dense.

A network's X is neuron-major, (n_inputs, m): its example-major CSR form is the CSC form of X,
so a CSC X (what ``X_samples.T`` of scikit-learn's CSR X is) is used as it is, with no copy of
its nonzeros; any other format is converted once.
"""
import numpy as np

#: Largest column index the kernels' int32 ``indices`` hold.
_MAX_COLUMNS = np.iinfo(np.int32).max


def issparse(X):
    """Whether ``X`` is a scipy sparse matrix or array (without importing scipy for others)."""
    if isinstance(X, SparseRows):
        return True
    module = type(X).__module__ or ""
    if not module.startswith("scipy.sparse"):
        return False
    import scipy.sparse as sp

    return sp.issparse(X)


class SparseRows:
    """Inputs of a network as CSR arrays, one row per example (the transpose of X).

    Parameters
    ----------
    indptr : ndarray of int64, shape (m + 1,)
    indices : ndarray of int32, shape (nnz,)
    data : ndarray of float32 or float64, shape (nnz,)
    n_features : int

    Attributes
    ----------
    shape : (int, int)
        ``(n_features, m)``: the shape of the dense X these rows stand for (neuron-major), so
        that code reading ``X.shape[1]`` for the number of examples needs no branch.
    """

    def __init__(self, indptr, indices, data, n_features):
        self.indptr = indptr
        self.indices = indices
        self.data = data
        self.n_features = int(n_features)

    @property
    def shape(self):
        return (self.n_features, self.indptr.shape[0] - 1)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def arrays(self):
        """``(indptr, indices, data)``, as the kernels take them."""
        return self.indptr, self.indices, self.data

    def take(self, rows):
        """The examples ``rows`` (an integer array), in that order, as new SparseRows."""
        rows = np.asarray(rows, dtype=np.int64)
        starts = self.indptr[rows]
        lengths = self.indptr[rows + 1] - starts
        indptr = np.zeros(rows.shape[0] + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        # the position of every kept nonzero: each row's start, then counting up within it
        within = np.arange(indptr[-1], dtype=np.int64) - np.repeat(indptr[:-1], lengths)
        source = np.repeat(starts, lengths) + within
        return SparseRows(indptr, self.indices[source], self.data[source], self.n_features)

    def batch_buffers(self, batch_size):
        """Empty CSR arrays large enough for any ``batch_size`` of these rows (the nonzeros of
        the longest rows): where the training loop gathers each minibatch."""
        lengths = np.diff(self.indptr)
        batch_size = min(int(batch_size), lengths.shape[0])
        capacity = int(np.sort(lengths)[lengths.shape[0] - batch_size:].sum())
        return (np.zeros(batch_size + 1, dtype=np.int64), np.zeros(capacity, dtype=np.int32),
                np.zeros(capacity, dtype=self.data.dtype))

    def toarray(self):
        """The dense neuron-major X (n_features, m), for tests and small data."""
        X = np.zeros(self.shape, dtype=self.data.dtype)
        rows = np.repeat(np.arange(self.shape[1]), np.diff(self.indptr))
        np.add.at(X, (self.indices, rows), self.data)
        return X

    def __repr__(self):
        return (f"SparseRows({self.shape[1]} examples of {self.n_features} features, "
                f"{self.data.shape[0]} nonzeros, {self.data.dtype})")


def _check_compressed(indptr, indices, n_major, n_minor, name, nnz_arrays):
    """Check a CSR/CSC structure (``n_major`` rows of ``n_minor`` columns, or the transpose):
    raise ValueError naming the first problem; return its number of nonzeros."""
    if indptr.ndim != 1 or indices.ndim != 1:
        raise ValueError(f"{name}'s index arrays must be 1-D")
    if indptr.dtype.kind not in "iu" or indices.dtype.kind not in "iu":
        raise ValueError(f"{name}'s index arrays must hold integers, got {indptr.dtype} and "
                         f"{indices.dtype}")
    if indptr.shape[0] != n_major + 1:
        raise ValueError(f"{name}'s indptr has {indptr.shape[0]} entries, expected {n_major + 1}")
    if indptr[0] != 0:
        raise ValueError(f"{name}'s indptr must start at 0, got {indptr[0]}")
    if n_major and (np.diff(indptr) < 0).any():
        raise ValueError(f"{name}'s indptr must be non-decreasing")
    nnz = int(indptr[-1])
    if any(nnz > size for size in nnz_arrays):
        raise ValueError(f"{name}'s indptr ends at {nnz}, beyond its {min(nnz_arrays)} stored "
                         "entries")
    used = indices[:nnz]
    if nnz and (used.min() < 0 or used.max() >= n_minor):
        raise ValueError(f"{name} has column indices outside [0, {n_minor})")
    return nnz


def check_sparse_inputs(X, n_inputs, dtype, name="X"):
    """Validate a scipy sparse X of shape (n_inputs, m), one column per example.

    Returns
    -------
    SparseRows
        Its examples as CSR rows (int64 indptr, int32 indices, data of ``dtype``); the CSC
        arrays of X itself when they already have those types.

    Raises
    ------
    TypeError
        If X's values are not real numbers.
    ValueError
        If it is not 2-D, has no examples, the wrong number of rows, broken index arrays
        (indptr not starting at 0 or decreasing, indices out of range), or a NaN or infinite
        value.
    """
    if isinstance(X, SparseRows):
        if X.n_features != n_inputs:
            raise ValueError(f"{name} has {X.n_features} rows but the network has {n_inputs} "
                             f"input(s)")
        return X
    if len(X.shape) != 2:
        raise ValueError(f"{name} must be 2-D, got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}")
    if X.shape[0] != n_inputs:
        raise ValueError(f"{name} has {X.shape[0]} rows but the network has {n_inputs} "
                         f"input(s); {name} must be (n_inputs, m) with one column per example")
    if X.shape[1] == 0 or X.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {X.shape})")
    if n_inputs > _MAX_COLUMNS:
        raise ValueError(f"{name} has {n_inputs} rows; sparse inputs take at most "
                         f"{_MAX_COLUMNS}")
    fmt = X.format
    if fmt in ("csr", "csc"):
        major, minor = (X.shape[0], X.shape[1]) if fmt == "csr" else (X.shape[1], X.shape[0])
        indptr, indices, data = np.asarray(X.indptr), np.asarray(X.indices), np.asarray(X.data)
        nnz = _check_compressed(indptr, indices, major, minor, name,
                                (indices.shape[0], data.shape[0]))
    else:
        X = X.tocoo()
        row, col = np.asarray(X.row), np.asarray(X.col)
        if row.size and (row.min() < 0 or row.max() >= X.shape[0] or col.min() < 0
                         or col.max() >= X.shape[1]):
            raise ValueError(f"{name} has coordinates outside its shape {X.shape}")
        fmt = "coo"
    values = np.asarray(X.data)[:nnz] if fmt != "coo" else np.asarray(X.data)
    if values.size and not (np.isfinite(values.min()) and np.isfinite(values.max())):
        count = int(values.size - np.isfinite(values).sum())
        raise ValueError(f"{name} contains {count} NaN or infinite value(s)")
    if fmt != "csc":
        # the rows of X.T: a copy of the nonzeros, once (scipy's conversion sums duplicates of
        # a COO matrix; a CSR matrix's order within a row is kept)
        X = X.tocsc()
        nnz = int(X.indptr[-1])
    indptr = np.require(np.asarray(X.indptr), np.int64, "CW")
    indices = np.require(np.asarray(X.indices)[:nnz], np.int32, "CW")
    data = np.require(np.asarray(X.data)[:nnz], dtype, "CW")
    return SparseRows(indptr, indices, data, n_inputs)
