"""Views (shared storage, metadata only), basic indexing, contiguity, and the
shape-only ops that copy (cat, stack, flip, roll, repeat, ...)."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import wgtorch
from conftest import assert_close, assert_matches_torch, to_np

fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def base(device, shape=(2, 3, 4), dtype=np.float32):
    a = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
    return wgtorch.tensor(a, device=device), a


def assert_shares(view, base_t, index_in_view, index_in_base, value=-7.0):
    """Writing through ``view`` shows in ``base_t`` and the other way round
    (the original element is put back afterwards)."""
    original = base_t[index_in_base].item()
    view[index_in_view] = value
    assert base_t[index_in_base].item() == value
    base_t[index_in_base] = value - 1
    assert view[index_in_view].item() == value - 1
    base_t[index_in_base] = original


# ---------------------------------------------------------------------------
# views share storage
# ---------------------------------------------------------------------------

def test_view(device):
    x, a = base(device)
    v = x.view(6, 4)
    assert v.shape == (6, 4)
    assert_close(v, a.reshape(6, 4), rtol=0, atol=0)
    assert_shares(v, x, (4, 1), (1, 1, 1))
    assert x.view(-1).shape == (24,)
    assert x.view(2, -1).shape == (2, 12)
    assert x.view(-1, 3, 2).shape == (4, 3, 2)
    assert x.view((4, 6)).shape == (4, 6)
    assert x.view(wgtorch.Size([24])).shape == (24,)
    assert x.view(1, 24, 1).shape == (1, 24, 1)
    s = wgtorch.tensor(5.0, device=device)
    assert s.view(1).shape == (1,) and s.view(-1).shape == (1,) and s.view(1, 1).view(()).shape == ()


def test_view_inplace_op_shows_in_base(device):
    x, a = base(device)
    v = x.view(24)
    v.add_(1)
    assert_close(x, a + 1, rtol=0, atol=0)
    x.mul_(2)
    assert_close(v, (a.reshape(24) + 1) * 2, rtol=0, atol=0)
    v.fill_(0.5)
    assert_close(x, np.full(a.shape, 0.5), rtol=0, atol=0)


def test_view_errors(device):
    x, _ = base(device, (2, 3))
    with pytest.raises(RuntimeError, match=r"\[4, 2\]"):
        x.view(4, 2)
    with pytest.raises(RuntimeError, match="6"):
        x.view(4, 2)
    with pytest.raises(RuntimeError):
        x.view(-1, -1)
    with pytest.raises(RuntimeError):
        x.t().view(6)
    with pytest.raises(RuntimeError):
        x.reshape(5)
    with pytest.raises(RuntimeError, match=r"\[5\]"):
        x.reshape(5)
    assert x.t().view(3, 2).shape == (3, 2)  # same shape: a view is possible


def test_view_error_types_match_torch(device, oracle):
    cases = [lambda m, t: t.view(4, 2), lambda m, t: t.view(-1, -1), lambda m, t: t.t().view(6),
             lambda m, t: t.reshape(7), lambda m, t: t.view(-1, 4)]
    for c in cases:
        with pytest.raises(Exception) as ref:
            c(oracle, oracle.zeros(2, 3))
        with pytest.raises(Exception) as got:
            c(wgtorch, wgtorch.zeros(2, 3, device=device))
        assert type(got.value) is type(ref.value)


def test_reshape(device):
    x, a = base(device)
    r = x.reshape(4, 6)
    assert_close(r, a.reshape(4, 6), rtol=0, atol=0)
    assert_shares(r, x, (0, 5), (0, 1, 1))  # contiguous input: reshape is a view
    t = x.transpose(0, 2)  # non-contiguous: reshape copies
    rt = t.reshape(-1)
    assert_close(rt, a.transpose(2, 1, 0).reshape(-1), rtol=0, atol=0)
    assert rt.is_contiguous()
    assert x.reshape((3, 8)).shape == (3, 8)
    assert x.reshape(-1, 2).shape == (12, 2)
    sl = x[:, ::2]
    assert_close(sl.reshape(2, 8), a[:, ::2].reshape(2, 8), rtol=0, atol=0)


def test_permute_transpose_t(device):
    x, a = base(device)
    p = x.permute(2, 0, 1)
    assert p.shape == (4, 2, 3)
    assert p.stride() == (1, 12, 4)
    assert_close(p, a.transpose(2, 0, 1), rtol=0, atol=0)
    assert_close(x.permute((1, 2, 0)), a.transpose(1, 2, 0), rtol=0, atol=0)
    assert_close(x.permute(-1, 0, -2), a.transpose(2, 0, 1), rtol=0, atol=0)
    assert_shares(p, x, (3, 1, 2), (1, 2, 3))
    tr = x.transpose(0, -1)
    assert_close(tr, np.swapaxes(a, 0, -1), rtol=0, atol=0)
    assert_shares(tr, x, (1, 2, 0), (0, 2, 1))
    assert_close(wgtorch.transpose(x, 1, 2), np.swapaxes(a, 1, 2), rtol=0, atol=0)
    m, am = base(device, (3, 5))
    assert_close(m.t(), am.T, rtol=0, atol=0)
    assert_shares(m.t(), m, (4, 2), (2, 4))
    v, av = base(device, (5,))
    assert_close(v.t(), av, rtol=0, atol=0)
    assert_close(wgtorch.permute(x, (2, 1, 0)), a.transpose(2, 1, 0), rtol=0, atol=0)


def test_permute_transpose_errors(device):
    x, _ = base(device)
    with pytest.raises(RuntimeError):
        x.permute(0, 0, 1)
    with pytest.raises(RuntimeError):
        x.permute(0, 1)
    with pytest.raises(IndexError):
        x.transpose(0, 3)
    with pytest.raises(RuntimeError):
        x.t()


def test_unsqueeze_squeeze(device):
    x, a = base(device, (2, 1, 3))
    assert x.unsqueeze(0).shape == (1, 2, 1, 3)
    assert x.unsqueeze(-1).shape == (2, 1, 3, 1)
    assert x.unsqueeze(3).shape == (2, 1, 3, 1)
    assert x.unsqueeze(-4).shape == (1, 2, 1, 3)
    assert_close(x.unsqueeze(1), a[:, None], rtol=0, atol=0)
    assert x.squeeze().shape == (2, 3)
    assert x.squeeze(1).shape == (2, 3)
    assert x.squeeze(0).shape == (2, 1, 3)  # size != 1: unchanged
    assert x.squeeze(-2).shape == (2, 3)
    assert x.squeeze((0, 1)).shape == (2, 3)
    y = wgtorch.zeros(1, 1, device=device)
    assert y.squeeze().shape == ()
    u = x.unsqueeze(0)
    assert_shares(u, x, (0, 1, 0, 2), (1, 0, 2))
    s = x.squeeze()
    assert_shares(s, x, (0, 1), (0, 0, 1))
    assert_close(wgtorch.unsqueeze(x, 2), a[:, :, None], rtol=0, atol=0)
    assert_close(wgtorch.squeeze(x), a.squeeze(), rtol=0, atol=0)
    with pytest.raises(IndexError):
        x.unsqueeze(4)
    with pytest.raises(IndexError):
        x.squeeze(3)


def test_flatten_unflatten(device):
    x, a = base(device)
    assert_close(x.flatten(), a.reshape(-1), rtol=0, atol=0)
    assert x.flatten(1).shape == (2, 12)
    assert x.flatten(0, 1).shape == (6, 4)
    assert x.flatten(-2, -1).shape == (2, 12)
    assert x.flatten(1, 1).shape == (2, 3, 4)
    assert wgtorch.tensor(3.0, device=device).flatten().shape == (1,)
    f = x.flatten()
    assert_shares(f, x, 13, (1, 0, 1))
    t = x.transpose(0, 1).flatten()
    assert_close(t, a.transpose(1, 0, 2).reshape(-1), rtol=0, atol=0)
    assert_close(wgtorch.flatten(x, 1), a.reshape(2, 12), rtol=0, atol=0)
    u = x.unflatten(2, (2, 2))
    assert u.shape == (2, 3, 2, 2)
    assert_close(u, a.reshape(2, 3, 2, 2), rtol=0, atol=0)
    assert x.unflatten(-1, (2, -1)).shape == (2, 3, 2, 2)
    assert x.flatten().unflatten(0, (4, 6)).shape == (4, 6)
    assert_shares(u, x, (1, 2, 1, 0), (1, 2, 2))
    with pytest.raises(RuntimeError):
        x.flatten(2, 1)
    with pytest.raises(RuntimeError):
        x.unflatten(1, (2, 2))


def test_expand(device):
    x, a = base(device, (3, 1))
    e = x.expand(3, 4)
    assert e.shape == (3, 4)
    assert e.stride() == (1, 0)
    assert_close(e, np.broadcast_to(a, (3, 4)), rtol=0, atol=0)
    assert x.expand(2, 3, 4).shape == (2, 3, 4)
    assert x.expand(-1, 5).shape == (3, 5)
    assert x.expand((2, 3, 2)).shape == (2, 3, 2)
    x[1, 0] = 42.0
    assert e[1, 3].item() == 42.0  # a view of x
    y = wgtorch.zeros(2, 3, 7, device=device)
    assert x.expand_as(y[:, :, :4]).shape == (2, 3, 4)
    assert_close(x.expand_as(y[:, :, :4]), np.broadcast_to(to_np(x), (2, 3, 4)), rtol=0, atol=0)
    with pytest.raises(RuntimeError):
        x.expand(4, 4)
    with pytest.raises(RuntimeError):
        x.expand(4)
    s = wgtorch.tensor(2.5, device=device).expand(2, 2)
    assert_close(s, np.full((2, 2), 2.5), rtol=0, atol=0)


def test_expanded_input_to_ops(device):
    x = wgtorch.arange(3.0, device=device).view(3, 1).expand(3, 4)
    assert not x.is_contiguous()
    c = x.contiguous()
    assert c.is_contiguous() and c.stride() == (4, 1)
    assert_close(c, np.broadcast_to(np.arange(3.0)[:, None], (3, 4)), rtol=0, atol=0)
    assert_close(x.reshape(12), np.broadcast_to(np.arange(3.0)[:, None], (3, 4)).reshape(12), rtol=0, atol=0)
    assert_close(x.t().flatten(), np.broadcast_to(np.arange(3.0)[:, None], (3, 4)).T.reshape(-1), rtol=0, atol=0)
    assert_close(x.clone(), np.broadcast_to(np.arange(3.0)[:, None], (3, 4)), rtol=0, atol=0)


def test_narrow_select(device):
    x, a = base(device)
    n = x.narrow(2, 1, 2)
    assert_close(n, a[:, :, 1:3], rtol=0, atol=0)
    assert_shares(n, x, (1, 2, 1), (1, 2, 2))
    assert_close(x.narrow(-1, 0, 4), a, rtol=0, atol=0)
    assert_close(wgtorch.narrow(x, 0, 1, 1), a[1:2], rtol=0, atol=0)
    s = x.select(1, 2)
    assert_close(s, a[:, 2], rtol=0, atol=0)
    assert_shares(s, x, (0, 3), (0, 2, 3))
    assert_close(x.select(-1, -1), a[..., -1], rtol=0, atol=0)
    assert_close(wgtorch.select(x, 0, 1), a[1], rtol=0, atol=0)
    with pytest.raises(RuntimeError):
        x.narrow(2, 3, 2)
    with pytest.raises(IndexError):
        x.select(0, 2)


def test_chunk_split_unbind(device):
    x, a = base(device, (7, 2))
    ch = x.chunk(3)
    assert [c.shape[0] for c in ch] == [3, 3, 1]
    for c, r in zip(ch, [a[0:3], a[3:6], a[6:7]]):
        assert_close(c, r, rtol=0, atol=0)
    assert_shares(ch[1], x, (0, 1), (3, 1))
    assert [c.shape for c in x.chunk(2, dim=1)] == [(7, 1), (7, 1)]
    assert [c.shape[0] for c in wgtorch.chunk(x, 4)] == [2, 2, 2, 1]
    assert [c.shape[0] for c in x.chunk(7)] == [1] * 7
    sp = x.split(2)
    assert [s.shape[0] for s in sp] == [2, 2, 2, 1]
    assert isinstance(sp, tuple)
    sp = x.split([1, 4, 2])
    assert [s.shape[0] for s in sp] == [1, 4, 2]
    for s, r in zip(sp, np.split(a, [1, 5])):
        assert_close(s, r, rtol=0, atol=0)
    assert_shares(sp[1], x, (2, 0), (3, 0))
    assert [s.shape for s in wgtorch.split(x, 1, dim=-1)] == [(7, 1), (7, 1)]
    with pytest.raises(RuntimeError):
        x.split([1, 1])
    ub = x.unbind(1)
    assert isinstance(ub, tuple) and len(ub) == 2
    assert_close(ub[1], a[:, 1], rtol=0, atol=0)
    assert_shares(ub[0], x, 4, (4, 0))
    assert len(wgtorch.unbind(x)) == 7



@pytest.mark.parametrize("dim", [0, 1, -1])
def test_unbind_backward_is_one_node(device, dim):
    """unbind (and iterating a tensor) records one UnbindBackward0 whose gradient stacks the
    pieces' gradients, zeros for the pieces not used; its views refuse in-place changes, as torch's."""
    a = np.random.default_rng(dim + 5).standard_normal((3, 4, 5)).astype(np.float32)
    x = wgtorch.tensor(a, device=device, requires_grad=True)
    pieces = (x * 1).unbind(dim)
    assert all(p.grad_fn.name() == "UnbindBackward0" for p in pieces)
    assert [p._out_nr for p in pieces] == list(range(a.shape[dim]))
    (pieces[0] * 2 + pieces[-1] * pieces[-1]).sum().backward()
    want = np.zeros_like(a, dtype=np.float64)
    first = (slice(None),) * (dim % 3) + (0,)
    last = (slice(None),) * (dim % 3) + (-1,)
    want[first] += 2
    want[last] += 2 * a[last].astype(np.float64)
    assert_close(x.grad, want, rtol=1e-6, atol=1e-6)
    with pytest.raises(RuntimeError, match="Output 1 of Unbind is a view and is being modified inplace"):
        pieces[1].add_(1)
    rows = list(x * 1)  # iteration is unbind(0)
    assert rows[0].grad_fn.name() == "UnbindBackward0"
    with wgtorch.no_grad():
        (x * 1).unbind(dim)[0].add_(1)  # nothing recorded: allowed


def test_movedim(device):
    x, a = base(device)
    assert_close(x.movedim(0, 2), np.moveaxis(a, 0, 2), rtol=0, atol=0)
    assert_close(x.movedim(-1, 0), np.moveaxis(a, -1, 0), rtol=0, atol=0)
    assert_close(x.movedim((0, 1), (2, 0)), np.moveaxis(a, (0, 1), (2, 0)), rtol=0, atol=0)
    assert_close(wgtorch.movedim(x, 1, -1), np.moveaxis(a, 1, -1), rtol=0, atol=0)
    m = x.movedim(2, 0)
    assert_shares(m, x, (3, 1, 2), (1, 2, 3))
    with pytest.raises(IndexError):
        x.movedim(0, 3)


# ---------------------------------------------------------------------------
# basic indexing
# ---------------------------------------------------------------------------

BASIC = [
    (0,), (-1,), (1, 2), (-1, -2, -3), (slice(None),), (slice(1, None),), (slice(None, None, 2),),
    (slice(None), 1), (Ellipsis, 2), (Ellipsis, slice(1, 3)), (None,), (0, None, slice(None), None),
    (slice(0, 2), slice(None), slice(3, 0, None)), (slice(-3, -1), slice(None, None, 3)),
    (slice(5, 100),), (slice(-100, 100), Ellipsis, slice(1, None, 2)), (1, Ellipsis, None),
    (slice(None), slice(None), slice(None, None, 3)), (Ellipsis,), (None, Ellipsis, None),
]


@pytest.mark.parametrize("idx", BASIC, ids=[repr(i) for i in BASIC])
def test_basic_indexing(device, idx):
    x, a = base(device, (3, 4, 5))
    v = x[idx]
    assert v.shape == a[idx].shape
    assert_close(v, a[idx], rtol=0, atol=0)
    if v.numel():  # a view: writes show in the base
        v.fill_(-1.0)
        a2 = a.copy()
        a2[idx] = -1.0
        assert_close(x, a2, rtol=0, atol=0)


@pytest.mark.parametrize("idx", BASIC, ids=[repr(i) for i in BASIC])
def test_basic_indexing_noncontiguous_input(device, idx):
    x, a = base(device, (5, 4, 3))
    xt = x.permute(2, 1, 0)
    at = a.transpose(2, 1, 0)
    assert_close(xt[idx], at[idx], rtol=0, atol=0)


def test_basic_indexing_strides(device):
    x, _ = base(device, (4, 6))
    assert x[:, ::2].stride() == (6, 2)
    assert x[1::2].stride() == (12, 1)
    assert x[None].stride()[1:] == (6, 1)
    assert x[1].stride() == (1,)
    assert x[:, 1].stride() == (6,)
    assert not x[:, ::2].is_contiguous()
    assert x[1:3].is_contiguous()


def test_basic_setitem(device):
    x, a = base(device, (3, 4))
    x[0] = 100.0
    a[0] = 100.0
    x[:, 1] = wgtorch.tensor([7.0, 8.0, 9.0], device=device)
    a[:, 1] = [7.0, 8.0, 9.0]
    x[1:, ::2] = wgtorch.tensor([[-1.0, -2.0]], device=device)  # broadcast
    a[1:, ::2] = [[-1.0, -2.0]]
    x[..., -1] = 5
    a[..., -1] = 5
    x[2, 3] = wgtorch.tensor(0.5, device=device)
    a[2, 3] = 0.5
    assert_close(x, a, rtol=0, atol=0)
    xi = wgtorch.zeros(3, dtype=wgtorch.int64, device=device)
    xi[1] = 2.7  # value cast to the tensor's dtype
    assert xi.tolist() == [0, 2, 0]
    with pytest.raises(RuntimeError):
        x[0] = wgtorch.ones(3, device=device)


def test_setitem_through_view_chain(device):
    x, a = base(device, (4, 6))
    v = x.t()[1:5:2].unsqueeze(0)
    v[0, 1, 2] = 1000.0
    a.T[1:5:2][1, 2] = 1000.0
    assert_close(x, a, rtol=0, atol=0)


def test_basic_index_errors(device):
    x, _ = base(device, (3, 4))
    with pytest.raises(IndexError, match="5"):
        x[5]
    with pytest.raises(IndexError, match="3"):
        x[-4]
    with pytest.raises(IndexError):
        x[0, 4]
    with pytest.raises(IndexError):
        x[0, 0, 0]
    with pytest.raises(IndexError):
        x[1] = x[7]
    with pytest.raises(ValueError):
        x[::-1]
    with pytest.raises(IndexError):
        wgtorch.tensor(1.0, device=device)[0]


def test_basic_index_error_message(device):
    x = wgtorch.zeros(3, device=device)
    with pytest.raises(IndexError) as e:
        x[5]
    msg = str(e.value)
    assert "5" in msg and "3" in msg
    assert "index 5 is out of bounds for dimension 0 with size 3" in msg


def test_basic_index_error_types_match_torch(device, oracle):
    cases = [lambda t: t[5], lambda t: t[0, 4], lambda t: t[::-1], lambda t: t[0, 0, 0], lambda t: t[1.5]]
    for c in cases:
        with pytest.raises(Exception) as ref:
            c(oracle.zeros(3, 4))
        with pytest.raises(Exception) as got:
            c(wgtorch.zeros(3, 4, device=device))
        assert isinstance(got.value, type(ref.value)), (type(got.value), type(ref.value))


# ---------------------------------------------------------------------------
# contiguous / clone / detach
# ---------------------------------------------------------------------------

def test_contiguous(device):
    x, a = base(device)
    assert x.contiguous() is x
    t = x.transpose(1, 2)
    c = t.contiguous()
    assert c.is_contiguous() and c.stride() == (12, 3, 1)
    assert_close(c, a.transpose(0, 2, 1), rtol=0, atol=0)
    c[0, 0, 0] = 99.0  # a copy
    assert x[0, 0, 0].item() == 0.0
    assert not x[:, :, ::2].is_contiguous()
    assert x[:, :, ::2].contiguous().is_contiguous()
    assert wgtorch.zeros(3, 1, device=device).expand(3, 1).is_contiguous()
    assert wgtorch.zeros(1, 4, device=device)[:, :].is_contiguous()


def test_clone(device):
    x, a = base(device)
    c = x.clone()
    assert_close(c, a, rtol=0, atol=0)
    c[0, 0, 0] = 50.0
    assert x[0, 0, 0].item() == 0.0
    ct = x.transpose(0, 2)[::2].clone()
    assert_close(ct, a.transpose(2, 1, 0)[::2], rtol=0, atol=0)
    assert wgtorch.clone(x).dtype == x.dtype
    g = wgtorch.ones(2, requires_grad=True, device=device)
    assert g.clone().requires_grad


def test_detach(device):
    x = wgtorch.ones(2, 3, requires_grad=True, device=device)
    d = x.detach()
    assert not d.requires_grad and x.requires_grad
    d[0, 1] = 3.0  # shares storage
    assert x[0, 1].item() == 3.0
    assert d.shape == x.shape and d.dtype == x.dtype


# ---------------------------------------------------------------------------
# hypothesis: random views against NumPy
# ---------------------------------------------------------------------------

dims = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


@fixture_ok
@given(shape=dims, data=st.data())
def test_permute_hypothesis(device, shape, data):
    perm = data.draw(st.permutations(range(len(shape))))
    x, a = base(device, shape)
    p = x.permute(*perm)
    assert_close(p, a.transpose(perm), rtol=0, atol=0)
    assert p.stride() == tuple(s // 4 for s in a.transpose(perm).strides)
    assert_close(p.contiguous().view(-1), a.transpose(perm).reshape(-1), rtol=0, atol=0)


@fixture_ok
@given(shape=dims, data=st.data())
def test_slicing_hypothesis(device, shape, data):
    x, a = base(device, shape)
    idx = []
    for n in shape:
        start = data.draw(st.integers(-n - 1, n + 1))
        stop = data.draw(st.integers(-n - 1, n + 1))
        step = data.draw(st.integers(1, 3))
        idx.append(slice(start, stop, step))
    idx = tuple(idx)
    assert_close(x[idx], a[idx], rtol=0, atol=0)
    assert_close(x.transpose(0, -1)[idx[::-1]], a.swapaxes(0, -1)[idx[::-1]], rtol=0, atol=0)


@fixture_ok
@given(shape=dims, data=st.data())
def test_reshape_hypothesis(device, shape, data):
    x, a = base(device, shape)
    n = a.size
    d1 = data.draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]))
    target = (d1, -1) if data.draw(st.booleans()) else (-1, d1)
    assert_close(x.reshape(*target), a.reshape(target), rtol=0, atol=0)
    xt, at = x.transpose(0, -1), a.swapaxes(0, -1)
    assert_close(xt.reshape(*target), at.reshape(target), rtol=0, atol=0)


# ---------------------------------------------------------------------------
# shape ops that copy: cat stack hstack vstack flip roll repeat tile
# repeat_interleave tril triu
# ---------------------------------------------------------------------------

def test_cat(device):
    a = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    b = np.arange(9.0, dtype=np.float32).reshape(3, 3) + 100
    x, y = wgtorch.tensor(a, device=device), wgtorch.tensor(b, device=device)
    assert_close(wgtorch.cat([x, y]), np.concatenate([a, b]), rtol=0, atol=0)
    assert_close(wgtorch.cat((x, y), dim=0), np.concatenate([a, b]), rtol=0, atol=0)
    assert_close(wgtorch.cat([x.t(), y.t()], dim=1), np.concatenate([a.T, b.T], 1), rtol=0, atol=0)
    assert_close(wgtorch.cat([x.t(), y[:, ::2]], dim=-1), np.concatenate([a.T, b[:, ::2]], -1), rtol=0, atol=0)
    assert_close(wgtorch.cat([x]), a, rtol=0, atol=0)
    e = wgtorch.cat([x, x.expand(2, 2, 3)[0]], 0)
    assert_close(e, np.concatenate([a, a]), rtol=0, atol=0)
    c = wgtorch.cat([x, y])
    c[0, 0] = 1000.0  # a copy
    assert x[0, 0].item() == 0.0
    assert wgtorch.concat([x, x], 1).shape == (2, 6)
    assert wgtorch.cat([x, wgtorch.zeros(0, 3, device=device)]).shape == (2, 3)


def test_cat_dtype_promotion(device):
    i = wgtorch.tensor([1, 2], device=device)
    f = wgtorch.tensor([0.5], device=device)
    r = wgtorch.cat([i, f])
    assert r.dtype == wgtorch.float32
    assert_close(r, np.array([1.0, 2.0, 0.5]), rtol=0, atol=0)
    b = wgtorch.tensor([True], device=device)
    assert wgtorch.cat([i, b]).dtype == wgtorch.int64
    assert wgtorch.cat([wgtorch.tensor([1], dtype=wgtorch.int32, device=device),
                        wgtorch.tensor([2], dtype=wgtorch.uint8, device=device)]).dtype == wgtorch.int32


def test_cat_errors(device):
    x = wgtorch.zeros(2, 3, device=device)
    with pytest.raises(RuntimeError):
        wgtorch.cat([x, wgtorch.zeros(3, 2, device=device)])
    with pytest.raises(RuntimeError):
        wgtorch.cat([x, wgtorch.zeros(3, device=device)])
    with pytest.raises(IndexError):
        wgtorch.cat([x, x], dim=2)
    with pytest.raises(ValueError):
        wgtorch.cat([])
    with pytest.raises(TypeError):
        wgtorch.cat(x, x)


def test_cat_error_types_match_torch(device, oracle):
    cases = [lambda m, z: m.cat([z(2, 3), z(3, 2)]), lambda m, z: m.cat([z(2, 3), z(2, 3)], dim=2),
             lambda m, z: m.cat([]), lambda m, z: m.stack([z(2), z(3)]), lambda m, z: m.stack([]),
             lambda m, z: m.stack([z(2), z(2)], dim=2)]
    for c in cases:
        with pytest.raises(Exception) as ref:
            c(oracle, oracle.zeros)
        with pytest.raises(Exception) as got:
            c(wgtorch, lambda *s: wgtorch.zeros(*s, device=device))
        assert type(got.value) is type(ref.value)


def test_stack(device):
    a = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    b = -a
    x, y = wgtorch.tensor(a, device=device), wgtorch.tensor(b, device=device)
    for dim in (0, 1, 2, -1, -3):
        assert_close(wgtorch.stack([x, y], dim=dim), np.stack([a, b], axis=dim), rtol=0, atol=0)
    assert_close(wgtorch.stack((x.t(), y.t())), np.stack([a.T, b.T]), rtol=0, atol=0)
    s = wgtorch.stack([wgtorch.tensor(1.0, device=device), wgtorch.tensor(2.0, device=device)])
    assert s.shape == (2,)
    with pytest.raises(RuntimeError):
        wgtorch.stack([x, x.t()])
    with pytest.raises(RuntimeError):
        wgtorch.stack([])
    with pytest.raises(IndexError):
        wgtorch.stack([x, x], dim=3)


def test_hstack_vstack(device):
    a1, b1 = np.arange(3.0, dtype=np.float32), np.arange(2.0, dtype=np.float32) + 10
    x1, y1 = wgtorch.tensor(a1, device=device), wgtorch.tensor(b1, device=device)
    assert_close(wgtorch.hstack([x1, y1]), np.hstack([a1, b1]), rtol=0, atol=0)
    a2, b2 = np.arange(6.0, dtype=np.float32).reshape(2, 3), np.arange(4.0, dtype=np.float32).reshape(2, 2)
    x2, y2 = wgtorch.tensor(a2, device=device), wgtorch.tensor(b2, device=device)
    assert_close(wgtorch.hstack((x2, y2)), np.hstack([a2, b2]), rtol=0, atol=0)
    assert_close(wgtorch.vstack([x1, x1]), np.vstack([a1, a1]), rtol=0, atol=0)
    assert_close(wgtorch.vstack([x2, x1]), np.vstack([a2, a1]), rtol=0, atol=0)
    assert_close(wgtorch.vstack([x2.t(), y2]), np.vstack([a2.T, b2]), rtol=0, atol=0)
    with pytest.raises(RuntimeError):
        wgtorch.vstack([x2, y2])
    with pytest.raises(RuntimeError):
        wgtorch.hstack([x2, x1])


def test_flip(device):
    x, a = base(device)
    assert_close(x.flip(0), a[::-1], rtol=0, atol=0)
    assert_close(x.flip(-1), a[..., ::-1], rtol=0, atol=0)
    assert_close(x.flip(0, 2), a[::-1, :, ::-1], rtol=0, atol=0)
    assert_close(x.flip([1, 2]), a[:, ::-1, ::-1], rtol=0, atol=0)
    assert_close(wgtorch.flip(x, dims=(0, 1, 2)), a[::-1, ::-1, ::-1], rtol=0, atol=0)
    assert_close(x.transpose(0, 2).flip(1), a.transpose(2, 1, 0)[:, ::-1], rtol=0, atol=0)
    f = x.flip(0)
    f[0, 0, 0] = -100.0  # a copy, not a view
    assert x[1, 0, 0].item() == a[1, 0, 0]
    with pytest.raises(IndexError):
        x.flip(3)
    with pytest.raises(RuntimeError):
        x.flip(0, 0)


def test_roll(device):
    x, a = base(device, (3, 4))
    assert_close(x.roll(1, 0), np.roll(a, 1, 0), rtol=0, atol=0)
    assert_close(x.roll(-1, 1), np.roll(a, -1, 1), rtol=0, atol=0)
    assert_close(x.roll(5), np.roll(a, 5), rtol=0, atol=0)
    assert_close(x.roll(7, -1), np.roll(a, 7, -1), rtol=0, atol=0)
    assert_close(wgtorch.roll(x, (1, -2), (0, 1)), np.roll(a, (1, -2), (0, 1)), rtol=0, atol=0)
    assert_close(wgtorch.roll(x, shifts=2, dims=1), np.roll(a, 2, 1), rtol=0, atol=0)
    assert_close(x.t().roll(1, 0), np.roll(a.T, 1, 0), rtol=0, atol=0)
    assert_close(x.t().roll(3), np.roll(a.T, 3), rtol=0, atol=0)
    with pytest.raises(RuntimeError):
        x.roll((1, 2), (0,))
    with pytest.raises(IndexError):
        x.roll(1, 2)


def test_repeat_tile(device):
    x, a = base(device, (2, 3))
    assert_close(x.repeat(2, 3), np.tile(a, (2, 3)), rtol=0, atol=0)
    assert_close(x.repeat((1, 2)), np.tile(a, (1, 2)), rtol=0, atol=0)
    assert_close(x.repeat(2, 1, 2), np.tile(a, (2, 1, 2)), rtol=0, atol=0)
    assert_close(x.t().repeat(2, 2), np.tile(a.T, (2, 2)), rtol=0, atol=0)
    assert x.repeat(0, 1).shape == (0, 3)
    with pytest.raises(RuntimeError):
        x.repeat(2)
    assert_close(x.tile((2,)), np.tile(a, (2,)), rtol=0, atol=0)
    assert_close(x.tile((2, 1, 2)), np.tile(a, (2, 1, 2)), rtol=0, atol=0)
    assert_close(wgtorch.tile(x, (3, 1)), np.tile(a, (3, 1)), rtol=0, atol=0)
    assert_close(x[:, ::2].tile(2, 2), np.tile(a[:, ::2], (2, 2)), rtol=0, atol=0)


def test_repeat_interleave(device):
    x, a = base(device, (2, 3))
    assert_close(x.repeat_interleave(2), np.repeat(a, 2), rtol=0, atol=0)
    assert_close(x.repeat_interleave(2, dim=0), np.repeat(a, 2, 0), rtol=0, atol=0)
    assert_close(x.repeat_interleave(3, dim=-1), np.repeat(a, 3, -1), rtol=0, atol=0)
    r = wgtorch.tensor([1, 0, 2], device=device)
    assert_close(x.repeat_interleave(r, dim=1), np.repeat(a, [1, 0, 2], 1), rtol=0, atol=0)
    assert_close(wgtorch.repeat_interleave(x.t(), wgtorch.tensor([2, 1], device=device), dim=1),
                 np.repeat(a.T, [2, 1], 1), rtol=0, atol=0)
    assert x.repeat_interleave(2).dtype == x.dtype
    with pytest.raises(RuntimeError):
        x.repeat_interleave(wgtorch.tensor([1, 2], device=device), dim=1)


@pytest.mark.parametrize("diagonal", [0, 1, -1, 2, -3, 10])
def test_tril_triu(device, diagonal):
    x, a = base(device, (3, 5))
    assert_close(x.tril(diagonal), np.tril(a, diagonal), rtol=0, atol=0)
    assert_close(x.triu(diagonal), np.triu(a, diagonal), rtol=0, atol=0)
    assert_close(wgtorch.tril(x.t(), diagonal=diagonal), np.tril(a.T, diagonal), rtol=0, atol=0)
    assert_close(wgtorch.triu(x.t(), diagonal), np.triu(a.T, diagonal), rtol=0, atol=0)
    b, ab = base(device, (2, 3, 4))
    assert_close(b.tril(diagonal), np.tril(ab, diagonal), rtol=0, atol=0)
    assert_close(b.triu(diagonal), np.triu(ab, diagonal), rtol=0, atol=0)
    xi = wgtorch.ones(3, 3, dtype=wgtorch.int64, device=device)
    assert xi.triu(diagonal).dtype == wgtorch.int64
    assert_close(xi.triu(diagonal), np.triu(np.ones((3, 3)), diagonal), rtol=0, atol=0)


def test_tril_errors(device):
    with pytest.raises(RuntimeError):
        wgtorch.zeros(3, device=device).tril()
    with pytest.raises(RuntimeError):
        wgtorch.zeros(3, device=device).triu()


def test_shape_ops_match_torch(device, oracle):
    a = np.arange(24.0, dtype=np.float32).reshape(2, 3, 4)
    x, r = wgtorch.tensor(a, device=device), oracle.tensor(a)
    pairs = [
        (lambda m, t: m.cat([t, t.flip(1)], dim=-2)),
        (lambda m, t: m.stack([t, t], dim=-2)),
        (lambda m, t: m.hstack([t, t])),
        (lambda m, t: m.vstack([t, t])),
        (lambda m, t: t.roll((1, 2), (-1, 0))),
        (lambda m, t: t.repeat(1, 2, 1, 2)),
        (lambda m, t: t.tile((2,))),
        (lambda m, t: t.repeat_interleave(2, dim=1)),
        (lambda m, t: t.tril(-1)),
        (lambda m, t: t.triu(1)),
        (lambda m, t: t.transpose(0, 2).flip(0, 1)),
        (lambda m, t: m.movedim(t, (0, 2), (1, 0))),
        (lambda m, t: t.unflatten(1, (3, 1)).squeeze(2)),
    ]
    for f in pairs:
        assert_close(f(wgtorch, x), f(oracle, r), rtol=0, atol=0)


@fixture_ok
@given(shape=dims, data=st.data())
def test_cat_stack_hypothesis(device, shape, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = data.draw(st.integers(1, 3))
    arrays = []
    for _ in range(n):
        s = list(shape)
        s[dim] = data.draw(st.integers(0, 3))
        arrays.append(np.random.default_rng(len(arrays)).standard_normal(s).astype(np.float32))
    tensors = [wgtorch.tensor(a, device=device) for a in arrays]
    assert_close(wgtorch.cat(tensors, dim=dim), np.concatenate(arrays, axis=dim), rtol=0, atol=0)
    same = [wgtorch.tensor(arrays[0], device=device)] * n
    sdim = data.draw(st.integers(-len(shape) - 1, len(shape)))
    assert_close(wgtorch.stack(same, dim=sdim), np.stack([arrays[0]] * n, axis=sdim), rtol=0, atol=0)


@fixture_ok
@given(shape=dims, data=st.data())
def test_flip_roll_hypothesis(device, shape, data):
    x, a = base(device, shape)
    dims_ = data.draw(st.lists(st.integers(0, len(shape) - 1), unique=True, min_size=1))
    assert_close(x.flip(dims_), np.flip(a, dims_), rtol=0, atol=0)
    shifts = [data.draw(st.integers(-6, 6)) for _ in dims_]
    assert_close(x.roll(shifts, dims_), np.roll(a, shifts, dims_), rtol=0, atol=0)


# ---------------------------------------------------------------------------
# bad argument types: TypeError, as in PyTorch
# ---------------------------------------------------------------------------

BAD_TYPES = {
    "reshape float": lambda m, x: x.reshape((2.5, 2)),
    "view str": lambda m, x: x.view("a"),
    "add str": lambda m, x: x + "a",
    "transpose float": lambda m, x: x.transpose(0.5, 1),
    "unsqueeze None": lambda m, x: x.unsqueeze(None),
    "cat of lists": lambda m, x: m.cat([[1, 2], [3]]),
    "expand str": lambda m, x: x.expand("a"),
    "arange str": lambda m, x: m.arange("a"),
    "zeros None": lambda m, x: m.zeros(None),
    "full without fill": lambda m, x: m.full((2,)),
    "permute str": lambda m, x: x.permute("ab"),
}


@pytest.mark.parametrize("name", list(BAD_TYPES))
def test_bad_argument_types(device, name):
    with pytest.raises(TypeError):
        BAD_TYPES[name](wgtorch, wgtorch.zeros(2, 3, device=device))



def _t(oracle, a, device, grad=False):
    return (wgtorch.tensor(a, device=device, requires_grad=grad), oracle.tensor(a, requires_grad=grad))


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid_matches_torch(oracle, device, indexing):
    """Expanded views (torch's strides), 0-d and sliced inputs, gradients summed back; torch's errors."""
    arrays = [np.arange(3, dtype=np.float32), np.float32(5.0), np.arange(8, dtype=np.float32)[::2]]
    pairs = [_t(oracle, a, device, grad=True) for a in arrays]
    ours = wgtorch.meshgrid(*[w for w, _ in pairs], indexing=indexing)
    theirs = oracle.meshgrid([t for _, t in pairs], indexing=indexing)
    for o, t in zip(ours, theirs):
        assert tuple(o.shape) == tuple(t.shape)
        assert [st for st, n in zip(o.stride(), o.shape) if n > 1] == [st for st, n in zip(t.stride(), t.shape) if n > 1]
        assert_close(o, t.detach().numpy(), rtol=0, atol=0)
    sum(o * (k + 1) for k, o in enumerate(ours)).sum().backward()
    sum(t * (k + 1) for k, t in enumerate(theirs)).sum().backward()
    for w, t in pairs:
        assert_close(w.grad, t.grad.numpy(), rtol=1e-6, atol=0)
    with pytest.raises(RuntimeError, match="indexing must be one of"):
        wgtorch.meshgrid(pairs[0][0], indexing="yx")
    with pytest.raises(RuntimeError, match="Expected 0D or 1D tensor"):
        wgtorch.meshgrid(wgtorch.zeros(2, 2, device=device), indexing="ij")
    with pytest.raises(RuntimeError, match="meshgrid expects all tensors to have the same dtype"):
        wgtorch.meshgrid(wgtorch.zeros(2, device=device), wgtorch.arange(2, device=device), indexing="ij")


@pytest.mark.parametrize("offset", [0, 1, -2])
def test_diag_and_diag_embed_match_torch(oracle, device, offset):
    """diag of a 1-d (a matrix) and of a 2-d tensor (its diagonal, copied; also of a transposed one),
    diag_embed over other dims; values and gradients as torch's."""
    rng = np.random.default_rng(abs(offset))
    v, m, b = (rng.standard_normal(s).astype(np.float32) for s in ((4,), (5, 3), (2, 3)))
    cases = [(v, lambda L, x: L.diag(x, offset)), (m, lambda L, x: L.diag(x, offset)),
             (m, lambda L, x: x.t().diag(offset)), (b, lambda L, x: L.diag_embed(x, offset, 0, 2)),
             (b, lambda L, x: x.diag_embed(offset))]
    for a, fn in cases:
        assert_matches_torch(oracle, device, fn, [a], tol=(0, 0))
    with pytest.raises(RuntimeError, match="Supports 1D or 2D tensors. Got 3D"):
        wgtorch.diag(wgtorch.zeros(2, 2, 2, device=device))
    with pytest.raises(RuntimeError, match="diagonal dimensions cannot be identical 1, 1"):
        wgtorch.diag_embed(wgtorch.zeros(2, 3, device=device), 0, 1, 1)


def test_atleast_nd_dstack_column_stack_match_torch(oracle, device):
    arrays = [np.float32(2.0), np.arange(3, dtype=np.float32), np.arange(6, dtype=np.float32).reshape(2, 3),
              np.arange(24, dtype=np.float32).reshape(2, 3, 4)]
    pairs = [_t(oracle, a, device) for a in arrays]
    for name in ("atleast_1d", "atleast_2d", "atleast_3d"):
        for w, t in pairs:
            o, r = getattr(wgtorch, name)(w), getattr(oracle, name)(t)
            assert tuple(o.shape) == tuple(r.shape)
            assert_close(o, r.numpy(), rtol=0, atol=0)
        several = getattr(wgtorch, name)(pairs[0][0], pairs[1][0])
        assert isinstance(several, tuple) and [tuple(s.shape) for s in several] == \
            [tuple(s.shape) for s in getattr(oracle, name)(pairs[0][1], pairs[1][1])]
        assert isinstance(getattr(wgtorch, name)([pairs[2][0]]), tuple)
    cols = [np.arange(2, dtype=np.float32), np.ones((2, 3), np.float32), np.arange(4, dtype=np.float32)[::2]]
    cp = [_t(oracle, a, device) for a in cols]
    assert_close(wgtorch.column_stack([w for w, _ in cp]), oracle.column_stack([t for _, t in cp]).numpy(), rtol=0,
                 atol=0)
    dp = [_t(oracle, a, device) for a in (np.arange(3, dtype=np.float32), np.ones(3, np.float32))]
    assert_close(wgtorch.dstack([w for w, _ in dp]), oracle.dstack([t for _, t in dp]).numpy(), rtol=0, atol=0)
    for name in ("column_stack", "dstack"):
        with pytest.raises(RuntimeError, match=f"{name} expects a non-empty TensorList"):
            getattr(wgtorch, name)([])


@pytest.mark.parametrize("sa, sb", [((2, 2), (3, 1)), ((3,), (2, 2)), ((2, 1, 3), (2, 2)), ((), (3,))])
def test_kron_matches_torch(oracle, device, sa, sb):
    rng = np.random.default_rng(len(sa) + len(sb))
    a, b = rng.standard_normal(sa).astype(np.float32), rng.standard_normal(sb).astype(np.float32)
    assert_matches_torch(oracle, device, lambda L, x, y: L.kron(x, y), [a, b])


def test_cartesian_prod_and_block_diag_match_torch(oracle, device):
    xs = [np.array([1, 2], np.int64), np.array([3, 4, 5], np.int64), np.array([7], np.int64)]
    pairs = [_t(oracle, x, device) for x in xs]
    for k in (1, 2, 3):
        got, want = wgtorch.cartesian_prod(*[w for w, _ in pairs[:k]]), oracle.cartesian_prod(*[t for _, t in pairs[:k]])
        np.testing.assert_array_equal(got.cpu().numpy(), want.numpy())
    with pytest.raises(RuntimeError, match=r"Expect a 1D vector, but got shape \[2, 2\]"):
        wgtorch.cartesian_prod(wgtorch.zeros(2, 2, device=device))
    rng = np.random.default_rng(9)
    blocks = [rng.standard_normal((2, 2)).astype(np.float32), np.float32(3.0),
              rng.standard_normal(3).astype(np.float32), np.zeros((0, 2), np.float32),
              rng.standard_normal((3, 2)).astype(np.float32)]
    bp = [_t(oracle, b, device, grad=True) for b in blocks]
    y, ty = wgtorch.block_diag(*[w for w, _ in bp]), oracle.block_diag(*[t for _, t in bp])
    assert tuple(y.shape) == tuple(ty.shape)
    assert_close(y, ty.detach().numpy(), rtol=0, atol=0)
    g = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    (y * wgtorch.tensor(g, device=device)).sum().backward()
    (ty * oracle.tensor(g)).sum().backward()
    for w, t in bp:
        assert_close(w.grad, t.grad.numpy(), rtol=0, atol=0)
    mixed = wgtorch.block_diag(wgtorch.ones(1, 1, dtype=wgtorch.int32, device=device), wgtorch.ones(1, 1, device=device))
    assert mixed.dtype == wgtorch.float32
    assert tuple(wgtorch.block_diag().shape) == tuple(oracle.block_diag().shape)
    with pytest.raises(RuntimeError, match="Input tensors must have 2 or fewer dimensions. Input 1 has 3 dimensions"):
        wgtorch.block_diag(wgtorch.zeros(1, device=device), wgtorch.zeros(2, 2, 2, device=device))
