"""wgtorch.optim against torch.optim (the oracle): the same initial values and
gradients, several steps of every optimizer and option, on contiguous and
non-contiguous parameters; state dicts in PyTorch's layout, both ways; param
groups; zero_grad; torch's errors."""
import copy

import numpy as np
import pytest

import wgtorch
from conftest import assert_close, to_np

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.5, maximize=True)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.05, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-6)),
    ("Adagrad", dict(lr=0.1, maximize=True)),
]
IDS = [f"{n}-" + "-".join(f"{k}={v}" for k, v in kw.items()) for n, kw in CASES]
# one case per optimizer, with the most state
RICH = [CASES[i] for i in (2, 8, 11, 17, 19)]


def tol(device):
    return dict(rtol=1e-5, atol=1e-6) if device == "cpu" else dict(rtol=1e-4, atol=1e-5)


class Problem:
    """Parameters (contiguous, transposed, strided slice, 1-d, 0-d, one that never gets a gradient) and the loss
    sum(c/2 p^2 + b p) built the same way in torch and wgtorch (so grad = c p + b)."""

    def __init__(self, dtype="float32", seed=0):
        rng = np.random.default_rng(seed)
        self.np_dtype = np.dtype(dtype)
        f = lambda *s: rng.standard_normal(s).astype(self.np_dtype)
        self.inits = [("plain", f(3, 4)), ("t", f(5, 3)), ("slice", f(6, 4)), ("plain", f(4)), ("plain", f(1)[0]),
                      ("plain", f(2))]
        self.coefs = [(rng.uniform(0.5, 1.5, a.shape).astype(self.np_dtype), f(*a.shape)) for _, a in self.inits]

    @staticmethod
    def _view(kind, t):
        return t.T if kind == "t" else t[::2, 1:3] if kind == "slice" else t

    def params(self, lib, device=None, values=None):
        kw = {} if device is None else dict(device=device)
        vals = values or [a for _, a in self.inits]
        out = []
        for (kind, _), a in zip(self.inits, vals):
            t = lib.tensor(np.array(a, order="C"), **kw)
            if values is None:
                t = self._view(kind, t)
            out.append(t.requires_grad_())
        return out

    def loss(self, lib, params, device=None):
        kw = {} if device is None else dict(device=device)
        total = 0
        for i, p in enumerate(params[:-1]):  # the last parameter gets no gradient
            c, b = (lib.tensor(np.array(self._view(self.inits[i][0], x), order="C"), **kw) for x in self.coefs[i])
            total = total + (0.5 * c * p * p + b * p).sum()
        return total


def run(lib, opt, params, problem, steps, device=None):
    for _ in range(steps):
        opt.zero_grad()
        problem.loss(lib, params, device).backward()
        opt.step()


def make(lib, name, params, kw):
    return getattr(lib.optim, name)(params, **kw)


def assert_params_close(wparams, tparams, device):
    for w, t in zip(wparams, tparams):
        assert w.shape == tuple(t.shape)
        assert_close(w, t, **tol(device))


def assert_state_dicts_match(wsd, tsd, device):
    """Same layout as torch's: param groups equal, the same state keys, step counters as 0-d host tensors."""
    assert wsd["param_groups"] == tsd["param_groups"]
    assert wsd["state"].keys() == tsd["state"].keys()
    for k, ts in tsd["state"].items():
        ws = wsd["state"][k]
        assert ws.keys() == ts.keys()
        for key, tv in ts.items():
            wv = ws[key]
            assert str(wv.dtype) == str(tv.dtype) and wv.shape == tuple(tv.shape)
            if key == "step":
                assert wv.device.type == "cpu" and wv.item() == tv.item()
            else:
                assert wv.device.type == device
                assert_close(wv, tv, **tol(device))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_steps_match_torch(oracle, device, name, kw, dtype):
    problem = Problem(dtype)
    tparams, wparams = problem.params(oracle), problem.params(wgtorch, device)
    assert not wparams[1].is_contiguous() and not wparams[2].is_contiguous()
    topt, wopt = make(oracle, name, tparams, kw), make(wgtorch, name, wparams, kw)
    assert_state_dicts_match(wopt.state_dict(), topt.state_dict(), device)  # Adagrad's state exists up front
    run(oracle, topt, tparams, problem, 4)
    run(wgtorch, wopt, wparams, problem, 4, device)
    assert_params_close(wparams, tparams, device)
    assert_state_dicts_match(wopt.state_dict(), topt.state_dict(), device)
    for p in wparams:  # still leaves that require grad, updated in place on their device
        assert p.is_leaf and p.requires_grad and p.grad_fn is None and p.device.type == device
    assert not np.array_equal(to_np(wparams[0]), problem.inits[0][1])
    np.testing.assert_array_equal(to_np(wparams[-1]), problem.inits[-1][1])  # no gradient, no update


def _wg_state_dict(sd, lib_tensor):
    """A state dict with every tensor converted by lib_tensor (numpy array -> tensor)."""
    state = {k: {kk: lib_tensor(vv) for kk, vv in v.items()} for k, v in sd["state"].items()}
    return {"state": state, "param_groups": copy.deepcopy(sd["param_groups"])}


@pytest.mark.parametrize("name,kw", RICH)
def test_state_dict_round_trip(device, name, kw):
    problem = Problem()
    params = problem.params(wgtorch, device)
    opt = make(wgtorch, name, params, kw)
    run(wgtorch, opt, params, problem, 3, device)
    sd = copy.deepcopy(opt.state_dict())
    params2 = problem.params(wgtorch, device)  # the same layouts (a fused step needs contiguous ones)
    with wgtorch.no_grad():
        for a, b in zip(params2, params):
            a.copy_(b)
    opt2 = make(wgtorch, name, params2, dict(kw, lr=123.0))
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == kw["lr"] and opt2.param_groups[0]["params"][0] is params2[0]
    run(wgtorch, opt, params, problem, 3, device)
    run(wgtorch, opt2, params2, problem, 3, device)
    for a, b in zip(params, params2):
        np.testing.assert_array_equal(to_np(a), to_np(b))


@pytest.mark.parametrize("name,kw", RICH)
def test_state_dict_from_and_to_torch(oracle, device, name, kw):
    problem = Problem()
    tparams = problem.params(oracle)
    topt = make(oracle, name, tparams, kw)
    run(oracle, topt, tparams, problem, 3)
    # torch -> wgtorch: state tensors arrive on the host and move to the parameters' device; steps stay on the host
    wparams = problem.params(wgtorch, device, [p.detach().numpy() for p in tparams])
    wopt = make(wgtorch, name, wparams, kw)
    wopt.load_state_dict(_wg_state_dict(topt.state_dict(), lambda t: wgtorch.tensor(t.numpy())))
    assert_state_dicts_match(wopt.state_dict(), topt.state_dict(), device)
    run(oracle, topt, tparams, problem, 3)
    run(wgtorch, wopt, wparams, problem, 3, device)
    assert_params_close(wparams, tparams, device)
    # wgtorch -> torch
    tparams2 = problem.params(oracle, None, [to_np(p) for p in wparams])
    topt2 = make(oracle, name, tparams2, kw)
    topt2.load_state_dict(_wg_state_dict(wopt.state_dict(), lambda t: oracle.tensor(to_np(t))))
    run(oracle, topt2, tparams2, problem, 3)
    run(wgtorch, wopt, wparams, problem, 3, device)
    assert_params_close(wparams, tparams2, device)


@pytest.mark.parametrize("name,kw0,kw1", [
    ("SGD", dict(lr=0.1, momentum=0.9), dict(lr=0.01, nesterov=False)),
    ("Adam", dict(lr=0.1, betas=(0.5, 0.9)), dict(weight_decay=0.1, amsgrad=True)),
])
def test_param_groups(oracle, device, name, kw0, kw1):
    problem = Problem()
    tparams, wparams = problem.params(oracle), problem.params(wgtorch, device)

    def groups(ps):
        return [dict(params=ps[:2], **kw0), dict(params=ps[2:4], **kw1)]
    topt = make(oracle, name, groups(tparams), dict(lr=0.02, momentum=0.5) if name == "SGD" else {})
    wopt = make(wgtorch, name, groups(wparams), dict(lr=0.02, momentum=0.5) if name == "SGD" else {})
    assert [g["lr"] for g in wopt.param_groups] == [0.1, 0.01 if name == "SGD" else 1e-3]
    run(oracle, topt, tparams, problem, 2)
    run(wgtorch, wopt, wparams, problem, 2, device)
    topt.add_param_group({"params": tparams[4:], "lr": 0.3})
    wopt.add_param_group({"params": wparams[4:], "lr": 0.3})
    run(oracle, topt, tparams, problem, 2)
    run(wgtorch, wopt, wparams, problem, 2, device)
    assert_params_close(wparams, tparams, device)
    assert_state_dicts_match(wopt.state_dict(), topt.state_dict(), device)
    assert [g["params"] for g in wopt.state_dict()["param_groups"]] == [[0, 1], [2, 3], [4, 5]]
    assert repr(wopt) == repr(topt)


def test_zero_grad(device):
    p = wgtorch.ones(3, device=device, requires_grad=True)
    q = wgtorch.ones(2, device=device, requires_grad=True)  # never gets a gradient
    opt = wgtorch.optim.SGD([p, q], lr=0.1)
    (p * p).sum().backward(create_graph=True)
    g = p.grad
    assert g.grad_fn is not None
    opt.zero_grad(set_to_none=False)
    assert p.grad is g and g.grad_fn is None and not g.requires_grad and q.grad is None
    np.testing.assert_array_equal(to_np(g), np.zeros(3, np.float32))
    (p * 3).sum().backward()
    assert p.grad is g  # accumulated into the zeroed tensor
    np.testing.assert_array_equal(to_np(g), np.full(3, 3, np.float32))
    opt.zero_grad()
    assert p.grad is None and q.grad is None


def test_step_with_closure_and_no_grad(device):
    p = wgtorch.tensor([1.0, -2.0], device=device, requires_grad=True)
    opt = wgtorch.optim.SGD([p], lr=0.25)
    calls = []

    def closure():
        calls.append(wgtorch.is_grad_enabled())
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with wgtorch.no_grad():  # the closure still records a graph
        loss = opt.step(closure)
    assert calls == [True] and loss.item() == 5.0
    np.testing.assert_allclose(to_np(p), [0.5, -1.0])  # p - 0.25 * 2p
    assert opt.step() is None and p._version > 0


@pytest.mark.float64
def test_step_counter_dtype_follows_default_dtype():
    old = wgtorch.get_default_dtype()
    wgtorch.set_default_dtype(wgtorch.float64)
    try:
        p = wgtorch.ones(2, requires_grad=True)
        opt = wgtorch.optim.Adam([p])
        p.sum().backward()
        opt.step()
    finally:
        wgtorch.set_default_dtype(old)
    assert opt.state[p]["step"].dtype is wgtorch.float64 and opt.state[p]["step"].item() == 1.0


def test_adamw_keeps_decoupled_weight_decay_on_load():
    p = wgtorch.ones(2, requires_grad=True)
    sd = wgtorch.optim.Adam([p], weight_decay=0.1).state_dict()
    opt = wgtorch.optim.AdamW([p])
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["decoupled_weight_decay"] is True and opt.param_groups[0]["weight_decay"] == 0.1


def _sgd(lib, p, **kw):
    return lib.optim.SGD([p], **kw)


ERRORS = {
    "lr": lambda L, p: _sgd(L, p, lr=-1),
    "momentum": lambda L, p: _sgd(L, p, momentum=-0.5),
    "weight_decay": lambda L, p: _sgd(L, p, weight_decay=-1),
    "nesterov": lambda L, p: _sgd(L, p, lr=0.1, nesterov=True),
    "nesterov_dampening": lambda L, p: _sgd(L, p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
    "adam_lr": lambda L, p: L.optim.Adam([p], lr=-0.5),
    "adam_beta0": lambda L, p: L.optim.Adam([p], betas=(1.0, 0.9)),
    "adam_beta1": lambda L, p: L.optim.AdamW([p], betas=(0.9, -0.1)),
    "adam_eps": lambda L, p: L.optim.Adam([p], eps=-1e-8),
    "adamw_wd": lambda L, p: L.optim.AdamW([p], weight_decay=-0.01),
    "rmsprop_alpha": lambda L, p: L.optim.RMSprop([p], alpha=-1),
    "rmsprop_momentum": lambda L, p: L.optim.RMSprop([p], momentum=-1),
    "adagrad_lr_decay": lambda L, p: L.optim.Adagrad([p], lr_decay=-1),
    "adagrad_init": lambda L, p: L.optim.Adagrad([p], initial_accumulator_value=-1),
    "two_groups": lambda L, p: L.optim.SGD([{"params": [p]}, {"params": [p], "lr": 1.0}], lr=0.1),
    "not_a_tensor": lambda L, p: _sgd(L, p).add_param_group({"params": [L.zeros(1, requires_grad=True), 3]}),
    "non_tensor_param": lambda L, p: L.optim.SGD([p, "w"], lr=0.1),
    "tensor_as_params": lambda L, p: L.optim.SGD(p, lr=0.1),
    "empty": lambda L, p: L.optim.SGD([], lr=0.1),
    "set_of_params": lambda L, p: L.optim.SGD([{"params": {p}}], lr=0.1),
    "non_leaf": lambda L, p: L.optim.SGD([p * 2], lr=0.1),
    "group_not_dict": lambda L, p: _sgd(L, p).add_param_group([p]),
    "names_mixed": lambda L, p: L.optim.SGD([("a", p), p * 1], lr=0.1),
    "load_group_count": lambda L, p: _sgd(L, p).load_state_dict(
        {"state": {}, "param_groups": _sgd(L, p).state_dict()["param_groups"] * 2}),
    "load_group_size": lambda L, p: _sgd(L, p).load_state_dict(
        L.optim.SGD([p, p.detach().requires_grad_()]).state_dict()),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors_match_torch(oracle, case):
    with pytest.raises(Exception) as expected:
        ERRORS[case](oracle, oracle.ones(2, requires_grad=True))
    with pytest.raises(expected.type) as got:
        ERRORS[case](wgtorch, wgtorch.ones(2, requires_grad=True))
    assert str(got.value) == str(expected.value)


def test_named_parameters_and_duplicate_warning(oracle):
    for lib in (oracle, wgtorch):
        a, b = lib.ones(2, requires_grad=True), lib.zeros(3, requires_grad=True)
        opt = lib.optim.SGD([("a", a), ("b", b)], lr=0.1)
        assert opt.param_groups[0]["params"][0] is a
        assert opt.state_dict()["param_groups"][0]["param_names"] == ["a", "b"]
        with pytest.warns(UserWarning, match="duplicate parameters"):
            lib.optim.SGD([a, a], lr=0.1)


def test_load_state_dict_fills_options_missing_from_old_checkpoints():
    p = wgtorch.ones(2, requires_grad=True)
    sd = wgtorch.optim.Adam([p], lr=0.5).state_dict()
    for key in ("maximize", "foreach", "capturable", "differentiable", "fused", "decoupled_weight_decay"):
        del sd["param_groups"][0][key]
    opt = wgtorch.optim.Adam([p])
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["maximize"] is False and opt.param_groups[0]["lr"] == 0.5
    p.sum().backward()
    opt.step()
    np.testing.assert_allclose(to_np(p), [0.5, 0.5], rtol=1e-6)  # Adam's first step moves by lr


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
                                     ("SGD", dict(lr=0.1)), ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
                                     ("AdamW", dict(lr=0.01, maximize=True)),
                                     ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1)),
                                     ("RMSprop", dict(lr=0.01)), ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1))])
def test_fused_step_is_one_dispatch_per_parameter(oracle, name, kw):
    """On wgpu a step of a contiguous float32 parameter is one kernel, and it still matches torch."""
    rng = np.random.default_rng(5)
    init = rng.standard_normal((40, 30)).astype(np.float32)
    p = wgtorch.tensor(init, device="wgpu", requires_grad=True)
    tp = oracle.tensor(init, requires_grad=True)
    opt, topt = make(wgtorch, name, [p], kw), make(oracle, name, [tp], kw)
    queue = p._be.queue
    for step in range(3):
        for lib, q, o in ((wgtorch, p, opt), (oracle, tp, topt)):
            o.zero_grad()
            (q * q * q).sum().backward()
        queue.flush()
        opt.step()
        topt.step()
        if step:  # (the first step also creates the state buffers)
            assert queue.pending == 1
    np.testing.assert_allclose(to_np(p), tp.detach().numpy(), rtol=1e-4, atol=1e-5)
