"""wgtorch.nn.functional: activations and losses, composed from Tensor ops."""
from ..autograd.graph import Node as _Node
from ..autograd.graph import attach as _attach
from ..autograd.graph import needs_grad as _needs_grad
from ..ops import elementwise as _ew
from ..ops import reductions as _rd


def relu(input, inplace=False):
    return _ew.unary_("relu", input) if inplace else _ew.unary("relu", input)


def sigmoid(input):
    return _ew.unary("sigmoid", input)


def tanh(input):
    return _ew.unary("tanh", input)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    return _rd.softmax(input, dim, dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    return _rd.log_softmax(input, dim, dtype)


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """-(t log(x) + (1 - t) log(1 - x)), each log clamped at -100 as PyTorch does."""
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
