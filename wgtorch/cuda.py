"""wgtorch.cuda: PyTorch's `torch.cuda` questions answered for the wgpu device, so
`"cuda" if torch.cuda.is_available() else "cpu"` picks the GPU unchanged.

A software adapter (Mesa's lavapipe) counts only with WGTORCH_ALLOW_SOFTWARE_ADAPTER=1."""
# ruff: noqa: F401  (re-exports wgtorch.wgpu under torch.cuda's names)
import os

from . import wgpu as _wgpu
from .wgpu import (device_count, empty_cache, get_device_name, get_device_properties, max_memory_allocated,
                   memory_allocated, memory_reserved, reset_peak_memory_stats, set_per_process_memory_fraction,
                   synchronize, current_device, set_device)


def is_available():
    if not _wgpu.is_available():
        return False
    return not _wgpu.is_software() or os.environ.get("WGTORCH_ALLOW_SOFTWARE_ADAPTER") == "1"


def is_initialized():
    return _wgpu.is_available()


def manual_seed(seed):
    from .random import manual_seed as _ms
    _ms(seed)


manual_seed_all = manual_seed
