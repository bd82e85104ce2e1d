"""wgtorch.cuda: PyTorch's `torch.cuda` questions answered for the wgpu device, so
`"cuda" if torch.cuda.is_available() else "cpu"` picks the GPU unchanged.

A software adapter (Mesa's lavapipe) counts only with WGTORCH_ALLOW_SOFTWARE_ADAPTER=1.
WGTORCH_RUN_DEVICE=cpu|wgpu (what `python -m wgtorch.run --device` sets) decides the
answer outright: cpu says no GPU, wgpu says yes whenever an adapter exists."""
# ruff: noqa: F401  (re-exports wgtorch.wgpu under torch.cuda's names)
import os

from . import wgpu as _wgpu
from ._tensor_types import GPU_TYPES as _GPU_TYPES
from .wgpu import (current_device, empty_cache, get_device_name, get_device_properties, max_memory_allocated,
                   memory_allocated, memory_reserved, reset_peak_memory_stats, set_device,
                   set_per_process_memory_fraction, synchronize)

# torch.cuda.FloatTensor and friends: legacy types of wgpu tensors
globals().update(_GPU_TYPES)


def run_device():
    """'cpu' or 'wgpu' when the run forces the answer (WGTORCH_RUN_DEVICE), else None."""
    d = os.environ.get("WGTORCH_RUN_DEVICE", "").strip().lower()
    if d in ("", "auto"):
        return None
    if d not in ("cpu", "wgpu"):
        raise RuntimeError(f"WGTORCH_RUN_DEVICE must be cpu or wgpu, not {d!r}")
    return d


def is_available():
    forced = run_device()
    if forced == "cpu" or not _wgpu.is_available():
        return False
    if forced == "wgpu":
        return True
    return not _wgpu.is_software() or os.environ.get("WGTORCH_ALLOW_SOFTWARE_ADAPTER") == "1"


def is_initialized():
    return _wgpu.is_available()


def device_count():
    return 1 if is_available() else 0


def is_bf16_supported(including_emulation=True):
    """bfloat16 exists on wgpu (stored in 16 bits, computed in float32)."""
    return is_available()


def manual_seed(seed):
    """Seeds the device's Philox stream only, as torch.cuda.manual_seed."""
    from .random import manual_seed_wgpu
    manual_seed_wgpu(seed)


manual_seed_all = manual_seed


# torch.cuda is a package in PyTorch: `import torch.cuda.amp` (through the alias) needs a
# __path__ to look further, and `torch.cuda.amp` the attribute is the legacy amp spelling.
__path__ = []


def __getattr__(name):
    if name == "amp":
        from .amp import cuda_amp
        return cuda_amp
    raise AttributeError(f"module 'wgtorch.cuda' has no attribute '{name}'")
