"""wgtorch.utils.checkpoint: the same outputs and gradients as without it (and as torch's), fn run
again in backward, its intermediate results not kept, the random state replayed for dropout."""
import gc
import weakref

import numpy as np
import pytest
from conftest import to_np

import wgtorch
import wgtorch.nn as nn
from wgtorch.utils.checkpoint import checkpoint, checkpoint_sequential

X = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)


def _block(mod, p=0.0):
    mod.manual_seed(0)
    return mod.nn.Sequential(mod.nn.Linear(6, 8), mod.nn.Tanh(), mod.nn.Dropout(p), mod.nn.Linear(8, 3))


def _grads(model, x):
    return [to_np(p.grad) for p in model.parameters()] + [to_np(x.grad)]


@pytest.mark.parametrize("use_reentrant", [True, False])
def test_same_gradients_as_without(device, oracle, use_reentrant):
    ref = _block(wgtorch).to(device)
    x0 = wgtorch.tensor(X, device=device, requires_grad=True)
    (ref(x0) ** 2).sum().backward()

    model = _block(wgtorch).to(device)
    x = wgtorch.tensor(X, device=device, requires_grad=True)
    out = checkpoint(model, x, use_reentrant=use_reentrant)
    np.testing.assert_allclose(to_np(out), to_np(ref(x0)), rtol=1e-6, atol=1e-6)
    (out ** 2).sum().backward()
    for a, b in zip(_grads(model, x), _grads(ref, x0)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)

    tm = _block(oracle)
    tx = oracle.tensor(X, requires_grad=True)
    (oracle.utils.checkpoint.checkpoint(tm, tx, use_reentrant=use_reentrant) ** 2).sum().backward()
    for a, b in zip(_grads(model, x), [p.grad.numpy() for p in tm.parameters()] + [tx.grad.numpy()]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("use_reentrant", [True, False])
def test_recomputes_and_keeps_no_activations(device, use_reentrant):
    calls, kept = [], []
    w = wgtorch.tensor(X[:, :3].T.copy(), device=device, requires_grad=True)  # (3, 4)

    def fn(x):
        calls.append(1)
        h = (x @ w).tanh()  # an intermediate result
        kept.append(weakref.ref(h))
        return h.sum(1)
    x = wgtorch.tensor(X, device=device, requires_grad=True)[:, :4].contiguous()
    x.retain_grad()
    out = checkpoint(fn, x[:, :3], use_reentrant=use_reentrant)
    gc.collect()
    assert len(calls) == 1 and kept[0]() is None  # forward kept no intermediate
    out.sum().backward()
    assert len(calls) == 2  # run again in backward
    xs = X[:, :3].astype(np.float64)
    t = np.tanh(xs @ X[:, :3].T.astype(np.float64))
    np.testing.assert_allclose(to_np(w.grad), xs.T @ (1 - t * t), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("use_reentrant", [True, False])
def test_dropout_mask_is_replayed(device, use_reentrant):
    """Dropout draws the same mask in the recompute: gradients equal the plain run's with the same seed."""
    ref = _block(wgtorch, p=0.5).to(device)
    x0 = wgtorch.tensor(X, device=device, requires_grad=True)
    wgtorch.manual_seed(11)
    out0 = ref(x0)
    out0.sum().backward()

    model = _block(wgtorch, p=0.5).to(device)
    x = wgtorch.tensor(X, device=device, requires_grad=True)
    wgtorch.manual_seed(11)
    out = checkpoint(model, x, use_reentrant=use_reentrant)
    after = wgtorch.rand(3, device=device)  # the stream goes on from the forward's draws
    out.sum().backward()
    np.testing.assert_array_equal(to_np(out), to_np(out0))
    for a, b in zip(_grads(model, x), _grads(ref, x0)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    wgtorch.manual_seed(11)
    ref(x0)
    np.testing.assert_array_equal(to_np(after), to_np(wgtorch.rand(3, device=device)))


def test_several_outputs_kwargs_and_non_tensor_args(device):
    a = wgtorch.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = wgtorch.tensor([3.0, -1.0], device=device, requires_grad=True)

    def fn(x, k, y, scale=1.0):
        return x * y * k * scale, (x + y).exp()
    p, q = checkpoint(fn, a, 2.0, b, scale=0.5, use_reentrant=False)
    (p.sum() + q.sum()).backward()
    av, bv = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    np.testing.assert_allclose(to_np(a.grad), bv + np.exp(av + bv), rtol=1e-5)
    np.testing.assert_allclose(to_np(b.grad), av + np.exp(av + bv), rtol=1e-5)


def test_parameters_get_gradients_when_input_needs_none(device):
    """use_reentrant=False: a frozen input (a first layer's input) still gives the inner parameters gradients."""
    ref, model = _block(wgtorch).to(device), _block(wgtorch).to(device)
    x = wgtorch.tensor(X, device=device)
    ref(x).sum().backward()
    checkpoint(model, x, use_reentrant=False).sum().backward()
    for p, q in zip(model.parameters(), ref.parameters()):
        np.testing.assert_allclose(to_np(p.grad), to_np(q.grad), rtol=1e-5, atol=1e-6)


def test_argument_checks():
    x = wgtorch.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="Unexpected keyword arguments: b"):
        checkpoint(lambda a, b=1: a * b, x, b=2, use_reentrant=True)
    with pytest.warns(UserWarning, match="None of the inputs have requires_grad=True"):
        y = checkpoint(lambda a: a * 2, wgtorch.ones(2), use_reentrant=True)
    assert not y.requires_grad
    with pytest.warns(UserWarning, match="use_reentrant parameter should be passed explicitly"):
        checkpoint(lambda a: a * 2, x)
    with wgtorch.no_grad():
        assert not checkpoint(lambda a: a * 2, x, use_reentrant=False).requires_grad


def test_checkpoint_sequential(device):
    ref, model = _block(wgtorch).to(device), _block(wgtorch).to(device)
    x0 = wgtorch.tensor(X, device=device, requires_grad=True)
    x = wgtorch.tensor(X, device=device, requires_grad=True)
    ref(x0).sum().backward()
    out = checkpoint_sequential(model, 2, x, use_reentrant=False)
    np.testing.assert_allclose(to_np(out), to_np(ref(x0)), rtol=1e-6, atol=1e-6)
    out.sum().backward()
    for a, b in zip(_grads(model, x), _grads(ref, x0)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert isinstance(model, nn.Sequential)


def test_recompute_runs_in_the_forwards_autocast_state(device):
    """Forward in a bfloat16 autocast region, backward outside it (the usual loop): the recompute casts
    as the forward did, so the gradients equal those without checkpointing."""
    from wgtorch.amp import autocast
    kind = "cpu" if device == "cpu" else "cuda"
    ref, model = _block(wgtorch).to(device), _block(wgtorch).to(device)
    x0 = wgtorch.tensor(X, device=device, requires_grad=True)
    x = wgtorch.tensor(X, device=device, requires_grad=True)
    with autocast(kind, dtype=wgtorch.bfloat16):
        out0 = ref(x0)
        out = checkpoint(model, x, use_reentrant=False)
    assert out.dtype is wgtorch.bfloat16
    out0.float().sum().backward()
    out.float().sum().backward()
    for a, b in zip(_grads(model, x), _grads(ref, x0)):
        np.testing.assert_array_equal(a, b)
