"""Autocast: inside ``wgtorch.autocast(device_type, dtype)`` some ops run in a lower-precision
float type and others in float32, by PyTorch's op lists.

The mechanism is one function, ``cast(op, *args)``, that an op calls on its tensor arguments
at entry (guarded by the module flag ``active``, so it costs one attribute read when no
autocast region is open anywhere). It looks the op up in the table of the device the
arguments live on and returns them cast:

- LOWER: floating tensors (float64 excepted) go to the autocast dtype (matmul, linear, conv);
- FP32: floating tensors (float64 excepted) go to float32 (losses, and on the GPU softmax,
  norms, sums, exp/log, ...);
- PROMOTE: floating tensors go to the widest floating type among them;
- MATCH: the other floating tensors take the first one's dtype when it is float16/bfloat16 (the
  norms on cpu: PyTorch's CPU kernels take a low-precision input with float32 weights and return
  the input's type; ours want one type);
- BANNED: raises (binary_cross_entropy on the GPU, as PyTorch's CUDA autocast does).

``device_type="cpu"`` follows PyTorch's CPU lists (tested against torch's CPU autocast);
"cuda", "wgpu" and "mps" all mean the wgpu device and follow PyTorch's CUDA lists.
Ops that are not listed run in the types they are given. Casts are ordinary differentiable
``to()`` calls, so gradients flow back to float32 weights in float32.

Where this differs from PyTorch: the hook is at each op's entry, and ops built from other
ops see their parts autocast too (PyTorch's kernels are opaque). So on cpu ``mv`` runs in the
low type (through matmul), and on the GPU composites that sum inside (``einsum``, ``var``)
return float32. The recurrent layers run their recurrence in the low type (as cuDNN's RNN)."""
import functools
import threading
import warnings

from .. import dtypes
from ..autograd import grad_mode
from ..tensor import Tensor

__all__ = [
    "autocast",
    "clear_autocast_cache",
    "custom_bwd",
    "custom_fwd",
    "get_autocast_cpu_dtype",
    "get_autocast_dtype",
    "get_autocast_gpu_dtype",
    "is_autocast_available",
    "is_autocast_cache_enabled",
    "is_autocast_cpu_enabled",
    "is_autocast_enabled",
    "set_autocast_cache_enabled",
    "set_autocast_dtype",
    "set_autocast_enabled",
]

LOWER, FP32, PROMOTE, MATCH, BANNED = "lower", "fp32", "promote", "match", "banned"

# PyTorch's CPU autocast lists (only ops wgtorch has)
_CPU = dict.fromkeys(("matmul", "mm", "bmm", "addmm", "baddbmm", "linear", "conv1d", "conv2d",
                      "conv_transpose1d", "conv_transpose2d", "einsum", "scaled_dot_product_attention"),
                     LOWER)
_CPU.update(dict.fromkeys(("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "nll_loss", "cross_entropy",
                           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "prod"), FP32))
_CPU.update(dict.fromkeys(("layer_norm", "group_norm", "batch_norm"), MATCH))

# PyTorch's CUDA autocast lists (only ops wgtorch has); batch_norm joins the float32 list here
# (cuDNN takes half inputs with float32 statistics; our composite would otherwise mix types)
_GPU = dict.fromkeys(("matmul", "mm", "bmm", "addmm", "baddbmm", "mv", "linear", "conv1d", "conv2d",
                      "conv_transpose1d", "conv_transpose2d", "einsum", "scaled_dot_product_attention"),
                     LOWER)
_GPU.update(dict.fromkeys((
    "acos", "asin", "cosh", "sinh", "tan", "exp", "expm1", "log", "log2", "log10", "log1p", "reciprocal",
    "rsqrt", "softplus", "softmax", "log_softmax", "sum", "prod", "cumsum", "cumprod", "logsumexp", "norm",
    "normalize", "layer_norm", "group_norm", "batch_norm", "mse_loss", "l1_loss", "smooth_l1_loss",
    "huber_loss", "nll_loss", "cross_entropy", "binary_cross_entropy_with_logits", "kl_div"), FP32))
_GPU.update(dict.fromkeys(("dot", "atan2", "addcmul", "addcdiv"), PROMOTE))
_GPU["binary_cross_entropy"] = BANNED

_GPU_TYPES = ("cuda", "wgpu", "mps")
_DEFAULT_DTYPE = {"cpu": dtypes.bfloat16, "gpu": dtypes.float16}

# how many autocast regions are enabled now, over all threads: ops skip cast() while it is 0
active = 0
_lock = threading.Lock()


class _State(threading.local):
    """Per thread, as PyTorch's: the dtype of each device kind while enabled (else None)."""

    def __init__(self):
        self.dtype = {"cpu": None, "gpu": None}
        self.fast = dict(_DEFAULT_DTYPE)  # what get_autocast_dtype answers
        self.cache_enabled = True
        self.nesting = 0
        self.cache = {}  # id(weight) -> (weight, its cast): leaf casts reused within a region


_state = _State()


def _kind(device_type):
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if device_type == "cpu":
        return "cpu"
    if device_type in _GPU_TYPES:
        return "gpu"
    raise RuntimeError(f"User specified an unsupported autocast device_type '{device_type}'")


def is_autocast_available(device_type):
    return device_type == "cpu" or device_type in _GPU_TYPES


def is_autocast_enabled(device_type=None):
    """Whether autocast is on for device_type (default: the GPU, as torch's default is CUDA)."""
    return _state.dtype[_kind(device_type or "cuda")] is not None


def set_autocast_enabled(device_type, enabled=None):
    if enabled is None:  # the old one-argument form: the GPU
        device_type, enabled = "cuda", device_type
    k = _kind(device_type)
    _state.dtype[k] = _state.fast[k] if enabled else None
    _recount()


def get_autocast_dtype(device_type):
    return _state.fast[_kind(device_type)]


def set_autocast_dtype(device_type, dtype):
    k = _kind(device_type)
    _state.fast[k] = dtype
    if _state.dtype[k] is not None:
        _state.dtype[k] = dtype


def is_autocast_cache_enabled():
    return _state.cache_enabled


def set_autocast_cache_enabled(enabled):
    _state.cache_enabled = bool(enabled)


def clear_autocast_cache():
    _state.cache.clear()


# the older per-device spellings (torch.is_autocast_cpu_enabled, ...)
def is_autocast_cpu_enabled():
    return is_autocast_enabled("cpu")


def get_autocast_cpu_dtype():
    return get_autocast_dtype("cpu")


def get_autocast_gpu_dtype():
    return get_autocast_dtype("cuda")


_enabled_threads = set()  # the threads with autocast enabled for some device


def _recount():
    """Keep ``active`` = the number of threads with autocast enabled for some device."""
    global active
    with _lock:
        if any(d is not None for d in _state.dtype.values()):
            _enabled_threads.add(threading.get_ident())
        else:
            _enabled_threads.discard(threading.get_ident())
        active = len(_enabled_threads)


class _Replay:
    """Run a block under an autocast state taken earlier with ``snapshot()`` (checkpoint's recompute
    runs as its forward did, though backward is usually called outside the autocast region)."""

    def __init__(self, snap):
        self.snap = snap

    def __enter__(self):
        self.prev = snapshot()
        dt, fast, _ = self.snap
        _set((dt, fast, False))  # no cache: it lives only as long as an autocast region

    def __exit__(self, *exc):
        _set(self.prev)
        return False


def snapshot():
    return dict(_state.dtype), dict(_state.fast), _state.cache_enabled


def _set(snap):
    dt, fast, cache_enabled = snap
    _state.dtype.update(dt)
    _state.fast.update(fast)
    _state.cache_enabled = cache_enabled
    _recount()


def replay(snap):
    return _Replay(snap)


class autocast:
    """``with wgtorch.autocast("cuda", dtype=wgtorch.float16):`` or as a decorator.

    Regions nest; an inner ``enabled=False`` region turns autocast off. Leaving the outermost
    region drops the cache of cast weights."""

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        self.device = device_type
        self._kind = _kind(device_type)
        self.fast_dtype = _state.fast[self._kind] if dtype is None else dtypes.to_dtype(dtype)
        self._enabled = bool(enabled)
        self._cache_enabled = _state.cache_enabled if cache_enabled is None else bool(cache_enabled)
        if self._enabled and self.fast_dtype not in (dtypes.float16, dtypes.bfloat16):
            where = "CPU" if self._kind == "cpu" else "CUDA"
            warnings.warn(f"In {where} autocast, but the target dtype is not supported. Disabling autocast.\n"
                          f"{where} Autocast only supports dtypes of torch.bfloat16, torch.float16 currently.",
                          stacklevel=2)
            self._enabled = False

    def __enter__(self):
        st = _state
        self._prev = (st.dtype[self._kind], st.fast[self._kind], st.cache_enabled)
        st.fast[self._kind] = self.fast_dtype
        st.dtype[self._kind] = self.fast_dtype if self._enabled else None
        st.cache_enabled = self._cache_enabled
        st.nesting += 1
        _recount()
        return self

    def __exit__(self, *exc):
        st = _state
        st.nesting -= 1
        if st.nesting == 0:
            st.cache.clear()
        st.dtype[self._kind], st.fast[self._kind], st.cache_enabled = self._prev
        _recount()
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with autocast(self.device, self.fast_dtype, self._enabled, self._cache_enabled):
                return fn(*args, **kwargs)
        return wrapper


# ---- the op hook -----------------------------------------------------------------------------
def _eligible(t):
    return t._dtype.is_floating_point and t._dtype is not dtypes.float64


def _to(t, dt, lower):
    if t._dtype is dt or not _eligible(t):
        return t
    st = _state
    # a float32 leaf weight is cast once per region (PyTorch's cast cache); only casts that record
    # their gradient are kept, so one made under no_grad never serves a later differentiable use
    key = lower and st.cache_enabled and grad_mode.enabled and t._rg and t._grad_fn is None \
        and t._base is None and t._dtype is dtypes.float32
    if key:
        hit = st.cache.get(id(t))
        if hit is not None and hit[0] is t:
            return hit[1]
    r = t.to(dt)
    if key:
        st.cache[id(t)] = (t, r)
    return r


def cast(op, *args):
    """args (tensors, or anything else, passed through) as op runs them under the autocast
    region open for their device; returns them as a tuple."""
    dev = next((a for a in args if isinstance(a, Tensor)), None)
    if dev is None:
        return args
    kind = "cpu" if dev._be.name == "cpu" else "gpu"
    low = _state.dtype[kind]
    if low is None:
        return args
    policy = (_CPU if kind == "cpu" else _GPU).get(op)
    if policy is None:
        return args
    if policy is LOWER:
        return tuple(_to(a, low, True) if isinstance(a, Tensor) else a for a in args)
    if policy is FP32:
        return tuple(_to(a, dtypes.float32, False) if isinstance(a, Tensor) else a for a in args)
    if policy is PROMOTE:
        wide = None
        for a in args:
            if isinstance(a, Tensor) and a._dtype.is_floating_point:
                wide = a._dtype if wide is None else dtypes.promote_types(wide, a._dtype)
        return tuple(_to(a, wide, False) if isinstance(a, Tensor) else a for a in args) if wide else args
    if policy is MATCH:
        dt = args[0]._dtype if isinstance(args[0], Tensor) else None
        if dt is not dtypes.float16 and dt is not dtypes.bfloat16:
            return args
        return tuple(_to(a, dt, False) if isinstance(a, Tensor) else a for a in args)
    raise RuntimeError(f"torch.nn.functional.{op} and torch.nn.BCELoss are unsafe to autocast.\n"
                       "Many models use a sigmoid layer right before the binary cross entropy layer.\n"
                       "In this case, combine the two layers using torch.nn.functional.binary_cross_entropy_with_"
                       "logits\nor torch.nn.BCEWithLogitsLoss.  binary_cross_entropy_with_logits and "
                       "BCEWithLogits are\nsafe to autocast.")


# ---- custom autograd Functions (torch.amp.custom_fwd / custom_bwd) ----------------------------
def custom_fwd(fwd=None, *, device_type="cuda", cast_inputs=None):
    """Decorate a Function's forward: with cast_inputs, run it with autocast off and floating
    tensor inputs cast to that dtype (when autocast is on); without, run it as is."""
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)
    kind = _kind(device_type)

    @functools.wraps(fwd)
    def wrapper(*args, **kwargs):
        on = _state.dtype[kind] is not None
        args[0]._fwd_autocast = (on, _state.fast[kind])  # ctx: custom_bwd runs backward the same way
        if cast_inputs is None or not on:
            return fwd(*args, **kwargs)
        args = [_to(a, cast_inputs, False) if isinstance(a, Tensor) else a for a in args]
        kwargs = {k: _to(v, cast_inputs, False) if isinstance(v, Tensor) else v for k, v in kwargs.items()}
        with autocast(device_type, enabled=False):
            return fwd(*args, **kwargs)
    return wrapper


def custom_bwd(bwd=None, *, device_type="cuda"):
    """Decorate a Function's backward: run it with the autocast state its forward had."""
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)

    @functools.wraps(bwd)
    def wrapper(ctx, *args, **kwargs):
        on, dt = getattr(ctx, "_fwd_autocast", (False, None))
        with autocast(device_type, dtype=dt, enabled=on):
            return bwd(ctx, *args, **kwargs)
    return wrapper
