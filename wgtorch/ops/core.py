"""Helpers every op module shares: operand checks, result dtypes, un-broadcasting,
and in-place updates with autograd."""
import numbers

import numpy as np

from .. import dtypes
from ..autograd import grad_mode
from ..autograd.graph import Node, attach, edge, needs_grad
from ..tensor import INFERENCE_VC, Tensor, _make, wrap_dim

__all__ = ["Tensor", "_make", "wrap_dim", "Node", "attach", "edge", "needs_grad", "grad_mode"]


def prio(t):
    return 2 if t._data.ndim else 1


def device_mismatch(a, b):
    if a.device.type == "cpu":  # PyTorch names the accelerator first, whatever the operands' order
        a, b = b, a
    raise RuntimeError("Expected all tensors to be on the same device, but found at least two devices, "
                       f"{a.device} and {b.device}!")


def check_same_device(*ts):
    be = None
    for t in ts:
        if t is not None:
            if be is None:
                be, first = t._be, t
            elif t._be is not be:
                device_mismatch(first, t)


def operand(x, like):
    """A Tensor operand on like's device (Python scalars and NumPy values become
    0-d tensors of PyTorch's scalar dtype)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (numbers.Number, np.generic)):
        dt = dtypes.scalar_dtype(x)
        return _make(like._be.full((), x, dt), dt, like._be)
    from .creation import tensor
    return tensor(x, device=like.device)


def check_scalar(x, opname):
    if not isinstance(x, (numbers.Number, np.generic)):
        raise TypeError(f"{opname}(): argument 'other' must be Tensor or Number, not {type(x).__name__}")


def result_dtype(a, b):
    """PyTorch's result dtype of a Tensor a with a Tensor or Python scalar b."""
    if isinstance(b, Tensor):
        return dtypes.result_type(a._dtype, prio(a), b._dtype, prio(b))
    return dtypes.result_type(a._dtype, prio(a), dtypes.scalar_dtype(b), 0)


def broadcast_shapes(*shapes):
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for s in shapes:
        for i, d in enumerate(s):
            j = ndim - len(s) + i
            if d != 1:
                if out[j] != 1 and out[j] != d:
                    raise RuntimeError(
                        f"The size of tensor a ({out[j]}) must match the size of tensor b ({d}) at "
                        f"non-singleton dimension {j}")
                out[j] = d
    return tuple(out)


def sum_to(g, shape):
    """Un-broadcast: sum gradient g down to shape (the one place this happens)."""
    shape = tuple(shape)
    gs = g._data.shape
    if gs == shape:
        return g
    lead = len(gs) - len(shape)
    inner = tuple(i + lead for i, s in enumerate(shape) if s == 1 and gs[i + lead] != 1)
    if not grad_mode.enabled:  # no graph to record (the usual backward): one backend reduction
        be = g._be
        r = be.reduce("sum", g._data, tuple(range(lead)) + inner, bool(inner), g._dtype)
        return _make(be.view_reshape(r, shape) if inner and lead else r, g._dtype, be)
    if not inner:  # only leading dims to remove (a bias): one reduction
        return g.sum(tuple(range(lead)))
    g = g.sum(tuple(range(lead)) + inner, keepdim=True)
    return g.reshape(shape) if lead else g


def normalize_dims(dim, ndim):
    """dim (None, int, or sequence) as a sorted tuple of non-negative dims."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (list, tuple)):
        ds = tuple(wrap_dim(d, ndim) for d in dim)
        if len(set(ds)) != len(ds):
            raise RuntimeError(f"dim {ds[0]} appears multiple times in the list of dims")
        return tuple(sorted(ds)) if ds and ndim else tuple(range(ndim))
    d = wrap_dim(dim, ndim)
    return (d,) if ndim else ()  # a 0-d tensor takes dim 0 / -1, and has no axis to reduce


# ---- in-place updates ----------------------------------------------------------
class CopySlices(Node):
    """An in-place op on a view: the base's new value is its old value with the
    view's region replaced by the op's result."""

    def __init__(self, view_fn):
        super().__init__()
        self.view_fn = view_fn

    def backward(self, g):
        # the view's region of the base came from the op's result, the rest from the old base
        return g * _region_mask(self.view_fn, g), self.view_fn(g)


def _region_mask(view_fn, like):
    m = like.detach().new_ones(like.shape)
    with grad_mode.no_grad():
        view_fn(m).zero_()
    return m


def check_inplace(a):
    if grad_mode.enabled and a._rg:
        if a._grad_fn is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
        if a._grad_fn.multi_view:
            raise RuntimeError(f"Output {a._out_nr} of {a._grad_fn.multi_view} is a view and is being modified "
                               "inplace. This view is the output of a function that returns multiple views. Such "
                               "functions do not allow the output views to be modified inplace. You should replace "
                               "the inplace operation by an out-of-place one.")
        base = a._base
        if base is not None and base._grad_fn is None and base._rg:
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place "
                               "operation.")


def _check_no_overlap(a):
    for size, stride in zip(a._data.shape, a.stride()):
        if stride == 0 and size > 1:
            raise RuntimeError("unsupported operation: more than one element of the written-to tensor refers to "
                               "a single memory location. Please clone() the tensor before performing the "
                               "operation.")


def inplace(a, outofplace, direct, others=()):
    """Update a in place. Without autograd, ``direct()`` mutates a's data. With
    autograd, ``outofplace(a_old)`` computes the new value as a recorded op and
    a takes over its history (through CopySlices when a is a view)."""
    if grad_mode.enabled:  # (both checks are about recording; under no_grad, e.g. optimizer steps, skip them)
        check_inplace(a)
        record = needs_grad(a, *others)
    else:
        record = False
    if record:
        a_old = a.clone()
        res = outofplace(a_old)
        with grad_mode.no_grad():
            a._be.copy_(a._data, res._data)
        a._vc[0] += 1
        base = a._base
        if base is not None:
            node = CopySlices(a._view_fn)
            attach(node, (base, res), (base,))
            fresh = a._view_fn(base)  # a's history: a view of the updated base
            a._grad_fn, a._out_nr, a._rg = fresh._grad_fn, fresh._out_nr, True
        else:
            a._grad_fn, a._out_nr, a._rg = res._grad_fn, res._out_nr, True
    else:
        if a._be.name != "cpu":  # (NumPy marks such views read-only itself)
            _check_no_overlap(a)
        if a._vc is INFERENCE_VC and not grad_mode.inference:
            raise RuntimeError("Inplace update to inference tensor outside InferenceMode is not allowed. You can "
                               "make a clone to get a normal tensor before doing inplace update.")
        try:
            direct()
        except ValueError as e:
            if "read-only" not in str(e):
                raise
            raise RuntimeError("unsupported operation: more than one element of the written-to tensor refers to "
                               "a single memory location. Please clone() the tensor before performing the "
                               "operation.") from None
        a._vc[0] += 1
    return a
