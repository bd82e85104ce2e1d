"""Binds the ops as Tensor methods and operators (the one place that does)."""
from .. import dtypes
from ..tensor import Tensor
from . import conversion as cv
from . import creation as cr
from . import elementwise as ew
from . import indexing as ix
from . import linalg as la
from . import reductions as rd
from . import shape as sh
from .core import inplace


def _u(op):
    return lambda self: ew.unary(op, self)


def _u_(op):
    return lambda self: ew.unary_(op, self)


def _b_(op):
    def method(self, other, *, alpha=1):
        return ew.binary_(op, self, other, alpha)
    method.__name__ = op + "_"
    return method


def _cmp(op):
    def method(self, other):
        if other is None and op in ("eq", "ne"):  # x == None is False, as in PyTorch
            return op == "ne"
        return ew.compare(op, self, other)
    return method


def _inplace_of(fn):
    """fn_ for an out-of-place fn: the result is written back into self."""
    def method(self, *args, **kwargs):
        others = tuple(a for a in args + tuple(kwargs.values()) if isinstance(a, Tensor))

        def direct():
            r = fn(self.detach(), *args, **kwargs)
            if r._dtype.kind > self._dtype.kind:
                raise RuntimeError(f"result type {ew._TNAME[r._dtype]} can't be cast to the desired output "
                                   f"type {ew._TNAME[self._dtype]}")
            self._be.copy_(self._data, r._data)
        return inplace(self, lambda old: fn(old, *args, **kwargs), direct, others)
    method.__name__ = fn.__name__ + "_"
    return method


M = {}
for _op in ("neg", "abs", "exp", "exp2", "log", "log2", "log10", "log1p", "expm1", "sqrt", "rsqrt", "sin",
            "cos", "tan", "tanh", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "sigmoid",
            "relu", "erf", "erfinv", "floor",
            "ceil", "trunc", "sign", "reciprocal", "square"):
    M[_op] = _u(_op)
    M[_op + "_"] = _u_(_op)
M["arcsin"], M["arccos"], M["arctan"] = M["asin"], M["acos"], M["atan"]
M["arcsinh"], M["arccosh"], M["arctanh"] = M["asinh"], M["acosh"], M["atanh"]
M["arcsinh_"], M["arccosh_"], M["arctanh_"] = M["asinh_"], M["acosh_"], M["atanh_"]
M["negative"] = M["neg"]
M["absolute"] = M["abs"]
M["fix"] = M["trunc"]
for _op in ("isnan", "isinf", "isfinite", "signbit", "logical_not"):
    M[_op] = (lambda op: lambda self: ew.predicate(op, self))(_op)
for _op in ("add", "sub", "mul", "div", "pow", "remainder", "floor_divide"):
    M[_op + "_"] = _b_(_op)
for _op in ("eq", "ne", "lt", "le", "gt", "ge"):
    M[_op] = _cmp(_op)
    M[f"__{_op}__"] = M[_op]
M.update(greater=M["gt"], greater_equal=M["ge"], less=M["lt"], less_equal=M["le"], not_equal=M["ne"])


def _invert(self):
    """~t: PyTorch's operator raises a TypeError on floats (torch.bitwise_not a NotImplementedError)."""
    if self._dtype.is_floating_point:
        raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type tensors")
    return ew.bitwise_not(self)


def _round(self, decimals=0):
    if decimals:
        f = 10.0 ** decimals
        return ew.unary("round", self * f) / f
    return ew.unary("round", self)


M.update(
    # arithmetic and operators
    add=ew.add, sub=ew.sub, subtract=ew.sub, mul=ew.mul, multiply=ew.mul, div=ew.div, divide=ew.div,
    true_divide=ew.div, floor_divide=ew.floor_divide, remainder=ew.remainder, fmod=ew.fmod, pow=ew.pow,
    maximum=ew.maximum, minimum=ew.minimum, atan2=ew.atan2, arctan2=ew.atan2, lerp=ew.lerp,
    clamp=ew.clamp, clip=ew.clamp, clamp_=ew.clamp_, clip_=ew.clamp_, nan_to_num=ew.nan_to_num,
    clamp_min=lambda s, m: ew.clamp(s, min=m), clamp_max=lambda s, m: ew.clamp(s, max=m),
    round=_round, where=lambda self, cond, other: ew.where(cond, self, other),
    logical_and=lambda s, o: ew.logical("logical_and", s, o),
    logical_or=lambda s, o: ew.logical("logical_or", s, o),
    logical_xor=lambda s, o: ew.logical("logical_xor", s, o),
    bitwise_and=lambda s, o: ew.bitwise("bitwise_and", s, o),
    bitwise_or=lambda s, o: ew.bitwise("bitwise_or", s, o),
    bitwise_xor=lambda s, o: ew.bitwise("bitwise_xor", s, o), bitwise_not=ew.bitwise_not,
    __add__=ew.add_tensor, __radd__=ew.add_tensor, __iadd__=_b_("add"),
    __sub__=ew.sub, __rsub__=ew.rsub, __isub__=_b_("sub"),
    __mul__=ew.mul_tensor, __rmul__=ew.mul_tensor, __imul__=_b_("mul"),
    __truediv__=ew.div, __rtruediv__=ew.rdiv, __itruediv__=_b_("div"),
    __floordiv__=ew.floor_divide, __rfloordiv__=lambda s, o: ew.floor_divide(o, s),
    __ifloordiv__=_b_("floor_divide"),
    __mod__=ew.remainder, __rmod__=lambda s, o: ew.remainder(o, s), __imod__=_b_("remainder"),
    __pow__=ew.pow, __rpow__=ew.rpow, __ipow__=_b_("pow"),
    __matmul__=la.matmul, __rmatmul__=la.rmatmul,
    __neg__=M["neg"], __pos__=lambda s: s, __abs__=M["abs"], __invert__=_invert,
    __and__=lambda s, o: ew.bitwise("bitwise_and", s, o), __rand__=lambda s, o: ew.bitwise("bitwise_and", s, o),
    __or__=lambda s, o: ew.bitwise("bitwise_or", s, o), __ror__=lambda s, o: ew.bitwise("bitwise_or", s, o),
    __xor__=lambda s, o: ew.bitwise("bitwise_xor", s, o), __rxor__=lambda s, o: ew.bitwise("bitwise_xor", s, o),
    __getitem__=ix.getitem, __setitem__=ix.setitem,
    # reductions
    sum=rd.sum, nansum=rd.nansum, mean=rd.mean, nanmean=rd.nanmean, prod=rd.prod, var=rd.var, std=rd.std,
    max=rd.max, min=rd.min, amax=rd.amax, amin=rd.amin, aminmax=rd.aminmax, argmax=rd.argmax, argmin=rd.argmin, all=rd.all,
    any=rd.any, norm=rd.norm, logsumexp=rd.logsumexp, cumsum=rd.cumsum, cumprod=rd.cumprod, cummax=rd.cummax, cummin=rd.cummin,
    softmax=rd.softmax, log_softmax=rd.log_softmax, sort=rd.sort, argsort=rd.argsort, topk=rd.topk,
    kthvalue=rd.kthvalue, median=rd.median, unique=rd.unique, unique_consecutive=rd.unique_consecutive,
    msort=rd.msort,
    count_nonzero=ix.count_nonzero,
    # linear algebra
    matmul=la.matmul, mm=la.mm, bmm=la.bmm, mv=la.mv, dot=la.dot, inner=la.inner, outer=la.outer,
    ger=la.outer, addmm=la.addmm, baddbmm=la.baddbmm,
    # views and shapes
    view=sh.view, view_as=sh.view_as, reshape=sh.reshape, reshape_as=sh.reshape_as, permute=sh.permute,
    transpose=sh.transpose, swapaxes=sh.transpose, swapdims=sh.transpose, t=sh.t,
    T=property(sh.T), mT=property(sh.mT), H=property(sh.T), mH=property(sh.mT),
    unsqueeze=sh.unsqueeze, squeeze=sh.squeeze, flatten=sh.flatten, unflatten=sh.unflatten,
    ravel=lambda s: sh.reshape(s, -1), expand=sh.expand, expand_as=sh.expand_as,
    broadcast_to=sh.broadcast_to, narrow=sh.narrow, select=sh.select, chunk=sh.chunk, split=sh.split,
    tensor_split=sh.tensor_split, unbind=sh.unbind, movedim=sh.movedim, moveaxis=sh.movedim,
    diagonal=sh.diagonal, diag=sh.diag, diag_embed=sh.diag_embed, as_strided=sh.as_strided, unfold=sh.unfold,
    contiguous=sh.contiguous, clone=sh.clone, flip=sh.flip, fliplr=sh.fliplr, flipud=sh.flipud,
    roll=sh.roll, repeat=sh.repeat, tile=sh.tile, repeat_interleave=sh.repeat_interleave,
    tril=sh.tril, triu=sh.triu,
    # indexing
    gather=ix.gather, scatter=ix.scatter, scatter_=ix.scatter_, scatter_add=ix.scatter_add,
    scatter_add_=ix.scatter_add_, index_select=ix.index_select, index_add=ix.index_add,
    index_add_=ix.index_add_, index_fill=ix.index_fill, index_put_=ix.index_put_,
    masked_fill=ix.masked_fill, masked_fill_=ix.masked_fill_, masked_select=ix.masked_select,
    take_along_dim=ix.take_along_dim, nonzero=ix.nonzero, argwhere=ix.argwhere, kron=sh.kron,
    # dtype / device / copies / fills
    to=cv.to, cpu=cv.cpu, cuda=cv.cuda, wgpu=cv.cuda, copy_=cv.copy_, fill_=cv.fill_, zero_=cv.zero_,
    uniform_=cv.uniform_, normal_=cv.normal_, random_=cv.random_, bernoulli_=cv.bernoulli_,
    bernoulli=cv.bernoulli, exponential_=cv.exponential_, multinomial=cv.multinomial,
    geometric_=cv.geometric_, log_normal_=cv.log_normal_, cauchy_=cv.cauchy_,
    float=lambda s: sh.cast(s, dtypes.float32), double=lambda s: sh.cast(s, dtypes.float64),
    half=lambda s: sh.cast(s, dtypes.float16), bfloat16=lambda s: sh.cast(s, dtypes.bfloat16),
    long=lambda s: sh.cast(s, dtypes.int64),
    int=lambda s: sh.cast(s, dtypes.int32), short=lambda s: sh.cast(s, dtypes.int16),
    char=lambda s: sh.cast(s, dtypes.int8), byte=lambda s: sh.cast(s, dtypes.uint8),
    bool=lambda s: sh.cast(s, dtypes.bool_),
    new_empty=cr.new_empty, new_zeros=cr.new_zeros, new_ones=cr.new_ones, new_full=cr.new_full,
    new_tensor=cr.new_tensor,
)

for _name in ("lerp", "round", "nan_to_num", "cumsum", "cumprod", "addmm", "baddbmm", "clamp_min",
              "clamp_max", "fmod", "atan2", "logical_and", "logical_or", "logical_xor", "logical_not",
              "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "tril", "triu", "index_fill",
              "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge", "where", "square", "true_divide"):
    if _name + "_" not in M:
        M[_name + "_"] = _inplace_of(M[_name])

M.update(__iand__=M["bitwise_and_"], __ior__=M["bitwise_or_"], __ixor__=M["bitwise_xor_"])

def _top(name):
    def method(self, *args, **kwargs):  # the wgtorch function of that name, self first
        import wgtorch
        return getattr(wgtorch, name)(self, *args, **kwargs)
    method.__name__ = name
    return method


M.update(isclose=_top("isclose"), allclose=_top("allclose"), equal=_top("equal"))


# ---- small composites PyTorch code uses (real tensors: conj and friends are the identity) --------
def _xlogy(x, y):
    y = y if isinstance(y, Tensor) else cr.full_like(x, y, dtype=dtypes.get_default_dtype()
                                                      if not x.is_floating_point() else x.dtype)
    r = x * y.log()
    return ew.where((x == 0) & ~y.isnan(), cr.zeros_like(r), r)


def _fmax_fmin(pick):
    def method(self, other):  # the larger (smaller) value; NaN only where both are NaN
        m = pick(self, other)
        return ew.where(self.isnan(), other, ew.where(other.isnan(), self, m))
    return method


def _logit(self, eps=None):
    x = self if eps is None else ew.clamp(self, eps, 1 - eps)
    return (x / (1 - x)).log()


def _sinc(self):
    px = self * 3.141592653589793
    return ew.where(self == 0, cr.ones_like(px), px.sin() / px)


def _is_nonzero(self):
    if self.numel() != 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous" if self.numel()
                           else "Boolean value of Tensor with no values is ambiguous")
    return bool(self.item())


M.update(
    absolute_=M["abs_"], arccos_=M["acos_"], arcsin_=M["asin_"], arctan_=M["atan_"], negative_=M["neg_"],
    fix_=M["trunc_"], divide_=M["div_"], multiply_=M["mul_"], subtract_=M["sub_"], arctan2_=M["atan2_"],
    greater_=M["gt_"], greater_equal_=M["ge_"], less_=M["lt_"], less_equal_=M["le_"], not_equal_=M["ne_"],
    type_as=lambda self, other: self.type(other.type()),
    is_signed=lambda self: self.dtype.is_signed,
    itemsize=property(lambda self: self.dtype.itemsize),
    nbytes=property(lambda self: self.numel() * self.dtype.itemsize),
    is_meta=property(lambda self: False), is_sparse=property(lambda self: False),
    is_quantized=property(lambda self: False), is_nested=property(lambda self: False),
    get_device=lambda self: -1 if self.device.type == "cpu" else self.device.index,
    positive=lambda self: self, sgn=M["sign"], frac=lambda self: self - self.trunc(),
    is_same_size=lambda self, other: self.shape == other.shape, is_nonzero=_is_nonzero,
    share_memory_=lambda self: self, is_shared=lambda self: False,
    conj=lambda self: self, resolve_conj=lambda self: self, resolve_neg=lambda self: self,
    is_conj=lambda self: False, is_neg=lambda self: False, real=property(lambda self: self),
    addcmul=lambda self, t1, t2, *, value=1: self + value * t1 * t2,
    addcdiv=lambda self, t1, t2, *, value=1: self + value * (t1 / t2),
    hypot=lambda self, other: (self * self + other * other).sqrt(),
    logaddexp=lambda self, other: ew.maximum(self, other) + (-(self - other).abs()).exp().log1p(),
    xlogy=_xlogy, fmax=_fmax_fmin(ew.maximum), fmin=_fmax_fmin(ew.minimum),
    heaviside=lambda self, values: ew.where(self == 0, values, (self > 0).to(self.dtype)),
    logit=_logit, sinc=_sinc, erfc=lambda self: 1 - self.erf(),
    rad2deg=lambda self: (self if self.is_floating_point() else self.float()) * (180.0 / 3.141592653589793),
    deg2rad=lambda self: (self if self.is_floating_point() else self.float()) * (3.141592653589793 / 180.0),
    isposinf=lambda self: self == float("inf"), isneginf=lambda self: self == float("-inf"),
    trace=lambda self: self.diagonal().sum(), take=lambda self, index: self.reshape(-1)[index],
)
for _name in ("addcmul", "addcdiv", "hypot", "xlogy", "logit", "sinc", "erfc", "frac", "rad2deg", "deg2rad",
              "sgn", "heaviside"):
    M[_name + "_"] = _inplace_of(M[_name])

for _name, _fn in M.items():
    setattr(Tensor, _name, _fn)
