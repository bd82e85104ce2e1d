"""wgtorch.amp: automatic mixed precision (autocast regions and gradient scaling), as torch.amp."""
from .autocast_mode import (
                            autocast,
                            custom_bwd,
                            custom_fwd,
                            get_autocast_dtype,
                            is_autocast_available,
                            is_autocast_enabled,
)
from .grad_scaler import GradScaler

__all__ = ["GradScaler", "autocast", "custom_bwd", "custom_fwd", "get_autocast_dtype", "is_autocast_available",
           "is_autocast_enabled"]
