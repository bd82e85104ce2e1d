"""Elementwise ops: unary math, binary arithmetic with broadcasting and
PyTorch's type promotion, comparisons, where, clamp, and their backwards."""
import math

from .. import dtypes
from ..amp import autocast_mode as _amp
from ..autograd import grad_mode
from .core import (Node, Tensor, _make, attach, check_same_device, check_scalar, device_mismatch,
                   inplace, operand, prio, result_dtype, sum_to)

_rt = dtypes.result_type
_sdt = dtypes.scalar_dtype
_bool = dtypes.bool_


# ---- unary ------------------------------------------------------------------------
class UnaryBackward(Node):
    """Backward of y = f(x): grad * f'(x), with f' from the table below."""

    def __init__(self, x, y):
        self.save(x, y)

    def backward(self, g):
        x, y = self.saved_tensors
        return self.deriv(x, y, g)


def _gelu_grad(x, y, g):
    """GELU's backward: one fused op (given the forward's output too), or the composite
    when building a graph (create_graph)."""
    if grad_mode.enabled or g._dtype is not x._dtype:
        return g * (0.5 * (1 + (x * (1 / math.sqrt(2))).erf()) + x * (x * x * -0.5).exp() / math.sqrt(2 * math.pi))
    return _make(x._be.gelu_grad(g._data, x._data, y._data, x._dtype), x._dtype, x._be)


def _relu_grad(y, g):
    """g where relu's output y > 0 (and where y is NaN), else 0: one fused op (PyTorch's
    threshold_backward); recorded as a composite when building a graph (create_graph)."""
    if grad_mode.enabled or g._dtype is not y._dtype:
        return where(y <= 0, 0.0, g)
    return _make(y._be.binary("relu_grad", g._data, y._data, y._dtype), y._dtype, y._be)


# name -> (grad_fn name, derivative(x, y, g) or None for non-differentiable, float result?)
_UNARY = {
    "neg": ("NegBackward0", lambda x, y, g: -g, False),
    "abs": ("AbsBackward0", lambda x, y, g: g * x.sign(), False),
    "exp": ("ExpBackward0", lambda x, y, g: g * y, True),
    "exp2": ("Exp2Backward0", lambda x, y, g: g * y * math.log(2.0), True),
    "log": ("LogBackward0", lambda x, y, g: g / x, True),
    "log2": ("Log2Backward0", lambda x, y, g: g / (x * math.log(2.0)), True),
    "log10": ("Log10Backward0", lambda x, y, g: g / (x * math.log(10.0)), True),
    "log1p": ("Log1PBackward0", lambda x, y, g: g / (x + 1), True),
    "expm1": ("Expm1Backward0", lambda x, y, g: g * (y + 1), True),
    "sqrt": ("SqrtBackward0", lambda x, y, g: g / (2 * y), True),
    "rsqrt": ("RsqrtBackward0", lambda x, y, g: g * -0.5 * y * y * y, True),
    "sin": ("SinBackward0", lambda x, y, g: g * x.cos(), True),
    "cos": ("CosBackward0", lambda x, y, g: g * -x.sin(), True),
    "tan": ("TanBackward0", lambda x, y, g: g * (1 + y * y), True),
    "tanh": ("TanhBackward0", lambda x, y, g: g * (1 - y * y), True),
    "asin": ("AsinBackward0", lambda x, y, g: g * (1 - x * x).rsqrt(), True),
    "acos": ("AcosBackward0", lambda x, y, g: -g * (1 - x * x).rsqrt(), True),
    "atan": ("AtanBackward0", lambda x, y, g: g / (1 + x * x), True),
    "sinh": ("SinhBackward0", lambda x, y, g: g * x.cosh(), True),
    "cosh": ("CoshBackward0", lambda x, y, g: g * x.sinh(), True),
    "asinh": ("AsinhBackward0", lambda x, y, g: g * (x * x + 1).rsqrt(), True),
    "acosh": ("AcoshBackward0", lambda x, y, g: g * (x * x - 1).rsqrt(), True),
    "atanh": ("AtanhBackward0", lambda x, y, g: g / (1 - x * x), True),
    "sigmoid": ("SigmoidBackward0", lambda x, y, g: g * y * (1 - y), True),
    "relu": ("ReluBackward0", lambda x, y, g: _relu_grad(y, g), False),
    "erf": ("ErfBackward0", lambda x, y, g: g * (2 / math.sqrt(math.pi)) * (-x * x).exp(), True),
    "erfinv": ("ErfinvBackward0", lambda x, y, g: g * (math.sqrt(math.pi) / 2) * (y * y).exp(), True),
    "gelu": ("GeluBackward0", lambda x, y, g: _gelu_grad(x, y, g), True),
    "reciprocal": ("ReciprocalBackward0", lambda x, y, g: -g * y * y, True),
    "square": ("PowBackward0", lambda x, y, g: g * 2 * x, False),
    "floor": ("FloorBackward0", lambda x, y, g: g * 0, False),
    "ceil": ("CeilBackward0", lambda x, y, g: g * 0, False),
    "round": ("RoundBackward0", lambda x, y, g: g * 0, False),
    "trunc": ("TruncBackward0", lambda x, y, g: g * 0, False),
    "sign": ("SignBackward0", lambda x, y, g: g * 0, False),
}
_UNARY_NODES = {k: type(v[0], (UnaryBackward,), {"deriv": staticmethod(v[1])}) for k, v in _UNARY.items()}
_UNARY_FLOAT = {k for k, v in _UNARY.items() if v[2]}
_INT_NOOP = {"floor", "ceil", "round", "trunc"}  # identity on integers


def unary(op, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument 'input' (position 1) must be Tensor, not {type(x).__name__}")
    if _amp.active:
        x = _amp.cast(op, x)[0]
    dt = x._dtype
    if op in _UNARY_FLOAT:
        if not dt.is_floating_point:
            dt = dtypes.get_default_dtype()
    elif dt is _bool and op in ("neg", "abs", "square", "floor", "ceil", "round", "trunc", "relu"):
        if op in ("abs", "floor", "ceil", "round", "trunc"):  # PyTorch has no bool kernels for these
            raise NotImplementedError(f'"{op}_{"cpu" if op == "abs" else "vml_cpu"}" not implemented for \'Bool\'')
        if op == "relu":
            raise RuntimeError("Boolean inputs not supported for relu")
        if op == "neg":
            raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If you are "
                               "trying to invert a mask, use the `~` or `logical_not()` operator instead.")
        dt = dtypes.int64 if op == "square" else dt
    if op in _INT_NOOP and not dt.is_floating_point:
        out = _make(x._be.clone(x._data), dt, x._be)
    else:
        out = _make(x._be.unary(op, x._data, dt), dt, x._be)
    if grad_mode.enabled and x._rg:
        attach(_UNARY_NODES[op](x, out), (x,), (out,))
    return out


def unary_(op, x):
    """In-place unary op; the result dtype must fit x's."""
    if op in _UNARY_FLOAT and not x._dtype.is_floating_point:
        raise RuntimeError(f"result type Float can't be cast to the desired output type {_TNAME[x._dtype]}")
    return inplace(x, lambda a: unary(op, a),
                   lambda: x._be.copy_(x._data, x._be.unary(op, x._data, x._dtype)))


def predicate(op, x):
    """isnan / isinf / isfinite / signbit / logical_not: a bool result, no gradient."""
    return _make(x._be.unary_pred(op, x._data), dtypes.bool_, x._be)


_TNAME = {d: d.name.capitalize().replace("Float32", "Float").replace("Int64", "Long") for d in dtypes.ALL}
_TNAME.update({dtypes.float32: "Float", dtypes.float64: "Double", dtypes.float16: "Half",
               dtypes.int64: "Long", dtypes.int32: "Int", dtypes.int16: "Short", dtypes.int8: "Char",
               dtypes.uint8: "Byte", dtypes.bool_: "Bool", dtypes.bfloat16: "BFloat16"})


# ---- binary ------------------------------------------------------------------------
class AddBackward0(Node):
    def __init__(self, a, b, alpha):
        self.ashape, self.bshape, self.alpha = a._data.shape, b._data.shape if isinstance(b, Tensor) else None, alpha

    def backward(self, g):
        gb = None
        if self.bshape is not None:
            gb = sum_to(g if self.alpha == 1 else g * self.alpha, self.bshape)
        return sum_to(g, self.ashape), gb


class SubBackward0(AddBackward0):
    def backward(self, g):
        gb = None
        if self.bshape is not None:
            gb = sum_to(-g if self.alpha == 1 else g * -self.alpha, self.bshape)
        return sum_to(g, self.ashape), gb


class RsubBackward1(Node):  # scalar - x
    def __init__(self, alpha):
        self.alpha = alpha

    def backward(self, g):
        return -g if self.alpha == 1 else g * -self.alpha


class MulBackward0(Node):
    def __init__(self, a, b, scalar):  # b: a Tensor, or None with the Python scalar
        self.save(a, b)
        self.scalar = scalar

    def backward(self, g):
        a, b = self.saved_tensors
        if b is None:
            return g * self.scalar, None
        return (sum_to(g * b, a._data.shape) if a._rg else None,
                sum_to(g * a, b._data.shape) if b._rg else None)


class DivBackward0(Node):
    __init__ = MulBackward0.__init__

    def backward(self, g):
        a, b = self.saved_tensors
        if b is None:
            return g / self.scalar, None
        ga = sum_to(g / b, a.shape) if a._rg else None
        gb = sum_to(-g * a / (b * b), b.shape) if b._rg else None
        return ga, gb


class PowBackward0(Node):  # x ** scalar
    def backward(self, g):
        (a,) = self.saved_tensors
        e = self.e
        if e == 0:
            return g * 0
        return g * e * a ** (e - 1)


class PowBackward1(Node):  # x ** tensor
    def backward(self, g):
        a, b, out = self.saved_tensors
        ga = sum_to(g * b * a ** (b - 1), a.shape) if a._rg else None
        gb = None
        if b._rg:
            # d/db a**b = a**b * log(a), taken as 0 where a == 0 and b >= 0 (PyTorch's rule)
            la = where(a == 0, 0.0, a.log() if a.dtype.is_floating_point else a.float().log())
            gb = sum_to(g * out * la, b.shape)
        return ga, gb


class PowBackward2(Node):  # scalar ** x
    def backward(self, g):
        (out,) = self.saved_tensors
        return g * out * math.log(self.base) if self.base > 0 else g * 0


class MaximumBackward0(Node):
    def backward(self, g):
        a, b = self.saved_tensors
        return self.grads(g, a, b, a < b, a > b)

    def grads(self, g, a, b, a_loses, b_loses):
        """As torch: ties share g equally, a loser gets 0 (selected: g * 0 would be NaN for an
        infinite g), and a NaN operand passes g."""
        tie = where(a == b, g / 2, g)
        return (sum_to(where(a_loses, 0.0, tie), a.shape) if a._rg else None,
                sum_to(where(b_loses, 0.0, tie), b.shape) if b._rg else None)


class MinimumBackward0(MaximumBackward0):
    def backward(self, g):
        a, b = self.saved_tensors
        return self.grads(g, a, b, a > b, a < b)


class Atan2Backward0(Node):
    def backward(self, g):
        a, b = self.saved_tensors
        d = a * a + b * b
        return (sum_to(g * b / d, a.shape) if a._rg else None,
                sum_to(-g * a / d, b.shape) if b._rg else None)


class RemainderBackward0(Node):
    def __init__(self, a, b):
        super().__init__()
        self.ashape = a.shape
        self.save(a, b if isinstance(b, Tensor) else None)

    def backward(self, g):
        a, b = self.saved_tensors
        gb = None
        if b is not None and b._rg:
            gb = sum_to(-g * (a / b).floor(), b.shape)
        return sum_to(g, self.ashape), gb


_CMP = {"eq", "ne", "lt", "le", "gt", "ge"}
_LOGICAL = {"logical_and", "logical_or", "logical_xor"}
_BITWISE = {"bitwise_and", "bitwise_or", "bitwise_xor"}


_SPECIAL = _CMP | _LOGICAL | _BITWISE | {"div", "sub", "floor_divide", "remainder", "pow"}
_float32 = dtypes.float32


_HALF = (dtypes.float16, dtypes.bfloat16)
_OPMATH_SCALAR = {"mul", "div", "floor_divide"}  # (see half_scalar)


def half_scalar(op, v, dt):
    """A Python number b of op(a 16-bit float tensor, b) as torch's cpu kernels use it: rounded to the
    tensor's dtype, except by mul and the divisions, which read it unrounded in float32 (so do the
    backends)."""
    if op in _OPMATH_SCALAR or v.__class__ is bool:
        return v
    return dtypes.to_half(v, dt)


def binary(op, a, b):
    """op(a, b) for a Tensor a and a Tensor or Python scalar b, no autograd."""
    adt = a._dtype
    if isinstance(b, Tensor):
        if b._be is not a._be:
            device_mismatch(a, b)
        bdt = b._dtype
        dt = adt if adt is bdt else _rt(adt, 2 if a._data.ndim else 1, bdt, 2 if b._data.ndim else 1)
        bd = b._data
    elif b.__class__ is float and adt.kind == 2:
        dt, bd = adt, b  # float tensor with a Python float keeps its dtype
        if adt.itemsize == 2:
            bd = half_scalar(op, b, adt)
    else:
        check_scalar(b, op)
        dt = _rt(adt, 2 if a._data.ndim else 1, _sdt(b), 0)
        bd = half_scalar(op, b, dt) if dt in _HALF else b
    if op in _SPECIAL or dt is _bool:
        return _binary_special(op, a, b, bd, dt)
    try:  # (_call inlined: the per-op hot path)
        return _make(a._be.binary(op, a._data, bd, dt), dt, a._be)
    except ValueError as e:
        failed = e
    _shape_error(a, b, failed)


def _binary_special(op, a, b, bd, dt):
    if op in _CMP or op in _LOGICAL:
        if op in _LOGICAL:
            dt = dtypes.bool_
        return _make(_call(a, op, bd, dt, b), dtypes.bool_, a._be)
    if op == "div" and not dt.is_floating_point:
        dt = dtypes.get_default_dtype()
    elif op in _BITWISE and dt.is_floating_point:
        raise NotImplementedError(f'"{op}_cpu" not implemented for \'{_TNAME[dt]}\'')
    elif dt is dtypes.bool_ and op in ("sub", "floor_divide", "remainder", "fmod", "pow"):
        if op == "sub":
            raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. Use "
                               "the `^` or `logical_xor()` operator instead.")
        # PyTorch has no bool kernels for these
        kernel = {"floor_divide": "div_floor_cpu", "pow": "pow"}.get(op, op + "_cpu")
        raise NotImplementedError(f'"{kernel}" not implemented for \'Bool\'')
    return _make(_call(a, op, bd, dt, b), dt, a._be)


def _call(a, op, bd, dt, b):
    try:
        return a._be.binary(op, a._data, bd, dt)
    except ValueError as e:
        failed = e
    _shape_error(a, b, failed)


def _shape_error(a, b, failed):
    """Raise PyTorch's message for operands that do not broadcast (called outside the
    except, so NumPy's error is not chained to it), else the backend's error."""
    if isinstance(b, Tensor):
        from .core import broadcast_shapes
        broadcast_shapes(a.shape, b.shape)  # raises PyTorch's message
    raise failed


def add(a, b, *, alpha=1, out=None):
    if not isinstance(a, Tensor):
        return add(operand(a, b), b, alpha=alpha)
    if alpha != 1:
        b = b * alpha
        r = binary("add", a, b)
    else:
        r = binary("add", a, b)
    if grad_mode.enabled and (a._rg or (isinstance(b, Tensor) and b._rg)):
        attach(AddBackward0(a, b, 1), (a, b if isinstance(b, Tensor) else None), (r,))
    return r if out is None else _out(r, out)


def add_tensor(a, b):
    """Tensor.__add__ / __radd__: add() for a Tensor a, without its keyword arguments (the
    per-op hot path)."""
    r = binary("add", a, b)
    if grad_mode.enabled and (a._rg or (isinstance(b, Tensor) and b._rg)):
        attach(AddBackward0(a, b, 1), (a, b if isinstance(b, Tensor) else None), (r,))
    return r


def sub(a, b, *, alpha=1, out=None):
    if not isinstance(a, Tensor):
        return sub(operand(a, b), b, alpha=alpha)
    b_bool = b._dtype is dtypes.bool_ if isinstance(b, Tensor) else isinstance(b, bool)
    if (a._dtype is dtypes.bool_) != b_bool:  # one bool operand (two: binary() says so)
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
                           "trying to invert a mask, use the `~` or `logical_not()` operator instead.")
    if alpha != 1:
        return add(a, -b * alpha if isinstance(b, Tensor) else -b * alpha)
    r = binary("sub", a, b)
    if grad_mode.enabled and (a._rg or (isinstance(b, Tensor) and b._rg)):
        attach(SubBackward0(a, b, 1), (a, b if isinstance(b, Tensor) else None), (r,))
    return r if out is None else _out(r, out)


def rsub(a, b, alpha=1):
    """b - a for a Python scalar b."""
    if isinstance(b, Tensor):
        return sub(b, a, alpha=alpha)
    check_scalar(b, "rsub")
    dt = _rt(a._dtype, prio(a), _sdt(b), 0)
    if a._dtype is dtypes.bool_ or isinstance(b, bool):
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
                           "trying to invert a mask, use the `~` or `logical_not()` operator instead.")
    r = _make(a._be.binary("sub", a._be.full((), b, dt), a._data, dt), dt, a._be)
    if grad_mode.enabled and a._rg:
        attach(RsubBackward1(alpha), (a,), (r,))
    return r


def mul(a, b, *, out=None):
    if not isinstance(a, Tensor):
        a, b = b, a
    r = binary("mul", a, b)
    if grad_mode.enabled and (a._rg or (isinstance(b, Tensor) and b._rg)):
        bt = b if isinstance(b, Tensor) else None
        attach(MulBackward0(a, bt, b), (a, bt), (r,))
    return r if out is None else _out(r, out)


def mul_tensor(a, b):
    """Tensor.__mul__ / __rmul__: mul() for a Tensor a, without its keyword arguments."""
    r = binary("mul", a, b)
    if grad_mode.enabled and (a._rg or (isinstance(b, Tensor) and b._rg)):
        bt = b if isinstance(b, Tensor) else None
        attach(MulBackward0(a, bt, b), (a, bt), (r,))
    return r


def div(a, b, *, rounding_mode=None, out=None):
    if not isinstance(a, Tensor):
        a = operand(a, b)
    if rounding_mode is not None:
        if rounding_mode == "floor":
            return _out(floor_divide(a, b), out)
        if rounding_mode == "trunc":
            return _out(binary("trunc_divide", a, b), out)
        raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                         f"'{rounding_mode}'")
    r = binary("div", a, b)
    if grad_mode.enabled and (a._rg or (isinstance(b, Tensor) and b._rg)):
        bt = b if isinstance(b, Tensor) else None
        attach(DivBackward0(a, bt, b), (a, bt), (r,))
    return r if out is None else _out(r, out)


def rdiv(a, b):
    """b / a for a Python number b: a.reciprocal() * b, as torch computes it (its roundings and grad_fn)."""
    return mul(unary("reciprocal", a), b)


def floor_divide(a, b):
    if not isinstance(a, Tensor):
        a = operand(a, b)
    return binary("floor_divide", a, b)


def remainder(a, b):
    if not isinstance(a, Tensor):
        a = operand(a, b)
    r = binary("remainder", a, b)
    if grad_mode.enabled and (a._rg or (isinstance(b, Tensor) and b._rg)):
        attach(RemainderBackward0(a, b), (a, b if isinstance(b, Tensor) else None), (r,))
    return r


def fmod(a, b):
    return binary("fmod", a, b)


def pow(a, b):
    if not isinstance(a, Tensor):  # scalar ** tensor
        check_scalar(a, "pow")
        base = a
        a = operand(a, b)
        dt = _rt(b._dtype, prio(b), _sdt(base), 0)
        r = _make(b._be.binary("pow", b._be.full((), base, dt), b._data, dt), dt, b._be)
        if grad_mode.enabled and b._rg:
            attach(PowBackward2(r, base=base), (b,), (r,))
        return r
    if isinstance(b, int) and not isinstance(b, bool) and b < 0 and not a._dtype.is_floating_point:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    r = binary("pow", a, b)
    if grad_mode.enabled:
        if isinstance(b, Tensor):
            if a._rg or b._rg:
                attach(PowBackward1(a, b, r), (a, b), (r,))
        elif a._rg:
            attach(PowBackward0(a, e=b), (a,), (r,))
    return r


def rpow(a, b):
    return pow(b, a)


def _minmax(op, node, a, b):
    b = operand(b, a)
    r = binary(op, a, b)
    if grad_mode.enabled and (a._rg or b._rg):
        attach(node(a, b), (a, b), (r,))
    return r


def maximum(a, b):
    return _minmax("maximum", MaximumBackward0, a, b)


def minimum(a, b):
    return _minmax("minimum", MinimumBackward0, a, b)


def atan2(a, b):
    b = operand(b, a)
    r = binary("atan2", a, b)
    if r.dtype.is_floating_point is False:
        r = binary("atan2", a.float(), b.float())
    if grad_mode.enabled and (a._rg or b._rg):
        attach(Atan2Backward0(a, b), (a, b), (r,))
    return r


def compare(op, a, b):
    if not isinstance(a, Tensor):
        a = operand(a, b)
    return binary(op, a, b)


def logical(op, a, b):
    if not isinstance(a, Tensor):
        a = operand(a, b)
    return binary(op, a, b)


def bitwise(op, a, b):
    if not isinstance(a, Tensor):
        a = operand(a, b)
    return binary(op, a, b)


def bitwise_not(x):
    if x._dtype.is_floating_point:
        raise NotImplementedError(f'"bitwise_not_cpu" not implemented for \'{_TNAME[x._dtype]}\'')
    if x._dtype is dtypes.bool_:
        return predicate("logical_not", x)
    return _make(x._be.unary("bitwise_not", x._data, x._dtype), x._dtype, x._be)


def _out(r, out):
    if out is None:
        return r
    out.copy_(r) if out.shape == r.shape else out.resize_as_(r).copy_(r)
    return out


# ---- in-place binary ----------------------------------------------------------------
_OUTOFPLACE = {"add": add, "sub": sub, "mul": mul, "div": div, "pow": pow, "remainder": remainder,
               "floor_divide": floor_divide, "maximum": maximum, "minimum": minimum}


def binary_(op, a, b, alpha=1):
    """a = op(a, b * alpha) in place: PyTorch's rule that the result dtype must cast to a's."""
    dt = a._dtype if isinstance(b, Tensor) and b._dtype is a._dtype else result_dtype(a, b)
    if op == "div" and not dt.is_floating_point:
        dt = dtypes.get_default_dtype()
    if dt is not a._dtype and (dt.kind > a._dtype.kind):
        raise RuntimeError(f"result type {_TNAME[dt]} can't be cast to the desired output type "
                           f"{_TNAME[a._dtype]}")
    if isinstance(b, Tensor):
        if b._be is not a._be:
            device_mismatch(a, b)
        if a._data.shape != b._data.shape:
            from .shape import broadcast_shape_check
            broadcast_shape_check(a, b)
    fn = _OUTOFPLACE[op]

    def direct():
        bd = b._data if isinstance(b, Tensor) else b
        if alpha != 1:
            bd = a._be.binary("mul", bd, alpha, dt) if isinstance(b, Tensor) else bd * alpha
        if dt in _HALF and not isinstance(b, Tensor):
            bd = half_scalar(op, bd, dt)
        if op in ("floor_divide", "remainder", "pow", "maximum", "minimum"):
            a._be.copy_(a._data, a._be.binary(op, a._data, bd, dt))
        else:
            a._be.binary_(op, a._data, bd)
    return inplace(a, lambda old: fn(old, b if alpha == 1 else b * alpha), direct,
                   (b,) if isinstance(b, Tensor) else ())


# ---- where and clamp -------------------------------------------------------------------
class WhereBackward0(Node):
    def __init__(self, cond, a, b):
        super().__init__()
        self.save(cond)
        self.ashape, self.bshape = a.shape, b.shape

    def backward(self, g):
        (c,) = self.saved_tensors
        z = g.new_zeros(())
        return None, sum_to(where(c, g, z), self.ashape), sum_to(where(c, z, g), self.bshape)


def where(cond, a=None, b=None):
    if a is None and b is None:
        return cond.nonzero(as_tuple=True)
    if not isinstance(cond, Tensor):
        raise TypeError(f"where(): argument 'condition' must be Tensor, not {type(cond).__name__}")
    if cond._dtype is not dtypes.bool_:
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype "
                           f"{_TNAME[cond._dtype]}")
    ref = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else cond
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        dt = _rt(_sdt(a), 0, _sdt(b), 0)
        a = operand(a, cond).to(dt)
        b = operand(b, cond).to(dt)
    else:
        a = operand(a, ref) if isinstance(a, Tensor) else a
        b = operand(b, ref) if isinstance(b, Tensor) else b
        if not isinstance(a, Tensor):
            dt = result_dtype(b, a)
            a = _make(b._be.full((), a, dt), dt, b._be)
        elif not isinstance(b, Tensor):
            dt = result_dtype(a, b)
            b = _make(a._be.full((), b, dt), dt, a._be)
    check_same_device(cond, a, b)
    dt = _rt(a._dtype, prio(a), b._dtype, prio(b))
    from .shape import broadcast_tensors_shape
    broadcast_tensors_shape(cond, a, b)
    r = _make(cond._be.where(cond._data, a._data, b._data, dt), dt, cond._be)
    if grad_mode.enabled and (a._rg or b._rg):
        attach(WhereBackward0(cond, a, b), (None, a, b), (r,))
    return r


class ClampBackward1(Node):
    def __init__(self, x, lo, hi):
        super().__init__()
        self.save(x, lo if isinstance(lo, Tensor) else None, hi if isinstance(hi, Tensor) else None)
        self.lo, self.hi = lo, hi

    def backward(self, g):
        x, lot, hit = self.saved_tensors
        lo = lot if lot is not None else self.lo
        hi = hit if hit is not None else self.hi
        keep = x == x  # True except NaN: NaN passes its gradient like PyTorch (x itself)
        if lo is not None:
            keep = keep & (x >= lo)
        if hi is not None:
            keep = keep & (x <= hi)
        return (where(keep, g, 0.0),)  # (g * keep would be NaN for an infinite g where torch gives 0)


def clamp(x, min=None, max=None):
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        r = x if min is None else maximum(x, min)
        return r if max is None else minimum(r, max)
    dt = x._dtype
    for v in (min, max):
        if v is not None:  # (tensor bounds took the maximum/minimum path above)
            dt = _rt(dt, prio(x), _sdt(v), 0)
    lo = min._data if isinstance(min, Tensor) else min
    hi = max._data if isinstance(max, Tensor) else max
    r = _make(x._be.clamp(x._data, lo, hi, dt), dt, x._be)
    if grad_mode.enabled and x._rg:
        attach(ClampBackward1(x, min, max), (x,), (r,))
    return r


def clamp_(x, min=None, max=None):
    return inplace(x, lambda old: clamp(old, min, max),
                   lambda: x._be.copy_(x._data, clamp(x.detach(), min, max)._data))


def lerp(a, b, weight):
    """PyTorch's two-sided formula (exact at both ends)."""
    d = b - a
    if isinstance(weight, Tensor):
        return where(weight.abs() < 0.5, a + weight * d, b - d * (1 - weight))
    return a + weight * d if abs(weight) < 0.5 else b - d * (1 - weight)


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    if not x._dtype.is_floating_point:
        return x.clone()
    import numpy as np
    fi = np.finfo(x._dtype.np)
    posinf = float(fi.max) if posinf is None else posinf
    neginf = float(fi.min) if neginf is None else neginf
    r = where(x.isnan(), nan, x)
    r = where(r == float("inf"), posinf, r)
    return where(r == float("-inf"), neginf, r)
