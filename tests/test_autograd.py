"""Autograd: leaves and graph attributes, backward/grad semantics, higher-order
gradients, grad modes, custom Functions, PyTorch's autograd errors, and a
table-driven finite-difference gradcheck of every differentiable op."""
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import wgtorch
from conftest import assert_close, to_np
from gradcheck import analytic_grads, check_grad, gradcheck

fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def leaf(data, device, dtype=None, requires_grad=True):
    return wgtorch.tensor(data, dtype=dtype or wgtorch.float32, device=device, requires_grad=requires_grad)


def fdt(device):
    """float64 on the cpu; float32 elsewhere (the GPU backend has no float64)."""
    return wgtorch.float64 if str(device) == "cpu" else wgtorch.float32


def tol(device, rtol):
    return rtol if str(device) == "cpu" else max(rtol, 2e-4)


def fn_name(grad_fn):
    """The node's name as PyTorch reports it: grad_fn.name(), else its class name."""
    name = getattr(grad_fn, "name", None)
    return name() if callable(name) else type(grad_fn).__name__


# ---------------------------------------------------------------------------
# leaves, requires_grad, grad_fn, next_functions
# ---------------------------------------------------------------------------

def test_leaf_attributes(device):
    x = leaf([1.0, 2.0, 3.0], device)
    assert x.requires_grad and x.is_leaf
    assert x.grad is None and x.grad_fn is None
    c = wgtorch.tensor([1.0, 2.0, 4.0], device=device)
    assert not c.requires_grad and c.is_leaf
    y = x * 2
    assert y.requires_grad and not y.is_leaf and y.grad_fn is not None
    z = c * 2  # no input requires grad: no graph
    assert not z.requires_grad and z.is_leaf and z.grad_fn is None
    w = x + c
    assert w.requires_grad


def test_requires_grad_(device):
    x = wgtorch.tensor([1.0, 2.0], device=device)
    r = x.requires_grad_()
    assert r is x and x.requires_grad and x.is_leaf
    x.requires_grad_(False)
    assert not x.requires_grad
    y = wgtorch.zeros(2, 3, device=device, requires_grad=True)
    assert y.requires_grad
    y.requires_grad = False
    assert not y.requires_grad


def test_int_tensors_cannot_require_grad(device):
    with pytest.raises(RuntimeError):
        wgtorch.tensor([1, 2], device=device, requires_grad=True)
    with pytest.raises(RuntimeError):
        wgtorch.tensor([1, 2], device=device).requires_grad_()


def test_non_leaf_requires_grad_false_raises(device):
    x = leaf([1.0], device)
    y = x * 2
    with pytest.raises(RuntimeError):
        y.requires_grad_(False)


GRAD_FN_NAMES = [
    ("mul", lambda x, y, W, b: x * y, "MulBackward0"),
    ("mul_scalar", lambda x, y, W, b: x * 2, "MulBackward0"),
    ("add", lambda x, y, W, b: x + y, "AddBackward0"),
    ("add_scalar", lambda x, y, W, b: x + 2, "AddBackward0"),
    ("sub", lambda x, y, W, b: x - y, "SubBackward0"),
    ("div", lambda x, y, W, b: x / y, "DivBackward0"),
    ("neg", lambda x, y, W, b: -x, "NegBackward0"),
    ("pow_scalar", lambda x, y, W, b: x ** 2, "PowBackward0"),
    ("pow_tensor", lambda x, y, W, b: x ** y, "PowBackward1"),
    ("sum", lambda x, y, W, b: x.sum(), "SumBackward0"),
    ("sum_dim", lambda x, y, W, b: x.sum(1), "SumBackward1"),
    ("mean", lambda x, y, W, b: x.mean(), "MeanBackward0"),
    ("mean_dim", lambda x, y, W, b: x.mean(0), "MeanBackward1"),
    ("exp", lambda x, y, W, b: x.exp(), "ExpBackward0"),
    ("log", lambda x, y, W, b: x.log(), "LogBackward0"),
    ("sqrt", lambda x, y, W, b: x.sqrt(), "SqrtBackward0"),
    ("abs", lambda x, y, W, b: x.abs(), "AbsBackward0"),
    ("mm", lambda x, y, W, b: x @ W, "MmBackward0"),
    ("mm_fn", lambda x, y, W, b: wgtorch.mm(x, W), "MmBackward0"),
    ("addmm", lambda x, y, W, b: wgtorch.addmm(b, x, W), "AddmmBackward0"),
    ("bmm", lambda x, y, W, b: wgtorch.bmm(x.unsqueeze(0), W.unsqueeze(0)), "BmmBackward0"),
    ("dot", lambda x, y, W, b: wgtorch.dot(y, y), "DotBackward0"),
    ("relu", lambda x, y, W, b: x.relu(), "ReluBackward0"),
    ("sigmoid", lambda x, y, W, b: wgtorch.sigmoid(x), "SigmoidBackward0"),
    ("tanh", lambda x, y, W, b: x.tanh(), "TanhBackward0"),
    ("view", lambda x, y, W, b: x.view(6), "ViewBackward0"),
    ("reshape", lambda x, y, W, b: x.reshape(6), "ViewBackward0"),
    ("t", lambda x, y, W, b: x.t(), "TBackward0"),
    ("transpose", lambda x, y, W, b: x.transpose(0, 1), "TransposeBackward0"),
    ("select", lambda x, y, W, b: x[0], "SelectBackward0"),
    ("slice", lambda x, y, W, b: x[:, 1:], "SliceBackward0"),
    ("expand", lambda x, y, W, b: y.expand(2, 3), "ExpandBackward0"),
    ("unsqueeze", lambda x, y, W, b: x.unsqueeze(0), "UnsqueezeBackward0"),
    ("cat", lambda x, y, W, b: wgtorch.cat([x, x]), "CatBackward0"),
    ("stack", lambda x, y, W, b: wgtorch.stack([x, x]), "StackBackward0"),
    ("clone", lambda x, y, W, b: x.clone(), "CloneBackward0"),
    ("softmax", lambda x, y, W, b: x.softmax(1), "SoftmaxBackward0"),
    ("log_softmax", lambda x, y, W, b: x.log_softmax(1), "LogSoftmaxBackward0"),
    ("max_dim", lambda x, y, W, b: x.max(1)[0], "MaxBackward0"),
    ("max_all", lambda x, y, W, b: x.max(), "MaxBackward1"),
    ("var", lambda x, y, W, b: x.var(), "VarBackward0"),
    ("std", lambda x, y, W, b: x.std(), "StdBackward0"),
    ("logsumexp", lambda x, y, W, b: x.logsumexp(1), "LogsumexpBackward0"),
    ("cumsum", lambda x, y, W, b: x.cumsum(1), "CumsumBackward0"),
    ("prod", lambda x, y, W, b: x.prod(), "ProdBackward0"),
    ("where", lambda x, y, W, b: wgtorch.where(x > 0, x, y), "WhereBackward0"),
    ("gather", lambda x, y, W, b: x.gather(1, wgtorch.tensor([[0], [1]], device=x.device)), "GatherBackward0"),
    ("index_select", lambda x, y, W, b: x.index_select(1, wgtorch.tensor([0, 2], device=x.device)),
     "IndexSelectBackward0"),
    ("masked_fill", lambda x, y, W, b: x.masked_fill(x > 0, 0.0), "MaskedFillBackward0"),
    ("index", lambda x, y, W, b: x[wgtorch.tensor([0, 1, 1], device=x.device)], "IndexBackward0"),
]


@pytest.mark.parametrize("name, fn, expected", GRAD_FN_NAMES, ids=[g[0] for g in GRAD_FN_NAMES])
def test_grad_fn_names(device, name, fn, expected):
    rng = np.random.default_rng(0)
    x = leaf(rng.uniform(0.5, 2, (2, 3)), device)
    y = leaf(rng.uniform(0.5, 2, (3,)), device)
    W = leaf(rng.standard_normal((3, 4)), device)
    b = leaf(rng.standard_normal((4,)), device)
    out = fn(x, y, W, b)
    assert out.grad_fn is not None
    assert fn_name(out.grad_fn) == expected


@pytest.mark.parametrize("name, fn, expected", GRAD_FN_NAMES, ids=[g[0] for g in GRAD_FN_NAMES])
def test_grad_fn_names_match_torch(device, oracle, name, fn, expected):
    """The expected names in the table are torch's own (checked here when torch is installed)."""
    rng = np.random.default_rng(0)
    T = oracle
    args = [T.tensor(rng.uniform(0.5, 2, s), dtype=T.float32, requires_grad=True)
            for s in [(2, 3), (3,), (3, 4), (4,)]]
    # the table's lambdas call wgtorch.*: run them on torch by swapping the module name
    g = dict(fn.__globals__)
    g["wgtorch"] = T
    f = type(fn)(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__)
    assert type(f(*args).grad_fn).__name__ == expected


def test_grad_fn_class_name_and_next_functions(device):
    x = leaf([1.0, 2.0], device)
    y = leaf([3.0, 4.0], device)
    z = (x * y).sum()
    assert type(z.grad_fn).__name__ == "SumBackward0"
    assert z.grad_fn.name() == "SumBackward0"
    nf = z.grad_fn.next_functions
    assert isinstance(nf, tuple) and len(nf) == 1
    mul_node, idx = nf[0]
    assert fn_name(mul_node) == "MulBackward0" and idx == 0
    leaves = mul_node.next_functions
    assert len(leaves) == 2
    # the leaves are reached through AccumulateGrad nodes, whose .variable is the leaf
    for (node, _), t in zip(leaves, (x, y)):
        assert fn_name(node) == "torch::autograd::AccumulateGrad" or type(node).__name__ == "AccumulateGrad"
        assert node.variable is t
    # a constant operand has no node: (None, 0)
    c = x * wgtorch.tensor([1.0, 1.0], device=device)
    assert c.grad_fn.next_functions[1][0] is None


# ---------------------------------------------------------------------------
# backward
# ---------------------------------------------------------------------------

def test_backward_scalar(device):
    a = np.array([1.0, -2.0, 3.0])
    x = leaf(a, device)
    y = (x * x * 3 + x).sum()
    r = y.backward()
    assert r is None
    assert x.grad is not None and x.grad.dtype == wgtorch.float32
    assert not x.grad.requires_grad
    assert_close(x.grad, 6 * a + 1)
    assert tuple(x.grad.shape) == (3,)


def test_backward_with_gradient(device):
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    v = np.array([[0.5, -1.0], [2.0, 0.0]])
    x = leaf(a, device)
    y = x ** 2
    y.backward(wgtorch.tensor(v, dtype=wgtorch.float32, device=device))
    assert_close(x.grad, 2 * a * v)
    x2 = leaf(a, device)
    (x2 * 3).backward(gradient=wgtorch.ones(2, 2, device=device))
    assert_close(x2.grad, np.full((2, 2), 3.0))


def test_backward_non_scalar_without_gradient_raises(device):
    x = leaf([1.0, 2.0], device)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (x * 2).backward()


def test_backward_on_tensor_without_grad_raises(device):
    with pytest.raises(RuntimeError):
        wgtorch.tensor([1.0, 2.0], device=device).sum().backward()


def test_grad_accumulates_over_backward_calls(device):
    a = np.array([1.0, 2.0, 3.0])
    x = leaf(a, device)
    (x * x).sum().backward()
    g1 = to_np(x.grad).copy()
    (x * 3).sum().backward()
    assert_close(x.grad, g1 + 3)
    assert_close(x.grad, 2 * a + 3)
    # a leaf used twice in one graph: contributions add
    z = leaf(a, device)
    (z * z + z * 2 + z.exp()).sum().backward()
    assert_close(z.grad, 2 * a + 2 + np.exp(a), rtol=1e-6)
    # resetting
    x.grad = None
    (x * 5).sum().backward()
    assert_close(x.grad, np.full(3, 5.0))
    x.grad.zero_()
    assert_close(x.grad, np.zeros(3))


def test_second_backward_through_freed_graph_raises(device):
    x = leaf([1.0, 2.0], device)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_retain_graph_allows_second_backward(device):
    a = np.array([1.0, 2.0])
    x = leaf(a, device)
    y = (x.sin() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    d = np.cos(a) * a + np.sin(a)
    assert_close(x.grad, 2 * d, rtol=1e-6)


def test_retain_grad(device):
    a = np.array([1.0, 2.0, 3.0])
    x = leaf(a, device)
    h = x * 2
    h.retain_grad()
    out = (h ** 2).sum()
    m = x + 1  # intermediate without retain_grad
    (out + (m * 0).sum()).backward()
    assert_close(h.grad, 2 * (2 * a))
    assert_close(x.grad, 8 * a)
    assert m.grad is None


def test_detach(device):
    x = leaf([1.0, 2.0], device)
    y = x * 3
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert_close(d, [3.0, 6.0])
    # detach shares storage with the original
    d.zero_()
    assert_close(y, [0.0, 0.0])
    # no gradient flows through a detached tensor
    x2 = leaf([1.0, 2.0], device)
    z = (x2 * x2.detach()).sum()
    z.backward()
    assert_close(x2.grad, [1.0, 2.0])


# ---------------------------------------------------------------------------
# wgtorch.autograd.grad
# ---------------------------------------------------------------------------

def test_autograd_grad_basic(device):
    a, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    x, y = leaf(a, device), leaf(b, device)
    out = (x * y + x ** 2).sum()
    gx, gy = wgtorch.autograd.grad(out, [x, y], retain_graph=True)
    assert_close(gx, b + 2 * a)
    assert_close(gy, a)
    assert x.grad is None and y.grad is None  # grad() does not accumulate into .grad
    res = wgtorch.autograd.grad(out, x)
    assert isinstance(res, tuple) and len(res) == 1
    assert_close(res[0], b + 2 * a)


def test_autograd_grad_outputs(device):
    a = np.array([[1.0, 2.0], [0.5, -1.0]])
    v = np.array([[1.0, 0.0], [2.0, 3.0]])
    x = leaf(a, device)
    y = x.exp()
    (g,) = wgtorch.autograd.grad(y, x, grad_outputs=wgtorch.tensor(v, dtype=wgtorch.float32, device=device))
    assert_close(g, np.exp(a) * v, rtol=1e-6)
    # several outputs, a list of grad_outputs
    y1, y2 = x * 2, x.sum(0)
    (g2,) = wgtorch.autograd.grad([y1, y2], [x], grad_outputs=[wgtorch.ones(2, 2, device=device),
                                                               wgtorch.tensor([1.0, -1.0], device=device)])
    assert_close(g2, 2 + np.array([[1.0, -1.0], [1.0, -1.0]]))
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        wgtorch.autograd.grad(x * 2, x)


def test_autograd_grad_allow_unused(device):
    x = leaf([1.0, 2.0], device)
    u = leaf([5.0], device)
    out = (x * 2).sum()
    with pytest.raises(RuntimeError):
        wgtorch.autograd.grad(out, [x, u], retain_graph=True)
    gx, gu = wgtorch.autograd.grad(out, [x, u], allow_unused=True)
    assert_close(gx, [2.0, 2.0])
    assert gu is None


def test_autograd_grad_input_not_requiring_grad_raises(device):
    x = leaf([1.0, 2.0], device)
    out = (x * 2).sum()
    with pytest.raises(RuntimeError):
        wgtorch.autograd.grad(out, wgtorch.tensor([1.0, 2.0], device=device))


def test_autograd_grad_of_intermediate(device):
    a = np.array([0.5, 1.5])
    x = leaf(a, device)
    h = x.exp()
    out = (h * h).sum()
    (gh,) = wgtorch.autograd.grad(out, h)
    assert_close(gh, 2 * np.exp(a), rtol=1e-6)


def test_autograd_grad_frees_graph_by_default(device):
    x = leaf([1.0, 2.0], device)
    out = (x.exp() * x).sum()
    wgtorch.autograd.grad(out, x)
    with pytest.raises(RuntimeError):
        wgtorch.autograd.grad(out, x)


# ---------------------------------------------------------------------------
# higher-order gradients
# ---------------------------------------------------------------------------

def test_second_and_third_derivative_of_cube(device):
    a = np.array([-1.5, 0.5, 2.0])
    x = leaf(a, device, fdt(device))
    y = (x ** 3).sum()
    (g,) = wgtorch.autograd.grad(y, x, create_graph=True)
    assert g.requires_grad and g.grad_fn is not None
    assert_close(g, 3 * a ** 2)
    (g2,) = wgtorch.autograd.grad(g.sum(), x, create_graph=True)
    assert_close(g2, 6 * a)
    (g3,) = wgtorch.autograd.grad(g2.sum(), x)
    assert_close(g3, np.full(3, 6.0))


def test_second_derivative_of_sin(device):
    a = np.linspace(-2, 2, 5)
    x = leaf(a, device, fdt(device))
    (g,) = wgtorch.autograd.grad(x.sin().sum(), x, create_graph=True)
    assert_close(g, np.cos(a), rtol=tol(device, 1e-10))
    (g2,) = wgtorch.autograd.grad(g.sum(), x)
    assert_close(g2, -np.sin(a), rtol=tol(device, 1e-10), atol=tol(device, 1e-12))


def test_second_derivative_of_sigmoid(device):
    a = np.linspace(-3, 3, 7)
    x = leaf(a, device, fdt(device))
    s = 1 / (1 + np.exp(-a))
    (g,) = wgtorch.autograd.grad(wgtorch.sigmoid(x).sum(), x, create_graph=True)
    assert_close(g, s * (1 - s), rtol=tol(device, 1e-10))
    (g2,) = wgtorch.autograd.grad(g.sum(), x)
    assert_close(g2, s * (1 - s) * (1 - 2 * s), rtol=tol(device, 1e-9), atol=tol(device, 1e-12))


def test_second_derivative_of_tanh_and_exp_products(device):
    a = np.array([0.3, -0.7])
    x = leaf(a, device, fdt(device))
    f = (x.tanh() * x.exp()).sum()
    (g,) = wgtorch.autograd.grad(f, x, create_graph=True)
    t, e = np.tanh(a), np.exp(a)
    d1 = (1 - t ** 2) * e + t * e
    assert_close(g, d1, rtol=tol(device, 1e-10))
    (g2,) = wgtorch.autograd.grad(g.sum(), x)
    d2 = -2 * t * (1 - t ** 2) * e + 2 * (1 - t ** 2) * e + t * e
    assert_close(g2, d2, rtol=tol(device, 1e-9))


def test_grad_of_grad_norm(device):
    """Gradient penalty: d/dx ||d/dx sum(x^3)||^2 = d/dx sum(9 x^4) = 36 x^3."""
    a = np.array([[0.5, -1.0], [2.0, 0.25]])
    x = leaf(a, device, fdt(device))
    (g,) = wgtorch.autograd.grad((x ** 3).sum(), x, create_graph=True)
    penalty = g.pow(2).sum()
    penalty.backward()
    assert_close(x.grad, 36 * a ** 3)
    # and through a norm and a matmul
    w = leaf(np.array([[1.0, 2.0], [-1.0, 0.5]]), device, fdt(device))
    xin = np.array([[0.3, -0.2], [0.1, 0.4]])
    xt = wgtorch.tensor(xin, dtype=fdt(device), device=device, requires_grad=True)
    out = wgtorch.tanh(xt @ w).sum()
    (gx,) = wgtorch.autograd.grad(out, xt, create_graph=True)
    gx.norm().backward()
    # reference: central differences of ||grad_x|| w.r.t. w, computed with NumPy
    def gnorm(W):
        z = xin @ W
        gxx = (1 - np.tanh(z) ** 2) @ W.T
        return np.sqrt((gxx ** 2).sum())
    W0 = np.array([[1.0, 2.0], [-1.0, 0.5]])
    num = np.zeros_like(W0)
    for i in range(2):
        for j in range(2):
            e = np.zeros_like(W0)
            e[i, j] = 1e-6
            num[i, j] = (gnorm(W0 + e) - gnorm(W0 - e)) / 2e-6
    assert_close(w.grad, num, rtol=tol(device, 1e-5), atol=tol(device, 1e-8))


def test_backward_create_graph(device):
    a = np.array([1.0, 2.0])
    x = leaf(a, device, fdt(device))
    y = (x ** 3).sum()
    y.backward(create_graph=True)
    assert x.grad.requires_grad
    gsum = x.grad.sum()
    x.grad = None
    gsum.backward()
    assert_close(x.grad, 6 * a)


def test_double_backward_matches_torch(device, oracle):
    a = np.array([0.3, -1.2, 2.0])
    x = leaf(a, device, fdt(device))
    (g,) = wgtorch.autograd.grad((x.sigmoid() * x.sin()).sum(), x, create_graph=True)
    (g2,) = wgtorch.autograd.grad(g.sum(), x)
    T = oracle
    tx = T.tensor(a, requires_grad=True)
    (tg,) = T.autograd.grad((tx.sigmoid() * tx.sin()).sum(), tx, create_graph=True)
    (tg2,) = T.autograd.grad(tg.sum(), tx)
    assert_close(g, tg.detach(), rtol=tol(device, 1e-10))
    assert_close(g2, tg2.detach(), rtol=tol(device, 1e-10))


# ---------------------------------------------------------------------------
# grad modes
# ---------------------------------------------------------------------------

def test_no_grad_context_and_decorator(device):
    x = leaf([1.0, 2.0], device)
    assert wgtorch.is_grad_enabled()
    with wgtorch.no_grad():
        assert not wgtorch.is_grad_enabled()
        y = x * 2
    assert wgtorch.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None

    @wgtorch.no_grad()
    def f(t):
        """doc"""
        return t * 2

    z = f(x)
    assert not z.requires_grad
    assert f.__name__ == "f" and f.__doc__ == "doc"
    assert wgtorch.is_grad_enabled()
    assert (x * 2).requires_grad


def test_enable_grad_inside_no_grad(device):
    x = leaf([1.0, 2.0], device)
    with wgtorch.no_grad():
        with wgtorch.enable_grad():
            y = x * 2
        z = x * 2
    assert y.requires_grad and not z.requires_grad

    @wgtorch.enable_grad()
    def g(t):
        return t * 2

    with wgtorch.no_grad():
        assert g(x).requires_grad
        assert not wgtorch.is_grad_enabled()


def test_set_grad_enabled(device):
    x = leaf([1.0, 2.0], device)
    with wgtorch.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    with wgtorch.set_grad_enabled(True):
        assert (x * 2).requires_grad
    wgtorch.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad
    finally:
        wgtorch.set_grad_enabled(True)
    assert (x * 2).requires_grad

    @wgtorch.set_grad_enabled(False)
    def h(t):
        return t * 2

    assert not h(x).requires_grad
    assert wgtorch.is_grad_enabled()


def test_inference_mode(device):
    x = leaf([1.0, 2.0], device)
    with wgtorch.inference_mode():
        y = x * 2
        assert not wgtorch.is_grad_enabled()
    assert not y.requires_grad
    assert wgtorch.is_grad_enabled()

    @wgtorch.inference_mode()
    def k(t):
        return t * 2

    assert not k(x).requires_grad
    assert_close(k(x), [2.0, 4.0])


def test_grad_mode_restored_after_exception(device):
    with pytest.raises(ValueError):
        with wgtorch.no_grad():
            raise ValueError("boom")
    assert wgtorch.is_grad_enabled()


def test_inplace_on_leaf_allowed_under_no_grad(device):
    x = leaf([1.0, 2.0], device)
    v0 = x._version
    with wgtorch.no_grad():
        x.add_(1)
        x.mul_(2)
    assert x._version >= v0 + 2
    assert x.requires_grad and x.is_leaf
    assert_close(x, [4.0, 6.0])
    (x * x).sum().backward()
    assert_close(x.grad, [8.0, 12.0])


# ---------------------------------------------------------------------------
# autograd errors
# ---------------------------------------------------------------------------

def test_inplace_on_leaf_requiring_grad_raises(device):
    x = leaf([1.0, 2.0], device)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
        x.add_(1)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        x.mul_(2)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        x += 1
    with pytest.raises(RuntimeError):
        x.zero_()
    assert_close(x, [1.0, 2.0])


def test_inplace_on_view_of_leaf_raises(device):
    x = leaf([[1.0, 2.0], [3.0, 4.0]], device)
    with pytest.raises(RuntimeError):
        x[0].add_(1)
    with pytest.raises(RuntimeError):
        x[0] = 5.0


def test_modified_saved_tensor_raises(device):
    x = leaf([1.0, 2.0, 3.0], device)
    a = x * 1
    b = a * a  # saves a
    v = a._version
    a.add_(1)
    assert a._version > v
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        b.sum().backward()


def test_modified_saved_tensor_through_view_raises(device):
    x = leaf([[1.0, 2.0], [3.0, 4.0]], device)
    a = x * 1
    b = a.sin()  # saves a
    a[0].mul_(2)  # modify through a view of a
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        b.sum().backward()


def test_modified_saved_output_raises(device):
    x = leaf([0.5, 1.0], device)
    y = x.exp()  # exp saves its output
    y.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_inplace_not_saved_is_fine(device):
    a0 = np.array([1.0, 2.0])
    x = leaf(a0, device)
    a = x * 2
    b = a + 3  # add saves nothing
    a.mul_(10)
    b.sum().backward()
    assert_close(x.grad, [2.0, 2.0])
    # in-place ops on non-leaves are differentiated
    x2 = leaf(a0, device)
    h = x2 * 1
    h.mul_(3)
    h.exp_()
    h.sum().backward()
    assert_close(x2.grad, 3 * np.exp(3 * a0), rtol=1e-6)


# ---------------------------------------------------------------------------
# custom Functions
# ---------------------------------------------------------------------------

class ScaledExp(wgtorch.autograd.Function):
    @staticmethod
    def forward(ctx, x, k):
        y = x.exp() * k
        ctx.save_for_backward(y)
        ctx.k = k
        return y

    @staticmethod
    def backward(ctx, grad_out):
        (y,) = ctx.saved_tensors
        ScaledExp.seen_needs = tuple(ctx.needs_input_grad)
        return grad_out * y, None


class MulAdd(wgtorch.autograd.Function):
    """out = a * b + c, with both outputs: (a*b + c, a - b)."""

    @staticmethod
    def forward(ctx, a, b, c):
        ctx.save_for_backward(a, b)
        return a * b + c, a - b

    @staticmethod
    def backward(ctx, g1, g2):
        a, b = ctx.saved_tensors
        MulAdd.seen_needs = tuple(ctx.needs_input_grad)
        ga = g1 * b + g2 if ctx.needs_input_grad[0] else None
        gb = g1 * a - g2 if ctx.needs_input_grad[1] else None
        gc = g1 if ctx.needs_input_grad[2] else None
        return ga, gb, gc


def test_custom_function(device):
    a = np.array([0.5, -1.0, 2.0])
    x = leaf(a, device)
    y = ScaledExp.apply(x, 3.0)
    assert_close(y, 3 * np.exp(a), rtol=1e-6)
    assert y.requires_grad and not y.is_leaf
    assert type(y.grad_fn).__name__ == "ScaledExpBackward"
    (y * wgtorch.tensor([1.0, 2.0, 3.0], device=device)).sum().backward()
    assert_close(x.grad, 3 * np.exp(a) * [1, 2, 3], rtol=1e-6)
    assert ScaledExp.seen_needs == (True, False)


def test_custom_function_two_outputs_and_needs_input_grad(device):
    a, b, c = np.array([1.0, 2.0]), np.array([3.0, -1.0]), np.array([0.5, 0.5])
    xa, xb = leaf(a, device), leaf(b, device)
    xc = wgtorch.tensor(c, dtype=wgtorch.float32, device=device)  # no grad
    o1, o2 = MulAdd.apply(xa, xb, xc)
    assert_close(o1, a * b + c)
    assert_close(o2, a - b)
    (o1.sum() * 2 + (o2 * o2).sum()).backward()
    assert MulAdd.seen_needs == (True, True, False)
    assert_close(xa.grad, 2 * b + 2 * (a - b))
    assert_close(xb.grad, 2 * a - 2 * (a - b))


def test_custom_function_gradcheck(device):
    check_grad(lambda x: ScaledExp.apply(x, 2.0), [np.array([[0.1, -0.5], [1.0, 0.3]])], device)
    check_grad(lambda a, b, c: MulAdd.apply(a, b, c), [np.array([1.0, 2.0]), np.array([0.5, -3.0]),
                                                       np.array([0.2, 0.1])], device)


def test_custom_function_forward_runs_without_grad(device):
    class Probe(wgtorch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            Probe.inner_enabled = wgtorch.is_grad_enabled()
            Probe.inner_requires = x.requires_grad
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = leaf([1.0], device)
    y = Probe.apply(x)
    assert Probe.inner_enabled is False
    assert y.requires_grad
    y.sum().backward()
    assert_close(x.grad, [2.0])


# ---------------------------------------------------------------------------
# gradients of broadcasting ops are un-broadcast; views; indexing; setitem
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "where", "lerp", "atan2_free"])
@pytest.mark.parametrize("sa, sb", [((2, 3), (3,)), ((2, 1, 3), (4, 1)), ((3, 1), (1, 4)), ((), (2, 3)), ((2, 3), ())])
def test_broadcast_grads_unbroadcast(device, op, sa, sb):
    if op == "atan2_free":  # a composite: x*y + x/y through broadcasting
        f = lambda x, y: x * y + x / y  # noqa: E731
    elif op == "where":
        f = lambda x, y: wgtorch.where(x > y, x, y * 2)  # noqa: E731
    elif op == "lerp":
        f = lambda x, y: wgtorch.lerp(x, y, 0.3)  # noqa: E731
    elif op in ("maximum", "minimum"):
        f = getattr(wgtorch, op)
    else:
        f = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
             "div": lambda x, y: x / y, "pow": lambda x, y: x ** y}[op]
    rng = np.random.default_rng(zlib.crc32(repr((op, sa, sb)).encode()))
    a = np.asarray(rng.uniform(0.5, 2.0, sa))
    b = np.asarray(rng.uniform(0.5, 2.0, sb) + 0.013)  # avoid ties for maximum/minimum/where
    grads = check_grad(f, [a, b], device)
    assert grads[0].shape == sa and grads[1].shape == sb


@fixture_ok
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3))
def test_broadcast_grad_shapes_generated(device, shapes):
    s1, s2 = shapes.input_shapes
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.5, 2, s1), rng.uniform(0.5, 2, s2)
    x, y = leaf(a, device, fdt(device)), leaf(b, device, fdt(device))
    (x * y + y).sum().backward()
    assert tuple(x.grad.shape) == s1 and tuple(y.grad.shape) == s2
    full = np.broadcast_shapes(s1, s2)
    gx = np.broadcast_to(b, full)
    gy = np.broadcast_to(a, full) + 1
    # sum the broadcast gradient back to each input shape
    def unb(g, s):
        g = g.sum(axis=tuple(range(g.ndim - len(s))))
        return g.sum(axis=tuple(i for i, n in enumerate(s) if n == 1), keepdims=True)
    assert_close(x.grad, unb(gx, s1), rtol=tol(device, 1e-12))
    assert_close(y.grad, unb(gy, s2), rtol=tol(device, 1e-12))


def test_grad_through_views(device):
    a = np.arange(12.0).reshape(3, 4)
    x = leaf(a, device)
    y = (x[1:, ::2] * 2).sum() + (x.t()[1] * 3).sum() + x[0].expand(2, 4)[:, 1::2].sum()
    y.backward()
    g = np.zeros((3, 4))
    g[1:, ::2] += 2
    g[:, 1] += 3  # x.t()[1] is column 1
    g[0, 1::2] += 2  # row 0 expanded to 2 rows
    assert_close(x.grad, g)


def test_grad_through_advanced_indexing_accumulates(device):
    x = leaf([1.0, 2.0, 3.0, 4.0], device)
    idx = wgtorch.tensor([0, 2, 2, 3, 0, 0], device=device)
    (x[idx] * wgtorch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], device=device)).sum().backward()
    assert_close(x.grad, [1 + 5 + 6, 0, 2 + 3, 4])
    x2 = leaf([[1.0, -2.0], [3.0, -4.0]], device)
    x2[x2 > 0].sum().backward()
    assert_close(x2.grad, [[1.0, 0.0], [1.0, 0.0]])


def test_setitem_on_non_leaf(device):
    a = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    x = leaf(a, device)
    v = leaf([10.0, 20.0], device)
    y = x * 2
    y[:, 1] = v * 3
    y[0, 0] = 0.0
    assert_close(y, [[0.0, 30.0, 6.0], [8.0, 60.0, 12.0]])
    (y * y).sum().backward()
    yv = to_np(y).astype(np.float64)
    gx = 2 * yv * 2
    gx[:, 1] = 0
    gx[0, 0] = 0
    assert_close(x.grad, gx)
    assert_close(v.grad, 2 * yv[:, 1] * 3)


def test_inplace_on_view_of_non_leaf_grad(device):
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    x = leaf(a, device)
    y = x.clone()
    y[0].mul_(3)
    y.t()[1].add_(5)  # column 1
    (y ** 2).sum().backward()
    yv = a.copy()
    yv[0] *= 3
    yv[:, 1] += 5
    g = 2 * yv
    g[0] *= 3
    assert_close(x.grad, g)


# ---------------------------------------------------------------------------
# table-driven finite-difference gradcheck of every differentiable op
# ---------------------------------------------------------------------------

def _arr(spec, seed):
    """spec: (shape, kind). kinds: n normal, pos (0.5, 2), unit (0.1, 0.9), nz |x|>=0.2 either sign,
    d distinct (ties at least 0.05 apart), lt1 (-0.8, 0.8)."""
    shape, kind = spec
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    if kind == "n":
        return rng.standard_normal(shape)
    if kind == "pos":
        return rng.uniform(0.5, 2.0, shape)
    if kind == "unit":
        return rng.uniform(0.1, 0.9, shape)
    if kind == "lt1":
        return rng.uniform(-0.8, 0.8, shape)
    if kind == "nz":
        return rng.uniform(0.2, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    if kind == "d":
        return (rng.permutation(n) * 0.31 - n * 0.13 + 0.017).reshape(shape)
    raise ValueError(kind)


def I(data, like):  # noqa: E743 -- an index tensor on the input's device
    return wgtorch.tensor(data, device=like.device)


S = (2, 3)
GRADCHECK = [
    # ---- elementwise unary
    ("neg", lambda x: wgtorch.neg(x), [(S, "n")]),
    ("neg_op", lambda x: -x, [(S, "n")]),
    ("abs", lambda x: x.abs(), [(S, "nz")]),
    ("exp", lambda x: wgtorch.exp(x), [(S, "n")]),
    ("exp2", lambda x: wgtorch.exp2(x), [(S, "n")]),
    ("log", lambda x: wgtorch.log(x), [(S, "pos")]),
    ("log2", lambda x: x.log2(), [(S, "pos")]),
    ("log1p", lambda x: wgtorch.log1p(x), [(S, "lt1")]),
    ("expm1", lambda x: x.expm1(), [(S, "n")]),
    ("sqrt", lambda x: wgtorch.sqrt(x), [(S, "pos")]),
    ("rsqrt", lambda x: wgtorch.rsqrt(x), [(S, "pos")]),
    ("sin", lambda x: wgtorch.sin(x), [(S, "n")]),
    ("cos", lambda x: x.cos(), [(S, "n")]),
    ("tan", lambda x: wgtorch.tan(x), [(S, "lt1")]),
    ("tanh", lambda x: wgtorch.tanh(x), [(S, "n")]),
    ("sigmoid", lambda x: wgtorch.sigmoid(x), [(S, "n")]),
    ("relu", lambda x: wgtorch.relu(x), [(S, "nz")]),
    ("erf", lambda x: wgtorch.erf(x), [(S, "n")]),
    ("floor", lambda x: wgtorch.floor(x) + x, [(S, "n")]),
    ("ceil", lambda x: x.ceil() * x, [(S, "n")]),
    ("round", lambda x: wgtorch.round(x) + x, [(S, "n")]),
    ("trunc", lambda x: wgtorch.trunc(x) + x, [(S, "n")]),
    ("sign", lambda x: wgtorch.sign(x) * x, [(S, "nz")]),
    ("reciprocal", lambda x: wgtorch.reciprocal(x), [(S, "nz")]),
    ("nan_to_num", lambda x: wgtorch.nan_to_num(x) * 2, [(S, "n")]),
    ("clamp", lambda x: wgtorch.clamp(x, -0.5, 0.5), [(S, "d")]),
    ("clamp_min", lambda x: x.clamp(min=0.1), [(S, "d")]),
    ("clamp_tensor", lambda x, lo: wgtorch.clamp(x, min=lo), [(S, "d"), ((3,), "d")]),
    ("clip", lambda x: wgtorch.clip(x, max=0.4), [(S, "d")]),
    # ---- elementwise binary (with broadcasting)
    ("add", lambda x, y: x + y, [(S, "n"), ((3,), "n")]),
    ("add_alpha", lambda x, y: wgtorch.add(x, y, alpha=2.5), [(S, "n"), ((2, 1), "n")]),
    ("radd", lambda x: 2 + x, [(S, "n")]),
    ("sub", lambda x, y: x - y, [((2, 1), "n"), ((1, 3), "n")]),
    ("sub_alpha", lambda x, y: wgtorch.sub(x, y, alpha=-3), [(S, "n"), (S, "n")]),
    ("rsub", lambda x: 2 - x, [(S, "n")]),
    ("mul", lambda x, y: x * y, [(S, "n"), ((3,), "n")]),
    ("div", lambda x, y: x / y, [(S, "n"), ((2, 1), "nz")]),
    ("rdiv", lambda x: 2 / x, [(S, "nz")]),
    ("mod", lambda x, y: x % y, [(S, "n"), ((3,), "pos")]),
    ("pow_scalar", lambda x: x ** 3, [(S, "n")]),
    ("pow_frac", lambda x: wgtorch.pow(x, 0.7), [(S, "pos")]),
    ("pow_tensor", lambda x, y: x ** y, [(S, "pos"), ((3,), "n")]),
    ("rpow", lambda x: 2 ** x, [(S, "n")]),
    ("pow_scalar_base", lambda x: wgtorch.pow(1.5, x), [(S, "n")]),
    ("maximum", lambda x, y: wgtorch.maximum(x, y), [(S, "d"), ((3,), "d")]),
    ("minimum", lambda x, y: wgtorch.minimum(x, y), [(S, "d"), ((2, 1), "d")]),
    ("lerp", lambda a, b, w: wgtorch.lerp(a, b, w), [(S, "n"), (S, "n"), ((3,), "unit")]),
    ("lerp_scalar", lambda a, b: a.lerp(b, 0.25), [(S, "n"), ((3,), "n")]),
    # ---- reductions
    ("sum", lambda x: x.sum(), [((2, 3, 2), "n")]),
    ("sum_dim", lambda x: wgtorch.sum(x, 1), [((2, 3, 2), "n")]),
    ("sum_tuple_keepdim", lambda x: x.sum((0, -1), keepdim=True), [((2, 3, 2), "n")]),
    ("mean", lambda x: x.mean(), [((2, 3, 2), "n")]),
    ("mean_dim", lambda x: wgtorch.mean(x, (0, 2)), [((2, 3, 2), "n")]),
    ("var", lambda x: x.var(), [((2, 3, 2), "n")]),
    ("var_dim_c0", lambda x: wgtorch.var(x, 1, correction=0, keepdim=True), [((2, 3, 2), "n")]),
    ("std", lambda x: x.std(), [((2, 3, 2), "n")]),
    ("std_dim", lambda x: wgtorch.std(x, (0, 2), unbiased=False), [((2, 3, 2), "n")]),
    ("prod", lambda x: x.prod(), [(S, "nz")]),
    ("prod_dim", lambda x: wgtorch.prod(x, 1, keepdim=True), [(S, "nz")]),
    ("prod_with_zero", lambda x: (x * I([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]], x).to(x.dtype)).prod(1),
     [(S, "nz")]),
    ("prod_exact_zero", lambda x: wgtorch.cat([x, x.new_zeros(1)]).prod(), [((3,), "nz")]),
    ("amax", lambda x: wgtorch.amax(x, 1), [((2, 3, 2), "d")]),
    ("amin", lambda x: x.amin((0, 2)), [((2, 3, 2), "d")]),
    ("max_all", lambda x: x.max(), [(S, "d")]),
    ("min_all", lambda x: wgtorch.min(x), [(S, "d")]),
    ("max_dim", lambda x: x.max(1).values, [((2, 3, 2), "d")]),
    ("max_dim_tuple", lambda x: wgtorch.max(x, 0, keepdim=True), [(S, "d")]),
    ("min_dim", lambda x: wgtorch.min(x, -1)[0], [((2, 3, 2), "d")]),
    ("max_binary", lambda x, y: wgtorch.max(x, y), [(S, "d"), ((3,), "d")]),
    ("norm2", lambda x: x.norm(), [(S, "n")]),
    ("norm2_dim", lambda x: wgtorch.norm(x, dim=1), [(S, "n")]),
    ("norm1", lambda x: wgtorch.norm(x, p=1), [(S, "nz")]),
    ("norm_inf", lambda x: x.norm(p=float("inf"), dim=0), [(S, "d")]),
    ("norm_fro", lambda x: wgtorch.norm(x, p="fro"), [(S, "n")]),
    ("norm3", lambda x: wgtorch.norm(x, p=3, dim=1, keepdim=True), [(S, "nz")]),
    ("logsumexp", lambda x: wgtorch.logsumexp(x, 1), [(S, "n")]),
    ("logsumexp_tuple", lambda x: x.logsumexp((0, 1), keepdim=True), [(S, "n")]),
    ("cumsum", lambda x: wgtorch.cumsum(x, 1), [(S, "n")]),
    ("cumsum_0", lambda x: x.cumsum(0), [(S, "n")]),
    ("cumprod", lambda x: wgtorch.cumprod(x, 1), [(S, "nz")]),
    ("cumprod_0", lambda x: x.cumprod(dim=0), [((3, 2), "nz")]),
    ("softmax", lambda x: wgtorch.softmax(x, 1), [(S, "n")]),
    ("softmax_0", lambda x: x.softmax(0), [(S, "n")]),
    ("log_softmax", lambda x: wgtorch.log_softmax(x, -1), [(S, "n")]),
    ("F_softmax", lambda x: wgtorch.nn.functional.softmax(x, dim=0), [(S, "n")]),
    ("F_log_softmax", lambda x: wgtorch.nn.functional.log_softmax(x, dim=1), [(S, "n")]),
    ("topk", lambda x: wgtorch.topk(x, 2, dim=1).values, [((2, 4), "d")]),
    ("topk_smallest", lambda x: x.topk(2, dim=0, largest=False)[0], [((3, 2), "d")]),
    ("sort", lambda x: wgtorch.sort(x, dim=1).values, [(S, "d")]),
    ("sort_desc", lambda x: x.sort(0, descending=True)[0], [(S, "d")]),
    # ---- linear algebra
    ("matmul", lambda a, b: a @ b, [((2, 3), "n"), ((3, 2), "n")]),
    ("matmul_vec", lambda a, b: wgtorch.matmul(a, b), [((3,), "n"), ((3,), "n")]),
    ("matmul_batched", lambda a, b: a @ b, [((2, 1, 2, 3), "n"), ((2, 3, 2), "n")]),
    ("mm", lambda a, b: wgtorch.mm(a, b), [((2, 3), "n"), ((3, 2), "n")]),
    ("bmm", lambda a, b: a.bmm(b), [((2, 2, 3), "n"), ((2, 3, 2), "n")]),
    ("dot", lambda a, b: wgtorch.dot(a, b), [((4,), "n"), ((4,), "n")]),
    ("outer", lambda a, b: wgtorch.outer(a, b), [((3,), "n"), ((2,), "n")]),
    ("addmm", lambda c, a, b: wgtorch.addmm(c, a, b, beta=0.5, alpha=-2.0), [((2,), "n"), ((3, 2), "n"), ((2, 2), "n")]),
    ("einsum_mm", lambda a, b: wgtorch.einsum("ij,jk->ik", a, b), [((2, 3), "n"), ((3, 2), "n")]),
    ("einsum_batch", lambda a, b: wgtorch.einsum("bij,bkj->bik", a, b), [((2, 2, 3), "n"), ((2, 2, 3), "n")]),
    ("einsum_diag", lambda a: wgtorch.einsum("ii->i", a), [((3, 3), "n")]),
    ("einsum_outer_sum", lambda a, b: wgtorch.einsum("i,j->", a, b), [((3,), "n"), ((2,), "n")]),
    # ---- shape and indexing
    ("reshape", lambda x: x.reshape(3, 2) * I([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], x).to(x.dtype), [(S, "n")]),
    ("view", lambda x: x.view(-1).cumsum(0), [(S, "n")]),
    ("transpose", lambda x: x.transpose(0, 1).cumsum(1), [(S, "n")]),
    ("t", lambda x: x.t() @ x, [(S, "n")]),
    ("permute", lambda x: x.permute(2, 0, 1).cumsum(0), [((2, 3, 2), "n")]),
    ("expand", lambda x: x.expand(2, 3, 3).cumsum(0), [((3, 1), "n")]),
    ("unsqueeze_squeeze", lambda x: x.unsqueeze(1).squeeze(1).unsqueeze(-1).cumsum(1), [(S, "n")]),
    ("squeeze_dim", lambda x: x.squeeze(0) * 2, [((1, 3), "n")]),
    ("flatten", lambda x: x.flatten().cumsum(0), [((2, 3, 2), "n")]),
    ("contiguous", lambda x: x.t().contiguous().cumsum(0), [(S, "n")]),
    ("clone", lambda x: x.clone() * x, [(S, "n")]),
    ("getitem_int", lambda x: x[1] * x[0], [(S, "n")]),
    ("getitem_slice_step", lambda x: x[:, ::2] * 3 + x[1:, 1:].sum(), [((3, 4), "n")]),
    ("getitem_neg", lambda x: x[-1, -2:], [((3, 4), "n")]),
    ("getitem_none_ellipsis", lambda x: x[None, ..., 1], [((2, 3, 2), "n")]),
    ("getitem_index_tensor", lambda x: x[I([0, 1, 0, 0], x)], [(S, "n")]),
    ("getitem_index_2d", lambda x: x[I([1, 0], x), I([2, 2], x)], [(S, "n")]),
    ("getitem_bool_mask", lambda x: x[I([[True, False, True], [False, False, True]], x)], [(S, "n")]),
    ("setitem_non_leaf", lambda x, v: _setitem(x, v), [(S, "n"), ((2,), "n")]),
    ("cat", lambda a, b: wgtorch.cat([a, b, a], dim=1), [(S, "n"), ((2, 1), "n")]),
    ("cat_0", lambda a, b: wgtorch.cat((a, b)), [(S, "n"), ((1, 3), "n")]),
    ("stack", lambda a, b: wgtorch.stack([a, b], dim=1), [(S, "n"), (S, "n")]),
    ("stack_neg", lambda a, b: wgtorch.stack([a, b, a], dim=-1), [(S, "n"), (S, "n")]),
    ("split", lambda x: x.split([1, 2], dim=1)[1] * 2, [(S, "n")]),
    ("chunk", lambda x: wgtorch.chunk(x, 3, dim=1)[2].exp(), [(S, "n")]),
    ("gather", lambda x: wgtorch.gather(x, 1, I([[0, 2, 2], [1, 1, 0]], x)), [(S, "n")]),
    ("gather_0", lambda x: x.gather(0, I([[1, 0, 1]], x)), [(S, "n")]),
    ("index_select", lambda x: wgtorch.index_select(x, 1, I([2, 0, 2], x)), [(S, "n")]),
    ("index_select_0", lambda x: x.index_select(0, I([1, 1], x)), [(S, "n")]),
    ("masked_fill", lambda x: x.masked_fill(I([[True, False, False], [False, True, False]], x), 2.0), [(S, "n")]),
    ("masked_fill_bcast", lambda x: wgtorch.masked_fill(x, I([False, True, False], x), -1.0), [(S, "n")]),
    ("where", lambda c, a, b: wgtorch.where(c > 0, a, b), [(S, "nz"), (S, "n"), ((3,), "n")]),
    ("where_scalar", lambda a: wgtorch.where(a > 0, a, 0.0), [(S, "nz")]),
    # ---- compositions
    ("mlp", lambda x, w, b: wgtorch.relu(x @ w + b).sum(1).sigmoid(), [((3, 2), "n"), ((2, 4), "n"), ((4,), "nz")]),
    ("logistic", lambda w, b: wgtorch.nn.functional.binary_cross_entropy(
        wgtorch.sigmoid(w * 1.1 + b), wgtorch.ones_like(w)), [((1,), "n"), ((1,), "n")]),
]


def _setitem(x, v):
    y = x * 1
    y[:, 1] = v * 2
    y[0, 0] = 5.0
    return y * x


@pytest.mark.parametrize("name, fn, specs", GRADCHECK, ids=[g[0] for g in GRADCHECK])
def test_gradcheck(device, name, fn, specs):
    inputs = [_arr(s, seed) for seed, s in enumerate(specs)]
    check_grad(fn, inputs, device)


@pytest.mark.parametrize("name, fn, specs", GRADCHECK, ids=[g[0] for g in GRADCHECK])
def test_gradcheck_noncontiguous_inputs(device, name, fn, specs):
    """The same gradients when every input arrives as a non-contiguous view (transposed twice
    is contiguous, so use a step-sliced view of a larger buffer)."""
    inputs = [_arr(s, seed) for seed, s in enumerate(specs)]
    ref, _, _ = analytic_grads(fn, inputs, "cpu", wgtorch.float64)

    def wrapped(*xs):
        views = []
        for x in xs:
            if isinstance(x, wgtorch.Tensor) and x.ndim > 0:
                big = wgtorch.stack([x * 0, x], dim=-1)  # (..., 2): x is big[..., 1], stride 2
                views.append(big[..., 1])
            else:
                views.append(x)
        return fn(*views)

    got, _, _ = analytic_grads(wrapped, inputs, device, wgtorch.float64 if device == "cpu" else wgtorch.float32)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-6 if device == "cpu" else 2e-3, atol=1e-8 if device == "cpu" else 2e-4)


@pytest.mark.parametrize("name, fn, specs", GRADCHECK, ids=[g[0] for g in GRADCHECK])
def test_gradients_match_torch(device, oracle, name, fn, specs):
    inputs = [_arr(s, seed) for seed, s in enumerate(specs)]
    ours, _, vs = analytic_grads(fn, inputs, device, wgtorch.float64 if device == "cpu" else wgtorch.float32)
    g = dict(fn.__globals__)
    g["wgtorch"] = oracle
    g["I"] = lambda data, like: oracle.tensor(data, device=like.device)
    f = type(fn)(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__)
    ts = [oracle.tensor(a, requires_grad=True) for a in inputs]
    outs = f(*ts)
    outs = outs if isinstance(outs, tuple) else (outs,)
    loss = sum((o * oracle.tensor(v)).sum() for o, v in zip(outs, vs) if v is not None)
    theirs = oracle.autograd.grad(loss, ts, allow_unused=True)
    for a, b in zip(ours, theirs):
        b = np.zeros(a.shape) if b is None else b.numpy()
        np.testing.assert_allclose(a, b, rtol=1e-6 if device == "cpu" else 2e-3, atol=1e-8)


def test_gradcheck_helper_detects_wrong_gradient():
    """The helper itself must fail on a Function whose backward is wrong."""
    class Wrong(wgtorch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x  # should be 2 * x

    with pytest.raises(AssertionError):
        gradcheck(lambda x: Wrong.apply(x), [np.array([1.0, 2.0])])
    g = gradcheck(lambda x: x * x, [np.array([1.0, 2.0])])
    # the float32 path (what check_grad uses on other devices) gives the same gradients
    g32, idx, _ = analytic_grads(lambda x: x * x, [np.array([1.0, 2.0])], "cpu", wgtorch.float32)
    assert idx == [0]
    np.testing.assert_allclose(g32[0], g[0], rtol=1e-6)
    # non-float inputs are passed through untouched and not differentiated
    g2 = gradcheck(lambda x, k: x * k, [np.array([1.0, 2.0]), 3])
    assert len(g2) == 1 and g2[0].shape == (2,)


# ---------------------------------------------------------------------------
# PyTorch's subgradient / tie conventions (finite differences cannot decide these)
# ---------------------------------------------------------------------------

KINKS = [
    ("abs_at_0", lambda T, x: x.abs(), [[0.0, 1.0, -1.0]], [[0.0, 1.0, -1.0]]),
    ("relu_at_0", lambda T, x: T.relu(x), [[0.0, 1.0, -1.0]], [[0.0, 1.0, 0.0]]),
    ("clamp_at_bounds", lambda T, x: x.clamp(-1, 1), [[-1.0, 1.0, 0.0, 2.0]], [[1.0, 1.0, 1.0, 0.0]]),
    ("maximum_tie", lambda T, x, y: T.maximum(x, y), [[1.0, 2.0], [1.0, 3.0]], [[0.5, 0.0], [0.5, 1.0]]),
    ("minimum_tie", lambda T, x, y: T.minimum(x, y), [[1.0, 2.0], [1.0, 3.0]], [[0.5, 1.0], [0.5, 0.0]]),
    ("max_all_tie", lambda T, x: x.max(), [[1.0, 3.0, 3.0]], [[0.0, 0.5, 0.5]]),
    ("min_all_tie", lambda T, x: x.min(), [[1.0, 1.0, 3.0]], [[0.5, 0.5, 0.0]]),
    ("amax_tie", lambda T, x: x.amax(0), [[[1.0, 3.0], [1.0, 2.0]]], [[[0.5, 1.0], [0.5, 0.0]]]),
    ("max_dim_tie", lambda T, x: x.max(0).values, [[1.0, 3.0, 3.0]], [[0.0, 1.0, 0.0]]),
    ("norm_at_0", lambda T, x: x.norm(), [[0.0, 0.0]], [[0.0, 0.0]]),
    ("norm_inf_tie", lambda T, x: x.norm(p=float("inf")), [[1.0, -3.0, 3.0]], [[0.0, -0.5, 0.5]]),
    ("sqr_at_0", lambda T, x: x ** 2, [[0.0]], [[0.0]]),
    ("pow0_at_0", lambda T, x: x.pow(0), [[0.0]], [[0.0]]),
    ("prod_two_zeros", lambda T, x: x.prod(), [[0.0, 0.0, 2.0]], [[0.0, 0.0, 0.0]]),
    ("prod_one_zero", lambda T, x: x.prod(), [[0.0, 3.0, 2.0]], [[6.0, 0.0, 0.0]]),
    ("nan_to_num", lambda T, x: T.nan_to_num(x), [[float("nan"), float("inf"), 1.0]], [[0.0, 0.0, 1.0]]),
    ("sign", lambda T, x: x.sign(), [[0.0, 1.0]], [[0.0, 0.0]]),
]


@pytest.mark.parametrize("name, f, inputs, expected", KINKS, ids=[k[0] for k in KINKS])
def test_grad_conventions_at_kinks_and_ties(device, name, f, inputs, expected):
    xs = [wgtorch.tensor(a, dtype=wgtorch.float64 if device == "cpu" else wgtorch.float32, device=device,
                         requires_grad=True) for a in inputs]
    out = f(wgtorch, *xs)
    grads = wgtorch.autograd.grad(out.sum(), xs)
    for g, e in zip(grads, expected):
        assert_close(g, np.array(e), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name, f, inputs, expected", KINKS, ids=[k[0] for k in KINKS])
def test_grad_conventions_match_torch(oracle, name, f, inputs, expected):
    xs = [oracle.tensor(a, dtype=oracle.float64, requires_grad=True) for a in inputs]
    grads = oracle.autograd.grad(f(oracle, *xs).sum(), xs)
    for g, e in zip(grads, expected):
        np.testing.assert_allclose(g.numpy(), e)


def test_backward_on_one_element_tensor(device):
    x = leaf([2.0], device)
    (x * 3).backward()  # one element: the gradient is implicitly 1, as for a 0-d tensor
    assert_close(x.grad, [3.0])


def test_no_param_decorators(device):
    x = leaf([1.0], device)

    @wgtorch.no_grad
    def f(t):
        return t * 2

    @wgtorch.enable_grad
    def g(t):
        return t * 2

    @wgtorch.inference_mode
    def h(t):
        return t * 2

    assert not f(x).requires_grad
    with wgtorch.no_grad():
        assert g(x).requires_grad
    assert not h(x).requires_grad


def test_inference_tensor_cannot_be_saved_for_backward(device):
    x = leaf([1.0, 2.0], device)
    with wgtorch.inference_mode():
        y = x * 2
    assert y.is_inference() and not y.requires_grad
    with pytest.raises(RuntimeError):
        (y * x).sum().backward()


# ---------------------------------------------------------------------------
# second-order gradients: gradcheck of x -> d/dx sum(f(x))
# ---------------------------------------------------------------------------

def _grad_of(f):
    def h(*xs):
        with wgtorch.enable_grad():
            leaves = [x if x.requires_grad else x.detach().requires_grad_() for x in xs]
            gs = wgtorch.autograd.grad(f(*leaves).sum(), leaves, create_graph=True)
        return tuple(gs)
    return h


SECOND_ORDER = [
    ("exp", lambda x: x.exp(), [(S, "n")]),
    ("log", lambda x: wgtorch.log(x), [(S, "pos")]),
    ("sqrt", lambda x: x.sqrt(), [(S, "pos")]),
    ("rsqrt", lambda x: x.rsqrt(), [(S, "pos")]),
    ("sin", lambda x: wgtorch.sin(x), [(S, "n")]),
    ("cos", lambda x: x.cos(), [(S, "n")]),
    ("tan", lambda x: x.tan(), [(S, "lt1")]),
    ("tanh", lambda x: wgtorch.tanh(x), [(S, "n")]),
    ("sigmoid", lambda x: wgtorch.sigmoid(x), [(S, "n")]),
    ("erf", lambda x: wgtorch.erf(x), [(S, "n")]),
    ("log1p", lambda x: x.log1p(), [(S, "lt1")]),
    ("expm1", lambda x: x.expm1(), [(S, "n")]),
    ("reciprocal", lambda x: x.reciprocal(), [(S, "nz")]),
    ("cube", lambda x: x ** 3, [(S, "n")]),
    ("pow_tensor", lambda x, y: x ** y, [(S, "pos"), ((3,), "n")]),
    ("rpow", lambda x: 3 ** x, [(S, "n")]),
    ("mul_div", lambda x, y: x * y / (y * y + 1), [(S, "n"), ((3,), "n")]),
    ("abs_mul", lambda x: x.abs() * x, [(S, "nz")]),
    ("relu_sq", lambda x: wgtorch.relu(x) ** 2, [(S, "nz")]),
    ("softmax", lambda x: wgtorch.softmax(x, 1) * wgtorch.arange(3, device=x.device), [(S, "n")]),
    ("log_softmax", lambda x: x.log_softmax(0) ** 2, [(S, "n")]),
    ("logsumexp", lambda x: x.logsumexp(1) ** 2, [(S, "n")]),
    ("norm", lambda x: x.norm(dim=1) ** 3, [(S, "n")]),
    ("var", lambda x: x.var(1) ** 2, [(S, "n")]),
    ("std", lambda x: x.std(0), [((3, 2), "n")]),
    ("mean_sq", lambda x: x.mean(0) ** 2, [(S, "n")]),
    ("prod", lambda x: x.prod(1), [(S, "nz")]),
    ("cumsum_sq", lambda x: x.cumsum(1) ** 2, [(S, "n")]),
    ("cumprod", lambda x: x.cumprod(1), [(S, "nz")]),
    ("max_dim_sq", lambda x: x.max(1).values ** 2, [(S, "d")]),
    ("matmul_tanh", lambda a, b: wgtorch.tanh(a @ b), [((2, 3), "n"), ((3, 2), "n")]),
    ("xxt", lambda a: (a @ a.t()) ** 2, [((2, 3), "n")]),
    ("einsum", lambda a, b: wgtorch.einsum("ij,jk->ik", a, b).sin(), [((2, 3), "n"), ((3, 2), "n")]),
    ("addmm_sig", lambda c, a, b: wgtorch.addmm(c, a, b).sigmoid(), [((2,), "n"), ((3, 2), "n"), ((2, 2), "n")]),
    ("where_sq", lambda x: wgtorch.where(x > 0, x ** 2, x ** 3), [(S, "nz")]),
    ("index_sq", lambda x: x[I([0, 1, 1], x)] ** 2, [(S, "n")]),
    ("bce", lambda p: wgtorch.nn.functional.binary_cross_entropy(p, wgtorch.full_like(p, 0.3)), [(S, "unit")]),
    ("clamp_sq", lambda x: x.clamp(-0.5, 0.5) ** 2, [(S, "d")]),
]


@pytest.mark.parametrize("name, f, specs", SECOND_ORDER, ids=[s[0] for s in SECOND_ORDER])
def test_second_order_gradcheck(device, name, f, specs):
    inputs = [_arr(s, seed) for seed, s in enumerate(specs)]
    check_grad(_grad_of(f), inputs, device)


def test_create_graph_implies_retain_graph(device):
    a = np.array([0.5, -1.0])
    x = leaf(a, device, fdt(device))
    y = (x.sin() * x).sum()
    y.backward(create_graph=True)  # retain_graph defaults to create_graph
    x.grad = None
    y.backward()
    assert_close(x.grad, np.cos(a) * a + np.sin(a), rtol=tol(device, 1e-10))
    z = (x.exp() * x).sum()
    wgtorch.autograd.grad(z, x, create_graph=True)
    (g,) = wgtorch.autograd.grad(z, x)  # the graph is still there
    assert_close(g, np.exp(a) * (a + 1), rtol=tol(device, 1e-10))


def test_grad_is_not_tracked_by_default(device):
    x = leaf([1.0, 2.0], device)
    (g,) = wgtorch.autograd.grad((x ** 2).sum(), x)
    assert not g.requires_grad and g.grad_fn is None
    (x ** 2).sum().backward()
    assert not x.grad.requires_grad and x.grad.is_leaf


def test_mixed_dtype_op_passes_gradients_back_in_each_inputs_dtype(device, oracle):
    """A bfloat16 matmul times a float32 tensor: the product promotes, and the gradient flowing
    back into the matmul is bfloat16 again (as PyTorch's engine casts it)."""
    a = np.array([[0.5, -1.25], [2.0, 0.75], [1.5, -0.5]], np.float32)
    b = np.array([[1.0, 0.25], [-0.5, 2.0]], np.float32)
    c = np.array([1.5, -2.0], np.float32)
    x = wgtorch.tensor(a, device=device).to(wgtorch.bfloat16).requires_grad_()
    w = wgtorch.tensor(b, device=device).to(wgtorch.bfloat16).requires_grad_()
    tx = oracle.tensor(a).to(oracle.bfloat16).requires_grad_()
    tw = oracle.tensor(b).to(oracle.bfloat16).requires_grad_()
    ((x @ w) * wgtorch.tensor(c, device=device)).sum().backward()
    ((tx @ tw) * oracle.tensor(c)).sum().backward()
    assert x.grad.dtype == w.grad.dtype == wgtorch.bfloat16
    np.testing.assert_array_equal(to_np(x.grad.float()), tx.grad.float().numpy())
    np.testing.assert_array_equal(to_np(w.grad.float()), tw.grad.float().numpy())
