"""Embedding / EmbeddingBag (functional and modules) against torch, both devices; and the tensor ops that the
GPT-style models use (masked_fill, tril on a buffer, softmax over 4-D, topk, multinomial, argmax, view chains)."""
import numpy as np
import pytest

import wgtorch
import wgtorch.nn.functional as F
from conftest import assert_close, to_np

torch = pytest.importorskip("torch")


def _tol(device):
    return dict(rtol=1e-5, atol=1e-6) if device == "cpu" else dict(rtol=1e-4, atol=1e-5)


def _weights(n, d, device, seed=0):
    a = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return wgtorch.tensor(a, device=device, requires_grad=True), torch.tensor(a, requires_grad=True)


@pytest.mark.parametrize("idx_shape", [(5,), (1, 1), (2, 7), (3, 2, 4)])
@pytest.mark.parametrize("opts", [{}, {"padding_idx": 3}, {"padding_idx": -1, "scale_grad_by_freq": True}])
def test_embedding_functional(device, idx_shape, opts):
    w, tw = _weights(11, 6, device)
    idx = np.random.default_rng(1).integers(0, 11, idx_shape)
    idx.flat[0] = 3
    idx.flat[-1] = 10
    y = F.embedding(wgtorch.tensor(idx, device=device), w, **opts)
    ty = torch.nn.functional.embedding(torch.tensor(idx), tw, **opts)
    assert_close(y, ty, **_tol(device))
    g = np.random.default_rng(2).standard_normal(ty.shape).astype(np.float32)
    y.backward(wgtorch.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    assert_close(w.grad, tw.grad, **_tol(device))


def test_embedding_noncontiguous_indices(device):
    w, tw = _weights(9, 4, device)
    idx = np.random.default_rng(3).integers(0, 9, (4, 5))
    y = F.embedding(wgtorch.tensor(idx, device=device).t(), w)
    ty = torch.nn.functional.embedding(torch.tensor(idx).t(), tw)
    assert_close(y, ty, **_tol(device))
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    assert_close(w.grad, tw.grad, **_tol(device))


@pytest.mark.parametrize("norm_type", [2.0, 1.0])
def test_embedding_max_norm(device, norm_type):
    w, tw = _weights(8, 5, device, seed=4)
    with wgtorch.no_grad():
        w.mul_(3)
    with torch.no_grad():
        tw.mul_(3)
    idx = np.array([[1, 4, 1], [6, 0, 4]])
    m = wgtorch.nn.Embedding.from_pretrained(w.detach(), freeze=False, max_norm=1.5, norm_type=norm_type)
    tm = torch.nn.Embedding.from_pretrained(tw.detach(), freeze=False, max_norm=1.5, norm_type=norm_type)
    y, ty = m(wgtorch.tensor(idx, device=device)), tm(torch.tensor(idx))
    assert_close(y, ty, **_tol(device))
    assert_close(m.weight, tm.weight, **_tol(device))  # looked-up rows renormalised in place, others untouched
    (y ** 2).sum().backward()
    (ty ** 2).sum().backward()
    assert_close(m.weight.grad, tm.weight.grad, **_tol(device))


def test_embedding_module_defaults_and_init():
    torch.manual_seed(7)
    wgtorch.manual_seed(7)
    tm, m = torch.nn.Embedding(5, 3, padding_idx=2), wgtorch.nn.Embedding(5, 3, padding_idx=2)
    np.testing.assert_array_equal(to_np(m.weight), tm.weight.detach().numpy())  # normal_ drawn as torch (< 16)
    torch.manual_seed(8)
    wgtorch.manual_seed(8)
    tm, m = torch.nn.Embedding(20, 7), wgtorch.nn.Embedding(20, 7)
    # >= 16 draws: torch's vectorised Box-Muller; wgtorch's normal_ agrees to about one float32 ulp
    np.testing.assert_allclose(to_np(m.weight), tm.weight.detach().numpy(), rtol=1e-6, atol=1e-7)
    assert list(m.state_dict()) == ["weight"]
    for args, kw in [((10, 3), {}), ((10, 3), dict(padding_idx=-1, max_norm=1.0, norm_type=1.0,
                                                  scale_grad_by_freq=True, sparse=True))]:
        assert repr(wgtorch.nn.Embedding(*args, **kw)) == repr(torch.nn.Embedding(*args, **kw))
    e = wgtorch.nn.Embedding.from_pretrained(wgtorch.ones(4, 2))
    assert not e.weight.requires_grad and e.num_embeddings == 4 and e.embedding_dim == 2


def test_embedding_padding_row_gets_no_grad(device):
    m = wgtorch.nn.Embedding(6, 3, padding_idx=0).to(device)
    assert float(m.weight[0].abs().sum()) == 0
    m(wgtorch.tensor([[0, 2, 0]], device=device)).sum().backward()
    g = to_np(m.weight.grad)
    assert (g[0] == 0).all() and (g[2] == 1).all()


def test_embedding_errors():
    w = wgtorch.randn(3, 2)
    with pytest.raises(RuntimeError, match="Expected tensor for argument #1 'indices'"):
        F.embedding(wgtorch.tensor([1.0]), w)
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        wgtorch.nn.Embedding(3, 2, padding_idx=5)
    with pytest.raises(IndexError):
        F.embedding(wgtorch.tensor([5]), w)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag(device, mode):
    w, tw = _weights(10, 4, device, seed=5)
    m = wgtorch.nn.EmbeddingBag.from_pretrained(w.detach(), freeze=False, mode=mode)
    tm = torch.nn.EmbeddingBag.from_pretrained(tw.detach(), freeze=False, mode=mode)
    assert repr(m) == repr(tm)
    idx, offs = np.array([1, 2, 4, 5, 4, 3, 2, 9]), np.array([0, 3, 3, 6])
    y = m(wgtorch.tensor(idx, device=device), wgtorch.tensor(offs, device=device))
    ty = tm(torch.tensor(idx), torch.tensor(offs))
    assert_close(y, ty, **_tol(device))
    y.sum().backward()
    ty.sum().backward()
    assert_close(m.weight.grad, tm.weight.grad, **_tol(device))
    idx2 = np.array([[1, 2, 3], [0, 5, 5]])
    assert_close(m(wgtorch.tensor(idx2, device=device)), tm(torch.tensor(idx2)), **_tol(device))


# ---- tensor ops used by the GPT-style models --------------------------------------------------
def test_model_tensor_ops(device):
    rng = np.random.default_rng(9)
    a = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)

    class Att(wgtorch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mask", wgtorch.tril(wgtorch.ones(5, 5)))

    att = Att().to(device)
    x = wgtorch.tensor(a, device=device, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    tmask = torch.tril(torch.ones(5, 5))
    y = F.softmax(x.masked_fill(att.mask[:5, :5] == 0, float("-inf")), dim=-1)
    ty = torch.softmax(tx.masked_fill(tmask == 0, float("-inf")), dim=-1)
    assert_close(y, ty, **_tol(device))
    z = y.transpose(1, 2).contiguous().view(2, 5, 15)
    tz = ty.transpose(1, 2).contiguous().view(2, 5, 15)
    assert_close(z, tz, **_tol(device))
    g = rng.standard_normal((2, 5, 15)).astype(np.float32)
    z.backward(wgtorch.tensor(g, device=device))
    tz.backward(torch.tensor(g))
    assert_close(x.grad, tx.grad, **_tol(device))
    assert_close(wgtorch.tril(wgtorch.tensor(a, device=device)), torch.tril(torch.tensor(a)))
    logits = wgtorch.tensor(a[0, 0], device=device)
    v, i = wgtorch.topk(logits, 3)
    tv, ti = torch.topk(torch.tensor(a[0, 0]), 3)
    assert_close(v, tv)
    np.testing.assert_array_equal(to_np(i), ti.numpy())
    np.testing.assert_array_equal(to_np(logits.argmax(dim=-1)), torch.tensor(a[0, 0]).argmax(dim=-1).numpy())
    probs = F.softmax(logits, dim=-1)
    s = wgtorch.multinomial(probs, num_samples=1)
    assert tuple(s.shape) == (5, 1) and s.dtype == wgtorch.int64
    assert ((to_np(s) >= 0) & (to_np(s) < 5)).all()
    one_hot = wgtorch.zeros(2, 4, device=device)
    one_hot[0, 2] = 1
    one_hot[1, 1] = 1
    np.testing.assert_array_equal(to_np(wgtorch.multinomial(one_hot, 3, replacement=True)), [[2] * 3, [1] * 3])
