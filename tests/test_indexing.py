"""Advanced indexing (integer tensors / lists, boolean masks, mixed with slices),
__setitem__, and gather / scatter / index_* / masked_* / where / nonzero /
take_along_dim, against NumPy and real PyTorch."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import wgtorch
from conftest import assert_close, to_np

fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def arr(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def variants(a, device):
    """(tensor, array) pairs holding the same values: contiguous, transposed, sliced, expanded."""
    out = [(wgtorch.tensor(a, device=device), a)]
    t = wgtorch.tensor(np.ascontiguousarray(a.T), device=device).t() if a.ndim == 2 else \
        wgtorch.tensor(np.ascontiguousarray(np.moveaxis(a, 0, -1)), device=device).movedim(-1, 0)
    assert not t.is_contiguous() or a.shape[0] == 1
    out.append((t, a))
    big = np.zeros((a.shape[0] * 2,) + a.shape[1:], dtype=a.dtype)
    big[::2] = a
    out.append((wgtorch.tensor(big, device=device)[::2], a))
    if a.shape[0] > 1:
        row = a[:1]
        out.append((wgtorch.tensor(row, device=device).expand(*a.shape), np.broadcast_to(row, a.shape)))
    return out


def L(values, device, dtype=None):
    return wgtorch.tensor(values, device=device, dtype=dtype)


# ---------------------------------------------------------------------------
# advanced __getitem__
# ---------------------------------------------------------------------------

ADV = [
    ("list", lambda: ([0, 2],)),
    ("neg list", lambda: ([-1, 0, -3],)),
    ("tensor", lambda: (np.array([2, 0, 1, 1]),)),
    ("2d tensor", lambda: (np.array([[0, 1], [2, 2]]),)),
    ("pair", lambda: (np.array([0, 2]), np.array([1, 3]))),
    ("broadcast pair", lambda: (np.array([[0], [2]]), np.array([1, 3, 0]))),
    ("slice then adv", lambda: (slice(None), np.array([3, 0]))),
    ("adv then slice", lambda: (np.array([1, 2]), slice(1, None, 2))),
    ("int and adv", lambda: (1, np.array([0, 3, 3]))),
    ("adv, slice, adv", lambda: (np.array([0, 1]), slice(None), np.array([4, 2]))),
    ("None and adv", lambda: (None, np.array([2, 1]))),
    ("ellipsis adv", lambda: (Ellipsis, np.array([0, 4]))),
    ("mask dim0", lambda: (np.array([True, False, True]),)),
    ("mask 2d", lambda: (np.array([[True, False, True, False], [False, False, False, True],
                                   [True, True, False, False]]),)),
    ("slice then mask", lambda: (slice(None), np.array([False, True, True, False]))),
    ("mask full", lambda: (np.arange(60).reshape(3, 4, 5) % 3 == 0,)),
    ("mask none true", lambda: (np.zeros(3, dtype=bool),)),
    ("empty index", lambda: (np.array([], dtype=np.int64),)),
]


def to_index(idx, device, int_dtype=None):
    return tuple(wgtorch.tensor(i, device=device, dtype=int_dtype if i.dtype != bool else None)
                 if isinstance(i, np.ndarray) else i for i in idx)


@pytest.mark.parametrize("name, make", ADV, ids=[n for n, _ in ADV])
def test_advanced_getitem(device, name, make):
    idx = make()
    for x, a in variants(arr((3, 4, 5)), device):
        ref = a[idx]
        got = x[to_index(idx, device)]
        assert tuple(got.shape) == ref.shape
        assert_close(got, ref, rtol=0, atol=0)
        if name in ("list", "neg list"):  # Python lists work as index too
            assert_close(x[idx[0]], ref, rtol=0, atol=0)


def test_advanced_getitem_is_a_copy(device):
    x = wgtorch.arange(12.0, device=device).reshape(3, 4)
    y = x[[0, 2]]
    y[0, 0] = 100.0
    assert x[0, 0].item() == 0.0
    m = x[x > 5]
    m[0] = -1.0
    assert x[1, 2].item() == 6.0


def test_advanced_getitem_int32_index(device):
    a = arr((5, 3))
    x = wgtorch.tensor(a, device=device)
    i = np.array([4, 0, 2])
    assert_close(x[L(i, device, wgtorch.int32)], a[i], rtol=0, atol=0)
    assert_close(x[:, L([2, 0], device, wgtorch.int32)], a[:, [2, 0]], rtol=0, atol=0)


def test_advanced_getitem_matches_torch(device, oracle):
    a = arr((3, 4, 5))
    x, r = wgtorch.tensor(a, device=device), oracle.tensor(a)
    for _, make in ADV:
        idx = make()
        tidx = tuple(oracle.tensor(i) if isinstance(i, np.ndarray) else i for i in idx)
        assert_close(x[to_index(idx, device)], r[tidx], rtol=0, atol=0)


def test_bool_tensor_index_with_comparison(device):
    a = arr((4, 6))
    x = wgtorch.tensor(a, device=device)
    assert_close(x[x > 0], a[a > 0], rtol=0, atol=0)
    assert_close(x.t()[x.t() < 0.5], a.T[a.T < 0.5], rtol=0, atol=0)
    rows = x[:, 0] > 0
    assert_close(x[rows], a[a[:, 0] > 0], rtol=0, atol=0)
    assert_close(x[rows, 1:3], a[a[:, 0] > 0, 1:3], rtol=0, atol=0)


def settle(device):
    """Device tensors' indices are checked by the kernels: the error comes at the next read-back."""
    if device != "cpu":
        wgtorch.wgpu.synchronize()


def test_advanced_index_errors(device):
    x = wgtorch.zeros(3, 4, device=device)
    with pytest.raises(IndexError) as e:
        x[L([0, 5], device)]
        settle(device)
    assert ("5" in str(e.value) and "3" in str(e.value)) or (device != "cpu" and "out of range" in str(e.value))
    with pytest.raises(IndexError) as e:
        x[[0, 1], [1, 7]]
    assert "7" in str(e.value) and "4" in str(e.value)
    with pytest.raises(IndexError):
        x[L([-4], device)]
        settle(device)
    with pytest.raises(IndexError):
        x[L([True, False], device)]  # mask shape mismatch
    with pytest.raises(IndexError):
        x[L([0.0], device)]
    with pytest.raises(IndexError):
        x[[0, 1], [0, 1, 2]]  # cannot broadcast the index tensors


def test_advanced_index_errors_match_torch(device, oracle):
    cases = [lambda m, t: t[m.tensor([0, 5])], lambda m, t: t[[0, 1], [1, 7]],
             lambda m, t: t[m.tensor([True, False])], lambda m, t: t[m.tensor([0.0])],
             lambda m, t: t[[0, 1], [0, 1, 2]], lambda m, t: t[:, m.tensor([4])]]
    for c in cases:
        with pytest.raises(Exception) as ref:
            c(oracle, oracle.zeros(3, 4))
        with pytest.raises(Exception) as got:
            c(wgtorch, wgtorch.zeros(3, 4, device=device))
        assert type(got.value) is type(ref.value), (got.value, ref.value)
    with pytest.raises(IndexError) as got:  # host indices are checked on the host, whatever the device
        wgtorch.zeros(3, 4, device=device)[wgtorch.tensor([0, 5])]
    assert "index 5 is out of bounds for dimension 0 with size 3" in str(got.value)
    with pytest.raises(IndexError) as got:
        wgtorch.zeros(3, 4, device=device)[wgtorch.tensor([0, 5], device=device)]
        settle(device)
    assert "out of" in str(got.value)


# ---------------------------------------------------------------------------
# __setitem__
# ---------------------------------------------------------------------------

SET = [
    ("list scalar", lambda: ([0, 2],), lambda: 5.0),
    ("tensor rows", lambda: (np.array([2, 0]),), lambda: np.arange(10.0).reshape(2, 5)),
    ("broadcast row", lambda: (np.array([1, 2]),), lambda: np.array([1.0, 2, 3, 4, 5])),
    ("pair", lambda: (np.array([0, 2]), np.array([4, 1])), lambda: np.array([-1.0, -2.0])),
    ("slice adv", lambda: (slice(None), np.array([3, 0])), lambda: np.array([[7.0], [8.0], [9.0]])),
    ("adv slice", lambda: (np.array([1]), slice(None, None, 2)), lambda: np.array([1.5, 2.5, 3.5])),
    ("mask scalar", lambda: (np.array([[True, False, True, False, True], [False] * 5,
                                       [True] * 5]),), lambda: 0.25),
    ("mask values", lambda: (np.array([[True, False, True, False, False], [False] * 4 + [True],
                                       [False] * 5]),), lambda: np.array([10.0, 20.0, 30.0])),
    ("mask rows", lambda: (np.array([True, False, True]),), lambda: np.array([4.0, 3, 2, 1, 0])),
    ("mask rows block", lambda: (np.array([False, True, True]),), lambda: np.ones((2, 5))),
    ("int adv", lambda: (2, np.array([0, 1])), lambda: 3),
]


@pytest.mark.parametrize("name, make_idx, make_val", SET, ids=[s[0] for s in SET])
def test_advanced_setitem(device, name, make_idx, make_val):
    a = arr((3, 5))
    idx, val = make_idx(), make_val()
    ref = a.copy()
    ref[idx] = val
    x = wgtorch.tensor(a, device=device)
    v = wgtorch.tensor(val, dtype=wgtorch.float32, device=device) if isinstance(val, np.ndarray) else val
    x[to_index(idx, device)] = v
    assert_close(x, ref, rtol=0, atol=0)
    # on a non-contiguous view: the base sees the writes
    base = wgtorch.tensor(np.ascontiguousarray(a.T), device=device)
    xt = base.t()
    xt[to_index(idx, device)] = v
    assert_close(base.t(), ref, rtol=0, atol=0)


def test_setitem_with_noncontiguous_value(device):
    a = arr((4, 3))
    x = wgtorch.tensor(a, device=device)
    val = np.arange(6.0, dtype=np.float32).reshape(3, 2)
    vt = wgtorch.tensor(val, device=device).t()  # (2, 3), non-contiguous
    x[[3, 1]] = vt
    ref = a.copy()
    ref[[3, 1]] = val.T
    assert_close(x, ref, rtol=0, atol=0)
    x[x > 100] = wgtorch.tensor(1.0, device=device).expand(0)
    assert_close(x, ref, rtol=0, atol=0)
    x[:, 0] = wgtorch.tensor([5.0], device=device).expand(4)
    ref[:, 0] = 5.0
    assert_close(x, ref, rtol=0, atol=0)


def test_setitem_dtype_cast_and_int(device):
    x = wgtorch.zeros(4, dtype=wgtorch.int64, device=device)
    x[[1, 3]] = 2.9  # a Python float truncated to the int dtype
    assert x.tolist() == [0, 2, 0, 2]
    x[[0, 2]] = wgtorch.tensor([5, -7], device=device)
    assert x.tolist() == [5, 2, -7, 2]
    x[L([True, False, False, False], device)] = -1.9
    assert x.tolist() == [-1, 2, -7, 2]
    b = wgtorch.zeros(3, dtype=wgtorch.bool, device=device)
    b[L([True, False, True], device)] = True
    assert b.tolist() == [True, False, True]


def test_setitem_errors(device):
    x = wgtorch.zeros(3, 4, device=device)
    with pytest.raises(RuntimeError):
        x[[0, 1]] = wgtorch.ones(3, 4, device=device)
    with pytest.raises(RuntimeError):
        x[L([True, False, True], device)] = wgtorch.tensor([1.0, 2.0], device=device)
    with pytest.raises(IndexError):
        x[L([3], device)] = 1.0
        settle(device)
    assert to_np(x).sum() == 0


def test_setitem_matches_torch(device, oracle):
    a = arr((3, 5))
    for _, make_idx, make_val in SET:
        idx, val = make_idx(), make_val()
        x, r = wgtorch.tensor(a, device=device), oracle.tensor(a)
        x[to_index(idx, device)] = wgtorch.tensor(val, dtype=wgtorch.float32, device=device) \
            if isinstance(val, np.ndarray) else val
        r[tuple(oracle.tensor(i) if isinstance(i, np.ndarray) else i for i in idx)] = \
            oracle.tensor(val, dtype=oracle.float32) if isinstance(val, np.ndarray) else val
        assert_close(x, r, rtol=0, atol=0)


# ---------------------------------------------------------------------------
# gather / scatter / scatter_add / take_along_dim
# ---------------------------------------------------------------------------

def ref_gather(a, dim, idx):
    dim = dim % a.ndim
    sl = tuple(slice(0, s) if d != dim else slice(None) for d, s in enumerate(idx.shape))
    return np.take_along_axis(a[sl], idx, dim)


def ref_scatter(a, dim, idx, src, add=False):
    out = a.copy()
    dim = dim % a.ndim
    for pos in np.ndindex(*idx.shape):
        tgt = list(pos)
        tgt[dim] = idx[pos]
        v = src if np.isscalar(src) else src[pos]
        if add:
            out[tuple(tgt)] += v
        else:
            out[tuple(tgt)] = v
    return out


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gather(device, dim):
    a = arr((4, 5))
    rng = np.random.default_rng(1)
    idx = rng.integers(0, a.shape[dim], size=(3, 4))
    for x, av in variants(a, device):
        it = L(idx, device)
        got = x.gather(dim, it)
        assert got.shape == (3, 4) and got.dtype == x.dtype
        assert_close(got, ref_gather(av, dim, idx), rtol=0, atol=0)
        assert_close(wgtorch.gather(x, dim, it), ref_gather(av, dim, idx), rtol=0, atol=0)
    # a non-contiguous index
    it = L(np.ascontiguousarray(idx.T), device).t()
    assert_close(wgtorch.tensor(a, device=device).gather(dim, it), ref_gather(a, dim, idx), rtol=0, atol=0)


def test_gather_3d_and_torch(device, oracle):
    a = arr((2, 3, 4))
    idx = np.random.default_rng(2).integers(0, 3, size=(2, 2, 4))
    x = wgtorch.tensor(a, device=device)
    assert_close(x.gather(1, L(idx, device)), ref_gather(a, 1, idx), rtol=0, atol=0)
    assert_close(x.gather(1, L(idx, device)), oracle.tensor(a).gather(1, oracle.tensor(idx)), rtol=0, atol=0)


@pytest.mark.parametrize("x, i", [(3.5, 0), ([1.0, 2.0], 1), ([7.0], 0), (5.0, [0, 0])])
def test_gather_scatter_zero_d(device, oracle, x, i):
    """0-d and one-element operands (torch allows index.ndim <= 1 with input.ndim <= 1)."""
    a = wgtorch.tensor(x, device=device, requires_grad=True)
    r = wgtorch.gather(a, 0, wgtorch.tensor(i, device=device))
    r.sum().backward()
    ta = oracle.tensor(x, requires_grad=True)
    tr = oracle.gather(ta, 0, oracle.tensor(i))
    tr.sum().backward()
    assert r.shape == tr.shape and r.tolist() == tr.tolist() and a.grad.tolist() == ta.grad.tolist()
    z = wgtorch.zeros_like(a).scatter_add(0, wgtorch.tensor(i, device=device), r.detach() + 1)
    tz = oracle.zeros_like(ta).scatter_add(0, oracle.tensor(i), tr.detach() + 1)
    assert z.tolist() == tz.tolist()


def test_gather_errors(device):
    x = wgtorch.zeros(3, 4, device=device)
    with pytest.raises(RuntimeError):
        x.gather(1, L([[4]], device))
        settle(device)
    with pytest.raises(RuntimeError):
        x.gather(1, L([[-1]], device))  # gather takes no negative indices
        settle(device)
    with pytest.raises(RuntimeError):
        x.gather(1, L([0], device))
    with pytest.raises(RuntimeError):
        x.gather(1, L([[0.0]], device))
    with pytest.raises(IndexError):
        x.gather(2, L([[0]], device))


@pytest.mark.parametrize("dim", [0, 1, -2])
def test_scatter(device, dim):
    a = arr((4, 5))
    # unique targets along dim for each position: a permutation per column/row
    rng = np.random.default_rng(3)
    n = a.shape[dim]
    other = a.shape[1 - dim % 2]
    perms = np.stack([rng.permutation(n)[:3] for _ in range(other)], axis=1 - dim % 2)
    idx = perms  # unique targets along dim: scatter is deterministic
    src = arr(idx.shape, seed=4)
    for x, av in variants(a, device):
        got = x.scatter(dim, L(idx, device), wgtorch.tensor(src, device=device))
        assert_close(got, ref_scatter(av, dim, idx, src), rtol=0, atol=0)
        assert_close(x, av, rtol=0, atol=0)  # out of place
    got = wgtorch.scatter(wgtorch.tensor(a, device=device), dim, L(idx, device), 2.5)
    assert_close(got, ref_scatter(a, dim, idx, 2.5), rtol=0, atol=0)
    y = wgtorch.tensor(a, device=device)
    r = y.scatter_(dim, L(idx, device), wgtorch.tensor(src, device=device))
    assert r is y
    assert_close(y, ref_scatter(a, dim, idx, src), rtol=0, atol=0)


def test_scatter_src_larger_than_index(device):
    a = np.zeros((3, 5), dtype=np.float32)
    idx = np.array([[0, 1, 2, 0, 1]])
    src = arr((2, 5), seed=5)
    got = wgtorch.tensor(a, device=device).scatter(0, L(idx, device), wgtorch.tensor(src, device=device))
    assert_close(got, ref_scatter(a, 0, idx, src), rtol=0, atol=0)


@pytest.mark.parametrize("dim", [0, 1])
def test_scatter_add(device, dim):
    a = arr((3, 4))
    idx = np.random.default_rng(6).integers(0, a.shape[dim], size=(5, 4) if dim == 0 else (3, 7))
    src = arr(idx.shape, seed=7)
    for x, av in variants(a, device):
        got = x.scatter_add(dim, L(idx, device), wgtorch.tensor(src, device=device))
        assert_close(got, ref_scatter(av.astype(np.float64), dim, idx, src.astype(np.float64), add=True),
                     rtol=1e-5, atol=1e-5)
    y = wgtorch.tensor(a, device=device)
    y.scatter_add_(dim, L(idx, device), wgtorch.tensor(src, device=device))
    assert_close(y, ref_scatter(a.astype(np.float64), dim, idx, src.astype(np.float64), add=True), rtol=1e-5, atol=1e-5)
    assert_close(wgtorch.scatter_add(wgtorch.tensor(a, device=device), dim, L(idx, device),
                                     wgtorch.tensor(src, device=device)),
                 ref_scatter(a.astype(np.float64), dim, idx, src.astype(np.float64), add=True), rtol=1e-5, atol=1e-5)


def test_scatter_matches_torch(device, oracle):
    a = arr((3, 4))
    idx = np.array([[0, 1, 2, 0], [2, 0, 1, 1]])
    src = arr((2, 4), seed=8)
    x = wgtorch.tensor(a, device=device)
    r = oracle.tensor(a)
    assert_close(x.scatter(0, L(idx, device), wgtorch.tensor(src, device=device)),
                 r.scatter(0, oracle.tensor(idx), oracle.tensor(src)), rtol=0, atol=0)
    assert_close(x.scatter_add(0, L(idx, device), wgtorch.tensor(src, device=device)),
                 r.scatter_add(0, oracle.tensor(idx), oracle.tensor(src)), rtol=1e-6, atol=1e-6)
    assert_close(x.scatter(1, L(idx[:, :2], device), -1.0), r.scatter(1, oracle.tensor(idx[:, :2]), -1.0), rtol=0, atol=0)


def test_scatter_errors(device):
    x = wgtorch.zeros(3, 4, device=device)
    with pytest.raises(RuntimeError):
        x.scatter(1, L([[5]], device), 1.0)
        settle(device)
    with pytest.raises(RuntimeError):
        x.scatter(0, L([[0, 1]], device), wgtorch.ones(1, 1, device=device))
    with pytest.raises(RuntimeError):
        x.scatter(0, L([0], device), 1.0)
    with pytest.raises(RuntimeError):
        x.scatter_add(0, L([[7]], device), wgtorch.ones(1, 1, device=device))
        settle(device)
    assert to_np(x).sum() == 0  # nothing was written


def test_take_along_dim(device):
    a = arr((3, 4))
    idx = np.argsort(a, axis=1)
    for x, av in variants(a, device):
        i = np.argsort(av, axis=1)
        got = x.take_along_dim(L(i, device), dim=1)
        assert_close(got, np.take_along_axis(av, i, 1), rtol=0, atol=0)
    x = wgtorch.tensor(a, device=device)
    assert_close(wgtorch.take_along_dim(x, L(idx, device), 1), np.take_along_axis(a, idx, 1), rtol=0, atol=0)
    col = np.array([[0], [3], [1]])
    assert_close(x.take_along_dim(L(col, device), dim=-1), np.take_along_axis(a, col, -1), rtol=0, atol=0)
    row = np.array([[2, 0, 1, 1]])
    assert_close(x.take_along_dim(L(row, device), dim=0), np.take_along_axis(a, row, 0), rtol=0, atol=0)
    flat = np.array([11, 0, 5])
    assert_close(wgtorch.take_along_dim(x, L(flat, device)), a.reshape(-1)[flat], rtol=0, atol=0)
    # broadcasting of the index against the input
    b = np.array([[1, 0]])  # (1, 2): broadcasts over rows
    assert_close(x.take_along_dim(L(b, device), 1), np.take_along_axis(a, np.broadcast_to(b, (3, 2)), 1), rtol=0, atol=0)


def test_take_along_dim_matches_torch(device, oracle):
    a = arr((2, 3, 4))
    idx = np.random.default_rng(9).integers(0, 4, size=(2, 1, 5))
    assert_close(wgtorch.tensor(a, device=device).take_along_dim(L(idx, device), 2),
                 oracle.tensor(a).take_along_dim(oracle.tensor(idx), 2), rtol=0, atol=0)


# ---------------------------------------------------------------------------
# index_select / index_add
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_select(device, dim):
    a = arr((4, 5))
    idx = np.array([3, 0, 0, 2])
    for x, av in variants(a, device):
        got = x.index_select(dim, L(idx, device))
        assert_close(got, np.take(av, idx, axis=dim), rtol=0, atol=0)
        assert_close(wgtorch.index_select(x, dim, L(idx, device)), np.take(av, idx, axis=dim), rtol=0, atol=0)
    x = wgtorch.tensor(a, device=device)
    assert_close(x.index_select(dim, L(idx, device, wgtorch.int32)), np.take(a, idx, axis=dim), rtol=0, atol=0)
    assert x.index_select(dim, L([], device, wgtorch.int64)).shape[dim] == 0
    s = x.index_select(dim, L([1], device))
    s.fill_(99.0)  # a copy
    assert_close(x, a, rtol=0, atol=0)


def test_index_select_errors(device, oracle):
    x = wgtorch.zeros(3, 4, device=device)
    with pytest.raises(IndexError):
        x.index_select(0, L([3], device))
        settle(device)
    with pytest.raises(IndexError):
        x.index_select(0, L([[0]], device))
    with pytest.raises(RuntimeError):
        x.index_select(0, L([0.0], device))
    with pytest.raises(IndexError):
        x.index_select(2, L([0], device))


@pytest.mark.parametrize("dim", [0, 1])
def test_index_add(device, dim):
    a = arr((4, 3))
    idx = np.array([0, 2, 0, 3, 0])
    src_shape = (5, 3) if dim == 0 else (4, 5)
    idx = idx if dim == 0 else np.array([0, 2, 0, 1, 2])
    src = arr(src_shape, seed=10)
    ref = a.astype(np.float64).copy()
    np.add.at(ref, (idx,) if dim == 0 else (slice(None), idx), src.astype(np.float64))
    for x, _ in variants(a, device)[:3]:
        got = x.index_add(dim, L(idx, device), wgtorch.tensor(src, device=device))
        assert_close(got, ref, rtol=1e-5, atol=1e-5)
    ref2 = a.astype(np.float64).copy()
    np.add.at(ref2, (idx,) if dim == 0 else (slice(None), idx), 2.0 * src)
    x = wgtorch.tensor(a, device=device)
    assert_close(wgtorch.index_add(x, dim, L(idx, device), wgtorch.tensor(src, device=device), alpha=2),
                 ref2, rtol=1e-5, atol=1e-5)
    r = x.index_add_(dim, L(idx, device), wgtorch.tensor(src, device=device))
    assert r is x
    assert_close(x, ref, rtol=1e-5, atol=1e-5)


def test_index_add_matches_torch_and_errors(device, oracle):
    a = arr((4, 3))
    idx = np.array([1, 1, 3])
    src = arr((3, 3), seed=11)
    got = wgtorch.tensor(a, device=device).index_add(0, L(idx, device), wgtorch.tensor(src, device=device), alpha=-0.5)
    ref = oracle.tensor(a).index_add(0, oracle.tensor(idx), oracle.tensor(src), alpha=-0.5)
    assert_close(got, ref, rtol=1e-6, atol=1e-6)
    with pytest.raises((RuntimeError, IndexError)):
        wgtorch.tensor(a, device=device).index_add(0, L([0, 5, 1], device), wgtorch.tensor(src, device=device))
        settle(device)


@pytest.mark.parametrize("dtype", ["float32", "float16", "int64"])
@pytest.mark.parametrize("rows", [[3, 0, 3, -1, 3, 5], [2], list(range(6))])
def test_index_put_accumulate_rows(device, oracle, dtype, rows):
    """x.index_put_((idx,), v, accumulate=True) over rows (an embedding's backward): repeated and
    negative indices summed, against float64 and torch; and its embedding gradient."""
    if device == "wgpu" and dtype == "int64":
        dtype = "int32"
    a = (arr((6, 4, 3), seed=3) * 4).astype(dtype)
    v = (arr((len(rows), 4, 3), seed=4) * 4).astype(dtype)
    idx = np.array(rows)
    ref = a.astype(np.float64)
    np.add.at(ref, (idx,), v.astype(np.float64))
    got = wgtorch.tensor(a, device=device).index_put_((L(idx, device),), wgtorch.tensor(v, device=device),
                                                       accumulate=True)
    tol = 2e-2 if dtype == "float16" else 1e-5
    assert_close(got, ref, rtol=tol, atol=tol)
    want = oracle.tensor(a).index_put_((oracle.tensor(idx),), oracle.tensor(v), accumulate=True)
    assert_close(got, want.numpy(), rtol=tol, atol=tol)
    if dtype == "float32":
        w = wgtorch.tensor(a.reshape(6, 12), device=device, requires_grad=True)
        g = arr((len(rows), 12), seed=5)
        wgtorch.nn.functional.embedding(L(idx % 6, device), w).backward(wgtorch.tensor(g, device=device))
        ref_g = np.zeros((6, 12))
        np.add.at(ref_g, idx % 6, g.astype(np.float64))
        assert_close(w.grad, ref_g, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------
# masked_fill / masked_select / where / nonzero
# ---------------------------------------------------------------------------

def test_masked_fill(device):
    a = arr((3, 4))
    mask = a > 0
    for x, av in variants(a, device):
        m = x > 0
        got = x.masked_fill(m, -5.0)
        assert_close(got, np.where(av > 0, -5.0, av), rtol=0, atol=0)
        assert_close(x, av, rtol=0, atol=0)
    x = wgtorch.tensor(a, device=device)
    row = np.array([True, False, True, False])
    assert_close(x.masked_fill(L(row, device), 2.0), np.where(row, 2.0, a), rtol=0, atol=0)
    assert_close(wgtorch.masked_fill(x, L(mask, device), wgtorch.tensor(7.0, device=device)),
                 np.where(mask, 7.0, a), rtol=0, atol=0)
    col = np.array([[True], [False], [True]])
    y = x.clone()
    r = y.masked_fill_(L(col, device), float("-inf"))
    assert r is y
    assert_close(y, np.where(col, -np.inf, a), rtol=0, atol=0)
    xi = wgtorch.tensor([1, 2, 3], device=device)
    assert xi.masked_fill(L([True, False, True], device), 1.5).tolist() == [1, 2, 1]
    # an expanded mask
    em = L([True, False, False, True], device).expand(3, 4)
    em_np = np.broadcast_to(np.array([True, False, False, True]), (3, 4))
    assert_close(x.masked_fill(em, 0.0), np.where(em_np, 0.0, a), rtol=0, atol=0)


def test_masked_fill_errors(device):
    x = wgtorch.zeros(3, 4, device=device)
    with pytest.raises(RuntimeError):
        x.masked_fill(wgtorch.zeros(3, 4, device=device), 1.0)  # not a bool mask
    with pytest.raises(RuntimeError):
        x.masked_fill(L([True, False], device), 1.0)
    with pytest.raises(RuntimeError):
        x.masked_fill(L([True, False, True, True], device), wgtorch.tensor([2.0], device=device))


def test_masked_select(device):
    a = arr((3, 4))
    for x, av in variants(a, device):
        got = x.masked_select(x > 0)
        assert got.ndim == 1
        assert_close(got, av[av > 0], rtol=0, atol=0)
    x = wgtorch.tensor(a, device=device)
    row = np.array([True, False, True, False])
    assert_close(wgtorch.masked_select(x, L(row, device)), a[np.broadcast_to(row, a.shape)], rtol=0, atol=0)
    assert x.masked_select(x > 100).shape == (0,)
    with pytest.raises(RuntimeError):
        x.masked_select(L([True, False], device))


def test_where(device):
    a, b = arr((3, 4)), arr((3, 4), seed=1)
    c = a > b
    x, y, m = wgtorch.tensor(a, device=device), wgtorch.tensor(b, device=device), L(c, device)
    assert_close(wgtorch.where(m, x, y), np.where(c, a, b), rtol=0, atol=0)
    assert_close(x.where(m, y), np.where(c, a, b), rtol=0, atol=0)
    assert_close(wgtorch.where(m.t().t(), x.t().t(), y[:, :1]), np.where(c, a, b[:, :1]), rtol=0, atol=0)
    assert_close(wgtorch.where(m[0], x, 0.0), np.where(c[0], a, 0.0), rtol=0, atol=0)
    assert_close(wgtorch.where(m, 1.0, y), np.where(c, 1.0, b), rtol=0, atol=0)
    s = wgtorch.where(m, 1, 0)
    assert s.dtype == wgtorch.int64
    assert_close(s, np.where(c, 1, 0), rtol=0, atol=0)
    xt = wgtorch.tensor(np.ascontiguousarray(a.T), device=device).t()
    assert_close(wgtorch.where(m, xt, y), np.where(c, a, b), rtol=0, atol=0)
    ints = wgtorch.tensor([1, 2, 3, 4], device=device)
    r = wgtorch.where(m[0], ints, 0.5)
    assert r.dtype == wgtorch.float32
    assert_close(r, np.where(c[0], [1, 2, 3, 4], 0.5), rtol=0, atol=0)
    if device == "cpu":  # wgpu has no float64
        r = wgtorch.where(m[0], ints, wgtorch.tensor([0.5], dtype=wgtorch.float64, device=device))
        assert r.dtype == wgtorch.float64


def test_where_errors_and_one_arg(device):
    m = L([[True, False], [False, True]], device)
    nz = wgtorch.where(m)
    assert isinstance(nz, tuple) and len(nz) == 2
    ref = np.nonzero(np.array([[True, False], [False, True]]))
    for g, r in zip(nz, ref):
        assert g.dtype == wgtorch.int64
        assert_close(g, r, rtol=0, atol=0)
    with pytest.raises(RuntimeError):
        wgtorch.where(L([True, False], device), wgtorch.zeros(3, device=device), 1.0)
    with pytest.raises(RuntimeError):
        wgtorch.where(L([1, 0], device), 1.0, 0.0)


def test_nonzero(device):
    a = arr((3, 4))
    a[np.abs(a) < 0.5] = 0
    for x, av in variants(a, device):
        nz = x.nonzero()
        assert nz.dtype == wgtorch.int64
        assert nz.shape == (np.count_nonzero(av), 2)
        assert_close(nz, np.argwhere(av), rtol=0, atol=0)
        t = wgtorch.nonzero(x, as_tuple=True)
        assert isinstance(t, tuple) and len(t) == 2
        for g, r in zip(t, np.nonzero(av)):
            assert_close(g, r, rtol=0, atol=0)
    assert wgtorch.zeros(3, device=device).nonzero().shape == (0, 1)
    assert wgtorch.tensor([0, 3, 0, 1], device=device).nonzero().tolist() == [[1], [3]]
    assert wgtorch.tensor(2.0, device=device).nonzero().shape == (1, 0)
    assert wgtorch.tensor(0.0, device=device).nonzero().shape == (0, 0)
    assert wgtorch.tensor([True, False, True], device=device).nonzero().tolist() == [[0], [2]]


def test_nonzero_matches_torch(device, oracle):
    a = (arr((2, 3, 4)) > 0.3).astype(np.float32)
    assert_close(wgtorch.tensor(a, device=device).nonzero(), oracle.tensor(a).nonzero(), rtol=0, atol=0)
    assert_close(wgtorch.tensor(a, device=device).masked_select(wgtorch.tensor(a > 0, device=device)),
                 oracle.tensor(a).masked_select(oracle.tensor(a > 0)), rtol=0, atol=0)


# ---------------------------------------------------------------------------
# hypothesis
# ---------------------------------------------------------------------------

@fixture_ok
@given(n=st.integers(1, 6), m=st.integers(1, 6), data=st.data())
def test_integer_index_hypothesis(device, n, m, data):
    a = np.arange(n * m, dtype=np.float32).reshape(n, m)
    rows = data.draw(st.lists(st.integers(-n, n - 1), min_size=0, max_size=8))
    cols = data.draw(st.lists(st.integers(-m, m - 1), min_size=len(rows), max_size=len(rows)))
    x = wgtorch.tensor(a, device=device)
    r = np.array(rows, dtype=np.int64)
    c = np.array(cols, dtype=np.int64)
    assert_close(x[L(r, device)], a[r], rtol=0, atol=0)
    assert_close(x[L(r, device), L(c, device)], a[r, c], rtol=0, atol=0)
    assert_close(x.t()[:, L(r, device)], a.T[:, r], rtol=0, atol=0)
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    assert_close(x[L(mask, device)], a[mask], rtol=0, atol=0)
    x[L(mask, device)] = -1.0
    a2 = a.copy()
    a2[mask] = -1.0
    assert_close(x, a2, rtol=0, atol=0)


@fixture_ok
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), data=st.data())
def test_gather_hypothesis(device, shape, data):
    a = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    dim = data.draw(st.integers(0, len(shape) - 1))
    ishape = tuple(data.draw(st.integers(1, s)) if d != dim else data.draw(st.integers(0, 5))
                   for d, s in enumerate(shape))
    idx = np.array(data.draw(st.lists(st.integers(0, shape[dim] - 1), min_size=int(np.prod(ishape)),
                                      max_size=int(np.prod(ishape)))), dtype=np.int64).reshape(ishape)
    got = wgtorch.tensor(a, device=device).gather(dim, L(idx, device))
    assert_close(got, ref_gather(a, dim, idx), rtol=0, atol=0)


def test_argwhere_matches_torch(oracle, device):
    for a in (np.array([[0, 1], [2, 0]], np.int64), np.array(3.0, np.float32), np.zeros((2, 0), np.float32),
              np.array([[[0.0, -1.5], [np.nan, 0.0]]], np.float32)):
        got, want = wgtorch.tensor(a, device=device).argwhere(), oracle.argwhere(oracle.tensor(a))
        assert tuple(got.shape) == tuple(want.shape) and got.dtype == wgtorch.int64
        np.testing.assert_array_equal(got.cpu().numpy(), want.numpy())
