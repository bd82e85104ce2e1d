"""The NumPy backend: the closed primitive set on host ndarrays.

A handle is an ndarray (usually a view of its storage). Functions take
handles and Python scalars and return new handles; those ending in ``_`` write
into their first argument. dtypes arrive as wgtorch dtypes; the Tensor layer
has already worked out PyTorch's result dtype, so nothing here promotes.
"""
import ctypes
import math
import os

import numpy as np

from .. import bf16, dtypes
from ..device import CPU as device  # noqa: F401  (the device this backend serves)
from ..errors import check_int_divisor

ndarray = np.ndarray
name = "cpu"


def _keep_freed_memory():
    """glibc's malloc serves blocks from 128 KiB up by fresh mmaps, and gives the heap's free top back
    to the OS, until it has seen large blocks freed: a training step's arrays then arrive as fresh pages
    every step (page faults: a third of a small CNN's step on one core). Set the limits glibc's own
    heuristic reaches after a 32 MiB block is freed (heap blocks up to 32 MiB, up to 64 MiB of free top
    kept), unless the environment tunes malloc itself."""
    if any(k.startswith("MALLOC_") or k == "GLIBC_TUNABLES" for k in os.environ):
        return
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError, ValueError):  # not glibc
        return
    mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
    mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD


_keep_freed_memory()


def _arr(r):
    # ufuncs return NumPy scalars for 0-d inputs; tensors always hold arrays
    return r if r.__class__ is ndarray else np.asarray(r)


# ---- bfloat16: computed in float32 -----------------------------------------------
_BITS, _BF16, _F32 = bf16.BITS, dtypes.bfloat16, dtypes.float32


def _bits(a):
    return a.__class__ is ndarray and a.dtype is _BITS


def _in_f32(fn, *args):
    """fn with bfloat16 operands (bit arrays) decoded and a bfloat16 dtype computed as
    float32; the float32 result is rounded back to bfloat16 when bfloat16 was asked
    for (ops without a dtype argument: when an operand was bfloat16)."""
    if any(isinstance(a, dtypes.dtype) for a in args):
        to_bf16 = any(a is _BF16 for a in args)
    else:
        to_bf16 = any(_bits(a) for a in args)
    r = fn(*[bf16.decode(a) if _bits(a) else _F32 if a is _BF16 else a for a in args])
    return _encoded(r) if to_bf16 else r


def _encoded(r):
    if isinstance(r, tuple):
        return tuple(_encoded(v) for v in r)
    return bf16.encode(r) if r.dtype == np.float32 else r


# ---- creation and transfer --------------------------------------------------
def from_numpy(a):
    return a


def to_numpy(h):
    return h


def empty(shape, dt):
    return np.empty(shape, dt.np)


def full(shape, value, dt):
    if dt is _BF16:
        return _in_f32(full, shape, value, dt)
    return np.full(shape, value, dt.np)


def arange(start, step, n, dt):
    if dt is _BF16:
        return _in_f32(arange, start, step, n, dt)
    # computed in float64/int64 like PyTorch's kernel, then cast
    if dt.is_floating_point:
        return (start + step * np.arange(n, dtype=np.float64)).astype(dt.np)
    return (start + step * np.arange(n, dtype=np.int64)).astype(dt.np)


def eye(n, m, dt):
    if dt is _BF16:
        return _in_f32(eye, n, m, dt)
    return np.eye(n, m, dtype=dt.np)


# ---- views (metadata only: NumPy views never copy) ---------------------------
def view_reshape(h, shape):
    """A view with the new shape, or None if the strides do not allow one."""
    try:
        r = h.view()
        r.shape = shape
        return r
    except AttributeError:
        return None


def view_permute(h, dims):
    return h.transpose(dims)


def view_expand(h, shape):
    return np.broadcast_to(h, shape) if h.shape != tuple(shape) else h.view()


def view_index(h, key):
    """Basic indexing: a tuple of ints, slices, None and Ellipsis."""
    r = h[key]
    # all-int keys give NumPy scalars (copies); a trailing ... gives a 0-d view
    return r if r.__class__ is ndarray else h[key + (Ellipsis,)]


def view_strided(h, shape, strides, offset):
    """A view with element strides and an element offset relative to h's start."""
    it = h.itemsize
    ast = np.lib.stride_tricks.as_strided
    start = ast(h, (offset + 1,), (it,))[offset:] if offset else h
    return ast(start, shape, [s * it for s in strides])


def strides(h):
    if h.size == 0:  # PyTorch reports contiguous strides for empty tensors
        st, acc = [], 1
        for s in reversed(h.shape):
            st.append(acc)
            acc *= max(s, 1)
        return tuple(reversed(st))
    it = h.itemsize
    return tuple(s // it for s in h.strides)


def is_contiguous(h):
    return h.flags.c_contiguous


def same_storage(a, b):
    return np.shares_memory(a, b)


def storage_offset(h):
    base = h
    while base.base is not None and isinstance(base.base, ndarray):
        base = base.base
    return (h.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // h.itemsize


def data_ptr(h):
    return h.__array_interface__["data"][0]


# ---- copies and casts ---------------------------------------------------------
def contiguous(h):
    return np.array(h, order="C")  # (ascontiguousarray would turn 0-d into 1-d)


def clone(h):
    return h.copy()


def cast(h, dt):
    # float -> int truncates toward zero; out-of-range values are undefined, as in PyTorch
    if dt is _BF16 or h.dtype is _BITS:
        return h.copy() if h.dtype is dt.np else _in_f32(cast, h, dt)
    with np.errstate(invalid="ignore", over="ignore"):
        return h.astype(dt.np)


def copy_(dst, src):
    """dst[...] = src with broadcasting and casting (src may be a scalar)."""
    if dst.dtype is _BITS and not _bits(src):
        src = bf16.encode(np.asarray(src, np.float32))
    elif _bits(src) and dst.dtype is not _BITS:
        src = bf16.decode(src)
    np.copyto(dst, src, casting="unsafe")


def fill_(dst, value):
    dst.fill(value if dst.dtype is not _BITS else bf16.encode(value)[()])


# ---- elementwise ----------------------------------------------------------------
_erf64 = np.vectorize(math.erf, otypes=[np.float64])
# Our own least-squares fits (float64, then evaluated in float32; max error 1.3 ulp):
# erf(a) = a * P(a^2) on [0, 1], and erf(a) = 1 - t exp(Q(t) - a^2), t = 1 / (1 + a/2), on [1, 4].
_ERF_P = (1.1283791274923942, -0.37612349946569185, 0.11280365106701279, -0.026716396296218973,
          0.004923284094809428, -0.0005654111894664372)
_ERFC_Q = (-1.266676840693631, 1.0157679074349373, 0.28877123966759993, 0.31892761802192904,
           -0.38758234380812423, -0.08600111840034387, 0.11849399014607902)
_ERF_P_HALF = tuple(c / 2 for c in _ERF_P)


def _horner(coefs, x):
    """sum coefs[k] x^k in x's dtype, in place on one new buffer (GELU calls this on whole activations)."""
    r = x * x.dtype.type(coefs[-1])
    r += coefs[-2]
    for c in coefs[-3::-1]:
        r *= x
        r += c
    return r


def _erf(x, half=False):
    """erf (or erf / 2 with half=True: bit for bit half of it) to float32 accuracy in float32
    arithmetic (NumPy has none). The series branch runs over every element, the tail branch
    (|x| >= 1) only over the elements there: most activations are small. float64 gets libm's erf."""
    if x.dtype == np.float64:
        r = _erf64(x)
        return r * 0.5 if half else r
    shape, dtype = x.shape, x.dtype
    z = x.astype(np.float32, copy=False).reshape(-1)
    with np.errstate(invalid="ignore", over="ignore"):  # (infinite x: the tail branch gives its value)
        u = z * z
        r = _horner(_ERF_P_HALF if half else _ERF_P, u)  # (halved coefficients: exactly half of each step)
        r *= z  # erf is odd: z's sign comes along (erf(-0) = -0)
    far = np.flatnonzero(u >= 1)
    if far.size:
        zf = z[far]
        t = np.abs(zf)
        np.minimum(t, np.float32(4), out=t)  # erf(4) rounds to 1 in float32: keep the fit's range
        t *= np.float32(0.5)
        t += np.float32(1)
        np.reciprocal(t, out=t)
        big = _horner(_ERFC_Q, t)
        big -= u[far]
        with np.errstate(under="ignore"):
            np.exp(big, out=big)
        big *= t
        top = np.float32(0.5 if half else 1)  # (erf's limit, or half of it)
        if half:
            big *= top
        r[far] = np.copysign(np.subtract(top, big, out=big), zf, out=big)
    return r.reshape(shape).astype(dtype, copy=False)


# erfinv(a) / a as our own least-squares fits (float64) in w = -log(1 - a^2): in w - 2.5 for w < 5
# (|a| < 0.9966), in sqrt(w) - 3 for 5 <= w < 17 (float32's whole tail: 3.5e-8), and a rougher one
# (2.5e-6) over 5 <= w < 42, float64's tail, which Newton steps refine. Highest power first.
_ERFINV_C = (-9.1924806416385894e-09, 2.2877990501395454e-08, 4.7137216261842032e-07, -3.4587306139548132e-06,
             -4.9855132048277562e-06, 0.00021833078357136435, -0.0012527075411899588, -0.0041773721531619904,
             0.24664027217714771, 1.5014093569265299)
_ERFINV_T = (0.00011193582164669623, -0.00030388388829649671, -5.4482797567367847e-05, 0.0014791696121692621,
             -0.003597160292162116, 0.0056888696308776687, -0.0076375504226414426, 0.0094450949244225257,
             1.0016749892658139, 2.8329768042715049)
_ERFINV_F = (-2.6849084576768797e-06, 4.5235927818794094e-05, -0.00032423804676633789, 0.0013003453409702261,
             -0.0032663281636803503, 0.00563537997956694, -0.0077373844162033443, 0.0094731886213845016,
             1.0016834389775606, 2.8329756664163166)
_erfc64 = np.vectorize(math.erfc, otypes=[np.float64])


def _erfinv(x):
    """The inverse of erf, in float64 arithmetic (float32 results within an ulp); float64 results
    take two Newton steps on erf, or on erfc in the tails where erf(y) is too close to 1."""
    a = np.abs(x).astype(np.float64)
    with np.errstate(all="ignore"):
        w = np.where(a < 0.5, -np.log1p(-a * a), -np.log((1 - a) * (1 + a)))
        tail = _ERFINV_F if x.dtype == np.float64 else _ERFINV_T
        y = np.where(w < 5, np.polyval(_ERFINV_C, w - 2.5), np.polyval(tail, np.sqrt(w) - 3)) * a
        if x.dtype == np.float64:
            for _ in range(2):  # (1 - a is exact where a >= 1/2)
                r = np.where(a <= 0.5, _erf64(y) - a, (1 - a) - _erfc64(y))
                y -= r * (math.sqrt(math.pi) / 2) * np.exp(y * y)
        y = np.where(a < 1, y, np.where(a == 1, np.inf, np.nan))
    return np.copysign(y, x).astype(x.dtype)


_PIECE = 1 << 18  # elements per piece where an op makes many passes: its temporaries stay in cache


def _by_pieces(fn, out, *arrays):
    """fn(*pieces, out=piece of out) over cache-sized pieces of equal-shaped contiguous arrays."""
    flat = [a.reshape(-1) for a in arrays]
    dest = out.reshape(-1)
    for i in range(0, dest.size, _PIECE):
        fn(*(f[i:i + _PIECE] for f in flat), out=dest[i:i + _PIECE])
    return out


def _gelu(x):
    """x Phi(x), Phi the standard normal cdf (GELU as one op)."""
    if x.dtype == np.float32 and x.size > _PIECE:
        return _by_pieces(_gelu_piece, np.empty(x.shape, x.dtype), np.ascontiguousarray(x))
    return _arr(_gelu_piece(x))


def _gelu_piece(x, out=None):
    p = _erf(x * x.dtype.type(_SQRT1_2), half=True)  # a new array: the rest in place
    p += 0.5  # (Phi = 1/2 + erf/2 is bit for bit (1 + erf) / 2: halving is exact)
    return np.multiply(p, x, out=p if out is None else out)


def gelu_grad(g, x, y, dt):
    """g (Phi(x) + x phi(x)): GELU's backward as one op, given its output y = x Phi(x).
    In float32, Phi = y / x (within 2 ulp) spares a second erf, the step's dearest
    elementwise op; near 0, or for x infinite, Phi is 1/2 or the step. Half types'
    outputs have too few bits for that: they compute erf again, in float32."""
    if x.dtype is _BITS or x.dtype == np.float16:
        r = gelu_grad(_f32(g), _f32(x), None, _F32)
        return bf16.encode(r) if x.dtype is _BITS else r.astype(np.float16)
    if y is not None and x.dtype == np.float32:
        shape = x.shape if g.shape == x.shape else np.broadcast_shapes(g.shape, x.shape)
        g, x, y = (np.ascontiguousarray(a if a.shape == shape else np.broadcast_to(a, shape)) for a in (g, x, y))
        return _by_pieces(_gelu_grad_f32, np.empty(shape, np.float32), g, x, y)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        phi = 0.5 * (1 + _erf(x * x.dtype.type(_SQRT1_2)))
        return _arr(_add_x_pdf(np.multiply(x, x), x, phi, g))


def _gelu_grad_f32(g, x, y, out):
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        t = np.multiply(x, x, out=out)
        phi = np.divide(y, x)
        # where x^2 is 0 (|x| < 4e-23: Phi(x) rounds to 1/2, y to x/2, but y / x may be 0/0 or
        # lose a denormal's bits) or not finite (|x| > 1.8e19: Phi is the step, y / x may be
        # inf / inf; NaN stays NaN), one pass over x^2's bits finds the few elements to set
        odd = t.view(np.uint32) - np.uint32(1) >= np.uint32(0x7F7FFFFF)
        if odd.any():
            phi[odd] = np.where(t[odd] == 0, np.float32(0.5), x[odd] > 0)
        return _add_x_pdf(t, x, phi, g)


def _add_x_pdf(t, x, phi, g):
    """g (phi + x pdf(x)), in place on t = x^2."""
    t *= x.dtype.type(-0.5)
    np.exp(t, out=t)
    t *= x
    t *= x.dtype.type(_INV_SQRT_2PI)
    t += phi
    t *= g
    return t


def _f32(a):
    return bf16.decode(a) if a.dtype is _BITS else a.astype(np.float32)


_SQRT1_2, _INV_SQRT_2PI = 1 / math.sqrt(2), 1 / math.sqrt(2 * math.pi)


def _sigmoid(x):
    with np.errstate(over="ignore"):
        return _arr(1 / (1 + np.exp(-x)))


_SAME_SIZE_INT = {2: np.int16, 4: np.int32, 8: np.int64}


def _relu(x):
    """x where not x < 0, else +0, as PyTorch: -0 and NaN stay (np.maximum(-0, 0) gives +0). On
    floats by the bits: a mask of all ones or zeros and'ed in (a quarter faster than np.maximum)."""
    if x.dtype.kind != "f":
        return np.maximum(x, x.dtype.type(0))
    t = _SAME_SIZE_INT[x.dtype.itemsize]
    m = np.less(x, x.dtype.type(0)).view(np.uint8).astype(t)
    m -= 1
    m &= x.view(t)
    return m.view(x.dtype)


def _sign(x):
    if x.dtype == np.bool_:
        return x.copy()
    r = np.asarray(np.sign(x))  # (a 0-d input gives a NumPy scalar, which cannot be assigned to)
    if x.dtype.kind == "f":
        r[np.isnan(r)] = 0  # PyTorch: sign(nan) == 0
    return r


def _rsqrt(x):
    with np.errstate(divide="ignore", invalid="ignore"):
        return _arr(1 / np.sqrt(x))


def _round(x):
    return np.round(x)  # half to even, as PyTorch


UNARY = {
    "neg": np.negative, "abs": np.abs, "exp": np.exp, "exp2": np.exp2, "log": np.log,
    "log2": np.log2, "log10": np.log10, "log1p": np.log1p, "expm1": np.expm1, "sqrt": np.sqrt,
    "rsqrt": _rsqrt, "sin": np.sin, "cos": np.cos, "tan": np.tan, "tanh": np.tanh,
    "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh,
    "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh, "signbit": np.signbit, "erfinv": _erfinv,
    "sigmoid": _sigmoid, "relu": _relu, "erf": _erf, "floor": np.floor, "ceil": np.ceil,
    "round": _round, "trunc": np.trunc, "sign": _sign, "reciprocal": np.reciprocal,
    "isnan": np.isnan, "isinf": np.isinf, "isfinite": np.isfinite, "gelu": lambda x: _gelu(x),
    "logical_not": np.logical_not, "bitwise_not": np.invert, "square": np.square,
}


def unary(op, x, dt):
    """op(x) computed and returned in dtype dt."""
    if dt is _BF16 or x.dtype is _BITS:
        return _in_f32(unary, op, x, dt)
    if x.dtype != dt.np:
        x = x.astype(dt.np)
    if op in _QUIET_UNARY:
        return _arr(UNARY[op](x))
    with np.errstate(all="ignore"):  # log(0), exp overflow, ...: PyTorch gives inf/nan silently
        return _arr(UNARY[op](x))


_QUIET_UNARY = {"neg", "abs", "relu", "sign", "floor", "ceil", "round", "trunc", "logical_not",
                "bitwise_not", "isnan", "isinf", "isfinite", "tanh"}


def unary_pred(op, x):
    """Predicates (isnan, ...) and logical_not: bool result from any input dtype."""
    if x.dtype is _BITS:
        return _in_f32(unary_pred, op, x)
    return _arr(UNARY[op](x))


def _check_pow(x, y):
    pass  # a negative integer exponent: _power follows PyTorch (ops.pow refuses a negative Python int)


def _power(x, y):
    """np.power, with PyTorch's integer rule for negative exponents (NumPy raises): 1 ** -n = 1,
    (-1) ** -n = +-1, anything else ** -n = 0 (the truncated reciprocal)."""
    if x.dtype.kind in "iu" and np.any(np.asarray(y) < 0):
        neg = np.asarray(y) < 0
        r = np.power(x, np.where(neg, 0, y).astype(np.result_type(y)))
        small = np.where(x == 1, 1, np.where(x == -1, np.where(np.asarray(y) % 2 == 0, 1, -1), 0))
        return np.where(neg, small, r).astype(r.dtype)
    return np.power(x, y)


def _trunc_divide(x, y):
    if x.dtype.kind == "f":
        return np.trunc(np.true_divide(x, y))
    q = np.floor_divide(x, y)
    return q + ((q * y != x) & ((x < 0) != (np.asarray(y) < 0)))  # round toward zero


def _relu_grad(g, y):
    """g where relu's output y > 0 (or NaN), else +0, as torch: g's bits masked (as fast as g * mask,
    which turns an infinite g into NaN)."""
    it = np.dtype(f"i{g.dtype.itemsize}")
    keep = (y <= 0).astype(it)
    keep -= 1  # all ones where kept
    return np.bitwise_and(g.view(it), keep).view(g.dtype)


BINARY = {
    "trunc_divide": _trunc_divide, "relu_grad": _relu_grad,
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide,
    "floor_divide": np.floor_divide, "remainder": np.remainder, "pow": _power,
    "maximum": np.maximum, "minimum": np.minimum, "atan2": np.arctan2,  # maximum/minimum keep NaN
    "fmod": np.fmod, "bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or,
    "bitwise_xor": np.bitwise_xor, "logical_and": np.logical_and,
    "logical_or": np.logical_or, "logical_xor": np.logical_xor,
    "eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
    "gt": np.greater, "ge": np.greater_equal,
}
# ops that can divide by zero or leave the domain: checked, and NumPy's warnings silenced
_CHECKS = {"floor_divide": check_int_divisor, "trunc_divide": check_int_divisor, "remainder": check_int_divisor,
           "fmod": check_int_divisor, "pow": _check_pow}
_NOISY = {"div", "trunc_divide", "floor_divide", "remainder", "pow", "atan2", "fmod"}


def _wrap_scalar(y, npdt):
    """A Python int out of the integer dtype's range wraps around, as in PyTorch."""
    return np.asarray(y, dtype=np.int64).astype(npdt)


def binary(op, x, y, dt):
    """op(x, y) with both operands first cast to the computation dtype dt.
    y may be a Python scalar (NumPy treats it as weakly typed, as PyTorch)."""
    npdt = dt.np
    if x.dtype is npdt and npdt is not _BITS and op not in _NOISY and \
            (y.__class__ is float and npdt is not _HALF or y.__class__ is ndarray and y.dtype is npdt):
        r = BINARY[op](x, y)  # the per-op hot path: nothing to cast, check or wrap
        return r if r.__class__ is ndarray else np.asarray(r)
    if npdt is _HALF and op in _OPMATH and y.__class__ is not ndarray:
        return _half_opmath(op, x, y)
    if npdt is _BITS or x.dtype is _BITS or _bits(y):
        return _in_f32(binary, op, x, y, dt)
    if x.dtype is not npdt:
        x = x.astype(npdt)
    r = _apply(op, x, _operand(y, npdt))
    return r if r.__class__ is ndarray else np.asarray(r)


_INT_RANGE = {np.dtype(t).char: (np.iinfo(t).min, np.iinfo(t).max)
              for t in (np.uint8, np.int8, np.int16, np.int32, np.int64)}


def _operand(y, npdt):
    """y in the computation dtype; a Python int outside an integer dtype's range wraps."""
    if y.__class__ is ndarray:
        return y if y.dtype is npdt else y.astype(npdt)
    if y.__class__ is int and npdt.kind in "iu":
        lo, hi = _INT_RANGE[npdt.char]
        if not lo <= y <= hi:
            return _wrap_scalar(y, npdt)
    return y


def _apply(op, x, y, **out):
    f = BINARY[op]
    if op not in _NOISY:
        return f(x, y, **out)
    chk = _CHECKS.get(op)
    if chk is not None:
        chk(x, y)
    with np.errstate(all="ignore"):
        return f(x, y, **out)


_HALF, _OPMATH = np.dtype(np.float16), {"mul", "div", "floor_divide"}


def _half_opmath(op, x, y):
    """float16 x times / over (floor_divide too) a Python number, as torch's cpu kernels: in float32 with the number
    unrounded (NumPy would round it to float16 first), the result rounded to float16."""
    with np.errstate(all="ignore"):
        return _arr(BINARY[op](x.astype(np.float32), np.float32(y)).astype(_HALF))


def binary_(op, x, y):
    """x = op(x, y) in place (the Tensor layer checked the result dtype fits x)."""
    if x.dtype is _HALF and op in _OPMATH and y.__class__ is not ndarray:
        x[...] = _half_opmath(op, x, y)
        return
    if y.__class__ is ndarray and y.dtype is x.dtype and x.dtype is not _BITS and op not in _NOISY:
        BINARY[op](x, y, out=x, casting="unsafe")  # the hot path (gradient accumulation, optimizer steps)
        return
    if x.dtype is _BITS or _bits(y):
        y = bf16.decode(y) if _bits(y) else y
        if x.dtype is _BITS:
            x[...] = bf16.encode(binary(op, bf16.decode(x), y, _F32))
            return
    _apply(op, x, _operand(y, x.dtype), out=x, casting="unsafe")


def where(cond, x, y, dt):
    if dt is _BF16 or _bits(x) or _bits(y):
        return _in_f32(where, cond, x, y, dt)
    if x.__class__ is ndarray and x.dtype != dt.np:
        x = x.astype(dt.np)
    if y.__class__ is ndarray and y.dtype != dt.np:
        y = y.astype(dt.np)
    return _arr(np.where(cond, x, y)).astype(dt.np, copy=False)


def clamp(x, lo, hi, dt):
    """min(max(x, lo), hi) with NaN kept; lo/hi are scalars, handles or None."""
    if dt is _BF16 or x.dtype is _BITS or _bits(lo) or _bits(hi):
        return _in_f32(clamp, x, lo, hi, dt)
    x = x.astype(dt.np, copy=False)
    r = x
    # PyTorch keeps x on a tie (clamp(-0, 0) is -0); NumPy's maximum/minimum return their second
    # operand on a tie in float32/64 and their first in float16 (the test checks both)
    first = x.dtype == np.float16
    if lo is not None:
        r = np.maximum(r, lo) if first else np.maximum(lo, r)
    if hi is not None:
        r = np.minimum(r, hi) if first else np.minimum(hi, r)
    return _arr(r).astype(dt.np, copy=False) if r is not x else r.copy()


# ---- reductions -----------------------------------------------------------------
def _mean(x, axis, keepdims, dtype):
    n = 1
    for a in (axis if axis is not None else range(x.ndim)):
        n *= x.shape[a]
    acc = np.float32 if dtype == np.float16 else dtype  # half accumulates in float32
    s = np.add.reduce(x, axis=axis, keepdims=keepdims, dtype=acc)
    with np.errstate(all="ignore"):
        return _arr(s / n if n else s * np.nan).astype(dtype, copy=False)


def _cast_reduce(uf):
    def run(x, axis, keepdims, dtype):
        return _arr(uf.reduce(x, axis=axis, keepdims=keepdims)).astype(dtype, copy=False)
    return run


def _typed_reduce(uf):
    def run(x, axis, keepdims, dtype):
        return _arr(uf.reduce(x, axis=axis, keepdims=keepdims, dtype=dtype))
    return run


REDUCE = {"sum": _typed_reduce(np.add), "prod": _typed_reduce(np.multiply), "mean": _mean,
          "amax": _cast_reduce(np.maximum), "amin": _cast_reduce(np.minimum),  # NaN-propagating
          "all": _cast_reduce(np.logical_and), "any": _cast_reduce(np.logical_or)}


def reduce(op, x, dims, keepdim, dt):
    """Reduce over the tuple of dims (already normalised) to dtype dt."""
    if dt is _BF16 or x.dtype is _BITS:
        return _in_f32(reduce, op, x, dims, keepdim, dt)
    return REDUCE[op](x, None if len(dims) == x.ndim and not keepdim else dims, keepdim, dt.np)


def argreduce(op, x, dim, keepdim):
    """argmax / argmin over one dim (None: the flattened tensor) as int64.
    NumPy's argmax returns the first NaN, which is PyTorch's rule too."""
    if x.dtype is _BITS:
        return _in_f32(argreduce, op, x, dim, keepdim)
    f = np.argmax if op == "argmax" else np.argmin
    r = f(x, axis=dim, keepdims=keepdim) if dim is not None else f(x.reshape(-1))
    if dim is None and keepdim:
        r = np.reshape(r, (1,) * x.ndim)
    return _arr(r).astype(np.int64, copy=False)


def scan(op, x, dim, dt):
    """Inclusive cumulative sum / product along dim."""
    if dt is _BF16 or x.dtype is _BITS:
        return _in_f32(scan, op, x, dim, dt)
    f = np.cumsum if op == "cumsum" else np.cumprod
    with np.errstate(all="ignore"):
        return f(x, axis=dim, dtype=dt.np)


# ---- linear algebra ----------------------------------------------------------------
_BLAS = (np.dtype(np.float32), np.dtype(np.float64))


def matmul(a, b):
    """Batched matmul of two handles with >= 2 dims; batch dims broadcast."""
    if b.ndim == 2 and a.dtype in _BLAS:
        if a.ndim == 2:  # the same BLAS call as np.matmul (bit for bit) without the gufunc set-up: 2x on tiny ones
            return a.dot(b)
        if a.flags.c_contiguous:  # (..., K) @ (K, N): the batch folded into rows, one GEMM (as torch's matmul
            rows = a.reshape(math.prod(a.shape[:-1]), a.shape[-1])  # folds it): 10-20% over a GEMM per batch
            return rows.dot(b).reshape(a.shape[:-1] + b.shape[1:])
    if a.dtype is _BITS:
        return _in_f32(matmul, a, b)
    return _arr(np.matmul(a, b))


# ---- indexing -------------------------------------------------------------------------
_GRIDS = {}


def _along(index, dim):
    """The fancy-index key that reads index's values along dim and its own position
    elsewhere (what take_along_axis builds; cached by shape: gather is on the hot path)."""
    key = (index.shape, dim)
    grid = _GRIDS.get(key)
    if grid is None:
        if len(_GRIDS) > 256:
            _GRIDS.clear()
        grid = _GRIDS[key] = np.indices(index.shape, sparse=True)
    return tuple([index if i == dim else g for i, g in enumerate(grid)])


def gather(x, dim, index):
    return x[_along(index, dim)]


def scatter_(x, dim, index, src, reduce):
    """x[index along dim] (=|+=|*=) src. reduce: None, 'add' or 'multiply'."""
    if x.dtype is _BITS and (reduce is not None or not _bits(src)):  # through float32
        f = bf16.decode(x)
        scatter_(f, dim, index, bf16.decode(src) if _bits(src) else src, reduce)
        x[...] = bf16.encode(f)
        return
    idx = _along(index, dim)
    if not isinstance(src, ndarray):
        src = np.full(index.shape, src, x.dtype)
    else:
        src = src[tuple(slice(0, s) for s in index.shape)]
    if reduce is None:
        x[idx] = src
    elif reduce == "add":
        np.add.at(x, idx, src)
    else:
        np.multiply.at(x, idx, src)


def index(x, key):
    """Advanced indexing: key is a tuple of slices, None, Ellipsis, int and
    int64 / bool handles, with NumPy's (= PyTorch's) placement rules."""
    return _arr(x[key])


def index_put_(x, key, values, accumulate):
    if x.dtype is _BITS and (accumulate or not _bits(values)):  # through float32
        f = bf16.decode(x)
        index_put_(f, key, bf16.decode(values) if _bits(values) else values, accumulate)
        x[...] = bf16.encode(f)
        return
    if accumulate:
        if not _add_rows(x, key, values):
            np.add.at(x, key, values)
    else:
        x[key] = values


def _add_rows(x, key, values):
    """x[idx] += values for one 1-D index over x's rows (an embedding's backward), repeats summed:
    rows sorted by index and summed per index with reduceat (2-5x faster than np.add.at, which
    goes element by element). False where the key or the shapes are anything else."""
    if len(key) != 1 or not isinstance(key[0], ndarray) or key[0].ndim != 1 or key[0].dtype.kind not in "iu" \
            or x.ndim < 2 or not isinstance(values, ndarray) or values.shape != key[0].shape + x.shape[1:] \
            or values.dtype != x.dtype or key[0].size == 0:
        return False
    idx = key[0]
    if idx.dtype.kind == "i" and idx.min() < 0:
        idx = np.where(idx < 0, idx + x.shape[0], idx)
    order = np.argsort(idx, kind="stable")  # (repeats keep their order)
    rows = idx[order]
    starts = np.flatnonzero(np.concatenate(([True], rows[1:] != rows[:-1])))
    x[rows[starts]] += np.add.reduceat(values[order], starts, axis=0)
    return True


def nonzero(x):
    if x.dtype is _BITS:  # -0.0 is zero
        x = bf16.decode(x)
    return np.stack(np.nonzero(x), axis=1).astype(np.int64) if x.ndim else \
        np.zeros((int(bool(x)), 0), np.int64)


def sort(x, dim, descending, stable=True):
    """Sorted values and int64 indices. NaN sorts as the largest value."""
    if x.dtype is _BITS:
        return _in_f32(sort, x, dim, descending, stable)
    if descending:
        # stable descending order: sort the reversed array ascending and map back
        flipped = np.flip(x, axis=dim)
        idx = np.argsort(flipped, axis=dim, kind="stable")
        idx = np.flip(idx, axis=dim)
        idx = x.shape[dim] - 1 - idx
    else:
        idx = np.argsort(x, axis=dim, kind="stable")
    return np.take_along_axis(x, idx, axis=dim), idx.astype(np.int64)


def unique(x, dim=None, consecutive=False):
    """Unique values (dim None: of the flattened x) or slices along dim, sorted lexicographically
    (consecutive: runs of equal neighbours, unsorted), with int64 inverse (n,) and counts.
    Unlike np.unique, NaNs stay distinct, as in PyTorch."""
    if x.dtype is _BITS:
        v, inverse, counts = unique(bf16.decode(x), dim, consecutive)
        return bf16.encode(v), inverse, counts
    a = x.reshape(-1) if dim is None else np.moveaxis(x, dim, 0)
    n = a.shape[0]
    rows = a.reshape(n, math.prod(a.shape[1:]))
    if consecutive:
        order = np.arange(n)
    elif rows.shape[1] == 1:
        order = np.argsort(rows[:, 0], kind="stable")
    else:  # lexsort's last key is the primary one
        order = np.lexsort(rows.T[::-1])
    s = rows[order]
    new = np.ones(n, bool)
    new[1:] = (s[1:] != s[:-1]).any(axis=1)
    inverse = np.empty(n, np.int64)
    inverse[order] = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, n)).astype(np.int64)
    vals = a[order[starts]]
    return (vals if dim is None else np.ascontiguousarray(np.moveaxis(vals, 0, dim))), inverse, counts


# ---- the negative log-likelihood of class indices (cross-entropy's second half) ---------------
def nll_loss(logp, target, ignore_index, reduction):
    """-logp[i, target[i]] for logp (N, C), 0 where target is ignore_index: per row ('none'),
    summed, or averaged over the rows not ignored. Returns (loss, that count or None)."""
    if logp.dtype is _BITS:
        return _in_f32(nll_loss, logp, target, ignore_index, reduction)
    valid = target != ignore_index
    rows = -logp[_along(np.where(valid, target, 0)[:, None], 1)][:, 0] * valid
    if reduction == "none":
        return rows, None
    total = np.add.reduce(rows, keepdims=False)
    if reduction == "sum":
        return _arr(total), None
    den = np.asarray(np.count_nonzero(valid), dtype=logp.dtype)
    if den:  # (no warning to silence: np.errstate costs microseconds per training step)
        return _arr(total / den), den
    with np.errstate(invalid="ignore"):  # every row ignored: nan, as PyTorch
        return _arr(total / den), den


def nll_loss_grad(g, target, ignore_index, den, shape, reduction):
    """d nll_loss / d logp: -g (/ den for the mean) at [i, target[i]] of the rows not ignored."""
    if g.dtype is _BITS:
        return _in_f32(nll_loss_grad, g, target, ignore_index, den, shape, reduction)
    valid = target != ignore_index
    w = -(g / den if reduction == "mean" else g) * valid
    out = np.zeros(shape, g.dtype)
    out[_along(np.where(valid, target, 0)[:, None], 1)] = w[:, None]
    return out


# ---- fused optimizer steps: PyTorch's single-tensor formulas, in place --------------------
def sgd_(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, maximize, first):
    if maximize:
        g = -g
    if weight_decay != 0:
        g = g + weight_decay * p
    if momentum != 0:
        if first:
            np.copyto(buf, g)
        else:
            buf *= momentum
            buf += (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    p -= lr * g


def rmsprop_(p, g, square_avg, grad_avg, buf, lr, alpha, eps, weight_decay, momentum, maximize):
    if maximize:
        g = -g
    if weight_decay != 0:
        g = g + weight_decay * p
    square_avg *= alpha
    square_avg += g * g * (1 - alpha)
    if grad_avg is not None:  # centered
        grad_avg += (1 - alpha) * (g - grad_avg)
        avg = np.sqrt(square_avg - grad_avg * grad_avg) + eps
    else:
        avg = np.sqrt(square_avg) + eps
    if momentum > 0:
        buf *= momentum
        buf += g / avg
        p -= lr * buf
    else:
        p -= lr * (g / avg)


def adagrad_(p, g, state_sum, clr, eps, weight_decay, maximize):
    if maximize:
        g = -g
    if weight_decay != 0:
        g = g + weight_decay * p
    state_sum += g * g
    p -= clr * (g / (np.sqrt(state_sum) + eps))


def adam_(p, g, m, v, vmax, lr, beta1, beta2, eps, weight_decay, decoupled, maximize, step):
    if maximize:
        g = -g
    if weight_decay != 0:
        if decoupled:
            p *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * p
    t = _arr(g - m)  # one scratch buffer for every step below (PyTorch's order of roundings)
    t *= 1 - beta1
    m += t  # lerp(m, g, 1 - beta1)
    v *= beta2
    np.multiply(g, 1 - beta2, out=t)
    t *= g
    v += t
    if vmax is not None:
        np.maximum(vmax, v, out=vmax)
        v = vmax
    np.sqrt(v, out=t)
    t /= (1 - beta2 ** step) ** 0.5
    t += eps
    np.divide(m, t, out=t)
    t *= lr / (1 - beta1 ** step)
    p -= t


# ---- random numbers: PyTorch's Mersenne Twister stream (random.Generator) --------------------
def _fma(x, y, z):
    """x * y + z rounded once (float64 arrays), from error-free transformations:
    Dekker's exact product and Knuth's exact sum."""
    def split(v):
        c = v * 134217729.0  # 2**27 + 1
        hi = c - (c - v)
        return hi, v - hi
    p = x * y
    (xh, xl), (yh, yl) = split(x), split(y)
    e = ((xh * yh - p) + xh * yl + xl * yh) + xl * yl  # p + e == x * y
    s = p + z
    t = s - p
    return s + (e + ((p - (s - t)) + (z - t)))  # s + ... == p + z


def random(kind, shape, dt, gen, a, b):
    """uniform [a, b), normal (mean a, std b), integers [a, b) ("randint") or random_()'s integers [0, b)
    ("random"), drawn as PyTorch's cpu draws them."""
    if dt is _BF16:
        return _in_f32(random, kind, shape, dt, gen, a, b)
    n = math.prod(shape)
    if kind == "uniform":
        if (a, b) == (0.0, 1.0):  # rand(): the unit draw itself
            vals = gen.uniform(n, dt.np)
        elif dt.np == np.float64:  # PyTorch's kernel compiles u * (b - a) + a to one fused multiply-add
            u = gen.uniform(n, np.float64)
            vals = _fma(u, np.full_like(u, b - a), np.full_like(u, a))
        else:  # uniform_(a, b) as PyTorch: u * (float32(b) - float32(a)) + float32(a) in double, then rounded
            span, lo = float(np.float32(b) - np.float32(a)), float(np.float32(a))
            vals = gen.uniform(n, np.float32).astype(np.float64) * span + lo
    elif kind == "normal":
        vals = gen.normal(n, dt.np, a, b)
    elif b - a >= 1 << 64:  # torch's full 64-bit range: the bits as int64, no offset
        vals = gen.random_below(n, b - a)
    else:  # "randint": random_(from, to); "random": random_(), [0, b) with 64 bits only for int64/float64
        wide_from = 1 << 28 if kind == "randint" else 1 << 32
        bits = gen.random_below(n, b - a, wide_from).view(np.uint64)
        vals = (bits + np.uint64(a & 0xFFFFFFFFFFFFFFFF)).view(np.int64)  # torch's uint64 (bits % range) + from
    return vals.astype(dt.np, copy=False).reshape(shape)


# ---- fused kernels (speed: one pass instead of a composite) ---------------------------
def softmax(x, dim):
    if x.dtype is _BITS:
        return _in_f32(softmax, x, dim)
    if x.size == 0:  # (np.max has no identity for an empty row)
        return _arr(x.copy())
    m = np.maximum.reduce(x, axis=dim, keepdims=True)  # (the ufuncs' own reduce: np.max's wrapper costs µs)
    with np.errstate(invalid="ignore", over="ignore"):
        e = _arr(x - m)  # then in place: one buffer, not three, passes over memory
        np.exp(e, out=e)
        e /= np.add.reduce(e, axis=dim, keepdims=True)
        return _arr(e)


def softmax_grad(y, g, dim):
    """The gradient of softmax's input, from its output y and output gradient g."""
    if y.dtype is _BITS:
        return _in_f32(softmax_grad, y, g, dim)
    t = _arr(g * y)  # y (g - sum(g y)), on one buffer
    np.subtract(g, np.add.reduce(t, axis=dim, keepdims=True), out=t)
    t *= y
    return _arr(t)


def log_softmax_grad(y, g, dim):
    if y.dtype is _BITS:
        return _in_f32(log_softmax_grad, y, g, dim)
    with np.errstate(over="ignore", invalid="ignore"):
        return _arr(g - np.exp(y) * np.add.reduce(g, axis=dim, keepdims=True))


def log_softmax(x, dim):
    if x.dtype is _BITS:
        return _in_f32(log_softmax, x, dim)
    if x.size == 0:
        return _arr(x.copy())
    m = np.maximum.reduce(x, axis=dim, keepdims=True)  # (as in softmax)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        s = x - m
        return _arr(s - np.log(np.add.reduce(np.exp(s), axis=dim, keepdims=True)))


def layer_norm(x, w, b, eps):
    """Layer norm of the rows of a contiguous (M, D) x: returns y and the rows' float32 mean
    and rstd (kept for backward). Half types compute in float32. Row sums are matrix-vector
    products (BLAS, one pass each)."""
    if x.dtype is _BITS or x.dtype == np.float16:
        y, mean, rstd = layer_norm(*(None if a is None else _f32(a) for a in (x, w, b)), eps)
        return (bf16.encode(y) if x.dtype is _BITS else y.astype(np.float16)), mean, rstd
    n = x.shape[1]
    inv = np.full(n, 1.0 / n, x.dtype)
    mean = x @ inv
    y = x - mean[:, None]
    rstd = 1.0 / np.sqrt((y * y) @ inv + x.dtype.type(eps))
    y *= rstd[:, None]
    if w is not None:
        y *= w
    if b is not None:
        y += b
    return y, mean, rstd


def layer_norm_grad(g, x, mean, rstd, w, needs):
    """(gx, gw, gb) of layer_norm from the output gradient g; None where not needed."""
    if x.dtype is _BITS or x.dtype == np.float16:
        r = layer_norm_grad(_f32(g), _f32(x), mean, rstd, None if w is None else _f32(w), needs)
        back = bf16.encode if x.dtype is _BITS else (lambda a: a.astype(np.float16))
        return tuple(None if a is None else back(a) for a in r)
    m, n = x.shape
    xhat = (x - mean[:, None]) * rstd[:, None]
    ones = np.ones(m, x.dtype)
    gw = ones @ (g * xhat) if needs[1] else None
    gb = ones @ g if needs[2] else None
    gx = None
    if needs[0]:
        gxh = g * w if w is not None else g
        inv = np.full(n, 1.0 / n, x.dtype)
        # dx = rstd (gxh - mean(gxh) - xhat mean(gxh xhat))
        c = (gxh * xhat) @ inv
        xhat *= c[:, None]
        gx = gxh - (gxh @ inv)[:, None]
        gx -= xhat
        gx *= rstd[:, None]
    return gx, gw, gb


def attention(q, k, v, bias, causal, scale):
    """softmax(q k^T * scale + bias, causal: keys after the query masked) @ v over (B, L, E)
    queries, (B, S, E) keys, (B, S, Ev) values."""
    if q.dtype is _BITS or q.dtype == np.float16:
        r = attention(_f32(q), _f32(k), _f32(v), None if bias is None else _f32(bias), causal, scale)
        return bf16.encode(r) if q.dtype is _BITS else r.astype(np.float16)
    s = np.matmul(q, k.transpose(0, 2, 1))
    s *= q.dtype.type(scale)
    if bias is not None:
        s += bias
    if causal:
        s[:, np.triu(np.ones(s.shape[1:], bool), 1)] = -np.inf
    w = softmax(s, 2)
    if bias is not None:  # a row with every key masked attends to nothing (torch: 0, not NaN)
        w[np.all(s == -np.inf, axis=2)] = 0
    return _arr(np.matmul(w, v))


# ---- cpu-only fused convolution, max pooling and batch norm ------------------------------------
# Not primitives: nn/_conv.py and nn/_norm.py call these for float tensors on the cpu (fewer passes
# and temporaries than their compositions); other devices, and double backward, use the compositions.
def _taps(a, k, s, d, out):
    """The windows of a (N, C, Hp, Wp) array as a (kh, kw, N, C, OH, OW) view, no copy: [i, j] is
    kernel tap (i, j) of every window (stride s, dilation d)."""
    sn, sc, sh, sw = a.strides
    return np.lib.stride_tricks.as_strided(a, tuple(k) + a.shape[:2] + tuple(out),
                                           (d[0] * sh, d[1] * sw, sn, sc, s[0] * sh, s[1] * sw))


def _padded(x, pad, size, value, rows=0):
    """x (N, C, H, W) placed at (top, left) = pad in a (N, C, Hp + rows, Wp) array of value, (Hp, Wp) = size;
    x itself when that adds nothing."""
    (pt, pl), (Hp, Wp) = pad, size
    if not rows and (Hp, Wp) == x.shape[2:]:
        return x
    xp = np.full(x.shape[:2] + (Hp + rows, Wp), value, x.dtype)
    xp[:, :, pt:pt + x.shape[2], pl:pl + x.shape[3]] = x
    return xp


def _cropped(z, pad, hw):
    (pt, pl), (H, W) = pad, hw
    return z if z.shape[2:] == (H, W) else np.ascontiguousarray(z[:, :, pt:pt + H, pl:pl + W])


def _conv_width(size, s, out):
    """Columns computed per output row. With stride 1, the padded width Wp: each row's last Wp - OW
    columns are garbage (dropped; their gradient is 0), but every kernel tap of the windows is then one
    contiguous run per image and channel, so im2col and col2im move long rows. Used while the garbage
    stays small."""
    Wp, OW = size[1], out[1]
    return Wp if tuple(s) == (1, 1) and 4 * (Wp - OW) <= OW else OW


def conv2d(x, w, b, pad, size, s, d, out, keep):
    """x (N, C, H, W) convolved with w (O, C, kh, kw), plus b (O,) unless None: padded with zeros at
    (top, left) = pad to size (Hp, Wp), stride s, dilation d, output size out (OH, OW). The windows are
    copied once into cols (kh*kw*C, N*OH*V) (V: _conv_width) and multiplied by the weights in one matmul.
    Returns y (N, O, OH, OW) and cols (for conv2d_grad; None unless keep)."""
    (N, C), (O, _, kh, kw) = x.shape[:2], w.shape
    OH, V = out[0], _conv_width(size, s, out)
    xp = _padded(x, pad, size, 0, rows=int(V != out[1]))  # (garbage columns run one row past the image)
    cols = np.ascontiguousarray(_taps(xp, (kh, kw), s, d, (OH, V)).transpose(0, 1, 3, 2, 4, 5))
    cols = cols.reshape(kh * kw * C, N * OH * V)
    y = (w.transpose(0, 2, 3, 1).reshape(O, kh * kw * C) @ cols).reshape(O, N, OH, V)[..., :out[1]]
    r = np.empty((N, O) + tuple(out), x.dtype)
    if b is None:
        np.copyto(r, y.transpose(1, 0, 2, 3))
    else:  # the bias added while the (O, N) result is copied to (N, O)
        np.add(y.transpose(1, 0, 2, 3), b[:, None, None], out=r)
    return r, (cols if keep else None)


def conv2d_grad(g, cols, w, hw, pad, size, s, d, needs):
    """(gx, gw, gb) of conv2d from the output gradient g (N, O, OH, OW) and conv2d's cols; None where
    needs says no. One matmul each for gw and the windows' gradient, which col2im adds back into the
    image tap by tap (kh*kw strided adds of whole planes)."""
    N, O, OH, OW = g.shape
    k, V = w.shape[2:], _conv_width(size, s, (OH, OW))
    gt = np.zeros((O, N, OH, V), g.dtype) if V != OW else np.empty((O, N, OH, V), g.dtype)
    gt[..., :OW] = g.transpose(1, 0, 2, 3)
    gt = gt.reshape(O, N * OH * V)
    gb = gt @ np.ones(gt.shape[1], g.dtype) if needs[2] else None
    C = w.shape[1]
    gw = None
    if needs[1]:
        gw = np.ascontiguousarray((gt @ cols.T).reshape(O, k[0], k[1], C).transpose(0, 3, 1, 2))
    gx = None
    if needs[0]:
        gcols = (w.transpose(0, 2, 3, 1).reshape(O, k[0] * k[1] * C).T @ gt).reshape(k[0], k[1], C, N, OH, V)
        z = np.zeros((N, C, size[0] + int(V != OW), size[1]), g.dtype)
        zt = _taps(z, k, s, d, (OH, V))
        for i in range(k[0]):
            for j in range(k[1]):
                t = zt[i, j].transpose(1, 0, 2, 3)
                t += gcols[i, j]
        gx = _cropped(z, pad, hw)
    return gx, gw, gb


def max_pool2d(x, pad, size, k, s, d, out, first_inside):
    """Max pooling of x (N, C, H, W) padded with -inf at (top, left) = pad to size (Hp, Wp): the maxima
    (N, C, OH, OW) and, as uint8, each window's tap of its first maximum, as torch's: of its last NaN (NaN
    is the maximum); for a window of -infs, first_inside()[oh, ow], its first tap in the image. The
    windows are strided views, reduced tap by tap."""
    taps = _taps(_padded(x, pad, size, -np.inf), k, s, d, out)
    taps = [taps[i, j] for i in range(k[0]) for j in range(k[1])]  # (fewer than 256)
    y = np.maximum(taps[0], taps[1]) if len(taps) > 1 else taps[0].copy()
    for t in taps[2:]:
        np.maximum(y, t, out=y)
    pos = _first_tap(taps, lambda t: t != y)
    ninf = y == -np.inf
    if ninf.any():
        np.copyto(pos, np.broadcast_to(first_inside(), pos.shape), where=ninf, casting="unsafe")
    nan = np.isnan(y)
    if nan.any():
        last = _first_tap(taps[::-1], lambda t: ~np.isnan(t))
        np.copyto(pos, len(taps) - 1 - last, where=nan, casting="unsafe")
    return y, pos


def _first_tap(taps, differs):
    """Per window, the first tap t where differs(taps[t]) is False (the last tap if none), as the count of
    the taps before it (bool ops and adds: many times faster than masked stores)."""
    pos = np.zeros(taps[0].shape, np.uint8)
    before = np.ones(taps[0].shape, bool)
    for t in taps[:-1]:
        before &= differs(t)
        pos += before
    return pos


def max_pool2d_grad(g, pos, hw, pad, size, k, s, d):
    """max_pool2d's input gradient (N, C, H, W): g (N, C, OH, OW) sent to each window's tap pos, summed
    where windows overlap."""
    z = np.zeros(g.shape[:2] + tuple(size), g.dtype)
    taps = _taps(z, k, s, d, g.shape[2:])
    finite = np.isfinite(g).all()  # then g * hit is where(hit, g, 0), and many times faster
    disjoint = all((k[a] - 1) * d[a] < s[a] for a in (0, 1))  # no two taps share an input element
    for i in range(k[0]):
        for j in range(k[1]):
            hit = pos == i * k[1] + j
            t = taps[i, j]
            if finite and disjoint:
                np.multiply(g, hit, out=t)
            elif finite:
                t += g * hit
            else:
                with np.errstate(invalid="ignore"):  # inf + -inf on a shared maximum: NaN, as torch, silently
                    t += np.where(hit, g, 0)
    return _cropped(z, pad, hw)


def _channel_sums(a, b=None):
    """The sums of a (N, C, L) (times b, of a's shape) over N and L, per channel: BLAS row sums (or row dot
    products), one pass."""
    N, C, L = a.shape
    rows = a.reshape(N * C, L)
    r = rows @ np.ones(L, a.dtype) if b is None else np.matmul(rows[:, None, :], b.reshape(N * C, L, 1))
    return r.reshape(N, C).sum(0)


def batch_norm(x, w, b, eps):
    """Batch norm of x (N, C, L) with its own statistics (training): (x - mean) rstd w + b per channel,
    w and b (C,) or None. Returns y and the channels' mean and rstd."""
    m = x.shape[0] * x.shape[2]
    mean = _channel_sums(x) / m
    y = x - mean[:, None]
    rstd = 1 / np.sqrt(_channel_sums(y, y) / m + eps)
    y *= (rstd if w is None else rstd * w)[:, None]
    if b is not None:
        y += b[:, None]
    return y, mean, rstd


def batch_norm_grad(g, x, mean, rstd, w, needs):
    """(gx, gw, gb) of batch_norm from the output gradient g (N, C, L); None where needs says no."""
    m = x.shape[0] * x.shape[2]
    gsum = _channel_sums(g)
    xc = x - mean[:, None]
    dot = _channel_sums(g, xc)  # sum of g (x - mean)
    gx = None
    if needs[0]:  # rstd w (g - mean(g) - (x - mean) rstd^2 mean(g (x - mean))), in place on x - mean
        xc *= (-(dot / m) * rstd * rstd)[:, None]
        xc += g
        xc -= (gsum / m)[:, None]
        xc *= (rstd if w is None else rstd * w)[:, None]
        gx = xc
    return gx, (dot * rstd if needs[1] else None), (gsum if needs[2] else None)
