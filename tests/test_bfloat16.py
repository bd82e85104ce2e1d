"""bfloat16: stored as 16-bit patterns, computed in float32, rounded to nearest even on
every store (DESIGN Policies), on both devices. Real torch is the oracle."""
import numpy as np
import pytest

import wgtorch
from wgtorch import bf16

BF = wgtorch.bfloat16


def _pair(oracle, device, values, requires_grad=False):
    t = oracle.tensor(values, dtype=oracle.bfloat16, requires_grad=requires_grad)
    w = wgtorch.tensor(values, dtype=BF, device=device, requires_grad=requires_grad)
    return w, t


def _same(w, t, rtol=0.0, atol=0.0):
    """w (wgtorch) against t (torch): dtype, shape and values (bitwise by default)."""
    assert str(w.dtype) == str(t.dtype) and tuple(w.shape) == tuple(t.shape)
    a, b = w.float().cpu()._host(), t.float().numpy()
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


def test_encode_is_torch_rounding(oracle):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(20000) * 10.0 ** rng.integers(-38, 38, 20000)).astype(np.float32)
    x = np.concatenate([x, np.array([np.inf, -np.inf, 0.0, -0.0, 3.39e38, 1e-45, 1.00390625, 1.01171875],
                                    np.float32)])
    ref = oracle.from_numpy(x).bfloat16().view(oracle.int16).numpy().view(np.uint16)
    np.testing.assert_array_equal(bf16.encode(x), ref)
    np.testing.assert_array_equal(bf16.decode(ref), oracle.from_numpy(ref.view(np.int16)).view(oracle.bfloat16)
                                  .float().numpy())
    assert np.isnan(bf16.decode(bf16.encode(np.float32("nan"))))


def test_dtype_facts():
    assert BF.is_floating_point and BF.itemsize == 2 and str(BF) == "torch.bfloat16"
    assert wgtorch.promote_types(BF, wgtorch.float16) is wgtorch.float32
    assert wgtorch.promote_types(BF, wgtorch.float32) is wgtorch.float32
    assert wgtorch.promote_types(BF, wgtorch.int64) is BF
    assert wgtorch.tensor([1.5], dtype=BF).element_size() == 2


def test_creation_printing_and_conversion(device, oracle):
    vals = [1.0, 2.5, -3.3, 1e-3, 300.7, float("nan"), float("inf")]
    w, t = _pair(oracle, device, vals)
    _same(w, t)
    assert repr(w).replace(", device='wgpu:0'", "") == repr(t)
    assert w.tolist()[:5] == t.tolist()[:5] and w[1].item() == t[1].item()
    for dt in ("float32", "float16", "int64", "int32", "bool"):
        _same(w[:5].to(getattr(wgtorch, dt)), t[:5].to(getattr(oracle, dt)))
    _same(wgtorch.tensor([1, 7, 300001], device=device).bfloat16(), oracle.tensor([1, 7, 300001]).bfloat16())
    _same(wgtorch.arange(0, 3, 0.7, dtype=BF, device=device), oracle.arange(0, 3, 0.7, dtype=oracle.bfloat16))
    _same(wgtorch.full((2, 2), 0.1, dtype=BF, device=device), oracle.full((2, 2), 0.1, dtype=oracle.bfloat16))
    _same(wgtorch.eye(3, dtype=BF, device=device), oracle.eye(3, dtype=oracle.bfloat16))
    _same(w.cpu().to(device), t)  # moves keep the bits
    with pytest.raises(TypeError, match="BFloat16"):
        wgtorch.tensor([1.0], dtype=BF).numpy()


@pytest.mark.parametrize("op", ["neg", "abs", "exp", "log", "sqrt", "sin", "tanh", "sigmoid", "relu", "floor",
                                "reciprocal", "erf"])
def test_unary(device, oracle, op):
    w, t = _pair(oracle, device, [[0.37, 1.9, 2.25], [5.5, 0.01, 12.3]])
    # transposed input: a strided walk
    _same(getattr(w.t(), op)(), getattr(t.t(), op)(), rtol=8e-3)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum", "pow", "lt", "eq"])
def test_binary_broadcast(device, oracle, op):
    w, t = _pair(oracle, device, [[0.37, -1.9, 2.25], [5.5, 0.0, 12.3]])
    wb, tb = _pair(oracle, device, [0.5, 3.1, -0.7])
    _same(getattr(wgtorch, op)(w, wb), getattr(oracle, op)(t, tb), rtol=8e-3)
    if op != "maximum":  # (torch.maximum takes no Python scalar)
        _same(getattr(wgtorch, op)(w[:, ::2], 1.7), getattr(oracle, op)(t[:, ::2], 1.7), rtol=8e-3)
    # with float32: the result is float32
    f = wgtorch.tensor([0.1, 0.2, 0.3], device=device)
    _same(getattr(wgtorch, op)(w, f), getattr(oracle, op)(t, oracle.tensor([0.1, 0.2, 0.3])), rtol=1e-6)


def test_in_place_and_indexing(device, oracle):
    w, t = _pair(oracle, device, [0.0, 1.1, 2.2, 3.3, 4.4, 5.5])
    for x in (w, t):
        x.mul_(1.3)
        x.add_(x.flip(0), alpha=0.5)
        x[1] = 2.7
        x[x.new_tensor([2, 2]).long()] += 1.5
        x.clamp_(max=6.0)
    _same(w, t, rtol=8e-3)
    i = [0, 0, 4]
    _same(w.scatter_add(0, wgtorch.tensor(i, device=device), w[:3]),
          t.scatter_add(0, oracle.tensor(i), t[:3]), rtol=8e-3)
    _same(wgtorch.zeros(3, dtype=BF, device=device).index_put_((wgtorch.tensor([1, 1, 1], device=device),),
                                                                 wgtorch.tensor(0.1, dtype=BF, device=device),
                                                                 accumulate=True),
          oracle.zeros(3, dtype=oracle.bfloat16).index_put_((oracle.tensor([1, 1, 1]),),
                                                              oracle.tensor(0.1, dtype=oracle.bfloat16),
                                                              accumulate=True))
    _same(w.gather(0, wgtorch.tensor([5, 0], device=device)), t.gather(0, oracle.tensor([5, 0])))
    _same(wgtorch.where(w > 3, w, 0.25), oracle.where(t > 3, t, 0.25))
    _same(wgtorch.cat([w, w[:2]]), oracle.cat([t, t[:2]]))
    _same(w.masked_fill(w < 2, -1.0), t.masked_fill(t < 2, -1.0))
    assert w.nonzero().tolist() == t.nonzero().tolist()


def test_reductions_matmul_softmax(device, oracle):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 5)).tolist()
    w, t = _pair(oracle, device, a)
    for name, kw in (("sum", {}), ("sum", {"dim": 1}), ("mean", {"dim": 0}), ("amax", {"dim": 1}),
                     ("prod", {"dim": 0})):
        _same(getattr(w, name)(**kw), getattr(t, name)(**kw), rtol=1e-2, atol=1e-2)
    assert w.argmax(1).tolist() == t.argmax(1).tolist()
    _same(w.cumsum(1), t.cumsum(1), rtol=1e-2, atol=1e-2)
    _same(w.sort(1).values, t.sort(1).values)
    _same(w @ w.t(), t @ t.t(), rtol=1e-2, atol=2e-2)
    _same(wgtorch.softmax(w, 1), oracle.softmax(t, 1), rtol=1e-2, atol=4e-3)
    _same(wgtorch.log_softmax(w, 1), oracle.log_softmax(t, 1), rtol=1e-2, atol=1e-2)
    u = wgtorch.unique(w.round())
    _same(u, oracle.unique(t.round()))


def test_autograd(device, oracle):
    w, t = _pair(oracle, device, [[0.1, 0.2], [0.3, -0.4]], requires_grad=True)
    for x, lib in ((w, wgtorch), (t, oracle)):
        (lib.softmax(x @ x, 1) * x).sum().backward()
    assert w.grad.dtype is BF
    _same(w.grad, t.grad, rtol=2e-2, atol=1e-2)


def test_random_in_bfloat16(device):
    wgtorch.manual_seed(0)
    r = wgtorch.rand(10000, dtype=BF, device=device)
    n = wgtorch.randn(10000, dtype=BF, device=device)
    assert r.dtype is BF and n.dtype is BF
    h = r.float().cpu()._host()
    assert 0 <= h.min() and h.max() <= 1 and abs(h.mean() - 0.5) < 0.02
    np.testing.assert_array_equal(bf16.encode(h), bf16.encode(h.astype(np.float32)))  # values are bfloat16
    assert abs(n.float().mean().item()) < 0.05 and abs(n.float().std().item() - 1) < 0.05


def test_cpu_random_matches_torch(oracle):
    wgtorch.manual_seed(7)
    oracle.manual_seed(7)
    _same(wgtorch.rand(50, dtype=BF), oracle.rand(50, dtype=oracle.bfloat16))
    _same(wgtorch.randn(5, dtype=BF), oracle.randn(5, dtype=oracle.bfloat16))


def test_rms_norm_default_eps(device, oracle):
    """eps=None is float32's eps for half types (they compute in float32), not their own."""
    w, t = _pair(oracle, device, [[1e-3, 2e-3, -3e-3], [1.0, 2.0, 3.0]])
    _same(wgtorch.nn.functional.rms_norm(w, (3,)), oracle.nn.functional.rms_norm(t, (3,)), rtol=8e-3)
