"""fastbp: forward and back propagation for dense networks as parallel Numba kernels.

Importing fastbp compiles nothing; each kernel compiles on first use and is cached on disk.
The scikit-learn estimators are imported on first access, so ``import fastbp`` does not pay for
importing scikit-learn.
"""
from .gradcheck import gradient_check
from .network import Network

__version__ = "0.1.0"

__all__ = ["MLPClassifier", "MLPRegressor", "Network", "gradient_check", "__version__"]

_LAZY = {"MLPClassifier", "MLPRegressor"}


def __getattr__(name):
    if name in _LAZY:
        from . import estimators
        return getattr(estimators, name)
    raise AttributeError(f"module 'fastbp' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _LAZY)
