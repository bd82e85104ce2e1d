"""User-defined autograd functions: subclass Function, write forward/backward."""
from . import grad_mode
from .graph import Node, attach


class FunctionCtx(Node):
    """The ``ctx`` a custom Function's forward and backward receive; it is also
    the graph node (named ``<Function>Backward`` as in PyTorch)."""

    user_defined = True

    def __init__(self):
        super().__init__()
        self.needs_input_grad = ()
        self.materialize_grads = True
        self._non_diff = ()
        self._dirty = ()

    def save_for_backward(self, *tensors):
        self.save(*tensors)

    def mark_dirty(self, *tensors):
        self._dirty = tensors

    def mark_non_differentiable(self, *tensors):
        self._non_diff = tensors

    def set_materialize_grads(self, value):
        self.materialize_grads = value

    def backward(self, *grads):
        from ..ops.creation import zeros_like
        if self.materialize_grads:
            grads = tuple(g if g is not None else zeros_like(o) for g, o in zip(grads, self._out_meta))
        r = self._fn_cls.backward(self, *grads)
        if not isinstance(r, tuple):
            r = (r,)
        # drop gradients for non-tensor arguments of forward
        out = tuple(g for g, is_t in zip(r, self._tensor_args) if is_t)
        if len(r) != len(self._tensor_args):
            raise RuntimeError(f"function {self.name()} returned an incorrect number of gradients "
                               f"(expected {len(self._tensor_args)}, got {len(r)})")
        return out


class _FunctionMeta(type):
    def __init__(cls, name, bases, attrs):
        super().__init__(name, bases, attrs)
        cls._backward_cls = type(name + "Backward", (FunctionCtx,), {})


class Function(metaclass=_FunctionMeta):
    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                  "autograd.Function to use it with backward mode AD.")

    @classmethod
    def apply(cls, *args, **kwargs):
        from ..tensor import Tensor
        ctx = cls._backward_cls()
        ctx._fn_cls = cls
        is_t = tuple(isinstance(a, Tensor) for a in args)
        ctx._tensor_args = is_t
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a._rg for a in args)
        with grad_mode.no_grad():
            out = cls.forward(ctx, *args, **kwargs)
        tensors_in = [a for a, t in zip(args, is_t) if t]
        outs = out if isinstance(out, tuple) else (out,)
        if grad_mode.enabled and any(ctx.needs_input_grad):
            ctx.n_out = len(outs)
            ctx._out_meta = outs
            diff = []
            for o in outs:
                if isinstance(o, Tensor) and not any(o is n for n in ctx._non_diff):
                    if any(o is a for a in tensors_in):  # returned an input: make a new view of it
                        o = o.view_as(o)
                    diff.append(o)
                else:
                    diff.append(None)
            attach(ctx, tensors_in, diff)
            outs = tuple(d if d is not None else o for d, o in zip(diff, outs))
            out = outs if isinstance(out, tuple) else outs[0]
        return out
