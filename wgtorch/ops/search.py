"""searchsorted and bucketize: a binary search composed of gathers and comparisons (one step per
halving of the boundaries: log2(M) steps, memory of one index per value), so it runs on every device."""
from .. import dtypes
from ..autograd import grad_mode
from .core import Tensor
from .creation import full, tensor, zeros
from .elementwise import where
from .indexing import gather


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, out=None, sorter=None):
    """Per value, the index where it would go in sorted_sequence's last dim: the first boundary >= it
    (right: > it). Comparisons as torch's: a value goes right of a boundary unless boundary >= value
    (> for right), so NaN values land at the end."""
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but got {side}")
        if right and side == "left":
            raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites, got side of left "
                               "while right was True")
        right = side == "right"
    seq = sorted_sequence
    if seq.ndim == 0:
        raise RuntimeError("torch.searchsorted(): boundaries tensor should have positive dimension, but got 0 "
                           "dimension")
    v = input if isinstance(input, Tensor) else tensor(input, device=seq.device)
    if seq.ndim > 1 and tuple(seq.shape[:-1]) != tuple(v.shape[:-1]):
        raise RuntimeError("torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
                           "dimensions of boundaries tensor and input value tensor must match, but we got "
                           f"boundaries tensor {list(seq.shape)} and input value tensor {list(v.shape)}")
    with grad_mode.no_grad():
        if sorter is not None:
            seq = gather(seq, -1, sorter)
        shape, m = tuple(v.shape), seq.shape[-1]
        r = zeros(shape, dtype=dtypes.int64, device=seq.device)  # (no boundaries: every value goes at 0)
        if m:
            seq = seq.reshape(-1, m)  # (rows, M): one row of boundaries per row of values
            rows = v.reshape(seq.shape[0], -1)
            lo = r.reshape(rows.shape)
            hi = full(rows.shape, m, dtype=dtypes.int64, device=seq.device)
            for _ in range(m.bit_length()):  # ceil(log2(m + 1)) halvings of [lo, hi)
                mid = (lo + hi) // 2
                s = gather(seq, -1, mid.clamp(max=m - 1))
                go = ~(s > rows) if right else ~(s >= rows)
                active = lo < hi
                lo, hi = where(go & active, mid + 1, lo), where(~go & active, mid, hi)
            r = lo.reshape(shape)
        if out_int32:
            r = r.int()
    return r if out is None else out.copy_(r)


def bucketize(input, boundaries, *, out_int32=False, right=False, out=None):
    """The bucket of each value among the 1-d boundaries (searchsorted with the same `right`)."""
    if boundaries.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({boundaries.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right, out=out)
