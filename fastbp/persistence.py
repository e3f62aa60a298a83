"""Saving a Network to a .npz file that needs no pickle, and loading it back exactly.

The file holds the architecture, the dtype, the flat parameters, the optimizer's name, state and
step, the training history, the examples seen, the last learning rate and the network's random
generator state (as JSON), so a loaded network continues training exactly as the saved one would.
"""
import json
import zipfile

import numpy as np

FORMAT = "fastbp-network"
FORMAT_VERSION = 1

_REQUIRED = ("format", "format_version", "layer_dims", "activations", "output", "loss", "dtype",
             "init", "theta", "optimizer_name", "optimizer_state", "optimizer_step", "history",
             "validation_cost", "validation_score", "samples_seen", "learning_rate", "rng_state")


def save(network, path):
    """Write ``network`` to ``path`` (a .npz file; NumPy adds the suffix if it is missing)."""
    name, state, step = network._optimizer if network._optimizer is not None else (
        "", np.zeros((0, network._theta.size), network.dtype), np.zeros(1, np.int64))
    np.savez(
        path,
        format=np.array(FORMAT),
        format_version=np.array(FORMAT_VERSION),
        layer_dims=np.array(network.layer_dims, dtype=np.int64),
        activations=np.array(network.activations, dtype=str).reshape(-1),
        output=np.array(network.output),
        loss=np.array(network.loss),
        dtype=np.array(network.dtype.name),
        init=np.array(network.init),
        theta=network._theta,
        optimizer_name=np.array(name),
        optimizer_state=state,
        optimizer_step=step,
        history=np.array(network.history, dtype=np.float64),
        validation_cost=np.array(network.history.validation_cost, dtype=np.float64),
        validation_score=np.array(network.history.validation_score, dtype=np.float64),
        samples_seen=np.array(network.samples_seen_, dtype=np.int64),
        learning_rate=np.array(np.nan if network.learning_rate_ is None
                               else network.learning_rate_),
        rng_state=np.array(json.dumps(network._rng.bit_generator.state)),
    )


def load(path, network_class):
    """Read a network written by :func:`save`.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a fastbp network file, or is damaged.
    """
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"{path} is not a fastbp network file (cannot read it as .npz: "
                         f"{error})") from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        # np.load gives a bare ndarray for a .npy file, which is no context manager
        raise ValueError(f"{path} is not a fastbp network file (it holds a single array)")
    try:
        with archive:
            contents = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"{path} is a damaged fastbp network file ({error})") from error
    missing = [key for key in _REQUIRED if key not in contents]
    if "format" not in contents or str(contents["format"]) != FORMAT:
        raise ValueError(f"{path} is not a fastbp network file (no '{FORMAT}' marker)")
    if missing:
        raise ValueError(f"{path} is a damaged fastbp network file: missing {missing}")
    try:
        version = int(contents["format_version"].item())
    except (ValueError, TypeError) as error:
        raise ValueError(f"{path} is a damaged fastbp network file: format_version "
                         f"{contents['format_version']!r} is not one integer") from error
    if version > FORMAT_VERSION:
        raise ValueError(f"{path} was written by a newer fastbp (format {version}); this one "
                         f"reads format {FORMAT_VERSION}")
    try:
        network = network_class(
            [int(n) for n in contents["layer_dims"]],
            activations=[str(a) for a in contents["activations"]],
            output=str(contents["output"]), loss=str(contents["loss"]),
            dtype=str(contents["dtype"]), init=str(contents["init"]))
        _restore_state(network, contents)
    except (ValueError, TypeError, KeyError) as error:
        raise ValueError(f"{path} is a damaged fastbp network file: {error}") from error
    return network


def _restore_state(network, contents):
    theta = contents["theta"]
    if theta.shape != network._theta.shape or theta.dtype != network.dtype:
        raise ValueError(f"parameters of shape {theta.shape} and dtype {theta.dtype} do not fit "
                         f"the architecture ({network._theta.size} {network.dtype.name} values)")
    network._theta[:] = theta
    name = str(contents["optimizer_name"])
    if name:
        network._select_optimizer(name)
        state = network._optimizer[1]
        if contents["optimizer_state"].shape != state.shape:
            raise ValueError(f"optimizer state of shape {contents['optimizer_state'].shape} does "
                             f"not fit optimizer {name!r} ({state.shape})")
        state[...] = contents["optimizer_state"]
        network._optimizer[2][...] = contents["optimizer_step"]
    for key in ("history", "validation_cost", "validation_score"):
        if contents[key].ndim != 1:
            raise ValueError(f"{key} has shape {contents[key].shape}; expected one value per "
                             f"epoch")
    network.history.extend(contents["history"].tolist())
    network.history.validation_cost.extend(contents["validation_cost"].tolist())
    network.history.validation_score.extend(contents["validation_score"].tolist())
    network.samples_seen_ = int(contents["samples_seen"])
    rate = float(contents["learning_rate"])
    network.learning_rate_ = None if np.isnan(rate) else rate
    network._rng.bit_generator.state = json.loads(str(contents["rng_state"]))
