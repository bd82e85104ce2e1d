"""The Optimizer base: parameter groups, per-parameter state, zero_grad, and
state dicts in PyTorch's layout (so they move between torch and wgtorch).

A subclass implements ``_update(p, group)``: one parameter's step, run under
no_grad. Each optimizer keeps its arithmetic for one parameter in one
module-level function (``_sgd_update``, ``_adam_update``, ...) written in
in-place Tensor ops, so that a fused backend primitive can replace it."""
import warnings
from collections import defaultdict
from copy import deepcopy
from itertools import chain

from ..autograd import enable_grad, no_grad
from ..dtypes import float32, float64, get_default_dtype
from ..ops.creation import tensor
from ..tensor import Tensor


class _RequiredParameter:
    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def _typename(obj):
    """torch.typename: 'int', 'torch.FloatTensor', 'module.Class'."""
    if isinstance(obj, Tensor):
        return obj.type()
    cls = obj if isinstance(obj, type) else type(obj)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _step_tensor(value=0.0):
    """A step counter as torch keeps it: a 0-d float32 (float64 under that default dtype) cpu tensor."""
    return tensor(float(value), dtype=float64 if get_default_dtype() is float64 else float32)


def _addcmul_(t, a, b, value=1):
    """t += value * a * b (Tensor.addcmul_)."""
    return t.add_(a * b, alpha=value)


def _addcdiv_(t, a, b, value=1):
    """t += value * a / b (Tensor.addcdiv_)."""
    return t.add_(a / b, alpha=value)


def _fusable(p, *others):
    """Whether the backend's fused step applies: matching shapes and dtypes, and on a
    GPU contiguous float32 (elsewhere the single-tensor formula runs as Tensor ops)."""
    be, dt = p._be, p._dtype
    if not dt.is_floating_point or dt.is_bfloat16:
        return False
    for t in others:
        if t is not None and (t._be is not be or t._dtype is not dt or t.shape != p.shape):
            return False
    if be.name == "cpu":
        return True
    return dt is float32 and all(t is None or (be.is_contiguous(t._data) and be.storage_offset(t._data) == 0)
                                 for t in (p,) + others)


def _bump(*tensors):
    """The version counters of tensors a fused step changed in place."""
    for t in tensors:
        if t is not None:
            t._vc[0] += 1


def _check(ok, msg):
    if not ok:
        raise ValueError(msg)


class Optimizer:
    def __init__(self, params, defaults):
        if defaults.get("differentiable"):
            raise NotImplementedError("differentiable=True is not supported by wgtorch.optim")
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {_typename(params)}")
        self.state = defaultdict(dict)
        self.param_groups = []
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __repr__(self):
        s = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += f"\nParameter Group {i}\n"
            s += "".join(f"    {k}: {group[k]}\n" for k in sorted(group) if k != "params")
        return s + ")"

    def add_param_group(self, param_group):
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        params = [params] if isinstance(params, Tensor) else list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]  # named_parameters()
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        param_group["params"] = params
        if names:
            _check(len(names) == len(params),
                   "all optimizer params should be with/without names. Some param names are missing")
            param_group["param_names"] = names
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {_typename(p)}")
            _check(p.is_leaf or p.retains_grad, "can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            _check(default is not required or name in param_group,
                   f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        if len(params) != len({id(p) for p in params}):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this will "
                          "cause an error; see github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=3)
        seen = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                txt = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {txt} to the optimizer")
        _check(seen.isdisjoint(id(p) for p in params), "some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                    continue
                if g.grad_fn is not None:
                    g.detach_()
                else:
                    g.requires_grad_(False)
                g.zero_()

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        self._update(p, group)
        return loss

    def _update(self, p, group):
        raise NotImplementedError

    # ---- state dicts (PyTorch's layout: integer ids in order across groups) --------------
    def state_dict(self):
        ids, groups = {}, []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                ids.setdefault(id(p), len(ids))
            packed["params"] = [ids[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {ids[id(k)] if isinstance(k, Tensor) else k: v for k, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        groups, saved = self.param_groups, deepcopy(state_dict["param_groups"])
        _check(len(groups) == len(saved), "loaded state dict has a different number of parameter groups")
        _check(all(len(g["params"]) == len(s["params"]) for g, s in zip(groups, saved)),
               "loaded state dict contains a parameter group that doesn't match the size of optimizer's group")
        id_map = dict(zip(chain.from_iterable(s["params"] for s in saved),
                          chain.from_iterable(g["params"] for g in groups)))
        state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                p = id_map[k]
                state[p] = {key: _cast(p, key, val) for key, val in v.items()}
            else:
                state[k] = v
        for group, new in zip(groups, saved):
            new["params"] = group["params"]
            if "param_names" in group and "param_names" not in new:
                new["param_names"] = group["param_names"]
            for k, v in self.defaults.items():  # groups saved by older versions lack newer options
                new.setdefault(k, v)
        self.state, self.param_groups = state, saved


def _cast(p, key, value):
    """A loaded state value on p's device (and in p's dtype when floating); step counters stay on the host."""
    if key == "step":
        return value if isinstance(value, Tensor) else _step_tensor(value)
    if isinstance(value, Tensor):
        return value.to(dtype=p.dtype, device=p.device) if p.is_floating_point() else value.to(device=p.device)
    if isinstance(value, dict):
        return {k: _cast(p, k, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast(p, None, v) for v in value)
    return value
