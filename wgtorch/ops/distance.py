"""cdist: the p-norm distances between each row of x1 and each row of x2, batched."""
import math

from ..autograd import grad_mode
from .core import Node, attach, broadcast_shapes
from .elementwise import _TNAME
from .shape import cat

_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist")


class CdistBackward0(Node):
    """d dist / d x1 = sum over x2's rows of g * w, w the p-norm's derivative in each difference (0 where
    a distance is 0), and the opposite for x2 (as torch's _cdist_backward)."""

    def __init__(self, x1, x2, dist, p):
        self.save(x1, x2, dist)
        self.p = p

    def backward(self, g):
        x1, x2, dist = self.saved_tensors
        if self.p == 0:
            return x1.new_zeros(x1.shape), x2.new_zeros(x2.shape)
        diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)  # (..., P, R, M)
        d = dist.unsqueeze(-1)
        if self.p == 1:
            w = diff.sign()
        elif self.p == math.inf:
            w = diff.sign() * (diff.abs() == d)
        else:
            if self.p == 2:
                w = diff
            else:  # (a zero difference contributes 0, also where p < 1 makes |0|^(p-1) infinite)
                w = diff.sign() * diff.abs().masked_fill(diff == 0, 1).pow(self.p - 1)
            safe = d.masked_fill(d == 0, 1)
            w = (w / (safe if self.p == 2 else safe.pow(self.p - 1))).masked_fill(d == 0, 0)
        w = w * g.unsqueeze(-1)
        return w.sum(-2), -w.sum(-3)


def cdist(x1, x2, p=2.0, compute_mode=_MODES[0]):
    if not x1.is_floating_point():
        raise RuntimeError(f"cdist only supports floating-point dtypes, X1 got: {_TNAME[x1._dtype]}")
    if not x2.is_floating_point():
        raise RuntimeError(f"cdist only supports floating-point dtypes, X2 got: {_TNAME[x2._dtype]}")
    if x1.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {x1.ndim}D")
    if x2.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X2 got: {x2.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}")
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    if x1._dtype is not x2._dtype:
        raise RuntimeError(f"expected scalar type {_TNAME[x1._dtype]} but found {_TNAME[x2._dtype]}")
    mode = compute_mode
    if mode not in _MODES:
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    batch = tuple(broadcast_shapes(tuple(x1.shape[:-2]), tuple(x2.shape[:-2])))
    x1 = x1.expand(batch + tuple(x1.shape[-2:]))
    x2 = x2.expand(batch + tuple(x2.shape[-2:]))
    P, R = x1.shape[-2], x2.shape[-2]
    mm = p == 2 and (mode == _MODES[1] or (mode == _MODES[0] and (P > 25 or R > 25)))
    with grad_mode.no_grad():
        if mm:  # torch's: one product of [-2 x1, |x1|^2, 1] and [x2, 1, |x2|^2], clamped at 1e-30
            n1, n2 = (x1 * x1).sum(-1, keepdim=True), (x2 * x2).sum(-1, keepdim=True)
            a = cat([x1 * -2, n1, n1.new_ones(n1.shape)], -1)
            b = cat([x2, n2.new_ones(n2.shape), n2], -1)
            dist = a.matmul(b.mT).clamp_min(1e-30).sqrt()
        else:
            diff = (x1.unsqueeze(-2) - x2.unsqueeze(-3)).abs()
            if p == 0:
                dist = (diff != 0).sum(-1).to(x1.dtype)
            elif p == 1:
                dist = diff.sum(-1)
            elif p == 2:
                dist = (diff * diff).sum(-1).sqrt()
            elif p == math.inf:
                dist = diff.amax(-1)
            else:
                dist = diff.pow(p).sum(-1).pow(1 / p)
    if grad_mode.enabled and (x1._rg or x2._rg):
        attach(CdistBackward0(x1, x2, dist, p), (x1, x2), (dist,))
    return dist

