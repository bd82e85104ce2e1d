"""Backends implement one closed primitive set (see backends/cpu.py for the list).
The wgpu backend is loaded on first use so that ``import wgtorch`` never touches a GPU."""
from . import cpu

_by_device = {}


def for_device(dev):
    """The backend module/object serving a wgtorch.device."""
    be = _by_device.get(dev)
    if be is None:
        if dev.type == "cpu":
            be = cpu
        elif dev.type == "wgpu":
            raise RuntimeError("the wgpu backend is not available in this build of wgtorch yet")
        else:
            raise RuntimeError(f"no backend for device {dev}")
        _by_device[dev] = be
    return be
