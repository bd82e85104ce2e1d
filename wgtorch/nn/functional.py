"""wgtorch.nn.functional: activations, dropout, losses and helpers, composed from Tensor ops
(so they run on every device). Activations and the common losses carry one autograd node
with PyTorch's name whose backward is written in Tensor ops (so it is differentiable again)."""
import functools
import math
import warnings

import numpy as _np

from .. import dtypes as _dt
from ..amp import autocast_mode as _amp
from ..autograd import grad_mode as _grad_mode
from ..autograd.grad_mode import no_grad as _no_grad
from ..autograd.graph import Node as _Node
from ..autograd.graph import attach as _attach
from ..autograd.graph import needs_grad as _needs_grad
from ..ops import elementwise as _ew
from ..ops import reductions as _rd
from ..ops.core import _make
from ..ops.core import inplace as _inplace
from ..ops.core import sum_to as _sum_to
from ..ops.core import wrap_dim as _wrap_dim
from ..ops.conversion import _FLOAT_MAX
from ..ops.creation import arange as _arange
from ..ops.shape import cat as _cat

_where = _ew.where


# ---- activations ---------------------------------------------------------------------------
class _ActivationBackward(_Node):
    """Backward of y = f(x): ``self.deriv(x, y, g)``, in Tensor ops."""

    def backward(self, g):
        x, y = self.saved_tensors
        return self.deriv(x, y, g)


def _activation(node, f, x, inplace=False, **params):
    """f(x) as one op with grad_fn ``node`` (computed without recording the composite)."""
    if inplace:
        return _inplace(x, lambda old: _activation(node, f, old, **params),
                        lambda: x._be.copy_(x._data, f(x.detach())._data))
    with _no_grad():
        y = f(x)
    if _needs_grad(x):
        _attach(node(x, y, **params), (x,), (y,))
    return y


def _node(name, deriv):
    return type(name, (_ActivationBackward,), {"deriv": deriv})


def relu(input, inplace=False):
    return _ew.unary_("relu", input) if inplace else _ew.unary("relu", input)


def relu_(input):
    return relu(input, inplace=True)


def sigmoid(input):
    return _ew.unary("sigmoid", input)


def tanh(input):
    return _ew.unary("tanh", input)


LeakyReluBackward0 = _node("LeakyReluBackward0", lambda s, x, y, g: _where(x > 0, g, g * s.slope))


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _activation(LeakyReluBackward0, lambda x: _where(x > 0, x, x * negative_slope), input, inplace,
                       slope=negative_slope)


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, True)


def _elu_d(s, x, y, g):
    """d/dx [scale * (x if x > 0 else alpha (exp(x / c) - 1))], as torch's: from x (stable for large -x, where
    the value-based form cancels to 0 * g), or for the in-place forms (...Backward1) from the value y;
    torch's 1 / c is rounded through float32 (visible in float64)."""
    if s.c == 1:
        gi, xi = g, x
    else:
        inv = 1.0 / _dt.to_float32(s.c)
        gi, xi = g * inv, x * inv
    neg = gi * (y + s.alpha * s.scale) if s.from_result else gi * (s.alpha * s.scale) * xi.exp()
    return _where(x > 0, g * s.scale, neg)


EluBackward0 = type("EluBackward0", (_ActivationBackward,), {"deriv": _elu_d, "from_result": False})
CeluBackward0 = type("CeluBackward0", (EluBackward0,), {})
# torch names the nodes of the in-place forms ...Backward1
_INPLACE_NODE = {EluBackward0: type("EluBackward1", (EluBackward0,), {"from_result": True}),
                 CeluBackward0: type("CeluBackward1", (EluBackward0,), {"from_result": True})}


def _elu(input, alpha, scale, c, inplace, node=EluBackward0):
    if inplace:
        node = _INPLACE_NODE[node]
    return _activation(node, lambda x: _where(x > 0, x, (x / c).expm1() * alpha) * scale, input, inplace,
                       alpha=alpha, scale=scale, c=c)


def elu(input, alpha=1.0, inplace=False):
    return _elu(input, alpha, 1.0, 1.0, inplace)


def elu_(input, alpha=1.0):
    return elu(input, alpha, True)


def selu(input, inplace=False):
    return _elu(input, 1.6732632423543772848170429916717, 1.0507009873554804934193349852946, 1.0, inplace)


def selu_(input):
    return selu(input, True)


def celu(input, alpha=1.0, inplace=False):
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    return _elu(input, alpha, 1.0, alpha, inplace, CeluBackward0)


def celu_(input, alpha=1.0):
    return celu(input, alpha, True)


_SQRT_2_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _gelu_f(x, approximate):
    if approximate == "tanh":
        return x * 0.5 * (1 + ((x + x * x * x * 0.044715) * _SQRT_2_PI).tanh())
    return x * 0.5 * (1 + (x * _INV_SQRT2).erf())


def _gelu_d(s, x, y, g):
    if s.approximate == "tanh":  # PyTorch's formula
        th = ((x + x * x * x * 0.044715) * _SQRT_2_PI).tanh()
        return g * (0.5 * (1 + th) + x * 0.5 * (1 - th * th) * _SQRT_2_PI * (1 + x * x * (3 * 0.044715)))
    return g * (0.5 * (1 + (x * _INV_SQRT2).erf()) + x * (x * x * -0.5).exp() * _INV_SQRT_2PI)


GeluBackward0 = _node("GeluBackward0", _gelu_d)


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    if approximate == "none" and input.dtype.is_floating_point:
        return _ew.unary("gelu", input)  # one fused op each way
    return _activation(GeluBackward0, lambda x: _gelu_f(x, approximate), input, approximate=approximate)


def _silu_d(s, x, y, g):
    sg = x.sigmoid()
    return g * sg * (1 + x * (1 - sg))


SiluBackward0 = _node("SiluBackward0", _silu_d)


def silu(input, inplace=False):
    return _activation(SiluBackward0, lambda x: x * x.sigmoid(), input, inplace)


def _softplus_f(x, beta, threshold):
    bx = x * beta if beta != 1 else x
    # log1p(exp(bx)) without overflow: max(bx, 0) + log1p(exp(-|bx|))
    sp = bx.clamp(min=0) + (-bx.abs()).exp().log1p()
    return _where(bx > threshold, x, sp / beta if beta != 1 else sp)


SoftplusBackward0 = _node("SoftplusBackward0", lambda s, x, y, g: _where(
    x * s.beta > s.threshold, g, g * (x * s.beta).sigmoid()))


def softplus(input, beta=1.0, threshold=20.0):
    if _amp.active:
        input = _amp.cast("softplus", input)[0]
    return _activation(SoftplusBackward0, lambda x: _softplus_f(x, beta, threshold), input,
                       beta=beta, threshold=threshold)


LogSigmoidBackward0 = _node("LogSigmoidBackward0", lambda s, x, y, g: g * (-x).sigmoid())


def logsigmoid(input):
    # min(x, 0) - log1p(exp(-|x|))
    return _activation(LogSigmoidBackward0, lambda x: x.clamp(max=0) - (-x.abs()).exp().log1p(), input)


# (masks select with where: g times a 0/1 mask would turn an infinite g into NaN where torch gives 0)
HardtanhBackward0 = _node("HardtanhBackward0", lambda s, x, y, g: _where((x > s.lo) & (x < s.hi), g, 0.0))


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _activation(HardtanhBackward0, lambda x: x.clamp(min_val, max_val), input, inplace,
                       lo=min_val, hi=max_val)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, True)


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


# (torch multiplies by 1/6 as a float32 constant, in float64 too)
HardsigmoidBackward0 = _node("HardsigmoidBackward0", lambda s, x, y, g: _where(
    (x > -3) & (x < 3), g * _dt.to_float32(1 / 6), 0.0))


def hardsigmoid(input, inplace=False):
    return _activation(HardsigmoidBackward0, lambda x: (x / 6 + 0.5).clamp(0.0, 1.0), input, inplace)


# (0 at x = -3, g at x = 3 and NaN at a NaN x, as torch's vectorised kernel)
HardswishBackward0 = _node("HardswishBackward0", lambda s, x, y, g: _where(
    x <= -3, 0.0, _where(x >= 3, g, g * (x / 3 + 0.5))))


def hardswish(input, inplace=False):
    return _activation(HardswishBackward0, lambda x: x * (x / 6 + 0.5).clamp(0.0, 1.0), input, inplace)


def _mish_d(s, x, y, g):
    th = _softplus_f(x, 1.0, 20.0).tanh()
    return g * (th + x * x.sigmoid() * (1 - th * th))


MishBackward0 = _node("MishBackward0", _mish_d)


def mish(input, inplace=False):
    return _activation(MishBackward0, lambda x: x * _softplus_f(x, 1.0, 20.0).tanh(), input, inplace)


def softsign(input):
    return input / (input.abs() + 1)


def _float_only(input, kernel):
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f'"{kernel}" not implemented for \'{_tname(input.dtype)}\'')


def tanhshrink(input):
    return input - input.tanh()


_HALF = (_dt.float16, _dt.bfloat16)


def _opmath(x):  # torch's threshold and softshrink kernels compare the 16-bit floats in float32
    return x.float() if x.dtype in _HALF else x


ThresholdBackward0 = _node("ThresholdBackward0", lambda s, x, y, g: _where(_opmath(x) <= s.threshold, 0.0, g))
ThresholdBackward1 = type("ThresholdBackward1", (ThresholdBackward0,), {})


def _threshold(input, th, value, inplace):
    dt = input.dtype
    if not dt.is_floating_point:  # (both are cast to the integer type, as torch's kernel does)
        th, value = int(th), int(value)
    return _activation(ThresholdBackward1 if inplace else ThresholdBackward0,
                       lambda x: _where(_opmath(x) <= th, value, x).to(dt), input, inplace, threshold=th)


def threshold(input, threshold, value, inplace=False):
    """value where input <= threshold, else input (a NaN input stays NaN)."""
    return _threshold(input, threshold, value, inplace)


def threshold_(input, threshold, value):
    return _threshold(input, threshold, value, True)


def _outside(x, lambd):  # x < -lambd or x > lambd (False for NaN; the op layer rounds lambd to x's dtype)
    return (x < -lambd) | (x > lambd)


# both shrinks pass g outside [-lambd, lambd] and block it (+0) inside and at a NaN x (torch's
# vectorised kernel, which handles all but the tail of a tensor, blocks it there)
HardshrinkBackward0 = _node("HardshrinkBackward0", lambda s, x, y, g: _where(_outside(x, s.lambd), g, 0.0))
SoftshrinkBackward0 = _node("SoftshrinkBackward0", lambda s, x, y, g: _where(_outside(x, s.lambd), g, 0.0))


def hardshrink(input, lambd=0.5):
    _float_only(input, "hardshrink_cpu")
    # (a NaN input stays NaN; -0 gives +0 as torch's)
    return _activation(HardshrinkBackward0, lambda x: _where(_outside(x, lambd) | x.isnan(), x, 0.0), input,
                       lambd=lambd)


def _softshrink_f(x, lambd):
    xf = _opmath(x)
    # x - lambd above the band, x + lambd below it, NaN at NaN and +0 inside, as torch's vectorised kernel
    # (the + 0.0 turns the -0 of -0 - 0 into +0)
    return (xf - xf.clamp(-lambd, lambd) + 0.0).to(x.dtype)


def softshrink(input, lambd=0.5):
    _float_only(input, "softshrink_check")
    top = _FLOAT_MAX[input.dtype.name]
    if not 0 <= lambd <= top:
        raise RuntimeError(f"lambda must be in range [0, {top:g}] for input dtype {_tname(input.dtype)}, "
                           f"but found {lambd:g}")
    return _activation(SoftshrinkBackward0, lambda x: _softshrink_f(x, lambd), input, lambd=lambd)


class GluBackward0(_Node):
    def backward(self, g):
        (x,) = self.saved_tensors
        h = x.shape[self.dim] // 2
        a, b = x.narrow(self.dim, 0, h), x.narrow(self.dim, h, h)
        sb = b.sigmoid()
        return _cat([g * sb, (1 - sb) * sb * a * g], self.dim)


def glu(input, dim=-1):
    """a * sigmoid(b), a and b the two halves of input along dim."""
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    d = _wrap_dim(dim, input.ndim)
    n = input.shape[d]
    if n % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {d} is size {n}")
    _float_only(input, "glu_cpu")
    with _no_grad():
        y = input.narrow(d, 0, n // 2) * input.narrow(d, n // 2, n // 2).sigmoid()
    if _needs_grad(input):
        _attach(GluBackward0(input, dim=d), (input,), (y,))
    return y


class PreluKernelBackward0(_Node):
    def backward(self, g):
        x, w = self.saved_tensors  # w already shaped to broadcast against x
        pos = x > 0
        gx = _where(pos, g, w * g) if x._rg else None
        gw = _sum_to(_where(pos, 0.0, x * g), w.shape) if w._rg else None
        return gx, gw


def prelu(input, weight):
    """input where > 0, else weight * input; a weight of n > 1 elements applies per channel (dim 1)."""
    if input.dtype is not weight.dtype:
        raise RuntimeError(f"prelu: Type promoting not supported. Got {_tname(input.dtype)} and "
                           f"{_tname(weight.dtype)}")
    n = weight.numel()
    if n != 1:
        if input.ndim == 0:
            raise RuntimeError("Not allow zero-dim input tensor.")
        channels = input.shape[1] if input.ndim > 1 else 1
        if channels != n:
            raise RuntimeError("Mismatch of parameter numbers and input channel size. Found parameter numbers = "
                               f"{n} and channel size = {channels}.")
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.ndim}")
    _float_only(input, "prelu_cpu")
    w = weight
    if input.ndim != weight.ndim:  # a recorded view: the weight's gradient flows back through it
        w = weight.reshape([n if i == 1 else 1 for i in range(input.ndim)])
    with _no_grad():
        y = _where(input > 0, input, w * input)
    if _needs_grad(input, w):
        _attach(PreluKernelBackward0(input, w), (input, w), (y,))
    return y


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        warnings.warn("Implicit dimension choice for softmin has been deprecated. Change the call to include "
                      "dim=X as an argument.", stacklevel=_stacklevel)
    return _rd.softmax(-input, dim, dtype)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    return _rd.softmax(input, dim, dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    return _rd.log_softmax(input, dim, dtype)


def linear(input, weight, bias=None):
    if _amp.active:
        input, weight, bias = _amp.cast("linear", input, weight, bias)
    out = input.matmul(weight.t())
    return out if bias is None else out + bias


def bilinear(input1, input2, weight, bias=None):
    """y[..., o] = sum_ij input1[..., i] weight[o, i, j] input2[..., j] (+ bias[o]): one GEMM of input1
    with the weight laid out (in1, out * in2), then a product with input2 summed over in2."""
    if input1.dim() != input2.dim():
        raise RuntimeError(f"bilinear(): input dimensions do not match: got {input1.dim()} and {input2.dim()}")
    for d in range(input1.dim() - 1):
        if input1.shape[d] != input2.shape[d]:
            raise RuntimeError(f"bilinear(): input batch dimensions do not match at dim {d}: got "
                               f"{input1.shape[d]} and {input2.shape[d]}")
    out, in1, in2 = weight.shape
    if input1.shape[-1] != in1:
        raise RuntimeError(f"bilinear(): input1 size does not match weight size: got {input1.shape[-1]} but "
                           f"expected {in1}")
    if input2.shape[-1] != in2:
        raise RuntimeError(f"bilinear(): input2 size does not match weight size: got {input2.shape[-1]} but "
                           f"expected {in2}")
    if bias is not None and bias.shape[-1] != out:
        raise RuntimeError(f"bilinear(): bias size does not match weight size: got {bias.shape[-1]} but "
                           f"expected {out}")
    batch = tuple(input1.shape[:-1])
    x1, x2 = input1.reshape(-1, in1), input2.reshape(-1, 1, in2)
    z = x1.matmul(weight.permute(1, 0, 2).reshape(in1, out * in2)).reshape(-1, out, in2)
    y = (z * x2).sum(-1).reshape(batch + (out,))
    return y if bias is None else y + bias


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p (drawn with the device's generator), scale the rest by 1/(1-p)."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if p == 0 or not training or input.numel() == 0:
        return input
    if p == 1:
        mask = input.new_zeros(())
    else:
        with _no_grad():
            mask = input.new_empty(input.shape).bernoulli_(1 - p).div_(1 - p)
    return input.mul_(mask) if inplace else input * mask


# ---- losses --------------------------------------------------------------------------------
def _legacy_reduction(size_average, reduce, reduction):
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    reduction = ("mean" if size_average else "sum") if reduce else "none"
    warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{reduction}' "
                  "instead.", stacklevel=3)
    return reduction


def _check_reduction(reduction):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _warn_size(input, target):
    if target.shape != input.shape:
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input size ({input.shape}). "
                      "This will likely lead to incorrect results due to broadcasting. Please ensure they have "
                      "the same size.", stacklevel=3)


def _tname(dt):
    return _ew._TNAME[dt]


class _DiffLossBackward(_Node):
    """Backward of reduce(f(input - target)): ``self.deriv(d)`` is f'(d), d recomputed from the saved
    operands (so that the gradient is itself differentiable); broadcast dims are summed."""

    def backward(self, g):
        x, t = self.saved_tensors
        d = x - t
        if self.reduction == "mean":
            g = g / d.numel()
        gd = g * self.deriv(d)
        return (_sum_to(gd, x.shape) if x._rg else None,
                _sum_to(-gd, t.shape) if t._rg else None)


MseLossBackward0 = type("MseLossBackward0", (_DiffLossBackward,), {"deriv": lambda s, d: d * 2})
SmoothL1LossBackward0 = type("SmoothL1LossBackward0", (_DiffLossBackward,),
                             {"deriv": lambda s, d: (d / s.beta).clamp(-1.0, 1.0)})
HuberLossBackward0 = type("HuberLossBackward0", (_DiffLossBackward,),
                          {"deriv": lambda s, d: d.clamp(-s.delta, s.delta)})


def _diff_loss(node, f, input, target, reduction, **params):
    _check_reduction(reduction)
    _warn_size(input, target)
    with _no_grad():
        out = _reduce(f(input - target), reduction)
    if _needs_grad(input, target):
        _attach(node(input, target, reduction=reduction, **params), (input, target), (out,))
    return out


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    if _amp.active:
        input, target = _amp.cast("mse_loss", input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if weight is not None:
        _warn_size(input, target)
        return _reduce((input - target) ** 2 * weight, reduction)
    return _diff_loss(MseLossBackward0, lambda d: d * d, input, target, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    if _amp.active:
        input, target = _amp.cast("l1_loss", input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _warn_size(input, target)
    loss = (input - target).abs()
    return _reduce(loss if weight is None else loss * weight, reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    if _amp.active:
        input, target = _amp.cast("smooth_l1_loss", input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    if beta == 0:
        return l1_loss(input, target, reduction=reduction)

    def f(d):
        ad = d.abs()
        return _where(ad < beta, d * d * (0.5 / beta), ad - 0.5 * beta)
    return _diff_loss(SmoothL1LossBackward0, f, input, target, reduction, beta=beta)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    if _amp.active:
        input, target = _amp.cast("huber_loss", input, target)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")

    def f(d):
        ad = d.abs()
        return _where(ad < delta, d * d * 0.5, (ad - 0.5 * delta) * delta)
    if weight is not None:
        _check_reduction(reduction)
        _warn_size(input, target)
        return _reduce(f(input - target) * weight, reduction)
    return _diff_loss(HuberLossBackward0, f, input, target, reduction, delta=delta)


# -- class-index losses: no gather, no read-back. The targets become a (weighted) one-hot mask by
# comparing them with arange(C) on the device; targets equal to ignore_index (e.g. the default
# -100) match no class, so they drop out of both the sum and the mean's denominator by themselves.
class NllLossBackward0(_Node):
    """d loss / d input = -(weighted one-hot mask of the targets), scaled as the reduction scaled."""

    def backward(self, g):
        mask, den = self.saved_tensors
        if self.reduction == "none":
            g = g.unsqueeze(self.cdim) if g.ndim else g
        elif self.reduction == "mean":
            g = g / den
        return (-g * mask,)


class NllLoss2DBackward0(NllLossBackward0):
    pass


class _NllFusedBackward(_Node):
    """The common case's backward: one backend primitive (a composite under create_graph)."""

    def __init__(self, target, den, ignore, shape, reduction):
        self.save(target, den)
        self.ignore, self.shape, self.reduction = ignore, shape, reduction

    def name(self):
        return "NllLossBackward0"

    def backward(self, g):
        target, den = self.saved_tensors
        if _grad_mode.enabled:  # create_graph: differentiable in g
            mask = (target.unsqueeze(1) == _classes(self.shape[1], str(target.device))) & \
                (target != self.ignore).unsqueeze(1)
            g = g.unsqueeze(1) if self.reduction == "none" else g / den if self.reduction == "mean" else g
            return (-g * mask,)
        be = g._be
        return (_make(be.nll_loss_grad(g._data, target._data, self.ignore, den._data if den is not None else None,
                                       self.shape, self.reduction), g._dtype, be),)


def _nll_fused(input, target, ignore_index, reduction):
    """nll of (N, C) log-probabilities and (N,) class indices, no weights: one backend primitive each way."""
    be, dt = input._be, input._dtype
    loss, den = be.nll_loss(input._data, target._data, ignore_index, reduction)
    out = _make(loss, dt, be)
    den = _make(den, dt, be) if den is not None else None
    if _grad_mode.enabled and input._rg:
        _attach(_NllFusedBackward(target, den, ignore_index, input._data.shape, reduction), (input,), (out,))
    return out, den


def _check_weight(weight, n, prefix=""):
    if weight is not None and (weight.ndim != 1 or weight.numel() != n):
        raise RuntimeError(f"{prefix}weight tensor should be defined either for all {n} classes or no classes but "
                           f"got weight tensor of shape: {list(weight.shape)}")


def _class_view(t, input, cdim):
    """A (C,) tensor shaped to broadcast along input's class dim."""
    return t.view((-1,) + (1,) * (input.ndim - 2)) if cdim == 1 and input.ndim > 2 else t


@functools.lru_cache(maxsize=32)
def _classes(n, device):
    """arange(n) on device, kept: wgpu's arange is an upload, and an upload flushes pending work."""
    return _arange(n, device=device)


def _check_targets(h, n, ignore_index):
    """PyTorch's IndexError for a class index outside [0, n) that is not ignore_index."""
    if h.dtype == _np.int64 and h.size and _np.maximum.reduce(h.view(_np.uint64), axis=None) < n:
        return  # all in range, found in one pass (negative values wrap to huge unsigned ones)
    bad = h[(h != ignore_index) & ((h < 0) | (h >= n))]
    if bad.size:
        raise IndexError(f"Target {bad.flat[0]} is out of bounds.")


def _nll(input, target, weight, ignore_index, reduction):
    """The nll loss of log-probabilities input; returns (loss, the mean's denominator or None)."""
    ish, tsh = input._data.shape, target._data.shape  # (plain tuples: this runs every training step)
    ind, tnd = len(ish), len(tsh)
    if ind < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {ind})")
    if target._dtype is not _dt.int64 and target._dtype is not _dt.uint8:
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {_tname(target.dtype)}")
    if ind != 1 and (tnd == 0 or ish[0] != tsh[0]):
        raise ValueError(f"Expected input batch_size ({ish[0]}) to match target batch_size "
                         f"({tsh[0] if tnd else 0}).")
    if ind <= 2 and tnd > 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if ind == 1 and tnd == 1 and tsh[0] != 1:
        raise ValueError(f"For 1D input, 1D target must have size 1, but got target size: {tsh[0]}")
    if ind > 2 and tsh[1:] != ish[2:]:
        raise RuntimeError(f"Expected target size {[ish[0]] + list(ish[2:])}, got {list(tsh)}")
    cdim = 1 if ind > 1 else 0
    n = ish[cdim]
    _check_weight(weight, n)
    if input._be.name == "cpu":  # the host has the targets: check them as PyTorch does (free here)
        _check_targets(target._host(), n, ignore_index)
    _check_reduction(reduction)
    if weight is None and ind == 2 and tnd == 1 and input._dtype.is_floating_point:
        return _nll_fused(input, target, ignore_index, reduction)
    with _no_grad():
        t = target.unsqueeze(cdim) if target.ndim else target
        mask = t == _class_view(_classes(n, str(input.device)), input, cdim)
        if 0 <= ignore_index < n:
            mask = mask & (t != ignore_index)
        if weight is not None:
            mask = mask * _class_view(weight, input, cdim)
        picked = input * mask
        den = None
        if reduction == "none":
            out = -picked.sum(cdim)
        elif reduction == "sum":
            out = -picked.sum()
        else:
            den = mask.sum(dtype=input.dtype) if weight is None else mask.sum()
            out = -picked.sum() / den
    if _needs_grad(input):
        node = NllLossBackward0 if input.ndim <= 2 else NllLoss2DBackward0
        _attach(node(mask, den, reduction=reduction, cdim=cdim), (input,), (out,))
    return out, den


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    if _amp.active:
        input, target, weight = _amp.cast("nll_loss", input, target, weight)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _nll(input, target, weight, ignore_index, reduction)[0]


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """log_softmax over the class dim (1, or 0 for an unbatched (C,) input), then the nll of class-index
    targets, or -sum(target * log_softmax) for class-probability targets (target shaped as input)."""
    if _amp.active:
        input, target, weight = _amp.cast("cross_entropy", input, target, weight)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    cdim = 1 if input.ndim > 1 else 0
    if label_smoothing > 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if target._data.shape == input._data.shape:  # class probabilities
        if not target.dtype.is_floating_point:
            raise RuntimeError(f"Expected floating point type for target with class probabilities, got "
                               f"{_tname(target.dtype)}")
        if ignore_index >= 0:
            raise RuntimeError("ignore_index is not supported for floating point target")
        n = input.shape[cdim]
        _check_weight(weight, n, "cross_entropy: ")
        _check_reduction(reduction)
        logp = _rd.log_softmax(input, cdim)
        if label_smoothing > 0:
            target = target * (1 - label_smoothing) + label_smoothing / n
        prod = logp * target
        if weight is not None:
            prod = prod * _class_view(weight, input, cdim)
        if reduction == "none":
            return -prod.sum(cdim)
        if reduction == "sum":
            return -prod.sum()
        return -prod.sum() / (input.numel() / n) if input.numel() else -prod.sum() * float("nan")
    logp = _rd.log_softmax(input, cdim)
    nll, den = _nll(logp, target, weight, ignore_index, reduction)
    if label_smoothing <= 0:
        return nll
    n = input.shape[cdim]
    smooth = -(logp if weight is None else logp * _class_view(weight, input, cdim)).sum(cdim)
    smooth = _where(target != ignore_index, smooth, 0.0)
    smooth = smooth if reduction == "none" else smooth.sum() if reduction == "sum" else smooth.sum() / den
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / n)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """-(t log(x) + (1 - t) log(1 - x)), each log clamped at -100 as PyTorch does."""
    if _amp.active:
        input, target, weight = _amp.cast("binary_cross_entropy", input, target, weight)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if target.shape != input.shape:
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input size "
                         f"({input.shape}) is deprecated. Please ensure they have the same size.")
    x, t = input.detach(), target.detach()
    if ((x < 0) | (x > 1)).any():
        raise RuntimeError("all elements of input should be between 0 and 1")
    w = weight.detach() if weight is not None else None
    loss = -(t * x.log().clamp(min=-100) + (1 - t) * (1 - x).log().clamp(min=-100))
    if w is not None:
        loss = loss * w
    out = _reduce(loss, reduction)
    if _needs_grad(input, target):
        _attach(BinaryCrossEntropyBackward0(input, target, weight, reduction), (input, target), (out,))
    return out


class BinaryCrossEntropyBackward0(_Node):
    """d/dx = (x - t) / max(x (1 - x), 1e-12), as PyTorch's kernel."""

    def __init__(self, x, t, w, reduction):
        super().__init__()
        self.save(x, t, w)
        self.reduction = reduction

    def backward(self, g):
        x, t, w = self.saved_tensors
        if self.reduction == "mean":
            g = g / x.numel()
        if self.reduction != "none":
            g = g.expand(x.shape)
        if w is not None:
            g = g * w
        gx = g * (x - t) / (x * (1 - x)).clamp(min=1e-12) if x.requires_grad else None
        gt = g * ((1 - x).log().clamp(min=-100) - x.log().clamp(min=-100)) if t.requires_grad else None
        return gx, gt


def _softplus_neg(x):
    """log(1 + exp(-x)), stable for any x."""
    return (-x).clamp(min=0) + (-x.abs()).exp().log1p()


class BinaryCrossEntropyWithLogitsBackward0(_Node):
    """loss = w ((1 - t) x + lw softplus(-x)) with lw = 1 + (pos_weight - 1) t."""

    def backward(self, g):
        x, t, w, pw = self.saved_tensors
        if self.reduction == "mean":
            g = g / self.n
        if w is not None:
            g = g * w
        gx = gt = None
        if x._rg:
            d = x.sigmoid() - t if pw is None else (1 - t) - (1 + (pw - 1) * t) * (-x).sigmoid()
            gx = _sum_to(g * d, x.shape)
        if t._rg:
            d = -x if pw is None else (pw - 1) * _softplus_neg(x) - x
            gt = _sum_to(g * d, t.shape)
        return gx, gt


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """The log-sum-exp form: (1 - t) x + lw log(1 + exp(-x)), never exp of a large number."""
    if _amp.active:
        input, target, weight, pos_weight = _amp.cast("binary_cross_entropy_with_logits", input, target, weight,
                                                      pos_weight)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if target.shape != input.shape:
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")
    _check_reduction(reduction)
    with _no_grad():
        sp = _softplus_neg(input)
        loss = (1 - target) * input + (sp if pos_weight is None else (1 + (pos_weight - 1) * target) * sp)
        if weight is not None:
            loss = loss * weight
        out = _reduce(loss, reduction)
    if _needs_grad(input, target):
        _attach(BinaryCrossEntropyWithLogitsBackward0(input, target, weight, pos_weight, reduction=reduction,
                                                      n=loss.numel()), (input, target), (out,))
    return out


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """Pointwise target * (log(target) - input) (0 where target == 0), input being log-probabilities."""
    if _amp.active:
        input, target = _amp.cast("kl_div", input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      stacklevel=2)
    if reduction not in ("mean", "sum", "none", "batchmean"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if log_target:
        loss = target.exp() * (target - input)
    else:  # xlogy(t, t) - t * input
        loss = target * _where(target == 0, 1.0, target).log() - target * input
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.ndim else loss.sum()
    return _reduce(loss, reduction)


# ---- helpers --------------------------------------------------------------------------------
def one_hot(tensor, num_classes=-1):
    """int64 (..., num_classes) with a 1 at each value's index."""
    if tensor.dtype is not _dt.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes == -1 or tensor._be.name == "cpu":  # (the values are needed on the host only then)
        h = tensor._host()
        if h.size == 0:
            if num_classes == -1:
                raise RuntimeError("Can not infer total number of classes from empty tensor.")
        else:
            if h.min() < 0:
                raise RuntimeError("Class values must be non-negative.")
            if num_classes == -1:
                num_classes = int(h.max()) + 1
            elif h.max() >= num_classes:
                raise RuntimeError("Class values must be smaller than num_classes.")
    with _no_grad():
        return (tensor.unsqueeze(-1) == _arange(num_classes, device=tensor.device)).to(_dt.int64)


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(input, pad, mode="constant", value=None):
    """Pad the last len(pad) // 2 dims: pad = (last_lo, last_hi, second_last_lo, ...); negative pads crop.
    Composed from slices, flips, expands and one cat per padded dim (differentiable, any device)."""
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    k = len(pad) // 2
    if k > input.ndim:
        raise RuntimeError("Padding length should be less than or equal to two times the input dimension but got "
                           f"padding length {len(pad)} and input of dimension {input.ndim}")
    if mode not in _PAD_MODES:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if mode != "constant":
        if value is not None and value != 0:
            raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
        if k not in (1, 2, 3) or input.ndim not in (k + 1, k + 2):
            raise NotImplementedError(
                f"Padding size {len(pad)} is not supported for {input.ndim}D input tensor.\nSupported combinations "
                "for non-constant padding:\n  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
                "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
                "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")
    x = input
    for i in range(k):
        d = input.ndim - 1 - i
        lo, hi = int(pad[2 * i]), int(pad[2 * i + 1])
        size = input.shape[d]
        if mode == "reflect" and (lo >= size or hi >= size):
            raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding input dimension, "
                               f"but got: padding ({lo}, {hi}) at dimension {d} of input {list(input.shape)}")
        if mode == "circular" and (lo > size or hi > size):
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if lo < 0 or hi < 0:  # crop
            x = x.narrow(d, max(-lo, 0), x.shape[d] - max(-lo, 0) - max(-hi, 0))
            lo, hi = max(lo, 0), max(hi, 0)
        if lo == 0 and hi == 0:
            continue
        n = x.shape[d]
        if mode == "constant":
            shape = list(x.shape)
            fill = [x.new_full(shape[:d] + [p] + shape[d + 1:], 0 if value is None else value) for p in (lo, hi)]
            left, right = fill
        elif mode == "reflect":
            left, right = x.narrow(d, 1, lo).flip(d), x.narrow(d, n - 1 - hi, hi).flip(d)
        elif mode == "replicate":
            shape = list(x.shape)
            left = x.narrow(d, 0, 1).expand(shape[:d] + [lo] + shape[d + 1:])
            right = x.narrow(d, n - 1, 1).expand(shape[:d] + [hi] + shape[d + 1:])
        else:  # circular
            left, right = x.narrow(d, n - lo, lo), x.narrow(d, 0, hi)
        x = _cat([p for p, m in ((left, lo), (x, 1), (right, hi)) if m], d)
    return x if x is not input else input.clone()


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """input / max(||input||_p along dim, eps)."""
    if _amp.active:
        input = _amp.cast("normalize", input)[0]
    r = input / input.norm(p, dim, keepdim=True).clamp(min=eps)
    return r if out is None else out.copy_(r)


# the layer families' functional forms live beside this file (one concern per file)
from ._attention import *  # noqa: E402,F401,F403
from ._conv import *  # noqa: E402,F401,F403
from ._norm import *  # noqa: E402,F401,F403
from ._layers_extra import *  # noqa: E402,F401,F403  (pixel shuffle, distances, channel dropout)
