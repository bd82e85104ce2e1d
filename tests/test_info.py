"""python -m wgtorch.info: versions, adapters, the chosen one and why, a check on it, advice without one.
Run as subprocesses, as a user runs it (its environment variables change what it reports)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import wgtorch


def _run(*args, **env):
    e = dict(os.environ, XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR", "/tmp"))
    for k in ("WGTORCH_ADAPTER", "WGPU_BACKEND_TYPE", "WGTORCH_RUN_DEVICE"):
        e.pop(k, None)
    e.update(env)
    return subprocess.run([sys.executable, "-m", "wgtorch.info", *args], capture_output=True, text=True, env=e,
                          timeout=120)


def _need_gpu():
    if not wgtorch.wgpu.is_available():
        if os.environ.get("WGTORCH_REQUIRE_GPU") == "1":
            pytest.fail("no WebGPU adapter")
        pytest.skip("no WebGPU adapter")


def test_report_names_versions_adapters_and_passes_check():
    _need_gpu()
    r = _run()
    assert r.returncode == 0, r.stderr
    out = r.stdout
    import wgpu
    for text in (f"wgtorch:      {wgtorch.__version__}", f"wgpu:         {wgpu.__version__}",
                 f"numpy:        {np.__version__}", f"python:       {sys.version.split()[0]}"):
        assert text in out
    name = wgtorch.wgpu.get_device_name()
    assert f"wgtorch uses: {name}" in out
    assert "check on the device: PASSED" in out
    assert "shader-f16" in out and "subgroup" in out and "timestamp-query" in out
    assert "storage-buffer-binding-size=" in out


def test_json_matches_the_library():
    _need_gpu()
    r = _run("--json", WGTORCH_ALLOW_SOFTWARE_ADAPTER="1")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    props = wgtorch.wgpu.get_device_properties()
    chosen = d["chosen"]
    assert chosen["name"] == props["name"] and chosen["backend"] == props["backend"]
    assert chosen["software"] == props["software"]
    assert chosen["limits"]["max-storage-buffer-binding-size"] == props["limits"]["max-storage-buffer-binding-size"]
    assert chosen["features"]["shader-f16"] == ("shader-f16" in props["features"])
    assert d["adapters"][d["chosen_index"]]["name"] == chosen["name"]
    assert d["check"]["ok"] and d["check"]["max_rel_error"] < 1e-4
    # with the opt-in, cuda.is_available() counts even a software adapter
    assert d["cuda_is_available"] is True
    assert d["env"]["WGTORCH_ALLOW_SOFTWARE_ADAPTER"] == "1"


def test_software_adapter_not_counted_without_opt_in():
    _need_gpu()
    if not wgtorch.wgpu.is_software():
        pytest.skip("a hardware adapter: cuda.is_available() counts it whatever the variable says")
    d = json.loads(_run("--json", "--no-check", WGTORCH_ALLOW_SOFTWARE_ADAPTER="0").stdout)
    assert d["cuda_is_available"] is False and "WGTORCH_ALLOW_SOFTWARE_ADAPTER=1" in d["cuda_why"]
    assert d["check"] is None  # --no-check


def test_adapter_named_by_env_var():
    _need_gpu()
    name = wgtorch.wgpu.get_device_name()
    d = json.loads(_run("--json", "--no-check", WGTORCH_ADAPTER=name.split()[0]).stdout)
    assert d["chosen"]["name"] == name and "WGTORCH_ADAPTER" in d["why"]


def test_no_adapter_gives_advice():
    # an adapter name that matches nothing: wgtorch has no adapter to use
    r = _run("--no-check", WGTORCH_ADAPTER="no-such-gpu-xyz")
    assert r.returncode == 0, r.stderr
    assert "wgtorch uses: none" in r.stdout
    assert "no WebGPU adapter matches 'no-such-gpu-xyz'" in r.stdout
    assert "advice:" in r.stdout and "cpu" in r.stdout
    if sys.platform.startswith("linux"):
        assert "mesa-vulkan-drivers" in r.stdout


def test_check_compares_with_numpy(monkeypatch):
    from wgtorch import info
    ok, err, _ = info.check("cpu")
    assert ok and err < 1e-5
    # a wrong softmax is caught
    monkeypatch.setattr(wgtorch, "softmax", lambda x, dim: wgtorch.sigmoid(x))
    ok, err, _ = info.check("cpu")
    assert not ok and err > 1e-2
