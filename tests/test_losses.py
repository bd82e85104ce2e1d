"""Losses (nn.functional and the nn loss modules) against real torch: values and gradients,
reductions, weights, ignore_index, label smoothing, probability targets, (N, C, d1, ...) layouts,
broadcasting, non-contiguous inputs, errors; finite differences; a hypothesis case."""
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wgtorch
import wgtorch.nn.functional as F
from conftest import assert_close, to_np
from gradcheck import check_grad
from test_nn_functional import check
from wgtorch.nn.modules import loss as L

fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
REDUCTIONS = ["mean", "sum", "none"]
RNG = np.random.default_rng(0)


def logits(*shape):
    return (RNG.standard_normal(shape) * 2).astype(np.float32)


def targets(shape, c, ignore=(), ignore_index=-100):
    t = RNG.integers(0, c, shape)
    t.reshape(-1)[list(ignore)] = ignore_index
    return t


W5 = (RNG.random(5) + 0.5).astype(np.float32)
# layout -> (logits, class-index targets with some ignored ones (-100), probability targets)
LAYOUTS = {
    "NC": (logits(6, 5), targets(6, 5, ignore=[2])),
    "C": (logits(5), np.array(3)),
    "NCd": (logits(3, 5, 4), targets((3, 4), 5, ignore=[0, 7])),
    "NCdd": (logits(2, 5, 3, 2), targets((2, 3, 2), 5, ignore=[5])),
}


def _probs(x):
    e = np.exp(RNG.standard_normal(x.shape))
    return (e / e.sum(axis=1 if x.ndim > 1 else 0, keepdims=True)).astype(np.float32)


# ---- cross_entropy / nll_loss -------------------------------------------------------------
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_class_indices(device, oracle, reduction, layout, weighted, smoothing):
    x, t = LAYOUTS[layout]
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    arrays = [x, t] + ([W5] if weighted else [])
    out, ref = check(lambda *a: F.cross_entropy(*a, **kw), lambda *a: oracle.nn.functional.cross_entropy(*a, **kw),
                     arrays, device, oracle, noncontig=layout != "C")
    if smoothing == 0 and layout in ("NC", "C"):
        assert out.grad_fn.name() == ref.grad_fn.name() == "NllLossBackward0"
    if smoothing == 0 and layout == "NCdd":
        assert out.grad_fn.name() == "NllLoss2DBackward0"


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_ignore_index_within_classes(device, oracle, reduction, weighted):
    x = logits(8, 4)
    t = np.array([0, 1, 2, 3, 1, 1, 0, 2])  # class 1 ignored: 3 of 8 targets
    kw = dict(reduction=reduction, ignore_index=1)
    check(lambda *a: F.cross_entropy(*a, **kw), lambda *a: oracle.nn.functional.cross_entropy(*a, **kw),
          [x, t] + ([W5[:4]] if weighted else []), device, oracle)
    kw["label_smoothing"] = 0.1
    check(lambda *a: F.cross_entropy(*a, **kw), lambda *a: oracle.nn.functional.cross_entropy(*a, **kw),
          [x, t] + ([W5[:4]] if weighted else []), device, oracle)


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("layout", ["NC", "C", "NCd"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probability_targets(device, oracle, reduction, layout, weighted, smoothing):
    x = LAYOUTS[layout][0]
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    check(lambda *a: F.cross_entropy(*a, **kw), lambda *a: oracle.nn.functional.cross_entropy(*a, **kw),
          [x, _probs(x)] + ([W5] if weighted else []), device, oracle, grad=(0, 1), noncontig=layout != "C")


def test_cross_entropy_all_ignored_is_nan(device, oracle):
    x = wgtorch.tensor(logits(3, 4), device=device, requires_grad=True)
    t = wgtorch.tensor([-100, -100, -100], device=device)
    out = F.cross_entropy(x, t)
    ref = oracle.nn.functional.cross_entropy(oracle.tensor(to_np(x)), oracle.tensor([-100, -100, -100]))
    assert np.isnan(to_np(out)) and np.isnan(ref.item())
    assert_close(F.cross_entropy(x, t, reduction="sum"), 0.0)


def test_cross_entropy_double_backward(device, oracle):
    """Hessian-vector products through log_softmax + the nll node agree with torch."""
    x, t = LAYOUTS["NC"]
    xw = wgtorch.tensor(x, device=device, requires_grad=True)
    xt = oracle.tensor(x, requires_grad=True)
    kw = dict(weight=W5, label_smoothing=0.1)
    (g,) = wgtorch.autograd.grad(F.cross_entropy(xw, wgtorch.tensor(t, device=device),
                                                 weight=wgtorch.tensor(W5, device=device), label_smoothing=0.1),
                                 xw, create_graph=True)
    (gt,) = oracle.autograd.grad(oracle.nn.functional.cross_entropy(
        xt, oracle.tensor(t), weight=oracle.tensor(kw["weight"]), label_smoothing=0.1), xt, create_graph=True)
    (h,) = wgtorch.autograd.grad((g * g).sum(), xw)
    (ht,) = oracle.autograd.grad((gt * gt).sum(), xt)
    assert_close(h, ht.numpy(), 1e-4, 1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(device, oracle, reduction):
    lp = np.log(_probs(logits(6, 5)))
    t = targets(6, 5, ignore=[1])
    kw = dict(reduction=reduction)
    check(lambda *a: F.nll_loss(*a, **kw), lambda *a: oracle.nn.functional.nll_loss(*a, **kw),
          [lp, t, W5], device, oracle, noncontig=True)
    # uint8 targets, as torch allows, and an ignore_index among the classes
    tb = np.array([0, 4, 2, 2, 1, 3], np.uint8)
    kw = dict(reduction=reduction, ignore_index=2)
    check(lambda *a: F.nll_loss(*a, **kw), lambda *a: oracle.nn.functional.nll_loss(*a, **kw),
          [lp, tb], device, oracle)


def test_class_index_loss_errors(device):
    x = wgtorch.tensor(logits(4, 3), device=device)
    t = wgtorch.tensor([0, 2, 1, 1], device=device)
    with pytest.raises(RuntimeError, match="expected target dtype to be Long or Byte, but got Float"):
        F.cross_entropy(x, t.float())
    with pytest.raises(RuntimeError, match="expected target dtype to be Long or Byte, but got Int"):
        F.cross_entropy(x, t.int())
    with pytest.raises(ValueError, match=r"Expected input batch_size \(4\) to match target batch_size \(3\)."):
        F.cross_entropy(x, t[:3])
    with pytest.raises(RuntimeError, match="0D or 1D target tensor expected, multi-target not supported"):
        F.nll_loss(x[:3], wgtorch.tensor([[1], [2], [0]], device=device))
    with pytest.raises(RuntimeError, match=r"Expected target size \[2, 5\], got \[2, 4\]"):
        F.cross_entropy(wgtorch.zeros(2, 3, 5, device=device), wgtorch.zeros(2, 4, dtype=wgtorch.int64, device=device))
    with pytest.raises(RuntimeError, match=r"weight tensor should be defined either for all 3 classes or no classes "
                                           r"but got weight tensor of shape: \[2\]"):
        F.cross_entropy(x, t, weight=wgtorch.ones(2, device=device))
    with pytest.raises(RuntimeError, match="cross_entropy: weight tensor should be defined"):
        F.cross_entropy(x, wgtorch.rand(4, 3, device=device), weight=wgtorch.ones(2, device=device))
    with pytest.raises(RuntimeError, match="label_smoothing must be between 0.0 and 1.0. Got: 1.5"):
        F.cross_entropy(x, t, label_smoothing=1.5)
    with pytest.raises(RuntimeError, match="ignore_index is not supported for floating point target"):
        F.cross_entropy(x, wgtorch.rand(4, 3, device=device), ignore_index=1)
    with pytest.raises(RuntimeError, match="Expected floating point type for target with class probabilities, got "
                                           "Long"):
        F.cross_entropy(x, wgtorch.zeros(4, 3, dtype=wgtorch.int64, device=device))
    with pytest.raises(ValueError, match="foo is not a valid value for reduction"):
        F.cross_entropy(x, t, reduction="foo")
    with pytest.raises(ValueError, match=r"Expected 1 or more dimensions \(got 0\)"):
        F.nll_loss(wgtorch.tensor(1.0, device=device), wgtorch.tensor(0, device=device))
    with pytest.raises(ValueError, match="For 1D input, 1D target must have size 1, but got target size: 2"):
        F.nll_loss(x[0], t[:2])


def test_target_out_of_bounds_cpu():
    # cpu checks the targets as torch does; wgpu never reads them back (as CUDA, no host check)
    x = wgtorch.tensor(logits(4, 3))
    for bad in (3, -1):
        with pytest.raises(IndexError, match=f"Target {bad} is out of bounds."):
            F.cross_entropy(x, wgtorch.tensor([0, bad, 1, 1]))


@pytest.mark.float64
def test_cross_entropy_float64(oracle):
    x, t = LAYOUTS["NCd"]
    x = x.astype(np.float64)
    for kw in ({}, dict(weight=W5.astype(np.float64), label_smoothing=0.1, reduction="sum")):
        out = F.cross_entropy(wgtorch.tensor(x), wgtorch.tensor(t), **{k: wgtorch.tensor(v) if k == "weight" else v
                                                                        for k, v in kw.items()})
        ref = oracle.nn.functional.cross_entropy(oracle.tensor(x), oracle.tensor(t), **{
            k: oracle.tensor(v) if k == "weight" else v for k, v in kw.items()})
        assert out.dtype == wgtorch.float64
        assert_close(out, ref.numpy(), 1e-12, 1e-12)


def test_cross_entropy_gradcheck(device):
    t = np.array([0, 2, -100, 1])
    w = wgtorch.tensor([0.5, 2.0, 1.0], dtype=wgtorch.float64)

    def fn(x):
        ww = w.to(x.dtype).to(x.device)
        return F.cross_entropy(x, wgtorch.tensor(t, device=x.device), weight=ww, label_smoothing=0.1)
    check_grad(fn, [RNG.standard_normal((4, 3))], device)


@fixture_ok
@given(n=st.integers(1, 6), c=st.integers(1, 6), d=st.integers(0, 3), reduction=st.sampled_from(REDUCTIONS),
       smoothing=st.sampled_from([0.0, 0.25]), weighted=st.booleans(), n_ignored=st.integers(0, 2),
       seed=st.integers(0, 2 ** 16))
def test_cross_entropy_hypothesis(device, oracle, n, c, d, reduction, smoothing, weighted, n_ignored, seed):
    rng = np.random.default_rng(seed)
    shape = (n, c) + ((d,) if d else ())
    x = rng.standard_normal(shape).astype(np.float32) * 3
    t = rng.integers(0, c, (n,) + ((d,) if d else ()))
    t.reshape(-1)[: min(n_ignored, t.size - 1)] = -100  # at least one target counts
    arrays = [x, t] + ([(rng.random(c) + 0.1).astype(np.float32)] if weighted else [])
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    check(lambda *a: F.cross_entropy(*a, **kw), lambda *a: oracle.nn.functional.cross_entropy(*a, **kw),
          arrays, device, oracle, noncontig=True, tol=(2e-4, 1e-5))


# ---- regression losses --------------------------------------------------------------------
REGRESSION = [
    ("mse", lambda f: f.mse_loss, {}, "MseLossBackward0"),
    ("l1", lambda f: f.l1_loss, {}, None),
    ("smooth_l1", lambda f: f.smooth_l1_loss, {}, "SmoothL1LossBackward0"),
    ("smooth_l1_beta", lambda f: f.smooth_l1_loss, {"beta": 0.4}, "SmoothL1LossBackward0"),
    ("smooth_l1_beta0", lambda f: f.smooth_l1_loss, {"beta": 0.0}, None),
    ("huber", lambda f: f.huber_loss, {}, "HuberLossBackward0"),
    ("huber_delta", lambda f: f.huber_loss, {"delta": 0.3}, "HuberLossBackward0"),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,fn,kw,node", REGRESSION, ids=[r[0] for r in REGRESSION])
def test_regression_loss(device, oracle, name, fn, kw, node, reduction):
    x, y = logits(4, 6), logits(4, 6)
    kw = dict(kw, reduction=reduction)
    out, ref = check(lambda *a: fn(F)(*a, **kw), lambda *a: fn(oracle.nn.functional)(*a, **kw), [x, y], device,
                     oracle, grad=(0, 1), noncontig=True)
    if node:
        assert out.grad_fn.name() == ref.grad_fn.name() == node
    else:
        assert out.grad_fn.name() == ref.grad_fn.name()


@pytest.mark.parametrize("name,fn,kw,node", REGRESSION, ids=[r[0] for r in REGRESSION])
def test_regression_loss_broadcasting_warns(device, oracle, name, fn, kw, node):
    x, y = logits(4, 6), logits(6)
    with pytest.warns(UserWarning, match="Using a target size"):
        check(lambda *a: fn(F)(*a, **kw), lambda *a: fn(oracle.nn.functional)(*a, **kw), [x, y], device, oracle,
              grad=(0, 1))


def test_regression_loss_gradcheck(device):
    for fn in (F.mse_loss, lambda a, b: F.smooth_l1_loss(a, b, beta=0.5), lambda a, b: F.huber_loss(a, b, delta=0.5)):
        check_grad(fn, [RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))], device)
    # double backward through the loss node (its backward is made of Tensor ops)
    x = wgtorch.tensor(logits(3, 4), device=device, requires_grad=True)
    (g,) = wgtorch.autograd.grad(F.mse_loss(x, wgtorch.zeros(3, 4, device=device), reduction="sum"), x,
                                 create_graph=True)
    (h,) = wgtorch.autograd.grad(g.sum(), x)
    assert_close(h, np.full((3, 4), 2.0))


def test_regression_loss_errors(device):
    x = wgtorch.zeros(3, device=device)
    with pytest.raises(RuntimeError, match="smooth_l1_loss does not support negative values for beta."):
        F.smooth_l1_loss(x, x, beta=-1)
    with pytest.raises(RuntimeError, match="huber_loss does not support non-positive values for delta."):
        F.huber_loss(x, x, delta=0)
    with pytest.raises(ValueError, match="bad is not a valid value for reduction"):
        F.mse_loss(x, x, reduction="bad")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError):  # (wgpu words it differently: reported)
            F.mse_loss(wgtorch.zeros(4, 3, device=device), wgtorch.zeros(4, 2, device=device))


# ---- binary cross-entropy -----------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weights", ["none", "weight", "pos_weight", "both"])
def test_bce_with_logits(device, oracle, reduction, weights):
    x = logits(4, 5) * 5
    y = RNG.random((4, 5)).astype(np.float32)
    w = (RNG.random((4, 5)) + 0.5).astype(np.float32)
    pw = (RNG.random(5) * 3).astype(np.float32)  # broadcast along the last dim

    def call(f, tensor):
        def run(a, b, *rest):
            kw = dict(reduction=reduction)
            rest = list(rest)
            if weights in ("weight", "both"):
                kw["weight"] = rest.pop(0)
            if weights in ("pos_weight", "both"):
                kw["pos_weight"] = rest.pop(0)
            return f.binary_cross_entropy_with_logits(a, b, **kw)
        return run
    extra = ([w] if weights in ("weight", "both") else []) + ([pw] if weights in ("pos_weight", "both") else [])
    out, _ = check(call(F, wgtorch.tensor), call(oracle.nn.functional, oracle.tensor), [x, y] + extra, device,
                     oracle, grad=(0, 1), noncontig=True)
    assert out.grad_fn.name() == "BinaryCrossEntropyWithLogitsBackward0"


def test_bce_with_logits_stable(device, oracle):
    x = np.array([-100.0, -30.0, 0.0, 30.0, 100.0], np.float32)
    y = np.array([1.0, 0.0, 0.5, 1.0, 0.0], np.float32)
    out, _ = check(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction="none"),
                     lambda a, b: oracle.nn.functional.binary_cross_entropy_with_logits(a, b, reduction="none"),
                     [x, y], device, oracle, grad=(0, 1))
    assert np.isfinite(to_np(out)).all()


def test_bce_with_logits_gradcheck_and_errors(device):
    fn = lambda a, b: F.binary_cross_entropy_with_logits(
        a, b, pos_weight=wgtorch.tensor([0.5, 2.0, 1.5], dtype=a.dtype, device=a.device))
    check_grad(fn, [RNG.standard_normal((2, 3)) * 3, RNG.random((2, 3))], device)
    with pytest.raises(ValueError, match=r"Target size \(torch.Size\(\[3\]\)\) must be the same as input size"):
        F.binary_cross_entropy_with_logits(wgtorch.zeros(2, 3, device=device), wgtorch.zeros(3, device=device))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce(device, oracle, reduction):
    p = RNG.uniform(0.05, 0.95, (3, 4)).astype(np.float32)
    y = RNG.random((3, 4)).astype(np.float32)
    w = RNG.random((3, 4)).astype(np.float32)
    check(lambda *a: F.binary_cross_entropy(*a, reduction=reduction),
          lambda *a: oracle.nn.functional.binary_cross_entropy(*a, reduction=reduction),
          [p, y, w], device, oracle, grad=(0, 1), noncontig=True)


# ---- kl_div -------------------------------------------------------------------------------
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
def test_kl_div(device, oracle, reduction, log_target):
    inp = np.log(_probs(logits(4, 5)))
    tgt = _probs(logits(4, 5))
    tgt[0, 1] = 0.0  # target 0 contributes 0 (xlogy)
    if log_target:
        tgt = np.log(tgt + 1e-3)
    kw = dict(reduction=reduction, log_target=log_target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 'mean' warns (checked below)
        out, ref = check(lambda *a: F.kl_div(*a, **kw), lambda *a: oracle.nn.functional.kl_div(*a, **kw),
                         [inp, tgt], device, oracle, grad=(0,) if not log_target else (0, 1), noncontig=True)
    assert out.grad_fn.name() == ref.grad_fn.name()
    if reduction == "mean":
        with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
            F.kl_div(wgtorch.tensor(inp, device=device), wgtorch.tensor(tgt, device=device))


# ---- loss modules -------------------------------------------------------------------------
def test_loss_modules_match_functional(device, oracle):
    x, t = LAYOUTS["NC"]
    p = _probs(x)
    y = logits(6, 5)
    cases = [  # module name, kwargs (tensor values given as NumPy), input, target
        ("CrossEntropyLoss", dict(weight=W5, label_smoothing=0.1, ignore_index=1), x, np.abs(t) % 5),
        ("CrossEntropyLoss", dict(reduction="none"), x, p),
        ("NLLLoss", dict(weight=W5, reduction="sum"), np.log(p), t),
        ("MSELoss", dict(), x, y),
        ("L1Loss", dict(reduction="sum"), x, y),
        ("SmoothL1Loss", dict(beta=0.5), x, y),
        ("HuberLoss", dict(delta=0.5, reduction="none"), x, y),
        ("BCELoss", dict(weight=W5), p, np.ones_like(p) * 0.3),
        ("BCEWithLogitsLoss", dict(pos_weight=W5, weight=W5), x, p),
        ("KLDivLoss", dict(reduction="batchmean", log_target=True), np.log(p), np.log(p[::-1].copy())),
    ]
    for name, kw, a, b in cases:
        m = getattr(L, name)(**{k: wgtorch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()})
        r = getattr(oracle.nn, name)(**{k: oracle.tensor(v) if isinstance(v, np.ndarray) else v
                                        for k, v in kw.items()})
        assert isinstance(m, wgtorch.nn.Module)
        assert repr(m) == repr(r)
        assert m.reduction == r.reduction
        for attr in ("ignore_index", "label_smoothing", "beta", "delta", "log_target"):
            assert getattr(m, attr, None) == getattr(r, attr, None), (name, attr)
        assert [k for k, _ in m.named_buffers()] == [k for k, _ in r.named_buffers()]
        assert list(m.state_dict()) == list(r.state_dict())
        m.to(device)
        for buf in m.buffers():
            assert str(buf.device).split(":")[0] == device
        check(m, r, [a, b], device, oracle, grad=(0,))


def test_loss_module_legacy_args(oracle):
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        m, r = L.MSELoss(size_average=False), oracle.nn.MSELoss(size_average=False)
    assert m.reduction == "sum" == r.reduction
    with pytest.warns(UserWarning):
        assert L.NLLLoss(reduce=False).reduction == "none"
    assert L.CrossEntropyLoss().weight is None
    assert L.BCEWithLogitsLoss().pos_weight is None
    assert L.CrossEntropyLoss().ignore_index == -100


def test_cross_entropy_loss_training_step(device, oracle):
    """A linear model's loss, gradient and one SGD step agree with torch's."""
    x, t = logits(8, 4), RNG.integers(0, 3, 8)
    w0 = (RNG.standard_normal((3, 4)) * 0.1).astype(np.float32)
    w = wgtorch.tensor(w0, device=device, requires_grad=True)
    wt = oracle.tensor(w0, requires_grad=True)
    crit, crit_t = L.CrossEntropyLoss(), oracle.nn.CrossEntropyLoss()
    for _ in range(3):
        loss = crit(wgtorch.tensor(x, device=device) @ w.t(), wgtorch.tensor(t, device=device))
        loss_t = crit_t(oracle.tensor(x) @ wt.t(), oracle.tensor(t))
        assert_close(loss, loss_t.item(), 1e-5, 1e-6)
        loss.backward()
        loss_t.backward()
        with wgtorch.no_grad():
            w -= 0.5 * w.grad
        with oracle.no_grad():
            wt -= 0.5 * wt.grad
        w.grad = None
        wt.grad = None
    assert_close(w, wt.detach().numpy(), 1e-5, 1e-6)
