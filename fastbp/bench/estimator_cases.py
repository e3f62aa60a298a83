"""fastbp's ``MLPClassifier`` / ``MLPRegressor`` beside scikit-learn's, on the same arguments.

The cases of issue 12's estimator table, shared by scripts/estimators_vs_sklearn.py (each fit in
a fresh process) and the asv suite (``bench_estimators``): scikit-learn's digits (X / 16) and
diabetes data in float64, fits of a fixed number of epochs (``tol=0`` and ``n_iter_no_change``
out of reach, so that every fit runs all of them; the count of that plateau is still kept, as
with the estimators' defaults).
"""
import time
import warnings

#: case -> (estimator, data set, constructor arguments besides the fixed ones of
#: :func:`make_estimator`)
CASES = {
    "digits-adam": ("MLPClassifier", "digits",
                    dict(hidden_layer_sizes=(64, 32), solver="adam", learning_rate_init=0.001)),
    "digits-sgd": ("MLPClassifier", "digits",
                   dict(hidden_layer_sizes=(64, 32), solver="sgd", learning_rate_init=0.01)),
    "diabetes-adam": ("MLPRegressor", "diabetes",
                      dict(hidden_layer_sizes=(32,), solver="adam", learning_rate_init=0.01)),
}

#: The two implementations: fastbp's estimators and scikit-learn's.
LIBRARIES = ("fastbp", "sklearn")


def load_data(case):
    """``(X, y)`` of a case's data set (digits scaled to [0, 1])."""
    from sklearn.datasets import load_diabetes, load_digits

    data = CASES[case][1]
    X, y = (load_digits if data == "digits" else load_diabetes)(return_X_y=True)
    return (X / 16 if data == "digits" else X), y


def make_estimator(library, case, epochs):
    """The case's estimator from ``library`` ("fastbp" or "sklearn"), to fit exactly ``epochs``
    epochs."""
    if library == "fastbp":
        import fastbp as module
    elif library == "sklearn":
        import sklearn.neural_network as module
    else:
        raise ValueError(f"library must be one of {LIBRARIES}, got {library!r}")
    name, _, arguments = CASES[case]
    return getattr(module, name)(max_iter=epochs, tol=0, n_iter_no_change=10**6,
                                 random_state=0, **arguments)


def fit_seconds(library, case, epochs, X, y):
    """Wall seconds of one fit of ``epochs`` epochs, and the fitted estimator."""
    estimator = make_estimator(library, case, epochs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # ConvergenceWarning: every fit stops at max_iter
        started = time.perf_counter()
        estimator.fit(X, y)
        return time.perf_counter() - started, estimator
