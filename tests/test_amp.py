"""Mixed precision: autocast regions (PyTorch's op lists: cpu against torch's CPU autocast,
wgpu against the documented CUDA lists) and GradScaler (against torch.amp.GradScaler)."""
import math
import pickle
import warnings

import numpy as np
import pytest
from conftest import to_np

import wgtorch
import wgtorch.amp
import wgtorch.nn.functional as F
from wgtorch.amp import GradScaler, autocast
from wgtorch.amp import autocast_mode as _ac

BF, HALF, F32 = wgtorch.bfloat16, wgtorch.float16, wgtorch.float32


def _ac_type(device):
    return "cpu" if device == "cpu" else "cuda"


def _inputs(mod, device=None):
    """The same small inputs in torch (mod=torch) or wgtorch."""
    kw = {} if device is None else {"device": device}
    rng = np.random.default_rng(0)

    def t(*shape, lo=-1.0, hi=1.0):
        return mod.tensor(rng.uniform(lo, hi, shape).astype(np.float32), **kw)
    a, b = t(4, 4), t(4, 4)
    return {"a": a, "b": b, "x3": t(2, 3, 8), "w": t(3, 3, 3), "img": t(1, 3, 5, 5), "w2": t(2, 3, 3, 3),
            "pos": t(4, 4, lo=0.1, hi=0.9), "tgt": mod.tensor([0, 1, 2, 3], **kw)}


def _ops(m, F_):
    return {
        "matmul": lambda v: v["a"] @ v["b"],
        "mm": lambda v: m.mm(v["a"], v["b"]),
        "bmm": lambda v: m.bmm(v["x3"][:, :, :3], v["x3"]),
        "addmm": lambda v: m.addmm(v["a"], v["a"], v["b"]),
        "baddbmm": lambda v: m.baddbmm(v["x3"], v["x3"][:, :, :3], v["x3"]),
        "linear": lambda v: F_.linear(v["a"], v["b"], v["a"][0]),
        "conv1d": lambda v: F_.conv1d(v["x3"], v["w"]),
        "conv2d": lambda v: F_.conv2d(v["img"], v["w2"]),
        "conv_transpose2d": lambda v: F_.conv_transpose2d(v["img"], v["w2"].transpose(0, 1)),
        "sdpa": lambda v: F_.scaled_dot_product_attention(v["x3"], v["x3"], v["x3"]),
        "softmax": lambda v: m.softmax(v["a"], 1),
        "log_softmax": lambda v: F_.log_softmax(v["a"], 1),
        "layer_norm": lambda v: F_.layer_norm(v["a"], (4,)),
        "group_norm": lambda v: F_.group_norm(v["img"], 1),
        # a norm with float32 weights after a low-precision op (cpu: the input's type, as torch's kernels)
        "mm_layer_norm": lambda v: F_.layer_norm(v["a"] @ v["b"], (4,), v["pos"][0], v["pos"][1]),
        "conv_group_norm": lambda v: F_.group_norm(F_.conv2d(v["img"], v["w2"]), 2, v["pos"][0, :2], v["b"][0, :2]),
        "conv_batch_norm": lambda v: F_.batch_norm(F_.conv2d(v["img"], v["w2"]), None, None, v["pos"][0, :2],
                                                   v["b"][0, :2], training=True),
        "cross_entropy": lambda v: F_.cross_entropy(v["a"], v["tgt"]),
        "nll_loss": lambda v: F_.nll_loss(v["a"], v["tgt"]),
        "mse_loss": lambda v: F_.mse_loss(v["a"], v["b"]),
        "l1_loss": lambda v: F_.l1_loss(v["a"], v["b"]),
        "smooth_l1_loss": lambda v: F_.smooth_l1_loss(v["a"], v["b"]),
        "huber_loss": lambda v: F_.huber_loss(v["a"], v["b"]),
        "bce_with_logits": lambda v: F_.binary_cross_entropy_with_logits(v["a"], v["pos"]),
        "kl_div": lambda v: F_.kl_div(v["a"], v["pos"], reduction="batchmean"),
        "sum": lambda v: v["a"].sum(),
        "mean": lambda v: v["a"].mean(),
        "prod": lambda v: v["a"].prod(),
        "cumsum": lambda v: v["a"].cumsum(0),
        "exp": lambda v: v["a"].exp(),
        "log": lambda v: v["pos"].log(),
        "relu": lambda v: v["a"].relu(),
        "add": lambda v: v["a"] + v["b"],
        "tanh": lambda v: v["a"].tanh(),
        "cat": lambda v: m.cat([v["a"], v["b"]]),
    }


OPS = list(_ops(wgtorch, F))

# the documented CUDA lists (torch's CUDA autocast cannot run here): what wgpu follows
GPU_LOW = {"matmul", "mm", "bmm", "addmm", "baddbmm", "linear", "conv1d", "conv2d", "conv_transpose2d", "sdpa"}
GPU_F32 = {"softmax", "log_softmax", "layer_norm", "group_norm", "mm_layer_norm", "conv_group_norm",
           "conv_batch_norm", "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
           "bce_with_logits", "kl_div", "sum", "prod", "cumsum", "exp", "log"}


def _low(v, dt, mod):
    return {k: (t.to(dt) if t.is_floating_point() else t) for k, t in v.items()}


@pytest.mark.parametrize("low_inputs", [False, True], ids=["f32_in", "low_in"])
@pytest.mark.parametrize("dt", ["bfloat16", "float16"])
def test_op_dtypes(device, oracle, dt, low_inputs):
    """Each op's result dtype in an autocast region: torch's CPU autocast on cpu, the CUDA lists on wgpu."""
    wdt = getattr(wgtorch, dt)
    v = _inputs(wgtorch, device)
    if low_inputs:
        v = _low(v, wdt, wgtorch)
    ops = _ops(wgtorch, F)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with autocast(_ac_type(device), dtype=wdt):
            got = {k: f(v).dtype for k, f in ops.items()}
    if device == "cpu":
        tdt = getattr(oracle, dt)
        tv = _inputs(oracle)
        if low_inputs:
            tv = _low(tv, tdt, oracle)
        with oracle.autocast("cpu", dtype=tdt):
            want = {k: str(f(tv).dtype) for k, f in _ops(oracle, oracle.nn.functional).items()}
        assert {k: str(d) for k, d in got.items()} == want
    else:
        for k, d in got.items():
            if k in GPU_LOW:
                assert d is wdt, k
            elif k in GPU_F32:
                assert d is F32, k
            else:  # not listed: the types it was given
                assert d is (wdt if low_inputs else F32), k


def test_values_and_gradients_match_torch(device, oracle):
    """A small model run and differentiated in a bfloat16 region: torch's CPU autocast values and
    float32 weight gradients (bfloat16 rounding apart)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 5)).astype(np.float32)
    w1, b1 = rng.standard_normal((8, 5)).astype(np.float32), rng.standard_normal(8).astype(np.float32)
    w2 = rng.standard_normal((3, 8)).astype(np.float32)
    y = np.array([0, 2, 1, 1, 0, 2])

    def run(m, F_, dev_kw, ac):
        p = [m.tensor(a, requires_grad=True, **dev_kw) for a in (w1, b1, w2)]
        with ac:
            h = F_.relu(F_.linear(m.tensor(x, **dev_kw), p[0], p[1]))
            logits = F_.linear(h, p[2])
            loss = F_.cross_entropy(logits, m.tensor(y, **dev_kw))
        loss.backward()
        return logits, loss, p
    lw, lossw, pw = run(wgtorch, F, {"device": device}, autocast(_ac_type(device), dtype=BF))
    lt, losst, pt = run(oracle, oracle.nn.functional, {}, oracle.autocast("cpu", dtype=oracle.bfloat16))
    assert lw.dtype is BF and lossw.dtype is F32
    np.testing.assert_allclose(to_np(lw.float()), lt.float().detach().numpy(), rtol=2e-2, atol=2e-2)
    np.testing.assert_allclose(lossw.item(), losst.item(), rtol=1e-2)
    for a, b in zip(pw, pt):
        assert a.grad.dtype is F32
        np.testing.assert_allclose(to_np(a.grad), b.grad.numpy(), rtol=3e-2, atol=3e-2)


def test_lower_matmul_is_the_rounded_product(device):
    """matmul in a region is the matmul of the bfloat16-rounded operands (float32 accumulation)."""
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((5, 7)).astype(np.float32), rng.standard_normal((7, 3)).astype(np.float32)
    wa, wb = wgtorch.tensor(a, device=device), wgtorch.tensor(b, device=device)
    with autocast(_ac_type(device), dtype=BF):
        r = wa @ wb
    ref = to_np(wa.to(BF).float()).astype(np.float64) @ to_np(wb.to(BF).float()).astype(np.float64)
    np.testing.assert_allclose(to_np(r.float()), ref, rtol=1e-2, atol=1e-2)


def test_state_nesting_and_decorator(device):
    kind = _ac_type(device)
    a = wgtorch.ones(2, 2, device=device)
    assert not wgtorch.amp.is_autocast_enabled(kind)
    assert wgtorch.amp.get_autocast_dtype("cpu") is BF and wgtorch.amp.get_autocast_dtype("cuda") is HALF
    with autocast(kind, dtype=HALF):
        assert wgtorch.amp.is_autocast_enabled(kind) and wgtorch.amp.get_autocast_dtype(kind) is HALF
        assert (a @ a).dtype is HALF
        with autocast(kind, enabled=False):
            assert not wgtorch.amp.is_autocast_enabled(kind)
            assert (a @ a).dtype is F32
        with autocast(kind, dtype=BF):
            assert (a @ a).dtype is BF
        assert (a @ a).dtype is HALF
    assert not wgtorch.amp.is_autocast_enabled(kind) and _ac.active == 0
    # the other device's region does not touch this device's ops
    with autocast("cuda" if kind == "cpu" else "cpu", dtype=BF):
        assert (a @ a).dtype is F32

    @autocast(kind, dtype=BF)
    def f(x):
        return x @ x
    assert f(a).dtype is BF and (a @ a).dtype is F32
    # explicit dtype= is not autocast; float64 and integer tensors are not eligible
    with autocast(kind, dtype=BF):
        assert wgtorch.softmax(a.to(BF), 1, dtype=F32).dtype is F32
        assert (a.long() * 2).sum().dtype is wgtorch.int64
    if device == "cpu":
        d = a.double()
        with autocast("cpu"):
            assert (d @ d).dtype is wgtorch.float64


def test_state_restored_after_exception(device):
    with pytest.raises(ValueError):
        with autocast(_ac_type(device)):
            raise ValueError
    assert not wgtorch.amp.is_autocast_enabled(_ac_type(device)) and _ac.active == 0


def test_weight_cast_cache(device):
    """A float32 leaf weight is cast once per region (both uses share one cast), and the cache is
    dropped when the outermost region ends."""
    w = wgtorch.ones(3, 3, device=device, requires_grad=True)
    x = wgtorch.ones(2, 3, device=device)
    with autocast(_ac_type(device), dtype=BF):
        with wgtorch.no_grad():  # a cast without gradient is not kept for the uses below
            F.linear(x, w)
        assert len(_ac._state.cache) == 0
        y = F.linear(x, w) + F.linear(x, w)
        assert len(_ac._state.cache) == 1
        with autocast(_ac_type(device), dtype=BF, cache_enabled=False):
            F.linear(x, wgtorch.ones(3, 3, device=device, requires_grad=True))
        assert len(_ac._state.cache) == 1
    assert len(_ac._state.cache) == 0
    y.float().sum().backward()
    np.testing.assert_allclose(to_np(w.grad), np.full((3, 3), 4.0))


def test_argument_errors(oracle):
    with pytest.raises(RuntimeError, match="unsupported autocast device_type 'xpu2'"):
        autocast("xpu2")
    with pytest.warns(UserWarning, match="target dtype is not supported. Disabling autocast"):
        ctx = autocast("cpu", dtype=F32)
    with ctx:
        assert not wgtorch.amp.is_autocast_enabled("cpu")


def test_bce_is_banned_on_gpu(device):
    x = wgtorch.full((3,), 0.5, device=device)
    with autocast(_ac_type(device), dtype=HALF):
        if device == "cpu":
            assert F.binary_cross_entropy(x, x).dtype is F32
        else:
            with pytest.raises(RuntimeError, match="unsafe to autocast"):
                F.binary_cross_entropy(x, x)


def test_legacy_spellings():
    from wgtorch.amp import cpu_amp, cuda_amp
    with cpu_amp.autocast():
        assert wgtorch.amp.is_autocast_enabled("cpu") and wgtorch.amp.get_autocast_dtype("cpu") is BF
    with cuda_amp.autocast():
        assert wgtorch.amp.is_autocast_enabled("cuda") and wgtorch.amp.get_autocast_dtype("cuda") is HALF
    assert cpu_amp.GradScaler()._device == "cpu"


# ---- GradScaler ------------------------------------------------------------------------------
def _scaler_run(m, dev_kw, make_scaler, steps):
    """SGD on one parameter with the scaler; `steps` lists gradient multipliers (inf/nan inject bad
    gradients). Returns the scales seen, the growth trackers, the final weights."""
    w = m.tensor([1.0, -2.0, 3.0], requires_grad=True, **dev_kw)
    opt = m.optim.SGD([w], lr=0.1)
    s = make_scaler()
    scales, trackers = [], []
    for mult in steps:
        opt.zero_grad()
        loss = (w * w).sum() * mult
        s.scale(loss).backward()
        s.step(opt)
        s.update()
        scales.append(s.get_scale())
        trackers.append(s.state_dict()["_growth_tracker"])
    return scales, trackers, w.detach().cpu().numpy()


def test_grad_scaler_matches_torch(device, oracle):
    steps = [1.0, 1.0, math.inf, 1.0, 1.0, 1.0, math.nan, 2.0]
    kw = dict(init_scale=1024.0, growth_factor=4.0, backoff_factor=0.25, growth_interval=2)
    got = _scaler_run(wgtorch, {"device": device}, lambda: GradScaler(_ac_type(device), **kw), steps)
    want = _scaler_run(oracle, {}, lambda: oracle.amp.GradScaler("cpu", **kw), steps)
    assert got[0] == want[0] and got[1] == want[1]
    np.testing.assert_allclose(got[2], want[2], rtol=1e-6)


def test_grad_scaler_defaults_and_unscale(device, oracle):
    s, t = GradScaler(_ac_type(device)), oracle.amp.GradScaler("cpu")
    assert s.state_dict() == t.state_dict()
    assert s.get_scale() == 65536.0 and s.is_enabled()
    w = wgtorch.tensor([1.0, 2.0], device=device, requires_grad=True)
    opt = wgtorch.optim.SGD([w], lr=1.0)
    scaled = s.scale((w * 3).sum())
    assert scaled.dtype is F32 and scaled.item() == 65536.0 * 9
    scaled.backward()
    np.testing.assert_array_equal(to_np(w.grad), [3 * 65536.0] * 2)
    s.unscale_(opt)  # e.g. to clip gradients before step
    np.testing.assert_array_equal(to_np(w.grad), [3.0, 3.0])
    with pytest.raises(RuntimeError, match="already been called on this optimizer"):
        s.unscale_(opt)
    s.step(opt)  # does not unscale again
    np.testing.assert_array_equal(to_np(w), [-2.0, -1.0])
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
        s.step(opt)
    with pytest.raises(RuntimeError, match="after step"):
        s.unscale_(opt)
    s.update()
    with pytest.raises(AssertionError, match="No inf checks"):
        s.update()
    with pytest.raises(RuntimeError, match="Closure use is not currently supported"):
        s.step(opt, closure=lambda: None)
    s.update(128.0)
    assert s.get_scale() == 128.0


def test_grad_scaler_state_dict_and_disabled(device):
    s = GradScaler(_ac_type(device), init_scale=8.0, growth_interval=3)
    sd = {"scale": 32.0, "growth_factor": 3.0, "backoff_factor": 0.125, "growth_interval": 7, "_growth_tracker": 2}
    s.load_state_dict(sd)
    assert s.state_dict() == sd
    s.scale(wgtorch.ones(1, device=device))
    s.load_state_dict(dict(sd, scale=4.0))
    assert s.get_scale() == 4.0
    s2 = pickle.loads(pickle.dumps(s))
    assert s2.get_scale() == 4.0 and s2.state_dict()["growth_interval"] == 7
    with pytest.raises(RuntimeError, match="source state dict is empty"):
        s.load_state_dict({})
    off = GradScaler(_ac_type(device), enabled=False)
    x = wgtorch.ones(2, device=device)
    assert off.scale(x) is x and off.get_scale() == 1.0 and off.state_dict() == {}
    w = wgtorch.tensor([1.0], device=device, requires_grad=True)
    opt = wgtorch.optim.SGD([w], lr=1.0)
    (w * 2).sum().backward()
    off.step(opt)
    off.update()
    assert w.item() == -1.0


def test_grad_scaler_rejects_fp16_gradients(device):
    s = GradScaler(_ac_type(device))
    w = wgtorch.ones(2, device=device, dtype=HALF, requires_grad=True)
    opt = wgtorch.optim.SGD([w], lr=1.0)
    s.scale(w.sum()).backward()
    with pytest.raises(ValueError, match="Attempting to unscale FP16 gradients"):
        s.unscale_(opt)


@pytest.mark.filterwarnings("ignore:overflow encountered")  # float16 overflow: the steps the scaler skips
def test_float16_training_with_scaler(device):
    """The usual loop: forward in a float16 region, scaled backward, step, update; the loss falls."""
    wgtorch.manual_seed(0)
    model = wgtorch.nn.Sequential(wgtorch.nn.Linear(4, 16), wgtorch.nn.ReLU(), wgtorch.nn.Linear(16, 1)).to(device)
    opt = wgtorch.optim.SGD(model.parameters(), lr=0.05)
    scaler = GradScaler(_ac_type(device))
    x = wgtorch.randn(32, 4).to(device)
    y = x.sum(1, keepdim=True).to(device)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        with autocast(_ac_type(device), dtype=HALF):
            out = model(x)
            loss = F.mse_loss(out, y)
        assert out.dtype is HALF and loss.dtype is F32
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
    assert all(p.dtype is F32 for p in model.parameters())
    assert losses[-1] < 0.5 * losses[0]


def test_custom_fwd_bwd(device):
    """custom_fwd(cast_inputs=float32) runs a Function's forward in float32 with autocast off; custom_bwd
    runs its backward under the forward's autocast state."""
    seen = {}

    class Square(wgtorch.autograd.Function):
        @staticmethod
        @wgtorch.amp.custom_fwd(device_type=_ac_type(device), cast_inputs=F32)
        def forward(ctx, x, w):
            seen["fwd"] = (x.dtype, (w @ w).dtype, wgtorch.amp.is_autocast_enabled(_ac_type(device)))
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @wgtorch.amp.custom_bwd(device_type=_ac_type(device))
        def backward(ctx, g):
            seen["bwd"] = wgtorch.amp.is_autocast_enabled(_ac_type(device))
            (x,) = ctx.saved_tensors
            return 2 * x * g, None
    x = wgtorch.tensor([1.0, 2.0], device=device, dtype=BF, requires_grad=True)
    w = wgtorch.ones(2, 2, device=device)
    with autocast(_ac_type(device), dtype=BF):
        y = Square.apply(x, w)
    assert seen["fwd"] == (F32, F32, False) and y.dtype is F32
    y.sum().backward()
    assert seen["bwd"] is True
    np.testing.assert_allclose(to_np(x.grad.float()), [2.0, 4.0])
    assert wgtorch.amp.autocast_mode.is_autocast_cpu_enabled() is False


def test_state_is_per_thread(device):
    """An autocast region in one thread leaves another thread's ops alone (PyTorch's state is thread-local)."""
    import threading
    a = wgtorch.ones(2, 2, device=device)
    inside, seen = threading.Event(), {}

    def other():
        inside.wait(10)
        seen["dtype"] = (a @ a).dtype
        seen["enabled"] = wgtorch.amp.is_autocast_enabled(_ac_type(device))
    th = threading.Thread(target=other)
    th.start()
    with autocast(_ac_type(device), dtype=BF):
        inside.set()
        th.join(10)
        assert (a @ a).dtype is BF
    assert seen == {"dtype": F32, "enabled": False}


@pytest.mark.parametrize("cls", ["LSTM", "GRU"])
def test_recurrent_layers_run_in_the_lower_type(device, cls):
    """Under autocast the recurrence runs in the low type (as cuDNN's RNN under PyTorch's autocast): the
    output and states are bfloat16, close to the float32 run, and float32 weights get float32 gradients."""
    wgtorch.manual_seed(0)
    m = getattr(wgtorch.nn, cls)(3, 4, num_layers=2, bidirectional=True).to(device)
    x = wgtorch.randn(5, 2, 3).to(device)
    ref, _ = m(x)
    ref.sum().backward()
    ref_grads = [to_np(p.grad) for p in m.parameters()]
    m.zero_grad()
    with autocast(_ac_type(device), dtype=BF):
        out, h = m(x)
    h = h[0] if isinstance(h, tuple) else h
    assert out.dtype is BF and h.dtype is BF
    np.testing.assert_allclose(to_np(out.float()), to_np(ref), atol=3e-2)
    out.float().sum().backward()
    for p, g in zip(m.parameters(), ref_grads):
        assert p.grad.dtype is F32
        np.testing.assert_allclose(to_np(p.grad), g, rtol=5e-2, atol=1e-1)
