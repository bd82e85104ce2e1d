"""wgtorch.distributions against torch.distributions: log_prob, entropy, moments and gradients on
both devices; samples bitwise on cpu (the same random streams), by their statistics on wgpu;
the validation errors word for word."""
import numpy as np
import pytest
from conftest import to_np

import wgtorch
import wgtorch.distributions as D

LOC = [[0.0, 1.5, -2.0], [0.5, -0.25, 3.0]]
SCALE = [[1.0, 0.5, 2.0], [0.1, 3.0, 1.0]]
PROBS = [[0.2, 0.3, 0.5], [0.05, 0.9, 0.05]]
LOGITS = [[0.1, -1.0, 2.0, 0.0], [3.0, 0.0, -2.0, 1.0]]


def _make(mod, name, device=None, requires_grad=False):
    """The same distribution in torch (mod=torch) or wgtorch, and its parameters."""
    kw = {} if device is None else {"device": device}

    def t(v):
        return mod.tensor(v, requires_grad=requires_grad, **kw)
    if name == "normal":
        ps = [t(LOC), t(SCALE)]
        return mod.distributions.Normal(*ps), ps
    if name == "uniform":
        ps = [t(LOC), t(np.add(LOC, SCALE).tolist())]
        return mod.distributions.Uniform(*ps), ps
    if name == "bernoulli_probs":
        ps = [t(PROBS)]
        return mod.distributions.Bernoulli(probs=ps[0]), ps
    if name == "bernoulli_logits":
        ps = [t(LOGITS)]
        return mod.distributions.Bernoulli(logits=ps[0]), ps
    if name == "categorical_probs":
        ps = [t(PROBS)]
        return mod.distributions.Categorical(probs=ps[0]), ps
    ps = [t(LOGITS)]
    return mod.distributions.Categorical(logits=ps[0]), ps


NAMES = ["normal", "uniform", "bernoulli_probs", "bernoulli_logits", "categorical_probs", "categorical_logits"]


def _values(name, mod, device=None):
    kw = {} if device is None else {"device": device}
    if name == "normal":
        return mod.tensor([[0.3, -1.0, 2.5], [0.0, 0.0, 4.0]], **kw)
    if name == "uniform":
        return mod.tensor([[0.3, 1.6, -0.5], [0.55, 2.0, 3.9]], **kw)
    if name.startswith("bernoulli"):
        shape = (2, 3) if name.endswith("probs") else (2, 4)
        return mod.tensor(np.indices(shape).sum(0) % 2, dtype=mod.float32, **kw)
    return mod.tensor([[2, 1], [0, 0], [1, 2]], **kw)  # (3, 2): broadcast over the batch (2,)


@pytest.mark.parametrize("name", NAMES)
def test_log_prob_entropy_moments(device, oracle, name):
    dw, pw = _make(wgtorch, name, device, requires_grad=True)
    dt, pt = _make(oracle, name, requires_grad=True)
    assert tuple(dw.batch_shape) == tuple(dt.batch_shape) and tuple(dw.event_shape) == tuple(dt.event_shape)
    lw, lt = dw.log_prob(_values(name, wgtorch, device)), dt.log_prob(_values(name, oracle))
    np.testing.assert_allclose(to_np(lw), lt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(to_np(dw.entropy()), dt.entropy().detach().numpy(), rtol=1e-5, atol=1e-6)
    for attr in ("mean", "variance", "stddev", "mode"):
        np.testing.assert_allclose(to_np(getattr(dw, attr)), getattr(dt, attr).detach().numpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=attr)
    if not name.startswith("categorical"):
        np.testing.assert_allclose(to_np(dw.probs if "ber" in name else dw.mean), (dt.probs if "ber" in name else
                                   dt.mean).detach().numpy(), rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_allclose(to_np(dw.probs), dt.probs.detach().numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(to_np(dw.logits), dt.logits.detach().numpy(), rtol=1e-5, atol=1e-6)
    # gradients of log_prob + entropy with respect to the parameters
    (lw.sum() + dw.entropy().sum()).backward()
    (lt.sum() + dt.entropy().sum()).backward()
    for a, b in zip(pw, pt):
        np.testing.assert_allclose(to_np(a.grad), b.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_cdf(device, oracle):
    for name in ("normal", "uniform"):
        dw, _ = _make(wgtorch, name, device)
        dt, _ = _make(oracle, name)
        np.testing.assert_allclose(to_np(dw.cdf(_values(name, wgtorch, device))),
                                   dt.cdf(_values(name, oracle)).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("sample_shape", [(), (5,), (2, 3)])
def test_samples(device, oracle, name, sample_shape):
    """Shapes and dtypes as torch's; on cpu the very values torch draws after the same seed."""
    dw, _ = _make(wgtorch, name, device)
    dt, _ = _make(oracle, name)
    wgtorch.manual_seed(7)
    oracle.manual_seed(7)
    sw, st = dw.sample(sample_shape), dt.sample(sample_shape)
    assert tuple(sw.shape) == tuple(st.shape) and str(sw.dtype) == str(st.dtype)
    assert sw.device.type == ("cpu" if device == "cpu" else "wgpu")
    if device == "cpu":
        np.testing.assert_array_equal(to_np(sw), st.numpy())
        if dt.has_rsample:
            np.testing.assert_array_equal(to_np(dw.rsample(sample_shape)), dt.rsample(sample_shape).numpy())


@pytest.mark.parametrize("name", ["normal", "uniform", "bernoulli_probs", "categorical_probs"])
def test_sample_statistics(device, name):
    """Many draws: the sample mean and variance are the distribution's (to 5 standard errors)."""
    d, _ = _make(wgtorch, name, device)
    wgtorch.manual_seed(1)
    n = 4000
    s = d.sample((n,))
    if name.startswith("categorical"):
        counts = np.stack([(to_np(s) == k).mean(0) for k in range(3)], -1)
        np.testing.assert_allclose(counts, np.array(PROBS), atol=5 * np.sqrt(0.25 / n))
        return
    x = to_np(s).astype(np.float64)
    mean, var = to_np(d.mean).astype(np.float64), to_np(d.variance).astype(np.float64)
    assert np.all(np.abs(x.mean(0) - mean) < 5 * np.sqrt(var / n))
    np.testing.assert_allclose(x.var(0), var, rtol=0.15, atol=1e-3)
    if name == "uniform":
        assert np.all(x >= to_np(d.low)) and np.all(x < to_np(d.high))
    if name.startswith("bernoulli"):
        assert set(np.unique(x)) <= {0.0, 1.0}


def test_seeded_sampling_is_deterministic(device):
    d, _ = _make(wgtorch, "normal", device)
    wgtorch.manual_seed(3)
    a = to_np(d.sample((4,)))
    wgtorch.manual_seed(3)
    np.testing.assert_array_equal(a, to_np(d.sample((4,))))


def test_rsample_gradients(device, oracle):
    """rsample is loc + eps * scale (low + u * (high - low)): its gradients are torch's for the same draws."""
    for name in ("normal", "uniform"):
        dw, pw = _make(wgtorch, name, device, requires_grad=True)
        dt, pt = _make(oracle, name, requires_grad=True)
        wgtorch.manual_seed(5)
        oracle.manual_seed(5)
        rw, rt = dw.rsample((3,)), dt.rsample((3,))
        (rw * rw).sum().backward()
        (rt * rt).sum().backward()
        if device == "cpu":
            for a, b in zip(pw, pt):
                np.testing.assert_allclose(to_np(a.grad), b.grad.numpy(), rtol=1e-5)
        else:  # other draws: the chain rule through the draws made
            r = rw.detach().cpu().numpy().astype(np.float64)
            lo, hi = (to_np(p.detach()).astype(np.float64) for p in pw)
            if name == "normal":
                eps = (r - lo) / hi
                want = [(2 * r).sum(0), (2 * r * eps).sum(0)]
            else:
                u = (r - lo) / (hi - lo)
                want = [(2 * r * (1 - u)).sum(0), (2 * r * u).sum(0)]
            for a, b in zip(pw, want):
                np.testing.assert_allclose(to_np(a.grad), b, rtol=1e-4, atol=1e-4)
        with pytest.raises(NotImplementedError):
            _make(wgtorch, "bernoulli_probs", device)[0].rsample()


def test_scalar_parameters(oracle):
    w, t = D.Normal(0.5, 2.0), oracle.distributions.Normal(0.5, 2.0)
    assert tuple(w.batch_shape) == () and w.sample().shape == () and w.sample((3,)).dtype is wgtorch.float32
    v = [0.1, -3.0]
    np.testing.assert_allclose(to_np(w.log_prob(wgtorch.tensor(v))), t.log_prob(oracle.tensor(v)).numpy(), rtol=1e-6)
    assert repr(w) == repr(t)
    assert repr(D.Normal(wgtorch.zeros(2), 1.0)).replace("torch.", "") == \
        repr(oracle.distributions.Normal(oracle.zeros(2), 1.0)).replace("torch.", "")
    wb, tb = D.Bernoulli(0.3), oracle.distributions.Bernoulli(0.3)
    assert repr(wb) == repr(tb)
    np.testing.assert_allclose(to_np(wb.logits), tb.logits.numpy(), rtol=1e-6)
    u = D.Uniform(0.0, 2.0)
    assert repr(u) == repr(oracle.distributions.Uniform(0.0, 2.0)) and u.entropy().item() == pytest.approx(np.log(2))


def _err(fn):
    with pytest.raises(Exception) as e:
        fn()
    return type(e.value).__name__, str(e.value)


@pytest.mark.parametrize("case", range(12))
def test_validation_errors_match_torch(oracle, case):
    def run(m):
        Dm = m.distributions
        T = m.tensor
        return [
            lambda: Dm.Normal(T([0.0, 1.0]), T([1.0, -1.0])),
            lambda: Dm.Normal(0.0, -1.0),
            lambda: Dm.Normal(T([0.0, float("nan")]), 1.0),
            lambda: Dm.Uniform(0.0, 1.0).log_prob(T([0.5, 2.0])),
            lambda: Dm.Bernoulli(T([0.25, 1.5])),
            lambda: Dm.Bernoulli(),
            lambda: Dm.Bernoulli(0.5).log_prob(T([0.5])),
            lambda: Dm.Categorical(T(0.3)),
            lambda: Dm.Categorical(T([0.2, 0.5, 0.3])).log_prob(T([3])),
            lambda: Dm.Normal(m.zeros(3), 1.0).log_prob(m.zeros(2)),
            lambda: Dm.Normal(m.zeros(3), 1.0).log_prob([1.0]),
            lambda: Dm.Categorical(logits=T(0.3)),
        ][case]
    tw, mw = _err(run(wgtorch))
    tt, mt = _err(run(oracle))
    assert tw == tt
    assert mw == mt


def test_validation_can_be_turned_off():
    d = D.Normal(0.0, -1.0, validate_args=False)
    assert np.isnan(d.log_prob(wgtorch.tensor(0.0)).item())
    D.Distribution.set_default_validate_args(False)
    try:
        D.Bernoulli(wgtorch.tensor([2.0]))
    finally:
        D.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError):
        D.Bernoulli(wgtorch.tensor([2.0]))


def test_categorical_batches_and_enumerate_support(device, oracle):
    p = np.random.default_rng(0).uniform(0.1, 1.0, (2, 3, 4)).astype(np.float32)
    dw = D.Categorical(wgtorch.tensor(p, device=device))
    dt = oracle.distributions.Categorical(oracle.tensor(p))
    assert tuple(dw.batch_shape) == (2, 3) and tuple(dw.sample((5,)).shape) == (5, 2, 3)
    assert dw.sample().dtype is wgtorch.int64
    np.testing.assert_array_equal(to_np(dw.enumerate_support()), dt.enumerate_support().numpy())
    v = dt.enumerate_support()
    np.testing.assert_allclose(to_np(dw.log_prob(wgtorch.tensor(v.numpy(), device=device))),
                               dt.log_prob(v).numpy(), rtol=1e-5)
    np.testing.assert_array_equal(to_np(D.Bernoulli(wgtorch.tensor([0.2, 0.7])).enumerate_support()),
                                  oracle.distributions.Bernoulli(oracle.tensor([0.2, 0.7])).enumerate_support().numpy())


def test_kl_divergence(device, oracle):
    """Closed-form KL for the four same-family pairs (inf where q rules out what p allows), and its gradients."""
    def pairs(m, dev):
        kw = {} if dev is None else {"device": dev}
        T, Dm = (lambda v: m.tensor(v, requires_grad=True, **kw)), m.distributions
        loc, scale = T([0.0, 1.0, -2.0]), T([1.0, 0.5, 2.0])
        return [(Dm.Normal(loc, scale), Dm.Normal(T([0.5, 1.0, 0.0]), T([2.0, 0.5, 1.0])), [loc, scale]),
                (Dm.Bernoulli(T([0.2, 0.0, 1.0, 0.6])), Dm.Bernoulli(T([0.5, 0.3, 0.9, 0.0])), []),
                (Dm.Categorical(T([[0.2, 0.3, 0.5], [0.5, 0.5, 0.0]])),
                 Dm.Categorical(T([[0.1, 0.1, 0.8], [0.0, 0.5, 0.5]])), []),
                (Dm.Uniform(T([0.0, 0.0]), T([1.0, 2.0])), Dm.Uniform(T([-1.0, 0.5]), T([2.0, 3.0])), [])]
    for (pw, qw, lw), (pt, qt, lt) in zip(pairs(wgtorch, device), pairs(oracle, None)):
        kw, kt = D.kl_divergence(pw, qw), oracle.distributions.kl_divergence(pt, qt)
        np.testing.assert_allclose(to_np(kw), kt.detach().numpy(), rtol=1e-5, atol=1e-6)
        if lw:
            kw.sum().backward()
            kt.sum().backward()
            for a, b in zip(lw, lt):
                np.testing.assert_allclose(to_np(a.grad), b.grad.numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(NotImplementedError, match="No KL\\(p \\|\\| q\\) is implemented for p type Normal and q type"):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Uniform(0.0, 1.0))
