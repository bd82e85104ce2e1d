"""wgtorch.nn.parallel: data-parallel training over the ranks of wgtorch.distributed."""
from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
