"""The activation layers ReLU6 ... PReLU and their nn.functional forms against real torch on every
device: values and gradients (contiguous, transposed, sliced, batch 1, odd shapes), edge values
(0, -0, +-inf, NaN, exactly at thresholds, infinite and NaN incoming gradients), the 16-bit and 64-bit
floats, in-place forms, printing and argument errors."""
import re
import warnings

import numpy as np
import pytest

import wgtorch
from conftest import assert_close, to_np

# Each case runs unchanged on both libraries: fn(T, x, w) with T wgtorch or torch; w is a weight of
# shape wshape (None: no weight) whose gradient is compared too. Inputs are 3-D with 6 channels (dim 1).


def _f(name, *args, **kw):
    return lambda T, x, w: getattr(T.nn.functional, name)(x, *args, **kw)


def _m(name, *args, **kw):
    return lambda T, x, w: getattr(T.nn, name)(*args, **kw)(x)


CASES = [
    ("relu6", _f("relu6"), None),
    ("hardtanh", _f("hardtanh", -2.0, 0.5), None),
    ("hardsigmoid", _f("hardsigmoid"), None),
    ("hardswish", _f("hardswish"), None),
    ("mish", _f("mish"), None),
    ("selu", _f("selu"), None),
    ("celu", _f("celu", 0.7), None),
    ("logsigmoid", _f("logsigmoid"), None),
    ("softsign", _f("softsign"), None),
    ("tanhshrink", _f("tanhshrink"), None),
    ("softshrink", _f("softshrink"), None),
    ("softshrink_0", _f("softshrink", 0.0), None),
    ("softshrink_1.5", _f("softshrink", 1.5), None),
    ("hardshrink", _f("hardshrink"), None),
    ("hardshrink_0", _f("hardshrink", 0.0), None),
    ("hardshrink_neg", _f("hardshrink", -1.0), None),
    ("threshold", _f("threshold", 0.5, -7.0), None),
    ("threshold_neg", _f("threshold", -1.0, 2.0), None),
    ("glu", _f("glu", 1), None),
    ("glu_neg", _f("glu", dim=-2), None),
    ("softmin", _f("softmin", dim=1), None),
    ("prelu_shared", lambda T, x, w: T.nn.functional.prelu(x, w), (1,)),
    ("prelu_scalar", lambda T, x, w: T.nn.functional.prelu(x, w), ()),
    ("prelu_channels", lambda T, x, w: T.nn.functional.prelu(x, w), (6,)),
    ("ReLU6", _m("ReLU6"), None),
    ("Hardtanh", _m("Hardtanh", -0.5, 2.0), None),
    ("Hardsigmoid", _m("Hardsigmoid"), None),
    ("Hardswish", _m("Hardswish"), None),
    ("Mish", _m("Mish"), None),
    ("SELU", _m("SELU"), None),
    ("CELU", _m("CELU", 1.3), None),
    ("LogSigmoid", _m("LogSigmoid"), None),
    ("Softsign", _m("Softsign"), None),
    ("Tanhshrink", _m("Tanhshrink"), None),
    ("Softshrink", _m("Softshrink", 1.0), None),
    ("Hardshrink", _m("Hardshrink"), None),
    ("Threshold", _m("Threshold", 0.1, 20.0), None),
    ("GLU", _m("GLU", 1), None),
    ("Softmin", _m("Softmin", 1), None),
    ("Softmax2d", _m("Softmax2d"), None),
]
IDS = [c[0] for c in CASES]
# the grad_fn torch gives the new functionals (the others are composites or checked elsewhere)
NODE_NAMES = {"softshrink": "SoftshrinkBackward0", "hardshrink": "HardshrinkBackward0",
              "threshold": "ThresholdBackward0", "glu": "GluBackward0", "tanhshrink": "SubBackward0",
              "prelu": "PreluKernelBackward0", "celu": "CeluBackward0", "selu": "EluBackward0"}

# random values, plus the thresholds of the cases (+-0.5, +-1, +-3, 0, 6, 1.5, -2, ...) exactly
_HITS = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0, 6.0, 1.5, -1.5, -2.0, 0.1], np.float32)


def _input(shape, seed):
    a = (np.random.default_rng(seed).standard_normal(shape) * 3).astype(np.float32)
    flat = a.reshape(-1)
    flat[::5][:_HITS.size] = _HITS[:flat[::5].size]
    return a


_EDGE = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 0.5, -0.5, 3.0, -3.0, 6.0, -1.0, 1.0,
                  -2.0, 2.0, 1e-3, -1e-3, 20.0, -20.0, 0.1, -0.1, 1.5, -1.5, 7.0, -7.0], np.float32)
# 96 elements: torch's cpu kernels treat a tensor in SIMD blocks and a scalar tail, which differ at some
# edges (the sign of a zero, a NaN input's gradient); with no tail every element sees the SIMD form
EDGE = np.concatenate([_EDGE, _EDGE[::-1], np.roll(_EDGE, 5), np.roll(_EDGE, 11)]).reshape(8, 6, 2)
EDGE_G = np.resize(np.array([np.inf, -np.inf, np.nan, 2.0, -3.0, 0.5, 1.0], np.float32), EDGE.shape)


def _operand(a, layout, device, dtype, grad):
    """(leaf, operand, how to read the operand's gradient off the leaf's): the operand holds a's values,
    contiguous, as a transposed view or as a strided slice."""
    def t(v):
        return wgtorch.tensor(v, device=device).to(getattr(wgtorch, dtype)).requires_grad_(grad)
    if layout == "transposed":
        leaf = t(np.ascontiguousarray(np.swapaxes(a, 0, -1)))
        return leaf, leaf.transpose(0, -1), lambda g: np.swapaxes(g, 0, -1)
    if layout == "sliced":
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), np.float32)
        big[..., 1::2] = a
        leaf = t(big)
        return leaf, leaf[..., 1::2], lambda g: g[..., 1::2]
    leaf = t(a)
    return leaf, leaf, lambda g: g


def _run(oracle, fn, wshape, a, device, dtype="float32", layout="contig", g=None, tol=None):
    """fn on wgtorch and on torch with the same a (and weight); backward with cotangent g (random if None).
    Returns (out, ref) after comparing the values and the input's and the weight's gradients."""
    leaf, x, read = _operand(a, layout, device, dtype, True)
    if layout != "contig":
        assert not x.is_contiguous()
    tdt = getattr(oracle, dtype)
    xt = oracle.tensor(a).to(tdt).requires_grad_()
    w = wt = None
    if wshape is not None:
        wv = np.linspace(-0.4, 0.9, int(np.prod(wshape))).reshape(wshape).astype(np.float32)
        w = wgtorch.tensor(wv, device=device).to(getattr(wgtorch, dtype)).requires_grad_()
        wt = oracle.tensor(wv).to(tdt).requires_grad_()
    out, ref = fn(wgtorch, x, w), fn(oracle, xt, wt)
    assert out.dtype == getattr(wgtorch, dtype) and tuple(out.shape) == tuple(ref.shape)
    assert str(out.device).split(":")[0] == device
    if g is None:
        g = np.random.default_rng(1).standard_normal(tuple(ref.shape)).astype(np.float32)
    g = np.resize(g, tuple(ref.shape))  # (glu halves its input)
    out.backward(wgtorch.tensor(g, device=device).to(out.dtype))
    ref.backward(oracle.tensor(g).to(ref.dtype))
    rtol, atol = tol or ((1e-12, 1e-12) if dtype == "float64" else (1e-5, 1e-5) if device == "cpu" else (1e-4, 1e-5))
    wide = wgtorch.float64 if dtype == "float64" else wgtorch.float32
    for got, want in [(out, ref), (read(to_np(leaf.grad.to(wide))), xt.grad)] + \
            ([(w.grad, wt.grad)] if w is not None else []):
        want = want.detach().double().numpy()
        scale = np.abs(want[np.isfinite(want)]).max(initial=1.0)
        assert_close(got.to(wide) if isinstance(got, wgtorch.Tensor) else got, want, rtol, atol * scale)
    return out, ref


@pytest.mark.parametrize("layout,shape", [("contig", (3, 6, 4)), ("transposed", (3, 6, 4)),
                                          ("sliced", (2, 6, 3)), ("contig", (1, 6, 5))],
                         ids=["contig", "transposed", "sliced", "batch1_odd"])
@pytest.mark.parametrize("name,fn,wshape", CASES, ids=IDS)
def test_matches_torch(device, oracle, name, fn, wshape, layout, shape):
    out, ref = _run(oracle, fn, wshape, _input(shape, len(name)), device, layout=layout)
    base = name.split("_")[0]
    if base in NODE_NAMES:
        assert out.grad_fn.name() == ref.grad_fn.name() == NODE_NAMES[base]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # (NumPy on inf and NaN)
@pytest.mark.parametrize("name,fn,wshape", CASES, ids=IDS)
def test_edge_values(device, oracle, name, fn, wshape):
    """0, -0, +-inf, NaN and values at the thresholds, with infinite and NaN incoming gradients: the
    same values and gradients as torch (NaN where torch has NaN), and zeros of torch's sign."""
    out, ref = _run(oracle, fn, wshape, EDGE, device, g=EDGE_G)
    got, want = to_np(out), ref.detach().numpy()
    zero = want == 0
    if name.lower() == "relu6":  # wgtorch's clamp (which hardtanh uses) gives +0 at -0, torch's keeps -0
        zero &= ~np.signbit(want)
    np.testing.assert_array_equal(np.signbit(got[zero]), np.signbit(want[zero]))


_MASKED = ["relu6", "hardtanh", "hardsigmoid", "softshrink", "softshrink_0", "hardshrink", "hardshrink_0",
           "threshold", "threshold_neg", "ReLU6", "Hardtanh", "Threshold", "Softshrink", "Hardshrink"]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # (NumPy on inf and NaN)
@pytest.mark.parametrize("name", _MASKED)
def test_blocked_gradient_is_positive_zero(device, oracle, name):
    """Where the gradient does not pass it is +0 even for an infinite or NaN incoming gradient."""
    fn = dict((c[0], c[1]) for c in CASES)[name]
    x = wgtorch.tensor(EDGE, device=device, requires_grad=True)
    xt = oracle.tensor(EDGE, requires_grad=True)
    fn(wgtorch, x, None).backward(wgtorch.tensor(EDGE_G, device=device))
    fn(oracle, xt, None).backward(oracle.tensor(EDGE_G))
    got, want = to_np(x.grad), xt.grad.numpy()
    blocked = want == 0
    assert blocked.any() and not np.signbit(got[blocked]).any()
    np.testing.assert_array_equal(got, want)


# lower precision: torch computes in the same dtype; halves compare with looser tolerances
_DT_TOL = {"float64": None, "float16": (1e-2, 2e-3), "bfloat16": (2e-2, 1.6e-2)}


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16"])
@pytest.mark.parametrize("name,fn,wshape", CASES, ids=IDS)
def test_dtypes(device, oracle, name, fn, wshape, dtype):
    a = _input((2, 6, 4), 7)
    if dtype != "float64":  # thresholds that the 16-bit floats round: forward and backward bands as torch
        a.reshape(-1)[1:5] = [0.1, -0.1, 0.09997, 0.10009765625]
    _run(oracle, fn, wshape, a, device, dtype, tol=_DT_TOL[dtype])


def test_prelu_module(device, oracle):
    """The per-channel weight on dim 1 (and its gradient) as torch, with batch 1 and a transposed input."""
    for n, shape in [(1, (2, 3)), (4, (1, 4, 3, 5)), (3, (5, 3)), (1, (7,)), (1, ())]:
        a = _input(shape, n) if shape else np.float32(-2.5)
        for layout in ("contig", "transposed"):
            if layout == "transposed" and len(shape) < 2:
                continue
            m, mt = wgtorch.nn.PReLU(n, init=0.3).to(device), oracle.nn.PReLU(n, init=0.3)
            leaf, x, read = _operand(np.asarray(a), layout, device, "float32", True)
            xt = oracle.tensor(a, requires_grad=True)
            out, ref = m(x), mt(xt)
            assert out.grad_fn.name() == ref.grad_fn.name() == "PreluKernelBackward0"
            g = np.random.default_rng(3).standard_normal(tuple(ref.shape)).astype(np.float32)
            out.backward(wgtorch.tensor(g, device=device))
            ref.backward(oracle.tensor(g))
            assert_close(out, ref, 1e-5, 1e-5)
            assert_close(read(to_np(leaf.grad)), xt.grad, 1e-5, 1e-5)
            assert_close(m.weight.grad, mt.weight.grad, 1e-4, 1e-4)


def test_prelu_parameter_init(device):
    m = wgtorch.nn.PReLU(5, init=-0.125, device=device, dtype=wgtorch.float16)
    assert isinstance(m.weight, wgtorch.nn.Parameter) and m.weight.requires_grad
    assert m.weight.dtype == wgtorch.float16 and m.weight.device.type == device
    np.testing.assert_array_equal(to_np(m.weight), np.full(5, -0.125, np.float16))
    assert [n for n, _ in m.named_parameters()] == ["weight"] and m.num_parameters == 5 and m.init == -0.125
    # the default initialisation draws nothing from the generator
    wgtorch.manual_seed(3)
    a = to_np(wgtorch.rand(4))
    wgtorch.manual_seed(3)
    m = wgtorch.nn.PReLU()
    np.testing.assert_array_equal(to_np(wgtorch.rand(4)), a)
    np.testing.assert_array_equal(to_np(m.weight), [0.25])
    m.weight.data.fill_(1.0)
    m.reset_parameters()
    np.testing.assert_array_equal(to_np(m.weight), [0.25])


def test_glu_dims(device, oracle):
    """The default dim (-1), dim 0, batch 1, an empty half, and the second derivative."""
    for shape, dims in [((2, 4), (-1, 0)), ((1, 3, 2), (-1, 2)), ((4,), (0,)), ((3, 0), (1,))]:
        a = _input(shape, 2)
        for d in dims:
            fn = (lambda T, x, w: T.nn.functional.glu(x)) if d == -1 else _f("glu", d)
            _run(oracle, fn, None, a, device)
    x = wgtorch.tensor(_input((3, 4), 5), device=device, requires_grad=True)
    xt = oracle.tensor(_input((3, 4), 5), requires_grad=True)
    (g,) = wgtorch.autograd.grad(wgtorch.nn.functional.glu(x).pow(2).sum(), x, create_graph=True)
    (gt,) = oracle.autograd.grad(oracle.nn.functional.glu(xt).pow(2).sum(), xt, create_graph=True)
    assert_close(g, gt, 1e-5, 1e-5)
    (h,), (ht,) = wgtorch.autograd.grad(g.pow(2).sum(), x), oracle.autograd.grad(gt.pow(2).sum(), xt)
    assert_close(h, ht, 1e-4, 1e-4)


@pytest.mark.parametrize("name", ["softshrink", "hardshrink", "threshold", "prelu"])
def test_double_backward(device, oracle, name):
    """The nodes' backwards are Tensor ops: differentiable again, as torch's."""
    a = _input((2, 6, 3), 9)
    fn = {"softshrink": _f("softshrink", 0.5), "hardshrink": _f("hardshrink", 0.5),
          "threshold": _f("threshold", 0.5, -7.0), "prelu": lambda T, x, w: T.nn.functional.prelu(x, w)}[name]
    w, wt = (wgtorch.full((6,), 0.3, device=device, requires_grad=True),
             oracle.full((6,), 0.3, requires_grad=True))
    x = wgtorch.tensor(a, device=device, requires_grad=True)
    xt = oracle.tensor(a, requires_grad=True)
    (g,) = wgtorch.autograd.grad(fn(wgtorch, x, w).pow(2).sum(), x, create_graph=True)
    (gt,) = oracle.autograd.grad(fn(oracle, xt, wt).pow(2).sum(), xt, create_graph=True)
    assert_close(g, gt, 1e-5, 1e-5)
    (h, hw), (ht, hwt) = [L.autograd.grad((gg * gg).sum(), (xx, ww), allow_unused=True)
                          for L, gg, xx, ww in ((wgtorch, g, x, w), (oracle, gt, xt, wt))]
    assert_close(h, ht, 1e-4, 1e-4)
    if name == "prelu":
        assert_close(hw, hwt, 1e-4, 1e-4)


# ---- in-place forms -------------------------------------------------------------------------
INPLACE = [  # (name, in-place call on T and x) -- the functionals' inplace=True, their _ forms, the modules
    ("relu6", lambda T, x: T.nn.functional.relu6(x, inplace=True)),
    ("hardtanh", lambda T, x: T.nn.functional.hardtanh(x, -2.0, 0.5, inplace=True)),
    ("hardsigmoid", lambda T, x: T.nn.functional.hardsigmoid(x, inplace=True)),
    ("hardswish", lambda T, x: T.nn.functional.hardswish(x, inplace=True)),
    ("mish", lambda T, x: T.nn.functional.mish(x, inplace=True)),
    ("selu", lambda T, x: T.nn.functional.selu(x, inplace=True)),
    ("selu_", lambda T, x: T.nn.functional.selu_(x)),
    ("celu", lambda T, x: T.nn.functional.celu(x, 0.7, inplace=True)),
    ("celu_", lambda T, x: T.nn.functional.celu_(x, 0.7)),
    ("threshold", lambda T, x: T.nn.functional.threshold(x, 0.5, -7.0, inplace=True)),
    ("threshold_", lambda T, x: T.nn.functional.threshold_(x, 0.5, -7.0)),
    ("ReLU6", lambda T, x: T.nn.ReLU6(inplace=True)(x)),
    ("Hardtanh", lambda T, x: T.nn.Hardtanh(inplace=True)(x)),
    ("Hardsigmoid", lambda T, x: T.nn.Hardsigmoid(inplace=True)(x)),
    ("Hardswish", lambda T, x: T.nn.Hardswish(inplace=True)(x)),
    ("Mish", lambda T, x: T.nn.Mish(inplace=True)(x)),
    ("SELU", lambda T, x: T.nn.SELU(inplace=True)(x)),
    ("CELU", lambda T, x: T.nn.CELU(1.3, inplace=True)(x)),
    ("Threshold", lambda T, x: T.nn.Threshold(0.1, 20.0, inplace=True)(x)),
]


@pytest.mark.parametrize("name,fn", INPLACE, ids=[c[0] for c in INPLACE])
def test_inplace(device, oracle, name, fn):
    a = _input((3, 6, 4), 4)
    x, xt = wgtorch.tensor(a, device=device), oracle.tensor(a)
    assert fn(wgtorch, x) is x
    fn(oracle, xt)
    assert_close(x, xt, 1e-5, 1e-5)
    # a transposed view is updated in place, its base with it
    base = wgtorch.tensor(np.ascontiguousarray(np.swapaxes(a, 0, -1)), device=device)
    fn(wgtorch, base.transpose(0, -1))
    assert_close(base.transpose(0, -1), xt, 1e-5, 1e-5)
    # through autograd: the in-place result of a non-leaf, then backward
    x = wgtorch.tensor(a, device=device, requires_grad=True)
    xt = oracle.tensor(a, requires_grad=True)
    y, yt = fn(wgtorch, x * 1.5), fn(oracle, xt * 1.5)
    if name.rstrip("_") in ("selu", "celu", "threshold"):
        assert y.grad_fn.name() == yt.grad_fn.name()  # ...Backward1, as torch names the in-place node
    (y * y).sum().backward()
    (yt * yt).sum().backward()
    assert_close(x.grad, xt.grad, 1e-4, 1e-4)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        fn(wgtorch, wgtorch.tensor(a, device=device, requires_grad=True))


def test_threshold_integer_input(device, oracle):
    """On integer tensors the threshold and the value are cast to the integer type, as torch's kernel."""
    a = np.array([-3, -1, 0, 1, 2, 5], np.int64)
    for th, v in [(0.5, 2.7), (-0.5, -9.9), (1, 7)]:
        got = wgtorch.nn.functional.threshold(wgtorch.tensor(a, device=device), th, v)
        want = oracle.nn.functional.threshold(oracle.tensor(a), th, v)
        assert got.dtype == wgtorch.int64
        np.testing.assert_array_equal(to_np(got), want.numpy())


# ---- printing and errors --------------------------------------------------------------------
REPRS = ["ReLU6()", "ReLU6(inplace=True)", "Hardtanh()", "Hardtanh(-2, 3, True)", "Hardtanh(0.0, 6.0)",
         "Hardsigmoid()", "Hardsigmoid(inplace=True)", "Hardswish(True)", "Mish()", "Mish(inplace=True)",
         "SELU()", "SELU(True)", "CELU()", "CELU(2.5, inplace=True)", "LogSigmoid()", "Softsign()",
         "Tanhshrink()", "Softshrink()", "Softshrink(1)", "Hardshrink()", "Hardshrink(0.25)",
         "Threshold(0.1, 20)", "Threshold(0.1, 20, inplace=True)", "Threshold(-1, 2.5)", "GLU()", "GLU(dim=1)",
         "Softmin()", "Softmin(dim=1)", "Softmax2d()", "PReLU()", "PReLU(3)", "PReLU(num_parameters=4, init=0.1)"]


@pytest.mark.parametrize("expr", REPRS)
def test_repr_matches_torch(oracle, expr):
    assert str(eval("wgtorch.nn." + expr)) == str(eval("oracle.nn." + expr))


def test_repr_in_a_container(oracle):
    def build(T):
        return T.nn.Sequential(T.nn.PReLU(3), T.nn.Hardtanh(0, 6), T.nn.Threshold(0.1, 20, True), T.nn.GLU(1))
    assert str(build(wgtorch)) == str(build(oracle))


def test_module_attributes_and_types(oracle):
    for name in ("ReLU6", "Hardtanh", "Hardsigmoid", "Hardswish", "Mish", "SELU", "CELU", "LogSigmoid",
                 "Softsign", "Tanhshrink", "Softshrink", "Hardshrink", "GLU", "Softmin", "Softmax2d", "PReLU"):
        m, mt = getattr(wgtorch.nn, name)(), getattr(oracle.nn, name)()
        for attr in ("inplace", "min_val", "max_val", "alpha", "lambd", "dim", "num_parameters", "init"):
            assert getattr(m, attr, "-") == getattr(mt, attr, "-"), (name, attr)
        assert isinstance(m, wgtorch.nn.Hardtanh) == isinstance(mt, oracle.nn.Hardtanh)
        assert isinstance(m, wgtorch.nn.Softmax) == isinstance(mt, oracle.nn.Softmax)
    m, mt = wgtorch.nn.Threshold(0.1, 20), oracle.nn.Threshold(0.1, 20)
    assert (m.threshold, m.value, m.inplace) == (mt.threshold, mt.value, mt.inplace)


def test_hardtanh_deprecated_keywords(oracle):
    for kw in ({"min_value": -2.0}, {"max_value": 3.0}):
        with pytest.warns(FutureWarning, match=f"keyword argument `{next(iter(kw))}` is deprecated"):
            m = wgtorch.nn.Hardtanh(**kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert str(m) == str(oracle.nn.Hardtanh(**kw))


ERRORS = [  # calls that torch rejects: the same exception type and message
    ("glu_odd", lambda T, x: T.nn.functional.glu(x)),  # last dim 5
    ("glu_odd_dim0", lambda T, x: T.nn.functional.glu(x, 0)),  # 3
    ("glu_scalar", lambda T, x: T.nn.functional.glu(x[0, 0])),
    ("glu_dim_range", lambda T, x: T.nn.functional.glu(x, 2)),
    ("glu_int", lambda T, x: T.nn.functional.glu(x[:, :4].int())),
    ("GLU_odd", lambda T, x: T.nn.GLU()(x)),
    ("softshrink_neg", lambda T, x: T.nn.functional.softshrink(x, -0.5)),
    ("softshrink_inf", lambda T, x: T.nn.functional.softshrink(x, float("inf"))),
    ("softshrink_nan", lambda T, x: T.nn.functional.softshrink(x, float("nan"))),
    ("softshrink_half", lambda T, x: T.nn.functional.softshrink(x.half(), 70000.0)),
    ("softshrink_bf16", lambda T, x: T.nn.functional.softshrink(x.bfloat16(), -1e-7)),
    ("Softshrink_neg", lambda T, x: T.nn.Softshrink(-1)(x)),
    ("softshrink_int", lambda T, x: T.nn.functional.softshrink(x.int())),
    ("hardshrink_int", lambda T, x: T.nn.functional.hardshrink(x.long())),
    ("prelu_channels", lambda T, x: T.nn.functional.prelu(x, T.ones(3, device=x.device))),
    ("prelu_module_channels", lambda T, x: T.nn.PReLU(4).to(x.device)(x)),
    ("prelu_zero_dim", lambda T, x: T.nn.functional.prelu(x[0, 0], T.ones(2, device=x.device))),
    ("prelu_1d", lambda T, x: T.nn.functional.prelu(x[0], T.ones(5, device=x.device))),
    ("prelu_weight_2d", lambda T, x: T.nn.functional.prelu(x, T.ones(1, 5, device=x.device))),
    ("prelu_dtypes", lambda T, x: T.nn.functional.prelu(x.half(), T.ones(1, device=x.device))),
    ("prelu_int", lambda T, x: T.nn.functional.prelu(x.int(), T.ones(1, device=x.device).int())),
    ("softmax2d_2d", lambda T, x: T.nn.Softmax2d()(x)),
    ("softmax2d_5d", lambda T, x: T.nn.Softmax2d()(x.reshape(1, 1, 3, 5, 1))),
    ("hardtanh_bounds", lambda T, x: T.nn.functional.hardtanh(x, 2.0, 1.0)),
    ("Hardtanh_equal", lambda T, x: T.nn.Hardtanh(1.0, 1.0)),
    ("Hardtanh_bounds", lambda T, x: T.nn.Hardtanh(2, 1)),
    ("celu_alpha0", lambda T, x: T.nn.functional.celu(x, 0.0)),
    ("CELU_alpha0", lambda T, x: T.nn.CELU(0)(x)),
]


@pytest.mark.parametrize("name,fn", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_match_torch(device, oracle, name, fn):
    a = _input((3, 5), 6)
    with pytest.raises(Exception) as want:
        fn(oracle, oracle.tensor(a))
    with pytest.raises(want.type, match=re.escape(str(want.value))):
        fn(wgtorch, wgtorch.tensor(a, device=device))


def test_glu_dim_type_error():
    with pytest.raises(TypeError):
        wgtorch.nn.functional.glu(wgtorch.ones(2, 2), 1.0)


def test_functionals_exist():
    for name in ("threshold", "threshold_", "glu", "hardshrink", "softshrink", "tanhshrink", "prelu", "celu_",
                 "selu_", "hardtanh", "relu6", "hardsigmoid", "hardswish", "mish", "selu", "celu", "logsigmoid",
                 "softsign", "softmin"):
        assert callable(getattr(wgtorch.nn.functional, name)), name
    assert set(n for n, *_ in CASES if n[0].isupper()) <= set(wgtorch.nn.modules.activation.__all__)
    assert "PReLU" in wgtorch.nn.modules.__all__ and wgtorch.nn.PReLU is wgtorch.nn.modules.activation.PReLU


def test_softmin_implicit_dim_warns(oracle):
    for T in (wgtorch, oracle):
        with pytest.warns(UserWarning, match="Implicit dimension choice for softmin has been deprecated"):
            T.nn.Softmin()(T.ones(2, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wgtorch.nn.Softmin(1)(wgtorch.ones(2, 3))
