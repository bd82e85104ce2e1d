"""The wgpu backend object: the primitive mixins composed, one per device index."""
from .attention import AttentionOps
from .base import Base
from .elementwise import ElementwiseOps
from .fallbacks import HostFallbacks
from .indexing import IndexingOps
from .linalg import LinalgOps
from .norm import NormOps
from .optim import OptimOps
from .random import RandomOps
from .reductions import ReductionOps


class WgpuBackend(ElementwiseOps, ReductionOps, LinalgOps, NormOps, AttentionOps, IndexingOps, RandomOps, OptimOps, HostFallbacks, Base):
    """The primitives of backends.PRIMITIVES on one WebGPU device."""

