"""nn.functional: activations, dropout, linear, one_hot, pad, normalize, against real torch
(values and gradients, contiguous and transposed inputs) and finite differences."""
import numpy as np
import pytest

import wgtorch
import wgtorch.nn.functional as F
from conftest import assert_close, to_np
from gradcheck import check_grad


def tols(device):
    return (1e-5, 1e-5) if device == "cpu" else (1e-4, 1e-5)


class Arg:
    """One array as a wgtorch tensor on device and as a torch tensor; with noncontig, the wgtorch
    operand is a transposed view of a contiguous leaf."""

    def __init__(self, a, device, oracle, grad, noncontig):
        a = np.asarray(a)
        grad = grad and a.dtype.kind == "f"
        self.noncontig = noncontig and a.ndim >= 2 and a.shape[0] > 1 and a.shape[-1] > 1
        base = np.ascontiguousarray(np.swapaxes(a, 0, -1)) if self.noncontig else a
        self.leaf = wgtorch.tensor(base, device=device, requires_grad=grad)
        self.w = self.leaf.transpose(0, -1) if self.noncontig else self.leaf
        self.t = oracle.tensor(a, requires_grad=grad)

    def grad(self):
        g = to_np(self.leaf.grad)
        return np.swapaxes(g, 0, -1) if self.noncontig else g


def check(fw, ft, arrays, device, oracle, grad=(0,), noncontig=False, tol=None):
    """fw(*wgtorch operands) against ft(*torch operands): the values and, through a random cotangent,
    the gradients of the operands whose index is in grad."""
    args = [Arg(a, device, oracle, i in grad, noncontig) for i, a in enumerate(arrays)]
    assert all(not a.w.is_contiguous() for a in args if a.noncontig)
    rtol, atol = tol or tols(device)
    out, ref = fw(*[a.w for a in args]), ft(*[a.t for a in args])
    assert str(out.device).split(":")[0] == device
    assert_close(out, ref.detach().numpy(), rtol, atol)
    if ref.requires_grad:
        v = np.random.default_rng(1).standard_normal(tuple(ref.shape)).astype(np.float32)
        (out * wgtorch.tensor(v, device=device)).sum().backward()
        (ref * oracle.tensor(v)).sum().backward()
        for a in args:
            if a.t.grad is not None:
                assert_close(a.grad(), a.t.grad.numpy(), rtol, atol)
    return out, ref


RNG = np.random.default_rng(0)
X = (RNG.standard_normal((4, 5)) * 3).astype(np.float32)

# name, wgtorch call, torch call (tf is torch.nn.functional)
ACTIVATIONS = [
    ("relu", lambda x: F.relu(x), lambda tf, x: tf.relu(x)),
    ("leaky_relu", lambda x: F.leaky_relu(x), lambda tf, x: tf.leaky_relu(x)),
    ("leaky_relu_0.2", lambda x: F.leaky_relu(x, 0.2), lambda tf, x: tf.leaky_relu(x, 0.2)),
    ("elu", lambda x: F.elu(x), lambda tf, x: tf.elu(x)),
    ("elu_0.5", lambda x: F.elu(x, alpha=0.5), lambda tf, x: tf.elu(x, alpha=0.5)),
    ("selu", lambda x: F.selu(x), lambda tf, x: tf.selu(x)),
    ("celu", lambda x: F.celu(x, 0.7), lambda tf, x: tf.celu(x, 0.7)),
    ("gelu", lambda x: F.gelu(x), lambda tf, x: tf.gelu(x)),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), lambda tf, x: tf.gelu(x, approximate="tanh")),
    ("silu", lambda x: F.silu(x), lambda tf, x: tf.silu(x)),
    ("mish", lambda x: F.mish(x), lambda tf, x: tf.mish(x)),
    ("softplus", lambda x: F.softplus(x), lambda tf, x: tf.softplus(x)),
    ("softplus_beta", lambda x: F.softplus(x, beta=2, threshold=3), lambda tf, x: tf.softplus(x, beta=2, threshold=3)),
    ("logsigmoid", lambda x: F.logsigmoid(x), lambda tf, x: tf.logsigmoid(x)),
    ("hardtanh", lambda x: F.hardtanh(x), lambda tf, x: tf.hardtanh(x)),
    ("hardtanh_range", lambda x: F.hardtanh(x, -2.0, 0.5), lambda tf, x: tf.hardtanh(x, -2.0, 0.5)),
    ("relu6", lambda x: F.relu6(x * 2), lambda tf, x: tf.relu6(x * 2)),
    ("hardsigmoid", lambda x: F.hardsigmoid(x), lambda tf, x: tf.hardsigmoid(x)),
    ("hardswish", lambda x: F.hardswish(x), lambda tf, x: tf.hardswish(x)),
    ("softsign", lambda x: F.softsign(x), lambda tf, x: tf.softsign(x)),
    ("sigmoid", lambda x: F.sigmoid(x), lambda tf, x: tf.sigmoid(x)),
    ("tanh", lambda x: F.tanh(x), lambda tf, x: tf.tanh(x)),
    ("softmax", lambda x: F.softmax(x, dim=1), lambda tf, x: tf.softmax(x, dim=1)),
    ("softmin", lambda x: F.softmin(x, dim=0), lambda tf, x: tf.softmin(x, dim=0)),
    ("log_softmax", lambda x: F.log_softmax(x, dim=-1), lambda tf, x: tf.log_softmax(x, dim=-1)),
]
NODE_NAMES = {"leaky_relu": "LeakyReluBackward0", "elu": "EluBackward0", "celu": "CeluBackward0",
              "gelu": "GeluBackward0", "gelu_tanh": "GeluBackward0", "silu": "SiluBackward0",
              "mish": "MishBackward0", "softplus": "SoftplusBackward0", "logsigmoid": "LogSigmoidBackward0",
              "hardtanh": "HardtanhBackward0", "relu6": "HardtanhBackward0",
              "hardsigmoid": "HardsigmoidBackward0", "hardswish": "HardswishBackward0"}


@pytest.mark.parametrize("noncontig", [False, True], ids=["contig", "transposed"])
@pytest.mark.parametrize("name,fw,ft", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_matches_torch(device, oracle, name, fw, ft, noncontig):
    out, ref = check(fw, lambda x: ft(oracle.nn.functional, x), [X], device, oracle, noncontig=noncontig)
    if name in NODE_NAMES:
        assert out.grad_fn.name() == ref.grad_fn.name() == NODE_NAMES[name]


NEW = [a for a in ACTIVATIONS if a[0] in NODE_NAMES or a[0] in ("selu", "softsign", "softmin")]


@pytest.mark.parametrize("name,fw,ft", NEW, ids=[a[0] for a in NEW])
def test_activation_gradcheck(device, name, fw, ft):
    # finite differences on the cpu in float64; the device's float32 gradients against those
    x = np.random.default_rng(2).standard_normal((3, 4)) * 2.5
    check_grad(fw, [x], device)


@pytest.mark.parametrize("name", ["gelu", "gelu_tanh", "silu", "elu", "softplus", "logsigmoid", "mish"])
def test_activation_double_backward(device, oracle, name):
    """The nodes' backwards are Tensor ops: the second derivative matches torch's."""
    fw, ft = next((a[1], a[2]) for a in ACTIVATIONS if a[0] == name)
    x = wgtorch.tensor(X, device=device, requires_grad=True)
    xt = oracle.tensor(X, requires_grad=True)
    (g,) = wgtorch.autograd.grad(fw(x).sum(), x, create_graph=True)
    (gt,) = oracle.autograd.grad(ft(oracle.nn.functional, xt).sum(), xt, create_graph=True)
    (h,) = wgtorch.autograd.grad((g * g).sum(), x)
    (ht,) = oracle.autograd.grad((gt * gt).sum(), xt)
    assert_close(h, ht.numpy(), 1e-4, 1e-4)


def test_activation_extremes(device, oracle):
    """Stable forms: no overflow to inf/nan at large |x|, as torch."""
    a = np.array([-100.0, -30.0, -5.0, 0.0, 5.0, 30.0, 100.0], np.float32)
    for name in ("gelu", "silu", "softplus", "logsigmoid", "elu", "mish", "selu"):
        fw, ft = next((f[1], f[2]) for f in ACTIVATIONS if f[0] == name)
        out = fw(wgtorch.tensor(a, device=device))
        assert np.isfinite(to_np(out)).all(), name
        assert_close(out, ft(oracle.nn.functional, oracle.tensor(a)).numpy(), 1e-5, 1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_gelu_grad_extremes(device, oracle, dtype):
    """GELU's fused backward (cpu derives Phi from the output in float32) at 0, tiny, huge,
    infinite and NaN inputs, and in half types, against torch."""
    a = np.array([0.0, -0.0, 1e-35, -1e-35, 1e-3, -0.7, 1.3, -5.0, 6.0, -20.0, 20.0, 3e38, -3e38,
                  np.inf, -np.inf, np.nan, 1e-45, -3e-41, 1e-30, -3e-23, 4e-23, 1e-22, -1e-19], np.float32)
    g = np.linspace(-2, 3, a.size).astype(np.float32)
    x = wgtorch.tensor(a, device=device).to(getattr(wgtorch, dtype)).requires_grad_()
    xt = oracle.tensor(a).to(getattr(oracle, dtype)).requires_grad_()
    F.gelu(x).backward(wgtorch.tensor(g, device=device).to(x.dtype))
    oracle.nn.functional.gelu(xt).backward(oracle.tensor(g).to(xt.dtype))
    want = xt.grad.float().numpy()
    tol = 1e-6 if dtype == "float32" else 1e-2
    np.testing.assert_allclose(to_np(x.grad.float()), want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("name, f", [
    ("relu", lambda T, x: T.nn.functional.relu(x)), ("relu6", lambda T, x: T.nn.functional.relu6(x)),
    ("hardtanh", lambda T, x: T.nn.functional.hardtanh(x, -0.0, 1.0)), ("clamp", lambda T, x: x.clamp(0.0, 0.0)),
    ("clamp_max", lambda T, x: x.clamp(max=-0.0))])
def test_relu_and_clamp_keep_negative_zero_and_nan(device, oracle, dtype, name, f):
    # relu(x) is x unless x < 0, clamp(x) is x unless past a bound: -0 and NaN come back as they
    # went in at a bound of 0 or -0, as PyTorch's
    v = np.array([[-0.0, -1.5, 2.0, np.nan], [0.0, -np.inf, np.inf, -1e-30], [3e38, -3e38, 1e-3, -7.0]], np.float32)
    got = to_np(f(wgtorch, wgtorch.tensor(v, device=device).to(getattr(wgtorch, dtype)).t()).float())
    want = f(oracle, oracle.tensor(v).to(getattr(oracle, dtype)).t()).float().numpy()
    np.testing.assert_array_equal(got, want)
    num = ~np.isnan(want)  # (torch's bfloat16 conversion sets a NaN's sign bit)
    assert np.array_equal(np.signbit(got[num]), np.signbit(want[num])), name


_MASKED = {  # ops whose gradient is g, a share of g or 0 per element
    "relu": lambda T, x: T.nn.functional.relu(x),
    "relu6": lambda T, x: T.nn.functional.relu6(x),
    "hardtanh": lambda T, x: T.nn.functional.hardtanh(x),
    "hardsigmoid": lambda T, x: T.nn.functional.hardsigmoid(x),
    "clamp": lambda T, x: x.clamp(-1, 1),
    "clamp_min": lambda T, x: x.clamp(min=0.5),
    "maximum": lambda T, x: T.maximum(x, T.zeros_like(x)),
    "minimum": lambda T, x: T.minimum(x, T.zeros_like(x)),
    "max": lambda T, x: x.max().expand(x.shape),
    "min": lambda T, x: x.min().expand(x.shape),
}


@pytest.mark.parametrize("name", list(_MASKED))
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_masked_grads_of_infinite_and_nan_gradients(device, oracle, name, dtype):
    """Where an op's gradient does not reach an element it is +0 there even for an infinite or NaN g
    (a multiply by a 0/1 mask gives NaN there), and ties and NaN inputs get torch's share."""
    a = np.array([-4.0, -2.0, -0.0, 0.0, 1e-3, 0.5, 3.0, 7.0, -1.0, 7.0], np.float32)
    if name in ("max", "min"):  # a NaN input is the result, and its element alone gets g
        a = np.concatenate([a, [np.nan]]).astype(np.float32) if dtype == "float32" else a
    g = np.resize(np.array([np.inf, -np.inf, np.nan, 2.0, -3.0], np.float32), a.size)
    if name in ("max", "min"):  # expand's backward sums g: one infinite value (or finite ones) reaches the op
        g = np.resize(np.array([np.inf, 0.0, 1.0], np.float32), a.size)
    x = wgtorch.tensor(a, device=device).to(getattr(wgtorch, dtype)).requires_grad_()
    xt = oracle.tensor(a).to(getattr(oracle, dtype)).requires_grad_()
    _MASKED[name](wgtorch, x).backward(wgtorch.tensor(g, device=device).to(x.dtype))
    _MASKED[name](oracle, xt).backward(oracle.tensor(g).to(xt.dtype))
    got, want = to_np(x.grad.float()).astype(np.float64), xt.grad.double().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)  # (torch's float64 hardsigmoid uses float(1/6))
    assert not np.signbit(got[want == 0]).any()  # +0, not -0, where the gradient is blocked


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "hardtanh", "relu6", "silu", "selu", "hardswish"])
def test_activation_inplace(device, oracle, name):
    fn = getattr(F, name)
    tfn = getattr(oracle.nn.functional, name)
    x = wgtorch.tensor(X, device=device)
    r = fn(x, inplace=True)
    assert r is x
    assert_close(x, tfn(oracle.tensor(X)).numpy(), 1e-5, 1e-5)
    # through autograd: the in-place result of a non-leaf, then backward
    a = wgtorch.tensor(X, device=device, requires_grad=True)
    at = oracle.tensor(X, requires_grad=True)
    y = fn(a * 1.5, inplace=True)
    yt = tfn(at * 1.5, inplace=True)
    (y * y).sum().backward()
    (yt * yt).sum().backward()
    assert_close(a.grad, at.grad.numpy(), 1e-4, 1e-4)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        fn(wgtorch.tensor(X, device=device, requires_grad=True), inplace=True)


def test_activation_errors(device):
    x = wgtorch.tensor(X, device=device)
    with pytest.raises(RuntimeError, match="approximate argument must be either none or tanh."):
        F.gelu(x, approximate="exact")
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(x, 2.0, 1.0)


def test_activation_float64(oracle):
    x = RNG.standard_normal((3, 4)) * 4
    for name, fw, ft in ACTIVATIONS:
        out = fw(wgtorch.tensor(x))
        assert out.dtype == wgtorch.float64
        assert_close(out, ft(oracle.nn.functional, oracle.tensor(x)).numpy(), 1e-12, 1e-12)


# ---- dropout ------------------------------------------------------------------------------
def test_dropout_statistics_and_scaling(device):
    wgtorch.manual_seed(0)
    x = wgtorch.ones(20000, device=device, requires_grad=True)
    out = F.dropout(x, 0.3)
    o = to_np(out)
    kept = o != 0
    assert abs(kept.mean() - 0.7) < 0.015
    np.testing.assert_allclose(o[kept], 1 / 0.7, rtol=1e-6)
    out.sum().backward()  # the gradient is the scaled mask
    np.testing.assert_allclose(to_np(x.grad), o, rtol=1e-6)
    assert out.grad_fn.name() == "MulBackward0"


def test_dropout_deterministic_per_seed(device):
    x = wgtorch.ones(64, 8, device=device)
    wgtorch.manual_seed(5)
    a = to_np(F.dropout(x, 0.5))
    wgtorch.manual_seed(5)
    b = to_np(F.dropout(x, 0.5))
    c = to_np(F.dropout(x, 0.5))
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()  # the generator advanced


def test_dropout_passthrough_and_extremes(device):
    x = wgtorch.tensor(X, device=device, requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    z = F.dropout(x, 1.0)
    assert (to_np(z) == 0).all()
    z.sum().backward()
    assert (to_np(x.grad) == 0).all()
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match=f"dropout probability has to be between 0 and 1, but got {p}"):
            F.dropout(x, p)


def test_dropout_inplace_and_eval_module(device):
    wgtorch.manual_seed(1)
    x = wgtorch.ones(1000, device=device)
    r = F.dropout(x, 0.5, inplace=True)
    assert r is x
    assert set(np.unique(to_np(x)).tolist()) == {0.0, 2.0}
    m = wgtorch.nn.Dropout(0.5)
    y = wgtorch.tensor(X, device=device)
    assert (to_np(m(y)) == 0).any()
    m.eval()
    assert m(y) is y


# ---- linear -------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
def test_linear(device, oracle, bias):
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    w = RNG.standard_normal((5, 4)).astype(np.float32)
    b = RNG.standard_normal(5).astype(np.float32)
    if bias:
        check(F.linear, oracle.nn.functional.linear, [x, w, b], device, oracle, grad=(0, 1, 2))
    else:
        check(F.linear, oracle.nn.functional.linear, [x, w], device, oracle, grad=(0, 1))


# ---- one_hot ------------------------------------------------------------------------------
def test_one_hot(device, oracle):
    t = np.array([[0, 3], [2, 1], [3, 3]])
    for nc in (-1, 6):
        out = F.one_hot(wgtorch.tensor(t, device=device), nc)
        ref = oracle.nn.functional.one_hot(oracle.tensor(t), nc)
        assert out.dtype == wgtorch.int64 and out.shape == ref.shape
        np.testing.assert_array_equal(to_np(out), ref.numpy())
    out = F.one_hot(wgtorch.tensor(2, device=device), 3)  # 0-d
    np.testing.assert_array_equal(to_np(out), [0, 0, 1])
    assert F.one_hot(wgtorch.tensor([], dtype=wgtorch.int64, device=device), 3).shape == (0, 3)


def test_one_hot_errors(device):
    with pytest.raises(RuntimeError, match="one_hot is only applicable to index tensor"):
        F.one_hot(wgtorch.tensor([1.0, 2.0], device=device))
    with pytest.raises(RuntimeError, match="Class values must be non-negative."):
        F.one_hot(wgtorch.tensor([1, -2], device=device))
    with pytest.raises(RuntimeError, match="Can not infer total number of classes from empty tensor."):
        F.one_hot(wgtorch.tensor([], dtype=wgtorch.int64, device=device))


def test_one_hot_too_large_cpu():
    # checked where the values are on the host (cpu, or num_classes inferred); on wgpu, as on CUDA,
    # an explicit num_classes is trusted
    with pytest.raises(RuntimeError, match="Class values must be smaller than num_classes."):
        F.one_hot(wgtorch.tensor([1, 5]), 3)


# ---- pad ----------------------------------------------------------------------------------
X3 = RNG.standard_normal((2, 3, 5)).astype(np.float32)
X4 = RNG.standard_normal((2, 2, 4, 5)).astype(np.float32)

PADS = [
    ("constant_last", X3, (2, 1), "constant", None),
    ("constant_value", X3, (1, 2, 0, 1), "constant", 2.5),
    ("constant_all_dims", X3, (1, 0, 2, 1, 1, 1), "constant", -1.0),
    ("constant_crop", X4, (-1, 2, 1, -2), "constant", None),
    ("reflect_1d", X3, (2, 3), "reflect", None),
    ("reflect_2d", X4, (1, 2, 3, 1), "reflect", None),
    ("reflect_crop", X3, (-1, 2), "reflect", None),
    ("replicate_1d", X3, (3, 1), "replicate", None),
    ("replicate_2d", X4, (2, 0, 1, 3), "replicate", None),
    ("circular_2d", X4, (2, 1, 1, 2), "circular", None),
]


@pytest.mark.parametrize("noncontig", [False, True], ids=["contig", "transposed"])
@pytest.mark.parametrize("name,x,p,mode,value", PADS, ids=[p[0] for p in PADS])
def test_pad(device, oracle, name, x, p, mode, value, noncontig):
    check(lambda a: F.pad(a, p, mode, value), lambda a: oracle.nn.functional.pad(a, p, mode, value),
          [x], device, oracle, noncontig=noncontig)


def test_pad_int_and_zero(device):
    a = wgtorch.tensor([[1, 2], [3, 4]], device=device)
    out = F.pad(a, (1, 0), value=7)
    assert out.dtype == wgtorch.int64
    np.testing.assert_array_equal(to_np(out), [[7, 1, 2], [7, 3, 4]])
    b = F.pad(a, (0, 0))
    assert b is not a
    np.testing.assert_array_equal(to_np(b), to_np(a))


def test_pad_errors(device):
    x = wgtorch.tensor(X3, device=device)
    with pytest.raises(RuntimeError, match="Padding length must be divisible by 2"):
        F.pad(x, (1,))
    with pytest.raises(RuntimeError, match="Padding length should be less than or equal to two times"):
        F.pad(x, (1,) * 8)
    with pytest.raises(RuntimeError, match="Padding size should be less than the corresponding input dimension"):
        F.pad(x, (5, 1), mode="reflect")
    with pytest.raises(NotImplementedError, match="Unrecognised padding mode foo"):
        F.pad(x, (1, 1), mode="foo")
    with pytest.raises(NotImplementedError, match="Padding size 2 is not supported for 1D input tensor"):
        F.pad(x[0, 0], (1, 1), mode="reflect")
    with pytest.raises(RuntimeError, match="Padding value causes wrapping around more than once."):
        F.pad(x, (6, 0), mode="circular")


# ---- normalize ----------------------------------------------------------------------------
@pytest.mark.parametrize("p,dim", [(2.0, 1), (1.0, 0), (3.0, -1)])
def test_normalize(device, oracle, p, dim):
    x = RNG.standard_normal((4, 3)).astype(np.float32)
    if p != 3.0:  # (the core's general-p norm has a nan gradient at 0: reported)
        x[1] = 0  # a zero row: divided by eps, no nan
    check(lambda a: F.normalize(a, p, dim), lambda a: oracle.nn.functional.normalize(a, p, dim),
          [x], device, oracle, noncontig=True)
