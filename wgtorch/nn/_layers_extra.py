"""Functional forms of the smaller layers: pixel (un)shuffle, cosine similarity and pairwise
distance, and channel-wise (feature) dropout. All composed from Tensor ops, so they run and
differentiate on every device."""
import operator
import warnings

from ..autograd.grad_mode import no_grad
from ..ops.core import result_dtype
from ..ops.shape import broadcast_tensors
from .functional import _tname

__all__ = ["cosine_similarity", "dropout1d", "dropout2d", "dropout3d", "pairwise_distance", "pixel_shuffle",
           "pixel_unshuffle"]


# ---- pixel shuffle ----------------------------------------------------------------------------
def _check_factor(fn, arg, factor, ndim):
    """The factor as an int (NumPy integers too, not bools or floats), after torch's checks."""
    if isinstance(factor, bool) or not hasattr(type(factor), "__index__"):
        raise TypeError(f"{fn}(): argument '{arg}' (position 2) must be int, not {type(factor).__name__}")
    factor = operator.index(factor)
    if ndim < 3:
        raise RuntimeError(f"{fn} expects input to have at least 3 dimensions, but got input with {ndim} "
                           "dimension(s)")
    if factor <= 0:
        raise RuntimeError(f"{fn} expects a positive {arg}, but got {factor}")
    return factor


def pixel_shuffle(input, upscale_factor):
    """(*, C*r*r, H, W) -> (*, C, H*r, W*r): each r x r block of the output is one channel group."""
    r = _check_factor("pixel_shuffle", "upscale_factor", upscale_factor, input.ndim)
    *batch, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError("pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                           f"upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    n = len(batch)
    x = input.reshape(*batch, c // (r * r), r, r, h, w)
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)  # (*, C, H, r, W, r)
    return x.reshape(*batch, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor):
    """The inverse of pixel_shuffle: (*, C, H*r, W*r) -> (*, C*r*r, H, W)."""
    r = _check_factor("pixel_unshuffle", "downscale_factor", downscale_factor, input.ndim)
    *batch, c, h, w = input.shape
    for name, size, d in (("height", h, -2), ("width", w, -1)):
        if size % r:
            raise RuntimeError(f"pixel_unshuffle expects {name} to be divisible by downscale_factor, but "
                               f"input.size({d})={size} is not divisible by {r}")
    n = len(batch)
    x = input.reshape(*batch, c, h // r, r, w // r, r)
    x = x.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)  # (*, C, r, r, H/r, W/r)
    return x.reshape(*batch, c * r * r, h // r, w // r)


# ---- distances ------------------------------------------------------------------------------
def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1 / max(|x1|, eps) * x2 / max(|x2|, eps)) along dim, the inputs broadcast together."""
    dt = result_dtype(x1, x2)
    if not dt.is_floating_point:
        raise RuntimeError(f"expected common dtype to be floating point, yet common dtype is {_tname(dt)}")
    x1, x2 = (x if x.is_floating_point() else x.to(dt) for x in (x1, x2))
    x1, x2 = broadcast_tensors(x1, x2)

    def clamped_norm(x):
        # as torch: the clamp changes the value only, so the gradient is the unclamped norm's
        n = x.norm(2, dim, keepdim=True).clone()
        with no_grad():
            n.clamp_(min=eps)
        return n

    return ((x1 / clamped_norm(x1)) * (x2 / clamped_norm(x2))).sum(dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """The p-norm of x1 - x2 + eps over the last dim of the broadcast shape."""
    return (x1 - x2 + eps).norm(p, max(x1.ndim, x2.ndim) - 1, keepdim=keepdim)


# ---- channel-wise dropout -----------------------------------------------------------------------
def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _feature_dropout(input, p, training, inplace, batched):
    """Zero whole channels with probability p and scale the rest by 1/(1-p). A channel is input[n, c]
    (batched) or input[c]: one Bernoulli draw per channel, broadcast over the feature map."""
    if p == 0 or not training or input.numel() == 0:
        return input
    if p == 1:
        mask = input.new_zeros(())
    else:
        lead = 2 if batched else 1
        if input.ndim + 2 - lead < 2:  # torch counts dims after adding the missing batch dim
            raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
        shape = tuple(input.shape[:lead]) + (1,) * (input.ndim - lead)
        with no_grad():
            mask = input.new_empty(shape).bernoulli_(1 - p).div_(1 - p)
    return input.mul_(mask) if inplace else input * mask


def _warn_rank(fn, ndim, spatial):
    """torch's deprecation warning for a dropout{spatial}d input of another rank (to the caller's caller)."""
    warnings.warn(
        f"{fn}: Received a {ndim}-D input to {fn}, which is deprecated and will result in an error in a future "
        f"release. To retain the behavior and silence this warning, please use dropout instead. Note that {fn} "
        f"exists to provide channel-wise dropout on inputs with {spatial} spatial dimensions, a channel dimension, "
        f"and an optional batch dimension (i.e. {spatial + 1}D or {spatial + 2}D inputs).", stacklevel=3)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Channel dropout for (N, C, L) or (C, L) inputs."""
    _check_p(p)
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D input. Note that dropout1d exists to "
            "provide channel-wise dropout on inputs with 1 spatial dimension, a channel dimension, and an optional "
            "batch dimension (i.e. 2D or 3D inputs).")
    return _feature_dropout(input, p, training, inplace, batched=input.ndim == 3)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Channel dropout for (N, C, H, W) inputs; as torch, a 3D input is read as (N, C, L)."""
    _check_p(p)
    if input.ndim not in (3, 4):
        _warn_rank("dropout2d", input.ndim, 2)
    if input.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout behavior is "
            "desired - input is interpreted as shape (N, C, L), where C is the channel dim. This behavior will "
            "change in a future release to interpret the input as one without a batch dimension, i.e. shape "
            "(C, H, W). To maintain the 1D channel-wise dropout behavior, please switch to using dropout1d "
            "instead.", stacklevel=2)
    return _feature_dropout(input, p, training, inplace, batched=True)


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Channel dropout for (N, C, D, H, W) or (C, D, H, W) inputs."""
    _check_p(p)
    if input.ndim not in (4, 5):
        _warn_rank("dropout3d", input.ndim, 3)
    return _feature_dropout(input, p, training, inplace, batched=input.ndim == 5)
