"""`python -m wgtorch.compat`: torch's public names per group, marked by whether wgtorch
has them, with a percentage per group; and the README shows the current figures."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
from aliasrun import env

import wgtorch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def report():
    from conftest import _oracle_torch
    if _oracle_torch is None:
        pytest.skip("torch is not installed")
    from wgtorch import compat
    return compat.report(_oracle_torch)


def test_groups_cover_torchs_names(report, oracle):
    groups = {title: marks for title, marks, _, _ in report}
    assert list(groups) == ["torch functions", "Tensor methods", "nn modules", "nn.functional", "optim"]
    names = {title: {n for n, _ in marks} for title, marks in groups.items()}
    assert {"matmul", "cat", "zeros", "manual_seed", "allclose"} <= names["torch functions"]
    assert not any(n.startswith(("cudnn_", "_")) for n in names["torch functions"])
    assert {"view", "backward", "to", "register_hook", "new_zeros"} <= names["Tensor methods"]
    assert {"Linear", "Conv2d", "LSTM", "Module"} <= names["nn modules"]
    assert {"cross_entropy", "relu", "softmax", "linear"} <= names["nn.functional"]
    assert {"SGD", "Adam", "lr_scheduler.StepLR"} <= names["optim"]
    assert len(names["Tensor methods"]) > 300 and len(names["nn modules"]) > 100


def test_marks_are_what_wgtorch_has(report):
    import wgtorch.nn.functional as F
    marks = {(title, n): h for title, ms, _, _ in report for n, h in ms}
    assert marks[("torch functions", "matmul")] and marks[("Tensor methods", "register_hook")]
    assert marks[("nn modules", "Linear")] and marks[("nn.functional", "cross_entropy")]
    assert marks[("optim", "lr_scheduler.StepLR")] and marks[("optim", "Adam")]
    for (title, name), has in marks.items():  # each mark is a lookup on wgtorch
        where = {"torch functions": wgtorch, "Tensor methods": wgtorch.Tensor, "nn modules": wgtorch.nn,
                 "nn.functional": F, "optim": wgtorch.optim}[title]
        obj = where
        try:
            for part in name.split("."):
                obj = getattr(obj, part)
            found = True
        except AttributeError:
            found = False
        assert found == has, (title, name)
    for title, ms, have, total in report:
        assert have == sum(h for _, h in ms) and total == len(ms) and 0 < have < total


def test_command_prints_the_figures_and_the_readme_has_them(report):
    p = subprocess.run([sys.executable, "-m", "wgtorch.compat", "--summary"], capture_output=True, text=True,
                       env=env(), timeout=300, check=True)
    lines = p.stdout.splitlines()
    assert lines[0].startswith(f"wgtorch {wgtorch.__version__} against torch ")
    readme = (ROOT / "README.md").read_text()
    assert "python -m wgtorch.compat" in readme
    for (title, _, have, total), line in zip(report, lines[1:]):
        pct = 100 * have / total
        assert re.fullmatch(rf"\s+{re.escape(title)}\s+{have} / {total}\s+{pct:.1f}%", line), line
        # the README's table row "| group | have / total | pct |" may lag the code (or torch) a little
        row = re.search(rf"\|\s*{re.escape(title)}\s*\|\s*(\d+) / (\d+)\s*\|", readme)
        assert row, f"README has no row for {title}"
        assert abs(100 * int(row.group(1)) / int(row.group(2)) - pct) <= 3, title


def test_full_listing_marks_every_name(report):
    p = subprocess.run([sys.executable, "-m", "wgtorch.compat", "--missing"], capture_output=True, text=True,
                       env=env(), timeout=300, check=True)
    missing = [ln.strip()[2:] for ln in p.stdout.splitlines() if ln.startswith("  - ")]
    assert len(missing) == sum(total - have for _, _, have, total in report)
    assert not [ln for ln in p.stdout.splitlines() if ln.startswith("  + ")]
