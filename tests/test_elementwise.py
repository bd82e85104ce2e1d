"""Elementwise math, comparisons, logical/bitwise ops, casts and in-place ops,
checked against NumPy (float64) and, when installed, real PyTorch."""
import math
import operator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import wgtorch
from conftest import assert_close, to_np

fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

RNG = np.random.default_rng(1234)
NAN, INF = float("nan"), float("inf")


def needs_float64(device):
    """float64 exists only on the cpu (the GPU backend raises TypeError for it, as PyTorch's MPS does):
    tests that call this carry @pytest.mark.float64, so conftest generates them for the cpu only."""
    assert str(device) == "cpu"


def rand(shape, lo=-3.0, hi=3.0, dtype=np.float32, seed=None):
    rng = RNG if seed is None else np.random.default_rng(seed)
    return rng.uniform(lo, hi, size=shape).astype(dtype)


LAYOUTS = ["contiguous", "transposed", "strided", "expanded"]


def make(arr, layout, device):
    """A wgtorch tensor whose values are `arr` (2-D) laid out in memory as `layout`.
    Returns (tensor, values) -- for 'expanded' the values are the broadcast first row."""
    arr = np.asarray(arr)
    if layout == "contiguous":
        t = wgtorch.tensor(arr, device=device)
    elif layout == "transposed":
        t = wgtorch.tensor(np.ascontiguousarray(arr.T), device=device).t()
    elif layout == "strided":
        big = np.zeros((arr.shape[0] * 2, arr.shape[1] * 3), dtype=arr.dtype)
        big[::2, 1::3] = arr
        t = wgtorch.tensor(big, device=device)[::2, 1::3]
    elif layout == "expanded":
        arr = np.broadcast_to(arr[:1], arr.shape).copy()
        t = wgtorch.tensor(arr[:1], device=device).expand(*arr.shape)
    else:
        raise ValueError(layout)
    assert tuple(t.shape) == arr.shape
    if layout in ("transposed", "strided", "expanded"):
        assert not t.is_contiguous()
    return t, arr


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


np_erf = np.vectorize(math.erf, otypes=[np.float64])


def np_round_half_even(x):
    return np.round(x)


# name, NumPy reference (float64), input range
UNARY = [
    ("neg", np.negative, (-3, 3)),
    ("abs", np.abs, (-3, 3)),
    ("exp", np.exp, (-3, 3)),
    ("exp2", np.exp2, (-3, 3)),
    ("log", np.log, (0.05, 5)),
    ("log2", np.log2, (0.05, 5)),
    ("log1p", np.log1p, (-0.9, 3)),
    ("expm1", np.expm1, (-3, 3)),
    ("sqrt", np.sqrt, (0.01, 5)),
    ("rsqrt", lambda x: 1.0 / np.sqrt(x), (0.05, 5)),
    ("sin", np.sin, (-4, 4)),
    ("cos", np.cos, (-4, 4)),
    ("tan", np.tan, (-1.3, 1.3)),
    ("tanh", np.tanh, (-4, 4)),
    ("sigmoid", np_sigmoid, (-6, 6)),
    ("relu", lambda x: np.maximum(x, 0), (-3, 3)),
    ("erf", np_erf, (-3, 3)),
    ("floor", np.floor, (-5, 5)),
    ("ceil", np.ceil, (-5, 5)),
    ("round", np_round_half_even, (-5, 5)),
    ("trunc", np.trunc, (-5, 5)),
    ("sign", np.sign, (-3, 3)),
    ("reciprocal", lambda x: 1.0 / x, (0.2, 3)),
]
UNARY_NAMES = [u[0] for u in UNARY]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name, ref, domain", UNARY, ids=UNARY_NAMES)
def test_unary_function_and_method(device, name, ref, domain, layout):
    a = rand((3, 4), *domain)
    x, vals = make(a, layout, device)
    expected = ref(vals.astype(np.float64))
    out_f = getattr(wgtorch, name)(x)
    out_m = getattr(x, name)()
    for out in (out_f, out_m):
        assert out.dtype == wgtorch.float32
        assert out.device == x.device
        assert tuple(out.shape) == (3, 4)
        assert_close(out, expected, rtol=2e-6 if name != "tan" else 1e-5, atol=1e-6)
    # the input is untouched
    assert_close(x, vals, rtol=0, atol=0)


@pytest.mark.parametrize("name, ref, domain", UNARY, ids=UNARY_NAMES)
def test_unary_inplace(device, name, ref, domain):
    a = rand((2, 5), *domain)
    base = wgtorch.tensor(a, device=device)
    view = base[:, 1:4]  # a non-contiguous view of the base
    v0 = base._version
    r = getattr(view, name + "_")()
    assert r is view
    expected = a.astype(np.float64).copy()
    expected[:, 1:4] = ref(expected[:, 1:4])
    assert_close(base, expected, rtol=2e-6 if name != "tan" else 1e-5, atol=1e-6)
    assert base._version > v0
    assert view._version == base._version


@pytest.mark.float64
@pytest.mark.parametrize("name", UNARY_NAMES)
def test_unary_float64(device, name):
    needs_float64(device)
    ref, domain = {u[0]: (u[1], u[2]) for u in UNARY}[name]
    a = rand((7,), *domain, dtype=np.float64)
    out = getattr(wgtorch, name)(wgtorch.tensor(a, dtype=wgtorch.float64, device=device))
    assert out.dtype == wgtorch.float64
    assert_close(out, ref(a), rtol=1e-12, atol=1e-13)


SPECIAL = np.array([NAN, INF, -INF, 0.0, -0.0, 1e-30, 0.5, 88.0, -88.0, 100.0, -100.0, 1.5, -2.5],
                   dtype=np.float32)


@pytest.mark.parametrize("name", UNARY_NAMES)
def test_unary_special_values(device, name, oracle):
    x = wgtorch.tensor(SPECIAL, device=device)
    out = getattr(wgtorch, name)(x)
    exp_t = getattr(oracle, name)(oracle.tensor(SPECIAL))
    assert_close(out, exp_t, rtol=1e-5, atol=1e-6)
    # NumPy agrees with torch except for sign(nan), which torch maps to 0
    ref = dict((u[0], u[1]) for u in UNARY)[name]
    with np.errstate(all="ignore"):
        e = ref(SPECIAL.astype(np.float64)).astype(np.float32)
    if name == "sign":
        e = np.where(np.isnan(SPECIAL), 0.0, e)
    assert_close(out, e, rtol=1e-5, atol=1e-6)


def test_unary_special_values_numpy(device):
    """Oracle-free special-value checks for the NaN/inf behaviour users rely on."""
    x = wgtorch.tensor([NAN, INF, -INF, 0.0, -1.0], device=device)
    e = {
        "exp": [NAN, INF, 0.0, 1.0, math.exp(-1)],
        "log": [NAN, INF, NAN, -INF, NAN],
        "sqrt": [NAN, INF, NAN, 0.0, NAN],
        "relu": [NAN, INF, 0.0, 0.0, 0.0],
        "sigmoid": [NAN, 1.0, 0.0, 0.5, 1 / (1 + math.e)],
        "tanh": [NAN, 1.0, -1.0, 0.0, math.tanh(-1)],
        "abs": [NAN, INF, INF, 0.0, 1.0],
        "sign": [0.0, 1.0, -1.0, 0.0, -1.0],
        "reciprocal": [NAN, 0.0, -0.0, INF, -1.0],
    }
    for name, vals in e.items():
        assert_close(getattr(wgtorch, name)(x), np.array(vals), rtol=1e-6, atol=1e-7)


def test_sigmoid_extremes_do_not_overflow(device):
    x = wgtorch.tensor([-1000.0, -100.0, 0.0, 100.0, 1000.0], device=device)
    out = to_np(wgtorch.sigmoid(x))
    assert not np.isnan(out).any()
    np.testing.assert_allclose(out, [0, 0, 0.5, 1, 1], atol=1e-30 + 1e-7)


def test_erf_accurate_to_float32(device):
    xs = [-5.0, -3.0, -1.5, -1.0, -0.3, -1e-3, -1e-5, 0.0, 1e-6, 1e-4, 1e-2, 0.1, 0.4, 0.47, 0.5,
          0.8, 1.0, 1.3, 2.0, 2.5, 3.0, 3.9, 6.0]
    x32 = np.array(xs, dtype=np.float32)
    out = to_np(wgtorch.erf(wgtorch.tensor(x32, device=device)))
    exp = np.array([math.erf(float(v)) for v in x32])
    # within a few float32 ulps, relative to the value (small |x| included)
    np.testing.assert_allclose(out, exp, rtol=1e-6, atol=1e-30)
    assert out.dtype == np.float32


def test_erf_many_points(device):
    x = np.linspace(-4, 4, 4001).astype(np.float32)
    out = to_np(wgtorch.erf(wgtorch.tensor(x, device=device))).astype(np.float64)
    exp = np_erf(x.astype(np.float64))
    assert np.max(np.abs(out - exp)) < 3e-7


_TINY = [0.0, -0.0, 1e-30, -1e-30, 1e-8, -1e-8, 1e-4, -3e-3, 0.0099, 0.3, -0.49]


@pytest.mark.parametrize("name, ref, span, rtol", [
    ("expm1", np.expm1, 0.5, 3e-7), ("sinh", np.sinh, 0.5, 3e-7),  # (past 0.5: the driver's exp, ~2e-6)
    ("expm1", np.expm1, 20.0, 5e-6), ("sinh", np.sinh, 20.0, 5e-6),
    ("atan", np.arctan, 50.0, 4e-7), ("asin", np.arcsin, 1.0, 4e-7), ("acos", np.arccos, 1.0, 4e-7),
    ("log1p", np.log1p, 0.99, 3e-7), ("log1p", np.log1p, 0.3, 3e-7),
])
def test_functions_accurate_near_zero_and_over_their_range(device, name, ref, span, rtol):
    """Relative accuracy over the range and at tiny arguments, and the sign of zero, against float64
    (lavapipe's own exp, atan and sinh were 1e22, 40 and 1e22 times off at tiny or some arguments)."""
    x = np.concatenate([np.linspace(-span, span, 20001), _TINY]).astype(np.float32)
    got = to_np(getattr(wgtorch, name)(wgtorch.tensor(x, device=device))).astype(np.float64)
    want = ref(x.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=0)
    zero = want == 0
    assert np.array_equal(np.signbit(got[zero]), np.signbit(want[zero])), name


@pytest.mark.parametrize("name, ref", [("log", np.log), ("log2", np.log2), ("log10", np.log10)])
def test_logarithms_accurate_near_one_and_over_their_range(device, name, ref):
    # (lavapipe's own log was 5% off at 0.999998: ~2e-8 absolutely, most of the value there)
    x = np.concatenate([np.linspace(0.01, 4, 20001), np.linspace(0.999, 1.001, 2001),
                        [1e-30, 2e-38, 1e30, 3e38, 0.5, 1.5, 1.0, 2.0, 8.0, 0.125, 1024.0]]).astype(np.float32)
    got = to_np(getattr(wgtorch, name)(wgtorch.tensor(x, device=device))).astype(np.float64)
    np.testing.assert_allclose(got, ref(x.astype(np.float64)), rtol=4e-7, atol=0)
    if name == "log2":  # exact at powers of two
        p = np.array([0.125, 0.5, 1.0, 2.0, 8.0, 1024.0], np.float32)
        np.testing.assert_array_equal(to_np(wgtorch.log2(wgtorch.tensor(p, device=device))), np.log2(p))


@pytest.mark.parametrize("name, ref, lo, hi", [
    ("asinh", np.arcsinh, -1e4, 1e4), ("asinh", np.arcsinh, -3.0, 3.0),
    ("acosh", np.arccosh, 1.0, 1e4), ("acosh", np.arccosh, 1.0, 1.5), ("atanh", np.arctanh, -0.9999, 0.9999),
])
def test_inverse_hyperbolic_functions(device, name, ref, lo, hi):
    """asinh, acosh and atanh within a few float32 ulps of float64 over their range, at tiny
    arguments (no cancellation), past 4096, at the ends of their domains and outside them."""
    extra = {"asinh": _TINY + [4095.9, 4096.5, 3e38, -3e38, np.inf, -np.inf],
             "acosh": [1.0, 1.0000001, 4095.9, 4096.5, 3e38, np.inf],
             "atanh": _TINY + [0.99999994, -0.99999994]}[name]
    x = np.concatenate([np.linspace(lo, hi, 20001), extra]).astype(np.float32)
    got = to_np(getattr(wgtorch, name)(wgtorch.tensor(x, device=device))).astype(np.float64)
    want = ref(x.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=4e-7, atol=0)
    zero = want == 0
    assert np.array_equal(np.signbit(got[zero]), np.signbit(want[zero])), name
    edges = {"asinh": [np.nan], "acosh": [0.9999999, 0.0, -1.0, -np.inf, np.nan],
             "atanh": [1.0, -1.0, 1.0000001, -2.0, np.inf, np.nan]}[name]
    e = np.array(edges, np.float32)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(to_np(getattr(wgtorch, name)(wgtorch.tensor(e, device=device))),
                                      ref(e.astype(np.float64)).astype(np.float32))


def test_inverse_hyperbolic_grads_aliases_and_signbit(device, oracle):
    x = np.array([[-2.5, -0.3, 0.0, 1e-6], [0.2, 0.7, 1.5, 4.0]], np.float32)
    for name, xs in (("asinh", x), ("acosh", np.abs(x) + 1.25), ("atanh", np.tanh(x))):
        w = wgtorch.tensor(xs, device=device).t().requires_grad_()  # (a transposed input)
        o = oracle.tensor(xs).t().requires_grad_()
        getattr(w, name)().sum().backward()
        getattr(o, name)().sum().backward()
        assert_close(getattr(wgtorch, "arc" + name[1:])(w.detach()), getattr(o, name)().detach().numpy(), 1e-6, 1e-6)
        assert_close(w.grad, o.grad.numpy(), 1e-5, 1e-6)
        assert type(getattr(w, name)().grad_fn).__name__ == type(getattr(o, name)().grad_fn).__name__
        y = wgtorch.tensor(xs, device=device)
        getattr(y, name + "_")()
        assert_close(y, getattr(oracle.tensor(xs), name)().numpy(), 1e-6, 1e-6)
    assert wgtorch.asinh(wgtorch.tensor([2, -3], device=device)).dtype == wgtorch.float32  # integers: float
    v = np.array([-1.5, -0.0, 0.0, 2.0, -np.inf, np.inf, np.nan, -np.nan], np.float32)
    for dt in ("float32", "float16", "bfloat16"):
        if dt == "bfloat16":  # (torch's float32 -> bfloat16 sets a NaN's sign bit; ours keeps it)
            v = v[~np.isnan(v)]
        got = wgtorch.signbit(wgtorch.tensor(v, device=device).to(getattr(wgtorch, dt)))
        assert got.dtype == wgtorch.bool
        np.testing.assert_array_equal(to_np(got), oracle.signbit(oracle.tensor(v).to(getattr(oracle, dt))).numpy())
    for vals, dt in (([-3, 0, 4], "int64"), ([-3, 0, 4], "int32"), ([True, False], "bool")):
        got = wgtorch.tensor(vals, device=device, dtype=getattr(wgtorch, dt)).signbit()
        np.testing.assert_array_equal(to_np(got), oracle.tensor(vals, dtype=getattr(oracle, dt)).signbit().numpy())


def test_erfinv_inverts_erf(device, oracle):
    """erfinv within float32 rounding of the exact inverse (x = erf(y) sampled in float64), at tiny
    arguments, in the tails, at +-1 (+-inf) and past them (NaN); float64 on cpu to 1e-13 where the
    inverse is well conditioned; its gradient and in-place form against torch."""
    y = np.concatenate([np.linspace(-3.9, 3.9, 20001), [1e-30, -1e-20, 1e-6, 0.0, -0.0]])
    x = np.array([math.erf(v) for v in y]).astype(np.float32)
    want = np.array([_erfinv_exact(float(v)) for v in x])
    got = to_np(wgtorch.erfinv(wgtorch.tensor(x, device=device))).astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=4e-7 if device == "cpu" else 1e-6, atol=0)
    assert np.array_equal(np.signbit(got[want == 0]), np.signbit(want[want == 0]))
    tail = np.float32(1) - np.logspace(-7.2, -1, 300).astype(np.float32)  # up to float32's last step below 1
    got = to_np(wgtorch.erfinv(wgtorch.tensor(np.concatenate([tail, -tail]), device=device))).astype(np.float64)
    want = np.array([_erfinv_exact(float(v)) for v in np.concatenate([tail, -tail])])
    np.testing.assert_allclose(got, want, rtol=4e-7 if device == "cpu" else 2e-6, atol=0)
    e = np.array([1.0, -1.0, 1.0000001, -2.0, np.inf, np.nan], np.float32)
    np.testing.assert_array_equal(to_np(wgtorch.erfinv(wgtorch.tensor(e, device=device))),
                                  oracle.erfinv(oracle.tensor(e)).numpy())
    if device == "cpu":
        yy = np.linspace(-3, 3, 2001)
        np.testing.assert_allclose(wgtorch.erfinv(wgtorch.tensor(np.array([math.erf(v) for v in yy]))).numpy(), yy,
                                   rtol=1e-12, atol=1e-15)
    xs = np.array([[-0.9, -0.2, 0.0], [1e-4, 0.5, 0.99]], np.float32)
    w = wgtorch.tensor(xs, device=device).t().requires_grad_()
    o = oracle.tensor(xs).t().requires_grad_()
    w.erfinv().sum().backward()
    o.erfinv().sum().backward()
    assert_close(w.grad, o.grad.numpy(), 1e-5, 1e-6)
    assert type(w.erfinv().grad_fn).__name__ == type(o.erfinv().grad_fn).__name__
    z = wgtorch.tensor(xs, device=device)
    z.erfinv_()
    assert_close(z, oracle.tensor(xs).erfinv().numpy(), 1e-6, 1e-7)


def _erfinv_exact(x):
    """erfinv(x) in float64 by bisection on math.erf / math.erfc (an independent reference)."""
    if abs(x) >= 1 or x == 0:
        return x if x == 0 else math.copysign(math.inf, x) if abs(x) == 1 else math.nan
    a, lo, hi = abs(x), 0.0, 6.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if (math.erf(mid) < a) if a <= 0.5 else (math.erfc(mid) > 1 - a):
            lo = mid
        else:
            hi = mid
    return math.copysign((lo + hi) / 2, x)


def test_atan2_quadrants_zeros_and_infinities(device):
    inf = np.inf
    y = np.array([1, -1, 1, -1, 0, -0.0, 0, -0.0, inf, -inf, 1, 2, 1e-30, inf, -inf, 3, -3, inf, 0.5, -7], np.float32)
    x = np.array([1, 1, -1, -1, -1, -1, 1, 1, inf, -inf, 0, -0.0, -5, -inf, inf, inf, -inf, 2, -3e-3, 1e-6],
                 np.float32)
    got = to_np(wgtorch.atan2(wgtorch.tensor(y, device=device), wgtorch.tensor(x, device=device)))
    want = np.arctan2(y.astype(np.float64), x.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=3e-7, atol=0)
    assert np.array_equal(np.signbit(got), np.signbit(want))


def test_round_half_to_even(device):
    x = wgtorch.tensor([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997], device=device)
    assert_close(wgtorch.round(x), np.round(to_np(x).astype(np.float64)), rtol=0, atol=0)


@pytest.mark.parametrize("name, expected_dtype", [
    ("neg", "int64"), ("abs", "int64"), ("sign", "int64"), ("floor", "int64"), ("ceil", "int64"),
    ("round", "int64"), ("trunc", "int64"),
    ("exp", "float32"), ("log", "float32"), ("sqrt", "float32"), ("sin", "float32"),
    ("sigmoid", "float32"), ("tanh", "float32"), ("erf", "float32"), ("reciprocal", "float32"),
    ("exp2", "float32"), ("rsqrt", "float32"), ("expm1", "float32"), ("log1p", "float32"),
    ("log2", "float32"), ("cos", "float32"), ("tan", "float32"),
])
def test_unary_on_int_dtype(device, name, expected_dtype):
    a = np.array([1, 2, 3, 7])
    out = getattr(wgtorch, name)(wgtorch.tensor(a, device=device))
    assert out.dtype == getattr(wgtorch, expected_dtype)
    ref = dict((u[0], u[1]) for u in UNARY)[name]
    assert_close(out, ref(a.astype(np.float64)), rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["exp", "abs", "neg", "floor", "sqrt", "sign", "sigmoid", "relu"])
def test_unary_int_dtype_matches_torch(device, oracle, name):
    a = [1, 2, 3, 7]
    out = getattr(wgtorch, name)(wgtorch.tensor(a, device=device))
    exp = getattr(oracle, name)(oracle.tensor(a))
    assert str(out.dtype) == str(exp.dtype)
    assert_close(out, exp)


def test_neg_of_bool_raises(device):
    with pytest.raises(RuntimeError):
        -wgtorch.tensor([True, False], device=device)


# ---------------------------------------------------------------------------
# binary arithmetic: operators, reflected, in-place, functions, methods
# ---------------------------------------------------------------------------

def _sign_rand(shape, lo, hi, seed):
    r = np.random.default_rng(seed)
    return (r.uniform(lo, hi, size=shape) * r.choice([-1, 1], size=shape)).astype(np.float32)


# name, operator, in-place operator, function name, NumPy reference, (x-gen, y-gen)
BINARY = [
    ("add", operator.add, operator.iadd, "add", np.add),
    ("sub", operator.sub, operator.isub, "sub", np.subtract),
    ("mul", operator.mul, operator.imul, "mul", np.multiply),
    ("truediv", operator.truediv, operator.itruediv, "div", np.true_divide),
    ("floordiv", operator.floordiv, operator.ifloordiv, "floor_divide", np.floor_divide),
    ("mod", operator.mod, operator.imod, "remainder", np.mod),
    ("pow", operator.pow, operator.ipow, "pow", np.power),
]
BINARY_IDS = [b[0] for b in BINARY]


def _binary_inputs(name, xshape, yshape, seed=0):
    if name == "pow":
        return rand(xshape, 0.1, 3, seed=seed), rand(yshape, -2, 2, seed=seed + 1)
    if name in ("truediv", "floordiv", "mod"):
        return rand(xshape, -5, 5, seed=seed), _sign_rand(yshape, 0.5, 2.0, seed + 1)
    return rand(xshape, -3, 3, seed=seed), rand(yshape, -3, 3, seed=seed + 1)


BCAST = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((4,), (2, 3, 4)),
         ((2, 1, 4), (3, 1)), ((), (3, 2)), ((3, 2), ())]


def _tol(name):
    return dict(rtol=1e-5, atol=1e-5) if name != "pow" else dict(rtol=2e-5, atol=1e-5)


@pytest.mark.parametrize("xshape, yshape", BCAST)
@pytest.mark.parametrize("name, op, iop, fname, ref", BINARY, ids=BINARY_IDS)
def test_binary_operator_broadcasting(device, name, op, iop, fname, ref, xshape, yshape):
    a, b = _binary_inputs(name, xshape, yshape)
    x, y = wgtorch.tensor(a, device=device), wgtorch.tensor(b, device=device)
    expected = ref(a.astype(np.float64), b.astype(np.float64))
    for out in (op(x, y), getattr(wgtorch, fname)(x, y), getattr(x, fname)(y)):
        assert tuple(out.shape) == np.broadcast_shapes(xshape, yshape)
        assert out.dtype == wgtorch.float32
        # floor/mod are discontinuous: float32 rounding of the quotient may land on the
        # other side of an integer, so compare only where float32 and float64 agree
        if name in ("floordiv", "mod"):
            e32 = ref(a, b)
            assert_close(out, e32, rtol=1e-5, atol=1e-5)
        else:
            assert_close(out, expected, **_tol(name))


@pytest.mark.parametrize("layout", ["transposed", "strided", "expanded"])
@pytest.mark.parametrize("name, op, iop, fname, ref", BINARY, ids=BINARY_IDS)
def test_binary_operator_noncontiguous(device, name, op, iop, fname, ref, layout):
    a, b = _binary_inputs(name, (3, 4), (3, 4), seed=7)
    x, av = make(a, layout, device)
    y, bv = make(b, "transposed" if layout != "transposed" else "strided", device)
    assert_close(op(x, y), ref(av, bv), **_tol(name))


@pytest.mark.parametrize("scalar", [2, 2.5, -1.5])
@pytest.mark.parametrize("name, op, iop, fname, ref", BINARY, ids=BINARY_IDS)
def test_binary_with_python_scalar_and_reflected(device, name, op, iop, fname, ref, scalar):
    if name == "pow":
        a = rand((5,), 0.2, 3)
    elif name in ("truediv", "floordiv", "mod"):
        a = _sign_rand((5,), 0.5, 2.0, 3)
    else:
        a = rand((5,))
    x = wgtorch.tensor(a, device=device)
    s = np.float32(scalar)
    fwd = op(x, scalar)
    assert fwd.dtype == wgtorch.float32
    assert_close(fwd, ref(a, s), **_tol(name))
    if name == "pow" and scalar < 0:
        return  # negative base ** fractional exponent: nan in both, checked elsewhere
    refl = op(scalar, x)  # __radd__, __rsub__, __rtruediv__, __rfloordiv__, __rmod__, __rpow__
    assert isinstance(refl, wgtorch.Tensor)
    assert refl.dtype == wgtorch.float32
    with np.errstate(invalid="ignore"):
        assert_close(refl, ref(s, a), **_tol(name))


@pytest.mark.parametrize("name, op, iop, fname, ref", BINARY, ids=BINARY_IDS)
def test_binary_inplace_operator(device, name, op, iop, fname, ref):
    a, b = _binary_inputs(name, (3, 4), (4,), seed=11)
    x = wgtorch.tensor(a, device=device)
    y = wgtorch.tensor(b, device=device)
    alias = x
    v0 = x._version
    x = iop(x, y)
    assert x is alias  # in place: the same Python object
    assert x._version > v0
    assert tuple(x.shape) == (3, 4)
    assert_close(x, ref(a, b), **_tol(name))


@pytest.mark.parametrize("name, op, iop, fname, ref", BINARY, ids=BINARY_IDS)
def test_binary_inplace_method_through_view(device, name, op, iop, fname, ref):
    a, b = _binary_inputs(name, (4, 3), (4, 1), seed=5)
    base = wgtorch.tensor(a, device=device)
    view = base.t()  # (3, 4) non-contiguous view
    other = wgtorch.tensor(b.T.copy(), device=device)  # (1, 4) broadcasts over the view
    v0 = base._version
    r = getattr(view, fname + "_")(other)
    assert r is view
    assert base._version > v0
    assert_close(base, ref(a, b), **_tol(name))


def test_inplace_broadcast_to_larger_shape_raises(device):
    x = wgtorch.ones(2, 3, device=device)
    with pytest.raises(RuntimeError):
        x.add_(wgtorch.ones(2, 2, 3, device=device))
    with pytest.raises(RuntimeError):
        x += wgtorch.ones(4, 2, 3, device=device)


def test_inplace_int_tensor_with_float_raises(device):
    x = wgtorch.tensor([1, 2], device=device)
    with pytest.raises(RuntimeError):
        x.add_(1.5)
    with pytest.raises(RuntimeError):
        x /= 2  # true division gives float: cannot be stored in int64
    x.add_(3)  # int stays int
    assert x.dtype == wgtorch.int64
    assert_close(x, np.array([4, 5]))


def test_add_sub_alpha(device):
    a, b = rand((3,)), rand((3,))
    x, y = wgtorch.tensor(a, device=device), wgtorch.tensor(b, device=device)
    assert_close(wgtorch.add(x, y, alpha=3), a + 3 * b.astype(np.float64), rtol=1e-5)
    assert_close(wgtorch.sub(x, y, alpha=2), a - 2 * b.astype(np.float64), rtol=1e-5)
    assert_close(x.add(y, alpha=-1), a.astype(np.float64) - b, rtol=1e-5)
    xi = wgtorch.tensor([1, 2], device=device)
    r = wgtorch.sub(xi, wgtorch.tensor([1, 1], device=device), alpha=3)
    assert r.dtype == wgtorch.int64
    assert_close(r, np.array([-2, -1]))


@pytest.mark.parametrize("mode, ref", [("floor", np.floor_divide), ("trunc", lambda a, b: np.trunc(a / b)),
                                       (None, np.true_divide)])
def test_div_rounding_mode(device, mode, ref):
    a = np.array([-7.0, 7.0, -7.5, 7.5, 1.0, -1.0], dtype=np.float32)
    b = np.array([2.0, -2.0, 2.0, 2.0, -3.0, 3.0], dtype=np.float32)
    x, y = wgtorch.tensor(a, device=device), wgtorch.tensor(b, device=device)
    assert_close(wgtorch.div(x, y, rounding_mode=mode), ref(a.astype(np.float64), b), rtol=1e-6)
    ai, bi = a.astype(np.int64), b.astype(np.int64)
    out = wgtorch.div(wgtorch.tensor(ai, device=device), wgtorch.tensor(bi, device=device), rounding_mode=mode)
    assert out.dtype == (wgtorch.float32 if mode is None else wgtorch.int64)
    exp = ref(ai, bi)
    assert_close(out, exp, rtol=1e-6)


# ---------------------------------------------------------------------------
# integer floor division / remainder: Python's rules; division by zero
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["int64", "int32"])
def test_int_floordiv_mod_python_rules(device, dtype):
    a = np.array([-7, 7, -7, 7, 0, -1, 1, -8, 8, 9, -9], dtype=dtype)
    b = np.array([2, 2, -2, -2, 3, 3, -3, 3, -3, 3, 3], dtype=dtype)
    x = wgtorch.tensor(a, device=device)
    y = wgtorch.tensor(b, device=device)
    q, r = x // y, x % y
    assert q.dtype == getattr(wgtorch, dtype) and r.dtype == getattr(wgtorch, dtype)
    exp_q = np.array([int(i) // int(j) for i, j in zip(a, b)])
    exp_r = np.array([int(i) % int(j) for i, j in zip(a, b)])
    assert_close(q, exp_q, rtol=0, atol=0)
    assert_close(r, exp_r, rtol=0, atol=0)
    assert_close(wgtorch.floor_divide(x, y), exp_q, rtol=0, atol=0)
    assert_close(wgtorch.remainder(x, y), exp_r, rtol=0, atol=0)
    # the remainder takes the sign of the divisor, and q*b + r == a
    assert_close(q * y + r, a, rtol=0, atol=0)
    # with Python ints on either side
    assert_close(x // 3, np.array([int(i) // 3 for i in a]), rtol=0, atol=0)
    assert_close(x % -3, np.array([int(i) % -3 for i in a]), rtol=0, atol=0)
    assert_close(17 // y, np.array([17 // int(j) for j in b]), rtol=0, atol=0)
    assert_close(-17 % y, np.array([-17 % int(j) for j in b]), rtol=0, atol=0)


def test_float_floordiv_mod_python_rules(device):
    a = np.array([-7.5, 7.5, -7.5, 7.5, 0.25], dtype=np.float32)
    b = np.array([2.0, -2.0, -2.0, 2.0, -1.0], dtype=np.float32)
    x, y = wgtorch.tensor(a, device=device), wgtorch.tensor(b, device=device)
    assert_close(x // y, [float(i) // float(j) for i, j in zip(a, b)])
    assert_close(x % y, [float(i) % float(j) for i, j in zip(a, b)])


@pytest.mark.parametrize("op", [
    lambda x, y: x // y,
    lambda x, y: x % y,
    lambda x, y: wgtorch.floor_divide(x, y),
    lambda x, y: wgtorch.remainder(x, y),
    lambda x, y: wgtorch.div(x, y, rounding_mode="trunc"),
    lambda x, y: wgtorch.div(x, y, rounding_mode="floor"),
    lambda x, y: x // 0,
    lambda x, y: x % 0,
], ids=["floordiv", "mod", "floor_divide", "remainder", "div_trunc", "div_floor", "floordiv_scalar",
        "mod_scalar"])
def test_int_division_by_zero_raises(device, op):
    x = wgtorch.tensor([1, 2, 3], device=device)
    y = wgtorch.tensor([1, 0, 2], device=device)
    if device != "cpu":
        # documented: on wgpu an integer divisor of 0 gives an unspecified value, never an error or a crash
        r = op(x, y)
        assert r.shape == (3,) and r.dtype == wgtorch.int64
        return
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        op(x, y)


def test_int_division_by_zero_error_type_matches_torch(oracle):
    device = "cpu"  # PyTorch raises only on the cpu
    with pytest.raises(RuntimeError) as theirs:
        oracle.tensor([1, 2]) // oracle.tensor([0, 1])
    with pytest.raises(RuntimeError) as ours:
        wgtorch.tensor([1, 2], device=device) // wgtorch.tensor([0, 1], device=device)
    assert type(ours.value) is type(theirs.value)
    assert str(ours.value) == str(theirs.value)


def test_float_division_by_zero(device):
    x = wgtorch.tensor([1.0, -1.0, 0.0], device=device)
    with np.errstate(all="ignore"):
        assert_close(x / 0, np.array([1.0, -1.0, 0.0]) / 0.0)
        assert_close(x // 0, np.floor_divide(np.array([1.0, -1.0, 0.0]), 0.0))
        assert_close(x % 0.0, [NAN, NAN, NAN])
    assert_close(wgtorch.tensor([1, 2], device=device) / 0, [INF, INF])  # int true-division -> float


def test_int_true_division_gives_float(device):
    x = wgtorch.tensor([1, 2, 3], device=device)
    out = x / wgtorch.tensor([2, 4, 3], device=device)
    assert out.dtype == wgtorch.float32
    assert_close(out, [0.5, 0.5, 1.0])
    assert (x / 2).dtype == wgtorch.float32
    assert (2 / x).dtype == wgtorch.float32


# ---------------------------------------------------------------------------
# type promotion
# ---------------------------------------------------------------------------

def _mk(kind, device):
    return {
        "i64": lambda: wgtorch.tensor([1, 2], device=device),
        "i32": lambda: wgtorch.tensor([1, 2], dtype=wgtorch.int32, device=device),
        "f32": lambda: wgtorch.tensor([1.0, 2.0], device=device),
        "f64": lambda: wgtorch.tensor([1.0, 2.0], dtype=wgtorch.float64, device=device),
        "b": lambda: wgtorch.tensor([True, False], device=device),
        "f64_0d": lambda: wgtorch.tensor(3.0, dtype=wgtorch.float64, device=device),
        "i64_0d": lambda: wgtorch.tensor(3, device=device),
        "int": lambda: 3,
        "float": lambda: 2.5,
        "bool": lambda: True,
    }[kind]()


def _mk_torch(kind, T):
    return {
        "i64": lambda: T.tensor([1, 2]),
        "i32": lambda: T.tensor([1, 2], dtype=T.int32),
        "f32": lambda: T.tensor([1.0, 2.0]),
        "f64": lambda: T.tensor([1.0, 2.0], dtype=T.float64),
        "b": lambda: T.tensor([True, False]),
        "f64_0d": lambda: T.tensor(3.0, dtype=T.float64),
        "i64_0d": lambda: T.tensor(3),
        "int": lambda: 3,
        "float": lambda: 2.5,
        "bool": lambda: True,
    }[kind]()


PROMOTION = [
    ("i64", "i64", "add", "int64"),
    ("i32", "i64", "add", "int64"),
    ("i32", "int", "add", "int32"),
    ("i32", "i64_0d", "add", "int32"),
    ("i64", "f32", "add", "float32"),
    ("i64", "float", "mul", "float32"),
    ("i32", "float", "sub", "float32"),
    ("f32", "f64", "add", "float64"),
    ("f32", "f64_0d", "mul", "float32"),
    ("i64", "f64_0d", "add", "float64"),
    ("b", "int", "add", "int64"),
    ("b", "float", "add", "float32"),
    ("b", "i32", "mul", "int32"),
    ("i64", "i64", "truediv", "float32"),
    ("i32", "int", "pow", "int32"),
    ("i64", "float", "pow", "float32"),
    ("i64", "f32", "floordiv", "float32"),
    ("f32", "int", "floordiv", "float32"),
    ("int", "i64", "sub", "int64"),
    ("float", "i32", "truediv", "float32"),
    ("f64", "i64", "mod", "float64"),
]


@pytest.mark.float64
@pytest.mark.parametrize("a, b, opname, expected", PROMOTION)
def test_type_promotion(device, a, b, opname, expected):
    if "f64" in a + b:
        needs_float64(device)
    op = getattr(operator, opname)
    out = op(_mk(a, device), _mk(b, device))
    assert out.dtype == getattr(wgtorch, expected)
    assert str(out.dtype) == "torch." + expected


@pytest.mark.float64
@pytest.mark.parametrize("a, b, opname, expected", PROMOTION)
def test_type_promotion_matches_torch(device, oracle, a, b, opname, expected):
    if "f64" in a + b:
        needs_float64(device)
    op = getattr(operator, opname)
    ours = op(_mk(a, device), _mk(b, device))
    theirs = op(_mk_torch(a, oracle), _mk_torch(b, oracle))
    assert str(ours.dtype) == str(theirs.dtype)
    assert_close(ours, theirs)


def test_int_pow_negative_exponent_raises(device):
    with pytest.raises(RuntimeError):
        wgtorch.tensor([2, 3], device=device) ** -1
    with pytest.raises(RuntimeError):
        wgtorch.pow(wgtorch.tensor([2, 3], device=device), -2)


@fixture_ok
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4),
       opname=st.sampled_from(["add", "sub", "mul", "maximum", "minimum", "lt", "eq"]))
def test_broadcasting_generated(device, shapes, opname):
    (s1, s2), result = shapes.input_shapes, shapes.result_shape
    a = rand(s1, seed=1).round(1)
    b = rand(s2, seed=2).round(1)
    x, y = wgtorch.tensor(a, device=device), wgtorch.tensor(b, device=device)
    out = getattr(wgtorch, opname)(x, y)
    ref = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "maximum": np.maximum,
           "minimum": np.minimum, "lt": np.less, "eq": np.equal}[opname]
    assert tuple(out.shape) == tuple(result)
    assert_close(out, ref(a.astype(np.float64), b.astype(np.float64)), rtol=1e-6, atol=1e-6)


def test_incompatible_broadcast_raises(device):
    with pytest.raises(RuntimeError):
        wgtorch.ones(2, 3, device=device) + wgtorch.ones(4, device=device)
    with pytest.raises(RuntimeError):
        wgtorch.ones(2, 3, device=device) * wgtorch.ones(3, 2, device=device)


# ---------------------------------------------------------------------------
# pow, lerp, clamp/clip, maximum/minimum (NaN propagation), nan_to_num, isnan & co.
# ---------------------------------------------------------------------------

def test_pow_forms(device):
    a = rand((2, 3), 0.1, 3)
    e = rand((3,), -2, 2)
    x, y = wgtorch.tensor(a, device=device), wgtorch.tensor(e, device=device)
    a64 = a.astype(np.float64)
    assert_close(wgtorch.pow(x, 2), a64 ** 2, rtol=1e-5)
    assert_close(x.pow(0.5), np.sqrt(a64), rtol=1e-5)
    assert_close(wgtorch.pow(x, y), a64 ** e.astype(np.float64), rtol=2e-5)
    assert_close(wgtorch.pow(2, y), 2.0 ** e.astype(np.float64), rtol=1e-5)  # scalar base
    assert_close(2 ** y, 2.0 ** e.astype(np.float64), rtol=1e-5)
    assert_close(x ** 0, np.ones((2, 3)))
    assert_close(x ** -1, 1 / a64, rtol=1e-5)
    xi = wgtorch.tensor([[1, 2, 3], [-2, 0, 5]], device=device)
    r = xi ** 3
    assert r.dtype == wgtorch.int64
    assert_close(r, np.array([[1, 8, 27], [-8, 0, 125]]), rtol=0, atol=0)
    r2 = wgtorch.pow(2, wgtorch.tensor([0, 1, 10], device=device))
    assert r2.dtype == wgtorch.int64
    assert_close(r2, [1, 2, 1024], rtol=0, atol=0)
    z = wgtorch.tensor(a, device=device)
    v0 = z._version
    z.pow_(2)
    assert z._version > v0
    assert_close(z, a64 ** 2, rtol=1e-5)
    # negative base with fractional exponent -> nan, as in torch and NumPy
    with np.errstate(invalid="ignore"):
        assert_close(wgtorch.tensor([-2.0, 4.0], device=device) ** 0.5, np.array([-2.0, 4.0]) ** 0.5)


@pytest.mark.parametrize("weight_kind", ["scalar", "tensor", "broadcast"])
def test_lerp(device, weight_kind):
    s, e = rand((3, 4)), rand((3, 4))
    if weight_kind == "scalar":
        w, wv = 0.3, 0.3
    elif weight_kind == "tensor":
        wv = rand((3, 4), 0, 1)
        w = wgtorch.tensor(wv, device=device)
    else:
        wv = rand((4,), 0, 1)
        w = wgtorch.tensor(wv, device=device)
    x, y = wgtorch.tensor(s, device=device), wgtorch.tensor(e, device=device)
    exp = s.astype(np.float64) + np.asarray(wv, dtype=np.float64) * (e.astype(np.float64) - s)
    assert_close(wgtorch.lerp(x, y, w), exp, rtol=1e-5, atol=1e-6)
    assert_close(x.lerp(y, w), exp, rtol=1e-5, atol=1e-6)
    x.lerp_(y, w)
    assert_close(x, exp, rtol=1e-5, atol=1e-6)
    # the end points are exact
    assert_close(wgtorch.lerp(wgtorch.tensor(s, device=device), y, 1.0), e, rtol=0, atol=0)
    assert_close(wgtorch.lerp(wgtorch.tensor(s, device=device), y, 0.0), s, rtol=0, atol=0)


@pytest.mark.parametrize("fname", ["clamp", "clip"])
def test_clamp_clip(device, fname):
    a = rand((4, 5))
    x = wgtorch.tensor(a, device=device)
    f = getattr(wgtorch, fname)
    a64 = a.astype(np.float64)
    assert_close(f(x, -0.5, 0.5), np.clip(a64, -0.5, 0.5))
    assert_close(f(x, min=-0.5), np.maximum(a64, -0.5))
    assert_close(f(x, max=0.5), np.minimum(a64, 0.5))
    assert_close(getattr(x, fname)(-1, 1), np.clip(a64, -1, 1))
    # tensor bounds broadcast
    lo, hi = rand((5,), -2, 0), rand((4, 1), 0, 2)
    assert_close(f(x, wgtorch.tensor(lo, device=device), wgtorch.tensor(hi, device=device)),
                 np.minimum(np.maximum(a64, lo), hi))
    # min > max: every element becomes max (torch's rule)
    assert_close(f(x, 1.0, 0.0), np.zeros((4, 5)))
    # non-contiguous input
    xt = wgtorch.tensor(a.T.copy(), device=device).t()
    assert_close(f(xt, -0.5, 0.5), np.clip(a64, -0.5, 0.5))
    # int tensors stay int
    xi = wgtorch.tensor([-5, 0, 3, 9], device=device)
    r = f(xi, 0, 4)
    assert r.dtype == wgtorch.int64
    assert_close(r, [0, 0, 3, 4], rtol=0, atol=0)
    # in place, through a view
    base = wgtorch.tensor(a, device=device)
    v0 = base._version
    r = getattr(base[1:3], fname + "_")(-0.2, 0.2)
    assert base._version > v0
    exp = a64.copy()
    exp[1:3] = np.clip(exp[1:3], -0.2, 0.2)
    assert_close(base, exp)


def test_clamp_requires_a_bound(device):
    with pytest.raises(RuntimeError):
        wgtorch.clamp(wgtorch.ones(3, device=device))


def test_clamp_propagates_nan(device):
    x = wgtorch.tensor([NAN, -5.0, 5.0, 0.0], device=device)
    assert_close(wgtorch.clamp(x, -1, 1), [NAN, -1, 1, 0])
    assert_close(wgtorch.clamp(x, min=0), [NAN, 0, 5, 0])
    assert_close(wgtorch.clamp(x, max=0), [NAN, -5, 0, 0])
    assert_close(wgtorch.clamp(x, 1, 0), [NAN, 0, 0, 0])


def test_relu_propagates_nan(device):
    x = wgtorch.tensor([NAN, -1.0, 2.0, -INF, INF], device=device)
    assert_close(wgtorch.relu(x), [NAN, 0, 2, 0, INF])
    assert_close(x.relu(), [NAN, 0, 2, 0, INF])


@pytest.mark.parametrize("fname, ref", [("maximum", np.maximum), ("minimum", np.minimum)])
def test_maximum_minimum(device, fname, ref):
    a, b = rand((3, 4)), rand((4,))
    x, y = wgtorch.tensor(a, device=device), wgtorch.tensor(b, device=device)
    exp = ref(a.astype(np.float64), b)
    assert_close(getattr(wgtorch, fname)(x, y), exp)
    assert_close(getattr(x, fname)(y), exp)
    xt = wgtorch.tensor(a.T.copy(), device=device).t()
    assert_close(getattr(wgtorch, fname)(xt, y), exp)
    # NaN in either operand propagates (np.maximum / np.minimum do the same)
    p = wgtorch.tensor([NAN, 1.0, NAN, 3.0], device=device)
    q = wgtorch.tensor([1.0, NAN, NAN, 2.0], device=device)
    assert_close(getattr(wgtorch, fname)(p, q), ref(to_np(p), to_np(q)))
    assert np.isnan(to_np(getattr(wgtorch, fname)(p, q))[:3]).all()
    # ints and mixed promotion
    xi = wgtorch.tensor([1, 5, -3], device=device)
    yi = wgtorch.tensor([2, 4, -3], device=device)
    ri = getattr(wgtorch, fname)(xi, yi)
    assert ri.dtype == wgtorch.int64
    assert_close(ri, ref([1, 5, -3], [2, 4, -3]), rtol=0, atol=0)
    rm = getattr(wgtorch, fname)(xi, wgtorch.tensor([1.5, 4.5, 0.0], device=device))
    assert rm.dtype == wgtorch.float32


def test_nan_to_num(device):
    vals = np.array([NAN, INF, -INF, 1.5, -2.0], dtype=np.float32)
    x = wgtorch.tensor(vals, device=device)
    assert_close(wgtorch.nan_to_num(x), np.nan_to_num(vals), rtol=1e-6)
    assert to_np(wgtorch.nan_to_num(x))[1] == np.finfo(np.float32).max
    assert_close(wgtorch.nan_to_num(x, nan=0.5, posinf=10.0, neginf=-10.0), [0.5, 10, -10, 1.5, -2])
    assert_close(x.nan_to_num(nan=-1.0), np.nan_to_num(vals, nan=-1.0), rtol=1e-6)
    if device == "cpu":
        x64 = wgtorch.tensor(vals, dtype=wgtorch.float64, device=device)
        out64 = wgtorch.nan_to_num(x64)
        assert out64.dtype == wgtorch.float64
        assert to_np(out64)[2] == np.finfo(np.float64).min
    x.nan_to_num_()
    assert_close(x, np.nan_to_num(vals), rtol=1e-6)


def test_isnan_isinf_isfinite(device):
    vals = np.array([[NAN, INF, -INF], [0.0, -1.0, 3e38]], dtype=np.float32)
    x = wgtorch.tensor(vals, device=device)
    for name, ref in [("isnan", np.isnan), ("isinf", np.isinf), ("isfinite", np.isfinite)]:
        for out in (getattr(wgtorch, name)(x), getattr(x, name)(), getattr(wgtorch, name)(x.t())):
            assert out.dtype == wgtorch.bool
        assert_close(getattr(wgtorch, name)(x), ref(vals))
        assert_close(getattr(x, name)(), ref(vals))
        assert_close(getattr(wgtorch, name)(x.t()), ref(vals.T))
        xi = wgtorch.tensor([1, 2], device=device)
        ri = getattr(wgtorch, name)(xi)
        assert ri.dtype == wgtorch.bool
        assert_close(ri, ref(np.array([1.0, 2.0])))


# ---------------------------------------------------------------------------
# comparisons
# ---------------------------------------------------------------------------

CMP = [("eq", operator.eq, np.equal), ("ne", operator.ne, np.not_equal), ("lt", operator.lt, np.less),
       ("le", operator.le, np.less_equal), ("gt", operator.gt, np.greater),
       ("ge", operator.ge, np.greater_equal)]


@pytest.mark.parametrize("name, op, ref", CMP, ids=[c[0] for c in CMP])
def test_comparisons(device, name, op, ref):
    a = np.array([[1.0, 2.0, NAN, -1.0], [0.0, 3.0, 2.0, INF]], dtype=np.float32)
    b = np.array([2.0, 2.0, NAN, -INF], dtype=np.float32)
    x, y = wgtorch.tensor(a, device=device), wgtorch.tensor(b, device=device)
    exp = ref(a, b)
    for out in (op(x, y), getattr(wgtorch, name)(x, y), getattr(x, name)(y)):
        assert out.dtype == wgtorch.bool
        assert tuple(out.shape) == (2, 4)
        assert_close(out, exp)
    # python scalar on either side (reflected comparison)
    assert_close(op(x, 2.0), ref(a, 2.0))
    assert_close(op(2.0, x), ref(2.0, a))
    # non-contiguous
    assert_close(op(x.t(), y.unsqueeze(1)), ref(a.T, b[:, None]))
    # mixed int / float compares by value
    xi = wgtorch.tensor([1, 2, 3], device=device)
    assert_close(op(xi, wgtorch.tensor([1.0, 2.5, 2.0], device=device)), ref([1, 2, 3], [1.0, 2.5, 2.0]))
    assert_close(op(xi, 2), ref([1, 2, 3], 2))


@pytest.mark.parametrize("name, op, ref", CMP, ids=[c[0] for c in CMP])
def test_comparisons_match_torch(device, oracle, name, op, ref):
    a = [[1.0, 2.0, NAN], [0.0, 3.0, 2.0]]
    b = [2.0, 2.0, NAN]
    ours = op(wgtorch.tensor(a, device=device), wgtorch.tensor(b, device=device))
    theirs = op(oracle.tensor(a), oracle.tensor(b))
    assert str(ours.dtype) == str(theirs.dtype)
    assert_close(ours, theirs)


# ---------------------------------------------------------------------------
# logical and bitwise
# ---------------------------------------------------------------------------

LOGICAL = [("logical_and", np.logical_and), ("logical_or", np.logical_or), ("logical_xor", np.logical_xor)]


@pytest.mark.parametrize("name, ref", LOGICAL)
def test_logical_binary(device, name, ref):
    a = np.array([[0.0, 1.0, -2.0, NAN], [0.0, 0.0, 3.0, 0.5]], dtype=np.float32)
    b = np.array([1, 0, 3, 0])
    x, y = wgtorch.tensor(a, device=device), wgtorch.tensor(b, device=device)
    for out in (getattr(wgtorch, name)(x, y), getattr(x, name)(y)):
        assert out.dtype == wgtorch.bool
        assert_close(out, ref(a, b))
    p = wgtorch.tensor([True, True, False, False], device=device)
    q = wgtorch.tensor([True, False, True, False], device=device)
    assert_close(getattr(wgtorch, name)(p, q), ref(to_np(p), to_np(q)))
    assert_close(getattr(wgtorch, name)(p.unsqueeze(1), q), ref(to_np(p)[:, None], to_np(q)))


def test_logical_not(device):
    a = np.array([0.0, 1.0, NAN, -0.0, 2.0], dtype=np.float32)
    out = wgtorch.logical_not(wgtorch.tensor(a, device=device))
    assert out.dtype == wgtorch.bool
    assert_close(out, np.logical_not(a))
    assert_close(wgtorch.tensor([0, 3, -1], device=device).logical_not(), [True, False, False])
    b = wgtorch.tensor([True, False], device=device)
    assert_close(wgtorch.logical_not(b), [False, True])


@pytest.mark.parametrize("op, ref", [(operator.and_, np.bitwise_and), (operator.or_, np.bitwise_or),
                                     (operator.xor, np.bitwise_xor)], ids=["and", "or", "xor"])
def test_bitwise_operators(device, op, ref):
    pb = np.array([True, True, False, False])
    qb = np.array([True, False, True, False])
    p, q = wgtorch.tensor(pb, device=device), wgtorch.tensor(qb, device=device)
    out = op(p, q)
    assert out.dtype == wgtorch.bool
    assert_close(out, ref(pb, qb))
    ai = np.array([12, -7, 0, 255, 6])
    bi = np.array([10, 3, 5, 15, -1])
    x, y = wgtorch.tensor(ai, device=device), wgtorch.tensor(bi, device=device)
    r = op(x, y)
    assert r.dtype == wgtorch.int64
    assert_close(r, ref(ai, bi), rtol=0, atol=0)
    assert_close(op(x, 6), ref(ai, 6), rtol=0, atol=0)
    assert_close(op(6, x), ref(6, ai), rtol=0, atol=0)  # reflected
    r32 = op(wgtorch.tensor(ai, dtype=wgtorch.int32, device=device), 3)
    assert r32.dtype == wgtorch.int32
    # in place
    z = wgtorch.tensor(ai, device=device)
    alias = z
    z = {operator.and_: operator.iand, operator.or_: operator.ior, operator.xor: operator.ixor}[op](z, y)
    assert z is alias
    assert_close(z, ref(ai, bi), rtol=0, atol=0)


def test_invert_operator(device):
    out = ~wgtorch.tensor([True, False], device=device)
    assert out.dtype == wgtorch.bool
    assert_close(out, [False, True])
    ai = np.array([0, 1, -2, 7])
    r = ~wgtorch.tensor(ai, device=device)
    assert r.dtype == wgtorch.int64
    assert_close(r, np.invert(ai), rtol=0, atol=0)


def test_bitwise_on_float_raises(device):
    x = wgtorch.tensor([1.0, 2.0], device=device)
    with pytest.raises(RuntimeError):  # torch raises NotImplementedError, a RuntimeError
        x & x
    with pytest.raises(TypeError):  # torch: "~ (operator.invert) is only implemented on integer and Boolean"
        ~x


# ---------------------------------------------------------------------------
# casts
# ---------------------------------------------------------------------------

def test_float_to_int_truncates_toward_zero(device):
    a = np.array([-2.9, -1.7, -1.0, -0.5, -0.0, 0.5, 0.99, 1.7, 2.5, 1e6 + 0.5], dtype=np.float32)
    x = wgtorch.tensor(a, device=device)
    exp = np.trunc(a.astype(np.float64)).astype(np.int64)
    for out, dt in [(x.long(), wgtorch.int64), (x.to(wgtorch.int64), wgtorch.int64),
                    (x.int(), wgtorch.int32), (x.to(wgtorch.int32), wgtorch.int32),
                    (x.t().long() if x.ndim > 1 else x[::1].long(), wgtorch.int64)]:
        assert out.dtype == dt
        assert_close(out, exp, rtol=0, atol=0)
    b = x.bool()
    assert b.dtype == wgtorch.bool
    assert_close(b, a != 0)
    assert_close(wgtorch.tensor([True, False], device=device).float(), [1.0, 0.0])
    if device == "cpu":
        assert_close(wgtorch.tensor([3, -4], device=device).double(), [3.0, -4.0])
        assert wgtorch.tensor([3, -4], device=device).double().dtype == wgtorch.float64


def test_casts_of_noncontiguous(device):
    a = rand((4, 6), -10, 10)
    x = wgtorch.tensor(a, device=device)[::2, 1::2].t()
    assert_close(x.long(), np.trunc(a[::2, 1::2].T.astype(np.float64)), rtol=0, atol=0)


# ---------------------------------------------------------------------------
# in-place ops: values, views, version counter
# ---------------------------------------------------------------------------

def test_views_share_storage_and_version(device):
    base = wgtorch.zeros(3, 4, device=device)
    row = base[1]
    col = base[:, 2]
    tr = base.t()
    v = base._version
    row.add_(1)
    assert base._version > v and row._version == base._version and col._version == base._version
    col.mul_(3)
    tr[0, 0] = 7.0  # setitem through a transposed view
    exp = np.zeros((3, 4))
    exp[1] += 1
    exp[:, 2] *= 3
    exp[0, 0] = 7
    assert_close(base, exp)
    assert_close(row, exp[1])
    assert_close(col, exp[:, 2])
    assert_close(tr, exp.T)
    v = base._version
    base.sub_(1)  # in place on the base shows through every view
    assert row._version > v
    assert_close(row, exp[1] - 1)
    assert_close(tr, exp.T - 1)


INPLACE = [
    ("add_", lambda x, o: x.add_(o), lambda a, b: a + b),
    ("add_alpha", lambda x, o: x.add_(o, alpha=2), lambda a, b: a + 2 * b),
    ("sub_", lambda x, o: x.sub_(o), lambda a, b: a - b),
    ("mul_", lambda x, o: x.mul_(o), lambda a, b: a * b),
    ("div_", lambda x, o: x.div_(o), lambda a, b: a / b),
    ("clamp_", lambda x, o: x.clamp_(-0.5, 0.5), lambda a, b: np.clip(a, -0.5, 0.5)),
    ("zero_", lambda x, o: x.zero_(), lambda a, b: np.zeros_like(a)),
    ("fill_", lambda x, o: x.fill_(2.5), lambda a, b: np.full_like(a, 2.5)),
    ("fill_0d", lambda x, o: x.fill_(wgtorch.tensor(-1.5, device=o.device)), lambda a, b: np.full_like(a, -1.5)),
    ("copy_", lambda x, o: x.copy_(o), lambda a, b: np.broadcast_to(b, a.shape)),
    ("iadd", lambda x, o: x.__iadd__(o), lambda a, b: a + b),
    ("imul_scalar", lambda x, o: x.__imul__(3), lambda a, b: a * 3),
    ("setitem", lambda x, o: x.__setitem__(slice(None), o), lambda a, b: np.broadcast_to(b, a.shape)),
    ("exp_", lambda x, o: x.exp_(), lambda a, b: np.exp(a)),
    ("neg_", lambda x, o: x.neg_(), lambda a, b: -a),
]


@pytest.mark.parametrize("name, fn, ref", INPLACE, ids=[i[0] for i in INPLACE])
def test_inplace_on_view_modifies_base(device, name, fn, ref):
    a = rand((4, 6))
    o = rand((3,), 0.5, 2)  # broadcasts along the view's last dim
    base = wgtorch.tensor(a, device=device)
    view = base[::2, 1:6:2].t()  # (3, 2), non-contiguous
    other = wgtorch.tensor(o, device=device).unsqueeze(1)  # (3, 1)
    v0, vv0 = base._version, view._version
    r = fn(view, other)
    assert r is view or name == "setitem"
    assert base._version > v0
    assert view._version > vv0
    exp = a.astype(np.float64).copy()
    sub = exp[::2, 1:6:2].T
    exp[::2, 1:6:2] = np.asarray(ref(sub, o.astype(np.float64)[:, None])).T
    assert_close(base, exp, rtol=1e-5, atol=1e-6)
    assert_close(view, exp[::2, 1:6:2].T, rtol=1e-5, atol=1e-6)


def test_fill_with_multi_element_tensor_raises(device):
    with pytest.raises(RuntimeError):
        wgtorch.zeros(3, device=device).fill_(wgtorch.tensor([1.0, 2.0], device=device))


@pytest.mark.float64
def test_copy_broadcast_and_dtype(device):
    dst = wgtorch.zeros(2, 3, device=device)
    r = dst.copy_(wgtorch.tensor([1, 2, 3], device=device))  # int -> float, broadcast
    assert r is dst
    assert dst.dtype == wgtorch.float32
    assert_close(dst, [[1, 2, 3], [1, 2, 3]])
    src = wgtorch.tensor(np.arange(6.0).reshape(3, 2), device=device).t()  # non-contiguous source
    dst.copy_(src)
    assert_close(dst, np.arange(6.0).reshape(3, 2).T)
    di = wgtorch.zeros(3, dtype=wgtorch.int64, device=device)
    di.copy_(wgtorch.tensor([-1.7, 0.5, 2.9], device=device))  # float -> int truncates
    assert_close(di, [-1, 0, 2], rtol=0, atol=0)
    with pytest.raises(RuntimeError):
        wgtorch.zeros(3, device=device).copy_(wgtorch.ones(2, 3, device=device))


def test_uniform_(device):
    wgtorch.manual_seed(0)
    x = wgtorch.empty(20000, device=device)
    v0 = x._version
    r = x.uniform_(-2.0, 3.0)
    assert r is x
    assert x._version > v0
    a = to_np(x)
    assert a.dtype == np.float32
    assert a.min() >= -2.0 and a.max() < 3.0
    assert abs(a.mean() - 0.5) < 0.06
    assert abs(a.std() - 5 / math.sqrt(12)) < 0.05
    # a roughly flat histogram
    hist, _ = np.histogram(a, bins=5, range=(-2, 3))
    assert hist.min() > 3500
    # default range [0, 1)
    b = to_np(wgtorch.empty(5000, device=device).uniform_())
    assert b.min() >= 0 and b.max() < 1 and abs(b.mean() - 0.5) < 0.03
    # seeded: reproducible
    wgtorch.manual_seed(7)
    c1 = to_np(wgtorch.empty(10, device=device).uniform_())
    wgtorch.manual_seed(7)
    c2 = to_np(wgtorch.empty(10, device=device).uniform_())
    np.testing.assert_array_equal(c1, c2)


def test_normal_(device):
    wgtorch.manual_seed(1)
    dt = wgtorch.float64 if device == "cpu" else wgtorch.float32
    x = wgtorch.empty(20000, dtype=dt, device=device)
    v0 = x._version
    r = x.normal_(2.0, 0.5)
    assert r is x and x._version > v0
    assert x.dtype == dt
    a = to_np(x)
    assert abs(a.mean() - 2.0) < 0.02
    assert abs(a.std() - 0.5) < 0.02
    # about 68% within one sigma
    assert abs(np.mean(np.abs(a - 2.0) < 0.5) - 0.6827) < 0.02
    b = to_np(wgtorch.empty(10000, device=device).normal_())
    assert abs(b.mean()) < 0.05 and abs(b.std() - 1) < 0.05


def test_random_inplace_on_view(device):
    wgtorch.manual_seed(3)
    x = wgtorch.zeros(6, 4, device=device)
    x[:, 1].uniform_(1.0, 2.0)
    x[::2, 3].normal_(10.0, 0.1)
    a = to_np(x)
    assert ((a[:, 1] >= 1) & (a[:, 1] < 2)).all()
    assert (np.abs(a[::2, 3] - 10) < 1).all()
    assert (a[:, [0, 2]] == 0).all() and (a[1::2, 3] == 0).all()
    assert len(np.unique(a[:, 1])) == 6  # not a single repeated value


def test_inplace_write_to_expanded_tensor_raises(device):
    x = wgtorch.ones(3, device=device).expand(2, 3)
    with pytest.raises(RuntimeError):
        x.add_(1)
    with pytest.raises(RuntimeError):
        wgtorch.ones(1, 3, device=device).expand(2, 3).copy_(wgtorch.zeros(2, 3, device=device))


def test_clamp_int_with_float_bound_promotes(device):
    out = wgtorch.clamp(wgtorch.tensor([1, 5, 9], device=device), min=2.5)
    assert out.dtype == wgtorch.float32
    assert_close(out, [2.5, 5.0, 9.0])


@pytest.mark.parametrize("name", ["add", "mul", "sub", "div", "maximum", "pow", "eq", "lt"])
def test_scalar_0d_tensor_operand(device, name):
    """A 0-d tensor operand broadcasts like a scalar and does not raise the result's float width."""
    a = rand((2, 3), 0.5, 2)
    x = wgtorch.tensor(a, device=device)
    s = wgtorch.tensor(1.5, dtype=wgtorch.float64 if device == "cpu" else wgtorch.float32, device=device)
    out = getattr(wgtorch, name)(x, s)
    ref = {"add": np.add, "mul": np.multiply, "sub": np.subtract, "div": np.divide, "maximum": np.maximum,
           "pow": np.power, "eq": np.equal, "lt": np.less}[name]
    assert out.dtype == (wgtorch.bool if name in ("eq", "lt") else wgtorch.float32)
    assert_close(out, ref(a.astype(np.float64), 1.5), rtol=1e-6)
    out2 = getattr(wgtorch, name)(s, x)
    assert tuple(out2.shape) == (2, 3)
    assert_close(out2, ref(1.5, a.astype(np.float64)), rtol=1e-6)
