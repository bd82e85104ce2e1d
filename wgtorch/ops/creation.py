"""Creating tensors: from data, filled, ranges, and random draws."""
import math
import numbers

import numpy as np

from .. import bf16, dtypes
from ..backends import for_device
from ..device import CPU, _default as _default_device, device as _device
from ..random import gen
from .core import Tensor, _make, grad_mode


def _backend(device):
    return for_device(_default_device[0] if device is None else _device(device))


def _dt(dtype, default=None):
    if dtype is None:
        return default if default is not None else dtypes.get_default_dtype()
    return dtypes.to_dtype(dtype)


def _shape(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    out = []
    for s in size:
        if isinstance(s, Tensor):
            s = s.item()
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"empty(): argument 'size' must be tuple of ints, but found element of type "
                            f"{type(s).__name__} at pos {len(out)}")
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(size)}")
        out.append(int(s))
    return tuple(out)


def _finish(data, dt, be, requires_grad):
    t = _make(data, dt, be)
    if requires_grad:
        t.requires_grad_(True)
    return t


# ---- from data -----------------------------------------------------------------
def _to_numpy(data):
    """Data as an ndarray with PyTorch's inferred dtype (None: infer failed)."""
    if isinstance(data, Tensor):
        return data._host().copy(), data._dtype
    if isinstance(data, np.ndarray):
        return data.copy(), dtypes.from_numpy_dtype(data.dtype)
    if isinstance(data, np.generic):
        return np.array(data), dtypes.from_numpy_dtype(data.dtype)
    if isinstance(data, bool):
        return np.array(data), dtypes.bool_
    if isinstance(data, numbers.Integral):
        return np.array(int(data), dtype=np.int64) if -2**63 <= data < 2**63 else _overflow(), dtypes.int64
    if isinstance(data, numbers.Real):
        return np.array(float(data)), dtypes.get_default_dtype()
    if isinstance(data, (list, tuple)):
        nested = _plain(data)
        try:
            a = np.array(nested)
        except ValueError:
            raise ValueError(f"expected sequence of equal lengths at every dim, got ragged nested sequences "
                             f"{_brief(data)}") from None
        except OverflowError:
            _overflow()
        k = a.dtype.kind
        if k == "b":
            return a, dtypes.bool_
        if k in "iu":
            if a.dtype == np.uint64:
                _overflow()
            return a.astype(np.int64), dtypes.int64
        if k == "f":
            return a, dtypes.get_default_dtype()
        if a.size == 0 and k in "fO":
            return a.astype(np.float64), dtypes.get_default_dtype()
        if k == "O":
            if any(isinstance(v, int) for v in a.reshape(-1).tolist()):
                _overflow()
            raise ValueError("expected sequence of equal lengths at every dim, got ragged nested sequences")
        raise TypeError(f"new(): invalid data type '{type(a.reshape(-1)[0].item()).__name__}'")
    if isinstance(data, complex):
        raise TypeError("complex numbers are not supported by wgtorch")
    raise TypeError(f"Could not infer dtype of {type(data).__name__}")


def _overflow():
    raise RuntimeError("Overflow when unpacking long")


def _brief(data):
    return str(data)[:60]


def _plain(data):
    """Nested lists with Tensors/NumPy values replaced by Python numbers."""
    if isinstance(data, (list, tuple)):
        return [_plain(v) for v in data]
    if isinstance(data, Tensor):
        return data.tolist()
    if isinstance(data, str):
        raise TypeError("new(): invalid data type 'str'")
    return data


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False):
    arr, dt = _to_numpy(data)
    if dtype is not None:
        dt = dtypes.to_dtype(dtype)
    if dt is dtypes.bfloat16:
        with np.errstate(invalid="ignore", over="ignore"):
            arr = bf16.encode(arr.astype(np.float32))
    elif arr.dtype != dt.np:
        with np.errstate(invalid="ignore", over="ignore"):
            arr = arr.astype(dt.np)
    be = _backend(device)
    return _finish(be.from_numpy(arr), dt, be, requires_grad)


def as_tensor(data, dtype=None, device=None):
    if isinstance(data, Tensor):
        r = data
        if dtype is not None:
            r = r.to(dtypes.to_dtype(dtype))
        return r.to(device) if device is not None else r
    if isinstance(data, np.ndarray) and (device is None or _device(device).type == "cpu") and \
            (dtype is None or dtypes.to_dtype(dtype).np == data.dtype):
        return from_numpy(data)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(a):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(a).__name__})")
    dt = dtypes.from_numpy_dtype(a.dtype)
    be = for_device(CPU)
    return _make(be.from_numpy(a), dt, be)


def _legacy_tensor(*args, dtype=None, device=None):
    """torch.Tensor(data) / torch.Tensor(2, 3): float32 data or an uninitialised shape."""
    if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
        a = args[0]
        if isinstance(a, Tensor):
            return a
        return tensor(a, dtype=dtypes.get_default_dtype(), device=device)
    return empty(*args, device=device)


def _rebuild(arr, dev, requires_grad, dtype=None):
    t = tensor(arr, dtype=dtype, device=dev)
    return t.requires_grad_(True) if requires_grad else t


# ---- filled ----------------------------------------------------------------------
def empty(*size, dtype=None, device=None, requires_grad=False, memory_format=None, pin_memory=False, out=None):
    dt, be = _dt(dtype), _backend(device)
    return _finish(be.empty(_shape(size), dt), dt, be, requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False, out=None):
    dt, be = _dt(dtype), _backend(device)
    return _finish(be.full(_shape(size), 0, dt), dt, be, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False, out=None):
    dt, be = _dt(dtype), _backend(device)
    return _finish(be.full(_shape(size), 1, dt), dt, be, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False, out=None):
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    dt = _dt(dtype, dtypes.scalar_dtype(fill_value))
    be = _backend(device)
    return _finish(be.full(_shape((size,) if isinstance(size, int) else (tuple(size),)), fill_value, dt),
                   dt, be, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    dt, be = _dt(dtype), _backend(device)
    if n < 0 or (m is not None and m < 0):
        raise RuntimeError(f"n must be greater or equal to 0, got {n}")
    return _finish(be.eye(n, n if m is None else m, dt), dt, be, requires_grad)


def _triangle_indices(row, col, offset, dtype, device, lower):
    if row < 0:
        raise RuntimeError(f"row must be non-negative, got{row}")
    if col < 0:
        raise RuntimeError(f"col must be non-negative, got{col}")
    pick = np.tril_indices if lower else np.triu_indices
    idx = np.stack(pick(row, offset, col)) if row and col else np.zeros((2, 0), np.int64)
    return tensor(idx, dtype=dtypes.int64 if dtype is None else dtype, device=device)


def tril_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """The (2, n) row and column indices of the lower triangle of a row x col matrix (below the
    offset-th diagonal included), row by row."""
    return _triangle_indices(row, col, offset, dtype, device, True)


def triu_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """The (2, n) indices of the upper triangle (from the offset-th diagonal on), row by row."""
    return _triangle_indices(row, col, offset, dtype, device, False)


def _like(x, dtype, device):
    dt = x._dtype if dtype is None else dtypes.to_dtype(dtype)
    be = x._be if device is None else _backend(device)
    return dt, be


def empty_like(x, dtype=None, device=None, requires_grad=False, memory_format=None):
    dt, be = _like(x, dtype, device)
    return _finish(be.empty(x.shape, dt), dt, be, requires_grad)


def zeros_like(x, dtype=None, device=None, requires_grad=False, memory_format=None):
    dt, be = _like(x, dtype, device)
    return _finish(be.full(x.shape, 0, dt), dt, be, requires_grad)


def ones_like(x, dtype=None, device=None, requires_grad=False, memory_format=None):
    dt, be = _like(x, dtype, device)
    return _finish(be.full(x.shape, 1, dt), dt, be, requires_grad)


def full_like(x, fill_value, dtype=None, device=None, requires_grad=False, memory_format=None):
    dt, be = _like(x, dtype, device)
    return _finish(be.full(x.shape, fill_value, dt), dt, be, requires_grad)


# Tensor.new_* : same device and dtype as x unless given
def new_empty(x, *size, dtype=None, device=None, requires_grad=False):
    dt, be = _like(x, dtype, device)
    return _finish(be.empty(_shape(size), dt), dt, be, requires_grad)


def new_zeros(x, *size, dtype=None, device=None, requires_grad=False):
    dt, be = _like(x, dtype, device)
    return _finish(be.full(_shape(size), 0, dt), dt, be, requires_grad)


def new_ones(x, *size, dtype=None, device=None, requires_grad=False):
    dt, be = _like(x, dtype, device)
    return _finish(be.full(_shape(size), 1, dt), dt, be, requires_grad)


def new_full(x, size, fill_value, dtype=None, device=None, requires_grad=False):
    dt, be = _like(x, dtype, device)
    return _finish(be.full(_shape((tuple(size),)), fill_value, dt), dt, be, requires_grad)


def new_tensor(x, data, dtype=None, device=None, requires_grad=False):
    dt, _ = _like(x, dtype, device)
    return tensor(data, dtype=dt, device=device if device is not None else x.device,
                  requires_grad=requires_grad)


# ---- ranges ----------------------------------------------------------------------------
def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False, out=None):
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    start, end, step = vals
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if dtype is None:
        dt = dtypes.get_default_dtype() if any(isinstance(v, float) for v in vals) else dtypes.int64
    else:
        dt = dtypes.to_dtype(dtype)
    n = math.ceil((end - start) / step)
    if (end - start) * step < 0 and n != 0:
        raise RuntimeError("upper bound and larger bound inconsistent with step sign")
    be = _backend(device)
    return _finish(be.arange(start, step, max(n, 0), dt), dt, be, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False, out=None):
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    dt, be = _dt(dtype), _backend(device)
    start, end = [v.item() if isinstance(v, Tensor) else v for v in (start, end)]
    # PyTorch's symmetric formula: the first half steps up from start, the second down from end
    if steps == 1:
        vals = np.array([start], np.float64)
    else:
        step = (end - start) / (steps - 1)
        i = np.arange(steps, dtype=np.float64)
        half = steps // 2
        vals = np.where(i < half, start + step * i, end - step * (steps - 1 - i))
    if not dt.is_floating_point:
        vals = np.trunc(vals)
    return _finish(be.from_numpy(vals.astype(dt.np)), dt, be, requires_grad)


def logspace(start, end, steps, base=10.0, dtype=None, device=None, requires_grad=False):
    dt = _dt(dtype)
    return (base ** linspace(start, end, steps, dtype=dtypes.float64)).to(dt).to(device or "cpu") \
        .requires_grad_(requires_grad)


# ---- random ----------------------------------------------------------------------------------
def _random_out(arr, dt, device, requires_grad):
    be = _backend(device)
    return _finish(be.from_numpy(arr), dt, be, requires_grad)


def _draw(kind, shape, dt, generator, device, requires_grad, a, b):
    """Random values drawn on the device itself (the backend's `random` primitive); cpu normals and
    uniforms come from the generator's PyTorch transforms here (cpu_draw)."""
    be = _backend(device)
    if be is for_device(CPU):
        arr = cpu_draw(kind, math.prod(shape), dt, gen(generator), a, b)
        if arr is not None:
            return _finish(be.from_numpy(arr.reshape(shape)), dt, be, requires_grad)
    return _finish(be.random(kind, shape, dt, gen(generator), a, b), dt, be, requires_grad)


def cpu_draw(kind, n, dt, g, a, b):
    """PyTorch's cpu values for a contiguous draw, as stored (bfloat16 encoded), or None where the
    backend's primitive already draws them (integers)."""
    to_bits = bf16.encode if dt is dtypes.bfloat16 else (lambda v: v.astype(dt.np, copy=False))
    if kind == "normal":
        half = dt is dtypes.bfloat16
        return to_bits(g.normal(n, np.float32 if half else dt.np, a, b, bfloat16=half))
    if kind != "uniform":
        return None
    # uniform_real_distribution: u * (to - from) + from (fused in double for float64; the other
    # dtypes from a 24-bit float u and float bounds, in double, rounded to float, then to the dtype),
    # and a value that rounds to `to` becomes `from`, keeping the range half-open
    if dt is dtypes.float64:
        from .._normal_fill import fma64
        v = fma64(g.uniform(n, np.float64), np.float64(b - a), np.float64(a)) if (a, b) != (0.0, 1.0) \
            else g.uniform(n, np.float64)
        return np.where(v == b, np.float64(a), v)
    lo, hi = np.float32(a), np.float32(b)
    v = (g.uniform(n, np.float32).astype(np.float64) * float(hi - lo) + float(lo)).astype(np.float32)
    bits, lo_bits, hi_bits = to_bits(v), to_bits(np.array([lo]))[0], to_bits(np.array([hi]))[0]
    return np.where(bits == hi_bits, lo_bits, bits)


def _float_draw(kernel, kind, size, generator, dtype, device, requires_grad):
    dt = _dt(dtype)
    if not dt.is_floating_point:
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{dt.name}'")
    return _draw(kind, _shape(size), dt, generator, device, requires_grad, 0.0, 1.0)


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False, out=None):
    return _float_draw("check_uniform_bounds", "uniform", size, generator, dtype, device, requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False, out=None):
    return _float_draw("normal_kernel_cpu", "normal", size, generator, dtype, device, requires_grad)


def rand_like(x, dtype=None, device=None, requires_grad=False, generator=None):
    dt, _ = _like(x, dtype, None)
    return rand(x.shape, generator=generator, dtype=dt, device=device or x.device, requires_grad=requires_grad)


def randn_like(x, dtype=None, device=None, requires_grad=False, generator=None):
    dt, _ = _like(x, dtype, None)
    return randn(x.shape, generator=generator, dtype=dt, device=device or x.device, requires_grad=requires_grad)


def _randint_high_size(high, size):
    return 0, high, size


def _randint_low_high_size(low, high, size):
    return low, high, size


def randint(*args, generator=None, dtype=None, device=None, requires_grad=False, out=None, layout=None,
            pin_memory=False, **kwargs):
    """torch's two signatures: randint(high, size) and randint(low, high, size), positional or keyword."""
    for form in (_randint_high_size, _randint_low_high_size):
        try:
            low, high, size = form(*args, **kwargs)
            break
        except TypeError:
            continue
    else:
        got = ", ".join([type(a).__name__ for a in args] + [f"{k}={type(v).__name__}" for k, v in kwargs.items()])
        raise TypeError(f"randint() received an invalid combination of arguments - got ({got}), but expected one "
                        "of:\n * (int high, tuple of ints size, *, ...)\n * (int low, int high, tuple of ints size, *, ...)")
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"randint(): argument 'size' must be tuple of ints, but found {type(size).__name__}")
    from .conversion import random_range
    dt = _dt(dtype, dtypes.int64)
    low, high = random_range(dt, low, high)
    r = _draw("randint", _shape((tuple(size),)), dt, generator, device, requires_grad, low, high)
    if out is not None:
        out.copy_(r)
        return out
    return r


def randint_like(x, low, high=None, dtype=None, device=None, generator=None):
    if high is None:
        low, high = 0, low
    dt, _ = _like(x, dtype, None)
    return randint(low, high, x.shape, generator=generator, dtype=dt, device=device or x.device)


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False):
    """PyTorch's CPU randperm: swap i with i + (random() % (n - i)) for i < n - 1."""
    if n < 0:
        raise RuntimeError(f"n must be non-negative, got{n}")
    dt = _dt(dtype, dtypes.int64)
    r = np.arange(n, dtype=np.int64)
    if n > 1:
        raw = gen(generator).random32(n - 1)
        z = (raw % np.arange(n, 1, -1, dtype=np.uint64)).astype(np.int64).tolist()
        rl = r.tolist()
        for i, k in enumerate(z):
            j = i + k
            rl[i], rl[j] = rl[j], rl[i]
        r = np.array(rl, dtype=np.int64)
    return _random_out(r.astype(dt.np), dt, device, requires_grad)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None, requires_grad=False,
           out=None):
    g = gen(generator)
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        # as PyTorch: normal_(0, std) then add_(mean) for a tensor mean and a float std; else
        # normal_(0, 1) then mul_(std).add_(mean); the dtype and device of mean (else of std)
        ref = mean if isinstance(mean, Tensor) else std
        if isinstance(std, Tensor) and (std < 0).any():
            raise RuntimeError("normal expects all elements of std >= 0.0")
        if not isinstance(std, Tensor) and std < 0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
        from .conversion import normal_
        from .shape import broadcast_tensors_shape
        shape = broadcast_tensors_shape(*(t for t in (mean, std) if isinstance(t, Tensor)))
        out = empty(shape, dtype=ref.dtype, device=ref.device)
        with grad_mode.no_grad():
            if isinstance(std, Tensor):
                normal_(out, 0.0, 1.0, generator=g)
                out = out * std.detach() + (mean.detach() if isinstance(mean, Tensor) else mean)
            else:
                normal_(out, 0.0, std, generator=g)
                out = out + mean.detach()
        return out
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    return _draw("normal", _shape((tuple(size),)), _dt(dtype), g, device, requires_grad, mean, std)
