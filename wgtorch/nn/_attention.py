"""The functional form of attention (F.scaled_dot_product_attention): one fused primitive
(softmax(q k^T) v without the (L, S) weights in memory) whose backward recomputes the weights
in Tensor ops; with dropout, or shapes the kernel does not take, the same composed from
Tensor ops (matmul, masked_fill, the fused softmax, dropout)."""
import math

from .. import dtypes as _dt
from ..amp import autocast_mode as _amp
from ..autograd import grad_mode as _grad_mode
from ..autograd.graph import Node as _Node
from ..autograd.graph import attach as _attach
from ..ops.core import _make
from ..ops.core import sum_to as _sum_to
from ..ops.creation import ones as _ones
from ..ops.creation import zeros as _zeros

__all__ = ["scaled_dot_product_attention"]


def _dropout(x, p):
    from .functional import dropout  # functional star-imports this module at its end
    return dropout(x, p, True)


def _causal_keep(L, S, device):
    """(L, S) bool, True on and below the diagonal (top-left aligned, as torch)."""
    return _ones((L, S), dtype=_dt.bool_, device=device).tril()


def _attend(query, key, value, bias=None, keep=None, scale=None, dropout_p=0.0):
    """softmax(q k^T * scale + bias, masked to `keep`) @ v; returns (output, weights)."""
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    scores = (query * scale).matmul(key.transpose(-2, -1))
    if keep is not None:
        scores = scores.masked_fill(keep.logical_not(), float("-inf"))
    if bias is not None:
        scores = scores + bias
    weights = scores.softmax(-1)
    if keep is not None or bias is not None:  # a row with every key masked attends to nothing (torch: 0, not NaN)
        weights = weights.masked_fill((scores == float("-inf")).all(-1, keepdim=True), 0.0)
    if dropout_p > 0.0:
        weights = _dropout(weights, dropout_p)
    return weights.matmul(value), weights


class ScaledDotProductAttentionBackward0(_Node):
    """Recomputes the attention weights (one fused softmax) instead of keeping them; in
    Tensor ops, so double backward works."""

    def backward(self, g):
        q, k, v, bias = self.saved_tensors
        keep = _causal_keep(q.shape[-2], k.shape[-2], q.device) if self.causal else None
        _, w = _attend(q, k, v, bias, keep, self.scale)
        gv = w.mT.matmul(g)
        gw = g.matmul(v.mT)
        gs = w * (gw - (gw * w).sum(-1, keepdim=True))
        gq = gs.matmul(k) * self.scale
        gk = gs.mT.matmul(q) * self.scale
        gb = _sum_to(gs, bias.shape) if bias is not None and bias.requires_grad else None
        return gq, gk, gv, gb


def _fused_ok(query, key, value, dropout_p):
    """Whether the fused primitive takes these: no dropout (it needs the weights), one float
    dtype, equal batch dims, and (on wgpu) keys that fit one workgroup's memory."""
    if dropout_p > 0.0 or not query.dtype.is_floating_point or query.dim() < 3:
        return False
    if not (query.dtype == key.dtype == value.dtype) or not (query._be is key._be is value._be):
        return False
    if not (query.shape[:-2] == key.shape[:-2] == value.shape[:-2]) or key.shape[-2] != value.shape[-2]:
        return False
    # the wgpu kernel keeps a row's scores in workgroup memory (1024 keys) and loops over E
    return query._be.name == "cpu" or (key.shape[-2] <= 1024 and key.shape[-1] <= 4096)


def _fused(query, key, value, bias, causal, scale):
    """The fused primitive over (B, L, E) views of (..., L, E) inputs; bias: a float (..., L, S)
    additive mask (a bool mask arrives as 0 / -inf)."""
    lead, L, (S, Ev) = tuple(query.shape[:-2]), query.shape[-2], value.shape[-2:]
    q3, k3, v3 = (t.reshape(-1, *t.shape[-2:]) for t in (query, key, value))
    b3 = None if bias is None else bias.expand(*lead, L, S).reshape(-1, L, S)
    be = query._be
    out = _make(be.attention(q3._data, k3._data, v3._data, None if b3 is None else b3._data, causal, scale),
                query.dtype, be).reshape(*lead, L, Ev)
    rg = [t is not None and t.requires_grad for t in (query, key, value, bias)]
    if _grad_mode.enabled and any(rg):
        node = ScaledDotProductAttentionBackward0(query, key, value, bias, causal=causal, scale=scale)
        _attach(node, (query, key, value, bias), (out,))
    return out


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """softmax(Q K^T / sqrt(E) + mask) V over the last two dims of (..., L, E), (..., S, E), (..., S, Ev).

    A bool ``attn_mask`` keeps the positions where it is True; a float mask is added to the scores;
    ``is_causal`` keeps the lower triangle (top-left aligned); ``dropout_p`` drops attention weights
    (always, as torch: pass 0.0 in evaluation); ``enable_gqa`` repeats key/value heads (dim -3) to
    match the query's."""
    if _amp.active:
        query, key, value = _amp.cast("scaled_dot_product_attention", query, key, value)
    if is_causal and attn_mask is not None:
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True")
    if not (0.0 <= dropout_p <= 1.0):
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {dropout_p}")
    if query.dim() < 2 or key.dim() < 2 or value.dim() < 2:
        raise RuntimeError("scaled_dot_product_attention: query, key and value must have at least 2 dimensions")
    if query.shape[-1] != key.shape[-1]:
        raise RuntimeError(f"scaled_dot_product_attention: query's last dim ({query.shape[-1]}) must equal "
                           f"key's ({key.shape[-1]})")
    if enable_gqa and query.dim() >= 3 and key.shape[-3] != query.shape[-3]:
        hq, hk = query.shape[-3], key.shape[-3]
        if hq % hk or value.shape[-3] != hk:
            raise RuntimeError(f"scaled_dot_product_attention: number of heads in key and value ({hk}, "
                               f"{value.shape[-3]}) must divide the number of heads in query ({hq})")
        key = key.repeat_interleave(hq // hk, dim=-3)
        value = value.repeat_interleave(hq // hk, dim=-3)
    bias = keep = None
    scale_ = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    if _fused_ok(query, key, value, dropout_p) and (attn_mask is None or attn_mask.dtype in (_dt.bool_, query.dtype)):
        if attn_mask is not None and attn_mask.dtype == _dt.bool_:
            attn_mask = _zeros(attn_mask.shape, dtype=query.dtype, device=query.device).masked_fill_(
                attn_mask.logical_not(), float("-inf"))
        return _fused(query, key, value, attn_mask, is_causal, scale_)
    if is_causal:
        keep = _causal_keep(query.shape[-2], key.shape[-2], query.device)
    elif attn_mask is not None:
        if attn_mask.dtype == _dt.bool_:
            keep = attn_mask
        else:
            bias = attn_mask
    return _attend(query, key, value, bias, keep, scale, dropout_p)[0]
