"""Tensor creation, random numbers and basic tensor attributes, checked against
NumPy and (when installed) real PyTorch."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import wgtorch
from conftest import assert_close, to_np

fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

shapes = st.lists(st.integers(0, 4), min_size=0, max_size=4).map(tuple)


def contiguous_strides(shape):
    """Row-major strides in elements, as PyTorch computes them (size-0 dims count as 1)."""
    strides, acc = [], 1
    for n in reversed(shape):
        strides.append(acc)
        acc *= max(n, 1)
    return tuple(reversed(strides))


# ---------------------------------------------------------------------------
# wgtorch.tensor: dtype inference
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("data, expected", [
    (3, "int64"),
    (2.5, "float32"),
    (True, "bool"),
    ([1, 2, 3], "int64"),
    ([1.0, 2.0], "float32"),
    ([True, False], "bool"),
    ([1, 2.0], "float32"),
    ([[1, 2], [3, 4.5]], "float32"),
    ([1, 2.0, True], "float32"),
    ([True, 2], "int64"),
    ([], "float32"),
    ([[[1], [2]], [[3], [4]]], "int64"),
])
def test_tensor_dtype_inference(device, data, expected):
    t = wgtorch.tensor(data, device=device)
    assert t.dtype == getattr(wgtorch, expected)
    ref = np.array(data, dtype=np.float64 if expected.startswith("float") else None)
    assert tuple(t.shape) == ref.shape
    assert_close(t, ref)


@pytest.mark.parametrize("data", [3, 2.5, True, [1, 2.0], [[1, 2], [3, 4]], [[True], [False]], []])
def test_tensor_dtype_inference_matches_torch(device, oracle, data):
    t = wgtorch.tensor(data, device=device)
    r = oracle.tensor(data)
    assert str(t.dtype) == str(r.dtype)
    assert tuple(t.shape) == tuple(r.shape)
    assert_close(t, r)


def test_tensor_values_and_scalars(device):
    t = wgtorch.tensor([[1.5, -2.25], [3.0, 0.1]], device=device)
    assert_close(t, np.array([[1.5, -2.25], [3.0, 0.1]], dtype=np.float32), rtol=0, atol=0)
    s = wgtorch.tensor(7, device=device)
    assert s.shape == () and s.ndim == 0 and s.numel() == 1
    assert s.item() == 7 and type(s.item()) is int
    f = wgtorch.tensor(0.1, device=device)
    assert f.item() == float(np.float32(0.1))  # stored as float32
    assert type(f.item()) is float
    b = wgtorch.tensor(True, device=device)
    assert b.item() is True


@pytest.mark.parametrize("npdtype", [np.float64, np.float32, np.float16, np.int64, np.int32,
                                     np.int16, np.int8, np.uint8, np.bool_])
def test_tensor_from_numpy_array_keeps_dtype(device, npdtype):
    a = (np.arange(6).reshape(2, 3) % 3).astype(npdtype)
    t = wgtorch.tensor(a, device=device)
    assert t.dtype == getattr(wgtorch, np.dtype(npdtype).name if npdtype is not np.bool_ else "bool")
    assert t.dtype.itemsize == np.dtype(npdtype).itemsize
    assert_close(t, a, rtol=0, atol=0)
    # tensor() copies: changing the array afterwards does not change the tensor
    saved = a.copy()
    a[...] = ~a if npdtype is np.bool_ else a + 1
    assert_close(t, saved, rtol=0, atol=0)


@pytest.mark.float64
def test_tensor_from_numpy_scalars(device):
    assert wgtorch.tensor(np.float64(1.5), device=device).dtype == wgtorch.float64
    assert wgtorch.tensor(np.int32(3), device=device).dtype == wgtorch.int32


def test_tensor_from_noncontiguous_numpy(device):
    a = np.arange(24, dtype=np.float32).reshape(4, 6)
    for view in (a.T, a[::2, 1::3], a[1:, 2:5]):
        assert_close(wgtorch.tensor(view, device=device), view, rtol=0, atol=0)


def test_tensor_from_list_of_0d_tensors(device):
    parts = [wgtorch.tensor(1.5, device=device), wgtorch.tensor(-2.0, device=device)]
    t = wgtorch.tensor(parts, device=device)
    assert t.dtype == wgtorch.float32
    assert_close(t, np.array([1.5, -2.0]))


@pytest.mark.parametrize("dt", ["float64", "float16", "int32", "int8", "uint8", "bool", "int16"])
def test_tensor_explicit_dtype(device, dt):
    data = [[0, 1, 2], [3, 1, 0]]
    t = wgtorch.tensor(data, dtype=getattr(wgtorch, dt), device=device)
    assert t.dtype == getattr(wgtorch, dt)
    assert_close(t, np.array(data).astype(dt), rtol=0, atol=0)


def test_tensor_explicit_dtype_truncates_floats(device):
    t = wgtorch.tensor([-1.7, -0.5, 0.5, 1.7, 2.999], dtype=wgtorch.int64, device=device)
    assert t.tolist() == [-1, 0, 0, 1, 2]


def test_tensor_device_attribute(device):
    t = wgtorch.tensor([1, 2], device=device)
    assert t.device.type == wgtorch.device(device).type
    assert wgtorch.tensor([1.0]).device.type == "cpu"
    assert str(wgtorch.tensor([1.0]).device) == "cpu"


def test_tensor_requires_grad(device):
    t = wgtorch.tensor([1.0, 2.0], requires_grad=True, device=device)
    assert t.requires_grad and t.is_leaf
    assert not wgtorch.tensor([1.0, 2.0], device=device).requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        wgtorch.tensor([1, 2], requires_grad=True, device=device)


def test_tensor_bad_input():
    with pytest.raises(ValueError):
        wgtorch.tensor([[1, 2], [3]])
    with pytest.raises(TypeError):
        wgtorch.tensor("abc")


def test_tensor_bad_input_matches_torch(oracle):
    for bad in ([[1, 2], [3]], "abc"):
        with pytest.raises(Exception) as ref:
            oracle.tensor(bad)
        with pytest.raises(Exception) as got:
            wgtorch.tensor(bad)
        assert type(got.value) is type(ref.value)


# ---------------------------------------------------------------------------
# as_tensor / from_numpy / numpy(): memory sharing
# ---------------------------------------------------------------------------

def test_from_numpy_shares_memory():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = wgtorch.from_numpy(a)
    assert t.dtype == wgtorch.float32 and t.shape == (2, 3)
    np.add(a, 1, out=a)
    assert_close(t, np.arange(1, 7, dtype=np.float32).reshape(2, 3), rtol=0, atol=0)
    t[1, 2] = -5.0
    assert a[1, 2] == -5.0


@pytest.mark.parametrize("npdtype", [np.float64, np.int64, np.int32, np.uint8, np.bool_, np.float16])
def test_from_numpy_keeps_dtype(npdtype):
    a = np.ones((3,), dtype=npdtype)
    t = wgtorch.from_numpy(a)
    assert t.dtype.itemsize == a.dtype.itemsize
    assert to_np(t).dtype == a.dtype


def test_from_numpy_noncontiguous_shares_memory():
    base = np.arange(12, dtype=np.float64).reshape(3, 4)
    view = base[:, ::2]
    t = wgtorch.from_numpy(view)
    assert t.shape == (3, 2)
    assert t.stride() == (4, 2)
    assert_close(t, view, rtol=0, atol=0)
    base[2, 2] = 100.0
    assert t[2, 1].item() == 100.0
    tt = wgtorch.from_numpy(base.T)
    assert tt.stride() == (1, 4)
    assert_close(tt, base.T, rtol=0, atol=0)


def test_from_numpy_rejects_non_arrays():
    with pytest.raises(TypeError):
        wgtorch.from_numpy([1, 2, 3])


def test_numpy_shares_memory():
    t = wgtorch.zeros(2, 3)
    n = t.numpy()
    assert isinstance(n, np.ndarray) and n.dtype == np.float32 and n.shape == (2, 3)
    t[0, 1] = 4.0
    assert n[0, 1] == 4.0
    t.add_(1)
    assert n[0, 0] == 1.0 and n[0, 1] == 5.0
    n[1, 1] = -3.0
    assert t[1, 1].item() == -3.0


def test_numpy_of_view_shares_memory():
    t = wgtorch.arange(12.0).reshape(3, 4)
    n = t.t().numpy()
    assert n.shape == (4, 3)
    np.testing.assert_array_equal(n, np.arange(12.0).reshape(3, 4).T)
    t[2, 0] = 99.0
    assert n[0, 2] == 99.0


def test_numpy_requires_grad_raises():
    t = wgtorch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError):
        t.numpy()
    np.testing.assert_array_equal(t.detach().numpy(), np.ones(2, dtype=np.float32))


@pytest.mark.float64
def test_as_tensor(device):
    a = np.arange(4, dtype=np.float64)
    t = wgtorch.as_tensor(a)
    assert t.dtype == wgtorch.float64
    a[0] = 10.0  # shares memory: same dtype, cpu
    assert t[0].item() == 10.0
    c = wgtorch.as_tensor(a, dtype=wgtorch.float32)  # conversion: a copy
    assert c.dtype == wgtorch.float32
    a[1] = 20.0
    assert c[1].item() == 1.0
    lst = wgtorch.as_tensor([1, 2, 3], device=device)
    assert lst.dtype == wgtorch.int64
    assert_close(lst, np.array([1, 2, 3]))
    x = wgtorch.ones(3, device=device)
    assert wgtorch.as_tensor(x) is x
    assert wgtorch.as_tensor(x, dtype=wgtorch.float64).dtype == wgtorch.float64


# ---------------------------------------------------------------------------
# zeros / ones / full / empty / eye
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("fn", ["zeros", "ones", "empty"])
def test_constant_shapes(device, fn):
    f = getattr(wgtorch, fn)
    for args in [(2, 3), ((2, 3),), ([2, 3],), (wgtorch.Size([2, 3]),)]:
        t = f(*args, device=device)
        assert t.shape == (2, 3) and t.dtype == wgtorch.float32
        assert t.is_contiguous()
    assert f((), device=device).shape == ()
    assert f(0, device=device).shape == (0,)
    assert f(3, 0, 2, device=device).numel() == 0
    assert f(4, dtype=wgtorch.int64, device=device).dtype == wgtorch.int64
    assert f(4, dtype=wgtorch.bool, device=device).dtype == wgtorch.bool
    assert f(4, requires_grad=True, device=device).requires_grad


def test_zeros_ones_values(device):
    assert_close(wgtorch.zeros(2, 3, device=device), np.zeros((2, 3)), rtol=0, atol=0)
    assert_close(wgtorch.ones(2, 3, dtype=wgtorch.int32, device=device), np.ones((2, 3)), rtol=0, atol=0)
    assert wgtorch.ones(2, dtype=wgtorch.bool, device=device).tolist() == [True, True]


def test_creation_bad_sizes():
    with pytest.raises(RuntimeError):
        wgtorch.zeros(-1)
    with pytest.raises(RuntimeError):
        wgtorch.ones(2, -3)
    with pytest.raises(TypeError):
        wgtorch.zeros("a")
    with pytest.raises(TypeError):
        wgtorch.zeros(2.5)


@pytest.mark.parametrize("fill, dtype", [(7, "int64"), (1.5, "float32"), (True, "bool"), (-2, "int64")])
def test_full_dtype_inference(device, fill, dtype):
    t = wgtorch.full((2, 3), fill, device=device)
    assert t.dtype == getattr(wgtorch, dtype)
    assert_close(t, np.full((2, 3), fill), rtol=0, atol=0)


def test_full_matches_torch(device, oracle):
    for fill in (7, 1.5, True):
        assert str(wgtorch.full((2,), fill, device=device).dtype) == str(oracle.full((2,), fill).dtype)


@pytest.mark.float64
def test_full_explicit_dtype(device):
    t = wgtorch.full([3], 1.5, dtype=wgtorch.float64, device=device)
    assert t.dtype == wgtorch.float64
    assert_close(t, np.full(3, 1.5))
    t = wgtorch.full((2, 2), 1.9, dtype=wgtorch.int64, device=device)
    assert t.tolist() == [[1, 1], [1, 1]]


def test_eye(device):
    assert_close(wgtorch.eye(3, device=device), np.eye(3), rtol=0, atol=0)
    assert wgtorch.eye(3, device=device).dtype == wgtorch.float32
    assert_close(wgtorch.eye(2, 4, device=device), np.eye(2, 4), rtol=0, atol=0)
    assert_close(wgtorch.eye(4, 2, device=device), np.eye(4, 2), rtol=0, atol=0)
    t = wgtorch.eye(3, dtype=wgtorch.int64, device=device)
    assert t.dtype == wgtorch.int64 and t.tolist() == np.eye(3, dtype=np.int64).tolist()
    assert wgtorch.eye(0, device=device).shape == (0, 0)


def test_empty_is_writable(device):
    t = wgtorch.empty(2, 3, device=device)
    t.fill_(2.5)
    assert_close(t, np.full((2, 3), 2.5))


# ---------------------------------------------------------------------------
# arange / linspace
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("args", [(5,), (2, 9), (1, 10, 3), (10, 0, -2), (0, 0), (-3, 3)])
def test_arange_ints(device, args):
    t = wgtorch.arange(*args, device=device)
    assert t.dtype == wgtorch.int64
    assert_close(t, np.arange(*args), rtol=0, atol=0)


@pytest.mark.parametrize("args", [(0, 1, 0.1), (0.0, 5), (0, 5, 1.5), (-1.5, 1.0, 0.5), (5.0,), (1, 0, -0.25)])
def test_arange_floats(device, args):
    t = wgtorch.arange(*args, device=device)
    assert t.dtype == wgtorch.float32
    ref = np.arange(*args, dtype=np.float64)
    assert t.shape == ref.shape
    assert_close(t, ref, rtol=1e-6, atol=1e-6)


def test_arange_matches_torch(device, oracle):
    for args in [(0, 1, 0.1), (0, 5, 1.5), (1, 2.5, 0.3), (-1, 1, 0.2), (10,), (3, 17, 4)]:
        t, r = wgtorch.arange(*args, device=device), oracle.arange(*args)
        assert str(t.dtype) == str(r.dtype)
        assert tuple(t.shape) == tuple(r.shape), args
        assert_close(t, r, rtol=1e-6, atol=1e-7)


@pytest.mark.float64
def test_arange_dtype_kwarg(device):
    t = wgtorch.arange(5, dtype=wgtorch.float32, device=device)
    assert t.dtype == wgtorch.float32
    assert_close(t, np.arange(5.0))
    t = wgtorch.arange(0, 6, 2, dtype=wgtorch.float64, device=device)
    assert t.dtype == wgtorch.float64
    assert_close(t, np.arange(0.0, 6, 2))
    assert wgtorch.arange(start=1, end=4, device=device).tolist() == [1, 2, 3]


def test_arange_errors():
    with pytest.raises(RuntimeError):
        wgtorch.arange(0, 1, 0)
    with pytest.raises(RuntimeError):
        wgtorch.arange(1, 0)
    with pytest.raises(RuntimeError):
        wgtorch.arange(0, 5, -1)


@pytest.mark.parametrize("start, end, steps", [(0, 1, 5), (0, 10, 11), (-1, 1, 2), (3, 3, 4), (0, 1, 1), (0, 1, 0), (5, -5, 7)])
def test_linspace(device, start, end, steps):
    t = wgtorch.linspace(start, end, steps, device=device)
    assert t.dtype == wgtorch.float32
    assert_close(t, np.linspace(start, end, steps), rtol=1e-6, atol=1e-6)


@pytest.mark.float64
def test_linspace_kwargs_and_dtype(device):
    t = wgtorch.linspace(0, 1, steps=3, dtype=wgtorch.float64, device=device)
    assert t.dtype == wgtorch.float64
    assert_close(t, np.linspace(0, 1, 3), rtol=0, atol=1e-15)
    with pytest.raises(RuntimeError):
        wgtorch.linspace(0, 1, -1)


def test_linspace_matches_torch(device, oracle):
    for args in [(0, 1, 7), (-2.5, 3.5, 13), (1, 100, 50)]:
        assert_close(wgtorch.linspace(*args, device=device), oracle.linspace(*args), rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------
# *_like
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("src_dtype", ["float32", "float64", "int64", "int32", "bool"])
def test_like_functions_keep_shape_and_dtype(device, src_dtype):
    x = wgtorch.zeros(2, 3, dtype=getattr(wgtorch, src_dtype), device=device)
    dt = getattr(wgtorch, src_dtype)
    for fn, ref in [("zeros_like", np.zeros((2, 3))), ("ones_like", np.ones((2, 3))), ("empty_like", None)]:
        t = getattr(wgtorch, fn)(x)
        assert t.shape == (2, 3) and t.dtype == dt and t.device == x.device
        if ref is not None:
            assert_close(t, ref.astype(src_dtype if src_dtype != "bool" else bool), rtol=0, atol=0)
    f = wgtorch.full_like(x, 1)
    assert f.dtype == dt
    assert_close(f, np.ones((2, 3)), rtol=0, atol=0)


@pytest.mark.float64
def test_like_functions_dtype_override_and_noncontiguous(device):
    x = wgtorch.arange(12, device=device).reshape(3, 4).t()[:, ::2]
    assert x.shape == (4, 2)
    z = wgtorch.zeros_like(x, dtype=wgtorch.float64)
    assert z.shape == (4, 2) and z.dtype == wgtorch.float64
    o = wgtorch.ones_like(x)
    assert o.dtype == wgtorch.int64
    assert_close(o, np.ones((4, 2)))
    f = wgtorch.full_like(x, 2.7)  # int64 like: fill truncated
    assert f.dtype == wgtorch.int64 and f.tolist() == [[2, 2]] * 4
    f = wgtorch.full_like(x, 2.5, dtype=wgtorch.float32)
    assert_close(f, np.full((4, 2), 2.5))
    e = wgtorch.empty_like(x, dtype=wgtorch.int32)
    assert e.shape == (4, 2) and e.dtype == wgtorch.int32
    r = wgtorch.rand_like(x, dtype=wgtorch.float32)
    assert r.shape == (4, 2) and r.dtype == wgtorch.float32


def test_like_requires_grad(device):
    x = wgtorch.ones(3, device=device)
    assert wgtorch.zeros_like(x, requires_grad=True).requires_grad
    y = wgtorch.ones(3, requires_grad=True, device=device)
    assert not wgtorch.zeros_like(y).requires_grad


@pytest.mark.float64
def test_rand_like_randn_like(device):
    wgtorch.manual_seed(2024)  # statistics on a fixed stream: never flaky
    x = wgtorch.zeros(200, 50, dtype=wgtorch.float64, device=device)
    r = wgtorch.rand_like(x)
    assert r.shape == x.shape and r.dtype == wgtorch.float64
    rn = to_np(r)
    assert rn.min() >= 0 and rn.max() < 1 and abs(rn.mean() - 0.5) < 0.02
    n = wgtorch.randn_like(x)
    assert n.shape == x.shape and n.dtype == wgtorch.float64
    nn = to_np(n)
    assert abs(nn.mean()) < 0.05 and abs(nn.std() - 1) < 0.05


# ---------------------------------------------------------------------------
# random numbers
# ---------------------------------------------------------------------------

@pytest.mark.float64
def test_rand_shapes_dtypes_range(device):
    wgtorch.manual_seed(2024)  # statistics on a fixed stream: never flaky
    for args, expected in [((5,), (5,)), ((2, 3), (2, 3)), (((2, 3),), (2, 3)), (([4],), (4,)),
                           ((wgtorch.Size([1, 2, 3]),), (1, 2, 3))]:
        t = wgtorch.rand(*args, device=device)
        assert t.dtype == wgtorch.float32
        assert t.shape == expected
    assert wgtorch.rand((), device=device).shape == ()
    assert wgtorch.rand(0, device=device).shape == (0,)
    x = to_np(wgtorch.rand(100000, device=device))
    assert x.min() >= 0.0 and x.max() < 1.0
    assert abs(x.mean() - 0.5) < 0.01
    assert abs(x.std() - math.sqrt(1 / 12)) < 0.01
    assert np.histogram(x, bins=10, range=(0, 1))[0].min() > 9000
    assert wgtorch.rand(3, dtype=wgtorch.float64, device=device).dtype == wgtorch.float64
    assert wgtorch.rand(3, requires_grad=True, device=device).requires_grad


@pytest.mark.float64
def test_randn_statistics(device):
    wgtorch.manual_seed(2024)  # statistics on a fixed stream: never flaky
    t = wgtorch.randn(200, 500, device=device)
    assert t.shape == (200, 500) and t.dtype == wgtorch.float32
    x = to_np(t).astype(np.float64)
    assert abs(x.mean()) < 0.01
    assert abs(x.std() - 1.0) < 0.01
    assert 0.66 < np.mean(np.abs(x) < 1) < 0.70
    assert wgtorch.randn(2, 3, dtype=wgtorch.float64, device=device).dtype == wgtorch.float64
    assert wgtorch.randn((), device=device).shape == ()


def test_randint(device):
    wgtorch.manual_seed(2024)  # statistics on a fixed stream: never flaky
    t = wgtorch.randint(3, 10, (5000,), device=device)
    assert t.dtype == wgtorch.int64 and t.shape == (5000,)
    x = to_np(t)
    assert x.min() == 3 and x.max() == 9
    assert set(np.unique(x)) == set(range(3, 10))
    t = wgtorch.randint(4, (2, 3), device=device)
    assert t.shape == (2, 3) and t.dtype == wgtorch.int64
    assert to_np(t).min() >= 0 and to_np(t).max() < 4
    t = wgtorch.randint(-5, 5, size=(100,), dtype=wgtorch.int32, device=device)
    assert t.dtype == wgtorch.int32 and to_np(t).min() >= -5 and to_np(t).max() < 5
    with pytest.raises(RuntimeError):
        wgtorch.randint(5, 3, (2,))


def test_randperm(device):
    for n in (0, 1, 7, 100):
        t = wgtorch.randperm(n, device=device)
        assert t.dtype == wgtorch.int64 and t.shape == (n,)
        np.testing.assert_array_equal(np.sort(to_np(t)), np.arange(n))
    wgtorch.manual_seed(0)
    assert not np.array_equal(to_np(wgtorch.randperm(50, device=device)), np.arange(50))
    assert wgtorch.randperm(5, dtype=wgtorch.int32, device=device).dtype == wgtorch.int32


def test_normal(device):
    wgtorch.manual_seed(2024)  # statistics on a fixed stream: never flaky
    t = wgtorch.normal(2.0, 3.0, size=(100000,), device=device)
    assert t.shape == (100000,) and t.dtype == wgtorch.float32
    x = to_np(t).astype(np.float64)
    assert abs(x.mean() - 2.0) < 0.05 and abs(x.std() - 3.0) < 0.05
    mean = wgtorch.tensor([0.0, 10.0, -10.0], device=device).expand(20000, 3)
    std = wgtorch.tensor([1.0, 0.1, 2.0], device=device)
    t = wgtorch.normal(mean, std.expand(20000, 3))
    assert t.shape == (20000, 3)
    x = to_np(t).astype(np.float64)
    assert_close(x.mean(0), np.array([0.0, 10.0, -10.0]), rtol=0, atol=0.05)
    assert_close(x.std(0), np.array([1.0, 0.1, 2.0]), rtol=0.05, atol=0)
    t = wgtorch.normal(wgtorch.zeros(10000, device=device), 0.5)
    assert abs(to_np(t).std() - 0.5) < 0.02


def test_manual_seed_determinism(device):
    wgtorch.manual_seed(1234)
    a = [to_np(wgtorch.rand(5, device=device)), to_np(wgtorch.randn(2, 3, device=device)),
         to_np(wgtorch.randint(0, 100, (7,), device=device)), to_np(wgtorch.randperm(9, device=device))]
    wgtorch.manual_seed(1234)
    b = [to_np(wgtorch.rand(5, device=device)), to_np(wgtorch.randn(2, 3, device=device)),
         to_np(wgtorch.randint(0, 100, (7,), device=device)), to_np(wgtorch.randperm(9, device=device))]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    c = to_np(wgtorch.rand(5, device=device))
    assert not np.array_equal(c, a[0])  # the stream moves on
    wgtorch.manual_seed(4321)
    assert not np.array_equal(to_np(wgtorch.rand(5, device=device)), a[0])


def test_generator(device):
    g1 = wgtorch.Generator().manual_seed(7)
    assert isinstance(g1, wgtorch.Generator)
    g2 = wgtorch.Generator()
    g2.manual_seed(7)
    a = to_np(wgtorch.rand(6, generator=g1, device=device))
    b = to_np(wgtorch.rand(6, generator=g2, device=device))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(to_np(wgtorch.randn(4, generator=g1, device=device)),
                                  to_np(wgtorch.randn(4, generator=g2, device=device)))
    # a private generator does not touch the global stream
    wgtorch.manual_seed(3)
    ref = to_np(wgtorch.rand(4, device=device))
    wgtorch.manual_seed(3)
    wgtorch.rand(10, generator=wgtorch.Generator().manual_seed(0), device=device)
    np.testing.assert_array_equal(to_np(wgtorch.rand(4, device=device)), ref)


@pytest.mark.parametrize("seed", [0, 1, 42, 2**31 + 5])
@pytest.mark.parametrize("shape", [(1,), (5,), (16,), (100,), (3, 7), (1000,)])
def test_rand_bit_exact_with_torch(oracle, seed, shape):
    oracle.manual_seed(seed)
    ref = oracle.rand(*shape).numpy()
    wgtorch.manual_seed(seed)
    got = wgtorch.rand(*shape).numpy()
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("bounds", [(-0.1, 0.1), (2.0, 5.0), (-3.3, 1e-3), (-1 / 28 ** 0.5, 1 / 28 ** 0.5)])
def test_uniform_bit_exact_with_torch(oracle, dtype, bounds):
    """uniform_(a, b): float32 through double arithmetic, float64 as one fused multiply-add."""
    oracle.manual_seed(11)
    ref = oracle.empty(5000, dtype=getattr(oracle, dtype)).uniform_(*bounds).numpy()
    wgtorch.manual_seed(11)
    got = wgtorch.empty(5000, dtype=getattr(wgtorch, dtype)).uniform_(*bounds).numpy()
    np.testing.assert_array_equal(got, ref)


def test_rand_bit_exact_with_torch_stream_continues(oracle):
    oracle.manual_seed(99)
    ref = [oracle.rand(3).numpy(), oracle.rand(2, 2).numpy()]
    wgtorch.manual_seed(99)
    got = [wgtorch.rand(3).numpy(), wgtorch.rand(2, 2).numpy()]
    for g, r in zip(got, ref):
        np.testing.assert_array_equal(g, r)


def test_generator_bit_exact_with_torch(oracle):
    ref = oracle.rand(10, generator=oracle.Generator().manual_seed(5)).numpy()
    got = wgtorch.rand(10, generator=wgtorch.Generator().manual_seed(5)).numpy()
    np.testing.assert_array_equal(got, ref)


# ---------------------------------------------------------------------------
# attributes
# ---------------------------------------------------------------------------

def test_shape_and_size(device):
    x = wgtorch.zeros(2, 3, device=device)
    assert x.shape == (2, 3)
    assert isinstance(x.shape, tuple) and isinstance(x.shape, wgtorch.Size)
    assert x.size() == (2, 3) and isinstance(x.size(), wgtorch.Size)
    assert x.size(0) == 2 and x.size(1) == 3 and x.size(-1) == 3 and x.size(-2) == 2
    assert str(x.shape).endswith("Size([2, 3])")
    assert repr(x.shape).endswith("Size([2, 3])")
    assert str(wgtorch.zeros((), device=device).shape).endswith("Size([])")
    assert x.shape[1] == 3 and list(x.shape) == [2, 3]
    assert x.shape.numel() == 6
    with pytest.raises(IndexError):
        x.size(2)


def test_size_str_matches_torch(oracle):
    for shape in [(2, 3), (), (0,), (1, 2, 3, 4)]:
        assert str(wgtorch.zeros(shape).shape).split("Size")[1] == str(oracle.zeros(shape).shape).split("Size")[1]


def test_basic_attributes(device):
    x = wgtorch.arange(24, dtype=wgtorch.float32, device=device).reshape(2, 3, 4)
    assert x.ndim == 3 and x.dim() == 3
    assert x.numel() == 24
    assert x.stride() == (12, 4, 1)
    assert x.stride(0) == 12 and x.stride(-1) == 1
    assert x.is_contiguous()
    assert x.dtype == wgtorch.float32
    assert x.element_size() == 4
    assert x.is_floating_point()
    assert not wgtorch.zeros(2, dtype=wgtorch.int64, device=device).is_floating_point()
    assert len(x) == 2
    y = x.transpose(0, 2)
    assert y.stride() == (1, 4, 12) and not y.is_contiguous()


@pytest.mark.float64
def test_T_and_mT(device):
    a = np.arange(6.0).reshape(2, 3)
    x = wgtorch.tensor(a, device=device)
    assert_close(x.T, a.T, rtol=0, atol=0)
    b = np.arange(24.0).reshape(2, 3, 4)
    y = wgtorch.tensor(b, device=device)
    assert_close(y.mT, np.swapaxes(b, -1, -2), rtol=0, atol=0)
    assert y.mT.shape == (2, 4, 3)


def test_item_tolist(device):
    assert wgtorch.tensor([[2.5]], device=device).item() == 2.5
    assert type(wgtorch.tensor([3], device=device).item()) is int
    assert type(wgtorch.tensor([True], device=device).item()) is bool
    with pytest.raises(RuntimeError):
        wgtorch.zeros(2, 3, device=device).item()
    l = wgtorch.tensor([[1, 2], [3, 4]], device=device).tolist()
    assert l == [[1, 2], [3, 4]] and type(l[0][0]) is int
    f = wgtorch.tensor([0.5, 1.5], device=device).tolist()
    assert f == [0.5, 1.5] and type(f[0]) is float
    assert wgtorch.tensor(2.0, device=device).tolist() == 2.0
    assert wgtorch.tensor([[True], [False]], device=device).tolist() == [[True], [False]]
    t = wgtorch.arange(6, device=device).reshape(2, 3).t()
    assert t.tolist() == np.arange(6).reshape(2, 3).T.tolist()


def test_len_iter(device):
    x = wgtorch.arange(6, device=device).reshape(3, 2)
    assert len(x) == 3
    rows = list(x)
    assert len(rows) == 3 and all(isinstance(r, wgtorch.Tensor) for r in rows)
    assert [r.tolist() for r in rows] == [[0, 1], [2, 3], [4, 5]]
    assert [r.item() for r in wgtorch.arange(3, device=device)] == [0, 1, 2]
    s = wgtorch.tensor(1.0, device=device)
    with pytest.raises(TypeError):
        len(s)
    with pytest.raises(TypeError):
        iter(s)


def test_array_protocol(device):
    x = wgtorch.arange(6, dtype=wgtorch.float32, device=device).reshape(2, 3).t()
    a = np.asarray(x)
    assert a.dtype == np.float32 and a.shape == (3, 2)
    np.testing.assert_array_equal(a, np.arange(6, dtype=np.float32).reshape(2, 3).T)
    b = np.asarray(x, dtype=np.float64)
    assert b.dtype == np.float64
    assert np.array(wgtorch.tensor([1, 2], device=device)).dtype == np.int64


def test_bool_conversion(device):
    assert bool(wgtorch.tensor([1.0], device=device)) is True
    assert bool(wgtorch.tensor(0, device=device)) is False
    assert bool(wgtorch.tensor([[True]], device=device)) is True
    with pytest.raises(RuntimeError):
        bool(wgtorch.tensor([1, 1], device=device))
    with pytest.raises(RuntimeError):
        bool(wgtorch.zeros(0, device=device))
    assert float(wgtorch.tensor([2.5], device=device)) == 2.5
    assert int(wgtorch.tensor(3.7, device=device)) == 3
    with pytest.raises((RuntimeError, ValueError, TypeError)):
        float(wgtorch.ones(2, device=device))


def test_data_attribute(device):
    x = wgtorch.ones(3, requires_grad=True, device=device)
    d = x.data
    assert not d.requires_grad
    d[0] = 5.0  # shares storage with x
    assert x[0].item() == 5.0
    x.data = wgtorch.zeros(3, device=device)
    assert x.requires_grad
    assert_close(x.detach(), np.zeros(3))


def test_strides_of_empty_tensors(device):
    # PyTorch counts size-0 dims as 1 when computing contiguous strides
    assert wgtorch.zeros(0, device=device).stride() == (1,)
    assert wgtorch.zeros(2, 0, 3, device=device).stride() == (3, 3, 1)
    assert wgtorch.zeros(3, 0, device=device).stride() == (1, 1)


@fixture_ok
@given(shape=shapes, fill=st.one_of(st.integers(-100, 100), st.floats(-1e3, 1e3, allow_nan=False)))
def test_full_hypothesis(device, shape, fill):
    t = wgtorch.full(shape, fill, device=device)
    assert t.shape == shape
    assert t.dtype == (wgtorch.int64 if isinstance(fill, int) else wgtorch.float32)
    if t.numel():
        assert t.stride() == contiguous_strides(shape)
    assert_close(t, np.full(shape, fill, dtype=np.float32 if isinstance(fill, float) else np.int64), rtol=0, atol=0)


@fixture_ok
@given(start=st.integers(-50, 50), length=st.integers(0, 30), step=st.integers(1, 7), neg=st.booleans())
def test_arange_hypothesis(device, start, length, step, neg):
    end = start + length
    if neg:
        start, end, step = end, start, -step
    t = wgtorch.arange(start, end, step, device=device)
    ref = np.arange(start, end, step)
    assert t.dtype == wgtorch.int64
    assert_close(t, ref, rtol=0, atol=0)


@pytest.mark.parametrize("row, col, offset", [(3, 4, 1), (3, 3, -1), (0, 0, 0), (4, 2, -5), (2, 5, 7), (5, 5, 0)])
def test_triangle_indices_match_torch(oracle, device, row, col, offset):
    for name in ("tril_indices", "triu_indices"):
        got, want = getattr(wgtorch, name)(row, col, offset, device=device), getattr(oracle, name)(row, col, offset)
        assert str(got.dtype) == str(want.dtype) and tuple(got.shape) == tuple(want.shape)
        assert got.device.type == device
        np.testing.assert_array_equal(got.cpu().numpy(), want.numpy())
    assert wgtorch.tril_indices(3, 3, dtype=wgtorch.int32, device=device).dtype == wgtorch.int32
    for bad, msg in (((-1, 3), "row must be non-negative, got-1"), ((3, -2), "col must be non-negative, got-2")):
        with pytest.raises(RuntimeError, match=msg):
            wgtorch.triu_indices(*bad, device=device)
