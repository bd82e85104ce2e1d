"""dtype objects, conversions and PyTorch's type-promotion rules."""
import operator
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import wgtorch
from conftest import dtypes_on, assert_close, to_np

fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
NP = {n: np.dtype(n) for n in NAMES}


def name(d):
    """'float32' for wgtorch.float32 / torch.float32."""
    return str(d).split(".")[-1]


# ---------------------------------------------------------------------------
# dtype objects
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("n", NAMES + ["bfloat16"])
def test_dtype_objects(n):
    d = getattr(wgtorch, n)
    assert isinstance(d, wgtorch.dtype)
    assert repr(d).endswith(n) and str(d).endswith(n)
    assert d.is_floating_point == (n.startswith("float") or n == "bfloat16")
    assert d.itemsize == (2 if n == "bfloat16" else NP[n].itemsize)
    assert d == getattr(wgtorch, n) and hash(d) == hash(getattr(wgtorch, n))
    assert pickle.loads(pickle.dumps(d)) == d


def test_dtype_attributes_match_torch(oracle):
    for n in NAMES + ["bfloat16"]:
        d, r = getattr(wgtorch, n), getattr(oracle, n)
        assert d.is_floating_point == r.is_floating_point
        assert d.itemsize == r.itemsize
        assert d.is_signed == r.is_signed
        assert repr(d).split(".")[-1] == repr(r).split(".")[-1]


def test_dtype_aliases():
    assert wgtorch.float is wgtorch.float32
    assert wgtorch.double is wgtorch.float64
    assert wgtorch.half is wgtorch.float16
    assert wgtorch.long is wgtorch.int64
    assert wgtorch.int is wgtorch.int32
    assert wgtorch.short is wgtorch.int16
    assert wgtorch.float32 != wgtorch.float64
    assert len({getattr(wgtorch, n) for n in NAMES}) == len(NAMES)


def test_default_dtype():
    assert wgtorch.get_default_dtype() == wgtorch.float32


@pytest.mark.float64
def test_set_default_dtype(device):
    assert wgtorch.get_default_dtype() == wgtorch.float32
    try:
        wgtorch.set_default_dtype(wgtorch.float64)
        assert wgtorch.get_default_dtype() == wgtorch.float64
        assert wgtorch.tensor([1.5], device=device).dtype == wgtorch.float64
        assert wgtorch.tensor([1, 2], device=device).dtype == wgtorch.int64
        assert wgtorch.zeros(2, device=device).dtype == wgtorch.float64
        assert wgtorch.ones(2, 2, device=device).dtype == wgtorch.float64
        assert wgtorch.rand(3, device=device).dtype == wgtorch.float64
        assert wgtorch.arange(0.0, 1.0, 0.5, device=device).dtype == wgtorch.float64
        assert wgtorch.arange(3, device=device).dtype == wgtorch.int64
        assert wgtorch.full((2,), 1.5, device=device).dtype == wgtorch.float64
        ints = wgtorch.tensor([1, 2], device=device)
        assert (ints + 1.5).dtype == wgtorch.float64
        assert (ints / ints).dtype == wgtorch.float64
        assert (wgtorch.ones(2, dtype=wgtorch.float32, device=device) + 1.5).dtype == wgtorch.float32
        assert_close(wgtorch.tensor([0.1], device=device), np.array([0.1]), rtol=0, atol=1e-17)
    finally:
        wgtorch.set_default_dtype(wgtorch.float32)
    assert wgtorch.get_default_dtype() == wgtorch.float32
    assert wgtorch.tensor([1.5]).dtype == wgtorch.float32


def test_set_default_dtype_rejects_ints():
    try:
        with pytest.raises(TypeError):
            wgtorch.set_default_dtype(wgtorch.int64)
    finally:
        wgtorch.set_default_dtype(wgtorch.float32)
    assert wgtorch.get_default_dtype() == wgtorch.float32


@pytest.mark.float64
def test_python_types_as_dtype(device):
    # PyTorch maps Python float to float64 (double), int to int64, bool to bool
    assert wgtorch.zeros(2, dtype=float, device=device).dtype == wgtorch.float64
    assert wgtorch.zeros(2, dtype=int, device=device).dtype == wgtorch.int64
    assert wgtorch.zeros(2, dtype=bool, device=device).dtype == wgtorch.bool


# ---------------------------------------------------------------------------
# conversions
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("src", NAMES)
@pytest.mark.parametrize("dst", NAMES)
def test_to_dtype_all_pairs(device, src, dst):
    vals = np.array([0, 1, 2, 3, 7, 100, 0, 5], dtype=np.float64)
    if src == "bool":
        vals = vals != 0
    a = vals.astype(src)
    x = wgtorch.tensor(a, device=device)
    y = x.to(getattr(wgtorch, dst))
    assert y.dtype == getattr(wgtorch, dst)
    assert y.shape == (8,)
    np.testing.assert_array_equal(to_np(y), a.astype(dst))


@pytest.mark.parametrize("method, dst", [("float", "float32"), ("double", "float64"), ("half", "float16"),
                                         ("long", "int64"), ("int", "int32"), ("bool", "bool")])
def test_conversion_methods(device, method, dst):
    a = np.array([[-2.75, -1.5, 0.0], [0.25, 1.5, 3.999]])
    x = wgtorch.tensor(a.tolist(), device=device)  # a list of floats: float32
    y = getattr(x, method)()
    assert y.dtype == getattr(wgtorch, dst)
    np.testing.assert_array_equal(to_np(y), a.astype(np.float32).astype(dst))
    # from a non-contiguous int tensor
    xi = wgtorch.arange(12, device=device).reshape(3, 4).t()[::2]
    yi = getattr(xi, method)()
    assert yi.dtype == getattr(wgtorch, dst)
    np.testing.assert_array_equal(to_np(yi), np.arange(12).reshape(3, 4).T[::2].astype(dst))


@pytest.mark.float64
def test_float_to_int_truncates_toward_zero(device):
    a = np.array([-3.9, -2.5, -1.1, -0.9, -0.0, 0.4, 0.5, 1.5, 2.5, 2.9, 1e6 + 0.7])
    for dt in ("int64", "int32", "int16", "int8"):
        vals = a if dt in ("int64", "int32") else a[:-1]  # 1e6 does not fit in the small types
        y = wgtorch.tensor(vals, dtype=wgtorch.float64, device=device).to(getattr(wgtorch, dt))
        np.testing.assert_array_equal(to_np(y), np.trunc(vals).astype(dt))
        y32 = wgtorch.tensor(vals, dtype=wgtorch.float32, device=device).to(getattr(wgtorch, dt))
        np.testing.assert_array_equal(to_np(y32), np.trunc(vals.astype(np.float32)).astype(dt))
    y = wgtorch.tensor([-3.9, 3.9], device=device).long()
    assert y.tolist() == [-3, 3]


def test_float_to_bool_and_int_wrap(device):
    x = wgtorch.tensor([float("nan"), 0.0, -0.0, 0.1, -2.0], device=device)
    assert x.bool().tolist() == [True, False, False, True, True]
    w = wgtorch.tensor([200, -200, 1000, 127, -129], device=device).to(wgtorch.int8)
    np.testing.assert_array_equal(to_np(w), np.array([200, -200, 1000, 127, -129]).astype(np.int8))
    u = wgtorch.tensor([256, 257, 255, 511], device=device).to(wgtorch.uint8)
    np.testing.assert_array_equal(to_np(u), np.array([256, 257, 255, 511]).astype(np.uint8))


@pytest.mark.float64
def test_float16_conversion(device):
    a = np.array([1e5, -1e5, 0.1, 1 / 3, 65504.0, 6e-8, 1e-9])
    y = wgtorch.tensor(a, device=device).half()
    assert y.dtype == wgtorch.float16
    with np.errstate(over="ignore"):  # 1e5 overflows float16 to inf, as in PyTorch
        ref = a.astype(np.float32).astype(np.float16)
    np.testing.assert_array_equal(to_np(y), ref)
    np.testing.assert_array_equal(to_np(y.float()), ref.astype(np.float32))


@pytest.mark.float64
def test_float64_to_float32_rounds(device):
    a = np.array([0.1, 1 / 3, 1e-40, 3.4e38, 1e39, -1e39, 2**24 + 1.0])
    y = wgtorch.tensor(a, dtype=wgtorch.float64, device=device).float()
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(to_np(y), a.astype(np.float32))


@pytest.mark.float64
def test_to_returns_self_when_nothing_changes(device):
    x = wgtorch.ones(3, device=device)
    assert x.to(wgtorch.float32) is x
    assert x.float() is x
    assert x.to(device) is x
    y = x.to(wgtorch.float32, copy=True)
    assert y is not x
    y[0] = 5.0
    assert x[0].item() == 1.0
    z = x.double()
    z[0] = 7.0
    assert x[0].item() == 1.0


@pytest.mark.float64
def test_to_forms(device):
    x = wgtorch.tensor([1, 2], device=device)
    assert x.to(dtype=wgtorch.float64).dtype == wgtorch.float64
    assert x.to(device, wgtorch.float16).dtype == wgtorch.float16
    assert x.to(device=device, dtype=wgtorch.float64).dtype == wgtorch.float64
    other = wgtorch.zeros(1, dtype=wgtorch.float64, device=device)
    assert x.to(other).dtype == wgtorch.float64
    assert_close(x.to(other), np.array([1.0, 2.0]))
    assert x.type(wgtorch.float32).dtype == wgtorch.float32
    assert x.to(device).device.type == wgtorch.device(device).type
    with pytest.raises(RuntimeError):
        x.to("nosuchdevice")


@pytest.mark.float64
def test_conversion_keeps_requires_grad(device):
    x = wgtorch.ones(2, requires_grad=True, device=device)
    y = x.double()
    assert y.dtype == wgtorch.float64 and y.requires_grad


def test_uint8_arithmetic_wraps(device):
    x = wgtorch.tensor([1, 250, 100], dtype=wgtorch.uint8, device=device)
    y = x + 10
    assert y.dtype == wgtorch.uint8
    np.testing.assert_array_equal(to_np(y), (np.array([1, 250, 100], dtype=np.uint8) + np.uint8(10)))
    z = x + 1000
    assert z.dtype == wgtorch.uint8
    np.testing.assert_array_equal(to_np(z), ((np.array([1, 250, 100]) + 1000) % 256).astype(np.uint8))


# ---------------------------------------------------------------------------
# type promotion
# ---------------------------------------------------------------------------

def T(dt, device, shape=(3,)):
    d = getattr(wgtorch, dt)
    if dt == "bool":
        return wgtorch.ones(shape, dtype=d, device=device)
    return wgtorch.full(shape, 2, dtype=d, device=device)


# Documented PyTorch examples (docs, "Type promotion") and the rules in the issue:
# (lhs, rhs, op, result) where lhs/rhs are ("t", dtype) dimensioned tensors,
# ("z", dtype) 0-d tensors or Python scalars.
DOCUMENTED = [
    (("t", "int32"), 5, "+", "int32"),
    (("t", "int32"), ("z", "int64"), "+", "int32"),
    (("t", "int64"), ("t", "int32"), "+", "int64"),
    (("t", "bool"), ("t", "int64"), "+", "int64"),
    (("t", "bool"), ("t", "uint8"), "+", "uint8"),
    (("t", "float32"), ("t", "float64"), "+", "float64"),
    (("t", "bool"), ("t", "int32"), "+", "int32"),
    (("t", "int64"), ("t", "float32"), "+", "float32"),
    (("t", "int32"), 5.5, "+", "float32"),
    (("t", "int64"), 2.5, "*", "float32"),
    (("t", "float32"), ("z", "float64"), "+", "float32"),
    (("t", "float16"), ("z", "float64"), "*", "float16"),
    (("t", "int32"), ("z", "float64"), "+", "float64"),
    (("t", "uint8"), ("t", "int8"), "+", "int16"),
    (("t", "int64"), ("t", "int64"), "/", "float32"),
    (("t", "uint8"), 2, "/", "float32"),
    (("t", "int32"), ("t", "float16"), "/", "float16"),
    (("t", "bool"), ("t", "bool"), "+", "bool"),
    (("t", "bool"), 1, "+", "int64"),
    (("t", "bool"), True, "+", "bool"),
    (("t", "bool"), 1.0, "*", "float32"),
    (("t", "uint8"), 1000, "+", "uint8"),
    (("t", "int8"), ("z", "int64"), "+", "int8"),
    (("t", "float64"), ("t", "int8"), "<", "bool"),
    (("t", "int64"), 2.5, "==", "bool"),
    (("t", "float16"), ("t", "float16"), ">=", "bool"),
    (("z", "int64"), ("t", "int16"), "*", "int16"),
    (("z", "float64"), ("t", "float32"), "+", "float32"),
    (("z", "int64"), ("z", "int32"), "+", "int64"),
    (("z", "int32"), 2.5, "+", "float32"),
    (2, ("t", "int8"), "*", "int8"),
    (2.5, ("t", "int16"), "/", "float32"),
]

OPS = {"+": operator.add, "*": operator.mul, "/": operator.truediv,
       "==": operator.eq, "<": operator.lt, ">=": operator.ge}


def make(spec, device):
    if isinstance(spec, tuple):
        kind, dt = spec
        return T(dt, device, (3,) if kind == "t" else ())
    return spec


@pytest.mark.parametrize("lhs, rhs, op, expected", DOCUMENTED)
def test_promotion_documented(device, lhs, rhs, op, expected):
    a, b = make(lhs, device), make(rhs, device)
    r = OPS[op](a, b)
    assert r.dtype == getattr(wgtorch, expected)
    # values: compute in float64 with NumPy, then cast to the expected dtype
    av = to_np(a).astype(np.float64) if isinstance(a, wgtorch.Tensor) else float(a)
    bv = to_np(b).astype(np.float64) if isinstance(b, wgtorch.Tensor) else float(b)
    ref = np.asarray(OPS[op](av, bv))
    if expected == "uint8":
        ref = (ref % 256).astype(np.uint8)
    assert_close(r, np.broadcast_to(ref, r.shape).astype(expected), rtol=1e-3, atol=0)


def _operands(kind, dt, device, oracle):
    """A wgtorch operand and the matching torch operand."""
    if kind == "scalar":
        return dt, dt
    shape = (3,) if kind == "tensor" else ()
    w = T(dt, device, shape)
    return w, oracle.tensor(to_np(w))


SCALARS = [2, 2.5, True, -3]


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("kinds", [("tensor", "tensor"), ("tensor", "zerodim"), ("zerodim", "tensor"),
                                   ("zerodim", "zerodim"), ("tensor", "scalar"), ("scalar", "tensor"),
                                   ("zerodim", "scalar")])
def test_promotion_all_pairs_match_torch(device, oracle, op, kinds):
    fn = OPS[op]
    left = dtypes_on(device, NAMES) if kinds[0] != "scalar" else SCALARS
    right = dtypes_on(device, NAMES) if kinds[1] != "scalar" else SCALARS
    bad = []
    for l in left:
        for r in right:
            wl, tl = _operands(kinds[0], l, device, oracle)
            wr, tr = _operands(kinds[1], r, device, oracle)
            try:
                ref = fn(tl, tr)
            except RuntimeError:
                continue  # torch refuses (e.g. none here, kept for safety)
            try:
                got = fn(wl, wr)
            except Exception as e:  # noqa: BLE001
                bad.append(f"{l!r} {op} {r!r}: raised {type(e).__name__}: {e}")
                continue
            if name(got.dtype) != name(ref.dtype):
                bad.append(f"{l!r} {op} {r!r}: {name(got.dtype)} != torch {name(ref.dtype)}")
                continue
            if tuple(got.shape) != tuple(ref.shape):
                bad.append(f"{l!r} {op} {r!r}: shape {tuple(got.shape)} != {tuple(ref.shape)}")
                continue
            g = to_np(got).astype(np.float64)
            e = ref.numpy().astype(np.float64)
            if not np.allclose(g, e, rtol=1e-3, atol=0, equal_nan=True):
                bad.append(f"{l!r} {op} {r!r}: values {g} != {e}")
    assert not bad, "\n".join(bad)


def test_promote_types_matches_torch(oracle):
    bad = []
    for a in NAMES:
        for b in NAMES:
            got = wgtorch.promote_types(getattr(wgtorch, a), getattr(wgtorch, b))
            ref = oracle.promote_types(getattr(oracle, a), getattr(oracle, b))
            if name(got) != name(ref):
                bad.append(f"{a}, {b}: {got} != {ref}")
    assert not bad, "\n".join(bad)


def test_promote_types_numpy_agrees_for_same_kind():
    # for pairs within one category (and bool with anything) PyTorch agrees with NumPy
    for a in NAMES:
        for b in NAMES:
            cat_a, cat_b = {"b": 0, "u": 1, "i": 1, "f": 2}[NP[a].kind], {"b": 0, "u": 1, "i": 1, "f": 2}[NP[b].kind]
            if cat_a == cat_b or 0 in (cat_a, cat_b):
                got = wgtorch.promote_types(getattr(wgtorch, a), getattr(wgtorch, b))
                assert name(got) == np.promote_types(NP[a], NP[b]).name, (a, b)


@pytest.mark.float64
def test_result_type(device):
    x = wgtorch.tensor([1, 2], device=device)
    assert wgtorch.result_type(x, 1.0) == wgtorch.float32
    assert wgtorch.result_type(x, 1) == wgtorch.int64
    assert wgtorch.result_type(x, wgtorch.tensor(1.0, dtype=wgtorch.float64, device=device)) == wgtorch.float64


def test_comparisons_return_bool(device):
    a = wgtorch.tensor([1.0, 2.0, 3.0], device=device)
    b = wgtorch.tensor([3, 2, 1], device=device)
    for fn, npfn in [(operator.eq, np.equal), (operator.ne, np.not_equal), (operator.lt, np.less),
                     (operator.le, np.less_equal), (operator.gt, np.greater), (operator.ge, np.greater_equal)]:
        r = fn(a, b)
        assert r.dtype == wgtorch.bool
        np.testing.assert_array_equal(to_np(r), npfn(np.array([1.0, 2, 3]), np.array([3, 2, 1])))
        assert fn(a, 2).dtype == wgtorch.bool
        assert fn(b, 2.5).dtype == wgtorch.bool


@pytest.mark.float64
def test_inplace_keeps_dtype(device):
    x = wgtorch.tensor([1, 2], dtype=wgtorch.int32, device=device)
    x += wgtorch.tensor([1, 2], device=device)  # int64 operand, result cast back
    assert x.dtype == wgtorch.int32 and x.tolist() == [2, 4]
    f = wgtorch.tensor([1.0, 2.0], device=device)
    f += wgtorch.tensor([1, 1], device=device)
    assert f.dtype == wgtorch.float32 and f.tolist() == [2.0, 3.0]
    f *= wgtorch.tensor(2.0, dtype=wgtorch.float64, device=device)
    assert f.dtype == wgtorch.float32 and f.tolist() == [4.0, 6.0]
    u = wgtorch.tensor([200], dtype=wgtorch.uint8, device=device)
    u *= 2
    assert u.dtype == wgtorch.uint8 and u.tolist() == [144]


def test_inplace_bad_cast_raises(device):
    x = wgtorch.tensor([1, 2], device=device)
    with pytest.raises(RuntimeError):
        x += 1.5
    with pytest.raises(RuntimeError):
        x.mul_(wgtorch.tensor([0.5, 0.5], device=device))
    b = wgtorch.tensor([True, False], device=device)
    with pytest.raises(RuntimeError):
        b += 1
    assert x.tolist() == [1, 2]


def test_bool_subtraction_raises(device):
    b = wgtorch.tensor([True, False], device=device)
    with pytest.raises(RuntimeError):
        b - b


def test_bool_subtraction_raises_like_torch(oracle):
    with pytest.raises(Exception) as ref:
        oracle.tensor([True]) - oracle.tensor([True])
    with pytest.raises(Exception) as got:
        wgtorch.tensor([True]) - wgtorch.tensor([True])
    assert type(got.value) is type(ref.value)


def test_float16_arithmetic_matches_numpy(device):
    a = np.array([0.1, 1.5, 1000.0, -3.3], dtype=np.float16)
    b = np.array([0.2, 2.5, 60000.0, 7.1], dtype=np.float16)
    x, y = wgtorch.tensor(a, device=device), wgtorch.tensor(b, device=device)
    r = x + y
    assert r.dtype == wgtorch.float16
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(to_np(r), a + b)
        np.testing.assert_array_equal(to_np(x * y), a * b)


@fixture_ok
@given(a=st.sampled_from(NAMES), b=st.sampled_from(NAMES),
       sa=st.sampled_from([(), (1,), (3,), (2, 3)]), sb=st.sampled_from([(), (3,), (2, 1)]))
@pytest.mark.float64
def test_promotion_broadcast_hypothesis(device, a, b, sa, sb):
    x, y = T(a, device, sa), T(b, device, sb)
    r = x * y
    expected_shape = np.broadcast_shapes(sa, sb)
    assert r.shape == expected_shape
    # category rule: a dimensioned operand of the highest category decides unless a 0-d one is higher
    assert r.dtype.is_floating_point == (x.dtype.is_floating_point or y.dtype.is_floating_point)
    if sa and sb or (not sa and not sb):
        assert r.dtype == wgtorch.promote_types(x.dtype, y.dtype)
    xv = to_np(x).astype(np.float64)
    yv = to_np(y).astype(np.float64)
    assert_close(r, np.broadcast_to(xv * yv, expected_shape), rtol=1e-3, atol=0)


# ---------------------------------------------------------------------------
# a 16-bit float tensor with a Python number
# ---------------------------------------------------------------------------
_HALF_OPS = {
    "gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le, "eq": operator.eq,
    "ne": operator.ne, "add": operator.add, "radd": lambda x, s: s + x, "sub": operator.sub,
    "rsub": lambda x, s: s - x, "mul": operator.mul, "div": operator.truediv, "rdiv": lambda x, s: s / x,
    "floordiv": operator.floordiv, "mod": operator.mod, "add_": lambda x, s: x.add_(s),
    "sub_": lambda x, s: x.sub_(s), "mul_": lambda x, s: x.mul_(s), "div_": lambda x, s: x.div_(s),
}


@pytest.mark.parametrize("op", list(_HALF_OPS))
@pytest.mark.parametrize("dt", ["float16", "bfloat16"])
def test_half_tensor_with_python_number_as_torch(device, oracle, dt, op):
    """torch's cpu kernels round the number to the tensor's dtype first, except mul and the divisions,
    which read it in float32 (and s / x is x.reciprocal() * s): bfloat16(0.1) == 0.1 is True, and
    x - 0.1 is exactly 0 there. The same results on both devices, bit for bit."""
    vals = [0.1, 0.3, 1.1, 3.3, 100.3, 1e-3, 0.7, -2.5, 6e4, 0.0]
    for s in (0.1, 0.3, 1.1, 3.3, 100.3, 1e-3, -0.7, 3):
        x = wgtorch.tensor(vals, device=device).to(getattr(wgtorch, dt))
        xt = oracle.tensor(vals).to(getattr(oracle, dt))
        got = to_np(_HALF_OPS[op](x, s).float())
        want = _HALF_OPS[op](xt, s).float().numpy()
        np.testing.assert_array_equal(got, want, err_msg=f"{dt} {op} {s}")


def test_number_over_tensor_is_reciprocal_times_number(device, oracle):
    a = np.array([3.0, 7.0, -0.3, 1e-3, 13.0], np.float32)
    got, want = 2.7 / wgtorch.tensor(a, device=device), 2.7 / oracle.tensor(a)
    np.testing.assert_array_equal(to_np(got), want.numpy())
    x, xt = wgtorch.tensor(a, device=device, requires_grad=True), oracle.tensor(a, requires_grad=True)
    assert (2 / x).grad_fn.name() == (2 / xt).grad_fn.name() == "MulBackward0"
