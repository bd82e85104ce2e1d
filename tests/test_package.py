"""The package itself: install layout, import cost, shaders, the backend contract."""
import contextlib
import io
import os
import subprocess
import sys

import pytest

from wgtorch import backends
from wgtorch.backends import cpu

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_import_stays_light_and_never_touches_the_gpu():
    """`import wgtorch` loads neither wgpu nor the submodules that tensor work does not need
    (their import cost is what made it slow); its time is measured by the benchmarks, not here."""
    heavy = ["wgpu", "torch", "mpi4py", "wgtorch.nn", "wgtorch.optim", "wgtorch.distributed", "wgtorch.vision",
             "wgtorch.utils.data", "wgtorch.serialization", "wgtorch.onnx", "wgtorch.profiler"]
    code = f"import sys, wgtorch; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"importing wgtorch imported {out.strip()}"


def test_shaders_are_found():
    from wgtorch.shaders_path import read_shader, shader_dir
    assert os.path.isdir(shader_dir())
    assert "@compute" in read_shader("fill.wgsl")


def test_cpu_backend_implements_the_primitive_set():
    missing = [p for p in backends.PRIMITIVES if not callable(getattr(cpu, p, None))]
    assert not missing, f"cpu backend lacks {missing}"


def test_ci_runs_the_readme_test_command():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    ci = open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8").read()
    block = readme.split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(block) == 2, "the README opens with the two commands"
    test_cmd = block[1].strip()
    assert test_cmd.startswith("pip install") and "pytest" in test_cmd
    assert test_cmd in ci.splitlines()


def test_benchmarks_command_runs():
    r = subprocess.run([sys.executable, "-m", "wgtorch.benchmarks", "--smoke"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert "wgtorch/torch" in r.stdout or "torch not installed" in r.stdout


@pytest.mark.parametrize("title", ["A first look", "Training a model"])
def test_readme_examples_run(title, tmp_path, monkeypatch):
    """The README's Python blocks run as written and print what their comments say
    (from a scratch directory: one saves a file)."""
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    code = readme.split(f"## {title}", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    expected = [line.split("#", 1)[1].strip() for line in code.splitlines()
                if line.startswith("print(") and "#" in line]
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"README: {title}", "exec"), {})
    printed = out.getvalue().replace("\n       ", " ").splitlines()
    for want in expected:
        assert any(want in " ".join(p.split()) for p in printed), (want, printed)
