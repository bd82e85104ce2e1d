"""Views (metadata only: the result shares storage) and shape ops built on them."""
import math

import numpy as np

from .. import dtypes
from ..autograd import grad_mode
from .core import Node, Tensor, _make, attach, broadcast_shapes, device_mismatch, sum_to, wrap_dim


def broadcast_shape_check(a, b):
    """In-place ops: b must broadcast to a's shape."""
    s = broadcast_shapes(a.shape, b.shape)
    if s != tuple(a.shape):
        raise RuntimeError(f"output with shape {list(a.shape)} doesn't match the broadcast shape {list(s)}")


def broadcast_tensors_shape(*ts):
    return broadcast_shapes(*(t.shape for t in ts))


def _compose(outer, inner):
    if inner is None:
        return outer
    return lambda b: outer(inner(b))


class ViewNode(Node):
    """Backward of a view op: ``self.back(g)`` maps the view's gradient to the input's."""

    def __init__(self, back):
        self.back = back

    def backward(self, g):
        return self.back(g)


_VIEW_NODES = {}


def _node_cls(name):
    c = _VIEW_NODES.get(name)
    if c is None:
        c = _VIEW_NODES[name] = type(name, (ViewNode,), {})
    return c


def make_view(x, data, name, back, view_fn):
    """Wrap a backend view of x's storage; record its backward node.
    view_fn re-creates the view from a tensor shaped like x (for in-place ops on views)."""
    out = _make(data, x._dtype, x._be)
    out._vc = x._vc
    out._base = x._base if x._base is not None else x
    out._view_fn = view_fn if x._view_fn is None else _compose(view_fn, x._view_fn)
    if grad_mode.enabled and x._rg:
        attach((_VIEW_NODES.get(name) or _node_cls(name))(back), (x,), (out,))
    return out


# ---- view ops ---------------------------------------------------------------------------
def _infer_shape(shape, numel):
    if len(shape) == 1 and shape[0].__class__ is not int:
        shape = tuple(shape[0]) if isinstance(shape[0], (tuple, list)) else shape
    if all(s.__class__ is int and s >= 0 for s in shape):  # the common case: nothing to infer
        if math.prod(shape) != numel:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        return shape
    for i, s in enumerate(shape):
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"view(): argument 'size' must be tuple of ints, but found element of type "
                            f"{type(s).__name__} at pos {i}")
    shape = [int(s) for s in shape]
    neg = [i for i, s in enumerate(shape) if s == -1]
    if len(neg) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = 1
    for s in shape:
        if s != -1:
            if s < 0:
                raise RuntimeError(f"invalid shape dimension {s}")
            known *= s
    if neg:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape[neg[0]] = numel // known
    elif known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return tuple(shape)


def view(x, *shape):
    if len(shape) == 1 and isinstance(shape[0], dtypes.dtype):
        raise NotImplementedError("view(dtype) is not supported")
    shape = _infer_shape(shape, x.numel())
    data = x._be.view_reshape(x._data, shape)
    if data is None:
        raise RuntimeError("view size is not compatible with input tensor's size and stride (at least one "
                           "dimension spans across two contiguous subspaces). Use .reshape(...) instead.")
    in_shape = x.shape
    return make_view(x, data, "ViewBackward0", lambda g: g.reshape(in_shape), lambda b: b.reshape(shape))


def reshape(x, *shape):
    shape = _infer_shape(shape, x.numel())
    data = x._be.view_reshape(x._data, shape)
    if data is not None:
        in_shape = x.shape
        return make_view(x, data, "ViewBackward0", lambda g: g.reshape(in_shape), lambda b: b.reshape(shape))
    return view(x.contiguous(), shape)


def view_as(x, other):
    return view(x, other.shape)


def reshape_as(x, other):
    return reshape(x, other.shape)


def permute(x, *dims):
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    for d in dims:
        if not isinstance(d, (int, np.integer)) or isinstance(d, bool):
            raise TypeError(f"permute(): argument 'dims' must be tuple of ints, but found element of type "
                            f"{type(d).__name__}")
    n = x.ndim
    if len(dims) != n:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match the "
                           f"length of the desired ordering of dimensions i.e. input.dim() = {n} is not equal "
                           f"to len(dims) = {len(dims)}")
    dims = tuple(wrap_dim(d, n) for d in dims)
    if len(set(dims)) != n:
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    inv = [0] * n
    for i, d in enumerate(dims):
        inv[d] = i
    return make_view(x, x._be.view_permute(x._data, dims), "PermuteBackward0",
                     lambda g: g.permute(inv), lambda b: b.permute(dims))


def transpose(x, d0, d1):
    n = x.ndim
    d0, d1 = wrap_dim(d0, n), wrap_dim(d1, n)
    if n == 0:
        return make_view(x, x._be.view_permute(x._data, ()), "TransposeBackward0", lambda g: g, lambda b: b)
    dims = list(range(n))
    dims[d0], dims[d1] = d1, d0
    return make_view(x, x._be.view_permute(x._data, dims), "TransposeBackward0",
                     lambda g: g.transpose(d0, d1), lambda b: b.transpose(d0, d1))


def _t(g):
    return g.t()


def t(x):
    nd = x._data.ndim
    if nd == 2:  # the common case (nn.Linear's weight.t()): no closures to build
        return make_view(x, x._be.view_permute(x._data, (1, 0)), "TBackward0", _t, _t)
    if nd > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {nd}D")
    return make_view(x, x._be.view_permute(x._data, tuple(range(nd))), "TBackward0", lambda g: g, lambda b: b)


def T(x):
    if x.ndim != 2 and x.ndim != 0:
        import warnings
        warnings.warn("The use of `x.T` on tensors of dimension other than 2 to reverse their shape is "
                      "deprecated and it will throw an error in a future release.", UserWarning, stacklevel=3)
    return permute(x, tuple(range(x.ndim - 1, -1, -1)))


def mT(x):
    if x.ndim < 2:
        raise RuntimeError("tensor.mT is only supported on matrices or batches of matrices. Got 1-D tensor.")
    return transpose(x, -2, -1)


def unsqueeze(x, dim):
    d = wrap_dim(dim, x.ndim + 1)
    s = x._data.shape
    shape = s[:d] + (1,) + s[d:]
    # adding a size-1 dim never needs a copy: the reshape is a view
    return make_view(x, x._be.view_reshape(x._data, shape), "UnsqueezeBackward0",
                     lambda g: g.squeeze(d), lambda b: b.unsqueeze(d))


def squeeze(x, dim=None):
    shape = x.shape
    if dim is None:
        dims = tuple(i for i, s in enumerate(shape) if s == 1)
        name = "SqueezeBackward0"
    else:
        ds = dim if isinstance(dim, (tuple, list)) else (dim,)
        dims = tuple(d for d in (wrap_dim(d, x.ndim) for d in ds) if x.ndim and shape[d] == 1)
        name = "SqueezeBackward1"
    new_shape = tuple(s for i, s in enumerate(shape) if i not in dims)
    return make_view(x, x._be.view_reshape(x._data, new_shape), name,
                     lambda g: g.reshape(shape), lambda b: b.squeeze(dim))


def flatten(x, start_dim=0, end_dim=-1):
    n = x.ndim
    s, e = wrap_dim(start_dim, n), wrap_dim(end_dim, n)  # (a 0-d tensor takes 0 and -1)
    if n == 0:
        return reshape(x, 1)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = x.shape
    m = 1
    for d in shape[s:e + 1]:
        m *= d
    return reshape(x, shape[:s] + (m,) + shape[e + 1:])


def unflatten(x, dim, sizes):
    d = wrap_dim(dim, x.ndim)
    sizes = _infer_shape(tuple(sizes), x.shape[d])
    return view(x, x.shape[:d] + sizes + x.shape[d + 1:]) if x.is_contiguous() else \
        reshape(x, x.shape[:d] + sizes + x.shape[d + 1:])


def expand(x, *sizes):
    if not sizes:
        raise TypeError('expand() missing 1 required positional arguments: "size"')
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    for i, s in enumerate(sizes):
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"expand(): argument 'size' must be tuple of ints, but found element of type "
                            f"{type(s).__name__} at pos {i}")
    n = len(sizes)
    if n < x.ndim:
        raise RuntimeError(f"expand(torch.FloatTensor{{{list(x.shape)}}}, size={list(sizes)}): the number of "
                           f"sizes provided ({n}) must be greater or equal to the number of dimensions in the "
                           f"tensor ({x.ndim})")
    shape = list(sizes)
    xs = (1,) * (n - x.ndim) + tuple(x.shape)
    for i, (want, have) in enumerate(zip(sizes, xs)):
        if want == -1:
            if i < n - x.ndim:
                raise RuntimeError("The expanded size of the tensor (-1) isn't allowed in a leading, "
                                   "non-existing dimension 0")
            shape[i] = have
        elif have != 1 and want != have:
            raise RuntimeError(f"The expanded size of the tensor ({want}) must match the existing size ({have}) "
                               f"at non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: "
                               f"{list(x.shape)}")
    shape = tuple(shape)
    in_shape = x.shape
    data = x._be.view_expand(x._be.view_reshape(x._data, xs) if n != x.ndim else x._data, shape)
    return make_view(x, data, "ExpandBackward0", lambda g: sum_to(g, in_shape), lambda b: b.expand(shape))


def expand_as(x, other):
    return expand(x, other.shape)


def broadcast_to(x, shape):
    return expand(x, shape)


def broadcast_tensors(*ts):
    shape = broadcast_tensors_shape(*ts)
    return tuple(expand(t, shape) for t in ts)


def narrow(x, dim, start, length):
    if x.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    d = wrap_dim(dim, x.ndim)
    size = x.shape[d]
    if isinstance(start, Tensor):
        start = int(start.item())
    if not -size <= start <= size:  # PyTorch's checks, in its order
        raise IndexError(f"start out of range (expected to be in range of [{-size}, {size}], but got {start})")
    if start < 0:
        start += size
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    if start + length > size:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
    key = (slice(None),) * d + (slice(start, start + length),)
    return basic_index(x, key, "SliceBackward0")


def select(x, dim, index):
    d = wrap_dim(dim, x.ndim)
    size = x.shape[d]
    if not -size <= index < size:
        raise IndexError(f"select(): index {index} out of range for tensor of size {list(x.shape)} at "
                         f"dimension {d}")
    key = (slice(None),) * d + (index,)
    return basic_index(x, key, "SelectBackward0")


def basic_index(x, key, name=None):
    """x[key] for a key of ints, slices, None and Ellipsis (already validated)."""
    data = x._be.view_index(x._data, key)
    in_shape, be = x._data.shape, x._be
    if name is None:
        name = "SelectBackward0" if any(k.__class__ is int for k in key) else "SliceBackward0"

    def back(g):
        z = _make(be.full(in_shape, 0, g._dtype), g._dtype, be)
        z[key] = g
        return z
    return make_view(x, data, name, back, lambda b: b[key])


def chunk(x, chunks, dim=0):
    if x.ndim == 0:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
    d = wrap_dim(dim, x.ndim)
    size = x.shape[d]
    if size == 0:  # PyTorch gives `chunks` empty pieces
        return tuple(narrow(x, d, 0, 0) for _ in range(chunks))
    return split(x, -(-size // chunks), d)


def split(x, split_size_or_sections, dim=0):
    if x.ndim == 0:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    if isinstance(split_size_or_sections, int) and split_size_or_sections < 0:
        raise RuntimeError(f"split expects split_size be non-negative, but got split_size={split_size_or_sections}")
    d = wrap_dim(dim, x.ndim)
    size = x.shape[d]
    if isinstance(split_size_or_sections, int):
        s = split_size_or_sections
        if s <= 0 and not (s == 0 and size == 0):
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {size}")
        sizes = [min(s, size - i) for i in range(0, size, s)] if size else [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != size:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {size} (input tensor's "
                               f"size at dimension {d}), but got split_sizes={sizes}")
    out, start = [], 0
    for s in sizes:
        out.append(narrow(x, d, start, s))
        start += s
    return tuple(out)


def tensor_split(x, indices_or_sections, dim=0):
    d = wrap_dim(dim, x.ndim)
    size = x.shape[d]
    if isinstance(indices_or_sections, int):
        n = indices_or_sections
        q, r = divmod(size, n)
        sizes = [q + 1] * r + [q] * (n - r)
    else:
        idx = [0] + [min(max(i, 0), size) for i in indices_or_sections] + [size]
        sizes = [max(b - a, 0) for a, b in zip(idx, idx[1:])]
    return split(x, sizes, d)


class UnbindBackward0(Node):
    """One node for all of unbind's views: their gradients are stacked once (a select per view
    would each make a zero tensor of the input's size, and the engine would sum them)."""
    multi_view = "Unbind"

    def __init__(self, dim, n):
        self.dim, self.n_out = dim, n

    def backward(self, *grads):
        like = next(g for g in grads if g is not None)
        return stack([like.new_zeros(like.shape) if g is None else g for g in grads], self.dim)


def unbind(x, dim=0):
    if x.ndim == 0:
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    d = wrap_dim(dim, x.ndim)
    with grad_mode.no_grad():
        outs = tuple(select(x, d, i) for i in range(x.shape[d]))
    if outs and grad_mode.enabled and x._rg:
        attach(UnbindBackward0(d, len(outs)), (x,), outs)
    return outs


def movedim(x, source, destination):
    n = x.ndim
    src = [wrap_dim(s, n) for s in (source if isinstance(source, (tuple, list)) else (source,))]
    dst = [wrap_dim(s, n) for s in (destination if isinstance(destination, (tuple, list)) else (destination,))]
    if n == 0:  # (dims 0 and -1 name a 0-d tensor's one place)
        return permute(x, ())
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({src} dims) should contain "
                           f"the same number of dims as destination ({dst} dims)")
    order = [None] * n
    for s, d_ in zip(src, dst):
        order[d_] = s
    rest = iter(i for i in range(n) if i not in src)
    order = [o if o is not None else next(rest) for o in order]
    return permute(x, order)


def diagonal(x, offset=0, dim1=0, dim2=1):
    n = x.ndim
    d1, d2 = wrap_dim(dim1, n), wrap_dim(dim2, n)
    if d1 == d2:  # (a 0-d tensor has one dim to name)
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    shape, st = x.shape, x.stride()
    if offset >= 0:
        length = max(min(shape[d1], shape[d2] - offset), 0)
        off = offset * st[d2]
    else:
        length = max(min(shape[d1] + offset, shape[d2]), 0)
        off = -offset * st[d1]
    keep = [i for i in range(n) if i not in (d1, d2)]
    new_shape = tuple(shape[i] for i in keep) + (length,)
    new_st = tuple(st[i] for i in keep) + (st[d1] + st[d2],)
    data = x._be.view_strided(x._data, new_shape, new_st, off if length else 0)

    def back(g):
        z = g.new_zeros(shape)
        z.diagonal(offset, d1, d2).copy_(g)
        return z
    return make_view(x, data, "DiagonalBackward0", back, lambda b: b.diagonal(offset, d1, d2))


def as_strided(x, size, stride, storage_offset=0):
    data = x._be.view_strided(x._data, tuple(size), tuple(stride), storage_offset - x.storage_offset())

    def back(g):
        raise RuntimeError("backward of as_strided is not supported")
    return make_view(x, data, "AsStridedBackward0", back, lambda b: b.as_strided(size, stride, storage_offset))


def unfold(x, dim, size, step):
    d = wrap_dim(dim, x.ndim)
    n = (x.shape[d] - size) // step + 1
    if n < 0 or size > x.shape[d]:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {x.shape[d]} but size is {size}")
    st = x.stride()
    shape = x.shape[:d] + (n,) + x.shape[d + 1:] + (size,)
    strides = st[:d] + (st[d] * step,) + st[d + 1:] + (st[d],)
    data = x._be.view_strided(x._data, shape, strides, 0)
    in_shape = x.shape

    def back(g):
        z = g.new_zeros(in_shape)
        for i in range(n):
            z.narrow(d, i * step, size).add_(g.select(d, i).movedim(-1, d))
        return z
    return make_view(x, data, "UnfoldBackward0", back, lambda b: b.unfold(d, size, step))


# ---- copies ------------------------------------------------------------------------------
class CloneBackward0(Node):
    def backward(self, g):
        return g


class ToCopyBackward0(Node):
    def __init__(self, dt, dev):
        super().__init__()
        self.dt, self.dev = dt, dev

    def backward(self, g):
        return g.to(dtype=self.dt, device=self.dev)


def clone(x, memory_format=None):
    r = _make(x._be.clone(x._data) if x._be.is_contiguous(x._data) else x._be.contiguous(x._data),
              x._dtype, x._be)
    if grad_mode.enabled and x._rg:
        attach(CloneBackward0(), (x,), (r,))
    return r


def contiguous(x, memory_format=None):
    if x._be.is_contiguous(x._data):
        return x
    return clone(x)


def cast(x, dt):
    if dt is x._dtype:
        return x
    r = _make(x._be.cast(x._data, dt), dt, x._be)
    if grad_mode.enabled and x._rg and dt.is_floating_point:
        attach(ToCopyBackward0(x._dtype, x.device), (x,), (r,))
    return r


# ---- joining and repeating ---------------------------------------------------------------
class CatBackward0(Node):
    def __init__(self, dim, sizes):
        super().__init__()
        self.dim, self.sizes = dim, sizes

    def backward(self, g):
        return tuple(split(g, self.sizes, self.dim))


def cat(tensors, dim=0, out=None):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"expected Tensor as element {tensors.index(t)} in argument 0, but got "
                            f"{type(t).__name__}")
    for i, t in enumerate(tensors):  # PyTorch checks this before the dim
        if t.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    # legacy rule: 1-D empty tensors are skipped
    live = [t for t in tensors if not (t.ndim == 1 and t.shape[0] == 0)] or tensors[:1]
    ref = live[0]
    d = wrap_dim(dim, ref.ndim)
    dt = ref._dtype
    for i, t in enumerate(live):
        if t._be is not ref._be:
            device_mismatch(ref, t)
        if t.ndim != ref.ndim:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {ref.ndim} and {t.ndim}")
        for k in range(ref.ndim):
            if k != d and t.shape[k] != ref.shape[k]:
                raise RuntimeError(f"Sizes of tensors must match except in dimension {d}. Expected size "
                                   f"{ref.shape[k]} but got size {t.shape[k]} for tensor number {i} in the list.")
        dt = dtypes.promote_types(dt, t._dtype)
    for t in tensors:  # the skipped empty tensors still take part in the result dtype, as in PyTorch
        dt = dtypes.promote_types(dt, t._dtype)
    sizes = [t.shape[d] for t in live]
    shape = ref.shape[:d] + (sum(sizes),) + ref.shape[d + 1:]
    be = ref._be
    r = _make(be.empty(shape, dt), dt, be)
    start = 0
    for t, s in zip(live, sizes):
        key = (slice(None),) * d + (slice(start, start + s),)
        be.copy_(be.view_index(r._data, key), t._data)
        start += s
    if grad_mode.enabled and any(t._rg for t in live):
        attach(CatBackward0(d, sizes), live, (r,))
    return r if out is None else out.copy_(r)


def stack(tensors, dim=0, out=None):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tensors[0].shape
    d = wrap_dim(dim, len(shape) + 1)  # PyTorch checks the dim first
    for i, t in enumerate(tensors):
        if t.shape != shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(shape)} at entry 0 "
                               f"and {list(t.shape)} at entry {i}")
    with grad_mode.no_grad():
        r = cat([unsqueeze(t, d) for t in tensors], d, out=out)
    if grad_mode.enabled and any(t._rg for t in tensors):
        attach(_node_cls("StackBackward0")(lambda g: unbind(g, d)), tensors, (r,))
    return r


def hstack(tensors):
    tensors = [atleast_1d(t) for t in tensors]
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    return cat([atleast_2d(t) for t in tensors], 0)


def _each(fn, tensors):
    """torch's atleast_*d: one tensor gives a tensor; several, or a list or tuple of them, a tuple."""
    if len(tensors) == 1 and isinstance(tensors[0], Tensor):
        return fn(tensors[0])
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tensors[0]
    return tuple(fn(t) for t in tensors)


def atleast_1d(*tensors):
    return _each(lambda x: reshape(x, 1) if x.ndim == 0 else x, tensors)


def atleast_2d(*tensors):
    return _each(lambda x: reshape(x, 1, -1) if x.ndim < 2 else x, tensors)


def atleast_3d(*tensors):
    def three(x):  # () -> (1, 1, 1), (n,) -> (1, n, 1), (m, n) -> (m, n, 1)
        if x.ndim >= 3:
            return x
        return reshape(x, (1, -1, 1) if x.ndim < 2 else tuple(x.shape) + (1,))
    return _each(three, tensors)


def dstack(tensors):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("dstack expects a non-empty TensorList")
    return cat([atleast_3d(t) for t in tensors], 2)


def column_stack(tensors):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("column_stack expects a non-empty TensorList")
    return cat([reshape(t, -1, 1) if t.ndim < 2 else t for t in tensors], 1)


_meshgrid_warned = [False]


def meshgrid(*tensors, indexing=None):
    """Coordinate grids of 0-d or 1-d tensors, as expanded views: indexing "ij" (the default, with
    torch's warning when not given) puts tensor i's values along dim i; "xy" swaps the first two."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        if not _meshgrid_warned[0]:
            _meshgrid_warned[0] = True
            import warnings
            warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the indexing "
                          "argument.", UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("xy", "ij"):
        raise RuntimeError(f'torch.meshgrid: indexing must be one of "xy" or "ij", but received: {indexing}')
    for t in tensors:
        if t.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: {t}")
        if t._dtype is not tensors[0]._dtype:
            raise RuntimeError("meshgrid expects all tensors to have the same dtype")
        if t._be is not tensors[0]._be:
            raise RuntimeError("meshgrid expects all tensors to have the same device")
    swap = indexing == "xy" and len(tensors) >= 2
    ts = [tensors[1], tensors[0], *tensors[2:]] if swap else list(tensors)
    sizes = tuple(t.numel() for t in ts)
    grids = [expand(reshape(t, tuple(-1 if j == i else 1 for j in range(len(ts)))), sizes)
             for i, t in enumerate(ts)]
    if swap:  # (the grids of the swapped pair, given back in the caller's order)
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


def diag_embed(x, offset=0, dim1=-2, dim2=-1):
    """A tensor whose (offset, dim1, dim2) diagonals are x's last dim, zeros elsewhere."""
    n = x.ndim + 1
    d1, d2 = wrap_dim(dim1, n), wrap_dim(dim2, n)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    size = x.shape[-1] + abs(offset)
    shape = list(x.shape[:-1])
    for d in sorted((d1, d2)):
        shape.insert(d, size)
    with grad_mode.no_grad():
        r = x.new_zeros(shape)
        diagonal(r, offset, d1, d2).copy_(x)
    if grad_mode.enabled and x._rg:
        attach(_node_cls("DiagEmbedBackward0")(lambda g: diagonal(g, offset, d1, d2)), (x,), (r,))
    return r


_diagonal = diagonal  # (diag's parameter has its name, as torch's)


def diag(x, diagonal=0):
    """A 1-d x as the diagonal (offset `diagonal`) of a square matrix; a 2-d x's diagonal, copied."""
    if x.ndim == 1:
        return diag_embed(x, diagonal)
    if x.ndim != 2:
        raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {x.ndim}D")
    return _diagonal(x, diagonal).clone()


def flip(x, *dims, **kw):
    if "dims" in kw:
        dims = (kw.pop("dims"),)
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    from .core import normalize_dims
    ds = set(normalize_dims(list(dims), x.ndim)) if dims else set()
    key = tuple(slice(None, None, -1) if i in ds else slice(None) for i in range(x.ndim))
    data = x._be.view_index(x._data, key)
    r = _make(x._be.contiguous(data), x._dtype, x._be)
    if grad_mode.enabled and x._rg:
        attach(_node_cls("FlipBackward0")(lambda g: flip(g, tuple(ds))), (x,), (r,))
    return r


def fliplr(x):
    return flip(x, 1)


def flipud(x):
    return flip(x, 0)


def roll(x, shifts, dims=None):
    if dims is None:
        return roll(flatten(x), shifts, 0).view(x.shape)
    shifts = shifts if isinstance(shifts, (tuple, list)) else (shifts,)
    dims = dims if isinstance(dims, (tuple, list)) else (dims,)
    if len(shifts) != len(dims):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
    for s, d in zip(shifts, dims):
        d = wrap_dim(d, x.ndim)
        n = x.shape[d]
        if n == 0:
            continue
        s %= n
        if s:
            x = cat([narrow(x, d, n - s, s), narrow(x, d, 0, n - s)], d)
    return x


def repeat(x, *sizes):
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if len(sizes) < x.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions "
                           "of tensor")
    xs = (1,) * (len(sizes) - x.ndim) + tuple(x.shape)
    inter, big, final = [], [], []
    for r, s in zip(sizes, xs):
        inter += [1, s]
        big += [r, s]
        final.append(r * s)
    return reshape(expand(reshape(x, inter), big), final)


def tile(x, *dims):
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    dims = (1,) * (x.ndim - len(dims)) + tuple(dims)
    return repeat(x, dims)


def repeat_interleave(x, repeats, dim=None, output_size=None):
    if dim is None:
        x, dim = flatten(x), 0
    d = wrap_dim(dim, x.ndim)
    if isinstance(repeats, int):
        shape = x.shape
        y = expand(unsqueeze(x, d + 1), shape[:d + 1] + (repeats,) + shape[d + 1:])
        return flatten(y, d, d + 1)
    import numpy as np
    from .indexing import index_select
    reps = repeats._host().astype(np.int64).reshape(-1)
    if reps.size == 1:
        reps = np.repeat(reps, x.shape[d])
    if reps.size != x.shape[d]:
        raise RuntimeError("repeats must have the same size as input along dim")
    if (reps < 0).any():
        raise RuntimeError("repeats can not be negative")
    from .creation import tensor
    idx = tensor(np.repeat(np.arange(x.shape[d]), reps), device=x.device)
    return index_select(x, d, idx)


def tril(x, diagonal=0):
    return _tri(x, diagonal, lambda c, r: c - r <= diagonal)


def triu(x, diagonal=0):
    return _tri(x, diagonal, lambda c, r: c - r >= diagonal)


def _tri(x, diagonal, keep):
    if x.ndim < 2:
        raise RuntimeError("tril/triu: input tensor must have at least 2 dimensions")
    from .creation import arange
    from .elementwise import where
    n, m = x.shape[-2], x.shape[-1]
    rows = arange(n, device=x.device).unsqueeze(1)
    cols = arange(m, device=x.device)
    mask = keep(cols, rows)
    return where(mask, x, _make(x._be.full((), 0, x._dtype), x._dtype, x._be))


def kron(a, b):
    """The Kronecker product: block (i, ...) of the result is a[i, ...] * b (the shorter shape padded
    with leading 1s)."""
    n = max(a.ndim, b.ndim)
    sa, sb = (1,) * (n - a.ndim) + tuple(a.shape), (1,) * (n - b.ndim) + tuple(b.shape)
    wa = reshape(a, tuple(v for s in sa for v in (s, 1)))  # (a0, 1, a1, 1, ...)
    wb = reshape(b, tuple(v for s in sb for v in (1, s)))  # (1, b0, 1, b1, ...)
    return reshape(wa * wb, tuple(x * y for x, y in zip(sa, sb)))


def cartesian_prod(*tensors):
    """The rows of every combination of the 1-d tensors' elements (the last one varying fastest)."""
    for t in tensors:
        if t.ndim != 1:
            raise RuntimeError(f"Expect a 1D vector, but got shape {list(t.shape)}")
    if len(tensors) == 1:
        return tensors[0]
    return stack([reshape(g, -1) for g in meshgrid(*tensors, indexing="ij")], 1)


def block_diag(*tensors):
    """The 2-d tensors (0-d and 1-d ones as one row) on the diagonal of a zero matrix, in the
    promoted dtype; one cat per row of blocks, so gradients flow back through cat."""
    for i, t in enumerate(tensors):
        if t.ndim > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input {i} has "
                               f"{t.ndim} dimensions")
    if not tensors:
        from .creation import zeros
        return zeros(1, 0)
    dt = tensors[0]._dtype
    for t in tensors[1:]:
        dt = dtypes.promote_types(dt, t._dtype)
    blocks = [reshape(t, (1, -1) if t.ndim < 2 else tuple(t.shape)).to(dt) for t in tensors]
    width = sum(b.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        r, c = b.shape
        rows.append(cat([b.new_zeros((r, left)), b, b.new_zeros((r, width - left - c))], 1))
        left += c
    return cat(rows, 0)
