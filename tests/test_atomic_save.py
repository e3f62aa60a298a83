"""Network.save is atomic: a process killed at any point of a save leaves the old model or the new
one, readable; a save that fails leaves the old file and no temporary file behind."""
import os
import random
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import settings

import fastbp.persistence
from fastbp import Network

#: Kills per run: a few in CI, many under the deep Hypothesis profile.
KILLS = max(8, settings().max_examples // 2)

#: A child that saves two different large networks over one file in a loop, forever.
_SAVER = """
import sys
import numpy as np
from fastbp import Network
path = sys.argv[1]
nets = [Network([1000, 1000, 2], seed=0), Network([1000, 1000, 2], seed=0)]
nets[0]._theta[:] = 0.0
nets[1]._theta[:] = 1.0
nets[0].save(path)
print("ready", flush=True)
i = 1
while True:
    nets[i % 2].save(path)
    i += 1
"""


def test_a_save_killed_at_any_moment_leaves_a_whole_model(tmp_path):
    path = tmp_path / "model.npz"
    script = tmp_path / "saver.py"
    script.write_text(_SAVER)
    chooser = random.Random(14)
    outcomes = {0.0: 0, 1.0: 0}
    for attempt in range(KILLS):
        child = subprocess.Popen([sys.executable, str(script), str(path)],
                                 stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "ready"
            # a save of this 8 MB model takes tens of ms: the kill lands anywhere in a few
            time.sleep(chooser.uniform(0.0, 0.3))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        loaded = Network.load(path)                      # never half a file, never nothing
        values = np.unique(loaded._theta)
        assert values.size == 1 and values[0] in outcomes, f"attempt {attempt}: mixed model"
        outcomes[float(values[0])] += 1
    print(f"{KILLS} saves killed: the old model kept {outcomes[0.0]} times, the new one "
          f"{outcomes[1.0]} times, no file lost")
    # a killed save leaves at most its own temporary file, hidden and never read
    leftovers = [name for name in os.listdir(tmp_path) if name not in ("model.npz", "saver.py")]
    assert all(name.startswith(".model.npz.") and name.endswith(".tmp") for name in leftovers)


def _small(seed):
    net = Network([3, 4, 2], output="softmax", seed=seed)
    net.fit(np.ones((3, 5)), np.eye(2)[:, [0, 1, 0, 1, 1]], epochs=2, optimizer="adam")
    return net


def test_a_failing_save_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    old = _small(0)
    old.save(path)
    before = path.read_bytes()

    def broken_savez(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fastbp.persistence.np, "savez", broken_savez)
    with pytest.raises(OSError, match="No space"):
        _small(1).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]
    np.testing.assert_array_equal(Network.load(path)._theta, old._theta)


def test_save_keeps_permissions_links_and_the_npz_suffix(tmp_path):
    net = _small(0)
    fresh = tmp_path / "fresh"
    net.save(fresh)                                      # suffix added, as np.savez does
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(os.stat(tmp_path / "fresh.npz").st_mode) == 0o666 & ~mask

    kept = tmp_path / "kept.npz"
    net.save(kept)
    os.chmod(kept, 0o640)
    net.save(kept)                                       # an existing file keeps its mode
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o640

    target = tmp_path / "real.npz"
    net.save(target)
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    other = _small(1)
    other.save(link)                                     # the link still points at the model
    assert link.is_symlink()
    np.testing.assert_array_equal(Network.load(target)._theta, other._theta)


def test_save_to_a_missing_directory_raises_and_creates_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        _small(0).save(tmp_path / "no" / "such" / "model.npz")
    assert os.listdir(tmp_path) == []


def test_save_to_an_open_file_still_works(tmp_path):
    net = _small(0)
    with open(tmp_path / "stream.npz", "wb") as f:
        net.save(f)
    np.testing.assert_array_equal(Network.load(tmp_path / "stream.npz")._theta, net._theta)


def test_a_zip_entry_with_an_unknown_compression_method_is_refused(tmp_path):
    # found by fuzzing: one flipped byte in the zip's central directory made np.load's entry
    # reader raise NotImplementedError, which escaped Network.load
    path = tmp_path / "model.npz"
    _small(0).save(path)
    data = bytearray(path.read_bytes())
    directory = data.rfind(b"PK\x01\x02")            # the last central directory entry
    data[directory + 10:directory + 12] = (99).to_bytes(2, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged fastbp network file"):
        Network.load(path)
