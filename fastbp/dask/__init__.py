"""fastbp on Dask: one model trained data-parallel across a cluster.

``fastbp.dask.MLPClassifier`` and ``MLPRegressor`` take the constructor arguments of
``fastbp.MLPClassifier`` / ``MLPRegressor`` and fit dask arrays of row chunks where they lie,
with the default ``distributed.Client`` (``dask_ml.linear_model``'s convention). Importing this
module imports dask (and distributed on the first fit);
``import fastbp`` imports none of them. Install them with ``pip install 'fastbp[dask]'``.
"""
from ._estimators import MLPClassifier, MLPRegressor
from ._worker import kernel_threads

__all__ = ["MLPClassifier", "MLPRegressor", "kernel_threads"]
