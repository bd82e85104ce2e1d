"""Reductions over dims, arg-reductions, scans, softmax, sorting."""
import builtins as _b
from collections import namedtuple

from .. import dtypes
from ..amp import autocast_mode as _amp
from ..autograd import grad_mode
from .core import Node, Tensor, _make, attach, normalize_dims, wrap_dim
from .shape import cat, flip, make_view, narrow


def _rt(name, fields):
    """A named tuple printed as torch.return_types.NAME(values=..., indices=...)."""
    cls = namedtuple(name, fields)
    cls.__repr__ = lambda self: f"torch.return_types.{name}(\n" + ",\n".join(
        f"{f}={v!r}" for f, v in zip(fields, self)) + ")"
    return cls


return_types = {n: _rt(n, ["values", "indices"]) for n in
                ("max", "min", "sort", "topk", "kthvalue", "median", "mode", "cummax", "cummin")}


def _unsqueeze_dims(g, dims, keepdim):
    """Put back the reduced dims (as size 1) into a reduction's result."""
    if keepdim or not dims:
        return g
    shape = list(g._data.shape)
    for d in dims:
        shape.insert(d, 1)
    return g.reshape(shape)


class SumBackward(Node):
    def __init__(self, shape, dims, keepdim):
        self.shape, self.dims, self.keepdim = shape, dims, keepdim

    def backward(self, g):
        if grad_mode.enabled:  # create_graph: recorded Tensor ops
            return _unsqueeze_dims(g, self.dims, self.keepdim).expand(self.shape)
        return self._expand(g)

    def _expand(self, g):
        """g broadcast back to the input's shape, a view of g made on the backend directly
        (no graph to record: the usual backward; Tensor.expand's checks cost microseconds)."""
        shape, dims = self.shape, self.dims
        kshape = tuple([1 if i in dims else s for i, s in enumerate(shape)])
        be = g._be
        d = be.view_reshape(g._data, kshape)
        if d is None:
            return _unsqueeze_dims(g, dims, self.keepdim).expand(shape)
        return make_view(g, be.view_expand(d, shape), "ExpandBackward0", None,
                         lambda b: b.reshape(kshape).expand(shape))


class SumBackward0(SumBackward):
    pass


class SumBackward1(SumBackward):
    pass


class MeanBackward(SumBackward):
    def backward(self, g):
        n = 1
        for d in self.dims:
            n *= self.shape[d]
        if grad_mode.enabled:  # create_graph: recorded Tensor ops
            return _unsqueeze_dims(g / n, self.dims, self.keepdim).expand(self.shape)
        # expanded, then divided as PyTorch does: a fresh tensor, no view of g
        e = self._expand(g)
        return _make(e._be.binary("div", e._data, n, e._dtype), e._dtype, e._be)


class MeanBackward0(MeanBackward):
    pass


class MeanBackward1(MeanBackward):
    pass


def _reduce(op, x, dim, keepdim, dt, node_pair):
    xd = x._data
    dims = tuple(range(xd.ndim)) if dim is None else normalize_dims(dim, xd.ndim)
    r = _make(x._be.reduce(op, xd, dims, keepdim, dt), dt, x._be)
    if node_pair and grad_mode.enabled and x._rg:
        cls = node_pair[0] if dim is None else node_pair[1]
        attach(cls(xd.shape, dims, keepdim), (x,), (r,))
    return r


def sum(x, dim=None, keepdim=False, *, dtype=None):
    if _amp.active and dtype is None:
        x = _amp.cast("sum", x)[0]
    dt = dtypes.to_dtype(dtype) if dtype is not None else \
        (x._dtype if x._dtype.is_floating_point else dtypes.int64)
    return _reduce("sum", x, dim, keepdim, dt, (SumBackward0, SumBackward1))


def nansum(x, dim=None, keepdim=False, *, dtype=None):
    from .elementwise import where
    return sum(where(x.isnan(), 0.0, x), dim, keepdim, dtype=dtype)


def mean(x, dim=None, keepdim=False, *, dtype=None):
    dt = dtypes.to_dtype(dtype) if dtype is not None else x._dtype
    if not dt.is_floating_point:
        raise RuntimeError("mean(): could not infer output dtype. Input dtype must be either a floating point "
                           f"or complex dtype. Got: {_tname(dt)}")
    return _reduce("mean", x if x._dtype is dt else x.to(dt), dim, keepdim, dt, (MeanBackward0, MeanBackward1))


def nanmean(x, dim=None, keepdim=False):
    keep = ~x.isnan()
    return nansum(x, dim, keepdim) / keep.sum(dim, keepdim)


def _tname(dt):
    from .elementwise import _TNAME
    return _TNAME[dt]


class ProdBackward(Node):
    def __init__(self, x, dim, keepdim):
        super().__init__()
        self.save(x)
        self.dim, self.keepdim = dim, keepdim

    def backward(self, g):
        (x,) = self.saved_tensors
        if self.dim is None:
            return (g * _prod_others(x.reshape(-1), 0).reshape(x.shape))
        d = self.dim
        g = g if self.keepdim else g.unsqueeze(d)
        return g * _prod_others(x, d)


class ProdBackward0(ProdBackward):
    pass


class ProdBackward1(ProdBackward):
    pass


def _prod_others(x, d):
    """For each element, the product of the others along dim d (zeros allowed)."""
    n = x.shape[d]
    if n == 0:
        return x
    ones = x.new_ones(x.shape[:d] + (1,) + x.shape[d + 1:])
    left = cat([ones, narrow(x, d, 0, n - 1).cumprod(d)], d)
    right = flip(cat([ones, narrow(flip(x, d), d, 0, n - 1).cumprod(d)], d), d)
    return left * right


def prod(x, dim=None, keepdim=False, *, dtype=None):
    if _amp.active and dtype is None:
        x = _amp.cast("prod", x)[0]
    dt = dtypes.to_dtype(dtype) if dtype is not None else \
        (x._dtype if x._dtype.is_floating_point else dtypes.int64)
    r = _reduce("prod", x, dim, keepdim, dt, None)
    if grad_mode.enabled and x._rg:
        d = None if dim is None else wrap_dim(dim, x.ndim)
        attach((ProdBackward0 if d is None else ProdBackward1)(x, d, keepdim), (x,), (r,))
    return r


def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    if isinstance(dim, bool):  # var(x, unbiased)
        unbiased, dim = dim, None
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    if not x._dtype.is_floating_point:
        raise RuntimeError("std and var only support floating point and complex dtypes")
    return _var_std(x, dim, correction, keepdim, False)


def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    if isinstance(dim, bool):  # std(x, unbiased)
        unbiased, dim = dim, None
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    return _var_std(x, dim, correction, keepdim, True)


class VarBackward0(Node):
    def backward(self, g):
        x, out = self.saved_tensors
        g = _unsqueeze_dims(g, self.dims, self.keepdim)
        dev = x - x.mean(self.dims, keepdim=True)
        if self.is_std:
            return g * dev / (self.denom * _unsqueeze_dims(out, self.dims, self.keepdim))
        return g * dev * (2.0 / self.denom)


class StdBackward0(VarBackward0):
    is_std = True


VarBackward0.is_std = False


def _var_std(x, dim, correction, keepdim, take_sqrt):
    if not x._dtype.is_floating_point:
        raise RuntimeError("std and var only support floating point and complex dtypes")
    dims = normalize_dims(dim, x.ndim)
    n = 1
    for d in dims:
        n *= x.shape[d]
    denom = _b.max(n - correction, 0)
    with grad_mode.no_grad():
        m = x.mean(dims, keepdim=True)
        r = ((x - m) ** 2).sum(dims, keepdim=keepdim) / denom
        if take_sqrt:
            r = r.sqrt()
    if grad_mode.enabled and x._rg:
        attach((StdBackward0 if take_sqrt else VarBackward0)(x, r, dims=dims, keepdim=keepdim, denom=denom), (x,), (r,))
    return r


def var_mean(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return var(x, dim, unbiased, keepdim, correction=correction), x.mean(normalize_dims(dim, x.ndim), keepdim)


def std_mean(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return std(x, dim, unbiased, keepdim, correction=correction), x.mean(normalize_dims(dim, x.ndim), keepdim)


class AmaxBackward0(Node):
    """Gradient of max/min over dims: shared equally among the tied maxima."""

    def backward(self, g):
        x, out = self.saved_tensors
        out = _unsqueeze_dims(out, self.dims, self.keepdim)
        g = _unsqueeze_dims(g, self.dims, self.keepdim)
        mask = (x == out).to(g.dtype)
        return g * mask / mask.sum(self.dims, keepdim=True)


class AminBackward0(AmaxBackward0):
    pass


class MaxBackward1(AmaxBackward0):
    """max() / min() of all elements: as amax's, but the chosen elements (the NaN ones when the
    result is NaN) share g and the others get 0, never g * 0 (NaN for an infinite g), as torch."""

    def backward(self, g):
        x, out = self.saved_tensors
        out = _unsqueeze_dims(out, self.dims, self.keepdim)
        g = _unsqueeze_dims(g, self.dims, self.keepdim)
        mask = (x == out) | (x.isnan() & out.isnan())
        return (g / mask.sum(self.dims, keepdim=True)).where(mask, 0.0)


class MinBackward1(MaxBackward1):
    pass


def _amaxmin(op, x, dim, keepdim, node):
    if dim is None and x.numel() == 0:  # PyTorch's RuntimeError (an IndexError names a given dim)
        raise RuntimeError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0. "
                           "Specify the reduction dim with the 'dim' argument.")
    dims = normalize_dims(dim, x.ndim)
    for d in dims:
        if x.ndim and x.shape[d] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")
    r = _reduce(op, x, dim, keepdim, x._dtype, None)
    if grad_mode.enabled and x._rg:
        attach(node(x, r, dims=dims, keepdim=keepdim), (x,), (r,))
    return r


def amax(x, dim=(), keepdim=False):
    return _amaxmin("amax", x, None if dim == () else dim, keepdim, AmaxBackward0)


def amin(x, dim=(), keepdim=False):
    return _amaxmin("amin", x, None if dim == () else dim, keepdim, AminBackward0)


_aminmax = _rt("aminmax", ["min", "max"])


def aminmax(x, *, dim=None, keepdim=False):
    """(amin, amax) over dim (every element when None), as torch.return_types.aminmax."""
    if x.numel() == 0 and (dim is None or x.shape[dim] == 0):
        raise RuntimeError("aminmax(): cannot compute aminmax over an empty dimension as the operation has no "
                           "identity.")
    d = () if dim is None else dim
    return _aminmax(amin(x, d, keepdim), amax(x, d, keepdim))


class MaxBackward0(Node):
    """Gradient of max/min with dim: to the index that was chosen."""

    def __init__(self, shape, dim, idx, keepdim):
        super().__init__()
        self.shape, self.dim, self.keepdim = shape, dim, keepdim
        self.save(idx)

    def backward(self, g, g_idx=None):
        (idx,) = self.saved_tensors
        if not self.keepdim and len(self.shape):
            g, idx = g.unsqueeze(self.dim), idx.unsqueeze(self.dim)
        from .indexing import scatter  # one index per slice: nothing to add up
        return scatter(g.new_zeros(self.shape), self.dim, idx, g) if len(self.shape) else g


class MinBackward0(MaxBackward0):
    pass


MaxBackward0.n_out = MinBackward0.n_out = 2


def _max_min(name, x, dim, keepdim, other):
    if isinstance(dim, Tensor):
        other, dim = dim, None
    if other is not None:
        from .elementwise import maximum, minimum
        return (maximum if name == "max" else minimum)(x, other)
    if dim is None:
        if x.numel() == 0:
            raise RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
                               "Specify the reduction dim with the 'dim' argument.")
        return _amaxmin("amax" if name == "max" else "amin", x, None, False,
                        MaxBackward1 if name == "max" else MinBackward1)
    d = wrap_dim(dim, x.ndim)
    if x.ndim and x.shape[d] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")
    op = "argmax" if name == "max" else "argmin"
    idx = _make(x._be.argreduce(op, x._data, d if x.ndim else None, keepdim), dtypes.int64, x._be)
    if x.ndim == 0:
        idx = _make(x._be.full((), 0, dtypes.int64), dtypes.int64, x._be)
    vals = _make(x._be.reduce("amax" if name == "max" else "amin", x._data, (d,) if x.ndim else (), keepdim,
                              x._dtype), x._dtype, x._be)
    if grad_mode.enabled and x._rg:
        attach((MaxBackward0 if name == "max" else MinBackward0)(x.shape, d, idx, keepdim), (x,), (vals, None))
    return return_types[name](vals, idx)


def max(x, dim=None, keepdim=False, *, other=None):
    return _max_min("max", x, dim, keepdim, other)


def min(x, dim=None, keepdim=False, *, other=None):
    return _max_min("min", x, dim, keepdim, other)


def _argreduce(op, x, dim, keepdim):
    if x._dtype is dtypes.bool_:
        raise RuntimeError(f"{op}(): does not support bool input")
    d = None if dim is None else wrap_dim(dim, x.ndim)  # (a dim out of range is the next error)
    if x.numel() == 0:  # IndexErrors, as PyTorch; along a non-empty dim the result is just empty
        if d is None:
            raise IndexError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0.")
        if x.shape[d] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")
    if d is not None and x.ndim == 0:
        d = None
    return _make(x._be.argreduce(op, x._data, d, keepdim), dtypes.int64, x._be)


def argmax(x, dim=None, keepdim=False):
    return _argreduce("argmax", x, dim, keepdim)


def argmin(x, dim=None, keepdim=False):
    return _argreduce("argmin", x, dim, keepdim)


def all(x, dim=None, keepdim=False):
    return _reduce("all", x, dim, keepdim, dtypes.bool_ if x._dtype is not dtypes.uint8 else dtypes.uint8, None)


def any(x, dim=None, keepdim=False):
    return _reduce("any", x, dim, keepdim, dtypes.bool_ if x._dtype is not dtypes.uint8 else dtypes.uint8, None)


def norm(x, p="fro", dim=None, keepdim=False, dtype=None):
    if _amp.active and dtype is None:
        x = _amp.cast("norm", x)[0]
    if dtype is not None:
        x = x.to(dtype)
    if not x._dtype.is_floating_point:
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as input. Got "
                           f"{_tname(x._dtype)}")
    if x.numel() == 0 and dim is None and not isinstance(p, str) and (p < 0 or p == float("inf")):
        raise RuntimeError(f"linalg.vector_norm cannot compute the {p} norm on an empty tensor because the operation "
                           "does not have an identity")
    if p == "fro" or p == 2:
        dims = normalize_dims(dim, x.ndim)
        with grad_mode.no_grad():
            r = (x * x).sum(dims, keepdim=keepdim).sqrt()
        if grad_mode.enabled and x._rg:
            attach(NormBackward1(x, r, dims=dims, keepdim=keepdim), (x,), (r,))
        return r
    if p == "nuc":
        raise NotImplementedError("nuclear norm is not supported")
    a = x.abs()
    if p == float("inf"):
        return a.amax(() if dim is None else dim, keepdim=keepdim)
    if p == float("-inf"):
        return a.amin(() if dim is None else dim, keepdim=keepdim)
    if p == 0:
        return (x != 0).to(x._dtype).sum(dim, keepdim=keepdim)
    if p == 1:
        return a.sum(dim, keepdim=keepdim)
    return (a ** p).sum(dim, keepdim=keepdim) ** (1.0 / p)


class NormBackward1(Node):
    """d|x|/dx = x / |x|, taken as 0 where the norm is 0 (PyTorch's subgradient)."""

    def backward(self, g):
        from .elementwise import where
        x, out = self.saved_tensors
        n = _unsqueeze_dims(out, self.dims, self.keepdim)
        safe = where(n == 0, 1.0, n)
        return _unsqueeze_dims(g, self.dims, self.keepdim) * x / safe


def logsumexp(x, dim, keepdim=False):
    if _amp.active:
        x = _amp.cast("logsumexp", x)[0]
    from .elementwise import where
    if not x._dtype.is_floating_point:
        x = x.to(dtypes.get_default_dtype())
    dims = normalize_dims(dim, x.ndim)
    with grad_mode.no_grad():
        m = x.amax(dims, keepdim=True) if x.numel() else x.new_zeros(())
        m = where(m.isinf(), 0.0, m)
        r = (x - m).exp().sum(dims, keepdim=True).log() + m
        if not keepdim and dims:
            r = r.squeeze(dims)
    if grad_mode.enabled and x._rg:
        attach(LogsumexpBackward0(x, r, dims=dims, keepdim=keepdim), (x,), (r,))
    return r


class LogsumexpBackward0(Node):
    def backward(self, g):
        x, out = self.saved_tensors
        return _unsqueeze_dims(g, self.dims, self.keepdim) * (x - _unsqueeze_dims(out, self.dims, self.keepdim)).exp()


class CumsumBackward0(Node):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def backward(self, g):
        return flip(flip(g, self.dim).cumsum(self.dim), self.dim)


def _rev_cumsum(t, d):
    return flip(flip(t, d).cumsum(d), d)


class CumprodBackward0(Node):
    def __init__(self, x, out, dim):
        super().__init__()
        self.save(x, out)
        self.dim = dim

    def backward(self, g):
        # dL/dx_k = sum_{j >= k} g_j prod_{i <= j, i != k} x_i; dividing out by x_k fails where x_k == 0
        x, out = self.saved_tensors
        d = self.dim
        if x.ndim == 0:
            return g
        if grad_mode.enabled:  # create_graph: a formula whose own derivative is right too
            return _cumprod_grad_graph(x, g, out, d)
        from .elementwise import where
        zeros = (x == 0).cumsum(d)  # zeros up to and including each position
        before = zeros == 0  # k before the row's first zero z: x_k != 0, and y_j == 0 for j >= z
        first = (x == 0) & (zeros == 1)  # k == z
        a = _rev_cumsum(where(before, g * out, 0), d) / where(before, x, 1)
        # k == z: cumprod with x_z replaced by 1 is prod_{i <= j, i != z} x_i for j in [z, second zero)
        b = _rev_cumsum(where(zeros == 1, g * where(first, 1, x).cumprod(d), 0), d)
        return where(before, a, where(first, b, 0))  # k after z: every product holds x_z == 0


def _cumprod_grad_graph(x, g, out, d):
    """The cumprod gradient as a function that stays exact when differentiated again (create_graph)."""
    from .creation import arange, eye
    from .elementwise import where
    if not (x == 0).any().item():  # no zeros (the usual case): O(n), its derivative is exact
        return _rev_cumsum(g * out, d) / x
    # zeros: p[..., k, j] = prod_{i <= j, i != k} x_i from one cumprod of n rows (O(n^2), as torch's)
    xm, gm = x.movedim(d, -1), g.movedim(d, -1)
    n = xm.shape[-1]
    p = where(eye(n, dtype=dtypes.bool_, device=x.device), 1, xm.unsqueeze(-2)).cumprod(-1)
    i = arange(n, device=x.device)
    upper = i.unsqueeze(1) <= i  # j >= k
    return (where(upper, p, 0) * gm.unsqueeze(-2)).sum(-1).movedim(-1, d)


def _scan(op, x, dim, dtype):
    d = wrap_dim(dim, x.ndim)
    dt = dtypes.to_dtype(dtype) if dtype is not None else \
        (x._dtype if x._dtype.is_floating_point else dtypes.int64)
    be = x._be
    if x.ndim:
        r = _make(be.scan(op, x._data, d, dt), dt, be)
    else:  # scan a 1-element view (a 0-d handle has no dim to scan)
        r = _make(be.view_reshape(be.scan(op, be.view_reshape(x._data, (1,)), 0, dt), ()), dt, be)
    if grad_mode.enabled and x._rg:
        attach(CumsumBackward0(d) if op == "cumsum" else CumprodBackward0(x, r, d), (x,), (r,))
    return r


def cumsum(x, dim, *, dtype=None):
    if _amp.active and dtype is None:
        x = _amp.cast("cumsum", x)[0]
    return _scan("cumsum", x, dim, dtype)


def cumprod(x, dim, *, dtype=None):
    if _amp.active and dtype is None:
        x = _amp.cast("cumprod", x)[0]
    return _scan("cumprod", x, dim, dtype)


class SoftmaxBackward0(Node):
    def __init__(self, y, dim):
        self.save(y)
        self.dim = dim

    def backward(self, g):
        (y,) = self.saved_tensors
        if grad_mode.enabled or g._dtype is not y._dtype or not y.ndim:  # create_graph: the composite is differentiable
            return y * (g - (g * y).sum(self.dim, keepdim=True))
        return _make(y._be.softmax_grad(y._data, g._data, self.dim), y._dtype, y._be)


class LogSoftmaxBackward0(Node):
    __init__ = SoftmaxBackward0.__init__

    def backward(self, g):
        (y,) = self.saved_tensors
        if grad_mode.enabled or g._dtype is not y._dtype or not y.ndim:
            return g - y.exp() * g.sum(self.dim, keepdim=True)
        return _make(y._be.log_softmax_grad(y._data, g._data, self.dim), y._dtype, y._be)


def _softmax(op, node, x, dim, dtype):
    if dtype is not None:
        x = x.to(dtype)
    nd = x._data.ndim
    if dim is None:
        dim = 0 if nd in (0, 1, 3) else 1  # PyTorch's legacy implicit dim
    d = wrap_dim(dim, nd)  # PyTorch checks the dim before the dtype
    if not x._dtype.is_floating_point:
        kernel = f"{op}_lastdim_kernel_impl" if d >= nd - 1 else f"{op}_kernel_impl"
        raise NotImplementedError(f'"{kernel}" not implemented for \'{_tname(x._dtype)}\'')
    r = _make(getattr(x._be, op)(x._data, d if nd else None), x._dtype, x._be)
    if grad_mode.enabled and x._rg:
        attach(node(r, d), (x,), (r,))
    return r


def softmax(x, dim=None, dtype=None):
    if _amp.active and dtype is None:
        x = _amp.cast("softmax", x)[0]
    return _softmax("softmax", SoftmaxBackward0, x, dim, dtype)


def log_softmax(x, dim=None, dtype=None):
    if _amp.active and dtype is None:
        x = _amp.cast("log_softmax", x)[0]
    return _softmax("log_softmax", LogSoftmaxBackward0, x, dim, dtype)


# ---- sorting (host fallbacks on devices without sort kernels) ---------------------------
class SortBackward0(Node):
    n_out = 2

    def __init__(self, shape, dim, idx):
        super().__init__()
        self.shape, self.dim = shape, dim
        self.save(idx)

    def backward(self, g, g_idx=None):
        (idx,) = self.saved_tensors
        from .indexing import scatter_add
        return scatter_add(g.new_zeros(self.shape), self.dim, idx, g)


class TopkBackward0(SortBackward0):
    pass


def sort(x, dim=-1, descending=False, stable=False):
    if x.ndim == 0:
        return return_types["sort"](x.clone(), x.new_zeros((), dtype=dtypes.int64))
    d = wrap_dim(dim, x.ndim)
    v, i = x._be.sort(x._data, d, descending)
    vals, idx = _make(v, x._dtype, x._be), _make(i, dtypes.int64, x._be)
    if grad_mode.enabled and x._rg:
        attach(SortBackward0(x.shape, d, idx), (x,), (vals, None))
    return return_types["sort"](vals, idx)


def argsort(x, dim=-1, descending=False, stable=False):
    return sort(x, dim, descending, stable).indices


def msort(x):
    return sort(x, 0).values


def topk(x, k, dim=-1, largest=True, sorted=True):
    d = wrap_dim(dim, x.ndim) if x.ndim else 0
    size = x.shape[d] if x.ndim else 1
    if not 0 <= k <= size:
        raise RuntimeError("selected index k out of range")
    if x.ndim == 0:
        return return_types["topk"](x.clone(), x.new_zeros((), dtype=dtypes.int64))
    v, i = x._be.sort(x._data, d, largest)
    key = (slice(None),) * d + (slice(0, k),)
    v, i = x._be.contiguous(x._be.view_index(v, key)), x._be.contiguous(x._be.view_index(i, key))
    vals, idx = _make(v, x._dtype, x._be), _make(i, dtypes.int64, x._be)
    if grad_mode.enabled and x._rg:
        attach(TopkBackward0(x.shape, d, idx), (x,), (vals, None))
    return return_types["topk"](vals, idx)


def kthvalue(x, k, dim=-1, keepdim=False):
    d = wrap_dim(dim, x.ndim)
    s = sort(x, d)
    v, i = s.values.narrow(d, k - 1, 1), s.indices.narrow(d, k - 1, 1)
    if not keepdim:
        v, i = v.squeeze(d), i.squeeze(d)
    return return_types["kthvalue"](v, i)


def median(x, dim=None, keepdim=False):
    if dim is None:
        flat = x.reshape(-1)
        return sort(flat).values[(flat.numel() - 1) // 2]
    d = wrap_dim(dim, x.ndim)
    r = kthvalue(x, (x.shape[d] - 1) // 2 + 1, d, keepdim)
    return return_types["median"](r.values, r.indices)


def _unique(x, consecutive, return_inverse, return_counts, dim):
    if dim is not None:
        if x.ndim == 0:
            raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
        dim = wrap_dim(dim, x.ndim)
        n_empty = x.shape.count(0)  # empty slices along dim have no order: torch's checks, in its order
        if n_empty and x.shape[dim]:
            raise RuntimeError("There are 0 sized dimensions, and they aren't selected, so unique cannot be applied")
        if n_empty > 1:
            raise RuntimeError("Number of zero sized dimensions is more than one, so unique cannot be applied")
    v, inv, cnt = x._be.unique(x._data, dim, consecutive)
    out = [_make(v, x._dtype, x._be)]
    if return_inverse:  # one index per element (dim None) or per slice along dim
        out.append(_make(inv, dtypes.int64, x._be).reshape(x.shape if dim is None else (x.shape[dim],)))
    if return_counts:
        out.append(_make(cnt, dtypes.int64, x._be))
    return out[0] if len(out) == 1 else tuple(out)


def unique(x, sorted=True, return_inverse=False, return_counts=False, dim=None):
    # always sorted, as PyTorch's cpu and cuda kernels return it for sorted=False too
    return _unique(x, False, return_inverse, return_counts, dim)


def unique_consecutive(x, return_inverse=False, return_counts=False, dim=None):
    return _unique(x, True, return_inverse, return_counts, dim)


def _running_extreme(name, x, dim, later_wins):
    """cummax / cummin: (values, indices) of the running extreme along dim, ties and NaN going to the
    later element, as torch's. The indices come from a scan by doubling (log2(n) steps of where over
    shifted halves: pairs combine associatively), the values are a gather, so they differentiate."""
    from .creation import arange, zeros
    from .elementwise import where
    from .indexing import gather
    d = wrap_dim(dim, _b.max(x.ndim, 1))
    if x.ndim == 0:
        return return_types[name](x.clone(), zeros((), dtype=dtypes.int64, device=x.device))
    n = x.shape[d]
    with grad_mode.no_grad():
        v = x.detach()
        i = arange(n, device=x.device).reshape(tuple(n if k == d else 1 for k in range(x.ndim))).expand(x.shape)
        s = 1
        while s < n:
            lv, rv = narrow(v, d, 0, n - s), narrow(v, d, s, n - s)  # each element and the one s before it
            li, ri = narrow(i, d, 0, n - s), narrow(i, d, s, n - s)
            right = rv.isnan() | (~lv.isnan() & later_wins(rv, lv))
            v = cat([narrow(v, d, 0, s), where(right, rv, lv)], d)
            i = cat([narrow(i, d, 0, s), where(right, ri, li)], d)
            s *= 2
        i = i.contiguous()
    return return_types[name](gather(x, d, i), i)


def cummax(x, dim):
    return _running_extreme("cummax", x, dim, lambda r, l: r >= l)


def cummin(x, dim):
    return _running_extreme("cummin", x, dim, lambda r, l: r <= l)
