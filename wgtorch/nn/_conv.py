"""The functional forms of convolution, pooling and interpolation (F.conv2d, F.max_pool2d, F.interpolate, ...).

Everything is built on one pair of adjoint ops: ``im2col`` (a strided window view of the
padded input, copied once into a contiguous (N, C, kh, kw, OH, OW) tensor) and ``col2im``
(its adjoint: the windows summed back into the image). Each one's backward is the other,
so convolutions are ``im2col`` + one matmul and are differentiable to any order on every
device; pools reduce over the window dims; interpolation is index_select / small matmuls.

On the cpu, float32/float64 conv2d (groups=1) and max pooling run fused NumPy kernels instead
(backends/cpu.py: conv2d, max_pool2d and their _grad), one autograd node each with torch's name;
their double backward differentiates the composite.
"""
import math
import warnings

import numpy as np

from .. import dtypes as _dt
from ..amp import autocast_mode as _amp
from ..autograd import grad_mode as _grad_mode
from ..autograd.grad_mode import no_grad as _no_grad
from ..autograd.graph import Node as _Node
from ..autograd.graph import attach as _attach
from ..autograd.graph import needs_grad as _needs_grad
from ..ops.creation import arange as _arange
from ..ops.creation import tensor as _tensor
from ..ops.core import _make

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "conv1d",
    "conv2d",
    "conv_transpose1d",
    "conv_transpose2d",
    "fold",
    "interpolate",
    "max_pool1d",
    "max_pool1d_with_indices",
    "max_pool2d",
    "max_pool2d_with_indices",
    "unfold",
    "upsample",
    "upsample_bilinear",
    "upsample_nearest",
]


def _ntuple(v, n, name="value"):
    if isinstance(v, (list, tuple)):
        if len(v) == 1 and n > 1:
            v = tuple(v) * n
        if len(v) != n:
            raise RuntimeError(f"expected {name} to be a single integer value or a list of {n} values to match "
                               f"the convolution dimensions, but got {name}={list(v)}")
        return tuple(int(i) for i in v)
    return (int(v),) * n


# ---- the adjoint pair --------------------------------------------------------------------
class _Geometry:
    """Window geometry over the last two dims: image (H, W), padding (top, bottom, left, right),
    kernel, stride, dilation and the number of windows (OH, OW)."""
    __slots__ = ("d", "fill", "hw", "k", "out", "pad", "s")

    def __init__(self, hw, pad, k, s, d, out, fill=0.0):
        self.hw, self.pad, self.k, self.s, self.d, self.out, self.fill = hw, pad, k, s, d, out, fill

    def first_inside(self):
        """(OH, OW) int64: per window, the tap (i * kw + j) of its first element inside the image. A
        window of -inf values has its maximum there, as torch's (never on the padding)."""
        first = []
        for a, p in ((0, self.pad[0]), (1, self.pad[2])):
            start = np.arange(self.out[a]) * self.s[a] - p
            first.append(np.maximum(0, (self.d[a] - 1 - start) // self.d[a]))  # ceil(-start / d), at least 0
        return first[0][:, None] * self.k[1] + first[1][None, :]

    def padded(self):
        (H, W), (pt, pb, pl, pr) = self.hw, self.pad
        # the windows must fit; rows past the last window are never read
        need_h = (self.out[0] - 1) * self.s[0] + self.d[0] * (self.k[0] - 1) + 1
        need_w = (self.out[1] - 1) * self.s[1] + self.d[1] * (self.k[1] - 1) + 1
        return max(pt + H + pb, need_h), max(pl + W + pr, need_w)


def _im2col_fwd(x, g):
    """x (N, C, H, W) -> its windows as a contiguous (N, C, kh, kw, OH, OW) tensor (no autograd)."""
    N, C = x.shape[0], x.shape[1]
    (H, W), (pt, _, pl, _) = g.hw, g.pad
    Hp, Wp = g.padded()
    with _no_grad():
        if (Hp, Wp) != (H, W):
            xp = x.new_full((N, C, Hp, Wp), g.fill)
            xp[:, :, pt:pt + H, pl:pl + W] = x
        else:
            xp = x
        sn, sc, sh, sw = xp.stride()
        v = xp.as_strided((N, C, g.k[0], g.k[1], g.out[0], g.out[1]),
                          (sn, sc, g.d[0] * sh, g.d[1] * sw, g.s[0] * sh, g.s[1] * sw), xp.storage_offset())
        return v.clone()


def _col2im_fwd(cols, g):
    """The adjoint of _im2col_fwd: (N, C, kh, kw, OH, OW) -> (N, C, H, W), overlapping windows summed."""
    N, C = cols.shape[0], cols.shape[1]
    (H, W), (pt, _, pl, _) = g.hw, g.pad
    Hp, Wp = g.padded()
    (kh, kw), (sh, sw), (dh, dw), (OH, OW) = g.k, g.s, g.d, g.out
    with _no_grad():
        if (kh - 1) * dh < sh and (kw - 1) * dw < sw and dh == 1 and dw == 1:
            # windows do not overlap (pooling with stride >= kernel): one strided copy
            z = cols.new_zeros((N, C, Hp, Wp))
            sn, sc, s_h, s_w = z.stride()
            z.as_strided((N, C, kh, kw, OH, OW), (sn, sc, s_h, s_w, sh * s_h, sw * s_w)).copy_(cols)
        else:
            z = cols.new_zeros((N, C, Hp, Wp))
            for i in range(kh):
                for j in range(kw):
                    z[:, :, i * dh:i * dh + sh * (OH - 1) + 1:sh, j * dw:j * dw + sw * (OW - 1) + 1:sw] \
                        .add_(cols[:, :, i, j])
        if (Hp, Wp) != (H, W):
            z = z[:, :, pt:pt + H, pl:pl + W].clone()
        return z


class Im2ColBackward0(_Node):
    def backward(self, g):
        return _col2im(g, self.geom)


class Col2ImBackward0(_Node):
    def backward(self, g):
        return _im2col(g, self.geom)


def _im2col(x, g):
    y = _im2col_fwd(x, g)
    if _needs_grad(x):
        _attach(Im2ColBackward0(geom=g), (x,), (y,))
    return y


def _col2im(cols, g):
    y = _col2im_fwd(cols, g)
    if _needs_grad(cols):
        _attach(Col2ImBackward0(geom=g), (cols,), (y,))
    return y


def _out_size(n, pad_total, k, s, d, ceil_mode=False, pad_lo=0):
    eff = d * (k - 1) + 1
    num = n + pad_total - eff
    o = (-(-num // s) if ceil_mode else num // s) + 1
    if ceil_mode and (o - 1) * s >= n + pad_lo:  # the last window must start inside the input or left padding
        o -= 1
    return o


# ---- convolution -------------------------------------------------------------------------
def _batched(input, fn, spatial):
    nd = spatial + 2
    if input.ndim == nd - 1:
        return False
    if input.ndim != nd:
        dims = {1: ("2D", "3D"), 2: ("3D", "4D")}[spatial]
        raise RuntimeError(f"Expected {dims[0]} (unbatched) or {dims[1]} (batched) input to {fn}, but got input of "
                           f"size: {list(input.shape)}")
    return True


def _conv_pad(padding, k, d, stride, n):
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            out = []
            for ki, di in zip(k, d):
                total = di * (ki - 1)
                out.append((total // 2, total - total // 2))
            return out
        raise RuntimeError(f"Invalid padding string: '{padding}'")
    p = _ntuple(padding, n, "padding")
    if any(v < 0 for v in p):
        raise RuntimeError("negative padding is not supported")
    return [(v, v) for v in p]


def _conv2d(x, weight, bias, stride, pads, dilation, groups):
    """x (N, C, H, W) batched; pads [(top, bottom), (left, right)]."""
    N, C, H, W = x.shape
    O, Cg, kh, kw = weight.shape
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    if O % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
                           f"but got weight of size [{list(weight.shape)}] instead")
    if C != Cg * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {list(weight.shape)}, expected input"
                           f"{list(x.shape)} to have {Cg * groups} channels, but got {C} channels instead")
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != O):
        raise RuntimeError(f"Given weight of size {list(weight.shape)}, expected bias to be 1-dimensional with {O} "
                           f"elements, but got bias of size {list(bias.shape)} instead")
    if x._be is not weight._be:
        x + weight.new_zeros(())  # the standard device-mismatch error
    (pt, pb), (pl, pr) = pads
    OH = _out_size(H, pt + pb, kh, stride[0], dilation[0])
    OW = _out_size(W, pl + pr, kw, stride[1], dilation[1])
    if OH <= 0 or OW <= 0:
        raise RuntimeError(f"Calculated output size: ({O}x{max(OH, 0)}x{max(OW, 0)}). Output size is too small")
    g = _Geometry((H, W), (pt, pb, pl, pr), (kh, kw), stride, dilation, (OH, OW))
    if groups == 1 and _cpu_float(x, weight, bias):
        return _conv2d_cpu(x, weight, bias, g)
    return _conv2d_im2col(x, weight, bias, g, groups)


def _conv2d_im2col(x, weight, bias, g, groups=1):
    """The composite convolution (every device, and double backward): im2col, then one matmul."""
    N, C = x.shape[:2]
    O, Cg, kh, kw = weight.shape
    cols = _im2col(x, g)  # (N, C, kh, kw, OH, OW)
    L = g.out[0] * g.out[1]
    if groups == 1:
        out = weight.reshape(O, C * kh * kw).matmul(cols.view(N, C * kh * kw, L))
    else:
        out = weight.reshape(groups, O // groups, Cg * kh * kw).matmul(cols.view(N, groups, Cg * kh * kw, L))
    out = out.view(N, O, *g.out)
    if bias is not None:
        out = out + bias.view(O, 1, 1)
    return out


def _cpu_float(x, *others):
    """Whether the cpu-only fused kernels serve x and the tensors others (or None): all on the cpu, all
    float32 or all float64 (half types keep the compositions)."""
    return x._be.name == "cpu" and (x._dtype is _dt.float32 or x._dtype is _dt.float64) and \
        all(t is None or (t._be is x._be and t._dtype is x._dtype) for t in others)


class CpuFusedBackward(_Node):
    """The backward of a cpu fused kernel over (x, weight, bias): its fused gradient kernel
    (fused()), or, when building a graph (create_graph), the composite's gradients."""

    def backward(self, g):
        x, w, b = self.saved_tensors
        if _grad_mode.enabled:
            return _composite_grads(self.composite(x, w, b), (x, w, b), self.needs, g)
        return self.fused(g, x, w)


class ConvolutionBackward0(CpuFusedBackward):
    """backends/cpu.conv2d_grad."""

    def composite(self, x, w, b):
        return _conv2d_im2col(x, w, b, self.geom)

    def fused(self, g, x, w):
        be, geom = g._be, self.geom
        grads = be.conv2d_grad(g._data, self.cols, w._data, geom.hw, geom.pad[::2], geom.padded(), geom.s,
                               geom.d, self.needs)
        return tuple(None if h is None else _make(h, g._dtype, be) for h in grads)


def _composite_grads(y, inputs, needs, g):
    """The gradients of y (recomputed by a composite) with respect to the inputs that need one, the graph
    kept (double backward through a fused kernel)."""
    from ..autograd import grad
    got = iter(grad(y, [t for t, n in zip(inputs, needs) if n], g, create_graph=True, allow_unused=True))
    return tuple(next(got) if n else None for n in needs)


def _conv2d_cpu(x, weight, bias, g):
    needs = tuple(t is not None and _needs_grad(t) for t in (x, weight, bias))
    be = x._be
    yd, cols = be.conv2d(x._data, weight._data, None if bias is None else bias._data, g.pad[::2], g.padded(), g.s,
                         g.d, g.out, any(needs))
    y = _make(yd, x._dtype, be)
    if any(needs):
        _attach(ConvolutionBackward0(x, weight, bias, geom=g, cols=cols, needs=needs), (x, weight, bias), (y,))
    return y


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    if _amp.active:
        input, weight, bias = _amp.cast("conv2d", input, weight, bias)
    batched = _batched(input, "conv2d", 2)
    x = input if batched else input.unsqueeze(0)
    if weight.ndim != 4:
        raise RuntimeError("weight should have at least three dimensions" if weight.ndim < 3 else
                           f"Expected 4-dimensional weight for 4-dimensional input {list(x.shape)}, but got "
                           f"{weight.ndim}-dimensional weight of size {list(weight.shape)} instead")
    stride, dilation = _ntuple(stride, 2, "stride"), _ntuple(dilation, 2, "dilation")
    pads = _conv_pad(padding, weight.shape[2:], dilation, stride, 2)
    out = _conv2d(x, weight, bias, stride, pads, dilation, groups)
    return out if batched else out.squeeze(0)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    if _amp.active:
        input, weight, bias = _amp.cast("conv1d", input, weight, bias)
    batched = _batched(input, "conv1d", 1)
    x = input if batched else input.unsqueeze(0)
    if weight.ndim != 3:
        raise RuntimeError(f"Expected 3-dimensional weight for 3-dimensional input {list(x.shape)}, but got "
                           f"{weight.ndim}-dimensional weight of size {list(weight.shape)} instead")
    stride, dilation = _ntuple(stride, 1, "stride"), _ntuple(dilation, 1, "dilation")
    pads = _conv_pad(padding, weight.shape[2:], dilation, stride, 1)
    out = _conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias, (1,) + stride, [(0, 0)] + pads, (1,) + dilation,
                  groups).squeeze(2)
    return out if batched else out.squeeze(0)


def _conv_transpose2d(x, weight, bias, stride, padding, output_padding, groups, dilation):
    N, Cin, H, W = x.shape
    if weight.shape[0] != Cin:
        raise RuntimeError(f"Given transposed=1, weight of size {list(weight.shape)}, expected input"
                           f"{list(x.shape)} to have {weight.shape[0]} channels, but got {Cin} channels instead")
    if groups <= 0 or Cin % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
                           f"but got weight of size [{list(weight.shape)}] instead")
    _, Og, kh, kw = weight.shape
    O = Og * groups
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != O):
        raise RuntimeError(f"Given transposed=1, weight of size {list(weight.shape)}, expected bias to be "
                           f"1-dimensional with {O} elements, but got bias of size {list(bias.shape)} instead")
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= s and op >= d:
            raise RuntimeError("output padding must be smaller than either stride or dilation, but got "
                               f"output_padding_height: {output_padding[0]} output_padding_width: "
                               f"{output_padding[1]} stride_height: {stride[0]} stride_width: {stride[1]} "
                               f"dilation_height: {dilation[0]} dilation_width: {dilation[1]}")
    OH = (H - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1) + output_padding[0] + 1
    OW = (W - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1) + output_padding[1] + 1
    if OH <= 0 or OW <= 0:
        raise RuntimeError(f"Given input size per channel: ({H} x {W}). Calculated output size per channel: "
                           f"({OH} x {OW}). Output size is too small")
    Cg = Cin // groups
    xc = x.reshape(N, groups, Cg, H * W)
    wt = weight.reshape(groups, Cg, Og * kh * kw).transpose(1, 2)  # (g, Og*K, Cg)
    cols = wt.matmul(xc).view(N, O, kh, kw, H, W)
    g = _Geometry((OH, OW), (padding[0], padding[0], padding[1], padding[1]), (kh, kw), stride, dilation, (H, W))
    out = _col2im(cols, g)
    if bias is not None:
        out = out + bias.view(O, 1, 1)
    return out


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    if _amp.active:
        input, weight, bias = _amp.cast("conv_transpose2d", input, weight, bias)
    batched = _batched(input, "conv_transpose2d", 2)
    x = input if batched else input.unsqueeze(0)
    if weight.ndim != 4:
        raise RuntimeError(f"Expected 4-dimensional weight for 4-dimensional input {list(x.shape)}, but got "
                           f"{weight.ndim}-dimensional weight of size {list(weight.shape)} instead")
    out = _conv_transpose2d(x, weight, bias, _ntuple(stride, 2, "stride"), _ntuple(padding, 2, "padding"),
                            _ntuple(output_padding, 2, "output_padding"), groups, _ntuple(dilation, 2, "dilation"))
    return out if batched else out.squeeze(0)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    if _amp.active:
        input, weight, bias = _amp.cast("conv_transpose1d", input, weight, bias)
    batched = _batched(input, "conv_transpose1d", 1)
    x = input if batched else input.unsqueeze(0)
    if weight.ndim != 3:
        raise RuntimeError(f"Expected 3-dimensional weight for 3-dimensional input {list(x.shape)}, but got "
                           f"{weight.ndim}-dimensional weight of size {list(weight.shape)} instead")
    out = _conv_transpose2d(x.unsqueeze(2), weight.unsqueeze(2), bias, (1,) + _ntuple(stride, 1, "stride"),
                            (0,) + _ntuple(padding, 1, "padding"), (0,) + _ntuple(output_padding, 1, "output_padding"),
                            groups, (1,) + _ntuple(dilation, 1, "dilation")).squeeze(2)
    return out if batched else out.squeeze(0)


# ---- pooling -----------------------------------------------------------------------------
def _pool_geometry(x, k, s, p, d, ceil_mode, fn):
    H, W = x.shape[-2:]
    for i in range(2):
        if s[i] <= 0:
            raise RuntimeError(f"stride should be greater than zero, but got dH: {s[0]} dW: {s[1]}")
        if p[i] * 2 > k[i]:
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got pad={p[i]}, "
                               f"kernel_size={k[i]} and dilation={d[i]}" if fn.startswith("max") else
                               "pad should be smaller than or equal to half of kernel size, but got padW = "
                               f"{p[1]}, padH = {p[0]}, kW = {k[1]}, kH = {k[0]}")
    OH = _out_size(H, 2 * p[0], k[0], s[0], d[0], ceil_mode, p[0])
    OW = _out_size(W, 2 * p[1], k[1], s[1], d[1], ceil_mode, p[1])
    if OH <= 0 or OW <= 0:
        raise RuntimeError(f"Given input size: ({x.shape[-3]}x{H}x{W}). Calculated output size: "
                           f"({x.shape[-3]}x{OH}x{OW}). Output size is too small")
    return OH, OW


def _pool_args(kernel_size, stride, padding, dilation, n):
    k = _ntuple(kernel_size, n, "kernel_size")
    s = k if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0) else _ntuple(stride, n)
    return k, s, _ntuple(padding, n), _ntuple(dilation, n)


class MaxPool2DWithIndicesBackward0(_Node):
    """The gradient to each window's first maximum (torch's rule for ties). On the cpu, the fused
    backends/cpu.max_pool2d_grad; else (and when building a graph) one where into the windows, then
    col2im (the windows' adjoint; differentiable, so double backward works)."""

    def backward(self, g):
        (pos,) = self.saved_tensors
        geom = self.geom
        if not _grad_mode.enabled and _cpu_float(g):
            be = g._be
            return _make(be.max_pool2d_grad(g._data, pos._data, geom.hw, geom.pad[::2], geom.padded(), geom.k,
                                            geom.s, geom.d), g._dtype, be)
        N, C, OH, OW = g.shape
        kh, kw = geom.k
        gcols = g.unsqueeze(2).where(_tap_numbers(kh * kw, g.device) == pos.unsqueeze(2), 0.0)
        return _col2im(gcols.view(N, C, kh, kw, OH, OW), geom)


def _tap_numbers(kk, device):
    """0 .. kk - 1 along the window dim of (N, C, kk, OH, OW) windows."""
    return _arange(kk, device=device).view(1, 1, kk, 1, 1)


def _max_pool2d(x, k, s, p, d, ceil_mode, return_indices):
    """x (N, C, H, W). The maxima and each window's position of its first maximum (its last NaN; a
    window of -infs, its first tap in the image), as torch's. On the cpu, the fused backends/cpu.max_pool2d. Else the windows (im2col) with the window
    position as a middle dim, so every op below runs over long contiguous rows (no arg-reduction:
    NumPy's is slow across a middle dim)."""
    N, C, H, W = x.shape
    OH, OW = _pool_geometry(x, k, s, p, d, ceil_mode, "max_pool2d")
    g = _Geometry((H, W), (p[0], p[0], p[1], p[1]), k, s, d, (OH, OW), fill=-math.inf)
    kk = k[0] * k[1]
    if _cpu_float(x) and kk < 256:
        be = x._be
        yd, posd = be.max_pool2d(x._data, p, g.padded(), k, s, d, (OH, OW), g.first_inside)
        out, pos = _make(yd, x._dtype, be), _make(posd, _dt.uint8, be)
    else:
        with _no_grad():
            cols = _im2col_fwd(x, g).view(N, C, kk, OH, OW)
            out = cols.amax(2, keepdim=True)
            taps = _tap_numbers(kk, x.device)
            pos = taps.where(cols == out, kk).amin(2)
            out = out.squeeze(2)
            # torch's tie rules: a window's last NaN; a window of -infs, its first tap in the image
            pos = pos.where(out != -math.inf, _tensor(g.first_inside(), device=x.device))
            pos = taps.where(cols != cols, -1).amax(2).where(out != out, pos)
    if _needs_grad(x):
        _attach(MaxPool2DWithIndicesBackward0(pos, geom=g), (x,), (out,))
    return (out, _window_index(pos.long(), k, s, p, d, W)) if return_indices else out


def _window_index(idx, k, s, p, d, W):
    """Flat input positions (row * W + col) of the per-window positions idx (N, C, OH, OW)."""
    OH, OW = idx.shape[-2:]
    with _no_grad():
        dev = idx.device
        ki, kj = idx // k[1], idx % k[1]
        rows = (_arange(OH, device=dev) * s[0] - p[0]).view(OH, 1) + ki * d[0]
        colw = _arange(OW, device=dev) * s[1] - p[1] + kj * d[1]
        return rows * W + colw


def _pool2d_input(input, fn):
    if input.ndim not in (3, 4):
        raise RuntimeError("non-empty 3D or 4D (batch mode) tensor expected for input")
    return (input, True) if input.ndim == 4 else (input.unsqueeze(0), False)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    x, batched = _pool2d_input(input, "max_pool2d")
    k, s, p, d = _pool_args(kernel_size, stride, padding, dilation, 2)
    r = _max_pool2d(x, k, s, p, d, ceil_mode, return_indices)
    if batched:
        return r
    return (r[0].squeeze(0), r[1].squeeze(0)) if return_indices else r.squeeze(0)


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    if input.ndim not in (2, 3):
        raise RuntimeError(f"max_pool1d() Expected 2D or 3D input tensor, but got {list(input.shape)}")
    k, s, p, d = _pool_args(kernel_size, stride, padding, dilation, 1)
    r = _max_pool2d(input.unsqueeze(-2) if input.ndim == 3 else input.unsqueeze(0).unsqueeze(-2),
                    (1,) + k, (1,) + s, (0,) + p, (1,) + d, ceil_mode, return_indices)
    fix = (lambda t: t.squeeze(-2)) if input.ndim == 3 else (lambda t: t.squeeze(-2).squeeze(0))
    return (fix(r[0]), fix(r[1])) if return_indices else fix(r)


def _avg_pool2d(x, k, s, p, ceil_mode, count_include_pad, divisor_override):
    H, W = x.shape[-2:]
    OH, OW = _pool_geometry(x, k, s, p, (1, 1), ceil_mode, "avg_pool2d")
    g = _Geometry((H, W), (p[0], p[0], p[1], p[1]), k, s, (1, 1), (OH, OW))
    total = _im2col(x, g).sum((2, 3))
    if divisor_override:
        return total / divisor_override
    # torch's divisor per window: clipped to the padded input, then (without count_include_pad) to the input
    div = []
    for n, o, kk, ss, pp in ((H, OH, k[0], s[0], p[0]), (W, OW, k[1], s[1], p[1])):
        start = np.arange(o) * ss - pp
        end = np.minimum(start + kk, n + pp)
        if count_include_pad:
            div.append(end - start)
        else:
            div.append(np.minimum(end, n) - np.maximum(start, 0))
    dv = np.outer(div[0], div[1])
    if (dv == dv.flat[0]).all():
        return total / int(dv.flat[0])
    return total / _tensor(dv.astype(np.float64), dtype=x.dtype, device=x.device)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    x, batched = _pool2d_input(input, "avg_pool2d")
    k, s, p, _ = _pool_args(kernel_size, stride, padding, 1, 2)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    r = _avg_pool2d(x, k, s, p, ceil_mode, count_include_pad, divisor_override)
    return r if batched else r.squeeze(0)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    if input.ndim not in (2, 3):
        raise RuntimeError(f"avg_pool1d() Expected 2D or 3D input tensor, but got {list(input.shape)}")
    k, s, p, _ = _pool_args(kernel_size, stride, padding, 1, 1)
    x = input.unsqueeze(-2) if input.ndim == 3 else input.unsqueeze(0).unsqueeze(-2)
    r = _avg_pool2d(x, (1,) + k, (1,) + s, (0,) + p, ceil_mode, count_include_pad, None).squeeze(-2)
    return r if input.ndim == 3 else r.squeeze(0)


def _adaptive_matrix(n, o, dtype, device):
    m = np.zeros((o, n))
    for i in range(o):
        a, b = (i * n) // o, -(-((i + 1) * n) // o)
        m[i, a:b] = 1.0 / (b - a)
    return _tensor(m, dtype=dtype, device=device)


def adaptive_avg_pool2d(input, output_size):
    if input.ndim not in (3, 4):
        raise ValueError(f"adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got {list(input.shape)}")
    if not isinstance(output_size, (list, tuple)):
        output_size = (output_size, output_size)
    H, W = input.shape[-2:]
    OH, OW = (H if output_size[0] is None else output_size[0]), (W if output_size[1] is None else output_size[1])
    if (OH, OW) == (1, 1):
        return input.mean((-2, -1), keepdim=True)
    if H % OH == 0 and W % OW == 0:  # regular windows: an average pool
        x = input if input.ndim == 4 else input.unsqueeze(0)
        r = _avg_pool2d(x, (H // OH, W // OW), (H // OH, W // OW), (0, 0), False, True, None)
        return r if input.ndim == 4 else r.squeeze(0)
    out = input
    if OW != W:
        out = out.matmul(_adaptive_matrix(W, OW, input.dtype, input.device).t())
    if OH != H:
        out = _adaptive_matrix(H, OH, input.dtype, input.device).matmul(out)
    return out


def adaptive_avg_pool1d(input, output_size):
    if input.ndim not in (2, 3):
        raise RuntimeError(f"adaptive_avg_pool1d() argument 'input' should have 2 or 3 dimensions, but got "
                           f"{input.ndim}")
    o = output_size[0] if isinstance(output_size, (list, tuple)) else output_size
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1, o)).squeeze(-2)


# ---- unfold / fold (im2col as (N, C*kh*kw, L)) -------------------------------------------
def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    if input.ndim not in (3, 4):
        raise RuntimeError(f"Input Error: Only 3D or 4D input Tensors are supported (got {input.ndim}D)")
    x = input if input.ndim == 4 else input.unsqueeze(0)
    k, d, p, s = (_ntuple(v, 2) for v in (kernel_size, dilation, padding, stride))
    N, C, H, W = x.shape
    OH = _out_size(H, 2 * p[0], k[0], s[0], d[0])
    OW = _out_size(W, 2 * p[1], k[1], s[1], d[1])
    if OH <= 0 or OW <= 0:
        raise RuntimeError(f"Given input with spatial size ({H}, {W}), kernel_size=({k[0]}, {k[1]}), dilation="
                           f"({d[0]}, {d[1]}), padding=({p[0]}, {p[1]}), calculated shape of the array of sliding "
                           f"blocks as ({OH}, {OW}), but its components must be at least one.")
    g = _Geometry((H, W), (p[0], p[0], p[1], p[1]), k, s, d, (OH, OW))
    r = _im2col(x, g).view(N, C * k[0] * k[1], OH * OW)
    return r if input.ndim == 4 else r.squeeze(0)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    if input.ndim not in (2, 3):
        raise RuntimeError(f"Input Error: Only unbatched (2D) or batched (3D) input Tensors are supported "
                           f"(got {input.ndim}D)")
    x = input if input.ndim == 3 else input.unsqueeze(0)
    o, k, d, p, s = (_ntuple(v, 2) for v in (output_size, kernel_size, dilation, padding, stride))
    N, CK, L = x.shape
    OH = _out_size(o[0], 2 * p[0], k[0], s[0], d[0])
    OW = _out_size(o[1], 2 * p[1], k[1], s[1], d[1])
    if CK % (k[0] * k[1]) or OH * OW != L:
        raise RuntimeError(f"Given output_size={o}, kernel_size={k}, dilation={d}, padding={p}, stride={s}, "
                           f"expected size of input's dimension 2 to match the calculated number of sliding "
                           f"blocks {OH} * {OW} = {OH * OW}, but got input.size(2)={L}.")
    g = _Geometry(o, (p[0], p[0], p[1], p[1]), k, s, d, (OH, OW))
    r = _col2im(x.reshape(N, CK // (k[0] * k[1]), k[0], k[1], OH, OW), g)
    return r if input.ndim == 3 else r.squeeze(0)


# ---- interpolation -----------------------------------------------------------------------
_LINEAR = {"linear": 1, "bilinear": 2}


def _np_float(dtype):
    return np.float64 if str(dtype) == "torch.float64" else np.float32


def _nearest_index(n, o, scale, exact, ft):
    sc = ft(n / o) if scale is None else ft(1.0 / scale)
    dst = np.arange(o, dtype=ft)
    src = np.floor((dst + ft(0.5)) * sc) if exact else np.floor(dst * sc)
    return np.minimum(src.astype(np.int64), n - 1)


def _linear_matrix(n, o, scale, align_corners, ft):
    if align_corners:
        sc = ft((n - 1) / (o - 1)) if o > 1 else ft(0)
        src = np.arange(o, dtype=ft) * sc
    else:
        sc = ft(n / o) if scale is None else ft(1.0 / scale)
        src = np.maximum(sc * (np.arange(o, dtype=ft) + ft(0.5)) - ft(0.5), ft(0))
    i0 = src.astype(np.int64)
    i1 = i0 + (i0 < n - 1)
    l1 = src - i0.astype(ft)
    l0 = ft(1) - l1
    m = np.zeros((o, n), dtype=np.float64)
    np.add.at(m, (np.arange(o), i0), l0.astype(np.float64))
    np.add.at(m, (np.arange(o), i1), l1.astype(np.float64))
    return m


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    modes = ("nearest", "nearest-exact", "linear", "bilinear")
    if mode not in modes:
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported (supported: {', '.join(modes)})")
    if antialias:
        raise NotImplementedError("interpolate: antialias is not supported")
    if mode in ("nearest", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating modes: "
                             "linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    n = input.ndim - 2
    if n not in (1, 2):
        raise NotImplementedError(f"Input Error: Only 3D and 4D input Tensors supported (got {input.ndim}D) "
                                  f"for the modes: nearest | linear | bilinear (got {mode})")
    if mode in _LINEAR and _LINEAR[mode] != n:
        need = {1: "3D", 2: "4D"}[_LINEAR[mode]]
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {need} input")
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    in_sizes = list(input.shape[2:])
    if size is not None:
        sizes = list(size) if isinstance(size, (list, tuple)) else [size] * n
        if len(sizes) != n:
            raise ValueError(f"Input and output must have the same number of spatial dimensions, but got input "
                             f"with spatial dimensions of {in_sizes} and output size of {sizes}. Please provide "
                             f"input tensor in (N, C, d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) "
                             f"format.")
        sizes, scales = [int(s) for s in sizes], [None] * n
    elif scale_factor is not None:
        scales = list(scale_factor) if isinstance(scale_factor, (list, tuple)) else [scale_factor] * n
        if len(scales) != n:
            raise ValueError(f"Input and scale_factor must have the same number of spatial dimensions, but got "
                             f"input with spatial dimensions of {in_sizes} and scale_factor of shape {scales}. "
                             f"Please provide input tensor in (N, C, d1, d2, ...,dK) format and scale_factor in "
                             f"(s1, s2, ...,sK) format.")
        sizes = [math.floor(float(i) * float(s)) for i, s in zip(in_sizes, scales)]
        scales = [None if recompute_scale_factor else float(s) for s in scales]
    else:
        raise ValueError("either size or scale_factor should be defined")
    if any(o <= 0 for o in sizes):
        raise RuntimeError(f"Input and output sizes should be greater than 0, but got input ({', '.join(map(str, in_sizes))}) "
                           f"and output ({', '.join(map(str, sizes))})")
    ft = _np_float(input.dtype)
    out = input
    for i in range(n):
        dim = input.ndim - n + i
        ni, oi = in_sizes[i], sizes[i]
        if mode.startswith("nearest"):
            if ni == oi and scales[i] in (None, 1.0):
                continue
            idx = _nearest_index(ni, oi, scales[i], mode == "nearest-exact", ft)
            out = out.index_select(dim, _tensor(idx, device=input.device))
        else:
            if ni == oi and (align_corners or scales[i] in (None, 1.0)):
                continue
            m = _tensor(_linear_matrix(ni, oi, scales[i], align_corners, ft), dtype=input.dtype, device=input.device)
            if dim == input.ndim - 1:
                out = out.matmul(m.t())
            else:
                out = m.matmul(out)
    return out if out is not input else input.clone()


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    warnings.warn("`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use `nn.functional.interpolate` instead.",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use `nn.functional.interpolate` instead.",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
