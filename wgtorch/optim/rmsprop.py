"""RMSprop with momentum, centering, weight decay and maximize."""
from ..ops.creation import zeros_like
from .optimizer import Optimizer, _addcdiv_, _addcmul_, _bump, _check, _fusable, _step_tensor


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        _check(0.0 <= lr, f"Invalid learning rate: {lr}")
        _check(0.0 <= eps, f"Invalid epsilon value: {eps}")
        _check(0.0 <= momentum, f"Invalid momentum value: {momentum}")
        _check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        _check(0.0 <= alpha, f"Invalid alpha value: {alpha}")
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
                    "weight_decay": weight_decay, "capturable": capturable, "foreach": foreach, "maximize": maximize,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def _update(self, p, group):
        state = self.state[p]
        if not state:
            state["step"] = _step_tensor()
            state["square_avg"] = zeros_like(p)
            if group["momentum"] > 0:
                state["momentum_buffer"] = zeros_like(p)
            if group["centered"]:
                state["grad_avg"] = zeros_like(p)
        state["step"] += 1
        _rmsprop_update(p, p.grad, state["square_avg"], state.get("grad_avg"), state.get("momentum_buffer"),
                        lr=group["lr"], alpha=group["alpha"], eps=group["eps"], weight_decay=group["weight_decay"],
                        momentum=group["momentum"], centered=group["centered"], maximize=group["maximize"])


def _rmsprop_update(p, grad, square_avg, grad_avg, buf, *, lr, alpha, eps, weight_decay, momentum, centered,
                    maximize):
    """One parameter's step (torch's single-tensor formula); grad_avg / buf are used when centered / momentum > 0."""
    if _fusable(p, grad, square_avg, grad_avg, buf):  # one fused backend step
        p._be.rmsprop_(p._data, grad._data, square_avg._data, grad_avg._data if centered else None,
                       buf._data if momentum > 0 else None, lr, alpha, eps, weight_decay, momentum, maximize)
        _bump(p, square_avg, grad_avg, buf)
        return
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad.add(p, alpha=weight_decay)
    _addcmul_(square_avg.mul_(alpha), grad, grad, 1 - alpha)
    if centered:
        grad_avg.lerp_(grad, 1 - alpha)
        avg = (square_avg - grad_avg * grad_avg).sqrt_()
    else:
        avg = square_avg.sqrt()
    avg = avg.add_(eps)
    if momentum > 0:
        _addcdiv_(buf.mul_(momentum), grad, avg)
        p.add_(buf, alpha=-lr)
    else:
        _addcdiv_(p, grad, avg, -lr)
