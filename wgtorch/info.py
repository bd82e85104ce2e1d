"""What wgtorch sees on this machine (like torch.utils.collect_env).

    python -m wgtorch.info [--json] [--no-check]

Prints the versions (wgtorch, wgpu, wgpu-native, NumPy, Python, OS), every
adapter wgpu finds (name, backend, type, software or hardware, key limits and
features), the one wgtorch uses and why, whether `cuda.is_available()` counts
it, and a small computation run on it and compared with NumPy. Without an
adapter it says how to get one. Exit status 1 when the check on the device
gives a wrong answer, else 0 (no adapter is not an error: the cpu device works)."""
import argparse
import json
import os
import platform
import sys

import numpy as np

# limits and features that matter to wgtorch's kernels
LIMITS = ("max-storage-buffer-binding-size", "max-buffer-size", "max-storage-buffers-per-shader-stage",
          "max-compute-workgroup-storage-size", "max-compute-invocations-per-workgroup",
          "max-compute-workgroups-per-dimension", "min-storage-buffer-offset-alignment")
FEATURES = ("shader-f16", "subgroup", "timestamp-query", "timestamp-query-inside-passes", "shader-f64",
            "shader-int64", "immediates")
ENV_VARS = ("WGTORCH_ADAPTER", "WGTORCH_ALLOW_SOFTWARE_ADAPTER", "WGTORCH_RUN_DEVICE", "WGTORCH_REQUIRE_GPU",
            "WGTORCH_WGPU_MEMORY_LIMIT", "WGTORCH_WGPU_MEMORY_TOTAL", "WGPU_BACKEND_TYPE", "WGPUPY_WGPU_ADAPTER_NAME",
            "LP_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _versions():
    import wgtorch
    v = {"wgtorch": wgtorch.__version__, "numpy": np.__version__, "python": sys.version.split()[0],
         "os": platform.platform(), "machine": platform.machine()}
    try:
        from .backends.wgpu import context
        wgpu = context._wgpu()
        v["wgpu"] = wgpu.__version__
        try:
            from wgpu.backends import wgpu_native
            v["wgpu-native"] = wgpu_native.__version__
        except Exception:  # another wgpu backend, or an old wgpu-py
            v["wgpu-native"] = None
    except ImportError as e:
        v["wgpu"] = f"not importable ({e})"
    return v


def _adapter_record(a):
    from .backends.wgpu import context
    info = a.info
    return {"name": info.get("device", ""), "backend": info.get("backend_type", ""),
            "type": info.get("adapter_type", ""), "vendor": info.get("vendor", ""),
            "description": info.get("description", ""),
            "software": context.is_software(info),
            "limits": {k: a.limits[k] for k in LIMITS if k in a.limits},
            "features": {f: f in a.features for f in FEATURES}}


def _same(a, b):
    return all(a.info.get(k) == b.info.get(k) for k in ("device", "backend_type", "adapter_type", "vendor_id",
                                                       "device_id"))


def _why(chosen):
    """A sentence on why wgtorch uses `chosen`."""
    from .backends.wgpu import context
    wanted = context._state["wanted"] or os.environ.get("WGTORCH_ADAPTER")
    if wanted:
        return f"it matches {wanted!r} (WGTORCH_ADAPTER or wgtorch.wgpu.set_adapter)"
    why = "wgpu's high-performance adapter"
    if os.environ.get("WGPU_BACKEND_TYPE"):
        why += f" with the backend forced by WGPU_BACKEND_TYPE={os.environ['WGPU_BACKEND_TYPE']}"
    if os.environ.get("WGPUPY_WGPU_ADAPTER_NAME"):
        why += f" named by WGPUPY_WGPU_ADAPTER_NAME={os.environ['WGPUPY_WGPU_ADAPTER_NAME']}"
    if chosen.info.get("backend_type") == "OpenGL":
        why += " (OpenGL: no Vulkan, Metal or D3D12 adapter was found)"
    return why + "; set WGTORCH_ADAPTER=<part of a name or backend> to choose another"


def _cuda_answer(record):
    """Whether cuda.is_available() counts the adapter, and why."""
    from . import cuda
    ok = cuda.is_available()
    forced = os.environ.get("WGTORCH_RUN_DEVICE", "").strip().lower()
    if forced in ("cpu", "wgpu"):
        return ok, f"WGTORCH_RUN_DEVICE={forced} decides it"
    if record["software"]:
        if ok:
            return ok, "a software adapter, counted because WGTORCH_ALLOW_SOFTWARE_ADAPTER=1"
        return ok, ("a software adapter (it runs on the CPU): counted only with WGTORCH_ALLOW_SOFTWARE_ADAPTER=1; "
                    "device='wgpu' uses it anyway")
    return ok, "a hardware adapter"


def check(device="wgpu"):
    """A small computation on `device` compared with NumPy: (ok, max relative error, what)."""
    import wgtorch
    rng = np.random.default_rng(0)
    a = rng.standard_normal((8, 16)).astype(np.float32)
    b = rng.standard_normal((16, 5)).astype(np.float32)
    x, w = wgtorch.from_numpy(a).to(device), wgtorch.from_numpy(b).to(device)
    got = wgtorch.softmax(x @ w, dim=1).sum(0) + wgtorch.exp(x).mean()
    logits = a.astype(np.float64) @ b.astype(np.float64)
    e = np.exp(logits - logits.max(1, keepdims=True))
    want = (e / e.sum(1, keepdims=True)).sum(0) + np.exp(a.astype(np.float64)).mean()
    err = float(np.max(np.abs(got.cpu().numpy() - want) / np.abs(want)))
    return err < 1e-4, err, "softmax(x @ w).sum(0) + exp(x).mean(), x 8x16, w 16x5 float32"


def collect(run_check=True):
    """Everything `python -m wgtorch.info` prints, as a dict."""
    from .backends.wgpu import context
    out = {"versions": _versions(), "env": {k: os.environ[k] for k in ENV_VARS if k in os.environ},
           "adapters": [], "chosen": None, "why": None, "cuda_is_available": False, "cuda_why": None,
           "check": None, "error": None, "advice": None}
    if out["versions"]["wgpu"].startswith("not importable"):
        out["advice"] = "install wgpu (`pip install wgpu`); it comes with wgtorch's dependencies"
        return out
    adapters = []
    try:
        adapters = context._wgpu().gpu.enumerate_adapters_sync()
    except Exception as e:  # no driver at all
        out["error"] = f"enumerating adapters failed: {e}"
    out["adapters"] = [_adapter_record(a) for a in adapters]
    try:
        chosen = context.adapter()
    except RuntimeError as e:  # WGTORCH_ADAPTER names nothing
        out["error"] = str(e)
        chosen = None
    if chosen is None:
        out["advice"] = _advice(out["adapters"])
        return out
    rec = _adapter_record(chosen)
    out["chosen"] = rec
    out["chosen_index"] = next((i for i, a in enumerate(adapters) if _same(a, chosen)), None)
    out["why"] = _why(chosen)
    out["cuda_is_available"], out["cuda_why"] = _cuda_answer(rec)
    if run_check:
        try:
            ok, err, what = check("wgpu")
            out["check"] = {"ok": ok, "max_rel_error": err, "what": what}
        except Exception as e:  # report, never crash the report
            out["check"] = {"ok": False, "max_rel_error": None, "what": f"{type(e).__name__}: {e}"}
    if rec["backend"] == "OpenGL":
        out["advice"] = ("only an OpenGL adapter was found: wgtorch works best on Vulkan/Metal/D3D12; on Linux "
                         "install a Vulkan driver (`apt-get install libvulkan1 mesa-vulkan-drivers`)")
    return out


def _advice(adapters):
    s = platform.system()
    lines = ["wgtorch found no WebGPU adapter it can use, so the 'wgpu' device is unavailable; "
             + "the 'cpu' device (NumPy) works."]
    if adapters:
        lines.append("wgpu lists adapters but none was granted: check WGPU_BACKEND_TYPE / WGTORCH_ADAPTER above.")
    if s == "Linux":
        lines.append("Linux: install a Vulkan driver and loader. A GPU's vendor driver (NVIDIA, or Mesa's "
                     "radv/anv for AMD/Intel: `apt-get install libvulkan1 mesa-vulkan-drivers`), or Mesa's "
                     "software rasterizer lavapipe for a machine without a GPU (the same packages; then set "
                     "WGTORCH_ALLOW_SOFTWARE_ADAPTER=1 so that torch.cuda.is_available() counts it). "
                     "`vulkaninfo --summary` (package vulkan-tools) shows what the loader sees.")
    elif s == "Darwin":
        lines.append("macOS: Metal is built in; check that macOS is 10.13 or newer and that this Python is "
                     "not running under an x86 emulation layer that hides the GPU.")
    elif s == "Windows":
        lines.append("Windows: update the GPU driver (D3D12 and Vulkan come with it); without a GPU, D3D12's "
                     "WARP software adapter is used when available.")
    return " ".join(lines)


def _fmt_bytes(n):
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.4g} {unit}"
    return f"{n} B"


def format_info(d):
    lines = ["wgtorch environment", ""]
    v = d["versions"]
    for k in ("wgtorch", "wgpu", "wgpu-native", "numpy", "python", "os"):
        if k in v:
            lines.append(f"{k + ':':13} {v[k]}")
    if d["env"]:
        lines.append("environment:  " + "  ".join(f"{k}={val}" for k, val in d["env"].items()))
    lines += ["", f"adapters wgpu sees: {len(d['adapters'])}"]
    for i, a in enumerate(d["adapters"]):
        mark = "*" if d.get("chosen_index") == i else " "
        kind = "software" if a["software"] else "hardware"
        lines.append(f" {mark}[{i}] {a['name']} | {a['backend']} | {a['type']} | {kind}")
        if a["description"]:
            lines.append(f"       driver: {a['description']}")
        lim = a["limits"]
        lines.append("       limits: " + ", ".join(
            f"{k.replace('max-', '').replace('-per-shader-stage', '/stage')}="
            f"{_fmt_bytes(val) if 'size' in k and 'workgroups' not in k else val}" for k, val in lim.items()))
        lines.append("       features: " + ", ".join(f"{f} {'yes' if has else 'no'}"
                                                    for f, has in a["features"].items()))
    lines.append("")
    if d["error"]:
        lines.append(f"error: {d['error']}")
    c = d["chosen"]
    if c is None:
        lines.append("wgtorch uses: none (device 'wgpu' unavailable; 'cpu' works)")
    else:
        lines.append(f"wgtorch uses: {c['name']} ({c['backend']}, {'software' if c['software'] else 'hardware'})"
                     + (f", adapter [{d['chosen_index']}]" if d.get("chosen_index") is not None else ""))
        lines.append(f"  why: {d['why']}")
        lines.append(f"  torch.cuda.is_available(): {d['cuda_is_available']} ({d['cuda_why']})")
        chk = d["check"]
        if chk is not None:
            err = "" if chk["max_rel_error"] is None else f", max relative error {chk['max_rel_error']:.1e}"
            lines.append(f"  check on the device: {'PASSED' if chk['ok'] else 'FAILED'} ({chk['what']}{err})")
    if d["advice"]:
        lines += ["", "advice: " + d["advice"]]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m wgtorch.info", description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-check", action="store_true", help="skip the computation on the device")
    args = p.parse_args(argv)
    d = collect(run_check=not args.no_check)
    print(json.dumps(d, indent=2) if args.json else format_info(d))
    return 1 if d["check"] is not None and not d["check"]["ok"] else 0


if __name__ == "__main__":
    sys.exit(main())
