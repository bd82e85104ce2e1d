"""Moving between dtypes and devices, copy_ and fills, and in-place random fills."""
import numpy as np

from .. import dtypes
from ..backends import for_device
from ..device import device as _device
from ..random import gen
from .core import Tensor, _make, attach, check_inplace, grad_mode, inplace
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


def copy_(dst, src, non_blocking=False):
    if not isinstance(src, Tensor):
        raise TypeError(f"copy_(): argument 'other' (position 1) must be Tensor, not {type(src).__name__}")
    from .shape import broadcast_shape_check
    broadcast_shape_check(dst, src)
    s = src if src._be is dst._be else to_device(src, dst.device)

    def outofplace(old):
        r = cast(expand(s, dst.shape), dst._dtype).clone()
        return r
    return inplace(dst, outofplace, lambda: dst._be.copy_(dst._data, s._data), (src,))


def fill_(x, value):
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with "
                               f"{value.ndim} dimensions.")
        return copy_(x, value)
    return inplace(x, lambda old: _make(old._be.full(old.shape, value, old._dtype), old._dtype, old._be),
                   lambda: x._be.fill_(x._data, value))


def zero_(x):
    return fill_(x, 0)


def _random_fill(x, kind, generator, a, b):
    """Fill x in place with the backend's random draw (no autograd history)."""
    check_inplace(x)
    x._be.copy_(x._data, x._be.random(kind, x.shape, x._dtype, gen(generator), a, b))
    x._vc[0] += 1
    return x


def uniform_(x, a=0.0, b=1.0, generator=None):
    if not x._dtype.is_floating_point:
        raise RuntimeError(f"\"check_uniform_bounds\" not implemented for '{x._dtype.name}'")
    if a > b:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={a} > to={b}")
    return _random_fill(x, "uniform", generator, a, b)


def normal_(x, mean=0.0, std=1.0, generator=None):
    if not x._dtype.is_floating_point:
        raise RuntimeError(f"\"normal_kernel_cpu\" not implemented for '{x._dtype.name}'")
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    return _random_fill(x, "normal", generator, mean, std)


def random_(x, low=0, high=None, generator=None):
    if high is None:
        high, low = (low, 0) if low else (2 ** 24 + 1 if x._dtype is dtypes.float32 else 2 ** 63 - 1, 0)
    return _random_fill(x, "randint", generator, low, high)


def bernoulli_(x, p=0.5, generator=None):
    """1 where a uniform draw is below p (composed: it runs on every device)."""
    check_inplace(x)
    u = _make(x._be.random("uniform", x.shape, dtypes.float32, gen(generator), 0.0, 1.0), dtypes.float32, x._be)
    with grad_mode.no_grad():
        keep = u < (p.detach().to(dtypes.float32) if isinstance(p, Tensor) else p)
        x._be.copy_(x._data, keep._data)
    x._vc[0] += 1
    return x


def bernoulli(x, p=None, generator=None):
    out = x.new_empty(x.shape).detach()
    return bernoulli_(out, x.detach() if p is None else p, generator)


def exponential_(x, lambd=1.0, generator=None):
    check_inplace(x)
    u = _make(x._be.random("uniform", x.shape, x._dtype, gen(generator), 0.0, 1.0), x._dtype, x._be)
    with grad_mode.no_grad():
        x._be.copy_(x._data, ((-u).log1p() * (-1.0 / lambd))._data)
    x._vc[0] += 1
    return x


def multinomial(probs, num_samples, replacement=False, generator=None):
    """Draws by inverse CDF of uniforms (not PyTorch's exact stream)."""
    p = probs.detach()._host().astype(np.float64)
    if p.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if (p < 0).any() or not np.isfinite(p).all():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    two = p.reshape(-1, p.shape[-1]).copy()
    if (two.sum(-1) <= 0).any():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    if not replacement and num_samples > two.shape[1]:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    g = gen(generator)
    out = np.empty((two.shape[0], num_samples), np.int64)
    for r in range(two.shape[0]):
        w = two[r]
        for s in range(num_samples):
            c = np.cumsum(w)
            u = g.uniform(1, np.float64)[0] * c[-1]
            k = int(np.searchsorted(c, u, side="right"))
            k = min(k, len(w) - 1)
            while w[k] == 0:
                k -= 1
            out[r, s] = k
            if not replacement:
                w = w.copy()
                w[k] = 0
    res = out.reshape(p.shape[:-1] + (num_samples,))
    return _make(probs._be.from_numpy(res), dtypes.int64, probs._be)
