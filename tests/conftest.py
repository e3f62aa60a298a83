"""Shared fixtures: random generators, small data sets, the Hypothesis profile, thread restore."""
import os
import sys

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# the helper module sits beside this file; make it importable whatever pytest's import mode
sys.path.insert(0, os.path.dirname(__file__))

from _helpers import make_targets  # noqa: E402

# Kernels compile once per dtype, so examples are cheap after the first; keep the counts modest
# and never time an example (the first one includes compilation). No example database on disk.
settings.register_profile("fastbp", max_examples=20, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
# a deeper search for a maintainer's occasional run: pytest --hypothesis-profile=fastbp-deep
settings.register_profile("fastbp-deep", parent=settings.get_profile("fastbp"), max_examples=400)
settings.load_profile("fastbp")


@pytest.fixture
def rng():
    """A fresh, seeded generator for each test."""
    return np.random.default_rng(20240611)


@pytest.fixture
def small_classification(rng):
    """X (4, 13) and one-hot Y (3, 13): a small softmax problem."""
    X = rng.standard_normal((4, 13))
    return X, make_targets(rng, "softmax", 3, 13)


@pytest.fixture
def small_binary(rng):
    """X (3, 17) and 0/1 labels Y (1, 17): a small sigmoid problem (the course's kind)."""
    X = rng.standard_normal((3, 17))
    Y = (X[0:1] + 0.5 * X[1:2] > 0).astype(np.float64)
    return X, Y


@pytest.fixture
def small_regression(rng):
    """X (3, 20) and real targets Y (2, 20)."""
    X = rng.standard_normal((3, 20))
    Y = np.vstack([np.sin(X[0]) + X[1], X[2] * 0.5])
    return X, Y


@pytest.fixture
def restore_threads():
    """Put numba's thread count back as it was after the test."""
    before = numba.get_num_threads()
    yield
    numba.set_num_threads(before)
