"""The functional forms of normalisation and embedding (F.batch_norm, F.layer_norm, F.group_norm, F.rms_norm,
F.embedding), composed from Tensor ops so they run on every device. layer_norm and embedding carry one
autograd node each (torch's names) whose backward is written in Tensor ops. Training batch_norm on the cpu
runs a fused NumPy kernel (backends/cpu.batch_norm) with its own node; elsewhere it uses the fused layer norm."""
import numpy as _np

from .. import dtypes as _dt
from ..amp import autocast_mode as _amp
from ..autograd import grad_mode as _grad_mode
from ..autograd.grad_mode import no_grad as _no_grad
from ..autograd.graph import Node as _Node
from ..autograd.graph import attach as _attach
from ..autograd.graph import needs_grad as _needs_grad
from ..ops import indexing as _ix
from ..ops import reductions as _rd
from ..ops.core import Tensor as _Tensor
from ..ops.core import _make
from ._conv import CpuFusedBackward as _CpuFusedBackward
from ._conv import _composite_grads, _cpu_float

__all__ = ["batch_norm", "layer_norm", "group_norm", "rms_norm", "embedding", "embedding_bag"]


def _shape_tuple(normalized_shape):
    if isinstance(normalized_shape, int):
        return (normalized_shape,)
    return tuple(int(s) for s in normalized_shape)


# ---- layer norm ----------------------------------------------------------------------------
class NativeLayerNormBackward0(_Node):
    """Backward of the fused layer norm: one fused backward primitive; when building a graph
    (create_graph) the forward is recomputed as Tensor ops and differentiated instead."""

    def backward(self, g):
        x2, w, b = self.saved_tensors
        n = x2.shape[1]
        g2 = g.reshape(-1, n)
        if _grad_mode.enabled:
            return self._composite(x2, w, b, g2)
        be = x2._be
        wd = None if w is None else w.reshape(n)._data
        gx, gw, gb = be.layer_norm_grad(g2.contiguous()._data, x2._data, self.mean, self.rstd, wd, self.needs)
        wrap = (lambda h, shape: None if h is None else _make(h, x2._dtype, be).reshape(shape))
        return wrap(gx, self.shape), wrap(gw, self.wshape), wrap(gb, self.wshape)

    def _composite(self, x2, w, b, g2):
        xc = x2 - x2.mean(1, keepdim=True)
        y = xc * ((xc * xc).mean(1, keepdim=True) + self.eps).rsqrt()
        if w is not None:
            y = y * w.reshape(-1)
        if b is not None:
            y = y + b.reshape(-1)
        gx, gw, gb = _composite_grads(y, (x2, w, b), self.needs, g2)
        return (None if gx is None else gx.reshape(self.shape)), gw, gb


def _layer_norm(x, k, weight, bias, eps, stats=False):
    """layer norm over the last k dims of x: one fused primitive, one autograd node.
    With stats, also the rows' mean and rstd (float32, or float64 for float64 x; no grad)."""
    needs = (x.requires_grad, weight is not None and weight.requires_grad,
             bias is not None and bias.requires_grad)
    shape = tuple(x.shape)
    n = 1
    for s in shape[len(shape) - k:]:
        n *= s
    x2 = x.reshape(-1, n).contiguous()
    be, dt = x2._be, x2._dtype
    for t in (weight, bias):
        if t is not None and (t._be is not be or t._dtype is not dt):
            x2 + t.reshape(n)  # the standard device / dtype mismatch error
            if t._dtype is not dt:
                raise RuntimeError(f"expected scalar type {dt} but found {t._dtype}")
    wd, bd = (None if t is None else t.reshape(n).contiguous()._data for t in (weight, bias))
    yd, mean, rstd = be.layer_norm(x2._data, wd, bd, eps)
    y = _make(yd, dt, be).reshape(shape)
    if _grad_mode.enabled and any(needs):
        wshape = tuple(shape[len(shape) - k:])
        node = NativeLayerNormBackward0(x2, weight, bias, shape=shape, wshape=wshape, needs=needs,
                                        mean=mean, rstd=rstd, eps=eps)
        _attach(node, (x, weight, bias), (y,))
    if stats:
        sdt = dt if dt is _dt.float64 else _dt.float32
        return y, _make(mean, sdt, be), _make(rstd, sdt, be)
    return y


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    if _amp.active:
        input, weight, bias = _amp.cast("layer_norm", input, weight, bias)
    shape = _shape_tuple(normalized_shape)
    k = len(shape)
    if k == 0:
        raise RuntimeError("Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one "
                           "element, but got normalized_shape = []")
    if input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise RuntimeError(f"Given normalized_shape={list(shape)}, expected input with shape [*, "
                           f"{', '.join(str(s) for s in shape)}], but got input of size{list(input.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise RuntimeError(f"Expected {name} to be of same shape as normalized_shape, but got {name} of shape "
                               f"{list(t.shape)} and normalized_shape = {list(shape)}")
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f'"LayerNormKernelImpl" not implemented for \'{_tname(input.dtype)}\'')
    return _layer_norm(input, k, weight, bias, eps)


def _tname(dt):
    return {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
            "bool": "Bool"}.get(str(dt).replace("torch.", ""), str(dt))


# ---- group norm ----------------------------------------------------------------------------
def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    if _amp.active:
        input, weight, bias = _amp.cast("group_norm", input, weight, bias)
    if input.ndim < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.ndim}")
    n, c = input.shape[0], input.shape[1]
    if c % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by num_groups, but got input "
                           f"of shape {list(input.shape)} and num_groups={num_groups}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and (t.ndim != 1 or t.shape[0] != c):
            raise RuntimeError(f"Expected {name} to be a vector of size equal to the number of channels in input, "
                               f"but got {name} of shape {list(t.shape)} and input of shape {list(input.shape)}")
    x = input.reshape(n, num_groups, -1)
    y = _layer_norm(x, 1, None, None, eps).reshape(input.shape)
    affine = (c,) + (1,) * (input.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(affine)
    if bias is not None:
        y = y + bias.reshape(affine)
    return y


# ---- rms norm ------------------------------------------------------------------------------
def rms_norm(input, normalized_shape, weight=None, eps=None):
    shape = _shape_tuple(normalized_shape)
    k = len(shape)
    if input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise RuntimeError(f"Given normalized_shape={list(shape)}, expected input with shape [*, "
                           f"{', '.join(str(s) for s in shape)}], but got input of size{list(input.shape)}".replace("[*, ", "[*"))
    if eps is None:
        # PyTorch: the eps of the computation type (half types compute in float32)
        eps = float(_np.finfo(_np.float64 if input.dtype is _dt.float64 else _np.float32).eps)
    dims = tuple(range(input.ndim - k, input.ndim))
    x = input.float() if input.dtype in (_dt.float16, _dt.bfloat16) else input  # (x * x underflows in half)
    y = (x * ((x * x).mean(dims, keepdim=True) + eps).rsqrt()).to(input.dtype)
    return y if weight is None else y * weight


# ---- batch norm ----------------------------------------------------------------------------
def _verify_batch_size(shape):
    size = shape[0]
    for s in shape[2:]:
        size *= s
    if size == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {shape!r}")


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    if _amp.active:
        input, weight, bias = _amp.cast("batch_norm", input, weight, bias)
    c = input.shape[1] if input.ndim > 1 else 1
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and t.numel() != c:
            raise RuntimeError(f"{name} should contain {c} elements not {t.numel()}")
    if training:
        _verify_batch_size(input.shape)
    shape = (1, c) + (1,) * (input.ndim - 2)
    if (training or running_mean is None or running_var is None) and input.ndim >= 2:
        if _cpu_float(input, weight, bias):
            y, mean, rstd = _batch_norm_cpu(input, weight, bias, eps)
            weight = bias = None  # (the fused kernel applied them)
        else:
            # the channels' statistics are rows of the (C, N * spatial) transpose: the fused layer norm
            n = input.shape[0]
            rows = input.reshape(n, c, -1).transpose(0, 1).reshape(c, -1)
            xhat, mean, rstd = _layer_norm(rows, 1, None, None, eps, stats=True)
            y = xhat.reshape(c, n, -1).transpose(0, 1).reshape(input.shape)
        if training and (running_mean is not None or running_var is not None):
            m = input.numel() // c
            with _no_grad():
                if running_mean is not None:
                    running_mean.mul_(1 - momentum).add_(mean.to(running_mean.dtype), alpha=momentum)
                if running_var is not None:
                    unbiased = (rstd ** -2 - eps) * (m / max(m - 1, 1))  # rstd = (var + eps)^-1/2
                    running_var.mul_(1 - momentum).add_(unbiased.to(running_var.dtype), alpha=momentum)
    elif training or running_mean is None or running_var is None:
        y = _batch_norm_composite(input, None, None, eps)
    else:
        y = (input - running_mean.reshape(shape)) * (running_var.reshape(shape) + eps).rsqrt()
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def _batch_norm_composite(x, weight, bias, eps):
    """Batch norm with the batch's statistics in Tensor ops (every device; double backward)."""
    dims = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    xc = x - x.mean(dims, keepdim=True)
    y = xc * ((xc * xc).mean(dims, keepdim=True) + eps).rsqrt()
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


class NativeBatchNormBackward0(_CpuFusedBackward):
    """backends/cpu.batch_norm_grad."""

    def composite(self, x, w, b):
        return _batch_norm_composite(x, w, b, self.eps)

    def fused(self, g, x, w):
        be, n, c = x._be, x.shape[0], x.shape[1]
        grads = be.batch_norm_grad(g.reshape(n, c, -1).contiguous()._data, self.x3, self.mean, self.rstd,
                                   None if w is None else w._data, self.needs)
        shapes = (x.shape, (c,), (c,))
        return tuple(None if h is None else _make(h, x._dtype, be).reshape(s) for h, s in zip(grads, shapes))


def _batch_norm_cpu(x, weight, bias, eps):
    """Training batch norm by the cpu's fused kernel (backends/cpu.batch_norm): y, and the channels'
    mean and rstd as tensors."""
    needs = tuple(t is not None and _needs_grad(t) for t in (x, weight, bias))
    be, n, c = x._be, x.shape[0], x.shape[1]
    x3 = x.reshape(n, c, -1).contiguous()._data
    yd, mean, rstd = be.batch_norm(x3, *(None if t is None else t._data for t in (weight, bias)), eps)
    y = _make(yd, x._dtype, be).reshape(x.shape)
    if any(needs):
        node = NativeBatchNormBackward0(x, weight, bias, x3=x3, mean=mean, rstd=rstd, eps=eps, needs=needs)
        _attach(node, (x, weight, bias), (y,))
    return y, _make(mean, x._dtype, be), _make(rstd, x._dtype, be)


# ---- embedding -----------------------------------------------------------------------------
class EmbeddingBackward0(_Node):
    def backward(self, g):
        (idx,) = self.saved_tensors
        d = g.shape[-1]
        g2 = g.reshape(-1, d)
        flat = idx.reshape(-1)
        if self.padding_idx is not None:
            g2 = g2 * (flat != self.padding_idx).unsqueeze(1).to(g2.dtype)
        if self.scale_grad_by_freq:
            counts = g2.new_zeros(self.num_weights).index_add(0, flat, g2.new_ones(flat.shape[0]))
            g2 = g2 / _ix.index_select(counts, 0, flat).unsqueeze(1)
        return g2.new_zeros((self.num_weights, d)).index_add(0, flat, g2)


def _embedding_renorm_(weight, input, max_norm, norm_type):
    with _no_grad():
        idx = _rd.unique(input.reshape(-1))
        rows = _ix.index_select(weight, 0, idx)
        norms = rows.norm(norm_type, 1, keepdim=True)
        scale = (max_norm / (norms + 1e-7)).clamp(max=1.0)
        scale = scale.where(norms > max_norm, scale.new_ones(()))
        weight.index_copy_(0, idx, rows * scale) if hasattr(weight, "index_copy_") else \
            _ix.index_put_(weight, (idx,), rows * scale)
    return weight


def _check_indices(input):
    if not isinstance(input, _Tensor):
        raise TypeError(f"embedding(): argument 'indices' (position 2) must be Tensor, not {type(input).__name__}")
    if input.dtype not in (_dt.int64, _dt.int32):
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got {input.type()} instead (while checking arguments for embedding)")


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """sparse=True is accepted and gives a dense gradient (wgtorch has no sparse tensors)."""
    _check_indices(input)
    if weight.ndim != 2:
        raise RuntimeError("'weight' must be 2-D")
    num = weight.shape[0]
    if padding_idx is not None:
        if padding_idx > 0:
            if padding_idx >= num:
                raise AssertionError("Padding_idx must be within num_embeddings")
        elif padding_idx < 0:
            if padding_idx < -num:
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx = num + padding_idx
    if max_norm is not None:
        _embedding_renorm_(weight, input.contiguous(), max_norm, norm_type)
    with _no_grad():
        out = _ix.index_select(weight, 0, input.reshape(-1)).reshape(tuple(input.shape) + (weight.shape[1],))
    if _grad_mode.enabled and weight.requires_grad:
        _attach(EmbeddingBackward0(input, num_weights=num, padding_idx=padding_idx,
                                   scale_grad_by_freq=scale_grad_by_freq), (weight,), (out,))
    return out


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False, mode="mean",
                  sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """Bags of embeddings reduced by sum / mean / max. 2-D input: one bag per row; 1-D input with offsets."""
    if mode not in ("sum", "mean", "max"):
        raise ValueError("mode has to be one of sum, mean or max")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError("embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                  f"supported for mode='sum' (got mode='{mode}'). Please open a feature request "
                                  "on GitHub.")
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated is a mini-batch of "
                             "fixed length sequences.")
        b, n = input.shape
        bounds = [(i * n, (i + 1) * n) for i in range(b)]
        input = input.reshape(-1)
        if per_sample_weights is not None:
            per_sample_weights = per_sample_weights.reshape(-1)
    elif input.ndim == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        offs = [int(o) for o in offsets.tolist()]
        if include_last_offset:
            bounds = list(zip(offs[:-1], offs[1:]))
        else:
            bounds = list(zip(offs, offs[1:] + [input.shape[0]]))
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.ndim}")
    emb = embedding(input, weight, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse)
    if per_sample_weights is not None:
        emb = emb * per_sample_weights.unsqueeze(1)
    keep = None
    if padding_idx is not None:
        pad = padding_idx if padding_idx >= 0 else weight.shape[0] + padding_idx
        keep = (input != pad)
    from ..ops.shape import stack
    rows = []
    for s, e in bounds:
        if e <= s:
            rows.append(weight.new_zeros(weight.shape[1]))
            continue
        part = emb[s:e]
        if keep is not None:
            k = keep[s:e]
            cnt = int(k.sum())
            if cnt == 0:
                rows.append(weight.new_zeros(weight.shape[1]))
                continue
            if mode == "max":
                part = part[k]
            else:
                part = part * k.unsqueeze(1).to(part.dtype)
        else:
            cnt = e - s
        if mode == "sum":
            rows.append(part.sum(0))
        elif mode == "mean":
            rows.append(part.sum(0) / cnt)
        else:
            rows.append(part.amax(0))
    return stack(rows)
