"""Sparse inputs stay sparse: the first layer's kernels read the rows of a scipy sparse X.

Every result on a sparse X is checked against the same computation on its dense copy (the dense
kernels, and ``fastbp.reference``): they agree to float rounding (the sparse sums add their
terms in another order). Results on sparse inputs are bit-identical with 1 and 2 threads.
"""
import subprocess
import sys
import textwrap
import tracemalloc
import warnings

import numba
import numpy as np
import pytest
import scipy.sparse as sp

from fastbp import MLPClassifier, MLPRegressor, Network, _config, gradient_check
from fastbp import reference as ref
from fastbp._sparse import SparseRows, check_sparse_inputs
from fastbp.kernels import sparse as sparse_kernels

from _helpers import (assert_close, assert_grads_close, assert_parameters_identical, make_targets,
                      parameters_of, tolerance)

DTYPES = [np.float64, np.float32]


def sparse_inputs(n_features, m, density=0.2, seed=0, empty_rows=(1, -2)):
    """A CSC X (n_features, m) (neuron-major: its columns are the examples) with some empty
    examples, unsorted indices and values of both signs."""
    rng = np.random.default_rng(seed)
    dense = rng.standard_normal((n_features, m)) * (rng.random((n_features, m)) < density)
    for column in empty_rows:
        dense[:, column] = 0.0
    X = sp.csc_matrix(dense)
    # unsorted column indices within each example: the kernels must not rely on the order
    for i in range(m):
        start, stop = X.indptr[i], X.indptr[i + 1]
        X.indices[start:stop] = X.indices[start:stop][::-1]
        X.data[start:stop] = X.data[start:stop][::-1]
    X.has_sorted_indices = False
    return X


def params_close(a, b, dtype, what=""):
    for key in a.parameters:
        assert_close(a.parameters[key], b.parameters[key], dtype, what=f"{what}{key}",
                     scale=max(1.0, float(np.abs(b.parameters[key]).max())))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims,hidden,output", [
    ([23, 5, 3], "relu", "softmax"),
    ([23, 7, 4, 2], "tanh", "sigmoid"),
    ([23, 3], "relu", "softmax"),          # the first layer is the output layer
    ([23, 6, 2], "sigmoid", "linear"),
])
@pytest.mark.parametrize("optimizer,batch_size", [("adam", 7), ("momentum", None), ("sgd", 11)])
def test_fit_on_sparse_matches_dense(dtype, dims, hidden, output, optimizer, batch_size):
    m = 41   # batches of 7 and 11 do not divide it
    X = sparse_inputs(dims[0], m, seed=len(dims))
    Y = make_targets(np.random.default_rng(1), output, dims[-1], m)
    weights = np.random.default_rng(2).random(m) + 0.1
    trained = []
    for inputs in (X, X.toarray()):
        net = Network(dims, hidden, output, dtype=dtype, seed=3)
        net.fit(inputs, Y, epochs=3, batch_size=batch_size, optimizer=optimizer,
                learning_rate=0.05, alpha=0.3, sample_weight=weights, seed=4)
        trained.append(net)
    sparse, dense = trained
    params_close(sparse, dense, dtype)
    np.testing.assert_allclose(sparse.history, dense.history, rtol=10 * tolerance(dtype))
    assert sparse._theta.dtype == np.dtype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_backward_cost_on_sparse_match_the_reference(dtype):
    dims, m = [31, 6, 5, 3], 17
    X = sparse_inputs(dims[0], m)
    dense = X.toarray()
    Y = make_targets(np.random.default_rng(5), "softmax", dims[-1], m)
    net = Network(dims, "tanh", "softmax", dtype=dtype, seed=6)
    AL = net.forward(X)
    grads = net.backward(Y)
    params = parameters_of(net)
    AL_ref, caches = ref.forward(dense, params, net.activations, net.output)
    assert_close(AL, AL_ref, dtype, what="AL")
    assert_grads_close(grads, ref.backward(AL_ref, Y, caches, net.activations), dtype)
    assert_close(net.cost(X, Y), ref.loss(caches[-1][3], AL_ref, Y, net.output), dtype)
    np.testing.assert_array_equal(net.predict(X), net.predict(dense))


@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_loss_and_gradient_with_penalty_and_weights_match_the_reference(dtype):
    dims, m = [29, 4, 2], 13
    X = sparse_inputs(dims[0], m, seed=7)
    Y = make_targets(np.random.default_rng(8), "sigmoid", dims[-1], m)
    weights = (np.random.default_rng(9).random(m) + 0.5).astype(dtype)
    net = Network(dims, "leaky_relu", "sigmoid", dtype=dtype, seed=10)
    rows = check_sparse_inputs(X, dims[0], dtype)
    cost, grad = net._loss_and_gradient(rows, Y.astype(dtype), alpha=0.7, weights=weights)
    expected_cost, expected = ref.loss_and_gradient(
        X.toarray(), Y, parameters_of(net), net.activations, net.output,
        sample_weight=weights.astype(np.float64), alpha=0.7)
    assert_close(cost, expected_cost, dtype, what="cost")
    assert_grads_close(net._gradient_dict(grad), expected, dtype)


def test_gradient_check_of_the_sparse_first_layer():
    dims, m = [19, 5, 3], 9
    X = sparse_inputs(dims[0], m, density=0.3, seed=11)
    Y = make_targets(np.random.default_rng(12), "softmax", dims[-1], m)
    net = Network(dims, "tanh", "softmax", seed=13)
    assert gradient_check(net, X, Y) < 1e-7
    # and the check does read the first layer's gradient: a wrong dW1 would fail it
    _, grad = net._loss_and_gradient(check_sparse_inputs(X, dims[0], np.float64), Y)
    W1 = grad[:dims[0] * dims[1]]
    assert np.abs(W1).max() > 1e-3


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_sparse_format_and_index_type_gives_the_same_result(dtype):
    dims, m = [21, 4, 2], 15
    X = sparse_inputs(dims[0], m, seed=14)
    Y = make_targets(np.random.default_rng(15), "linear", dims[-1], m)
    csc64 = X.copy()
    csc64.indices = csc64.indices.astype(np.int64)
    csc64.indptr = csc64.indptr.astype(np.int64)
    # duplicate entries add up (scipy's meaning): split every value in two
    duplicated = sp.csc_matrix((np.concatenate([X.data / 2, X.data / 2]),
                                (np.concatenate([X.tocoo().row] * 2),
                                 np.concatenate([X.tocoo().col] * 2))), shape=X.shape)
    with_zeros = X.copy()
    with_zeros.data[::3] = 0.0   # explicit zeros, kept as entries
    expected_X = with_zeros.toarray()
    results = []
    for inputs in (X, X.tocsr(), X.tocoo(), sp.csc_array(X), csc64, duplicated):
        net = Network(dims, "relu", "linear", dtype=dtype, seed=16)
        results.append(net.forward(inputs))
    for result in results[1:]:
        assert_close(result, results[0], dtype)
    net = Network(dims, "relu", "linear", dtype=dtype, seed=16)
    assert_close(net.forward(with_zeros), net.forward(expected_X), dtype)


def test_csc_input_of_the_networks_dtype_is_not_copied():
    X = sparse_inputs(12, 8)
    rows = check_sparse_inputs(X.astype(np.float64), 12, np.float64)
    X64 = X.astype(np.float64)
    X64.indptr = X64.indptr.astype(np.int64)
    rows = check_sparse_inputs(X64, 12, np.float64)
    assert np.shares_memory(rows.data, X64.data) and np.shares_memory(rows.indices, X64.indices)


def test_hold_out_and_validation_data_may_be_sparse():
    dims, m = [17, 5, 3], 40
    X = sparse_inputs(dims[0], m, seed=17)
    Y = make_targets(np.random.default_rng(18), "softmax", dims[-1], m)
    runs = []
    for inputs in (X, X.toarray()):
        net = Network(dims, "relu", "softmax", seed=19)
        net.fit(inputs, Y, epochs=4, batch_size=8, validation_fraction=0.25, seed=20)
        net.fit(inputs, Y, epochs=2, batch_size=8, validation_data=(inputs[:, :9], Y[:, :9]))
        runs.append(net)
    sparse, dense = runs
    params_close(sparse, dense, np.float64)
    np.testing.assert_allclose(sparse.history.validation_cost, dense.history.validation_cost,
                               rtol=1e-10)
    assert sparse.history.validation_score == dense.history.validation_score


@pytest.mark.parametrize("batch_size", [8, None])
def test_a_sparse_fit_stops_on_a_plateau_as_a_dense_one(batch_size):
    # the sparse epoch loop counts scikit-learn's plateau itself too: the same epoch as the
    # count in Python (forced by a callback), and as the dense loop's on the same data
    dims, m = [17, 5, 3], 40
    X = sparse_inputs(dims[0], m, seed=21)
    Y = make_targets(np.random.default_rng(22), "softmax", dims[-1], m)
    runs = []
    for inputs, callbacks in ((X, []), (X, [lambda epoch, history: False]), (X.toarray(), [])):
        net = Network(dims, "relu", "softmax", seed=23)
        net.fit(inputs, Y, epochs=400, batch_size=batch_size, learning_rate=0.5, seed=24,
                n_iter_no_change=2, tol=1e-3, callbacks=callbacks)
        runs.append(net)
    kernel, python, dense = runs
    assert 5 < len(kernel.history) < 400
    assert list(kernel.history) == list(python.history)
    assert_parameters_identical(kernel, python.parameters)
    assert len(dense.history) == len(kernel.history)
    params_close(kernel, dense, np.float64)


@pytest.mark.parametrize("batch_size", [8, None])
def test_a_diverging_sparse_fit_stops_as_a_dense_one(batch_size):
    dims, m = [15, 6, 2], 30
    X = sparse_inputs(dims[0], m, density=0.5, seed=36) * 1e3
    Y = make_targets(np.random.default_rng(37), "linear", dims[-1], m) * 1e3
    runs = []
    for inputs in (X, X.toarray()):
        net = Network(dims, "relu", "linear", seed=38)
        with pytest.raises(FloatingPointError):
            net.fit(inputs, Y, epochs=50, batch_size=batch_size, learning_rate=1.0, seed=39)
        runs.append(net)
    sparse, dense = runs
    assert len(sparse.history) == len(dense.history)
    assert np.isfinite(sparse._theta).all()
    params_close(sparse, dense, np.float64)


def test_take_and_batch_buffers():
    X = sparse_inputs(10, 9, seed=21)
    rows = check_sparse_inputs(X, 10, np.float64)
    order = np.array([4, 1, 1, 8])
    np.testing.assert_array_equal(rows.take(order).toarray(), X.toarray()[:, order])
    lengths = np.diff(X.indptr)
    indptr, indices, data = rows.batch_buffers(3)
    assert indptr.shape == (4,) and indices.shape == data.shape == (np.sort(lengths)[-3:].sum(),)


BAD = {
    "indptr not starting at 0": lambda X: setattr(X, "indptr", X.indptr + 1),
    "indptr decreasing": lambda X: X.indptr.__setitem__(3, X.indptr[4] + 1),
    "indptr short": lambda X: setattr(X, "indptr", X.indptr[:-1]),
    "indptr beyond the entries": lambda X: X.indptr.__setitem__(-1, X.indptr[-1] + 5),
    "index out of range": lambda X: X.indices.__setitem__(0, 999),
    "negative index": lambda X: X.indices.__setitem__(0, -1),
    "nan": lambda X: X.data.__setitem__(0, np.nan),
    "inf": lambda X: X.data.__setitem__(-1, np.inf),
}


@pytest.mark.parametrize("problem", sorted(BAD))
@pytest.mark.parametrize("fmt", ["csc", "csr"])
def test_broken_sparse_inputs_are_refused_before_anything_changes(problem, fmt):
    dims, m = [12, 3, 2], 10
    X = sparse_inputs(dims[0], m, density=0.5, empty_rows=()).asformat(fmt)
    X.indptr = X.indptr.copy()
    BAD[problem](X)
    Y = make_targets(np.random.default_rng(22), "sigmoid", dims[-1], m)
    net = Network(dims, "relu", "sigmoid", seed=23)
    before = net._theta.copy()
    for call in (lambda: net.fit(X, Y, epochs=2, batch_size=4), lambda: net.forward(X),
                 lambda: net.cost(X, Y)):
        with pytest.raises(ValueError):
            call()
    np.testing.assert_array_equal(net._theta, before)
    assert len(net.history) == 0


def test_sparse_inputs_of_the_wrong_shape_or_kind_are_refused():
    net = Network([12, 3, 2], "relu", "sigmoid", seed=24)
    with pytest.raises(ValueError, match="12 input"):
        net.forward(sp.random(11, 5, density=0.5, format="csr"))
    with pytest.raises(ValueError, match="empty"):
        net.forward(sp.csr_matrix((12, 0)))
    with pytest.raises(TypeError, match="real numbers"):
        net.forward(sp.random(12, 5, density=0.5, format="csr") * 1j)
    with pytest.raises(TypeError, match="sparse"):
        net.fit(np.ones((12, 4)), sp.csr_matrix(np.ones((2, 4))))


def test_a_sparse_fit_never_makes_the_inputs_dense():
    # dense, X would take 200,000 x 60 x 8 bytes = 96 MB; the network's parameters, their
    # gradient and backups take 3 x 3.2 MB
    dims, m = [200_000, 2, 2], 60
    rng = np.random.default_rng(25)
    X = sp.random(dims[0], m, density=1e-4, format="csc", random_state=26)
    Y = make_targets(rng, "softmax", dims[-1], m)
    net = Network(dims, "relu", "softmax", seed=27)
    net.fit(X[:, :5], Y[:, :5], epochs=1, batch_size=2)   # workspaces and kernels first
    tracemalloc.start()
    try:
        net.fit(X, Y, epochs=2, batch_size=16)
        net.predict(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 30e6, f"a sparse fit allocated {peak / 1e6:.0f} MB"


# --------------------------------------------------------------------------- threads
#: 2 * n * n_prev * m above PARALLEL_MIN_FLOPS (the workspace gets a row per thread), and the
#: sparse sums above PARALLEL_MIN_ELEMENTS: both sparse sums run as parallel tasks.
THREAD_DIMS = [3000, 70, 4]
THREAD_BATCH = 64


def test_thread_shapes_take_the_sparse_parallel_paths():
    X = sparse_inputs(THREAD_DIMS[0], 200, density=0.03, seed=28)
    nonzeros = np.sort(np.diff(X.indptr))[:THREAD_BATCH].sum()   # the emptiest batch
    assert THREAD_DIMS[1] * nonzeros >= _config.PARALLEL_MIN_ELEMENTS
    assert THREAD_DIMS[1] * THREAD_DIMS[0] >= _config.PARALLEL_MIN_ELEMENTS


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                    reason="numba runs with fewer than 2 threads here")
@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_fit_is_bit_identical_with_1_and_2_threads(dtype, restore_threads):
    m = 3 * THREAD_BATCH + 9
    X = sparse_inputs(THREAD_DIMS[0], m, density=0.03, seed=28)
    Y = make_targets(np.random.default_rng(29), "softmax", THREAD_DIMS[-1], m)

    def train(threads):
        numba.set_num_threads(threads)
        net = Network(THREAD_DIMS, "relu", "softmax", dtype=dtype, seed=30)
        assert net._work(THREAD_BATCH, gather=True, sparse_inputs=True)[-1].shape[0] > 1
        net.fit(X, Y, epochs=2, batch_size=THREAD_BATCH, optimizer="adam", alpha=0.1, seed=31)
        grads = net.forward(X) , net.backward(Y)
        return net._theta.copy(), list(net.history), grads

    one, two = train(1), train(2)
    np.testing.assert_array_equal(one[0], two[0])
    assert one[1] == two[1]
    np.testing.assert_array_equal(one[2][0], two[2][0])
    for key in one[2][1]:
        np.testing.assert_array_equal(one[2][1][key], two[2][1][key], err_msg=key)


# --------------------------------------------------------------------------- estimators
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_estimators_on_sparse_match_dense(solver, dtype):
    rng = np.random.default_rng(32)
    X = sparse_inputs(26, 57, seed=33).T.tocsr()     # (n_samples, n_features), CSR
    dense = X.toarray()
    y = rng.integers(0, 3, 57)
    settings = dict(hidden_layer_sizes=(5,), solver=solver, max_iter=4, random_state=0,
                    batch_size=10, dtype=dtype, alpha=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for Estimator, target in ((MLPClassifier, y), (MLPRegressor, rng.standard_normal(57))):
            on_sparse = Estimator(**settings).fit(X, target)
            on_dense = Estimator(**settings).fit(dense, target)
            params_close(on_sparse._network, on_dense._network, dtype, Estimator.__name__)
            for inputs in (X, X.tocsc()):
                assert_close(on_sparse.predict(inputs) if Estimator is MLPRegressor
                             else on_sparse.predict_proba(inputs),
                             on_dense.predict(dense) if Estimator is MLPRegressor
                             else on_dense.predict_proba(dense), dtype)
            assert on_sparse.score(X, target) == pytest.approx(on_dense.score(dense, target),
                                                               rel=1e-3)
            if solver != "lbfgs":
                on_sparse.partial_fit(X[:20], target[:20])
                on_dense.partial_fit(dense[:20], target[:20])
                params_close(on_sparse._network, on_dense._network, dtype)


def test_estimator_early_stopping_on_sparse_matches_dense():
    rng = np.random.default_rng(34)
    X = sparse_inputs(26, 80, seed=35).T.tocsc()     # CSC: converted to CSR once
    y = rng.integers(0, 2, 80)
    settings = dict(hidden_layer_sizes=(4,), max_iter=6, random_state=0, early_stopping=True,
                    n_iter_no_change=2, validation_fraction=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        on_sparse = MLPClassifier(**settings).fit(X, y)
        on_dense = MLPClassifier(**settings).fit(X.toarray(), y)
    params_close(on_sparse._network, on_dense._network, np.float64)
    assert on_sparse.validation_scores_ == on_dense.validation_scores_


# --------------------------------------------------------------------------- compile
def test_dense_training_compiles_no_sparse_kernel():
    code = textwrap.dedent("""
        import numpy as np
        import fastbp
        from fastbp import _dispatch
        rng = np.random.default_rng(0)
        X, Y = rng.standard_normal((5, 30)), np.eye(3)[rng.integers(0, 3, 30)].T
        net = fastbp.Network([5, 4, 3], "relu", "softmax")
        net.fit(X, Y, epochs=2, batch_size=7, optimizer="adam")
        net.fit(X, Y, epochs=2)
        net.predict(X)
        fastbp.MLPClassifier(hidden_layer_sizes=(3,), max_iter=2).fit(X.T, Y.argmax(0)).predict(X.T)
        compiled = [d.py_func.__qualname__ for d in _dispatch.DISPATCHERS
                    if d.py_func.__module__ == "fastbp.kernels.sparse" and d.signatures]
        print(compiled)
    """)
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_sparse_kernels_are_registered_for_the_compile_counts():
    assert sparse_kernels.sparse_train_epochs in __import__("fastbp")._dispatch.DISPATCHERS
    assert isinstance(check_sparse_inputs(sparse_inputs(4, 3, empty_rows=()), 4, np.float32),
                      SparseRows)


def test_dropout_with_sparse_inputs_is_refused_before_anything_changes():
    import scipy.sparse as sp

    X = sp.random(6, 30, density=0.3, format="csc", random_state=0)
    Y = (np.random.default_rng(0).random((1, 30)) < 0.5).astype(np.float64)
    net = Network([6, 4, 1], dropout=0.5, seed=0)
    before = net._theta.copy()
    with pytest.raises(ValueError, match="dropout is not supported with sparse inputs"):
        net.fit(X, Y, epochs=1)
    np.testing.assert_array_equal(net._theta, before)
    assert list(net.history) == []
