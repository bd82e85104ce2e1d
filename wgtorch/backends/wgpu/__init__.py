"""The wgpu backend: the primitive set as WGSL compute kernels run through wgpu.

Handles are WgpuArray views (storage buffer, shape, element strides, offset). One
file per concern: base.py (GPU state, dispatch, transfers, views, copies),
elementwise.py, reductions.py, linalg.py, indexing.py, random.py, optim.py and fallbacks.py
(the host fallbacks the README lists). Kernels come from shaders/ specialised in
kernels.py; dispatches are batched in queue.py; buffers come from allocator.py. A
primitive a backend lacks raises NotImplementedError naming it, never a wrong answer."""
from .base import Base
from .elementwise import ElementwiseOps
from .fallbacks import HostFallbacks
from .indexing import IndexingOps
from .linalg import LinalgOps
from .optim import OptimOps
from .random import RandomOps
from .reductions import ReductionOps


class WgpuBackend(ElementwiseOps, ReductionOps, LinalgOps, IndexingOps, RandomOps, OptimOps, HostFallbacks, Base):
    """The primitives of backends.PRIMITIVES on one WebGPU device."""


_backends = {}


def backend(index=0):
    b = _backends.get(index)
    if b is None:
        b = _backends[index] = WgpuBackend(index)
    return b

