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
                           randn_like, randperm, tensor, tril_indices, triu_indices, zeros, zeros_like)
from .ops.elementwise import (add, atan2, clamp, div, floor_divide, fmod, lerp, maximum, minimum, mul,
                              nan_to_num, pow, remainder, sub, where)
from .ops.elementwise import clamp as clip
from .ops.indexing import (argwhere, count_nonzero, gather, index_add, index_fill, index_put_, index_select,
                           masked_fill, masked_select, nonzero, scatter, scatter_add, take_along_dim)
from .ops.distance import cdist
from .ops.search import bucketize, searchsorted
from .ops.linalg import addmm, baddbmm, bmm, dot, einsum, inner, matmul, mm, mv, outer
from .ops.reductions import (all, amax, amin, aminmax, any, argmax, argmin, argsort, cummax, cummin, cumprod,
                             cumsum, kthvalue, logsumexp, max, mean, median, min, msort, nanmean, nansum, norm, prod,
                             sort, softmax, log_softmax, std, std_mean, sum, topk, unique, unique_consecutive, var,
                             var_mean)
from .ops.shape import (as_strided, atleast_1d, atleast_2d, atleast_3d, block_diag, broadcast_tensors, broadcast_to,
                        cartesian_prod, cat, chunk, column_stack, diag, diag_embed, diagonal, dstack, flatten, flip,
                        fliplr, flipud, hstack, kron, meshgrid, movedim, narrow, permute, repeat_interleave, reshape,
                        roll, select, split, squeeze, stack, t, tensor_split, tile, transpose, tril, triu, unbind,
                        unflatten, unsqueeze, vstack)
from .ops.shape import broadcast_shapes as _bs
from .ops.shape import movedim as moveaxis
from .ops.shape import transpose as swapaxes
from .ops.shape import cat as concat
from .ops.shape import cat as concatenate
from . import backends, cuda, wgpu  # device modules: nothing touches the GPU until called
from ._tensor_types import CPU_TYPES as _CPU_TYPES
import builtins as _builtins
import math as _math
import os as _os

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

inf, nan, pi, e = _math.inf, _math.nan, _math.pi, _math.e

# torch.FloatTensor, torch.LongTensor, ...: legacy constructors and isinstance() checks
globals().update(_CPU_TYPES)


def _method_fn(name):
    def fn(input, *args, **kwargs):
        return getattr(input, name)(*args, **kwargs)
    fn.__name__ = name
    return fn


# functions that are the Tensor method with the tensor first
for _name in ("neg", "negative", "abs", "absolute", "exp", "exp2", "log", "log2", "log10", "log1p", "expm1",
              "sqrt", "rsqrt", "sin", "cos", "tan", "tanh", "asin", "acos", "atan", "arcsin", "arccos",
              "arctan", "sinh", "cosh", "asinh", "acosh", "atanh", "arcsinh", "arccosh", "arctanh", "signbit",
              "sigmoid", "relu", "erf", "erfinv", "floor", "ceil", "round", "trunc", "fix",
              "sign", "reciprocal", "square", "isnan", "isinf", "isfinite", "logical_not", "logical_and",
              "logical_or", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not",
              "eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less", "less_equal",
              "not_equal", "clamp_min", "clamp_max", "repeat_interleave", "view_as_real", "true_divide",
              "subtract", "multiply", "divide", "arctan2", "swapdims", "ravel", "expand_copy", "bernoulli",
              "multinomial", "clone", "detach", "numel", "is_floating_point", "is_complex", "contiguous",
              # in-place and small composites (ops/methods.py)
              "abs_", "acos_", "asin_", "atan_", "ceil_", "clamp_", "clamp_max_", "clamp_min_", "clip_", "cos_",
              "cosh_", "asinh_", "acosh_", "atanh_", "arcsinh_", "arccosh_", "arctanh_", "detach_", "erf_",
              "erfinv_", "exp2_", "exp_", "expm1_", "fill_", "floor_", "ger", "is_inference",
              "log10_", "log1p_", "log2_", "log_", "nan_to_num_", "neg_", "reciprocal_", "relu_", "round_",
              "rsqrt_", "sigmoid_", "sin_", "sinh_", "sqrt_", "square_", "tan_", "tanh_", "trunc_", "zero_",
              "positive", "sgn", "frac", "is_same_size", "is_nonzero", "is_signed", "conj", "resolve_conj",
              "resolve_neg", "is_conj", "is_neg", "addcmul", "addcdiv", "hypot", "logaddexp", "xlogy", "fmax",
              "fmin", "heaviside", "logit", "sinc", "erfc", "rad2deg", "deg2rad", "isposinf", "isneginf",
              "trace", "take"):
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


def equal(input, other):
    """True when both have the same shape and elements (NaN is never equal)."""
    return input.shape == other.shape and _builtins.bool((input == other).all().item())


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return _builtins.bool(isclose(input, other, rtol, atol, equal_nan).all().item())


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|input - other| <= atol + rtol * |other| elementwise; infinities are close only to
    themselves, NaNs only with equal_nan."""
    a = input
    b = other if isinstance(other, Tensor) else tensor(other, dtype=a.dtype, device=a.device)
    same = a == b
    if not a.is_floating_point() and not b.is_floating_point() and rtol == 0 and atol == 0:
        return same
    if not a.is_floating_point():
        a, b = a.float(), b.float()
    finite = a.isfinite() & b.isfinite()
    fa, fb = where(finite, a, 0), where(finite, b, 0)  # no inf - inf on the way
    close = same | (finite & ((fa - fb).abs() <= atol + rtol * fb.abs()))
    if equal_nan:
        close = close | (a.isnan() & b.isnan())
    return close


def rsub(input, other, alpha=1):
    from .ops.elementwise import rsub as _rsub
    return _rsub(input, other, alpha)


def install_as_torch(vision=True):
    """Make `import torch` (and `torch.<submodule>`; with vision, `torchvision`) give wgtorch's
    modules. See wgtorch/_alias.py."""
    from ._alias import install_as_torch as install
    return install(vision=vision)


# ---- flags PyTorch scripts set: accepted, recorded, read back ----------------------------
def set_float32_matmul_precision(precision):
    """Recorded (and linked to backends.cuda.matmul.allow_tf32, as in PyTorch); wgtorch's
    float32 matmul always computes in float32."""
    if precision not in ("highest", "high", "medium"):
        import warnings
        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current "
                      "set_float32_matmul_precision call has no effect.")
        return
    backends.cuda._precision[0] = precision


def get_float32_matmul_precision():
    return backends.cuda._precision[0]


_deterministic = {"mode": False, "warn_only": False}


def use_deterministic_algorithms(mode, *, warn_only=False):
    """Recorded and read back (wgtorch has no alternative kernels for it to switch)."""
    _deterministic.update(mode=_builtins.bool(mode), warn_only=_builtins.bool(warn_only))


def are_deterministic_algorithms_enabled():
    return _deterministic["mode"]


def is_deterministic_algorithms_warn_only_enabled():
    return _deterministic["warn_only"]


_threads = [None]


def get_num_threads():
    """The threads NumPy's libraries may use (the cpu count unless set_num_threads said less)."""
    return _threads[0] or _os.cpu_count() or 1


def set_num_threads(n):
    """Recorded for get_num_threads(); NumPy's BLAS keeps the thread pool it started with
    (set OMP_NUM_THREADS before starting Python to change that)."""
    n = _builtins.int(n)
    if n <= 0:
        raise RuntimeError("set_num_threads expects a positive integer")
    _threads[0] = n


def compile(model=None, *, fullgraph=False, dynamic=None, backend="inductor", mode=None, options=None,
            disable=False):
    """PyTorch's torch.compile, accepted: returns the model or function itself (wgtorch has no
    graph compiler), so results are identical. Works as a decorator, with or without arguments."""
    if model is None:
        return lambda m: m
    return model


# Submodules loaded on first use (`torch.nn`, `torch.optim`, ...), as a plain import
# would: importing wgtorch stays fast (nn and optim are not needed for tensor work).
# Some are written by later issues: a name whose module is absent is a plain AttributeError.
_LAZY = {"nn", "optim", "serialization", "utils", "vision", "testing", "distributed", "multiprocessing", "amp",
         "distributions", "onnx", "profiler", "jit", "linalg", "fft", "special", "hub", "export"}


def __getattr__(name):
    module = name if name in _LAZY else _LAZY_ATTRS.get(name)
    if module is not None:
        import importlib
        try:
            m = importlib.import_module("." + module, __name__)
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{module}":  # the module exists but an import inside it failed
                raise
        else:
            if m.__name__ == f"{__name__}.{name}":
                return m
            if hasattr(m, name):
                return getattr(m, name)
    raise AttributeError(f"module 'wgtorch' has no attribute '{name}'")


# names that live in a submodule, loaded with it on first use
_LAZY_ATTRS = {"save": "serialization", "load": "serialization", "autocast": "amp",
               **{n: "amp.autocast_mode" for n in ("is_autocast_enabled", "set_autocast_enabled", "get_autocast_dtype",
                                                   "set_autocast_dtype", "is_autocast_available",
                                                   "get_autocast_cpu_dtype", "get_autocast_gpu_dtype",
                                                   "is_autocast_cpu_enabled", "clear_autocast_cache",
                                                   "is_autocast_cache_enabled", "set_autocast_cache_enabled")},
               # torch.conv2d & co. are nn.functional's (same leading arguments)
               **{n: "nn.functional" for n in ("conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d",
                                               "max_pool1d", "max_pool2d", "avg_pool1d", "adaptive_avg_pool1d",
                                               "max_pool1d_with_indices", "dropout", "celu", "selu", "rms_norm",
                                               "layer_norm", "group_norm", "bilinear")}}


def __dir__():
    import importlib.util
    present = {n for n in _LAZY if importlib.util.find_spec("." + n, __name__) is not None}
    return sorted(set(globals()) | present | set(_LAZY_ATTRS))
