"""wgtorch.nn (modules arrive with the nn issue; functional exists from the core)."""
from . import functional  # noqa: F401  (wgtorch.nn.functional)
