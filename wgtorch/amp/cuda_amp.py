"""The legacy spellings ``torch.cuda.amp.autocast`` / ``GradScaler`` (the wgpu device)."""
import functools

from . import autocast_mode as _ac
from .grad_scaler import GradScaler as _GradScaler

__all__ = ["GradScaler", "autocast", "custom_bwd", "custom_fwd"]


class autocast(_ac.autocast):
    def __init__(self, enabled=True, dtype=None, cache_enabled=True):
        super().__init__("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


class GradScaler(_GradScaler):
    def __init__(self, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000,
                 enabled=True):
        super().__init__("cuda", init_scale, growth_factor, backoff_factor, growth_interval, enabled)


custom_fwd = functools.partial(_ac.custom_fwd, device_type="cuda")
custom_bwd = functools.partial(_ac.custom_bwd, device_type="cuda")
