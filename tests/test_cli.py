"""The ``fastbp`` command: ``train`` and ``compare`` end to end on bundled data, and its errors.

Most tests call ``fastbp.cli.main`` in this process (capsys); a few run ``python -m fastbp`` in a
subprocess to see exactly what a user sees. Epochs are few, so the tests are quick once Numba's
disk cache holds the float32 kernels.
"""
import importlib.util
import re
import subprocess
import sys

import numpy as np
import pytest

from fastbp import Network, _datasets
from fastbp.bench import compare
from fastbp.cli import main


def run(capsys, *argv):
    """``main(argv)``: (exit status, stdout, stderr)."""
    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def printed(pattern, text):
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in:\n{text}"
    return float(match.group(1))


def held_out(dataset, seed=0, test_size=0.2):
    """The held-out rows (raw features) and labels the command scored, rebuilt independently."""
    from sklearn.model_selection import train_test_split

    data = _datasets.load(dataset)
    stratify = data.y if data.task == "classification" else None
    _, X_test, _, y_test = train_test_split(data.X, data.y, test_size=test_size,
                                            random_state=seed, stratify=stratify)
    return X_test, y_test


def predict_saved(path, X):
    """Predictions of a saved model on raw feature rows, through its preprocessing file."""
    network = Network.load(path)
    with np.load(path.replace(".npz", ".preprocessing.npz")) as extra:
        scaled = (X - extra["x_offset"]) / extra["x_scale"]
        outputs = network.forward(scaled.T)
        if str(extra["output"]) == "linear":
            return outputs[0] * float(extra["y_scale"]) + float(extra["y_offset"])
        classes = extra["classes"]
        if str(extra["output"]) == "sigmoid":
            return classes[(outputs[0] > 0.5).astype(int)]
        return classes[outputs.argmax(axis=0)]


# ----------------------------------------------------------------------------------- train
@pytest.mark.parametrize("dataset", ["iris", "breast_cancer"])
def test_train_classification_saves_a_loadable_model(capsys, tmp_path, dataset):
    path = str(tmp_path / "model.npz")
    status, out, err = run(capsys, "train", "--dataset", dataset, "--save", path)
    assert status == 0, err
    accuracy = printed(r"held-out accuracy: ([0-9.]+)", out)
    assert accuracy >= 0.9
    X_test, y_test = held_out(dataset)
    predictions = predict_saved(path, X_test)
    assert round(float(np.mean(predictions == y_test)), 4) == accuracy
    assert "Traceback" not in err


def test_train_regression_reports_r2_on_the_original_scale(capsys, tmp_path):
    path = str(tmp_path / "diabetes")  # .npz is added, as np.savez does
    status, out, err = run(capsys, "train", "--dataset", "diabetes", "--epochs", 50,
                           "--save", path)
    assert status == 0, err
    r2 = printed(r"held-out R²: ([-0-9.]+)", out)
    assert r2 > 0.2
    from sklearn.metrics import r2_score

    X_test, y_test = held_out("diabetes")
    predictions = predict_saved(path + ".npz", X_test)
    assert round(r2_score(y_test, predictions), 4) == r2
    # on the original scale: the RMSE is in the targets' units (tens), not standardized (< 1)
    assert 20 < printed(r"RMSE ([0-9.]+)", out) < 100


def test_saved_network_reproduces_the_trained_one(capsys, tmp_path):
    first, second = str(tmp_path / "a.npz"), str(tmp_path / "b.npz")
    for path in (first, second):
        status, _, err = run(capsys, "train", "--dataset", "wine", "--epochs", 20, "--seed", 3,
                             "--save", path, "--quiet")
        assert status == 0, err
    a, b = Network.load(first), Network.load(second)
    X = np.random.default_rng(0).standard_normal((13, 7))
    np.testing.assert_array_equal(a.forward(X), b.forward(X))  # same seed, same network
    assert list(a.history) == list(b.history) and len(a.history) == 20


@pytest.mark.matplotlib
def test_plot_writes_a_png(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "curves.png"
    status, out, err = run(capsys, "train", "--dataset", "iris", "--epochs", 15, "--plot", path)
    assert status == 0, err
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "curves" in out


def test_plot_without_matplotlib_is_skipped_with_a_note(capsys, tmp_path, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "matplotlib" else
                        find_spec(name, *args))
    path = tmp_path / "curves.png"
    status, out, err = run(capsys, "train", "--dataset", "iris", "--epochs", 5, "--plot", path)
    assert status == 0
    assert not path.exists()
    notes = [line for line in err.splitlines() if "matplotlib" in line]
    assert len(notes) == 1 and "pip install" in notes[0]
    assert "held-out accuracy" in out


def test_csv_with_named_string_label_column(capsys, tmp_path):
    from sklearn.datasets import load_iris

    iris = load_iris()
    names = np.array(["setosa", "versicolor", "virginica"])
    lines = ["petal length,species,sepal length,sepal width,petal width"]
    for x, t in zip(iris.data, iris.target):
        lines.append(f"{x[2]},{names[t]},{x[0]},{x[1]},{x[3]}")
    path = tmp_path / "iris.csv"
    path.write_text("\n".join(lines) + "\n")
    status, out, err = run(capsys, "train", "--dataset", path, "--target", "species",
                           "--epochs", 150, "--save", tmp_path / "m.npz")
    assert status == 0, err
    assert "4 features, 3 classes" in out
    assert printed(r"held-out accuracy: ([0-9.]+)", out) >= 0.85
    with np.load(tmp_path / "m.preprocessing.npz") as extra:
        assert list(extra["classes"]) == list(names)
        assert list(extra["feature_names"]) == ["petal length", "sepal length", "sepal width",
                                                "petal width"]


def test_npz_classification_and_regression_are_inferred_from_y(capsys, tmp_path):
    from sklearn.datasets import load_breast_cancer, load_diabetes

    X, y = load_breast_cancer(return_X_y=True)
    np.savez(tmp_path / "cancer.npz", X=X, y=y.astype(np.int32))
    status, out, err = run(capsys, "train", "--dataset", tmp_path / "cancer.npz",
                           "--epochs", 30, "--quiet")
    assert status == 0, err
    assert printed(r"held-out accuracy: ([0-9.]+)", out) >= 0.9

    X, y = load_diabetes(return_X_y=True)
    np.savez(tmp_path / "diabetes.npz", X=X, y=y)  # float targets: regression
    status, out, err = run(capsys, "train", "--dataset", tmp_path / "diabetes.npz",
                           "--epochs", 50, "--quiet")
    assert status == 0, err
    assert printed(r"held-out R²: ([-0-9.]+)", out) > 0.2


def test_options_reach_the_network(capsys, tmp_path):
    path = str(tmp_path / "m.npz")
    status, out, err = run(capsys, "train", "--dataset", "iris", "--hidden", "16,8",
                           "--activation", "tanh,relu", "--optimizer", "momentum",
                           "--dtype", "float64", "--epochs", 30, "--batch-size", 16,
                           "--validation-fraction", 0, "--early-stopping", "--save", path)
    assert status == 2  # early stopping without validation data
    status, out, err = run(capsys, "train", "--dataset", "iris", "--hidden", "16,8",
                           "--activation", "tanh,relu", "--optimizer", "momentum",
                           "--dtype", "float64", "--epochs", 30, "--batch-size", 16,
                           "--early-stopping", "--save", path)
    assert status == 0, err
    network = Network.load(path)
    assert network.layer_dims == (4, 16, 8, 3)
    assert network.activations == ("tanh", "relu")
    assert network.dtype == np.float64
    assert network.output == "softmax"
    assert 1 <= len(network.history) <= 30
    assert len(network.history.validation_cost) == len(network.history)


# ----------------------------------------------------------------------------------- errors
@pytest.fixture
def files(tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20)))
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,label\n1,2,0\n3,four,1\n")
    no_y = tmp_path / "no_y.npz"
    np.savez(no_y, X=np.zeros((4, 2)))
    return {"good": good, "bad": bad, "no_y": no_y, "missing": tmp_path / "missing.csv"}


ERRORS = {
    "missing file": ["train", "--dataset", "{missing}"],
    "unknown data set": ["train", "--dataset", "mnist"],
    "unknown column": ["train", "--dataset", "{good}", "--target", "nope"],
    "non-numeric feature": ["train", "--dataset", "{bad}"],
    "npz without y": ["train", "--dataset", "{no_y}"],
    "unknown activation": ["train", "--dataset", "iris", "--activation", "swish"],
    "bad hidden sizes": ["train", "--dataset", "iris", "--hidden", "64,x"],
    "argparse type": ["train", "--epochs", "many"],
    "argparse choice": ["train", "--optimizer", "rmsprop"],
    "diverging training": ["train", "--dataset", "iris", "--optimizer", "sgd",
                           "--learning-rate", "1e12", "--epochs", "5"],
    "compare: unknown data set": ["compare", "--dataset", "cifar"],
    "compare: missing file": ["compare", "--dataset", "{missing}"],
    "compare: unknown activation": ["compare", "--activation", "swish"],
    "compare: unknown peer": ["compare", "--peers", "fastbp,jax"],
    "no command": [],
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors_are_one_line_and_exit_2(capsys, files, case):
    argv = [arg.format(**files) for arg in ERRORS[case]]
    status, out, err = run(capsys, *argv)
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("fastbp") and "error:" in lines[0]
    assert "Traceback" not in err + out


@pytest.mark.parametrize("case", [case for case in ERRORS if case.startswith("compare")])
def test_compare_errors_stay_one_line_without_torch(capsys, files, monkeypatch, case):
    """A missing optional peer is noted only when the run goes ahead, never above an error."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "torch" else find_spec(name, *args))
    status, out, err = run(capsys, *[arg.format(**files) for arg in ERRORS[case]])
    assert status == 2
    assert err.strip().splitlines() == [err.strip()] and err.startswith("fastbp: error:"), err
    assert "not installed" not in err


def test_compare_only_a_missing_peer_is_one_error(capsys, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "torch" else find_spec(name, *args))
    status, out, err = run(capsys, "compare", "--peers", "torch")
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "torch is not installed" in lines[0], err


def test_error_messages_name_the_problem(capsys, files):
    _, _, err = run(capsys, "train", "--dataset", files["good"], "--target", "nope")
    assert "'nope'" in err and "a, b, label" in err
    _, _, err = run(capsys, "train", "--dataset", files["bad"])
    assert "line 3" in err and "'b'" in err and "four" in err
    _, _, err = run(capsys, "train", "--dataset", "iris", "--activation", "swish")
    assert "swish" in err and "relu" in err
    _, _, err = run(capsys, "train", "--dataset", files["missing"])
    assert "no such file" in err and "missing.csv" in err


def test_python_m_fastbp_end_to_end(tmp_path):
    """A real process: the output a user sees, and an error without a traceback."""
    path = tmp_path / "model.npz"
    done = subprocess.run([sys.executable, "-m", "fastbp", "train", "--dataset", "iris",
                           "--epochs", "60", "--save", str(path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert printed(r"held-out accuracy: ([0-9.]+)", done.stdout) >= 0.9
    assert Network.load(str(path)).layer_dims == (4, 128, 3)
    assert "Traceback" not in done.stderr

    done = subprocess.run([sys.executable, "-m", "fastbp", "train", "--dataset",
                           str(tmp_path / "nothing.csv")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"fastbp: error: no such file: {tmp_path / 'nothing.csv'}"]


def test_import_fastbp_does_not_import_the_cli_or_benchmarks():
    code = ("import sys, fastbp; heavy = [m for m in sys.modules if m.startswith("
            "('fastbp.bench', 'fastbp.cli', 'fastbp._datasets', 'torch', 'matplotlib'))]; "
            "print(heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip() == "[]", done.stderr


# ----------------------------------------------------------------------------------- compare
def test_compare_fastbp_and_reference(capsys):
    status, out, err = run(capsys, "compare", "--peers", "fastbp,reference", "--epochs", 2,
                           "--repeat", 1)
    assert status == 0, out + err
    rows = {line.split("|")[1].strip(): line for line in out.splitlines()
            if line.startswith("| ") and "implementation" not in line}
    assert set(rows) == {"fastbp", "NumPy reference"}
    for line in rows.values():
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        assert 0 <= float(cells[2]) <= 1      # held-out accuracy
        assert float(cells[3]) > 0            # ms/epoch
        assert cells[4].endswith("x")         # speedup
    assert rows["NumPy reference"].split("|")[5].strip() == "1.0x"
    assert re.search(r"^fastbp is [0-9.]+x (faster|slower) per epoch than the NumPy "
                     r"reference", out.strip().splitlines()[-1])
    assert "first epoch" in out and "Numba" in out
    assert "Traceback" not in err


def test_compare_regression_reports_r2(capsys):
    status, out, err = run(capsys, "compare", "--dataset", "diabetes", "--peers", "reference",
                           "--epochs", 3, "--repeat", 1, "--learning-rate", 0.05)
    assert status == 0, out + err
    assert "held-out R²" in out
    assert "NumPy reference" in out and "| fastbp" not in out


def test_compare_skips_a_missing_library_with_a_note(capsys, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "torch" else find_spec(name, *args))
    chosen = compare.select(None, sys.stderr)
    assert chosen == ["fastbp", "reference", "lean", "sklearn"]
    notes = capsys.readouterr().err.strip().splitlines()
    assert len(notes) == 1 and "torch is not installed" in notes[0]
