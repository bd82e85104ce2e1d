"""SGD with momentum, dampening, Nesterov momentum, weight decay and maximize."""
from ..ops.creation import zeros_like
from .optimizer import Optimizer, _bump, _check, _fusable


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        _check(lr >= 0.0, f"Invalid learning rate: {lr}")
        _check(momentum >= 0.0, f"Invalid momentum value: {momentum}")
        _check(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov, "maximize": maximize, "foreach": foreach, "differentiable": differentiable,
                    "fused": fused}
        _check(not nesterov or (momentum > 0 and dampening == 0),
               "Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def _update(self, p, group):
        momentum = group["momentum"]
        buf = self.state[p].get("momentum_buffer") if momentum != 0 else None
        buf = _sgd_update(p, p.grad, buf, lr=group["lr"], momentum=momentum, dampening=group["dampening"],
                          weight_decay=group["weight_decay"], nesterov=group["nesterov"],
                          maximize=group["maximize"])
        if momentum != 0:
            self.state[p]["momentum_buffer"] = buf


def _sgd_update(p, grad, buf, *, lr, momentum, dampening, weight_decay, nesterov, maximize):
    """One parameter's step (torch's single-tensor formula); returns the momentum buffer (None without momentum)."""
    if _fusable(p, grad, buf):  # one fused backend step (one dispatch on a GPU)
        first = momentum != 0 and buf is None
        if first:
            buf = zeros_like(p)
        p._be.sgd_(p._data, grad._data, buf._data if buf is not None else None, lr, momentum, dampening,
                   weight_decay, nesterov, maximize, first)
        _bump(p, buf)
        return buf
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad.add(p, alpha=weight_decay)
    if momentum != 0:
        if buf is None:
            buf = grad.clone()
        else:
            buf.mul_(momentum).add_(grad, alpha=1 - dampening)
        grad = grad.add(buf, alpha=momentum) if nesterov else buf
    p.add_(grad, alpha=-lr)
    return buf
