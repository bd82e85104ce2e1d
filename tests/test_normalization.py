"""BatchNorm / LayerNorm / GroupNorm / RMSNorm (functional and modules) against torch: outputs, gradients of
input, weight and bias, running statistics, eval mode, both devices, non-contiguous inputs, errors."""
import numpy as np
import pytest

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import wgtorch
import wgtorch.nn.functional as F
from conftest import assert_close, assert_close_at

torch = pytest.importorskip("torch")


def _tol(device):
    return dict(rtol=1e-5, atol=1e-5) if device == "cpu" else dict(rtol=1e-4, atol=1e-4)


def _pair(a, device, rg=True):
    """A wgtorch tensor on device and a torch tensor with the same float32 values (both leaves)."""
    a = np.asarray(a, dtype=np.float32)
    w = wgtorch.tensor(a, device=device).requires_grad_(rg)
    t = torch.tensor(a).requires_grad_(rg)
    return w, t


def _copy_params(wm, tm, device):
    with torch.no_grad():
        for (n, p), (n2, q) in zip(wm.named_parameters(), tm.named_parameters()):
            assert n == n2
            q.copy_(torch.tensor(np.random.randn(*q.shape).astype(np.float32)))
            with wgtorch.no_grad():
                p.copy_(wgtorch.tensor(q.numpy(), device=device))


def _check_grads(wy, ty, pairs, device):
    g = np.random.randn(*ty.shape).astype(np.float32)
    wy.backward(wgtorch.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    for w, t in pairs:
        assert_close(w.grad, t.grad, **_tol(device))


# ---- layer norm ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape,norm", [((8, 16), (16,)), ((1, 5), (5,)), ((2, 3, 7), (7,)), ((3, 4, 5), (4, 5)),
                                        ((1, 1, 3), (3,))])
@pytest.mark.parametrize("affine", ["wb", "w", "none"])
def test_layer_norm_functional(device, shape, norm, affine):
    rng = np.random.default_rng(0)
    x, tx = _pair(rng.standard_normal(shape) * 3 + 1, device)
    w = tw = b = tb = None
    if affine in ("wb", "w"):
        w, tw = _pair(rng.standard_normal(norm), device)
    if affine == "wb":
        b, tb = _pair(rng.standard_normal(norm), device)
    y, ty = F.layer_norm(x, norm, w, b), torch.nn.functional.layer_norm(tx, norm, tw, tb)
    assert_close(y, ty, **_tol(device))
    assert type(y.grad_fn).__name__ == type(ty.grad_fn).__name__
    _check_grads(y, ty, [p for p in [(x, tx), (w, tw), (b, tb)] if p[0] is not None], device)


def test_layer_norm_module_noncontiguous(device):
    rng = np.random.default_rng(1)
    m, tm = wgtorch.nn.LayerNorm(6).to(device), torch.nn.LayerNorm(6)
    _copy_params(m, tm, device)
    a = rng.standard_normal((6, 4, 3)).astype(np.float32)
    x, tx = _pair(a, device)
    y, ty = m(x.transpose(0, 2)), tm(tx.transpose(0, 2))
    assert_close(y, ty, **_tol(device))
    _check_grads(y, ty, [(x, tx), (m.weight, tm.weight), (m.bias, tm.bias)], device)


def test_layer_norm_module_options():
    m = wgtorch.nn.LayerNorm([3, 4], eps=1e-3, bias=False)
    assert m.bias is None and tuple(m.weight.shape) == (3, 4)
    assert list(m.state_dict()) == list(torch.nn.LayerNorm([3, 4], bias=False).state_dict()) == ["weight"]
    assert list(wgtorch.nn.LayerNorm(3, elementwise_affine=False).state_dict()) == []
    for args, kw in [((4,), {}), (([3, 4],), {"eps": 1e-3, "bias": False}), ((5,), {"elementwise_affine": False})]:
        assert repr(wgtorch.nn.LayerNorm(*args, **kw)) == repr(torch.nn.LayerNorm(*args, **kw))


def test_layer_norm_double_backward(device):
    rng = np.random.default_rng(2)
    x, tx = _pair(rng.standard_normal((3, 5)), device)
    w, tw = _pair(rng.standard_normal(5), device)
    (gx,) = wgtorch.autograd.grad((F.layer_norm(x, (5,), w) ** 3).sum(), x, create_graph=True)
    (tgx,) = torch.autograd.grad((torch.nn.functional.layer_norm(tx, (5,), tw) ** 3).sum(), tx, create_graph=True)
    assert_close(gx, tgx, rtol=1e-4, atol=1e-5)
    c = rng.standard_normal((3, 5)).astype(np.float32)  # (a row sum of gx is 0 whatever x is)
    (gx * wgtorch.tensor(c, device=device)).sum().backward()
    (tgx * torch.tensor(c)).sum().backward()
    assert_close(x.grad, tx.grad, rtol=1e-3, atol=1e-4)
    assert_close(w.grad, tw.grad, rtol=1e-3, atol=1e-4)


@settings(max_examples=8, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.integers(1, 600), n=st.integers(1, 700), shift=st.sampled_from([0.0, 1e3]))
def test_layer_norm_fused_shapes(device, rows, n, shift):
    """The fused kernels over many rows (the weight gradient's row blocks) and long rows
    (threads striding a row), with a large mean (the centred second pass), on both devices."""
    assume(n > 1 or not shift)  # a single shifted element: torch's result is its own rounding noise / sqrt(eps)
    rng = np.random.default_rng(rows * 1000 + n)
    a = rng.standard_normal((rows, n))
    if shift:  # rows spread by about 1 around 1000: well conditioned in float32 (near-equal values would
        a = shift + np.arange(n) + 0.1 * a  # leave only rounding noise, torch's and ours differing)
    x, tx = _pair(a, device)
    w, tw = _pair(rng.standard_normal(n), device)
    b, tb = _pair(rng.standard_normal(n), device)
    y, ty = F.layer_norm(x, (n,), w, b, eps=1e-5), torch.nn.functional.layer_norm(tx, (n,), tw, tb, eps=1e-5)
    assert_close(y, ty, **(dict(rtol=1e-3, atol=2e-3) if shift else _tol(device)))
    g = rng.standard_normal((rows, n)).astype(np.float32)
    y.backward(wgtorch.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    # a row of one element is its own mean: its normalised value, so the x gradient and the
    # weight's (a sum over rows of g times it), are exactly 0, where torch returns rounding noise
    # amplified by 1/sqrt(eps) (up to ~1e-4 per row), so 0 is the reference there
    tgx, tgw = (torch.zeros(rows, 1), torch.zeros(1)) if n == 1 else (tx.grad, tw.grad)
    for got, want in ((x.grad, tgx), (w.grad, tgw), (b.grad, tb.grad)):
        scale = float(want.abs().max()) + 1
        assert_close(got, want, rtol=1e-3, atol=(2e-2 if shift else 1e-4) * scale)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_layer_norm_half(device, dtype):
    """Half types compute in float32 and round the output (as torch's cpu kernel)."""
    rng = np.random.default_rng(4)
    a = rng.standard_normal((5, 33)).astype(np.float32)
    wa = rng.standard_normal(33).astype(np.float32)
    x = wgtorch.tensor(a, device=device).to(getattr(wgtorch, dtype)).requires_grad_()
    w = wgtorch.tensor(wa, device=device).to(getattr(wgtorch, dtype)).requires_grad_()
    tx = torch.tensor(a).to(getattr(torch, dtype)).requires_grad_()
    tw = torch.tensor(wa).to(getattr(torch, dtype)).requires_grad_()
    y, ty = F.layer_norm(x, (33,), w), torch.nn.functional.layer_norm(tx, (33,), tw)
    assert y.dtype == getattr(wgtorch, dtype)
    tol = dict(rtol=1e-2, atol=1e-2) if dtype == "float16" else dict(rtol=4e-2, atol=4e-2)
    assert_close(y.float(), ty.float(), **tol)
    y.float().sum().backward()
    ty.float().sum().backward()
    assert_close(x.grad.float(), tx.grad.float(), **tol)
    assert_close(w.grad.float(), tw.grad.float(), **tol)


def test_layer_norm_float64():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 9))
    x = wgtorch.tensor(a, dtype=wgtorch.float64, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    y, ty = F.layer_norm(x, (9,)), torch.nn.functional.layer_norm(tx, (9,))
    assert y.dtype == wgtorch.float64
    assert_close(y, ty, rtol=1e-10, atol=1e-12)
    (y * y * y).sum().backward()
    (ty * ty * ty).sum().backward()
    assert_close(x.grad, tx.grad, rtol=1e-9, atol=1e-10)


def _same_error(fw, ft):
    with pytest.raises(Exception) as et:
        ft()
    with pytest.raises(type(et.value)) as ew:
        fw()
    assert str(ew.value) == str(et.value)


def test_norm_errors():
    x, tx = wgtorch.randn(2, 3), torch.randn(2, 3)
    _same_error(lambda: F.layer_norm(x, (4,)), lambda: torch.nn.functional.layer_norm(tx, (4,)))
    _same_error(lambda: F.layer_norm(x, ()), lambda: torch.nn.functional.layer_norm(tx, ()))
    _same_error(lambda: F.layer_norm(x, (3,), wgtorch.ones(4)), lambda: torch.nn.functional.layer_norm(tx, (3,), torch.ones(4)))
    _same_error(lambda: F.layer_norm(wgtorch.tensor([[1, 2]]), (2,)),
                lambda: torch.nn.functional.layer_norm(torch.tensor([[1, 2]]), (2,)))
    _same_error(lambda: F.rms_norm(x, (4,)), lambda: torch.nn.functional.rms_norm(tx, (4,)))
    _same_error(lambda: F.group_norm(wgtorch.randn(2, 6, 3), 4), lambda: torch.nn.functional.group_norm(torch.randn(2, 6, 3), 4))
    _same_error(lambda: wgtorch.nn.GroupNorm(4, 6), lambda: torch.nn.GroupNorm(4, 6))
    _same_error(lambda: wgtorch.nn.BatchNorm1d(3)(wgtorch.randn(1, 3)), lambda: torch.nn.BatchNorm1d(3)(torch.randn(1, 3)))
    _same_error(lambda: wgtorch.nn.BatchNorm1d(3)(wgtorch.randn(2, 3, 4, 5)), lambda: torch.nn.BatchNorm1d(3)(torch.randn(2, 3, 4, 5)))
    _same_error(lambda: wgtorch.nn.BatchNorm2d(3)(wgtorch.randn(2, 3, 4)), lambda: torch.nn.BatchNorm2d(3)(torch.randn(2, 3, 4)))
    _same_error(lambda: wgtorch.nn.BatchNorm1d(3)(wgtorch.randn(2, 4)), lambda: torch.nn.BatchNorm1d(3)(torch.randn(2, 4)))


# ---- group norm / rms norm ------------------------------------------------------------------
@pytest.mark.parametrize("shape,groups", [((2, 6, 5), 3), ((1, 4, 3, 3), 2), ((3, 12), 3), ((2, 4, 3, 2), 1)])
def test_group_norm(device, shape, groups):
    rng = np.random.default_rng(4)
    m, tm = wgtorch.nn.GroupNorm(groups, shape[1]).to(device), torch.nn.GroupNorm(groups, shape[1])
    _copy_params(m, tm, device)
    x, tx = _pair(rng.standard_normal(shape) * 2 - 1, device)
    y, ty = m(x), tm(tx)
    assert_close(y, ty, **_tol(device))
    _check_grads(y, ty, [(x, tx), (m.weight, tm.weight), (m.bias, tm.bias)], device)
    assert repr(m) == repr(tm)


@pytest.mark.parametrize("shape,norm,eps", [((4, 8), (8,), None), ((1, 3, 5), (5,), 1e-3), ((2, 3, 4), (3, 4), None)])
def test_rms_norm(device, shape, norm, eps):
    rng = np.random.default_rng(5)
    m, tm = wgtorch.nn.RMSNorm(norm, eps=eps).to(device), torch.nn.RMSNorm(norm, eps=eps)
    _copy_params(m, tm, device)
    x, tx = _pair(rng.standard_normal(shape), device)
    y, ty = m(x), tm(tx)
    assert_close(y, ty, **_tol(device))
    _check_grads(y, ty, [(x, tx), (m.weight, tm.weight)], device)
    assert repr(m) == repr(tm)
    y2, ty2 = F.rms_norm(x.detach(), norm), torch.nn.functional.rms_norm(tx.detach(), norm)
    assert_close(y2, ty2, **_tol(device))


# ---- batch norm -----------------------------------------------------------------------------
@pytest.mark.parametrize("cls,shape", [("BatchNorm1d", (5, 3)), ("BatchNorm1d", (2, 3, 7)), ("BatchNorm2d", (2, 3, 4, 5)),
                                       ("BatchNorm2d", (1, 3, 3, 3))])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batch_norm_training_and_eval(device, cls, shape, momentum):
    rng = np.random.default_rng(6)
    m = getattr(wgtorch.nn, cls)(3, momentum=momentum).to(device)
    tm = getattr(torch.nn, cls)(3, momentum=momentum)
    _copy_params(m, tm, device)
    for step in range(3):  # running statistics over several steps
        x, tx = _pair(rng.standard_normal(shape) * (step + 1) + step, device)
        y, ty = m(x), tm(tx)
        assert_close(y, ty, **_tol(device))
        _check_grads(y, ty, [(x, tx)], device)
    for name in ("running_mean", "running_var"):
        assert_close(getattr(m, name), getattr(tm, name), **_tol(device))
    assert int(m.num_batches_tracked) == 3
    assert_close(m.weight.grad, tm.weight.grad, **_tol(device))
    assert_close(m.bias.grad, tm.bias.grad, **_tol(device))
    m.eval()
    tm.eval()
    x, tx = _pair(rng.standard_normal(shape), device)
    y, ty = m(x), tm(tx)
    assert_close(y, ty, **_tol(device))
    _check_grads(y, ty, [(x, tx)], device)
    assert int(m.num_batches_tracked) == 3


def test_batch_norm_options(device):
    rng = np.random.default_rng(7)
    for kw in [dict(affine=False), dict(track_running_stats=False), dict(bias=False), dict(eps=1e-2, momentum=0.5)]:
        m, tm = wgtorch.nn.BatchNorm2d(4, **kw).to(device), torch.nn.BatchNorm2d(4, **kw)
        assert repr(m) == repr(tm)
        assert list(m.state_dict()) == list(tm.state_dict())
        _copy_params(m, tm, device)
        a = rng.standard_normal((3, 5, 2, 4)).astype(np.float32)
        x, tx = _pair(a, device)
        y, ty = m(x.permute(0, 3, 2, 1)), tm(tx.permute(0, 3, 2, 1))  # non-contiguous
        assert_close(y, ty, **_tol(device))
        _check_grads(y, ty, [(x, tx)] + [(p, q) for p, q in zip(m.parameters(), tm.parameters())], device)
        m.eval()
        tm.eval()
        assert_close(m(x.permute(0, 3, 2, 1)), tm(tx.permute(0, 3, 2, 1)), **_tol(device))


def test_batch_norm_state_dict_roundtrip():
    tm = torch.nn.BatchNorm1d(3)
    tm(torch.randn(4, 3))
    m = wgtorch.nn.BatchNorm1d(3)
    sd = {k: wgtorch.tensor(v.numpy()) for k, v in tm.state_dict().items()}
    m.load_state_dict(sd)
    assert int(m.num_batches_tracked) == 1
    assert_close(m.running_var, tm.running_var)
    assert m.num_batches_tracked.dtype == wgtorch.int64
    del sd["num_batches_tracked"]  # an old checkpoint (version < 2) without the counter loads
    m2 = wgtorch.nn.BatchNorm1d(3)
    m2._load_from_state_dict(sd, "", {"version": 1}, True, [], [], [])


def test_batch_norm_functional(device):
    rng = np.random.default_rng(8)
    a = rng.standard_normal((6, 4, 3)).astype(np.float32)
    x, tx = _pair(a, device)
    rm, rv = wgtorch.zeros(4, device=device), wgtorch.ones(4, device=device)
    trm, trv = torch.zeros(4), torch.ones(4)
    w, tw = _pair(rng.standard_normal(4), device)
    y = F.batch_norm(x, rm, rv, w, None, True, 0.3, 1e-3)
    ty = torch.nn.functional.batch_norm(tx, trm, trv, tw, None, True, 0.3, 1e-3)
    assert_close(y, ty, **_tol(device))
    assert_close(rm, trm, **_tol(device))
    assert_close(rv, trv, **_tol(device))
    _check_grads(y, ty, [(x, tx), (w, tw)], device)
    y = F.batch_norm(x.detach(), None, None, training=True)
    assert_close(y, torch.nn.functional.batch_norm(tx.detach(), None, None, training=True), **_tol(device))


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_rms_norm_default_eps_is_the_computation_types(device, dtype):
    x = [[1e-4, 2e-4, -3e-4], [1.0, 2.0, 3.0]]
    got = wgtorch.nn.functional.rms_norm(wgtorch.tensor(x, dtype=getattr(wgtorch, dtype), device=device), (3,))
    ref = torch.nn.functional.rms_norm(torch.tensor(x, dtype=getattr(torch, dtype)), (3,))
    np.testing.assert_allclose(got.float().cpu().numpy(), ref.float().numpy(), rtol=2e-3 if dtype == "float16" else 1e-5)


# ---- batch norm: the cpu's fused kernel (training statistics) and the compositions on wgpu --------
# On the cpu, float32/float64 batch norm with the batch's statistics runs backends/cpu.batch_norm and its
# fused backward (NativeBatchNormBackward0); under create_graph the composite is differentiated instead.
def _bn_modules(cls, c, device, dtype, **kw):
    m, tm = getattr(wgtorch.nn, cls)(c, **kw).to(device), getattr(torch.nn, cls)(c, **kw)
    if dtype == "float64":
        m, tm = m.double(), tm.double()
    rng = np.random.default_rng(20)
    with torch.no_grad():  # weights and biases away from 1 and 0
        for p, q in zip(m.parameters(), tm.parameters()):
            q.copy_(torch.tensor(rng.standard_normal(tuple(q.shape)) + 1))
            with wgtorch.no_grad():
                p.copy_(wgtorch.tensor(q.numpy(), device=device))
    return m, tm


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("cls,shape", [("BatchNorm1d", (6, 4)), ("BatchNorm1d", (3, 4, 5)),
                                       ("BatchNorm2d", (2, 4, 3, 5)), ("BatchNorm2d", (1, 4, 2, 3))])
def test_fused_batch_norm_training_steps(device, cls, shape, affine, dtype):
    """Training steps with per-channel means far from 0 and spreads far from 1: the output, the gradients of
    the input, weight and bias at every step, the running statistics after every step; then eval mode."""
    rng = np.random.default_rng(21)
    m, tm = _bn_modules(cls, 4, device, dtype, affine=affine, momentum=0.3)
    npdt = getattr(np, dtype)
    cshape = (1, 4) + (1,) * (len(shape) - 2)
    for step in range(3):
        a = rng.standard_normal(shape) * rng.uniform(0.1, 5, cshape) + rng.uniform(-50, 50, cshape)
        x = wgtorch.tensor(a.astype(npdt), device=device, requires_grad=True)
        tx = torch.tensor(a.astype(npdt), requires_grad=True)
        y, ty = m(x), tm(tx)
        assert y.dtype == getattr(wgtorch, dtype)
        if device == "cpu":  # the fused kernel served it (torch's node name too)
            assert type(y.grad_fn).__name__ == type(ty.grad_fn).__name__ == "NativeBatchNormBackward0"
        assert_close_at(y, ty, dtype, device)
        m.zero_grad()
        tm.zero_grad()
        g = rng.standard_normal(shape).astype(npdt)
        y.backward(wgtorch.tensor(g, device=device))
        ty.backward(torch.tensor(g))
        assert_close_at(x.grad, tx.grad, dtype, device)
        for p, q in zip(m.parameters(), tm.parameters()):
            assert_close_at(p.grad, q.grad, dtype, device)
        for name in ("running_mean", "running_var"):
            assert getattr(m, name).dtype == getattr(wgtorch, dtype)
            assert_close_at(getattr(m, name), getattr(tm, name), dtype, device)
    assert int(m.num_batches_tracked) == 3
    m.eval()
    tm.eval()
    a = rng.standard_normal(shape) * 3 + 10
    x = wgtorch.tensor(a.astype(npdt), device=device, requires_grad=True)
    tx = torch.tensor(a.astype(npdt), requires_grad=True)
    y, ty = m(x), tm(tx)
    assert_close_at(y, ty, dtype, device)
    g = rng.standard_normal(shape).astype(npdt)
    y.backward(wgtorch.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    assert_close_at(x.grad, tx.grad, dtype, device)
    if affine:
        for p, q in zip(m.parameters(), tm.parameters()):
            assert_close_at(p.grad, q.grad, dtype, device)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4, 3)])
def test_fused_batch_norm_eval_without_running_stats(device, shape, dtype):
    """track_running_stats=False: eval mode normalises with the batch's statistics too (the fused kernel)."""
    rng = np.random.default_rng(22)
    cls = "BatchNorm1d" if len(shape) == 2 else "BatchNorm2d"
    m, tm = _bn_modules(cls, 3, device, dtype, track_running_stats=False)
    m.eval()
    tm.eval()
    a = (rng.standard_normal(shape) * 2 + 7).astype(getattr(np, dtype))
    x, tx = wgtorch.tensor(a, device=device, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = m(x), tm(tx)
    assert_close_at(y, ty, dtype, device)
    g = rng.standard_normal(shape).astype(a.dtype)
    y.backward(wgtorch.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    for p, q in [(x, tx)] + list(zip(m.parameters(), tm.parameters())):
        assert_close_at(p.grad, q.grad, dtype, device)


@pytest.mark.parametrize("needs", ["x", "w", "b", "wb", "xw", "none"])
@pytest.mark.parametrize("params", ["wb", "w", "b"])
def test_fused_batch_norm_functional_needs(device, params, needs):
    """F.batch_norm(training=True) with weight and/or bias, gradients asked of any subset of x, weight and
    bias (the fused backward computes only those), with and without running statistics."""
    rng = np.random.default_rng(23)
    shape = (4, 3, 5)
    a, wa, ba = rng.standard_normal(shape) * 2 + 3, rng.standard_normal(3), rng.standard_normal(3)
    leaves, tleaves = [], []
    for name, arr in (("x", a), ("w", wa), ("b", ba)):
        if name != "x" and name not in params:
            leaves.append(None)
            tleaves.append(None)
            continue
        arr = arr.astype(np.float32)
        leaves.append(wgtorch.tensor(arr, device=device).requires_grad_(name in needs))
        tleaves.append(torch.tensor(arr).requires_grad_(name in needs))
    x, w, b = leaves
    tx, tw, tb = tleaves
    for stats in (True, False):
        rm, rv = (wgtorch.zeros(3, device=device), wgtorch.ones(3, device=device)) if stats else (None, None)
        trm, trv = (torch.zeros(3), torch.ones(3)) if stats else (None, None)
        y = F.batch_norm(x, rm, rv, w, b, True, 0.2, 1e-4)
        ty = torch.nn.functional.batch_norm(tx, trm, trv, tw, tb, True, 0.2, 1e-4)
        assert y.requires_grad == ty.requires_grad
        assert_close_at(y, ty, "float32", device)
        if stats:
            assert_close_at(rm, trm, "float32", device)
            assert_close_at(rv, trv, "float32", device)
        if not ty.requires_grad:
            continue
        g = rng.standard_normal(shape).astype(np.float32)
        y.backward(wgtorch.tensor(g, device=device))
        ty.backward(torch.tensor(g))
        for p, q in zip(leaves, tleaves):
            if p is not None:
                assert (p.grad is None) == (q.grad is None)
                if q.grad is not None:
                    assert_close_at(p.grad, q.grad, "float32", device)
                    p.grad = None
                    q.grad = None


def test_fused_batch_norm_noncontiguous_float64():
    """A channels-last (permuted) float64 input on the cpu's fused kernel; the gradient reaches the leaf."""
    rng = np.random.default_rng(24)
    a = rng.standard_normal((2, 3, 4, 5)) * 4 - 2
    m, tm = _bn_modules("BatchNorm2d", 5, "cpu", "float64")
    x, tx = wgtorch.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = m(x.permute(0, 3, 1, 2)), tm(tx.permute(0, 3, 1, 2))
    assert_close_at(y, ty, "float64", "cpu")
    g = rng.standard_normal(tuple(ty.shape))
    y.backward(wgtorch.tensor(g))
    ty.backward(torch.tensor(g))
    for p, q in [(x, tx)] + list(zip(m.parameters(), tm.parameters())):
        assert_close_at(p.grad, q.grad, "float64", "cpu")
    assert_close_at(m.running_var, tm.running_var, "float64", "cpu")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 3, 4)])
def test_fused_batch_norm_double_backward(device, shape, affine, dtype):
    """create_graph=True through training batch norm: first-order gradients of sum(y^3) + sum(y * gout)
    with respect to x (and weight, bias), then the gradients of sum(gx * v) (+ sum(gw * u)) with respect to
    x, weight, bias and gout, against torch."""
    rng = np.random.default_rng(25)
    npdt = getattr(np, dtype)
    c = shape[1]
    arrays = [rng.standard_normal(shape) * 2 + 1, rng.standard_normal(c) + 1, rng.standard_normal(c),
              rng.standard_normal(shape)]
    if not affine:
        arrays[1] = arrays[2] = None
    ours = [None if a is None else wgtorch.tensor(a.astype(npdt), device=device, requires_grad=True) for a in arrays]
    theirs = [None if a is None else torch.tensor(a.astype(npdt), requires_grad=True) for a in arrays]
    vs = [rng.standard_normal(shape).astype(npdt), rng.standard_normal(c).astype(npdt)]

    def run(lib, fn, leaves, mk):
        x, w, b, gout = leaves
        y = fn(x, None, None, w, b, True)
        wrt = [t for t in (x, w) if t is not None]
        firsts = lib.autograd.grad((y ** 3).sum() + (y * gout).sum(), wrt, create_graph=True)
        second = sum((f * mk(v)).sum() for f, v in zip(firsts, vs))
        return list(firsts), list(lib.autograd.grad(second, [t for t in leaves if t is not None]))

    got = run(wgtorch, F.batch_norm, ours, lambda v: wgtorch.tensor(v, device=device))
    want = run(torch, torch.nn.functional.batch_norm, theirs, torch.tensor)
    assert len(got[1]) == len(want[1])
    tol = {} if dtype == "float64" else {"rtol": 1e-4, "atol": 1e-5}  # (atol times the largest magnitude)
    for a, b in zip(got[0] + got[1], want[0] + want[1]):
        assert_close_at(a, b, dtype, device, **tol)
