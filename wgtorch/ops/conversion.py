"""Moving between dtypes and devices, copy_ and fills, and in-place random fills."""
import math
import warnings

import numpy as np

from .. import bf16, dtypes
from ..backends import for_device
from ..device import device as _device
from ..random import gen
from .core import Node, Tensor, _make, attach, check_inplace, grad_mode, inplace
from .shape import ToCopyBackward0, cast, expand


def _parse_to(args, kwargs):
    dev = kwargs.pop("device", None)
    dt = kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    copy = kwargs.pop("copy", False)
    if kwargs:
        raise TypeError(f"to() got an unexpected keyword argument '{next(iter(kwargs))}'")
    for a in args:
        if isinstance(a, Tensor):
            dev, dt = a.device, a.dtype
        elif isinstance(a, (str, _device)) or (isinstance(a, int) and not isinstance(a, bool)):
            dev = a
        elif a is not None:
            dt = a
    return (None if dev is None else _device(dev)), (None if dt is None else dtypes.to_dtype(dt)), copy


def to(x, *args, **kwargs):
    dev, dt, copy = _parse_to(args, kwargs)
    r = x
    if dev is not None and dev.type != x.device.type:
        r = to_device(r, dev)
    if dt is not None and dt is not r._dtype:
        r = cast(r, dt)
    if copy and r is x:
        r = x.clone()
    return r


def to_device(x, dev):
    be = for_device(dev)
    if be is x._be:
        return x
    if x._dtype is dtypes.float64 and getattr(be, "supports_float64", True) is False:
        raise TypeError("Cannot convert a float64 tensor to the wgpu device: the device has no float64 support. "
                        "Please use float32 instead.")
    r = _make(be.from_numpy(np.array(x._be.to_numpy(x._data), order="C")), x._dtype, be)  # a copy, 0-d kept
    if grad_mode.enabled and x._rg:
        attach(ToCopyBackward0(x._dtype, x.device), (x,), (r,))
    return r


def cpu(x):
    return to_device(x, _device("cpu"))


def cuda(x, device=None, non_blocking=False):
    return to_device(x, _device("wgpu" if device is None else device if not isinstance(device, int)
                                else f"wgpu:{device}"))


class CopyBackwards(Node):
    """copy_ / fill_ under autograd: the overwritten value keeps its history with a zero
    gradient (as PyTorch's), so a value saved for backward that was overwritten is still
    caught by the version check; the source gets the gradient."""

    def backward(self, g):
        return g.new_zeros(g.shape), g


def copy_(dst, src, non_blocking=False):
    if not isinstance(src, Tensor):
        raise TypeError(f"copy_(): argument 'other' (position 1) must be Tensor, not {type(src).__name__}")
    from .shape import broadcast_shape_check
    broadcast_shape_check(dst, src)
    s = src if src._be is dst._be else to_device(src, dst.device)

    def outofplace(old):
        r = cast(expand(s, dst.shape), dst._dtype)
        out = _make(r._be.clone(r._data), r._dtype, r._be)
        if grad_mode.enabled and (old._rg or r._rg):
            attach(CopyBackwards(), (old, r), (out,))
        return out
    return inplace(dst, outofplace, lambda: dst._be.copy_(dst._data, s._data), (src,))


def fill_(x, value):
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with "
                               f"{value.ndim} dimensions.")
        return copy_(x, value)
    def outofplace(old):
        r = _make(old._be.full(old.shape, value, old._dtype), old._dtype, old._be)
        if grad_mode.enabled and old._rg:
            attach(CopyBackwards(), (old, None), (r,))
        return r
    return inplace(x, outofplace, lambda: x._be.fill_(x._data, value))


def zero_(x):
    return fill_(x, 0)


def _random_fill(x, kind, generator, a, b):
    """Fill x in place with the backend's random draw (no autograd history); cpu normals as PyTorch's
    normal_kernel: the block algorithm for contiguous tensors of 16 elements or more, else one
    normal_distribution<double> per element in memory order."""
    check_inplace(x)
    g = gen(generator)
    if x.device.type == "cpu":
        if kind == "normal" and not x.is_contiguous():
            _store(x, g.normal_doubles(x.numel(), a, b))
        else:  # values in drawing order, placed in the order the kernel visits x's elements
            from .creation import cpu_draw
            arr = cpu_draw(kind, x.numel(), x._dtype, g, a, b)
            _place(x, x._be.random(kind, (x.numel(),), x._dtype, g, a, b) if arr is None else arr)
    else:
        x._be.copy_(x._data, x._be.random(kind, x.shape, x._dtype, g, a, b))
    x._vc[0] += 1
    return x


def _memory_order(x):
    """Row-major indices of x's elements in the order PyTorch's cpu kernels visit them (by address)."""
    if x.is_contiguous():
        return None
    off = np.zeros((), np.int64)
    for d, (n, st) in enumerate(zip(x.shape, x.stride())):
        off = np.add.outer(off, np.arange(n, dtype=np.int64) * st) if d else np.arange(n, dtype=np.int64) * st
    return np.argsort(np.asarray(off).reshape(-1), kind="stable")


def _place(x, arr):
    """Write storage values, in the order the kernel visits x's elements, into x."""
    order = _memory_order(x)
    if order is not None:
        flat = np.empty_like(arr)
        flat[order] = arr
        arr = flat
    x._be.copy_(x._data, arr.reshape(x.shape))


def _store(x, vals):
    """Write per-element values (float64 or bool, in the order the kernel visits x's elements) into x,
    cast as c10 casts a double: through float for the 16-bit floats."""
    dt = x._dtype
    if dt is dtypes.bfloat16:
        arr = bf16.encode(vals.astype(np.float32))
    elif dt is dtypes.float16:
        arr = vals.astype(np.float32).astype(np.float16)
    else:
        with np.errstate(invalid="ignore", over="ignore"):
            arr = vals.astype(dt.np)
    _place(x, arr)


def _elementwise_fill(x, generator, values, composed):
    """In-place random fill: on cpu PyTorch's stream (values(g, n) gives the kernel's per-element
    results in visiting order); elsewhere the composed device draw."""
    check_inplace(x)
    if x.device.type == "cpu":
        _store(x, values(gen(generator), x.numel()))
    else:
        with grad_mode.no_grad():
            r = composed()
            x._be.copy_(x._data, cast(r, x._dtype)._data)
    x._vc[0] += 1
    return x


def uniform_(x, a=0.0, b=1.0, generator=None):
    if not x._dtype.is_floating_point:
        raise NotImplementedError(f"\"check_uniform_bounds\" not implemented for '{x._dtype.name}'")
    if a > b:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={a} > to={b}")
    return _random_fill(x, "uniform", generator, a, b)


def normal_(x, mean=0.0, std=1.0, generator=None):
    if not x._dtype.is_floating_point:
        raise NotImplementedError(f"\"normal_kernel_cpu\" not implemented for '{x._dtype.name}'")
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    return _random_fill(x, "normal", generator, mean, std)


_DIGITS = {"float16": 11, "bfloat16": 8, "float32": 24, "float64": 53}  # mantissa bits, as numeric_limits
_FLOAT_MAX = {"float16": 65504.0, "bfloat16": 3.3895313892515355e38, "float32": 3.4028234663852886e38,
              "float64": 1.7976931348623157e308}


def _as_float(v, dt):
    """int(static_cast<scalar_t>(v)) for an int64 v: through float32 for the 16-bit floats, as c10 does."""
    a = np.array(v, np.int64)
    if dt.name == "float64":
        f = float(a.astype(np.float64))
    else:
        f32 = a.astype(np.float32)
        with np.errstate(over="ignore"):
            f = float(bf16.decode(bf16.encode(f32)) if dt.name == "bfloat16" else
                      f32.astype(np.float16) if dt.name == "float16" else f32)
    return int(f) if np.isfinite(f) else -(1 << 63)  # (int64)inf on x86: the indefinite integer


def _bit_length_floor(v):
    n = 0
    while v >> 1:
        v >>= 1
        n += 1
    return n


def _check_random_bound(v, name, dt):
    if dt.is_floating_point:
        m = _FLOAT_MAX[dt.name]
        if not -m <= v <= m:
            raise RuntimeError(f"{name} is out of bounds for {dt.name}")
        d = _DIGITS[dt.name]
        if not -(1 << d) <= v <= 1 << d:
            warnings.warn(f"{name} is out of bounds [-(2^{d}), 2^{d}]. Due to precision limitations {dt.name} "
                          "can support discrete uniform distribution only within this range.", UserWarning)
    else:
        lo, hi = (0, 1) if dt is dtypes.bool_ else (int(np.iinfo(dt.np).min), int(np.iinfo(dt.np).max))
        if not lo <= v <= hi:
            raise RuntimeError(f"{name} is out of bounds for {dt.name}")


def random_range(dt, frm, to):
    """(low, high) of the integers torch's random_ draws for a dtype: random_() is [0, 2**digits + 1)
    for floats, [0, max + 1) for integers, [0, 2) for bool; random_(to) is [0, to); random_(from, to)
    is [from, to); random_(from, None) is [from, max] (float bounds moved to values the dtype holds).
    torch's CPU kernels take each value as (bits % (high - low)) + low: random_() from 64 random bits
    for int64 and float64 only, the bounded forms from 64 bits where the range reaches 2**28 (the
    backends' "random" and "randint"). (-2**63, 2**63) stands for torch's full 64-bit range."""
    frm, to = int(frm), (None if to is None else int(to))
    if to is None:
        if frm == -(1 << 63):
            if dt.name not in ("int64", "float64", "float32", "bfloat16"):
                raise RuntimeError("random_full_64_bits_range_kernel_cpu handles only int64, double, float and "
                                   "bfloat16")
            return -(1 << 63), 1 << 63
        if dt.is_floating_point:
            to_inc = min(1 << _DIGITS[dt.name], (1 << 63) - 1)
            frm = _update_from(frm, dt)
            if not frm < to_inc:
                raise RuntimeError(f"random_ expects 'from' casted to dtype to be less than or equal to 'to_inc' "
                                   f"casted to dtype, but got from={frm} > to_inc={to_inc}")
        else:
            to_inc = 1 if dt is dtypes.bool_ else int(np.iinfo(dt.np).max)
        _check_random_bound(frm, "from", dt)
        _check_random_bound(to_inc, "to - 1", dt)
        return frm, to_inc + 1
    if frm >= to:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={frm} >= to={to}")
    if dt.is_floating_point:
        frm, to = _update_from(frm, dt), _update_to(to, dt)
        if frm >= to:
            raise RuntimeError(f"random_ expects 'from' casted to dtype to be less than 'to' casted to dtype, "
                               f"but got from={frm} >= to={to}")
    _check_random_bound(frm, "from", dt)
    _check_random_bound(to - 1, "to - 1", dt)
    return frm, to


def _update_from(frm, dt):
    p1 = _as_float(frm + 1, dt)
    if p1 < frm:
        frm = p1 + (1 << (_bit_length_floor(abs(frm + 1)) - _DIGITS[dt.name] + 1))
    return frm


def _update_to(to, dt):
    m1 = _as_float(to - 1, dt)
    if m1 >= to:
        to = m1 - (1 << (_bit_length_floor(abs(to - 1)) - _DIGITS[dt.name] + 1))
    return to


def random_(x, *args, generator=None, **kwargs):
    """random_(), random_(to), random_(from, to), random_(from, None): integers as torch's CPU draws them
    (see random_range)."""
    if len(args) > 2:
        raise TypeError(f"random_() takes at most 2 positional arguments ({len(args)} given)")
    if "from" in kwargs:
        kwargs["frm"] = kwargs.pop("from")
    bad = set(kwargs) - {"frm", "to"}
    if bad:
        raise TypeError(f"random_() got an unexpected keyword argument '{bad.pop()}'")
    if len(args) == 1 and "frm" not in kwargs and "to" not in kwargs:
        frm, to = 0, args[0]  # random_(to)
    elif len(args) == 2:
        frm, to = args
    elif len(args) == 1 and "to" in kwargs:
        frm, to = args[0], kwargs["to"]
    elif not args and "frm" in kwargs and "to" in kwargs:
        frm, to = kwargs["frm"], kwargs["to"]
    elif not args and "to" in kwargs:
        frm, to = 0, kwargs["to"]
    elif not args and not kwargs:
        frm, to = 0, "default"
    else:
        raise TypeError("random_() received an invalid combination of arguments")
    dt = x._dtype
    if to == "default":
        to = 2 if dt is dtypes.bool_ else (1 << _DIGITS[dt.name]) + 1 if dt.is_floating_point else \
            int(np.iinfo(dt.np).max) + 1
        if x.device.type == "cpu":
            return _random_fill(x, "random", generator, 0, to)
        return _random_fill(x, "randint", generator, 0, min(to, 1 << 31))  # wgpu keeps int64 as int32
    lo, hi = random_range(dt, frm, to)
    return _random_fill(x, "randint", generator, lo, hi)


def _unit(x, generator, dt=dtypes.float32):
    return _make(x._be.random("uniform", x.shape, dt, gen(generator), 0.0, 1.0), dt, x._be)


def bernoulli_(x, p=0.5, generator=None):
    """1 where a uniform draw is below p. cpu as PyTorch's kernels: a float p draws 53-bit uniforms
    (bernoulli_distribution<double>); a tensor p (broadcast to x) draws 53-bit uniforms for float64
    p and 24-bit float ones otherwise, compared in p's precision."""
    if isinstance(p, Tensor):
        pt = p.detach()
        if x.device.type == "cpu":
            ph = expand(pt.to(x.device), x.shape)._host()
            double = pt._dtype is dtypes.float64
            ph = ph.astype(np.float64 if double else np.float32)
            if not ((ph >= 0) & (ph <= 1)).all():
                raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")
            order = _memory_order(x)
            pv = ph.reshape(-1) if order is None else ph.reshape(-1)[order]

            def values(g, n):
                return g.uniform(n, np.float64 if double else np.float32) < pv
            return _elementwise_fill(x, generator, values, None)
        return _elementwise_fill(x, generator, None,
                                 lambda: _unit(x, generator) < pt.to(x.device).to(dtypes.float32))
    p = float(p)
    if not 0 <= p <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
    return _elementwise_fill(x, generator, lambda g, n: g.uniform(n, np.float64) < p,
                             lambda: _unit(x, generator) < p)


def bernoulli(x, p=None, generator=None):
    """torch.bernoulli(input): each element 1 with probability input; bernoulli(input, p): with p."""
    out = x.new_empty(x.shape).detach()
    return bernoulli_(out, x.detach() if p is None else p, generator)


def _float_only(x, name):
    """Integer dtypes are refused with torch's errors."""
    if x._dtype.is_floating_point:
        return
    if name == "log_normal_cpu":
        raise NotImplementedError(f"\"{name}\" not implemented for '{_TORCH_NAMES.get(x._dtype.name, x._dtype.name)}'")
    raise RuntimeError(f"{name} distribution is a continuous probability distribution. dtype must be a floating "
                       f"point but you specified {x._dtype}")


_TORCH_NAMES = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def exponential_(x, lambd=1.0, generator=None):
    """-log1p(-u) / lambd of a 53-bit uniform u, per element (exponential_distribution<double>)."""
    _float_only(x, "Exponential")
    if not lambd > 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
    return _elementwise_fill(x, generator, lambda g, n: (-1.0 / lambd) * np.log1p(-g.uniform(n, np.float64)),
                             lambda: (-_unit(x, generator)).log1p() * (-1.0 / lambd))


def geometric_(x, p, generator=None):
    """ceil(log(u) / log1p(-p)) of a 53-bit uniform u, per element (geometric_distribution<double>)."""
    if x._dtype is dtypes.bool_:
        raise NotImplementedError("\"geometric_cpu\" not implemented for 'Bool'")
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p}")
    q = math.log1p(-p)
    return _elementwise_fill(x, generator, lambda g, n: np.ceil(np.log(g.uniform(n, np.float64)) / q),
                             lambda: (_unit(x, generator).log() / q).ceil())


def log_normal_(x, mean=1.0, std=2.0, generator=None):
    """exp(mean + z * std) of one normal_distribution<double> sample z per element."""
    _float_only(x, "log_normal_cpu")
    if not std > 0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std}")
    from .creation import randn
    return _elementwise_fill(x, generator, lambda g, n: np.exp(g.normal_doubles(n, mean, std)),
                             lambda: (randn(x.shape, generator=generator, device=x.device) * std + mean).exp())


def cauchy_(x, median=0.0, sigma=1.0, generator=None):
    """median + sigma * tan(pi * (u - 0.5)) of a 53-bit uniform u, per element (fused as PyTorch's)."""
    _float_only(x, "Cauchy")
    if not sigma > 0:
        raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma}")
    from .._normal_fill import fma64

    def values(g, n):
        t = np.tan(math.pi * (g.uniform(n, np.float64) - 0.5))
        return fma64(np.float64(sigma), t, np.float64(median))
    return _elementwise_fill(x, generator, values,
                             lambda: ((_unit(x, generator) - 0.5) * math.pi).tan() * sigma + median)


def multinomial(probs, num_samples, replacement=False, generator=None):
    """torch's CPU multinomial, drawn from the cpu stream on every device. Without replacement, or for
    one sample: the largest w / q, q ~ Exp(1) filled as torch's exponential_ (-log1p(-u) of a 53-bit
    uniform per element, row after row, cast to the weights' dtype; the quotient in that dtype too);
    argmax for one sample, else the top num_samples in decreasing order (ties in index order, where
    torch's unstable sort may order them otherwise). With replacement: per row, a binary search of
    one 53-bit uniform per sample in the cumulative sum."""
    dt = probs._dtype
    if not dt.is_floating_point:
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: {dt.name}")
    host = probs.detach()._host()
    p = host.astype(np.float64)  # (bfloat16 arrives as float32)
    if p.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    if not replacement and num_samples > p.shape[-1]:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    if (p < 0).any() or not np.isfinite(p).all():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    two = p.reshape(-1, p.shape[-1])
    if (two.sum(-1) <= 0).any():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    g = gen(generator)
    if not replacement or num_samples == 1:
        q = -np.log1p(-g.uniform(two.size, np.float64)).reshape(two.shape)
        if dt is dtypes.bfloat16:
            r = bf16.decode(bf16.encode(host.reshape(two.shape) / bf16.decode(bf16.encode(q))))
        else:
            w = host.reshape(two.shape)
            with np.errstate(divide="ignore", invalid="ignore"):
                r = w / q.astype(np.float32).astype(w.dtype)  # double -> float -> half, as c10
        out = np.argsort(-r, axis=-1, kind="stable")[:, :num_samples]
    else:
        out = np.empty((two.shape[0], num_samples), np.int64)
        for row, w in enumerate(two):
            c = np.cumsum(w)
            u = g.uniform(num_samples, np.float64) * c[-1]
            k = np.minimum(np.searchsorted(c, u, side="right"), len(w) - 1)
            for s_, kk in enumerate(k):
                while w[kk] == 0:
                    kk -= 1
                out[row, s_] = kk
    res = out.astype(np.int64).reshape(p.shape[:-1] + (num_samples,))
    return _make(probs._be.from_numpy(res), dtypes.int64, probs._be)
