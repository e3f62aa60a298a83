"""Saving a Network to a .npz file that needs no pickle, and loading it back exactly.

Saving is atomic: the archive is written to a temporary file in the target's directory, flushed
and fsynced, renamed over the target and the directory fsynced, so a process killed at any point
of a save leaves the old file or the new one, never a mix or nothing. Loading never unpickles.

The file holds the architecture, the dtype, the flat parameters, the optimizer's name, state and
step, the training history, the examples seen, the last learning rate, the network's random
generator state (as JSON) and its dropout rates, so a loaded network continues training exactly as the saved one would.
"""
import json
import os
import struct
import tempfile
import zipfile
import zlib

import numpy as np

FORMAT = "fastbp-network"
#: The newest format this fastbp reads. 2 adds ``dropout`` (the rate of each hidden layer); a
#: network without dropout is still written as format 1, which any fastbp reads, and one with
#: dropout as 2, which an older fastbp refuses rather than load without its dropout.
FORMAT_VERSION = 2

_REQUIRED = ("format", "format_version", "layer_dims", "activations", "output", "loss", "dtype",
             "init", "theta", "optimizer_name", "optimizer_state", "optimizer_step", "history",
             "validation_cost", "validation_score", "samples_seen", "learning_rate", "rng_state")


def _creation_mode():
    """Permissions a new file gets from ``open`` (0o666 less the umask), read once: a temporary
    file from ``mkstemp`` is private (0o600), and the saved model should not be."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


_MODE = _creation_mode()


def atomic_savez(path, **arrays):
    """``np.savez(path, **arrays)``, atomically when ``path`` is a file name.

    The archive goes to a temporary file in the same directory, is flushed and fsynced, renamed
    over ``path`` (``os.replace`` is atomic within a file system) and the directory is fsynced so
    that the rename itself survives a crash. ``.npz`` is appended to a name without it, as NumPy
    does. A file object is written in place (there is nothing to rename).

    Returns
    -------
    str or file
        The path written (with its suffix), or the file object.
    """
    if not isinstance(path, (str, os.PathLike)):
        np.savez(path, **arrays)
        return path
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    # write beside the file a symbolic link points to, so the link keeps pointing at the model
    target = os.path.realpath(path)
    directory = os.path.dirname(target)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.",
                                             suffix=".tmp", dir=directory)
    try:
        with os.fdopen(descriptor, "wb") as f:
            mode = os.stat(target).st_mode & 0o7777 if os.path.exists(target) else _MODE
            os.fchmod(f.fileno(), mode)
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    _fsync_directory(directory)
    return path


def _fsync_directory(directory):
    """Make a rename in ``directory`` durable (where the platform can open a directory)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows cannot open a directory
        return
    try:
        os.fsync(descriptor)
    except OSError:  # pragma: no cover - file systems that refuse fsync on a directory
        pass
    finally:
        os.close(descriptor)


def save(network, path):
    """Write ``network`` to ``path`` (a .npz file; ``.npz`` is added if it is missing),
    atomically (see :func:`atomic_savez`)."""
    name, state, step = network._optimizer if network._optimizer is not None else (
        "", np.zeros((0, network._theta.size), network.dtype), np.zeros(1, np.int64))
    dropout = np.array(network.dropout, dtype=np.float64)
    extra = {"dropout": dropout} if dropout.any() else {}
    atomic_savez(
        path,
        format=np.array(FORMAT),
        format_version=np.array(2 if extra else 1),
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
        **extra,
    )


#: What reading damaged bytes as a zip of .npy files can raise (found by fuzzing): a flipped
#: byte in a zip header names an unknown compression method (NotImplementedError) or an
#: encrypted entry (RuntimeError), a forged .npy header an impossible shape (MemoryError, or
#: OverflowError), a truncated entry EOFError, and so on.
_UNREADABLE = (OSError, ValueError, zipfile.BadZipFile, EOFError, NotImplementedError,
               RuntimeError, MemoryError, OverflowError, KeyError, IndexError, TypeError,
               struct.error, zlib.error)


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
    except _UNREADABLE as error:
        raise ValueError(f"{path} is not a fastbp network file (cannot read it as .npz: "
                         f"{error})") from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        # np.load gives a bare ndarray for a .npy file, which is no context manager
        raise ValueError(f"{path} is not a fastbp network file (it holds a single array)")
    try:
        with archive:
            contents = {key: archive[key] for key in archive.files}
    except _UNREADABLE as error:
        raise ValueError(f"{path} is a damaged fastbp network file ({error!r})") from error
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
        _check_sizes(contents)
        network = network_class(
            [int(n) for n in contents["layer_dims"]],
            activations=[str(a) for a in contents["activations"]],
            output=str(contents["output"]), loss=str(contents["loss"]),
            dtype=str(contents["dtype"]), init=str(contents["init"]),
            dropout=_dropout(contents, version))
        _restore_state(network, contents)
    except (ValueError, TypeError, KeyError, OverflowError, RecursionError) as error:
        raise ValueError(f"{path} is a damaged fastbp network file: {error}") from error
    return network


def _check_sizes(contents):
    """Refuse layer sizes that do not match the stored parameters before building anything: a
    damaged or forged ``layer_dims`` must not make the loader allocate terabytes."""
    dims = contents["layer_dims"]
    if dims.ndim != 1 or dims.dtype.kind not in "iu" or dims.size < 2 or (dims < 1).any():
        raise ValueError(f"layer_dims {dims!r} is not a list of at least two positive sizes")
    dims = [int(n) for n in dims]
    expected = sum(n * n_prev + n for n_prev, n in zip(dims, dims[1:]))
    if contents["theta"].size != expected:
        raise ValueError(f"{contents['theta'].size} stored parameters do not fit the "
                         f"architecture {dims} ({expected} values)")


def _dropout(contents, version):
    """The stored dropout rates (format 2), or none (format 1)."""
    if "dropout" not in contents:
        if version >= 2:
            raise ValueError("missing ['dropout'] (format 2)")
        return 0.0
    rates = contents["dropout"]
    if rates.ndim != 1 or rates.dtype.kind != "f":
        raise ValueError(f"dropout {rates!r} is not one rate per hidden layer")
    return rates.tolist()   # Network checks the count and the range


def _scalar(contents, key, kind):
    """``contents[key]`` as one Python number of ``kind`` ("i" integer, "f" float)."""
    value = contents[key]
    if value.shape != () and value.shape != (1,) or value.dtype.kind not in (
            "iu" if kind == "i" else "iuf"):
        raise ValueError(f"{key} {value!r} is not one {'integer' if kind == 'i' else 'number'}")
    return int(value.item()) if kind == "i" else float(value.item())


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
        if contents["optimizer_state"].dtype != network.dtype:
            raise ValueError(f"optimizer state of dtype {contents['optimizer_state'].dtype} "
                             f"does not fit a {network.dtype.name} network")
        step = _scalar(contents, "optimizer_step", "i")
        if step < 0:
            raise ValueError(f"optimizer_step {step} is negative")
        state[...] = contents["optimizer_state"]
        network._optimizer[2][...] = step
    for key in ("history", "validation_cost", "validation_score"):
        if contents[key].ndim != 1 or contents[key].dtype.kind != "f":
            raise ValueError(f"{key} has shape {contents[key].shape} and dtype "
                             f"{contents[key].dtype}; expected one float per epoch")
    samples_seen = _scalar(contents, "samples_seen", "i")
    if samples_seen < 0:
        raise ValueError(f"samples_seen {samples_seen} is negative")
    rate = _scalar(contents, "learning_rate", "f")
    if not (np.isnan(rate) or (np.isfinite(rate) and rate > 0)):
        raise ValueError(f"learning_rate {rate} is not a positive number")
    network.history.extend(contents["history"].tolist())
    network.history.validation_cost.extend(contents["validation_cost"].tolist())
    network.history.validation_score.extend(contents["validation_score"].tolist())
    network.samples_seen_ = samples_seen
    network.learning_rate_ = None if np.isnan(rate) else rate
    network._rng.bit_generator.state = json.loads(str(contents["rng_state"]))
