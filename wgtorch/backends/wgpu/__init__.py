"""The wgpu backend: the primitive set as WGSL compute kernels run through wgpu.

Handles are WgpuArray views (storage buffer, shape, element strides, offset). One
file per concern: base.py (GPU state, dispatch, transfers, views, copies),
ops.py (the composed object), elementwise.py, reductions.py, linalg.py,
indexing.py, random.py, optim.py and fallbacks.py (the host fallbacks the README
lists). Kernels come from shaders/ specialised in
kernels.py; dispatches are batched in queue.py, and runs of elementwise ones fused
into generated kernels in fusion.py; buffers come from allocator.py. A
primitive a backend lacks raises NotImplementedError naming it, never a wrong answer."""
# The backend's modules load on first use (backend()), not when wgtorch is imported.
_backends = {}


def backend(index=0):
    b = _backends.get(index)
    if b is None:
        from .ops import WgpuBackend
        b = _backends[index] = WgpuBackend(index)
    return b


def __getattr__(name):
    if name == "WgpuBackend":
        from .ops import WgpuBackend
        return WgpuBackend
    raise AttributeError(name)
