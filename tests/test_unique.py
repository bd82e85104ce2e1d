"""unique / unique_consecutive, with and without dim, checked against real PyTorch."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import wgtorch
from conftest import to_np

fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

ROWS = np.array([[1, 2, 0], [0, 5, 1], [1, 2, 0], [0, 5, -1], [1, 2, 0]])


def assert_same(ours, theirs):
    """Same arity, dtypes, shapes and values (bitwise, NaN where torch has NaN)."""
    ours = ours if isinstance(ours, tuple) else (ours,)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        assert str(o.dtype) == str(t.dtype) and tuple(o.shape) == tuple(t.shape), (o, t)
        np.testing.assert_array_equal(to_np(o), t.numpy())


def both(oracle, fn, a, device, **kw):
    """(ours, torch's) results of fn on the same values."""
    return getattr(wgtorch, fn)(wgtorch.tensor(a, device=device), **kw), getattr(oracle, fn)(oracle.tensor(a), **kw)


@pytest.mark.parametrize("fn", ["unique", "unique_consecutive"])
@pytest.mark.parametrize("dim", [None, 0, 1, -1, -2])
def test_unique_dim_matches_torch(device, oracle, fn, dim):
    for ri in (False, True):
        for rc in (False, True):
            assert_same(*both(oracle, fn, ROWS, device, return_inverse=ri, return_counts=rc, dim=dim))


def test_unique_dim_values(device):
    x = wgtorch.tensor(ROWS, device=device)
    u, inv, cnt = wgtorch.unique(x, dim=0, return_inverse=True, return_counts=True)
    # rows in lexicographic order; each input row maps to its unique row
    assert to_np(u).tolist() == [[0, 5, -1], [0, 5, 1], [1, 2, 0]]
    assert to_np(inv).tolist() == [2, 1, 2, 0, 2]
    assert to_np(cnt).tolist() == [1, 1, 3]
    assert (to_np(u[inv]) == ROWS).all()
    u, inv, cnt = x.unique_consecutive(dim=0, return_inverse=True, return_counts=True)
    assert to_np(u).tolist() == ROWS.tolist()  # no equal neighbours: nothing collapses
    assert to_np(cnt).tolist() == [1] * 5
    c = wgtorch.tensor([[1, 1, 2, 2, 1]], device=device)
    u, cnt = c.unique_consecutive(dim=1, return_counts=True)
    assert to_np(u).tolist() == [[1, 2, 1]] and to_np(cnt).tolist() == [2, 2, 1]


def test_unique_dim_non_contiguous(device, oracle):
    a = np.array([[3.0, 1.0, 3.0, 1.0], [2.0, -0.5, 2.0, 7.0], [3.0, 1.0, 3.0, 1.0]], dtype=np.float32)
    t = oracle.tensor(a)
    xt = wgtorch.tensor(a.T.copy(), device=device).t()  # transposed
    big = np.zeros((6, 8), np.float32)
    big[::2, ::2] = a
    xs = wgtorch.tensor(big, device=device)[::2, ::2]  # step-sliced
    for x in (xt, xs):
        assert not x.is_contiguous()
        for dim in (0, 1, None):
            for fn in ("unique", "unique_consecutive"):
                assert_same(getattr(x, fn)(dim=dim, return_inverse=True, return_counts=True),
                            getattr(t, fn)(dim=dim, return_inverse=True, return_counts=True))


def test_unique_dtypes_and_special_values(device, oracle):
    b = np.array([[True, False], [False, True], [True, False]])
    assert_same(*both(oracle, "unique", b, device, dim=0, return_counts=True))
    f = np.array([[-0.0, 2.0], [0.0, 2.0], [1.5, -1.0]], dtype=np.float32)
    assert_same(*both(oracle, "unique", f, device, dim=0, return_inverse=True))
    # NaNs never compare equal: each is its own unique value, as torch's
    n = np.array([np.nan, 1.0, np.nan, 1.0], dtype=np.float32)
    assert_same(*both(oracle, "unique", n, device, return_inverse=True, return_counts=True))
    assert_same(*both(oracle, "unique", np.int32([3, 1, 3]), device, return_inverse=True))


def test_unique_empty_and_zero_dim(device, oracle):
    for fn in ("unique", "unique_consecutive"):
        assert_same(*both(oracle, fn, np.zeros((0, 3), np.float32), device, dim=0,
                          return_inverse=True, return_counts=True))
        assert_same(*both(oracle, fn, np.zeros((2, 0), np.float32), device,
                          return_inverse=True, return_counts=True))
        assert_same(*both(oracle, fn, np.array(4.0, np.float32), device, return_inverse=True, return_counts=True))


@pytest.mark.parametrize("fn", ["unique", "unique_consecutive"])
def test_unique_dim_errors(device, oracle, fn):
    z = np.float32
    cases = [(ROWS, 2), (ROWS, -3), (np.array(1.0, z), 0), (np.zeros((3, 0), z), 0),
             (np.zeros((0, 0), z), 1), (np.zeros((0, 0, 1), z), -1)]
    for a, dim in cases:
        with pytest.raises(Exception) as theirs:
            getattr(oracle, fn)(oracle.tensor(a), dim=dim)
        with pytest.raises(type(theirs.value)) as ours:
            getattr(wgtorch, fn)(wgtorch.tensor(a, device=device), dim=dim)
        assert str(ours.value).strip() == str(theirs.value).strip()


@fixture_ok
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), data=st.data())
def test_unique_dim_generated(device, oracle, shape, data):
    n = int(np.prod(shape))
    a = np.array(data.draw(st.lists(st.integers(-1, 1), min_size=n, max_size=n)), dtype=np.int64).reshape(shape)
    dim = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    fn = data.draw(st.sampled_from(["unique", "unique_consecutive"]))
    assert_same(*both(oracle, fn, a, device, dim=dim, return_inverse=True, return_counts=True))
