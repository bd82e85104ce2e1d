"""Indexing: x[key] and x[key] = v, gather/scatter, index_select/index_add,
masked ops, nonzero."""
import numpy as np

from .. import dtypes
from ..autograd import grad_mode
from .core import Node, Tensor, _make, attach, device_mismatch, inplace, sum_to, wrap_dim
from .shape import basic_index, broadcast_tensors_shape, expand

_INT_INDEX = (dtypes.int64, dtypes.int32, dtypes.int16, dtypes.int8, dtypes.uint8)


def _parse(x, key):
    """Split a __getitem__ key into NumPy-style parts. Returns (key tuple,
    has_advanced). Tensor indices become backend handles; ints are checked."""
    if not isinstance(key, tuple):
        key = (key,)
    n_used = sum(1 for k in key if k is not None and k is not Ellipsis and not isinstance(k, bool)
                 and not (isinstance(k, Tensor) and k._dtype is dtypes.bool_)) + \
        sum(k.ndim for k in key if isinstance(k, Tensor) and k._dtype is dtypes.bool_)
    if sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if n_used > x.ndim:
        raise IndexError(f"too many indices for tensor of dimension {x.ndim}")
    out, adv, dim = [], False, 0
    for k in key:
        if k is None:
            out.append(None)
        elif k is Ellipsis:
            out.append(Ellipsis)
            dim += x.ndim - n_used
        elif isinstance(k, bool):
            out.append(np.bool_(k))
            adv = True
        elif isinstance(k, (int, np.integer)):
            size = x.shape[dim]
            if not -size <= k < size:
                raise IndexError(f"index {k} is out of bounds for dimension {dim} with size {size}")
            out.append(int(k))
            dim += 1
        elif isinstance(k, slice):
            if k.step is not None and int(k.step) <= 0:
                raise ValueError("step must be greater than zero")
            out.append(slice(*(None if v is None else _as_int(v) for v in (k.start, k.stop, k.step))))
            dim += 1
        else:
            if not isinstance(k, Tensor):  # host values: made on the cpu, checked there, then moved
                from .creation import tensor
                if isinstance(k, np.ndarray):
                    k = tensor(k)
                elif isinstance(k, (list, tuple, range)):
                    k = tensor(list(k)) if len(k) else tensor([], dtype=dtypes.int64)
                else:
                    raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or byte "
                                     "Variables are valid indices (got " + type(k).__name__ + ")")
            if k._be is not x._be and k.device.type != "cpu":
                raise RuntimeError(f"indices should be either on cpu or on the same device as the indexed "
                                   f"tensor ({x.device})")
            if k._dtype is dtypes.bool_:
                for j in range(k.ndim):
                    if k.shape[j] != x.shape[dim + j]:
                        raise IndexError(f"The shape of the mask {list(k.shape)} at index {j} does not match "
                                         f"the shape of the indexed tensor {list(x.shape)} at index {dim + j}")
                dim += k.ndim
            elif k._dtype in _INT_INDEX:
                _check_bounds(k, x.shape[dim], dim)
                dim += 1
            else:
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            if k._be is not x._be:
                k = k.to(x.device)  # cpu indices are allowed for device tensors, as in PyTorch
            out.append(k._data)
            adv = True
    return tuple(out), adv


def _as_int(v):
    if isinstance(v, Tensor):
        return int(v.item())
    return int(v)


_umax = np.maximum.reduce


def _check_bounds(k, size, dim, exc=IndexError, negative_ok=True):
    if k._be.name != "cpu":  # the device checks (its next read-back raises): no sync per indexing op
        return
    h = k._host()
    if h.size == 0:
        return
    if h.dtype == np.int64:  # one pass: negative values wrap to huge unsigned ones
        # (the ufunc's reduce: ndarray.max's wrapper costs microseconds on this hot path)
        if _umax((h + size if negative_ok else h).view(np.uint64), axis=None) < (2 * size if negative_ok else size):
            return
    lo, hi = int(h.min()), int(h.max())
    low = -size if negative_ok else 0
    if lo < low or hi >= size:
        bad = lo if lo < low else hi
        raise exc(f"index {bad} is out of bounds for dimension {dim} with size {size}")


class IndexBackward0(Node):
    def __init__(self, shape, key, be):
        super().__init__()
        self.shape, self.key, self.be = shape, key, be

    def backward(self, g):
        z = _make(self.be.full(self.shape, 0, g._dtype), g._dtype, self.be)
        return index_put(z, self.key, g, accumulate=True)


def _fast_key(x, key):
    """The key as a tuple if it is only ints and slices (the common case), else None."""
    key = key if key.__class__ is tuple else (key,)
    shape = x._data.shape
    if len(key) > len(shape):
        return None
    for i, k in enumerate(key):
        c = k.__class__
        if c is int:
            if not -shape[i] <= k < shape[i]:
                return None  # the general path raises the error
        elif c is slice:
            if k.step is not None and (k.step.__class__ is not int or k.step <= 0):
                return None
        else:
            return None
    return key


def getitem(x, key):
    fast = _fast_key(x, key)
    if fast is not None:
        return basic_index(x, fast)
    if x.ndim == 0 and key is not None and key is not Ellipsis and not isinstance(key, (Tensor, tuple)):
        if isinstance(key, (int, slice)):
            raise IndexError("invalid index of a 0-dim tensor. Use `tensor.item()` in Python or "
                             "`tensor.item<T>()` in C++ to convert a 0-dim tensor to a number")
    if isinstance(key, Tensor) and key.ndim == 0 and key._dtype is dtypes.bool_:
        # a 0-d mask adds a dim of size 1 (True) or 0 (False): as a 1-element mask, on every device
        return getitem(x.unsqueeze(0), key.reshape(1))
    k, adv = _parse(x, key)
    if not adv:
        return basic_index(x, k)
    r = _make(x._be.index(x._data, k), x._dtype, x._be)
    if grad_mode.enabled and x._rg:
        attach(IndexBackward0(x.shape, k, x._be), (x,), (r,))
    return r


def setitem(x, key, value):
    k = _fast_key(x, key)
    adv = False
    if k is None:
        k, adv = _parse(x, key)
    if not adv:
        target = basic_index(x, k) if k else x
        if isinstance(value, Tensor):
            target.copy_(value)
        elif isinstance(value, (list, tuple, np.ndarray)):
            from .creation import tensor
            target.copy_(tensor(value, dtype=x._dtype, device=x.device))
        else:
            target.fill_(value)
        return
    index_put_(x, k, value)


# ---- index_put: the in-place indexed write with its backward ---------------------------
class IndexPutBackward0(Node):
    def __init__(self, key, vshape, accumulate):
        super().__init__()
        self.key, self.vshape, self.accumulate = key, vshape, accumulate

    def backward(self, g):
        gv = None
        if self.vshape is not None:
            gv = sum_to(_make(g._be.index(g._data, self.key), g._dtype, g._be) if not g._rg else
                        getitem_handles(g, self.key), self.vshape)
        if self.accumulate:
            return g, gv
        z = _make(g._be.full((), 0, g._dtype), g._dtype, g._be)
        return index_put(g, self.key, z), gv


def getitem_handles(g, key):
    """g[key] for an already parsed key, differentiable."""
    r = _make(g._be.index(g._data, key), g._dtype, g._be)
    if grad_mode.enabled and g._rg:
        attach(IndexBackward0(g.shape, key, g._be), (g,), (r,))
    return r


def _values(x, values):
    if isinstance(values, Tensor):
        if values._be is not x._be:
            device_mismatch(x, values)
        return values, values._data if values._dtype is x._dtype else x._be.cast(values._data, x._dtype)
    return None, values


def index_put(x, key, values, accumulate=False):
    """Out of place: a copy of x with x[key] (+)= values; key already parsed."""
    vt, vd = _values(x, values)
    r = _make(x._be.clone(x._data), x._dtype, x._be)
    _index_put_raw(r, key, vd, accumulate)
    if grad_mode.enabled and (x._rg or (vt is not None and vt._rg)):
        attach(IndexPutBackward0(key, vt.shape if vt is not None else None, accumulate),
               (x, vt), (r,))
    return r


def _index_put_raw(x, key, vd, accumulate):
    try:
        x._be.index_put_(x._data, key, vd, accumulate)
    except ValueError:
        target = list(x._be.index(x._data, key).shape)
        vshape = list(getattr(vd, "shape", ()))
        raise RuntimeError(f"shape mismatch: value tensor of shape {vshape} cannot be broadcast to indexing "
                           f"result of shape {target}") from None


def index_put_(x, key, values, accumulate=False):
    if not isinstance(key, tuple) or any(isinstance(k, Tensor) for k in key):
        key, _ = _parse(x, key)
    vt, vd = _values(x, values)
    return inplace(x, lambda old: index_put(old, key, values, accumulate),
                   lambda: _index_put_raw(x, key, vd, accumulate),
                   (vt,) if vt is not None else ())


# ---- gather / scatter --------------------------------------------------------------------
def _check_index(fn, x, dim, index, src=None):
    if not isinstance(index, Tensor) or index._dtype is not dtypes.int64:
        raise RuntimeError(f"{fn}(): Expected dtype int64 for index")
    ish, xsh = index._data.shape, x._data.shape
    if len(ish) != len(xsh) and not (len(ish) <= 1 and len(xsh) <= 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    for d in range(len(ish)):
        if d != dim and ish[d] > xsh[d]:
            raise RuntimeError(f"Size does not match at dimension {d} expected index {list(index.shape)} to be "
                               f"smaller than self {list(x.shape)} apart from dimension {dim}")
    _check_bounds(index, xsh[dim] if xsh else 1, dim, RuntimeError, negative_ok=False)


class GatherBackward0(Node):
    def __init__(self, index, shape, dim):
        self.save(index)
        self.shape, self.dim = shape, dim

    def backward(self, g):
        (index,) = self.saved_tensors
        be, dt = g._be, g._dtype
        z = _make(be.full(self.shape, 0, dt), dt, be)
        if grad_mode.enabled or not index._data.ndim or not self.shape:  # create_graph (or one row): recorded
            return _scatter(z, self.dim, index, g, None, True, checked=True)
        be.scatter_(z._data, self.dim, index._data, g._data, "add")  # into the fresh zeros: no copy
        return z


def gather(x, dim, index, sparse_grad=False):
    d = wrap_dim(dim, x.ndim)
    _check_index("gather", x, d, index)
    be, xd, ind = x._be, x._data, index._data
    if x.ndim == 0 or index.ndim == 0:  # 0-d and 1-element 1-d operands: gather from one row
        r = be.view_reshape(be.gather(be.view_reshape(xd, (x.numel(),)), 0, be.view_reshape(ind, (index.numel(),))),
                            index.shape)
    else:
        xs, ish = xd.shape, ind.shape
        if ish[:d] != xs[:d] or ish[d + 1:] != xs[d + 1:]:  # index smaller than x off dim: x's corner
            xd = be.view_index(xd, tuple(slice(0, s) if i != d else slice(None) for i, s in enumerate(ish)))
        r = be.gather(xd, d, ind)
    r = _make(r, x._dtype, be)
    if grad_mode.enabled and x._rg:
        attach(GatherBackward0(index, x._data.shape, d), (x,), (r,))
    return r


class ScatterBackward(Node):
    def __init__(self, dim, index, add, has_src):
        super().__init__()
        self.dim, self.add, self.has_src = dim, add, has_src
        self.save(index)

    def backward(self, g):
        (index,) = self.saved_tensors
        gx = g if self.add else scatter(g, self.dim, index, 0.0)
        gs = gather(g, self.dim, index) if self.has_src else None
        return gx, gs


def _scatter(x, dim, index, src, reduce, add, checked=False):
    d = wrap_dim(dim, x.ndim)
    if (x.ndim == 0 or index.ndim == 0) and isinstance(index, Tensor):  # as one row
        src = src.reshape(-1) if isinstance(src, Tensor) else src
        return _scatter(x.reshape(-1), 0, index.reshape(-1), src, reduce, add, checked).reshape(x.shape)
    if not checked:
        _check_index("scatter", x, d, index)
    srct = src if isinstance(src, Tensor) else None
    if srct is not None:
        for i in range(index.ndim):
            if index.shape[i] > src.shape[i]:
                raise RuntimeError(f"Expected index {list(index.shape)} to be smaller than self "
                                   f"{list(x.shape)} apart from dimension {d} and to be smaller size than src "
                                   f"{list(src.shape)}")
    sd = src._data if srct is not None else src
    if srct is not None and srct._dtype is not x._dtype:
        sd = x._be.cast(sd, x._dtype)
    r = _make(x._be.clone(x._data), x._dtype, x._be)
    x._be.scatter_(r._data, d, index._data, sd, "add" if add else reduce)
    if grad_mode.enabled and (x._rg or (srct is not None and srct._rg)):
        attach(_scatter_node(add)(d, index, add, srct is not None), (x, srct), (r,))
    return r


def _scatter_node(add):
    return ScatterAddBackward0 if add else ScatterBackward0


class ScatterBackward0(ScatterBackward):
    pass


class ScatterAddBackward0(ScatterBackward):
    pass


def scatter(x, dim, index, src=None, value=None, reduce=None):
    if src is None:
        src = value
    return _scatter(x, dim, index, src, reduce, False)


def scatter_add(x, dim, index, src):
    return _scatter(x, dim, index, src, None, True)


def scatter_(x, dim, index, src=None, value=None, reduce=None):
    if src is None:
        src = value
    return inplace(x, lambda old: _scatter(old, dim, index, src, reduce, False),
                   lambda: x._be.copy_(x._data, _scatter(x.detach(), dim, index, src, reduce, False)._data),
                   (src,) if isinstance(src, Tensor) else ())


def scatter_add_(x, dim, index, src):
    return inplace(x, lambda old: _scatter(old, dim, index, src, None, True),
                   lambda: x._be.copy_(x._data, _scatter(x.detach(), dim, index, src, None, True)._data),
                   (src,) if isinstance(src, Tensor) else ())


# ---- index_select / index_add -----------------------------------------------------------
def _check_1d_index(fn, index):
    if not isinstance(index, Tensor):
        raise TypeError(f"{fn}(): argument 'index' must be Tensor, not {type(index).__name__}")
    if index._dtype not in (dtypes.int64, dtypes.int32):
        raise RuntimeError(f"{fn}(): Expected dtype int32/int64 for index")
    if index.ndim > 1:
        raise IndexError(f"{fn}(): Index is supposed to be a vector")


class IndexSelectBackward0(Node):
    def backward(self, g):
        (index,) = self.saved_tensors
        return index_add(g.new_zeros(self.shape), self.dim, index, g)


def index_select(x, dim, index):
    _check_1d_index("index_select", index)
    d = wrap_dim(dim, x.ndim)
    if x.ndim == 0:
        return getitem(x.reshape(1), index.reshape(-1)).reshape(())
    with grad_mode.no_grad():
        r = getitem(x, (slice(None),) * d + (index.reshape(-1),))
    if grad_mode.enabled and x._rg:
        attach(IndexSelectBackward0(index, shape=x.shape, dim=d), (x,), (r,))
    return r


def index_add(x, dim, index, source, alpha=1):
    _check_1d_index("index_add", index)
    d = wrap_dim(dim, x.ndim)
    key, _ = _parse(x, (slice(None),) * d + (index.reshape(-1),))
    return index_put(x, key, source * alpha if alpha != 1 else source, accumulate=True)


def index_add_(x, dim, index, source, alpha=1):
    _check_1d_index("index_add_", index)
    if isinstance(source, Tensor) and source._dtype is not x._dtype:  # PyTorch does not cast here
        raise RuntimeError(f"index_add_(): self ({x._dtype.name}) and source ({source._dtype.name}) must have the "
                           "same scalar type")
    d = wrap_dim(dim, x.ndim)
    key, _ = _parse(x, (slice(None),) * d + (index.reshape(-1),))
    return index_put_(x, key, source * alpha if alpha != 1 else source, accumulate=True)


def index_fill(x, dim, index, value):
    d = wrap_dim(dim, x.ndim)
    key, _ = _parse(x, (slice(None),) * d + (index.reshape(-1),))
    return index_put(x, key, value)


# ---- masks --------------------------------------------------------------------------------
def _check_mask(mask):
    if not isinstance(mask, Tensor) or mask._dtype is not dtypes.bool_:
        raise RuntimeError("masked_fill_ only supports boolean masks, but got mask with dtype "
                           f"{getattr(mask, 'dtype', type(mask).__name__)}")


def masked_fill(x, mask, value):
    _check_mask(mask)
    from .elementwise import where
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s).")
        v = value.to(x._dtype)
    else:
        if x._dtype.is_floating_point is False and x._dtype.name != "bool" and isinstance(value, float):
            info = np.iinfo(x._dtype.np)  # nan, inf or out of range: PyTorch refuses, never wraps
            if not info.min <= value <= info.max:
                raise RuntimeError(f"value cannot be converted to type {x._dtype.name}_t without overflow")
        v = _make(x._be.full((), value, x._dtype), x._dtype, x._be)
    shape = broadcast_tensors_shape(x, mask)
    if tuple(shape) != tuple(x.shape):
        raise RuntimeError(f"The size of tensor a ({x.shape[-1]}) must match the size of tensor b "
                           f"({mask.shape[-1]}) at non-singleton dimension {x.ndim - 1}")
    with grad_mode.no_grad():
        r = where(mask, v, x)
    if grad_mode.enabled and (x._rg or v._rg):
        attach(MaskedFillBackward0(mask), (x, v), (r,))
    return r


class MaskedFillBackward0(Node):
    def backward(self, g):
        (mask,) = self.saved_tensors
        gx = masked_fill(g, mask, 0)
        gv = (g * mask).sum()
        return gx, gv


def masked_fill_(x, mask, value):
    r = masked_fill(x.detach(), mask, value)
    return inplace(x, lambda old: masked_fill(old, mask, value), lambda: x._be.copy_(x._data, r._data),
                   (value,) if isinstance(value, Tensor) else ())


def masked_select(x, mask):
    _check_mask(mask)
    shape = broadcast_tensors_shape(x, mask)
    return getitem(expand(x, shape), expand(mask, shape))


def take_along_dim(x, indices, dim=None):
    if dim is None:
        return gather(x.reshape(-1), 0, indices.reshape(-1))
    d = wrap_dim(dim, x.ndim)
    xs, is_ = list(x.shape), list(indices.shape)
    xs[d] = is_[d] = 1
    from .core import broadcast_shapes
    b = broadcast_shapes(tuple(xs), tuple(is_))
    xe = list(b)
    xe[d] = x.shape[d]
    ie = list(b)
    ie[d] = indices.shape[d]
    return gather(expand(x, xe), d, expand(indices, ie))


def nonzero(x, as_tuple=False):
    r = _make(x._be.nonzero(x._data), dtypes.int64, x._be)
    if as_tuple:
        if x.ndim == 0:
            return (r.reshape(-1),)
        return tuple(r[:, i] for i in range(x.ndim))
    return r


def argwhere(x):
    """The indices of x's nonzero elements, one row each (nonzero(x))."""
    return nonzero(x)


def count_nonzero(x, dim=None):
    return (x != 0).sum(dim)
