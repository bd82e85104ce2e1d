"""Tensors as the host buffers MPI reads and writes, and back.

A cpu tensor whose NumPy view is contiguous is handed to MPI as is (zero copy: the
collective writes straight into it). Anything else (wgpu tensors, strided views,
float16/bfloat16/bool) goes through one contiguous host copy that is written back in
place afterwards: for a wgpu tensor that is one read-back and one upload."""
import numpy as np

from .. import dtypes
from ..autograd.grad_mode import no_grad

# dtypes MPI cannot reduce, carried in a wider one (exact for every value they hold)
_WIDEN = {dtypes.float16: np.float32, dtypes.bfloat16: np.float32, dtypes.bool_: np.uint8}


def check_tensor(t, name, arg="tensor"):
    from ..tensor import Tensor
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}(): argument '{arg}' must be a Tensor, not {type(t).__name__}")


def host(t):
    """(array, shared): t's values as a C-contiguous, writeable ndarray, and whether it
    is t's own memory (if not, write_back must copy it into t)."""
    if t.device.type == "cpu" and t.dtype not in _WIDEN:
        a = t.detach().numpy()
        if a.flags.c_contiguous and a.flags.writeable:
            return a, True
    a = t.detach()._host()
    a = a.astype(_WIDEN.get(t.dtype, a.dtype), copy=False)
    return np.require(a, requirements=["C", "W"]), False


def empty_host(t, leading=()):
    """An uninitialised host array in host(t)'s dtype, of shape leading + t.shape."""
    dt = _WIDEN.get(t.dtype, t.dtype.np)
    return np.empty(tuple(leading) + tuple(t.shape), dtype=dt)


def write_back(t, a, shared=False):
    """Put a's values into t in place (no autograd history, like PyTorch's collectives)."""
    if shared:
        return
    from ..ops.creation import from_numpy
    with no_grad():
        t.copy_(from_numpy(np.ascontiguousarray(a).reshape(tuple(t.shape))))


def signature(t):
    """What every rank must agree on about a tensor: shape and dtype."""
    return (tuple(t.shape), t.dtype.name)
