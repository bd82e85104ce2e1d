"""wgtorch.wgpu: the WebGPU device from Python (availability, properties, memory).

Nothing here touches the GPU until a function is called."""
import os

from .backends.wgpu import context


def is_available():
    """True when wgtorch has a WebGPU adapter to run on."""
    return context.adapter() is not None


def device_count():
    return 1 if is_available() else 0


def current_device():
    return 0


def set_device(index):
    if int(index) != 0:
        raise RuntimeError(f"wgpu device index {index} is out of range: wgtorch uses one adapter (wgpu:0)")


def set_adapter(name):
    """Use the adapter whose name or backend contains `name` (before first use)."""
    context.set_adapter(name)


def get_device_name(device=None):
    return _adapter().info.get("device", "")


class _DeviceProperties(dict):
    """The adapter's properties as a dict, and as attributes under torch.cuda's names
    (`name`, `total_memory`, `major`, `minor`, `multi_processor_count`, `is_integrated`)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self):
        return (f"_WgpuDeviceProperties(name='{self['name']}', backend='{self['backend']}', "
                f"total_memory={self['total_memory'] >> 20}MB, software={self['software']})")


def _memory_total():
    # WebGPU cannot report device memory: the figure the allocator caps against
    return int(os.environ.get("WGTORCH_WGPU_MEMORY_TOTAL", str(8 << 30)))


def get_device_properties(device=None):
    a = _adapter()
    info = a.info
    return _DeviceProperties({
        "name": info.get("device", ""),
        "backend": info.get("backend_type", ""),
        "adapter_type": info.get("adapter_type", ""),
        "vendor": info.get("vendor", ""),
        "vendor_id": info.get("vendor_id", 0),
        "description": info.get("description", ""),
        "software": context.is_software(info),
        "features": sorted(a.features),
        "limits": dict(a.limits),
        "total_memory": _memory_total(),
        "major": 0, "minor": 0,  # no CUDA compute capability
        "multi_processor_count": 1,
        "is_integrated": info.get("adapter_type", "") in ("IntegratedGPU", "CPU"),
    })


def is_software():
    return context.is_software(_adapter().info)


def synchronize(device=None):
    from .backends.wgpu import _backends
    for b in _backends.values():
        b.synchronize()


def _adapter():
    a = context.adapter()
    if a is None:
        raise RuntimeError(context.no_adapter_message())
    return a


def _alloc():
    from .backends.wgpu import backend
    return backend(0)._init().alloc


def memory_allocated(device=None):
    return _alloc().allocated if is_available() else 0


def max_memory_allocated(device=None):
    return _alloc().peak if is_available() else 0


def memory_reserved(device=None):
    return _alloc().reserved if is_available() else 0


def reset_peak_memory_stats(device=None):
    if is_available():
        a = _alloc()
        a.peak = a.allocated


def empty_cache():
    if is_available():
        from .backends.wgpu import backend
        b = backend(0)._init()
        b.queue.flush()
        b.alloc.empty_cache()  # (clears the bind groups naming those buffers first)


def reinit():
    """Start a fresh wgpu device after the old one was lost (a driver reset, a GPU fault).
    Tensors made before it cannot be used afterwards (a clear RuntimeError)."""
    context.reinit()


def _lose_device():
    """Test hook: destroy the device as a GPU fault would; the next op raises until reinit()."""
    context.lose_device()


def set_per_process_memory_fraction(fraction, device=None):
    """Cap what the allocator takes at `fraction` of the device's memory. WebGPU
    cannot report device memory, so that is WGTORCH_WGPU_MEMORY_TOTAL bytes
    (default 8 GiB); past the cap the allocator frees its cache, then raises
    OutOfMemoryError."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"Invalid fraction value: {fraction}. Allowed range: 0~1")
    _alloc().limit = int(_memory_total() * fraction)


def manual_seed(seed):
    """Seeds the device's Philox stream only (torch.cuda.manual_seed's counterpart)."""
    from .random import manual_seed_wgpu
    manual_seed_wgpu(seed)


manual_seed_all = manual_seed
from .backends.wgpu.user_kernel import WGSLError, kernel  # noqa: E402,F401  (user-written WGSL kernels)
