"""nn.Module, nn.Parameter and the containers, against real torch: registration,
traversal, state_dict / load_state_dict (keys, values, error messages), printing,
hooks, train/eval, device and dtype moves."""
import copy
from collections import OrderedDict

import numpy as np
import pytest
from conftest import assert_close, to_np

import wgtorch
import wgtorch.nn as nn


def _net(nn_):
    """The seed's NeuralNetwork (A.5), defined against either library's nn."""
    class NeuralNetwork(nn_.Module):
        def __init__(self, num_inputs, num_outputs):
            super().__init__()
            self.layers = nn_.Sequential(
                nn_.Linear(num_inputs, 30), nn_.ReLU(),
                nn_.Linear(30, 20), nn_.ReLU(),
                nn_.Linear(20, num_outputs))

        def forward(self, x):
            return self.layers(x)
    return NeuralNetwork


def _zoo(nn_, lib):
    """A model with buffers (persistent or not), a shared submodule, a None parameter and nesting."""
    class Block(nn_.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn_.Linear(3, 3)
            self.register_buffer("steps", lib.zeros(2, dtype=lib.int64))
            self.register_buffer("scratch", lib.ones(3), persistent=False)
            self.register_parameter("gain", None)
            self.scale = nn_.Parameter(lib.ones(1))

        def forward(self, x):
            return self.fc(x) * self.scale

    class Zoo(nn_.Module):
        def __init__(self):
            super().__init__()
            shared = nn_.Linear(3, 3, bias=False)
            self.a = Block()
            self.mid = nn_.ModuleList([shared, nn_.Tanh(), shared])
            self.heads = nn_.ModuleDict({"x": nn_.Linear(3, 2), "y": nn_.Identity()})
            self.out = shared

        def forward(self, x):
            x = self.a(x)
            for m in self.mid:
                x = m(x)
            return self.heads["x"](x)
    return Zoo()


def _copy_weights(wmodel, tmodel):
    """Load torch's parameters and buffers into the wgtorch model (same keys)."""
    wmodel.load_state_dict({k: wgtorch.tensor(v.detach().numpy()) for k, v in tmodel.state_dict().items()})


def _same_error(oracle, fw, ft):
    """fw(wgtorch) and ft(torch) raise the same exception type with the same message."""
    with pytest.raises(Exception) as et:
        ft(oracle)
    with pytest.raises(Exception) as ew:
        fw(wgtorch)
    assert type(ew.value).__name__ == type(et.value).__name__
    assert str(ew.value) == str(et.value)


# ---- Parameter -------------------------------------------------------------------------------

def test_parameter_shares_data_and_prints_like_torch(oracle):
    t = wgtorch.tensor([1.0, 2.0])
    p = nn.Parameter(t)
    assert isinstance(p, wgtorch.Tensor) and isinstance(p, nn.Parameter)
    assert p.requires_grad and p.is_leaf and not t.requires_grad
    t.add_(1.0)
    assert p.tolist() == [2.0, 3.0]
    tp = oracle.nn.Parameter(oracle.tensor([2.0, 3.0]))
    assert repr(p) == repr(tp)
    q, tq = nn.Parameter(wgtorch.ones(2, 2), requires_grad=False), oracle.nn.Parameter(oracle.ones(2, 2), False)
    assert repr(q) == repr(tq) and not q.requires_grad
    assert type(p * 2) is wgtorch.Tensor and (p * 2).grad_fn is not None
    assert nn.Parameter().shape == (0,) and nn.Parameter().requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        nn.Parameter(wgtorch.tensor([1, 2]))
    assert not nn.Parameter(wgtorch.tensor([1, 2]), requires_grad=False).requires_grad


def test_parameter_deepcopy_and_pickle():
    import pickle
    p = nn.Parameter(wgtorch.tensor([1.0, 2.0]))
    p.grad = wgtorch.tensor([0.5, 0.5])
    for q in (copy.deepcopy(p), pickle.loads(pickle.dumps(p))):
        assert type(q) is nn.Parameter and q.requires_grad and q.tolist() == [1.0, 2.0]
        q.data.mul_(0)
        assert p.tolist() == [1.0, 2.0]
    assert copy.deepcopy(p).grad.tolist() == [0.5, 0.5]


# ---- registration and attribute protocol ------------------------------------------------------

def test_registration_by_assignment():
    m = nn.Module()
    m.w = nn.Parameter(wgtorch.ones(2))
    m.sub = nn.Linear(2, 2)
    m.register_buffer("buf", wgtorch.zeros(2))
    m.plain = 3
    assert list(m._parameters) == ["w"] and list(m._modules) == ["sub"] and list(m._buffers) == ["buf"]
    assert m.w is m._parameters["w"] and m.sub is m._modules["sub"] and m.buf is m._buffers["buf"]
    m.buf = wgtorch.ones(2)  # a tensor assigned to a buffer name stays a buffer
    assert m._buffers["buf"].tolist() == [1.0, 1.0]
    m.w = None
    assert m._parameters == {"w": None} and m.w is None
    m.sub = nn.Parameter(wgtorch.ones(1))  # rebinding a name moves it between tables
    assert "sub" not in m._modules and "sub" in m._parameters
    del m.sub, m.buf, m.plain
    assert "sub" not in m._parameters and "buf" not in m._buffers and not hasattr(m, "plain")
    assert "w" in dir(m) and "forward" in dir(m)
    m.add_module("child", nn.ReLU())
    m.register_module("child2", nn.ReLU())
    assert list(m._modules) == ["child", "child2"]


@pytest.mark.parametrize("case", range(12))
def test_registration_errors_match_torch(oracle, case):
    def make(lib):
        m = lib.nn.Module()
        m.p = lib.nn.Parameter(lib.ones(1))
        m.c = lib.nn.ReLU()
        m.register_buffer("b", lib.ones(1))
        m.x = 1
        return m
    cases = [
        lambda lib: setattr(make(lib), "p", lib.ones(1)),
        lambda lib: setattr(make(lib), "c", 3),
        lambda lib: setattr(make(lib), "b", "text"),
        lambda lib: make(lib).register_buffer("a.b", lib.ones(1)),
        lambda lib: make(lib).register_buffer("", lib.ones(1)),
        lambda lib: make(lib).register_buffer("x", lib.ones(1)),
        lambda lib: make(lib).register_parameter("q", lib.ones(1)),
        lambda lib: make(lib).register_parameter("q", lib.nn.Parameter(lib.ones(1)) * 2),
        lambda lib: make(lib).add_module("m", 3),
        lambda lib: make(lib).add_module("a.b", lib.nn.ReLU()),
        lambda lib: make(lib).no_such_attribute,
        lambda lib: type("M", (lib.nn.Module,), {"__init__": lambda self: setattr(self, "w", lib.nn.Parameter(
            lib.ones(1)))})(),
    ]
    _same_error(oracle, cases[case], cases[case])


def test_forward_missing_and_init_arguments(oracle):
    _same_error(oracle, lambda lib: lib.nn.Module()(1), lambda lib: lib.nn.Module()(1))
    _same_error(oracle, lambda lib: lib.nn.Module(foo=1), lambda lib: lib.nn.Module(foo=1))


def test_get_submodule_parameter_buffer(oracle):
    w, t = _zoo(nn, wgtorch), _zoo(oracle.nn, oracle)
    assert w.get_submodule("a.fc") is w.a.fc and w.get_submodule("") is w
    assert w.get_parameter("a.fc.weight") is w.a.fc.weight and w.get_buffer("a.steps") is w.a.steps
    for target in ("a.nope", "a.scale.x", "heads.z"):
        _same_error(oracle, lambda lib, m=w, s=target: m.get_submodule(s),
                    lambda lib, m=t, s=target: m.get_submodule(s))


# ---- traversal ---------------------------------------------------------------------------------

def test_traversal_names_match_torch(oracle):
    w, t = _zoo(nn, wgtorch), _zoo(oracle.nn, oracle)

    def names(it):
        return [n for n, _ in it]
    assert names(w.named_parameters()) == names(t.named_parameters())
    assert names(w.named_parameters(remove_duplicate=False)) == names(t.named_parameters(remove_duplicate=False))
    assert names(w.named_parameters(prefix="m", recurse=False)) == names(t.named_parameters(prefix="m",
                                                                                             recurse=False))
    assert names(w.a.named_parameters(recurse=False)) == names(t.a.named_parameters(recurse=False))
    assert names(w.named_buffers()) == names(t.named_buffers())
    assert names(w.named_children()) == names(t.named_children())
    assert names(w.named_modules()) == names(t.named_modules())
    assert names(w.named_modules(remove_duplicate=False)) == names(t.named_modules(remove_duplicate=False))
    assert [type(m).__name__ for m in w.modules()] == [type(m).__name__ for m in t.modules()]
    assert len(list(w.parameters())) == len(list(t.parameters())) == 6
    assert len(list(w.children())) == len(list(t.children()))
    assert all(isinstance(p, nn.Parameter) for p in w.parameters())


def test_apply_order_and_requires_grad(oracle):
    seen_w, seen_t = [], []
    _zoo(nn, wgtorch).apply(lambda m: seen_w.append(type(m).__name__))
    _zoo(oracle.nn, oracle).apply(lambda m: seen_t.append(type(m).__name__))
    assert seen_w == seen_t
    m = _net(nn)(4, 2)
    assert m.requires_grad_(False) is m and not any(p.requires_grad for p in m.parameters())
    m.requires_grad_()
    assert all(p.requires_grad for p in m.parameters())


def test_train_eval_flags():
    m = _zoo(nn, wgtorch)
    assert m.training and all(x.training for x in m.modules())
    assert m.eval() is m and not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())
    m.heads.train(False)
    assert m.training and not m.heads["x"].training
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        m.train("yes")


def test_zero_grad(device):
    m = _net(nn)(4, 2).to(device)
    m(wgtorch.ones(3, 4, device=device)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any().item() for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


# ---- state_dict --------------------------------------------------------------------------------

def test_state_dict_keys_values_metadata(oracle):
    t = _zoo(oracle.nn, oracle)
    w = _zoo(nn, wgtorch)
    _copy_weights(w, t)
    sw, st = w.state_dict(), t.state_dict()
    assert type(sw) is OrderedDict and list(sw) == list(st)
    assert sw._metadata == st._metadata
    for k in st:
        np.testing.assert_array_equal(to_np(sw[k]), st[k].numpy())
        assert sw[k].dtype.itemsize == st[k].dtype.itemsize and not sw[k].requires_grad
    assert "a.scratch" not in sw  # non-persistent
    assert w.state_dict(keep_vars=True)["a.fc.weight"] is w.a.fc.weight
    assert list(w.state_dict(prefix="p.")) == list(t.state_dict(prefix="p."))


def test_load_state_dict_roundtrip_and_result(oracle):
    a, b = _net(nn)(5, 2), _net(nn)(5, 2)
    res = b.load_state_dict(a.state_dict())
    assert repr(res) == "<All keys matched successfully>" and res.missing_keys == [] == res.unexpected_keys
    for (k, p), q in zip(a.named_parameters(), b.parameters()):
        np.testing.assert_array_equal(to_np(p), to_np(q))
    w0 = b.layers[0].weight
    assert b.layers[0].weight is w0  # copied in place, the Parameter object stays
    sd = a.state_dict()
    sd["layers.0.weight"].zero_()  # state_dict shares storage with the parameters, as torch's does
    assert not a.layers[0].weight.any().item()


def _bad_dicts(lib, nn_):
    good = _net(nn_)(4, 2).state_dict()
    missing = OrderedDict((k, v) for k, v in good.items() if not k.startswith("layers.2"))
    extra = OrderedDict(good, **{"layers.9.weight": lib.zeros(1), "junk": lib.zeros(1), "layers.0.x": lib.ones(1)})
    shape = OrderedDict(good, **{"layers.4.bias": lib.zeros(5)})
    both = OrderedDict(missing, junk=lib.zeros(1))
    nontensor = OrderedDict(good, **{"layers.0.bias": [1.0] * 30})
    return [missing, extra, shape, both, nontensor]


@pytest.mark.parametrize("case", range(5))
@pytest.mark.parametrize("strict", [True, False])
def test_load_state_dict_errors_match_torch(oracle, case, strict):
    wd, td = _bad_dicts(wgtorch, nn)[case], _bad_dicts(oracle, oracle.nn)[case]
    wm, tm = _net(nn)(4, 2), _net(oracle.nn)(4, 2)
    try:
        tres = tm.load_state_dict(td, strict=strict)
    except RuntimeError as e:
        with pytest.raises(RuntimeError) as ew:
            wm.load_state_dict(wd, strict=strict)
        assert str(ew.value) == str(e)
        assert str(e).startswith("Error(s) in loading state_dict for NeuralNetwork:\n\t")
    else:
        wres = wm.load_state_dict(wd, strict=strict)
        assert (wres.missing_keys, wres.unexpected_keys) == (tres.missing_keys, tres.unexpected_keys)
        assert repr(wres) == repr(tres)


def test_load_state_dict_type_error_and_assign(oracle):
    _same_error(oracle, lambda lib: lib.nn.Linear(2, 2).load_state_dict([1]),
                lambda lib: lib.nn.Linear(2, 2).load_state_dict([1]))
    m = nn.Linear(2, 2)
    new = {"weight": wgtorch.ones(2, 2, dtype=wgtorch.float64), "bias": wgtorch.zeros(2, dtype=wgtorch.float64)}
    m.load_state_dict(new)  # copy_: keeps float32
    assert m.weight.dtype == wgtorch.float32 and m.weight.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    m.load_state_dict(new, assign=True)  # assign: takes the tensors, stays a Parameter with requires_grad
    assert m.weight.dtype == wgtorch.float64 and isinstance(m.weight, nn.Parameter) and m.weight.requires_grad


def test_load_state_dict_across_devices(device):
    src = _net(nn)(4, 2)
    dst = _net(nn)(4, 2).to(device)
    dst.load_state_dict(src.state_dict())
    assert all(p.device.type == device for p in dst.parameters())
    x = wgtorch.rand(3, 4)
    assert_close(dst(x.to(device)), to_np(src(x)), rtol=1e-4, atol=1e-6)
    back = _net(nn)(4, 2)
    back.load_state_dict(dst.state_dict())  # device tensors load into a cpu model
    assert_close(back(x), to_np(src(x)), rtol=1e-4, atol=1e-6)


# ---- printing ---------------------------------------------------------------------------------

SEED_REPR = """NeuralNetwork(
  (layers): Sequential(
    (0): Linear(in_features=50, out_features=30, bias=True)
    (1): ReLU()
    (2): Linear(in_features=30, out_features=20, bias=True)
    (3): ReLU()
    (4): Linear(in_features=20, out_features=3, bias=True)
  )
)"""


def test_repr_of_seed_model(oracle):
    m = _net(nn)(50, 3)
    assert repr(m) == SEED_REPR == repr(_net(oracle.nn)(50, 3))
    assert sum(p.numel() for p in m.parameters() if p.requires_grad) == 2213


def test_repr_matches_torch(oracle):
    def build(nn_):
        class Multi(nn_.Module):
            def extra_repr(self):
                return "first line\nsecond line"

        class One(nn_.Module):
            def __init__(self):
                super().__init__()
                self.inner = nn_.Linear(2, 2)

            def extra_repr(self):
                return "k=1"
        return nn_.Sequential(OrderedDict(
            zoo=_zoo(nn_, oracle if nn_ is oracle.nn else wgtorch),
            rep=nn_.ModuleList([nn_.Linear(2, 2) for _ in range(3)] + [nn_.ReLU(), nn_.ReLU(), nn_.Tanh()]),
            empty=nn_.ModuleList(), multi=Multi(), one=One(), seq=nn_.Sequential()))
    assert repr(build(nn)) == repr(build(oracle.nn))


# ---- hooks ---------------------------------------------------------------------------------------

def test_forward_hooks():
    m = nn.Linear(2, 2)
    log = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    h2 = m.register_forward_hook(lambda mod, args, out: log.append(("post", out.shape)) or out + 1)
    h3 = m.register_forward_hook(lambda mod, args, out: log.append("first"), prepend=True)
    out = m(wgtorch.ones(3, 2))
    assert log == ["first", ("post", (3, 2))]
    assert_close(out, to_np(m.bias).reshape(1, 2).repeat(3, 0) + 1)
    for h in (h1, h2, h3):
        h.remove()
    x = wgtorch.ones(1, 2)
    assert_close(m(x), to_np(x @ m.weight.t() + m.bias))
    with m.register_forward_pre_hook(lambda mod, args: log.append("ctx")):
        m(x)
    m(x)
    assert log.count("ctx") == 1


def test_forward_hooks_with_kwargs_and_always_call():
    class Scale(nn.Module):
        def forward(self, x, factor=1.0):
            if factor == 0:
                raise ValueError("zero")
            return x * factor
    m = Scale()
    m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"factor": kwargs.get("factor", 1.0) * 2}),
                                with_kwargs=True)
    got = []
    m.register_forward_hook(lambda mod, args, kwargs, out: got.append(kwargs["factor"]), with_kwargs=True)
    assert m(wgtorch.ones(1), factor=3.0).item() == 6.0 and got == [6.0]
    failed = []
    m.register_forward_hook(lambda mod, args, kwargs, out: failed.append(out), with_kwargs=True, always_call=True)
    m._forward_pre_hooks.clear()
    with pytest.raises(ValueError, match="zero"):
        m(wgtorch.ones(1), factor=0)
    assert failed == [None]


# ---- device and dtype ------------------------------------------------------------------------------

def test_to_device_keeps_parameters_and_forward_matches(device):
    wgtorch.manual_seed(0)
    m = _net(nn)(6, 3)
    m.register_buffer("count", wgtorch.tensor([1, 2]))
    x = wgtorch.rand(4, 6)
    ref = to_np(m(x))
    m(x).sum().backward()
    params = list(m.parameters())
    assert m.to(device) is m
    assert [id(p) for p in m.parameters()] == [id(p) for p in params]  # same Parameter objects
    assert all(isinstance(p, nn.Parameter) and p.requires_grad and p.device.type == device for p in params)
    assert all(p.grad.device.type == device for p in params)
    assert m.count.device.type == device and m.count.dtype == wgtorch.int64
    out = m(x.to(device))
    assert out.device.type == device and out.grad_fn.name() == "AddmmBackward0"
    assert_close(out, ref, rtol=1e-4, atol=1e-6)
    m.cpu()
    assert all(p.device.type == "cpu" for p in m.parameters()) and m.count.device.type == "cpu"


@pytest.mark.parametrize("device", ["wgpu"], indirect=True)
def test_cuda_alias_moves_to_wgpu(device):
    m = nn.Linear(2, 2)
    assert m.cuda().weight.device.type == "wgpu" and m.to("cuda").bias.device.type == "wgpu"
    assert m.to(wgtorch.device("cpu")).weight.device.type == "cpu"


def test_dtype_moves_only_touch_floating_point(oracle):
    m = nn.Linear(2, 2)
    m.register_buffer("idx", wgtorch.tensor([1, 2]))
    w = m.weight
    assert m.double().weight.dtype == wgtorch.float64 and m.idx.dtype == wgtorch.int64 and m.weight is w
    assert m.float().weight.dtype == wgtorch.float32
    assert m.half().bias.dtype == wgtorch.float16
    assert m.to(wgtorch.float32).weight.dtype == wgtorch.float32
    assert m.to(dtype=wgtorch.float64).bias.dtype == wgtorch.float64
    assert m.to(wgtorch.zeros(1)).bias.dtype == wgtorch.float32
    _same_error(oracle, lambda lib: lib.nn.Linear(2, 2).to(lib.int32), lambda lib: lib.nn.Linear(2, 2).to(lib.int32))


def test_deepcopy_model():
    m = _net(nn)(3, 2)
    c = copy.deepcopy(m)
    assert all(type(p) is nn.Parameter for p in c.parameters())
    for p, q in zip(m.parameters(), c.parameters()):
        assert p is not q
        np.testing.assert_array_equal(to_np(p), to_np(q))
    with wgtorch.no_grad():
        c.layers[0].weight.zero_()
    assert m.layers[0].weight.abs().sum().item() > 0


# ---- containers -------------------------------------------------------------------------------------

def test_sequential_indexing_and_mutation(oracle):
    def ops(nn_):
        s = nn_.Sequential(nn_.Linear(2, 3), nn_.ReLU(), nn_.Linear(3, 1))
        out = [type(s[0]).__name__, type(s[-1]).__name__, len(s), [type(x).__name__ for x in s]]
        sl = s[1:]
        out += [type(sl).__name__, list(sl._modules), sl[0] is s[1]]
        s.append(nn_.Sigmoid())
        s.insert(1, nn_.Tanh())
        del s[2]
        out += [list(s._modules), [type(x).__name__ for x in s]]
        s[0] = nn_.Identity()
        out += [type(s[0]).__name__, s.pop(-1).__class__.__name__, len(s)]
        out += [list((s + nn_.Sequential(nn_.ReLU()))._modules), len(s * 2), list(s[::2]._modules)]
        od = nn_.Sequential(OrderedDict(first=nn_.ReLU(), second=nn_.Tanh()))
        out += [list(od._modules), type(od[1]).__name__, list(od[1:]._modules)]
        s.extend([nn_.ReLU()])
        out += [len(s)]
        return out
    assert ops(nn) == ops(oracle.nn)
    for idx in (5, -6):
        _same_error(oracle, lambda lib, i=idx: lib.nn.Sequential(lib.nn.ReLU())[i],
                    lambda lib, i=idx: lib.nn.Sequential(lib.nn.ReLU())[i])


def test_sequential_forward(device):
    s = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).to(device)
    x = wgtorch.rand(5, 3).to(device)
    ref = s[2](s[1](s[0](x)))
    assert_close(s(x), to_np(ref))


def test_modulelist_and_moduledict(oracle):
    def ops(nn_):
        ml = nn_.ModuleList([nn_.ReLU(), nn_.Tanh()])
        ml.append(nn_.Sigmoid())
        ml.extend([nn_.Identity()])
        ml += [nn_.ReLU()]
        ml.insert(1, nn_.Linear(1, 1))
        del ml[0]
        out = [list(ml._modules), [type(m).__name__ for m in ml], type(ml[-1]).__name__, len(ml),
               type(ml[1:3]).__name__, len(ml[1:3]), type(ml.pop(0)).__name__, len(ml + ml)]
        md = nn_.ModuleDict({"b": nn_.ReLU(), "a": nn_.Tanh()})
        md["c"] = nn_.Identity()
        md.update([("d", nn_.Sigmoid())])
        out += [list(md), list(md.keys()), [type(v).__name__ for v in md.values()], "a" in md, len(md),
                type(md.pop("a")).__name__, [k for k, _ in md.items()]]
        return out
    assert ops(nn) == ops(oracle.nn)
    _same_error(oracle, lambda lib: lib.nn.ModuleList([lib.nn.ReLU()])[3],
                lambda lib: lib.nn.ModuleList([lib.nn.ReLU()])[3])
    _same_error(oracle, lambda lib: lib.nn.ModuleList().extend(3), lambda lib: lib.nn.ModuleList().extend(3))
    _same_error(oracle, lambda lib: lib.nn.ModuleDict([("a",)]), lambda lib: lib.nn.ModuleDict([("a",)]))
    _same_error(oracle, lambda lib: lib.nn.ModuleList([lib.nn.ReLU()])(1),
                lambda lib: lib.nn.ModuleList([lib.nn.ReLU()])(1))
