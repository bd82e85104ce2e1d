"""Identity, Linear and Bilinear."""
import math

from ...ops.creation import empty
from ...ops.linalg import addmm, matmul
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["Identity", "Linear", "Bilinear"]


class Identity(Module):
    def __init__(self, *args, **kwargs):  # arguments are accepted and ignored, as in torch
        super().__init__()

    def forward(self, input):
        return input


def add_weight_and_bias(module, weight_shape, bias_size, bias, device, dtype):
    """module.weight (uninitialised) and module.bias, or a None bias registered, as torch's layers
    create them (reset_parameters fills them)."""
    module.weight = Parameter(empty(weight_shape, device=device, dtype=dtype))
    if bias:
        module.bias = Parameter(empty(bias_size, device=device, dtype=dtype))
    else:
        module.register_parameter("bias", None)


def default_init(weight, bias, empty_bias_draws=True):
    """torch's default initialisation of Linear and convolution weights, in its order of
    draws: kaiming-uniform (a=sqrt(5)) weight, then a bias uniform in +-1/sqrt(fan_in). With
    no fan-in, Linear still draws its bias (bound 0); convolutions do not."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(weight)
        if fan_in > 0 or empty_bias_draws:
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(bias, -bound, bound)


class Linear(Module):
    """y = x W^T + b, W of shape (out_features, in_features)."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        add_weight_and_bias(self, (out_features, in_features), out_features, bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self):
        default_init(self.weight, self.bias)

    def forward(self, input):
        bias = self.bias  # (once: a module attribute is a lookup in its tables)
        if input.ndim == 2 and bias is not None:
            return addmm(bias, input, self.weight.t())  # one op, grad_fn AddmmBackward0 as torch
        out = matmul(input, self.weight.t())
        return out if bias is None else out + bias

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Bilinear(Module):
    """y = x1^T A x2 + b, A of shape (out_features, in1_features, in2_features)."""

    def __init__(self, in1_features, in2_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in1_features, self.in2_features, self.out_features = in1_features, in2_features, out_features
        add_weight_and_bias(self, (out_features, in1_features, in2_features), out_features, bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self):
        if self.in1_features <= 0:
            raise ValueError(f"in1_features must be > 0, but got (in1_features={self.in1_features})")
        bound = 1 / math.sqrt(self.weight.size(1))
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
