"""The functional form of attention (F.scaled_dot_product_attention), composed from Tensor ops
(matmul, masked_fill, the fused softmax, dropout), so it runs and differentiates on every device."""
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
    if dropout_p > 0.0:
        weights = _dropout(weights, dropout_p)
    return weights.matmul(value), weights


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
    if is_causal:
        keep = _causal_keep(query.shape[-2], key.shape[-2], query.device)
    elif attn_mask is not None:
        if attn_mask.dtype == _dt.bool_:
            keep = attn_mask
        else:
            bias = attn_mask
    return _attend(query, key, value, bias, keep, scale, dropout_p)[0]
