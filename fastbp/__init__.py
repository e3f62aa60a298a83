"""fastbp: forward and back propagation for dense networks as parallel Numba kernels.

Importing fastbp compiles nothing; each kernel compiles on first use and is cached on disk.
"""
from .estimators import MLPClassifier, MLPRegressor
from .gradcheck import gradient_check
from .network import Network

__version__ = "0.1.0"

__all__ = ["MLPClassifier", "MLPRegressor", "Network", "gradient_check", "__version__"]
