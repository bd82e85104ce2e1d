"""wgtorch.autograd: backward, grad, grad modes and custom Functions."""

from .engine import run_backward
from .function import Function, FunctionCtx
from .grad_mode import (enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad,
                        set_grad_enabled)
from .graph import Node

__all__ = ["backward", "grad", "Function", "FunctionCtx", "no_grad", "enable_grad", "set_grad_enabled",
           "inference_mode", "is_grad_enabled", "is_inference_mode_enabled", "Node", "Variable"]


class _VariableMeta(type):
    def __instancecheck__(cls, obj):
        from ..tensor import Tensor
        return isinstance(obj, Tensor)


class Variable(metaclass=_VariableMeta):
    """The legacy `Variable(tensor, requires_grad=...)`: Variables and Tensors merged in
    PyTorch 0.4, so this returns a Tensor sharing the data (a new graph leaf) and every
    Tensor is an instance of Variable."""

    def __new__(cls, data, requires_grad=False, volatile=False):
        from ..tensor import Tensor
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        return data.detach().requires_grad_(requires_grad)


def _seq(x):
    if x is None:
        return None
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _grad_outputs(outputs, grads):
    from ..tensor import _make
    grads = _seq(grads) or (None,) * len(outputs)
    if len(grads) != len(outputs):
        raise RuntimeError(f"grad_tensors should have the same length as tensors ({len(grads)} vs {len(outputs)})")
    out = []
    for t, g in zip(outputs, grads):
        if g is None:
            if t.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if not t._dtype.is_floating_point:
                raise RuntimeError(f"grad can be implicitly created only for real scalar outputs but got {t.dtype}")
            g = _make(t._be.full(t._data.shape, 1, t._dtype), t._dtype, t._be)  # ones_like(t), without its options
        elif g.shape != t.shape:
            raise RuntimeError(f"Mismatch in shape: grad_output[0] has a shape of {g.shape} and output[0] has a "
                               f"shape of {t.shape}.")
        out.append(g)
    return out


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    outputs = _seq(tensors)
    grads = _grad_outputs(outputs, grad_tensors)
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is not None:
        res = run_backward(outputs, grads, retain_graph, create_graph, inputs=_seq(inputs), allow_unused=True)
        for t, g in zip(_seq(inputs), res):
            if g is not None:
                g = g if create_graph else g.detach()
                t._grad = g.clone() if t._grad is None else t._grad + g
        return
    run_backward(outputs, grads, retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    outs = _seq(outputs)
    ins = _seq(inputs)
    grads = _grad_outputs(outs, grad_outputs)
    if retain_graph is None:
        retain_graph = create_graph
    res = run_backward(outs, grads, retain_graph, create_graph, inputs=ins,
                       allow_unused=bool(allow_unused) or materialize_grads)
    if materialize_grads:
        from ..ops.creation import zeros_like
        res = tuple(r if r is not None else zeros_like(i) for r, i in zip(res, ins))
    if not create_graph:
        res = tuple(r.detach() if r is not None else None for r in res)
    return res
