"""Reductions, scans, softmax, sorting and unique, checked against NumPy
(float64) and, when installed, real PyTorch."""
import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import wgtorch
from conftest import assert_close, to_np
from gradcheck import gradcheck

fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

NAN, INF = float("nan"), float("inf")


def needs_float64(device):
    """float64 exists only on the cpu (the GPU backend raises TypeError for it, as PyTorch's MPS does):
    tests that call this carry @pytest.mark.float64, so conftest generates them for the cpu only."""
    assert str(device) == "cpu"


def rand(shape, lo=-3.0, hi=3.0, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).uniform(lo, hi, size=shape).astype(dtype)


def distinct(shape, seed=0, dtype=np.float32):
    """Values without ties (so argmax/sort/topk indices are unambiguous)."""
    n = int(np.prod(shape))
    vals = np.random.default_rng(seed).permutation(n).astype(np.float64) * 0.37 - n * 0.15
    return vals.reshape(shape).astype(dtype)


def layouts(arr, device):
    """The same values as a contiguous, a transposed-back and a step-sliced tensor (3-D arr)."""
    out = [("contiguous", wgtorch.tensor(arr, device=device))]
    perm = tuple(reversed(range(arr.ndim)))
    out.append(("permuted", wgtorch.tensor(np.ascontiguousarray(arr.transpose(perm)), device=device).permute(*perm)))
    big = np.zeros(tuple(2 * s for s in arr.shape), dtype=arr.dtype)
    idx = tuple(slice(None, None, 2) for _ in arr.shape)
    big[idx] = arr
    out.append(("strided", wgtorch.tensor(big, device=device)[idx]))
    return out


def np_dim(dim):
    return tuple(dim) if isinstance(dim, list) else dim


DIMS = [None, 0, 1, -1, 2, (0, 2), (-1, 0), (0, 1, 2)]


def _ref_var(a, axis, correction, keepdims):
    return np.var(a, axis=axis, ddof=correction, keepdims=keepdims)


# name, wgtorch call (x, dim, keepdim), NumPy reference (a, axis, keepdims)
REDUCTIONS = [
    ("sum", lambda x, d, k: wgtorch.sum(x, d, keepdim=k) if d is not None else x.sum(),
     lambda a, d, k: np.sum(a, axis=d, keepdims=k and d is not None)),
    ("mean", lambda x, d, k: wgtorch.mean(x, d, keepdim=k) if d is not None else x.mean(),
     lambda a, d, k: np.mean(a, axis=d, keepdims=k and d is not None)),
    ("amax", lambda x, d, k: wgtorch.amax(x, d, keepdim=k) if d is not None else wgtorch.amax(x),
     lambda a, d, k: np.max(a, axis=d, keepdims=k and d is not None)),
    ("amin", lambda x, d, k: x.amin(d, keepdim=k) if d is not None else x.amin(),
     lambda a, d, k: np.min(a, axis=d, keepdims=k and d is not None)),
    ("var", lambda x, d, k: wgtorch.var(x, d, keepdim=k),
     lambda a, d, k: _ref_var(a, d, 1, k)),
    ("var_c0", lambda x, d, k: x.var(d, correction=0, keepdim=k),
     lambda a, d, k: _ref_var(a, d, 0, k)),
    ("var_unbiased_false", lambda x, d, k: wgtorch.var(x, d, unbiased=False, keepdim=k),
     lambda a, d, k: _ref_var(a, d, 0, k)),
    ("std", lambda x, d, k: wgtorch.std(x, d, keepdim=k),
     lambda a, d, k: np.std(a, axis=d, ddof=1, keepdims=k)),
    ("std_c2", lambda x, d, k: x.std(dim=d, correction=2, keepdim=k),
     lambda a, d, k: np.std(a, axis=d, ddof=2, keepdims=k)),
    ("logsumexp", lambda x, d, k: wgtorch.logsumexp(x, d if d is not None else (0, 1, 2), keepdim=k),
     lambda a, d, k: np.log(np.sum(np.exp(a), axis=d if d is not None else (0, 1, 2),
                                   keepdims=k))),
    ("norm2", lambda x, d, k: wgtorch.norm(x, p=2, dim=d, keepdim=k) if d is not None else x.norm(),
     lambda a, d, k: np.sqrt(np.sum(a * a, axis=d, keepdims=k and d is not None))),
    ("norm1", lambda x, d, k: x.norm(p=1, dim=d, keepdim=k),
     lambda a, d, k: np.sum(np.abs(a), axis=d, keepdims=k)),
    ("norm_inf", lambda x, d, k: wgtorch.norm(x, p=INF, dim=d, keepdim=k),
     lambda a, d, k: np.max(np.abs(a), axis=d, keepdims=k)),
    ("prod", lambda x, d, k: wgtorch.prod(x, d, keepdim=k) if isinstance(d, int) else x.prod(),
     lambda a, d, k: np.prod(a, axis=d if isinstance(d, int) else None,
                             keepdims=k and isinstance(d, int))),
]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS, ids=str)
@pytest.mark.parametrize("name, fn, ref", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
def test_reduction_dims(device, name, fn, ref, dim, keepdim):
    a = rand((2, 3, 4), 0.5, 1.5, seed=3) if name == "prod" else rand((2, 3, 4), seed=3)
    with np.errstate(all="ignore"), warnings.catch_warnings():  # std, correction=2, 2 elements: inf, as in torch
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.asarray(ref(a.astype(np.float64), np_dim(dim), keepdim))
    for lay, x in layouts(a, device):
        out = fn(x, dim, keepdim)
        assert out.dtype == wgtorch.float32, lay
        assert tuple(out.shape) == expected.shape, lay
        assert_close(out, expected, rtol=2e-5, atol=2e-6)


@pytest.mark.float64
@pytest.mark.parametrize("name, fn, ref", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
def test_reduction_float64(device, name, fn, ref):
    needs_float64(device)
    a = rand((3, 5), 0.5, 1.5, dtype=np.float64, seed=2)
    x = wgtorch.tensor(a, device=device)
    out = fn(x, 1, False)
    assert out.dtype == wgtorch.float64
    assert_close(out, ref(a, 1, False), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name, fn, ref", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
def test_reduction_expanded_input(device, name, fn, ref):
    a = rand((1, 3, 1), 0.8, 1.2, seed=4)
    x = wgtorch.tensor(a, device=device).expand(2, 3, 4)
    e = np.broadcast_to(a, (2, 3, 4)).astype(np.float64)
    for dim in (None, 0, (0, 2)):
        if name == "prod" and dim is not None and not isinstance(dim, int):
            continue
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            exp = ref(e, np_dim(dim), False)
        assert_close(fn(x, dim, False), exp, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "var", "logsumexp", "norm2"])
def test_reduction_matches_torch(device, oracle, name):
    fn = dict((r[0], r[1]) for r in REDUCTIONS)[name]
    a = rand((2, 3, 4), seed=9)
    for dim in (None, 1, (0, 2)):
        ours = fn(wgtorch.tensor(a, device=device), dim, True)
        # the same call on torch
        T = oracle
        t = T.tensor(a)
        theirs = {
            "sum": lambda: T.sum(t, dim, keepdim=True) if dim is not None else t.sum(),
            "mean": lambda: T.mean(t, dim, keepdim=True) if dim is not None else t.mean(),
            "amax": lambda: T.amax(t, dim, keepdim=True) if dim is not None else T.amax(t),
            "var": lambda: T.var(t, dim, keepdim=True),
            "logsumexp": lambda: T.logsumexp(t, dim if dim is not None else (0, 1, 2), keepdim=True),
            "norm2": lambda: T.norm(t, p=2, dim=dim, keepdim=True) if dim is not None else t.norm(),
        }[name]()
        assert tuple(ours.shape) == tuple(theirs.shape)
        assert_close(ours, theirs, rtol=2e-5, atol=2e-6)


@fixture_ok
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple), data=st.data())
def test_reduction_generated(device, shape, data):
    ndim = len(shape)
    dims = data.draw(st.lists(st.integers(-ndim, ndim - 1), min_size=1, max_size=ndim,
                              unique_by=lambda d: d % ndim))
    keepdim = data.draw(st.booleans())
    which = data.draw(st.sampled_from(["sum", "mean", "amax", "amin", "std"]))
    a = rand(shape, seed=len(dims))
    x = wgtorch.tensor(a, device=device)
    d = tuple(dims)
    out = getattr(wgtorch, which)(x, d, keepdim=keepdim)
    ref = {"sum": np.sum, "mean": np.mean, "amax": np.max, "amin": np.min,
           "std": lambda v, axis, keepdims: np.std(v, axis=axis, ddof=1, keepdims=keepdims)}[which]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # std over one element: nan, as in torch
        e = ref(a.astype(np.float64), axis=tuple(i % ndim for i in d), keepdims=keepdim)
    assert tuple(out.shape) == np.shape(e)
    assert_close(out, e, rtol=2e-5, atol=2e-6)


def test_full_reductions_are_0d(device):
    a = rand((3, 4))
    x = wgtorch.tensor(a, device=device)
    for out, e in [(x.sum(), a.sum(dtype=np.float64)), (wgtorch.mean(x), a.mean(dtype=np.float64)),
                   (x.max(), a.max()), (wgtorch.min(x), a.min()), (x.var(), a.astype(np.float64).var(ddof=1)),
                   (x.norm(), np.linalg.norm(a.astype(np.float64))), (x.prod(), np.prod(a.astype(np.float64)))]:
        assert tuple(out.shape) == ()
        assert out.ndim == 0
        assert math.isclose(out.item(), float(e), rel_tol=2e-5, abs_tol=1e-6)


def test_duplicate_dims_raise(device):
    x = wgtorch.ones(2, 3, device=device)
    with pytest.raises(RuntimeError):
        x.sum((0, 0))
    with pytest.raises(RuntimeError):
        x.mean((1, -1))


@pytest.mark.parametrize("fname", ["sum", "mean", "amax", "argmax", "softmax", "cumsum"])
def test_dim_out_of_range_raises_indexerror(device, fname):
    x = wgtorch.ones(2, 3, device=device)
    with pytest.raises(IndexError):
        getattr(wgtorch, fname)(x, 2)
    with pytest.raises(IndexError):
        getattr(wgtorch, fname)(x, -3)


# ---------------------------------------------------------------------------
# dtype rules
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("src, fn, expected", [
    ("int64", lambda x: x.sum(), "int64"),
    ("int32", lambda x: x.sum(), "int64"),
    ("int32", lambda x: wgtorch.sum(x, 0), "int64"),
    ("bool", lambda x: x.sum(), "int64"),
    ("bool", lambda x: x.sum(dim=0), "int64"),
    ("int32", lambda x: x.prod(), "int64"),
    ("bool", lambda x: x.prod(), "int64"),
    ("int32", lambda x: wgtorch.cumsum(x, 0), "int64"),
    ("bool", lambda x: x.cumsum(0), "int64"),
    ("int32", lambda x: x.cumprod(0), "int64"),
    ("int32", lambda x: x.amax(), "int32"),
    ("int32", lambda x: x.max(), "int32"),
    ("int32", lambda x: x.max(0).values, "int32"),
    ("int32", lambda x: x.max(0).indices, "int64"),
    ("float32", lambda x: x.argmax(), "int64"),
    ("int64", lambda x: x.sum(dtype=wgtorch.float32), "float32"),
    ("float32", lambda x: x.sum(dtype=wgtorch.float64), "float64"),
    ("int64", lambda x: x.mean(dtype=wgtorch.float64), "float64"),
    ("int64", lambda x: wgtorch.mean(x, 0, dtype=wgtorch.float32), "float32"),
    ("int32", lambda x: x.cumsum(0, dtype=wgtorch.float32), "float32"),
    ("float32", lambda x: x.prod(0, dtype=wgtorch.float64), "float64"),
    ("float32", lambda x: x.all(), "bool"),
    ("int64", lambda x: x.any(0), "bool"),
    ("float32", lambda x: wgtorch.softmax(x, 0, dtype=wgtorch.float64), "float64"),
    ("int64", lambda x: x.sort().values, "int64"),
    ("int64", lambda x: x.sort().indices, "int64"),
    ("int64", lambda x: x.argsort(), "int64"),
    ("int32", lambda x: wgtorch.unique(x), "int32"),
])
@pytest.mark.float64
def test_reduction_dtype_rules(device, src, fn, expected):
    if expected == "float64":
        needs_float64(device)
    a = np.array([[1, 0, 3], [4, 5, 1]]).astype(src)
    x = wgtorch.tensor(a, device=device)
    out = fn(x)
    assert out.dtype == getattr(wgtorch, expected), f"{out.dtype} != {expected}"


def test_int_sum_values_exact(device):
    a = np.array([2 ** 40, 3, -5, 2 ** 40], dtype=np.int64)
    if device != "cpu":  # int64 is stored as int32 there: out-of-range values are refused, never wrapped
        with pytest.raises(RuntimeError, match="int32"):
            wgtorch.tensor(a, device=device)
        return
    out = wgtorch.tensor(a, device=device).sum()
    assert out.dtype == wgtorch.int64
    assert out.item() == int(a.sum())  # no float round-trip
    b = wgtorch.tensor([[True, False, True], [True, True, True]], device=device)
    assert_close(b.sum(1), [2, 3], rtol=0, atol=0)
    assert b.sum().item() == 5
    i32 = wgtorch.tensor([2 ** 30, 2 ** 30, 2 ** 30], dtype=wgtorch.int32, device=device)
    assert i32.sum().item() == 3 * 2 ** 30  # int64 accumulation: no int32 overflow


def test_mean_of_int_raises(device):
    with pytest.raises(RuntimeError):
        wgtorch.tensor([1, 2, 3], device=device).mean()
    with pytest.raises(RuntimeError):
        wgtorch.mean(wgtorch.tensor([[1, 2]], device=device), 0)
    # with an explicit float dtype it works
    assert_close(wgtorch.tensor([1, 2], device=device).mean(dtype=wgtorch.float32), 1.5)


def test_mean_of_int_error_matches_torch(device, oracle):
    with pytest.raises(RuntimeError) as theirs:
        oracle.tensor([1, 2, 3]).mean()
    with pytest.raises(RuntimeError) as ours:
        wgtorch.tensor([1, 2, 3], device=device).mean()
    assert type(ours.value) is type(theirs.value)
    assert "mean(): could not infer output dtype" in str(ours.value)


@pytest.mark.parametrize("fname", ["var", "std"])
def test_var_std_of_int_raises(device, fname):
    with pytest.raises(RuntimeError):
        getattr(wgtorch, fname)(wgtorch.tensor([1, 2, 3], device=device))


def test_var_single_element_is_nan(device):
    assert math.isnan(wgtorch.var(wgtorch.tensor([1.0], device=device)).item())
    assert wgtorch.var(wgtorch.tensor([1.0], device=device), correction=0).item() == 0.0


def test_var_positional_unbiased(device):
    a = rand((3, 4), seed=6)
    x = wgtorch.tensor(a, device=device)
    assert_close(wgtorch.var(x, 1, False, True), np.var(a.astype(np.float64), 1, ddof=0, keepdims=True), rtol=1e-5)
    assert_close(x.std(0, True), np.std(a.astype(np.float64), 0, ddof=1), rtol=1e-5)
    assert_close(x.var(False), np.var(a.astype(np.float64), ddof=0), rtol=1e-5)


def test_empty_reductions(device):
    e = wgtorch.zeros(0, 3, device=device)
    assert_close(e.sum(0), np.zeros(3))
    assert_close(e.prod(0), np.ones(3))
    assert e.sum().item() == 0.0
    assert math.isnan(e.mean().item())
    assert tuple(e.amax(1).shape) == (0,)
    with pytest.raises(RuntimeError):
        wgtorch.zeros(0, device=device).max()
    with pytest.raises((RuntimeError, IndexError)):
        e.amax(0)


# ---------------------------------------------------------------------------
# norm
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("p, ref", [
    (2, lambda a, ax, k: np.sqrt(np.sum(a * a, axis=ax, keepdims=k))),
    (1, lambda a, ax, k: np.sum(np.abs(a), axis=ax, keepdims=k)),
    (INF, lambda a, ax, k: np.max(np.abs(a), axis=ax, keepdims=k)),
    (-INF, lambda a, ax, k: np.min(np.abs(a), axis=ax, keepdims=k)),
    (3, lambda a, ax, k: np.sum(np.abs(a) ** 3, axis=ax, keepdims=k) ** (1 / 3)),
    ("fro", lambda a, ax, k: np.sqrt(np.sum(a * a, axis=ax, keepdims=k))),
], ids=["2", "1", "inf", "-inf", "3", "fro"])
def test_norm(device, p, ref):
    a = rand((3, 4), seed=8)
    a64 = a.astype(np.float64)
    x = wgtorch.tensor(a, device=device)
    assert_close(wgtorch.norm(x, p=p), ref(a64, None, False), rtol=1e-5)
    assert_close(x.norm(p), ref(a64, None, False), rtol=1e-5)
    assert_close(x.t().norm(p=p), ref(a64, None, False), rtol=1e-5)
    dims = [(0, 1)] if p == "fro" else [0, -1, (0, 1)]
    for d in dims:
        for k in (False, True):
            out = wgtorch.norm(x, p=p, dim=d, keepdim=k)
            assert_close(out, ref(a64, d, k), rtol=1e-5)
    if p != "fro":
        assert_close(wgtorch.norm(x[:, ::2], p=p, dim=1), ref(a64[:, ::2], 1, False), rtol=1e-5)


def test_norm_matches_torch(device, oracle):
    a = rand((3, 4), seed=8)
    for kw in [dict(), dict(p=1), dict(p=INF, dim=1), dict(p="fro"), dict(p="fro", dim=(0, 1)),
               dict(p=2, dim=0, keepdim=True), dict(p=3)]:
        assert_close(wgtorch.norm(wgtorch.tensor(a, device=device), **kw), oracle.norm(oracle.tensor(a), **kw),
                     rtol=1e-5)


def test_norm_of_int_raises(device):
    with pytest.raises(RuntimeError):
        wgtorch.norm(wgtorch.tensor([1, 2], device=device))


# ---------------------------------------------------------------------------
# max / min / argmax / argmin
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1, 2])
@pytest.mark.parametrize("fname", ["max", "min"])
def test_max_min_with_dim(device, fname, dim, keepdim):
    a = distinct((2, 3, 4), seed=5)
    npf = np.max if fname == "max" else np.min
    npa = np.argmax if fname == "max" else np.argmin
    exp_v = npf(a, axis=dim, keepdims=keepdim)
    exp_i = npa(a, axis=dim, keepdims=keepdim)
    for lay, x in layouts(a, device):
        res = getattr(wgtorch, fname)(x, dim, keepdim=keepdim)
        res_m = getattr(x, fname)(dim=dim, keepdim=keepdim)
        for r in (res, res_m):
            values, indices = r  # a named tuple unpacks
            assert values is r.values or np.array_equal(to_np(values), to_np(r.values))
            assert r[0] is r.values and r[1] is r.indices
            assert r.values.dtype == wgtorch.float32
            assert r.indices.dtype == wgtorch.int64
            assert_close(r.values, exp_v, rtol=0, atol=0)
            assert_close(r.indices, exp_i, rtol=0, atol=0)
            assert tuple(r.indices.shape) == exp_i.shape


def test_max_min_return_type_names(device, oracle):
    x = wgtorch.tensor([[1.0, 3.0], [2.0, 0.0]], device=device)
    t = oracle.tensor([[1.0, 3.0], [2.0, 0.0]])
    for f in ("max", "min", "sort", "topk"):
        args = (1,) if f in ("max", "min", "topk") else ()
        ours = getattr(wgtorch, f)(x, *args)
        theirs = getattr(oracle, f)(t, *args)
        assert type(ours).__name__ == type(theirs).__name__
        assert len(ours) == 2
        assert_close(ours.values, theirs.values)
        assert_close(ours.indices, theirs.indices)


def test_max_binary_form(device):
    a, b = rand((3, 4), seed=1), rand((4,), seed=2)
    out = wgtorch.max(wgtorch.tensor(a, device=device), wgtorch.tensor(b, device=device))
    assert_close(out, np.maximum(a, b))
    out = wgtorch.min(wgtorch.tensor(a, device=device), wgtorch.tensor(b, device=device))
    assert_close(out, np.minimum(a, b))


@pytest.mark.parametrize("fname, npf", [("argmax", np.argmax), ("argmin", np.argmin)])
def test_argmax_argmin(device, fname, npf):
    a = distinct((3, 4, 5), seed=11)
    for lay, x in layouts(a, device):
        out = getattr(wgtorch, fname)(x)
        assert out.dtype == wgtorch.int64 and out.ndim == 0
        assert out.item() == int(npf(a))  # index into the flattened (logical) tensor
        for d in (0, 1, -1):
            assert_close(getattr(x, fname)(d), npf(a, axis=d), rtol=0, atol=0)
            assert_close(getattr(wgtorch, fname)(x, dim=d, keepdim=True),
                         np.expand_dims(npf(a, axis=d), d), rtol=0, atol=0)


def test_argmax_ties_first_index(device):
    x = wgtorch.tensor([[1, 3, 3, 2], [0, 0, -1, 0]], device=device)
    assert_close(x.argmax(1), [1, 0], rtol=0, atol=0)
    assert_close(x.argmin(1), [0, 2], rtol=0, atol=0)
    assert wgtorch.tensor([5, 1, 5], device=device).argmax().item() == 0
    assert wgtorch.tensor([5, 1, 5, 1], device=device).argmin().item() == 1


def test_max_min_argmax_nan_propagation(device):
    a = np.array([[1.0, NAN, 2.0, NAN], [3.0, 5.0, 0.0, 4.0], [NAN, -1.0, -2.0, 7.0]], dtype=np.float32)
    x = wgtorch.tensor(a, device=device)
    assert math.isnan(x.max().item())
    assert math.isnan(x.min().item())
    assert math.isnan(wgtorch.amax(x).item())
    assert math.isnan(wgtorch.amin(x).item())
    mx = x.max(1)
    assert_close(mx.values, [NAN, 5.0, NAN])
    assert_close(mx.indices, [1, 1, 0], rtol=0, atol=0)  # the (first) NaN's index
    mn = wgtorch.min(x, 1)
    assert_close(mn.values, [NAN, 0.0, NAN])
    assert_close(mn.indices, [1, 2, 0], rtol=0, atol=0)
    assert_close(wgtorch.amax(x, 1), [NAN, 5.0, NAN])
    assert_close(wgtorch.amin(x, 0), [NAN, NAN, -2.0, NAN])
    # argmax/argmin treat NaN as the extreme value: its index wins
    assert_close(x.argmax(1), [1, 1, 0], rtol=0, atol=0)
    assert_close(x.argmin(1), [1, 2, 0], rtol=0, atol=0)
    assert x.argmax().item() == 1
    assert x.argmin().item() == 1
    # np.argmax agrees: it also returns the first NaN
    assert x.argmax().item() == int(np.argmax(a))


def test_max_nan_matches_torch(device, oracle):
    a = [[1.0, NAN, 2.0], [3.0, 5.0, 0.0], [NAN, -1.0, NAN]]
    x, t = wgtorch.tensor(a, device=device), oracle.tensor(a)
    for f in [lambda m: m.max(1).values, lambda m: m.max(1).indices, lambda m: m.min(0).indices,
              lambda m: m.argmax(1), lambda m: m.argmin(0), lambda m: m.max(), lambda m: m.amin(1)]:
        assert_close(f(x), f(t))


# ---------------------------------------------------------------------------
# all / any
# ---------------------------------------------------------------------------

def test_all_any(device):
    a = np.array([[[1.0, 0.0, 2.0], [NAN, 1.0, 1.0]], [[0.0, 0.0, 0.0], [3.0, -1.0, 0.5]]], dtype=np.float32)
    for lay, x in layouts(a, device):
        for fname, ref in [("all", np.all), ("any", np.any)]:
            out = getattr(wgtorch, fname)(x)
            assert out.dtype == wgtorch.bool and out.ndim == 0
            assert bool(out.item()) == bool(ref(a))
            for d in (0, 1, -1, (0, 2)):
                for k in (False, True):
                    r = getattr(x, fname)(d, keepdim=k)
                    assert r.dtype == wgtorch.bool
                    assert_close(r, ref(a, axis=d, keepdims=k))
    b = wgtorch.tensor([[True, False], [True, True]], device=device)
    assert_close(b.all(1), [False, True])
    assert_close(b.any(0), [True, True])
    assert bool(wgtorch.zeros(0, device=device).all().item()) is True
    assert bool(wgtorch.zeros(0, device=device).any().item()) is False
    xi = wgtorch.tensor([1, 2, 0], device=device)
    assert bool(xi.all()) is False and bool(xi.any()) is True


# ---------------------------------------------------------------------------
# logsumexp, softmax, log_softmax
# ---------------------------------------------------------------------------

def test_logsumexp_stable(device):
    x = wgtorch.tensor([[1000.0, 1000.0], [-1000.0, -1000.0], [-INF, -INF], [0.0, -INF]], device=device)
    out = wgtorch.logsumexp(x, 1)
    assert_close(out, [1000 + math.log(2), -1000 + math.log(2), -INF, 0.0], rtol=1e-6)
    assert_close(x.logsumexp(dim=1, keepdim=True), to_np(out)[:, None], rtol=1e-6)
    assert_close(wgtorch.logsumexp(wgtorch.tensor([1.0, INF], device=device), 0), INF)


@pytest.mark.parametrize("fname", ["softmax", "log_softmax"])
def test_softmax_log_softmax(device, fname):
    a = rand((2, 3, 4), seed=12)
    a64 = a.astype(np.float64)
    for dim in (0, 1, -1):
        m = a64.max(axis=dim, keepdims=True)
        e = np.exp(a64 - m)
        sm = e / e.sum(axis=dim, keepdims=True)
        exp = sm if fname == "softmax" else np.log(sm)
        for lay, x in layouts(a, device):
            assert_close(getattr(wgtorch, fname)(x, dim), exp, rtol=1e-5, atol=1e-6)
            assert_close(getattr(x, fname)(dim), exp, rtol=1e-5, atol=1e-6)
            assert_close(getattr(x, fname)(dim=dim), exp, rtol=1e-5, atol=1e-6)
        if fname == "softmax":
            assert_close(wgtorch.softmax(wgtorch.tensor(a, device=device), dim).sum(dim), np.ones(np.delete(a.shape, dim % 3)), rtol=1e-5)


@pytest.mark.parametrize("fname", ["softmax", "log_softmax"])
def test_softmax_stable_and_functional(device, fname):
    F = wgtorch.nn.functional
    x = wgtorch.tensor([[1000.0, 0.0, -1000.0], [1.0, 1.0, 1.0], [-INF, 0.0, 0.0]], device=device)
    out = to_np(getattr(F, fname)(x, dim=1))
    assert not np.isnan(out).any()
    if fname == "softmax":
        np.testing.assert_allclose(out, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3], [0, 0.5, 0.5]], atol=1e-7)
    else:
        np.testing.assert_allclose(out, [[0, -1000, -2000], [-math.log(3)] * 3, [-INF, -math.log(2), -math.log(2)]],
                                   rtol=1e-6)


@pytest.mark.float64
def test_softmax_dtype_argument(device):
    needs_float64(device)
    x = wgtorch.tensor([1.0, 2.0, 3.0], device=device)
    out = wgtorch.softmax(x, 0, dtype=wgtorch.float64)
    assert out.dtype == wgtorch.float64
    e = np.exp([1.0, 2.0, 3.0])
    assert_close(out, e / e.sum(), rtol=1e-7)


def test_softmax_matches_torch(device, oracle):
    a = rand((3, 5), seed=13)
    assert_close(wgtorch.softmax(wgtorch.tensor(a, device=device), 1), oracle.softmax(oracle.tensor(a), 1), rtol=1e-5)
    assert_close(wgtorch.log_softmax(wgtorch.tensor(a, device=device), 0),
                 oracle.log_softmax(oracle.tensor(a), 0), rtol=1e-5)


# ---------------------------------------------------------------------------
# cumsum / cumprod
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("fname, ref", [("cumsum", np.cumsum), ("cumprod", np.cumprod)])
def test_cumsum_cumprod(device, fname, ref):
    a = rand((2, 3, 4), 0.5, 1.5, seed=14)
    for dim in (0, 1, 2, -1):
        exp = ref(a.astype(np.float64), axis=dim)
        for lay, x in layouts(a, device):
            assert_close(getattr(wgtorch, fname)(x, dim), exp, rtol=1e-5)
            assert_close(getattr(x, fname)(dim=dim), exp, rtol=1e-5)
    ai = np.array([[1, -2, 3], [4, 5, -6]], dtype=np.int32)
    out = getattr(wgtorch, fname)(wgtorch.tensor(ai, device=device), 1)
    assert out.dtype == wgtorch.int64
    assert_close(out, ref(ai.astype(np.int64), axis=1), rtol=0, atol=0)
    fdt = wgtorch.float64 if device == "cpu" else wgtorch.float32
    outd = getattr(wgtorch, fname)(wgtorch.tensor(ai, device=device), 0, dtype=fdt)
    assert outd.dtype == fdt
    assert_close(outd, ref(ai.astype(np.float64), axis=0))
    # expanded input
    e = wgtorch.tensor(a[:, :1, :], device=device).expand(2, 3, 4)
    assert_close(getattr(e, fname)(1), ref(np.broadcast_to(a[:, :1, :], (2, 3, 4)).astype(np.float64), axis=1),
                 rtol=1e-5)
    # in place on a view
    base = wgtorch.tensor(a, device=device)
    getattr(base[0], fname + "_")(1)
    ex = a.astype(np.float64).copy()
    ex[0] = ref(ex[0], axis=1)
    assert_close(base, ex, rtol=1e-5)


def test_cumsum_bool(device):
    out = wgtorch.cumsum(wgtorch.tensor([True, False, True, True], device=device), 0)
    assert out.dtype == wgtorch.int64
    assert_close(out, [1, 1, 2, 3], rtol=0, atol=0)


# cumprod backward with zeros: exact, as torch's (no division by the input)
CUMPROD_ZEROS = {
    "one": [1.5, 0.0, 2.0, -3.0],
    "first": [0.0, 2.0, 3.0, -0.5],
    "last": [2.0, -1.5, 3.0, 0.0],
    "several": [2.0, 0.0, 3.0, 0.0, 4.0, -1.0],
    "adjacent": [2.0, 0.0, 0.0, 3.0],
    "all": [0.0, 0.0, 0.0],
    "single": [0.0],
    "none": [1.5, -2.0, 0.5],
}


def _cumprod_grads(lib, a, g, dim, device=None, create_graph=False):
    """cumprod's gradient w.r.t. x (and, with create_graph, the gradients of |grad|^2 w.r.t. x and g)."""
    kw = {} if device is None else {"device": device}
    x = lib.tensor(a, requires_grad=True, **kw)
    gt = lib.tensor(g, requires_grad=create_graph, **kw)
    (gx,) = lib.autograd.grad(lib.cumprod(x, dim), x, gt, create_graph=create_graph)
    if not create_graph:
        return (gx,)
    second = lib.autograd.grad((gx * gx).sum(), [x, gt], allow_unused=True)  # unused: torch's 1-element case
    return (gx,) + tuple(lib.zeros_like(t) if s is None else s for s, t in zip(second, (x, gt)))


def _cumprod_vjp(x, g):
    """cumprod's create_graph gradient as a function of (x, g), for gradcheck's second derivatives."""
    with wgtorch.enable_grad():  # gradcheck's finite differences run under no_grad
        x = x if x.requires_grad else x.detach().requires_grad_()
        return wgtorch.autograd.grad(wgtorch.cumprod(x, 0), x, g, create_graph=True)[0]


@pytest.mark.parametrize("case", list(CUMPROD_ZEROS))
def test_cumprod_grad_zeros_matches_torch(device, oracle, case):
    a = np.array(CUMPROD_ZEROS[case], dtype=np.float32)
    g = rand(a.shape, seed=3)
    for create_graph in (False, True):
        ours = _cumprod_grads(wgtorch, a, g, 0, device, create_graph)
        theirs = _cumprod_grads(oracle, a.astype(np.float64), g.astype(np.float64), 0, None, create_graph)
        for o, t in zip(ours, theirs):
            assert np.isfinite(to_np(o)).all()
            assert_close(o, t, rtol=1e-5, atol=1e-5)


def test_cumprod_grad_zeros_dims_layouts(device, oracle):
    a = rand((3, 4, 5), seed=21)
    a[np.abs(a) < 1.2] = 0.0  # about 40% zeros: rows with none, one and several
    a[0, 0, :] = 0.0
    g = rand(a.shape, seed=22)
    for dim in (0, 1, 2, -1, -2, -3):
        ref = _cumprod_grads(oracle, a.astype(np.float64), g.astype(np.float64), dim)[0]
        for lay, x in layouts(a, device):
            x.requires_grad_(True)
            (gx,) = wgtorch.autograd.grad(wgtorch.cumprod(x, dim), x, wgtorch.tensor(g, device=device))
            assert_close(gx, ref, rtol=1e-5, atol=1e-5)


def test_cumprod_double_backward_zeros_dims(device, oracle):
    a = rand((3, 4), seed=23)
    a[np.abs(a) < 1.0] = 0.0
    g = rand(a.shape, seed=24)
    for dim in (0, 1, -1):
        ours = _cumprod_grads(wgtorch, a, g, dim, device, create_graph=True)
        theirs = _cumprod_grads(oracle, a.astype(np.float64), g.astype(np.float64), dim, None, True)
        for o, t in zip(ours, theirs):
            assert_close(o, t, rtol=1e-4, atol=1e-4)


def test_cumprod_grad_zero_dim_and_empty(device):
    x = wgtorch.tensor(0.0, device=device, requires_grad=True)
    x.cumprod(0).backward(wgtorch.tensor(2.0, device=device))
    assert_close(x.grad, 2.0)
    e = wgtorch.zeros(2, 0, device=device, requires_grad=True)
    e.cumprod(1).sum().backward()
    assert tuple(e.grad.shape) == (2, 0)


@pytest.mark.float64
@pytest.mark.parametrize("case", ["one", "first", "several", "adjacent", "all"])
def test_cumprod_gradcheck_zeros(device, case):
    """Finite differences of cumprod and of its create_graph gradient, at inputs with zeros."""
    needs_float64(device)
    a = np.array(CUMPROD_ZEROS[case])
    g = rand(a.shape, seed=5).astype(np.float64)
    gradcheck(lambda x: wgtorch.cumprod(x, -1), [a])
    gradcheck(_cumprod_vjp, [a, g])


@fixture_ok
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), data=st.data())
def test_cumprod_grad_generated_with_zeros(device, oracle, shape, data):
    vals = data.draw(st.lists(st.sampled_from([0.0, 0.0, -2.0, -0.5, 1.0, 1.5, 3.0]),
                              min_size=math.prod(shape), max_size=math.prod(shape)))
    a = np.array(vals, dtype=np.float32).reshape(shape)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    g = rand(shape, seed=len(vals))
    ours = _cumprod_grads(wgtorch, a, g, dim, device)[0]
    theirs = _cumprod_grads(oracle, a.astype(np.float64), g.astype(np.float64), dim)[0]
    assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------
# topk / sort / argsort / unique
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_topk(device, dim, largest):
    a = distinct((3, 5, 4), seed=15)
    k = 2
    order = np.argsort(-a if largest else a, axis=dim, kind="stable")
    idx = np.take(order, np.arange(k), axis=dim)
    vals = np.take_along_axis(a, idx, axis=dim)
    for lay, x in layouts(a, device):
        r = wgtorch.topk(x, k, dim=dim, largest=largest)
        assert type(r).__name__ == "topk"
        v, i = r
        assert tuple(v.shape) == vals.shape
        assert i.dtype == wgtorch.int64
        assert_close(r.values, vals, rtol=0, atol=0)
        assert_close(r.indices, idx, rtol=0, atol=0)
        r2 = x.topk(k, dim, largest)
        assert_close(r2.values, vals, rtol=0, atol=0)


def test_topk_default_last_dim_and_errors(device):
    x = wgtorch.tensor([[3.0, 1.0, 2.0, 5.0], [0.0, -1.0, 4.0, 2.0]], device=device)
    r = x.topk(3)
    assert_close(r.values, [[5, 3, 2], [4, 2, 0]])
    assert_close(r.indices, [[3, 0, 2], [2, 3, 0]], rtol=0, atol=0)
    with pytest.raises(RuntimeError):
        x.topk(5)


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_sort_distinct(device, dim, descending):
    a = distinct((3, 4, 5), seed=16)
    order = np.argsort(-a if descending else a, axis=dim, kind="stable")
    vals = np.take_along_axis(a, order, axis=dim)
    for lay, x in layouts(a, device):
        r = wgtorch.sort(x, dim=dim, descending=descending)
        assert_close(r.values, vals, rtol=0, atol=0)
        assert_close(r.indices, order, rtol=0, atol=0)
        assert_close(wgtorch.argsort(x, dim=dim, descending=descending), order, rtol=0, atol=0)
        assert_close(x.sort(dim, descending).values, vals, rtol=0, atol=0)
        assert_close(x.argsort(dim, descending), order, rtol=0, atol=0)


@pytest.mark.parametrize("descending", [False, True])
def test_sort_stable_with_ties(device, descending):
    a = np.array([[2, 1, 2, 1, 3, 1, 2], [0, 0, 0, 0, 0, 0, 0]], dtype=np.int64)
    x = wgtorch.tensor(a, device=device)
    # NumPy's stable argsort of the negated keys keeps equal keys in input order, as torch does
    order = np.argsort(-a if descending else a, axis=1, kind="stable")
    r = wgtorch.sort(x, dim=1, descending=descending, stable=True)
    assert_close(r.indices, order, rtol=0, atol=0)
    assert_close(r.values, np.take_along_axis(a, order, 1), rtol=0, atol=0)
    assert_close(wgtorch.argsort(x, dim=1, descending=descending, stable=True), order, rtol=0, atol=0)
    xf = wgtorch.tensor(a.astype(np.float32), device=device)
    assert_close(xf.sort(stable=True, descending=descending).indices, order, rtol=0, atol=0)


def test_sort_nan_last(device):
    x = wgtorch.tensor([2.0, NAN, 1.0, -INF, INF], device=device)
    r = x.sort()
    assert_close(r.values, [-INF, 1.0, 2.0, INF, NAN])
    assert_close(r.indices, [3, 2, 0, 4, 1], rtol=0, atol=0)
    r = x.sort(descending=True)
    assert_close(r.values, [NAN, INF, 2.0, 1.0, -INF])
    assert_close(r.indices, [1, 4, 0, 2, 3], rtol=0, atol=0)


def test_sort_matches_torch(device, oracle):
    a = [[3, 1, 2, 1, 3], [5, 5, 4, 4, 4]]
    for kw in [dict(), dict(descending=True, stable=True), dict(stable=True), dict(dim=0, stable=True)]:
        ours = wgtorch.sort(wgtorch.tensor(a, device=device), **kw)
        theirs = oracle.sort(oracle.tensor(a), **kw)
        assert_close(ours.values, theirs.values)
        assert_close(ours.indices, theirs.indices)


def test_unique(device):
    a = np.array([[3, 1, 3], [2, 7, 1], [1, 1, 0]])
    x = wgtorch.tensor(a, device=device)
    u = wgtorch.unique(x)
    uniq, inv, cnt = np.unique(a, return_inverse=True, return_counts=True)
    assert u.dtype == wgtorch.int64
    assert_close(u, uniq, rtol=0, atol=0)
    u2, inv2 = wgtorch.unique(x, return_inverse=True)
    assert_close(u2, uniq, rtol=0, atol=0)
    assert tuple(inv2.shape) == a.shape  # the inverse has the input's shape
    assert inv2.dtype == wgtorch.int64
    assert_close(inv2, inv.reshape(a.shape), rtol=0, atol=0)
    assert_close(u2[inv2], a, rtol=0, atol=0)
    u3, cnt3 = wgtorch.unique(x, return_counts=True)
    assert_close(cnt3, cnt, rtol=0, atol=0)
    u4, inv4, cnt4 = x.unique(sorted=True, return_inverse=True, return_counts=True)
    assert_close(u4, uniq, rtol=0, atol=0)
    assert_close(inv4, inv.reshape(a.shape), rtol=0, atol=0)
    assert_close(cnt4, cnt, rtol=0, atol=0)
    # float and non-contiguous
    f = np.array([[0.5, -1.0], [0.5, 2.0], [-1.0, 0.5]], dtype=np.float32)
    xf = wgtorch.tensor(f.T.copy(), device=device).t()
    uf, cf = wgtorch.unique(xf, return_counts=True)
    assert uf.dtype == wgtorch.float32
    assert_close(uf, np.unique(f))
    assert_close(cf, np.unique(f, return_counts=True)[1], rtol=0, atol=0)


def test_unique_matches_torch(device, oracle):
    a = [[3, 1, 3], [2, 7, 1]]
    ours = wgtorch.unique(wgtorch.tensor(a, device=device), return_inverse=True, return_counts=True)
    theirs = oracle.unique(oracle.tensor(a), return_inverse=True, return_counts=True)
    for o, t in zip(ours, theirs):
        assert str(o.dtype) == str(t.dtype)
        assert_close(o, t)


@fixture_ok
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple), data=st.data())
def test_sort_generated_with_ties(device, shape, data):
    a = np.random.default_rng(len(shape)).integers(0, 4, size=shape).astype(np.float32)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    desc = data.draw(st.booleans())
    r = wgtorch.sort(wgtorch.tensor(a, device=device), dim=dim, descending=desc, stable=True)
    order = np.argsort(-a if desc else a, axis=dim, kind="stable")
    assert_close(r.indices, order, rtol=0, atol=0)
    assert_close(r.values, np.take_along_axis(a, order, axis=dim), rtol=0, atol=0)


def test_dim_as_list(device):
    a = rand((2, 3, 4), seed=21)
    x = wgtorch.tensor(a, device=device)
    assert_close(wgtorch.sum(x, [0, 2]), a.astype(np.float64).sum((0, 2)), rtol=1e-5)
    assert_close(x.mean([-1, 0], keepdim=True), a.astype(np.float64).mean((2, 0), keepdims=True), rtol=1e-5)
    assert_close(x.amax([1, 2]), a.max((1, 2)))
    assert_close(x.std([0, 1]), a.astype(np.float64).std((0, 1), ddof=1), rtol=1e-5)


def test_sum_mean_keyword_forms(device):
    a = rand((3, 4), seed=22)
    x = wgtorch.tensor(a, device=device)
    assert_close(wgtorch.sum(x, dim=1, keepdim=True), a.astype(np.float64).sum(1, keepdims=True), rtol=1e-5)
    assert_close(x.sum(dim=-2), a.astype(np.float64).sum(0), rtol=1e-5)
    assert_close(wgtorch.mean(x, dim=(0, 1)), a.astype(np.float64).mean(), rtol=1e-5)
    assert_close(x.prod(dim=0), np.prod(a.astype(np.float64), 0), rtol=1e-5)
    assert_close(wgtorch.max(x, dim=1).values, a.max(1))
    assert_close(x.min(dim=0, keepdim=True)[1], a.argmin(0)[None], rtol=0, atol=0)


@pytest.mark.parametrize("dtype", ["float32", "int32"])
@pytest.mark.parametrize("fname", ["argmax", "argmin"])
def test_arg_reduction_short_middle_dim_ties_nan(device, oracle, fname, dtype):
    """A short dim that is not the last over a large tensor (max pooling's windows): many ties,
    and NaNs in floats; the first of ties, and the first NaN, as torch."""
    rng = np.random.default_rng(7)
    a = rng.integers(0, 3, (20, 6, 4, 9, 11)).astype(dtype)
    if dtype == "float32":
        a[rng.random(a.shape) < 0.01] = np.nan
    x = wgtorch.tensor(a, device=device)
    for dim in (1, 2, 3):
        for keepdim in (False, True):
            want = getattr(oracle.tensor(a), fname)(dim, keepdim=keepdim).numpy()
            assert_close(getattr(x, fname)(dim, keepdim=keepdim), want, rtol=0, atol=0)


@pytest.mark.parametrize("dim, keepdim", [(None, False), (0, False), (1, True), (-1, False)])
def test_aminmax_matches_torch(oracle, device, dim, keepdim):
    a = np.random.default_rng(4).standard_normal((3, 5)).astype(np.float32)
    x, t = wgtorch.tensor(a, device=device), oracle.tensor(a)
    kw = {} if dim is None else {"dim": dim, "keepdim": keepdim}
    got, want = wgtorch.aminmax(x, **kw), oracle.aminmax(t, **kw)
    assert got._fields == ("min", "max")
    for g, w in ((got.min, want.min), (got.max, want.max)):
        assert tuple(g.shape) == tuple(w.shape)
        assert_close(g, w.numpy(), rtol=0, atol=0)
    assert_close(x.aminmax(**kw).max, want.max.numpy(), rtol=0, atol=0)
    assert repr(got).startswith("torch.return_types.aminmax(")
    with pytest.raises(RuntimeError, match="cannot compute aminmax over an empty dimension"):
        wgtorch.aminmax(wgtorch.zeros(0, device=device))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.lists(st.integers(0, 9), min_size=0, max_size=3), data=st.data(), dt=st.sampled_from(["float32", "int64"]),
       nans=st.booleans())
def test_cummax_cummin_match_torch(oracle, device, shape, data, dt, nans):
    """Values, indices (ties and NaN go to the later element) and gradients (through the indices)."""
    shape = tuple(shape)
    dim = data.draw(st.integers(-max(len(shape), 1), max(len(shape), 1) - 1))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    a = rng.integers(-2, 3, shape).astype(dt)  # few values: many ties
    if nans and dt == "float32" and a.size:
        a.reshape(-1)[rng.integers(0, a.size, 2)] = np.nan
    grad = dt == "float32"
    for name in ("cummax", "cummin"):
        x, t = wgtorch.tensor(a, device=device, requires_grad=grad), oracle.tensor(a, requires_grad=grad)
        got, want = getattr(wgtorch, name)(x, dim), getattr(oracle, name)(t, dim)
        assert repr(got).startswith(f"torch.return_types.{name}(")
        assert_close(got.values, want.values.detach().numpy(), rtol=0, atol=0)
        np.testing.assert_array_equal(got.indices.cpu().numpy(), want.indices.numpy())
        assert got.indices.dtype == wgtorch.int64
        if grad:
            g = rng.standard_normal(a.shape).astype(np.float32)
            (got.values * wgtorch.tensor(g, device=device)).sum().backward()
            (want.values * oracle.tensor(g)).sum().backward()
            assert_close(x.grad, t.grad.numpy(), rtol=1e-6, atol=1e-6)
    assert_close(x.cummax(dim).values, oracle.cummax(t, dim).values.detach().numpy(), rtol=0, atol=0)
