"""The WebGPU adapter and device: found and created on first use, never at import.

Adapter choice: wgpu's high-performance adapter (Vulkan on Linux, Metal on
macOS, D3D12/Vulkan on Windows), unless WGTORCH_ADAPTER or set_adapter() names
another (a substring of its name or its backend, e.g. "llvmpipe" or "vulkan")."""
import os
import tempfile

_state = {"adapter": None, "device": None, "wanted": None, "probed": False, "lost": None}


def _wgpu():
    # an unset XDG_RUNTIME_DIR makes the Vulkan loader print noise on stderr
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
    import wgpu
    return wgpu


def is_software(info):
    """Mesa's lavapipe/llvmpipe, SwiftShader, WARP: adapters that run on the CPU."""
    name = (info.get("device", "") + " " + info.get("description", "")).lower()
    return info.get("adapter_type", "") == "CPU" or any(s in name for s in ("llvmpipe", "lavapipe",
                                                                             "swiftshader", "warp"))


def _matches(info, wanted):
    w = wanted.lower()
    return w in info.get("device", "").lower() or w in info.get("backend_type", "").lower() or \
        w in info.get("description", "").lower()


def list_adapters():
    """Every adapter wgpu sees (OpenGL ones only if nothing better exists)."""
    try:
        adapters = _wgpu().gpu.enumerate_adapters_sync()
    except Exception:  # no driver at all
        return []
    native = [a for a in adapters if a.info.get("backend_type") != "OpenGL"]
    return native or adapters


def adapter():
    """The adapter wgtorch uses, or None when there is none."""
    if not _state["probed"]:
        _state["probed"] = True
        wanted = _state["wanted"] or os.environ.get("WGTORCH_ADAPTER")
        chosen = None
        if wanted:
            chosen = next((a for a in list_adapters() if _matches(a.info, wanted)), None)
            if chosen is None:
                raise RuntimeError(f"no WebGPU adapter matches {wanted!r}; adapters: "
                                   f"{[a.info.get('device') for a in list_adapters()]}")
        else:
            try:
                chosen = _wgpu().gpu.request_adapter_sync(power_preference="high-performance")
            except Exception:
                chosen = None
            if chosen is not None and chosen.info.get("backend_type") == "OpenGL":
                # wgpu falls back to OpenGL when Vulkan is missing: prefer any native adapter
                chosen = next(iter(list_adapters()), chosen)
        _state["adapter"] = chosen
    return _state["adapter"]


def set_adapter(name):
    """Choose the adapter by (part of) its name or backend; takes effect before first use."""
    if _state["device"] is not None:
        raise RuntimeError("set_adapter() must be called before the wgpu device is first used")
    _state["wanted"] = name
    _state["probed"] = False
    _state["adapter"] = None


def device():
    """The GPUDevice, created on first use with the adapter's own limits."""
    dev = _state["device"]
    if dev is None:
        a = adapter()
        if a is None:
            raise RuntimeError(no_adapter_message())
        wanted = ("shader-f16", "subgroup", "timestamp-query")
        feats = [f for f in wanted if f in a.features]
        limits = {k: a.limits[k] for k in ("max-storage-buffer-binding-size", "max-buffer-size",
                                           "max-storage-buffers-per-shader-stage",
                                           "max-compute-workgroup-storage-size",
                                           "max-compute-invocations-per-workgroup")}
        dev = _state["device"] = a.request_device_sync(required_features=feats, required_limits=limits)
    return dev


def lose_device(reason="simulated by wgtorch.wgpu._lose_device(), a test hook"):
    """Test hook: destroy the device as a driver reset or GPU fault would."""
    dev = _state["device"]
    if dev is not None:
        dev.destroy()
        _state["lost"] = reason


def reinit():
    """Forget the device (lost or not): the next use creates a fresh one. Tensors made
    before keep buffers of the old device and raise a clear error when used."""
    from . import _backends
    for b in _backends.values():
        b._gpu = None
    _state["device"], _state["lost"] = None, None


STALE = ("this tensor's storage belongs to a wgpu device that was lost or re-initialised "
         "(wgtorch.wgpu.reinit()); its values are gone: recreate the tensor")


def gpu_error(e):
    """A wgpu-internal error as a RuntimeError that says what happened (raise it from None)."""
    text = str(e)
    if _state["lost"] is not None or "device is lost" in text.lower():
        why = _state["lost"] or "the driver reported it"
        return RuntimeError(f"the wgpu device was lost ({why}); call wgtorch.wgpu.reinit() to start a new one "
                            f"(tensors on the lost device cannot be used any more). wgpu said: {text}")
    if "doesn't match device" in text.lower():
        return RuntimeError(f"{STALE}. wgpu said: {text}")
    return RuntimeError(f"wgpu error: {text}")


def no_adapter_message():
    return ("no WebGPU adapter found. On Linux install a Vulkan driver (for a software one: "
            "`apt-get install mesa-vulkan-drivers libvulkan1`); on macOS Metal is built in.")
