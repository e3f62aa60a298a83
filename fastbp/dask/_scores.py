"""scikit-learn's accuracy and R² as lazy dask expressions (computed on the workers).

dask-ml's ``accuracy_score`` and ``r2_score`` would do, but its ``r2_score`` ignores
``sample_weight`` and, with dask 2026, fails on the boolean-mask assignment it uses; these are the
few lines of the formulas, kept lazy.
"""
import dask.array as da


def accuracy(y, prediction, sample_weight=None):
    """Fraction (or weighted fraction) of rows predicted right: a 0-d dask array."""
    right = (y == prediction).astype("f8")
    if sample_weight is None:
        return right.mean()
    return (right * sample_weight).sum() / sample_weight.sum()


def r2(y, prediction, sample_weight=None):
    """Coefficient of determination, uniformly averaged over outputs: a 0-d dask array.

    As scikit-learn: an output whose targets do not vary scores 1 if it is predicted exactly,
    else 0.
    """
    if y.ndim == 1:
        y = y[:, None]
    if prediction.ndim == 1:
        prediction = prediction[:, None]
    w = 1.0 if sample_weight is None else sample_weight[:, None]
    total = float(y.shape[0]) if sample_weight is None else sample_weight.sum()
    mean = (w * y).sum(axis=0) / total
    residual = (w * (y - prediction) ** 2).sum(axis=0, dtype="f8")
    spread = (w * (y - mean) ** 2).sum(axis=0, dtype="f8")
    safe = da.where(spread != 0, spread, 1.0)
    scores = da.where(spread != 0, 1.0 - residual / safe, da.where(residual != 0, 0.0, 1.0))
    return scores.mean()
