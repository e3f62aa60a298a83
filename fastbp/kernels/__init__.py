"""Numba kernels: only ``@njit`` code; no Python objects cross into it.

Modules: ``activations`` (codes, scalar g and g'), ``dense`` (the three sums of a dense layer),
``losses`` (loss values and the output-layer gradient), ``optim`` (parameter updates) and ``loop``
(the compiled training epoch).
"""
