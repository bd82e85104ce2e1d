"""Smoke tests of examples/: each script runs as a user runs it (a subprocess, `--device` cpu and
wgpu), with tiny settings, and its printed outcomes are checked: losses fall, accuracy beats
chance, checkpoints reload to the same outputs, the plot is a PNG. The runner also asserts that
real torch was never imported (the examples use `import wgtorch as torch`)."""
import gzip
import importlib.util
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")

# run the script as __main__ with its own argv, then check which torch the process saw
RUNNER = ("import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__'); "
          "import wgtorch; t = sys.modules.get('torch'); "
          "assert t is None or t is wgtorch, 'an example imported real torch'")


def run_example(name, *args, check=True, timeout=120):
    env = dict(os.environ, XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR", "/tmp"),
               # two shared cores: OpenBLAS's second thread only contends with the other processes
               OPENBLAS_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", RUNNER, str(EXAMPLES / name), *map(str, args)],
                       capture_output=True, text=True, env=env, timeout=timeout)
    if check:
        assert r.returncode == 0, f"{name} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def numbers(pattern, text):
    """Every float captured by `pattern`'s groups in `text`, in order."""
    found = re.findall(pattern, text)
    return [float(g) for m in found for g in (m if isinstance(m, tuple) else (m,))]


def needs(module):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install -e '.[test]')")


def test_quickstart(device):
    needs("sklearn")
    out = run_example("quickstart.py", "--device", device, "--limit", 300, "--epochs", 3,
                      "--batch-size", 32).stdout
    assert f"on {device}" in out
    first, last = numbers(r"first epoch ([\d.]+), last epoch ([\d.]+)", out)
    assert last < 0.7 * first
    (acc,) = numbers(r"test accuracy: ([\d.]+)", out)
    assert acc > 0.5  # chance is 0.1


def test_appendix_a(device, tmp_path):
    out = run_example("appendix_a.py", "--device", device, "--out-dir", tmp_path).stdout
    assert "the reloaded model gives the same outputs: True" in out
    assert (tmp_path / "model.pth").is_file()
    # the device run repeats the cpu run: same weights, same shuffles, the same losses
    (gap,) = numbers(r"largest difference from the cpu run's losses: ([\d.e+-]+)", out)
    assert gap < 1e-4
    losses = numbers(r"Train Loss: ([\d.]+)", out)
    assert len(losses) == 12 and losses[-1] < losses[0]
    dev = "wgpu:0" if device == "wgpu" else "cpu"
    assert f"{dev} test accuracy: 1.00" in out and f"{dev} train accuracy: 1.00" in out


def _write_idx(path, a):
    header = struct.pack(">BBBB", 0, 0, 0x08, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + a.astype(np.uint8).tobytes())


def fake_fashion_mnist(root, n_train=600, n_test=200):
    """IDX files like Fashion-MNIST's whose classes are learnable: each class brightens its own
    band of rows, on noise."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 90, (n, 28, 28))
        for i, c in enumerate(labels):
            images[i, 2 * c + 4: 2 * c + 7] += 150
        _write_idx(root / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return root


def test_fashion_mnist_mlp(device, tmp_path):
    if DEBIAN_FASHION.is_dir():
        root, min_acc = DEBIAN_FASHION, 0.5  # real data: 1,000 images, 2 epochs
    else:
        root, min_acc = fake_fashion_mnist(tmp_path / "data"), 0.8
    out = run_example("fashion_mnist_mlp.py", "--device", device, "--root", root, "--limit", 1000,
                      "--test-limit", 300, "--epochs", 2, "--batch-size", 50, "--out-dir", tmp_path).stdout
    losses = numbers(r"Loss: ([\d.]+)", out)
    assert len(losses) == 2 and losses[1] < losses[0]
    (acc,) = numbers(r"final test accuracy: ([\d.]+) %", out)
    assert acc / 100 > min_acc
    png = tmp_path / "fashion_mnist_mlp.png"
    if importlib.util.find_spec("matplotlib") is not None:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "matplotlib is not installed" in out and not png.exists()


def test_fashion_mnist_missing_data_message(tmp_path):
    r = run_example("fashion_mnist_mlp.py", "--device", "cpu", "--root", tmp_path, check=False)
    assert r.returncode != 0
    assert "apt-get install dataset-fashion-mnist" in r.stderr and "--download" in r.stderr
    assert "Traceback" not in r.stderr


def test_gpt_mini(device, tmp_path):
    out = run_example("gpt_mini.py", "--device", device, "--steps", 4, "--batch-size", 8, "--context", 16,
                      "--sample-chars", 10, "--eval-every", 4, "--eval-batches", 1, "--out-dir", tmp_path).stdout
    train = numbers(r"train loss ([\d.]+)", out)
    val = numbers(r"val loss ([\d.]+)", out)
    assert len(train) == 2 and train[1] < train[0] - 0.3 and val[1] < val[0]
    sample = out.split("sample:\n", 1)[1].split("\ncheckpoint saved", 1)[0]
    assert sample.startswith("Shall I ") and len(sample) == len("Shall I ") + 10
    assert "reloaded model gives the same logits: True" in out
    assert (tmp_path / "gpt_mini.pth").is_file()


def test_cnn(device, tmp_path):
    needs("sklearn")
    out = run_example("cnn.py", "--device", device, "--limit", 250, "--epochs", 3, "--batch-size", 16,
                      "--lr", 0.01, "--out-dir", tmp_path).stdout
    losses = numbers(r"loss ([\d.]+), test accuracy", out)
    assert len(losses) == 3 and losses[-1] < losses[0]
    (acc,) = numbers(r"final test accuracy: ([\d.]+) %", out)
    assert acc > 30  # chance is 10 %
    assert "reloaded model predicts the same: True" in out


def test_linear_regression(device):
    out = run_example("linear_regression.py", "--device", device, "--steps", 60, "--samples", 200).stdout
    mse = numbers(r"mse ([\d.]+)", out)
    assert mse[-1] < 0.05 < mse[0]
    (gap,) = numbers(r"largest difference from least squares: ([\d.e+-]+)", out)
    assert gap < 1e-3


def test_custom_kernel(device):
    out = run_example("custom_kernel.py", "--device", device, "--steps", 20, "--samples", 200).stdout
    value_err, grad_err = numbers(r"max \|value diff\| ([\d.e+-]+), max \|grad diff\| ([\d.e+-]+)", out)
    assert value_err < 1e-5 and grad_err < 1e-5
    if device == "wgpu":
        assert "wgtorch.wgpu.kernel(inputs=2, outputs=1" in out  # the WGSL kernels ran
    losses = numbers(r"loss ([\d.]+)  accuracy", out)
    assert losses[-1] < losses[0]
