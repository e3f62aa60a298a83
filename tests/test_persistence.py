"""Network.save / Network.load, pickle and deepcopy.

save/load is an exact round trip (parameters bit for bit, architecture, dtype, activations,
output, loss, initializer, history with its validation lists, examples seen, learning rate,
optimizer name, state and step, generator state), so a loaded network trains on exactly as the
saved one; the file is a plain .npz that loads without pickle; damaged, foreign, truncated and
missing files give clear errors; pickle and deepcopy give independent, working copies.
"""
import copy
import io
import pickle
import zipfile

import numpy as np
import pytest

from fastbp import Network

from _helpers import make_targets, snapshot


def _trained(dtype=np.float64, optimizer="adam", seed=3):
    """A trained two-hidden-layer network with validation history, and its data."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((4, 29))
    Y = make_targets(rng, "softmax", 3, 29)
    net = Network([4, 6, 5, 3], activations=["tanh", "leaky_relu"], output="softmax",
                  dtype=dtype, seed=seed, init="glorot")
    net.fit(X, Y, epochs=4, batch_size=6, optimizer=optimizer, learning_rate=0.02,
            learning_rate_schedule="invscaling", validation_data=(X[:, :9], Y[:, :9]))
    return net, X, Y


def assert_same_network(a, b):
    """Everything save/load promises to keep, bit for bit."""
    assert type(b) is Network
    assert a.layer_dims == b.layer_dims
    assert a.activations == b.activations and isinstance(b.activations, tuple)
    assert (a.output, a.loss, a.init) == (b.output, b.loss, b.init)
    assert a.dtype == b.dtype
    assert list(a.parameters) == list(b.parameters)
    for key in a.parameters:
        assert b.parameters[key].dtype == a.dtype
        np.testing.assert_array_equal(b.parameters[key], a.parameters[key], err_msg=key)
    assert list(b.history) == list(a.history)
    assert b.history.validation_cost == a.history.validation_cost
    assert b.history.validation_score == a.history.validation_score
    assert b.samples_seen_ == a.samples_seen_ and isinstance(b.samples_seen_, int)
    assert b.learning_rate_ == a.learning_rate_
    if a._optimizer is None:
        assert b._optimizer is None
    else:
        assert b._optimizer[0] == a._optimizer[0]
        assert b._optimizer[1].dtype == a._optimizer[1].dtype
        np.testing.assert_array_equal(b._optimizer[1], a._optimizer[1])
        np.testing.assert_array_equal(b._optimizer[2], a._optimizer[2])
    assert b._rng.bit_generator.state == a._rng.bit_generator.state


# ----------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("optimizer", ["adam", "momentum", "sgd"])
def test_save_load_round_trip_is_exact(dtype, optimizer, tmp_path):
    net, X, Y = _trained(dtype, optimizer)
    assert net.history.validation_score and net.learning_rate_ != 0.02
    path = tmp_path / "net.npz"
    net.save(path)
    loaded = Network.load(path)
    assert_same_network(net, loaded)
    if optimizer == "adam":
        assert loaded._optimizer[2][0] == 4 * 5        # 5 batches per epoch
    np.testing.assert_array_equal(loaded.forward(X), net.forward(X))
    assert loaded.cost(X, Y) == net.cost(X, Y)
    # the loaded parameters are views of its own flat vector, as a new network's are
    loaded.parameters["W1"][0, 0] += 1.0
    assert loaded._theta[0] == net._theta[0] + 1.0


def test_untrained_and_hidden_less_networks_round_trip(tmp_path):
    fresh = Network([5, 7, 2], activations="sigmoid", output="sigmoid", seed=1, init="he")
    fresh.save(tmp_path / "fresh.npz")
    loaded = Network.load(tmp_path / "fresh.npz")
    assert_same_network(fresh, loaded)
    assert loaded._optimizer is None and loaded.learning_rate_ is None
    assert loaded.samples_seen_ == 0 and list(loaded.history) == []

    flat = Network([3, 1], output="linear", dtype=np.float32, seed=2, init="small")
    rng = np.random.default_rng(0)
    flat.fit(rng.standard_normal((3, 8)), rng.standard_normal((1, 8)), epochs=2,
             optimizer="momentum", learning_rate=0.1)
    flat.save(str(tmp_path / "flat.npz"))               # a str path works too
    loaded = Network.load(str(tmp_path / "flat.npz"))
    assert_same_network(flat, loaded)
    assert loaded.activations == ()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_loaded_network_trains_on_bit_identically(dtype, tmp_path):
    # adam, shuffled minibatches, no explicit seed: the shuffling comes from the network's own
    # generator, so the loaded generator state must be the saved one
    net, X, Y = _trained(dtype, "adam")
    net.save(tmp_path / "net.npz")
    loaded = Network.load(tmp_path / "net.npz")
    kwargs = dict(epochs=3, batch_size=4, optimizer="adam", learning_rate=0.01, shuffle=True,
                  validation_data=(X[:, :9], Y[:, :9]))
    untouched = snapshot(net)
    net.fit(X, Y, **kwargs)
    loaded.fit(X, Y, **kwargs)
    assert_same_network(net, loaded)
    assert not np.array_equal(net.parameters["W1"], untouched["W1"])

    # a different shuffle from the same start gives different parameters: the generator mattered
    other = Network.load(tmp_path / "net.npz")
    other.fit(X, Y, seed=12345, **kwargs)
    assert not np.array_equal(other.parameters["W1"], net.parameters["W1"])
    # and so does the optimizer state: a reset adam from the same parameters ends elsewhere
    reset = Network.load(tmp_path / "net.npz")
    reset._optimizer = None
    reset.fit(X, Y, **kwargs)
    assert not np.array_equal(reset.parameters["W1"], net.parameters["W1"])


def test_file_is_a_plain_npz_without_pickle(tmp_path):
    net, _, _ = _trained()
    net.save(tmp_path / "net.npz")
    with np.load(tmp_path / "net.npz", allow_pickle=False) as archive:
        contents = {key: archive[key] for key in archive.files}
    assert all(value.dtype != object for value in contents.values())
    assert str(contents["format"]) == "fastbp-network"
    np.testing.assert_array_equal(contents["layer_dims"], [4, 6, 5, 3])
    np.testing.assert_array_equal(contents["theta"], net._theta)
    np.testing.assert_array_equal(contents["history"], list(net.history))


def test_save_adds_the_npz_suffix_like_numpy(tmp_path):
    net, _, _ = _trained()
    net.save(tmp_path / "model")
    assert (tmp_path / "model.npz").exists()
    assert_same_network(net, Network.load(tmp_path / "model.npz"))


# ----------------------------------------------------------------------------- bad files
def _saved_bytes(tmp_path):
    net, _, _ = _trained()
    net.save(tmp_path / "good.npz")
    return (tmp_path / "good.npz").read_bytes()


def _rewrite(path, source, drop=(), **replace):
    """Write ``source``'s archive to ``path`` without the keys ``drop`` and with ``replace``."""
    with np.load(source, allow_pickle=False) as archive:
        contents = {key: archive[key] for key in archive.files if key not in drop}
    contents.update(replace)
    np.savez(path, **contents)


def test_random_bytes_are_not_a_fastbp_file(tmp_path):
    path = tmp_path / "noise.npz"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match="not a fastbp network file"):
        Network.load(path)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="not a fastbp network file"):
        Network.load(empty)


def test_foreign_npz_is_not_a_fastbp_file(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, weights=np.ones((3, 3)), bias=np.zeros(3))
    with pytest.raises(ValueError, match="not a fastbp network file.*marker"):
        Network.load(path)
    marked = tmp_path / "other-format.npz"
    np.savez(marked, format=np.array("something-else"), theta=np.ones(4))
    with pytest.raises(ValueError, match="not a fastbp network file"):
        Network.load(marked)


def test_single_array_npy_file_is_not_a_fastbp_file(tmp_path):
    # np.load returns an ndarray for a .npy file, not an archive
    path = tmp_path / "array.npy"
    np.save(path, np.arange(5.0))
    with pytest.raises(ValueError, match="not a fastbp network file"):
        Network.load(path)


def test_pickled_file_is_refused_without_unpickling(tmp_path):
    path = tmp_path / "net.pkl"
    net, _, _ = _trained()
    path.write_bytes(pickle.dumps(net))
    with pytest.raises(ValueError, match="not a fastbp network file"):
        Network.load(path)


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_truncated_file_is_refused(keep, tmp_path):
    data = _saved_bytes(tmp_path)
    path = tmp_path / "truncated.npz"
    path.write_bytes(data[:int(keep * len(data))])
    with pytest.raises(ValueError, match="not a fastbp network file|damaged"):
        Network.load(path)


def test_corrupted_array_data_is_refused(tmp_path):
    data = bytearray(_saved_bytes(tmp_path))
    # flip bytes inside the stored parameters (the entries are stored uncompressed)
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("theta.npy")
    start = info.header_offset + 30 + len(info.filename) + 200
    data[start:start + 16] = bytes(255 - b for b in data[start:start + 16])
    path = tmp_path / "flipped.npz"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="not a fastbp network file|damaged"):
        Network.load(path)


@pytest.mark.parametrize("drop, replace, match", [
    (("theta",), {}, r"damaged.*missing \['theta'\]"),
    (("optimizer_state", "rng_state"), {}, r"damaged.*missing \['optimizer_state', 'rng_state'\]"),
    ((), dict(theta=np.zeros(7)), "damaged.*do not fit"),
    ((), dict(theta=np.zeros(4 * 6 + 6 + 6 * 5 + 5 + 5 * 3 + 3, np.float32)), "damaged.*dtype"),
    ((), dict(optimizer_state=np.zeros((1, 3))), "damaged.*optimizer state"),
    ((), dict(optimizer_name=np.array("rmsprop")), "damaged.*rmsprop"),
    ((), dict(activations=np.array(["tanh"])), "damaged"),
    ((), dict(output=np.array("softplus")), "damaged"),
    ((), dict(layer_dims=np.array([4, -6, 5, 3])), "damaged"),
    ((), dict(format_version=np.array(99)), "newer fastbp"),
    ((), dict(format_version=np.array("one")), "damaged"),
    ((), dict(format_version=np.array([1, 1])), "damaged"),
    ((), dict(history=np.ones((2, 2))), "damaged"),
], ids=["no-theta", "no-state-no-rng", "theta-size", "theta-dtype", "state-shape",
        "unknown-optimizer", "activation-count", "unknown-output", "negative-width",
        "newer-version", "version-text", "version-array", "history-2d"])
def test_damaged_fastbp_files_are_refused(drop, replace, match, tmp_path):
    _saved_bytes(tmp_path)
    path = tmp_path / "damaged.npz"
    _rewrite(path, tmp_path / "good.npz", drop, **replace)
    with pytest.raises(ValueError, match=match):
        Network.load(path)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        Network.load(tmp_path / "nowhere.npz")


# ----------------------------------------------------------------------------- pickle, deepcopy
@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_copies_are_independent_and_train_on_identically(how):
    net, X, Y = _trained("float64", "adam")
    twin = pickle.loads(pickle.dumps(net)) if how == "pickle" else copy.deepcopy(net)
    assert_same_network(net, twin)
    assert twin._theta is not net._theta
    assert np.shares_memory(twin.parameters["W2"], twin._theta)
    np.testing.assert_array_equal(twin.predict(X), net.predict(X))

    kwargs = dict(epochs=2, batch_size=5, optimizer="adam", learning_rate=0.01)
    before = snapshot(twin)
    net.fit(X, Y, **kwargs)
    assert not np.array_equal(before["W1"], net.parameters["W1"])
    for key in before:   # training the original leaves the copy alone
        np.testing.assert_array_equal(twin.parameters[key], before[key], err_msg=key)
    assert len(twin.history) == len(net.history) - 2
    twin.fit(X, Y, **kwargs)   # same generator and optimizer state: same training
    assert_same_network(net, twin)

    twin.parameters["W1"][...] = 0.0      # and changing the copy leaves the original alone
    assert np.abs(net.parameters["W1"]).max() > 0
    twin.fit(X, Y, epochs=1, learning_rate=0.01)
    assert len(twin.history) == len(net.history) + 1
    assert np.isfinite(twin.history[-1])


def test_parameter_dict_copies_are_detached():
    net = Network([3, 4, 2], seed=0)
    for detached in (copy.deepcopy(net.parameters), pickle.loads(pickle.dumps(net.parameters))):
        assert type(detached) is dict and list(detached) == list(net.parameters)
        detached["W1"][...] = 7.0
        assert not np.any(net.parameters["W1"] == 7.0)
