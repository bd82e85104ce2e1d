"""wgtorch: PyTorch's shape on NumPy (cpu) and WGSL compute shaders through wgpu."""
# ruff: noqa: F401  (this module re-exports the public API)
from . import dtypes as _dt
from .device import device, get_default_device, set_default_device
from .dtypes import get_default_dtype, promote_types, set_default_dtype
from .dtypes import dtype
from .errors import OutOfMemoryError
from .size import Size
from .tensor import Tensor
from .ops import methods as _methods  # noqa: F401  (binds Tensor methods)
from . import autograd
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .autograd import is_inference_mode_enabled
from .random import Generator, default_generator, get_rng_state, initial_seed, manual_seed, seed, set_rng_state
from .printing import get_printoptions, set_printoptions
from .ops.creation import (arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like, linspace,
                           logspace, normal, ones, ones_like, rand, rand_like, randint, randint_like, randn,
                           randn_like, randperm, tensor, zeros, zeros_like)
from .ops.elementwise import (add, atan2, clamp, div, floor_divide, fmod, lerp, maximum, minimum, mul,
                              nan_to_num, pow, remainder, sub, where)
from .ops.elementwise import clamp as clip
from .ops.indexing import (count_nonzero, gather, index_add, index_fill, index_put_, index_select,
                           masked_fill, masked_select, nonzero, scatter, scatter_add, take_along_dim)
from .ops.linalg import addmm, baddbmm, bmm, dot, einsum, inner, matmul, mm, mv, outer
from .ops.reductions import (all, amax, amin, any, argmax, argmin, argsort, cumprod, cumsum, kthvalue,
                             logsumexp, max, mean, median, min, msort, nanmean, nansum, norm, prod, sort,
                             softmax, log_softmax, std, std_mean, sum, topk, unique, unique_consecutive, var,
                             var_mean)
from .ops.shape import (as_strided, atleast_1d, atleast_2d, broadcast_tensors, broadcast_to, cat, chunk,
                        diagonal, flatten, flip, fliplr, flipud, hstack, movedim, narrow, permute, repeat_interleave,
                        reshape, roll, select, split, squeeze, stack, t, tensor_split, tile, transpose, tril,
                        triu, unbind, unflatten, unsqueeze, vstack)
from .ops.shape import broadcast_shapes as _bs
from .ops.shape import movedim as moveaxis
from .ops.shape import transpose as swapaxes
from .ops.shape import cat as concat
from .ops.shape import cat as concatenate
from . import backends, cuda, wgpu  # device modules: nothing touches the GPU until called

# dtypes under PyTorch's names
float32 = float = _dt.float32
float64 = double = _dt.float64
float16 = half = _dt.float16
bfloat16 = _dt.bfloat16
int64 = long = _dt.int64
int32 = int = _dt.int32
int16 = short = _dt.int16
int8 = _dt.int8
uint8 = _dt.uint8
bool = _dt.bool_

__version__ = "0.1.0"


def _method_fn(name):
    def fn(input, *args, **kwargs):
        return getattr(input, name)(*args, **kwargs)
    fn.__name__ = name
    return fn


# functions that are the Tensor method with the tensor first
for _name in ("neg", "negative", "abs", "absolute", "exp", "exp2", "log", "log2", "log10", "log1p", "expm1",
              "sqrt", "rsqrt", "sin", "cos", "tan", "tanh", "asin", "acos", "atan", "arcsin", "arccos",
              "arctan", "sinh", "cosh", "sigmoid", "relu", "erf", "floor", "ceil", "round", "trunc", "fix",
              "sign", "reciprocal", "square", "isnan", "isinf", "isfinite", "logical_not", "logical_and",
              "logical_or", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not",
              "eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less", "less_equal",
              "not_equal", "clamp_min", "clamp_max", "repeat_interleave", "view_as_real", "true_divide",
              "subtract", "multiply", "divide", "arctan2", "swapdims", "ravel", "expand_copy", "bernoulli",
              "multinomial", "clone", "detach", "numel", "is_floating_point", "is_complex", "contiguous"):
    if hasattr(Tensor, _name) and _name not in globals():
        globals()[_name] = _method_fn(_name)
    elif hasattr(Tensor, _name) and _name in ("clone", "detach", "contiguous"):
        globals()[_name] = _method_fn(_name)


def is_tensor(obj):
    return isinstance(obj, Tensor)


def is_floating_point(x):
    return x.is_floating_point()


def numel(x):
    return x.numel()


def broadcast_shapes(*shapes):
    return Size(_bs(*shapes))


def result_type(a, b):
    from .ops.core import result_dtype
    if not isinstance(a, Tensor):
        a = tensor(a)
    return result_dtype(a, b)


def can_cast(from_, to):
    return from_.kind <= to.kind if from_.kind != to.kind else True


def equal(a, b):
    return a.shape == b.shape and (a == b).all().item()


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return isclose(a, b, rtol, atol, equal_nan).all().item()


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    b = b if isinstance(b, Tensor) else tensor(b, dtype=a.dtype, device=a.device)
    close = (a - b).abs() <= atol + rtol * b.abs()
    close = close | (a == b)
    if equal_nan:
        close = close | (a.isnan() & b.isnan())
    return close


def rsub(input, other, alpha=1):
    from .ops.elementwise import rsub as _rsub
    return _rsub(input, other, alpha)


# Submodules loaded on first use (`torch.nn`, `torch.optim`, ...), as a plain import
# would: importing wgtorch stays fast (nn and optim are not needed for tensor work).
_LAZY = {"nn", "optim", "serialization", "utils"}


def __getattr__(name):
    import importlib
    if name in _LAZY:
        return importlib.import_module("." + name, __name__)
    if name in ("save", "load"):
        return getattr(importlib.import_module(".serialization", __name__), name)
    raise AttributeError(f"module 'wgtorch' has no attribute '{name}'")


def __dir__():
    return sorted(set(globals()) | _LAZY | {"save", "load"})
