"""Flattening parameters into one vector and back."""
from ...ops.shape import cat
from ...tensor import Tensor
from ..modules.module import _typename

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _check_device(param, device):
    if device is not None and param.device != device:
        raise TypeError("Found two parameters on different devices, this is currently not supported.")
    return param.device


def parameters_to_vector(parameters):
    device, vec = None, []
    for p in parameters:
        device = _check_device(p, device)
        vec.append(p.view(-1))
    return cat(vec)


def vector_to_parameters(vec, parameters):
    """Each parameter's data becomes a view of its slice of vec (as torch does)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {_typename(vec)}")
    device, pointer = None, 0
    for p in parameters:
        device = _check_device(p, device)
        n = p.numel()
        p.data = vec[pointer:pointer + n].view_as(p).data
        pointer += n
