"""wgtorch.nn.functional: activations and losses, composed from Tensor ops."""
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
    with_no_grad_check = input.detach()
    if ((with_no_grad_check < 0) | (with_no_grad_check > 1)).any():
        raise RuntimeError("all elements of input should be between 0 and 1")
    loss = -(target * input.log().clamp(min=-100) + (1 - target) * (1 - input).log().clamp(min=-100))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)
