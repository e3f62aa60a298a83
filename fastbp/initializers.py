"""Weight initializers: each fills W[l] (n_l, n_{l-1}) and b[l] (n_l,) of every layer.

===========  =====================================================  ====================
name         W                                                      b
===========  =====================================================  ====================
``course``   randn / sqrt(n_prev)  (the course's deep initializer)  0
``he``       randn * sqrt(2 / n_prev)                               0
``glorot``   uniform(-r, r), r = sqrt(f / (n_prev + n)), f = 6,     uniform(-r, r), as
             or 2 for sigmoid hidden layers (scikit-learn's rule)   scikit-learn draws it
``small``    randn * 0.01                                           0
===========  =====================================================  ====================
"""
import numpy as np

INITIALIZERS = ("course", "he", "glorot", "small")


def check_initializer(name):
    """Raise ValueError unless ``name`` is a known initializer."""
    if not isinstance(name, str) or name not in INITIALIZERS:
        raise ValueError(f"unknown initializer {name!r}; expected one of {list(INITIALIZERS)}")
    return name


def initialize(name, layer_dims, hidden_activations, rng):
    """Draw initial parameters.

    Parameters
    ----------
    name : str
        One of :data:`INITIALIZERS`.
    layer_dims : sequence of int
    hidden_activations : sequence of str
        Names of the hidden activations (glorot's factor depends on them, as in scikit-learn).
    rng : numpy.random.Generator

    Returns
    -------
    list of (W, b)
        float64 arrays, one pair per layer.
    """
    layers = []
    for l in range(1, len(layer_dims)):
        n, n_prev = layer_dims[l], layer_dims[l - 1]
        b = np.zeros(n)
        if name == "course":
            W = rng.standard_normal((n, n_prev)) / np.sqrt(n_prev)
        elif name == "he":
            W = rng.standard_normal((n, n_prev)) * np.sqrt(2.0 / n_prev)
        elif name == "small":
            W = rng.standard_normal((n, n_prev)) * 0.01
        else:
            factor = 2.0 if "sigmoid" in hidden_activations else 6.0
            bound = np.sqrt(factor / (n_prev + n))
            W = rng.uniform(-bound, bound, (n, n_prev))
            b = rng.uniform(-bound, bound, n)
        layers.append((W, b))
    return layers
