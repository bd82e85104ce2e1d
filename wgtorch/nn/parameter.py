"""nn.Parameter: a leaf Tensor that a Module registers as one of its parameters."""
from ..tensor import Tensor


class Parameter(Tensor):
    """Shares storage (and version counter) with ``data``, as ``data.detach()`` would."""

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            from ..ops.creation import empty
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter(): argument 'data' must be Tensor, not {type(data).__name__}")
        p = object.__new__(cls)
        p._data, p._dtype, p._be, p._vc = data._data, data._dtype, data._be, data._vc
        p._rg = False
        p._grad = p._grad_fn = p._acc = p._base = p._view_fn = None
        p._out_nr = 0
        p.requires_grad_(requires_grad)  # int parameters need requires_grad=False, as in torch
        return p

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        p = Parameter(self.detach().clone(), self._rg)
        if self._grad is not None:
            p._grad = self._grad.clone()
        memo[id(self)] = p
        return p

    def __reduce_ex__(self, proto):
        return (_rebuild_parameter, (self.detach(), self._rg))


def _rebuild_parameter(data, requires_grad):
    return Parameter(data, requires_grad)
