"""Adagrad with learning-rate decay, weight decay and maximize."""
from ..ops.creation import full_like
from .optimizer import Optimizer, _addcdiv_, _addcmul_, _bump, _check, _fusable, _step_tensor


class Adagrad(Optimizer):
    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        _check(0.0 <= lr, f"Invalid learning rate: {lr}")
        _check(0.0 <= lr_decay, f"Invalid lr_decay value: {lr_decay}")
        _check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        _check(0.0 <= initial_accumulator_value,
               f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        _check(0.0 <= eps, f"Invalid epsilon value: {eps}")
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable, "fused": fused}
        super().__init__(params, defaults)
        for group in self.param_groups:  # torch creates the state eagerly
            for p in group["params"]:
                self._init_state(p)

    def _init_state(self, p):
        state = self.state[p]
        state["step"] = _step_tensor()
        state["sum"] = full_like(p, self.defaults["initial_accumulator_value"])
        return state

    def _update(self, p, group):
        state = self.state[p] or self._init_state(p)
        state["step"] += 1
        _adagrad_update(p, p.grad, state["sum"], step=state["step"].item(), lr=group["lr"],
                        lr_decay=group["lr_decay"], weight_decay=group["weight_decay"], eps=group["eps"],
                        maximize=group["maximize"])


def _adagrad_update(p, grad, state_sum, *, step, lr, lr_decay, weight_decay, eps, maximize):
    """One parameter's step (torch's single-tensor formula)."""
    if _fusable(p, grad, state_sum):  # one fused backend step
        p._be.adagrad_(p._data, grad._data, state_sum._data, lr / (1 + (step - 1) * lr_decay), eps, weight_decay,
                       maximize)
        _bump(p, state_sum)
        return
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad.add(p, alpha=weight_decay)
    clr = lr / (1 + (step - 1) * lr_decay)
    _addcmul_(state_sum, grad, grad, 1)
    std = state_sum.sqrt().add_(eps)
    _addcdiv_(p, grad, std, -clr)
