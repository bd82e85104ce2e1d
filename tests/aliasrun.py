"""Run programs in subprocesses through `python -m wgtorch.run` (or through real torch,
as the oracle), and report what each process imported.

Every process started here gets a sitecustomize (from a temporary folder on
PYTHONPATH) that, at exit, writes to $WGTORCH_TEST_REPORT whether `torch` was
wgtorch and which real torch modules were imported. It can also seed the
generator before the program starts (WGTORCH_TEST_SEED with WGTORCH_TEST_LIB =
torch or wgtorch: unseeded listings then print the same numbers under both, since
wgtorch's cpu generator is PyTorch's) and turn time.sleep into a no-op
(WGTORCH_TEST_NO_SLEEP=1). The programs themselves run unchanged."""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_SITECUSTOMIZE = r'''
import atexit, json, os, sys

def _report():
    path = os.environ.get("WGTORCH_TEST_REPORT")
    if not path:
        return
    mods = dict(sys.modules)
    torch = mods.get("torch")
    wgtorch = mods.get("wgtorch")
    real = sorted(n for n, m in mods.items() if (n == "torch" or n.startswith("torch.")) and m is not None
                  and not getattr(m, "__name__", "").startswith("wgtorch"))
    with open(path, "a") as f:
        f.write(json.dumps({"torch_is_wgtorch": torch is not None and torch is wgtorch,
                            "torch_imported": torch is not None, "real_torch_modules": real[:20],
                            "pid": os.getpid()}) + "\n")

atexit.register(_report)

if os.environ.get("WGTORCH_TEST_NO_SLEEP") == "1":
    import time
    time.sleep = lambda seconds: None

if os.environ.get("WGTORCH_TEST_SEED"):
    import importlib
    importlib.import_module(os.environ.get("WGTORCH_TEST_LIB", "wgtorch")).manual_seed(
        int(os.environ["WGTORCH_TEST_SEED"]))
'''

_site_dir = []


def _site():
    if not _site_dir:
        d = tempfile.mkdtemp(prefix="wgtorch-alias-site-")
        Path(d, "sitecustomize.py").write_text(_SITECUSTOMIZE)
        _site_dir.append(d)
    return _site_dir[0]


def env(path=(), **extra):
    """os.environ with the reporting sitecustomize (and `path`) first on PYTHONPATH, plus `extra`
    (a None value removes a variable)."""
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([_site(), *path, str(ROOT)] + ([e["PYTHONPATH"]] if e.get("PYTHONPATH")
                                                                     else []))
    e.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
    e.setdefault("LP_NUM_THREADS", "0")  # lavapipe: tiny kernels without thread wake-ups
    for k, v in extra.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = str(v)
    return e


class Result:
    def __init__(self, proc, reports):
        self.returncode, self.stdout, self.stderr = proc.returncode, proc.stdout, proc.stderr
        self.reports = reports

    def check(self):
        assert self.returncode == 0, f"exit status {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n" \
                                     f"{self.stderr}"
        return self

    def assert_alias_only(self):
        """Every process that imported torch got wgtorch, and none imported real torch."""
        assert self.reports, "the process wrote no import report"
        for r in self.reports:
            assert not r["real_torch_modules"], f"real torch was imported: {r['real_torch_modules']}"
            if r["torch_imported"]:
                assert r["torch_is_wgtorch"], "sys.modules['torch'] is not wgtorch"
        assert any(r["torch_is_wgtorch"] for r in self.reports), "the program never imported torch"
        return self


def run(args, cwd, *, timeout=300, path=(), **extra_env):
    """`python ARGS` in cwd with the reporting sitecustomize; returns a Result."""
    report = Path(tempfile.mkstemp(prefix="wgtorch-alias-report-", suffix=".jsonl")[1])
    try:
        proc = subprocess.run([sys.executable, *args], cwd=str(cwd), capture_output=True, text=True,
                              timeout=timeout, env=env(path, WGTORCH_TEST_REPORT=report, **extra_env))
        reports = [json.loads(line) for line in report.read_text().splitlines() if line.strip()]
    finally:
        report.unlink()
    return Result(proc, reports)


def run_wgtorch(script_args, cwd, device=None, **kw):
    """`python -m wgtorch.run [--device D] SCRIPT_ARGS`."""
    return run(["-m", "wgtorch.run"] + (["--device", device] if device else []) + list(script_args), cwd, **kw)


def run_torch(script_args, cwd, **kw):
    """The same program under plain python, with real torch."""
    return run(list(script_args), cwd, **kw)
