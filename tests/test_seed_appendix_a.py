"""The code of sections A.2-A.4 of the seed text
(shared/seeds/001_314154a51f21af68.txt, lines 110-355: PyTorch's tensors and
autograd), run with `import wgtorch as torch`, asserting exactly what the seed
shows as output; plus F.binary_cross_entropy / F.sigmoid / F.relu (which the
seed's logistic-regression example needs) against NumPy and real PyTorch."""
import math

import numpy as np
import pytest

import wgtorch as torch
from seed import seed_text
import wgtorch.nn.functional as F
from wgtorch.autograd import grad
from conftest import assert_close, to_np
from gradcheck import check_grad



# The outputs printed in the seed text, verbatim.
SEED_OUTPUTS = {
    "int64": "torch.int64",
    "float32": "torch.float32",
    "tensor2d": "tensor([[1, 2, 3],\n        [4, 5, 6]])",
    "shape": "torch.Size([2, 3])",
    "reshape": "tensor([[1, 2],\n        [3, 4],\n        [5, 6]])",
    "T": "tensor([[1, 4],\n        [2, 5],\n        [3, 6]])",
    "matmul": "tensor([[14, 32],\n        [32, 77]])",
    "grad_w1": "(tensor([-0.0898]),)",
    "grad_b": "(tensor([-0.0817]),)",
}


def test_expected_outputs_are_the_seeds():
    """Every expected string above appears in the seed text's output blocks."""
    text = seed_text()
    if text is None:
        pytest.skip("the seed text is not available in this checkout")
    blocks = text.split("```")
    for key, out in SEED_OUTPUTS.items():
        assert any(out in b for b in blocks), key


# ---------------------------------------------------------------------------
# A.2.1 scalars, vectors, matrices, tensors
# ---------------------------------------------------------------------------

def test_a21_tensor_ranks():
    tensor0d = torch.tensor(1)
    tensor1d = torch.tensor([1, 2, 3])
    tensor2d = torch.tensor([[1, 2],
                             [3, 4]])
    tensor3d = torch.tensor([[[1, 2], [3, 4]],
                             [[5, 6], [7, 8]]])
    assert [t.ndim for t in (tensor0d, tensor1d, tensor2d, tensor3d)] == [0, 1, 2, 3]
    assert [t.dim() for t in (tensor0d, tensor1d, tensor2d, tensor3d)] == [0, 1, 2, 3]
    assert tensor0d.shape == torch.Size([])
    assert tensor3d.shape == torch.Size([2, 2, 2])
    assert tensor0d.item() == 1 and isinstance(tensor0d.item(), int)
    np.testing.assert_array_equal(to_np(tensor3d), np.arange(1, 9).reshape(2, 2, 2))
    for t in (tensor0d, tensor1d, tensor2d, tensor3d):
        assert t.dtype == torch.int64


# ---------------------------------------------------------------------------
# A.2.2 tensor data types
# ---------------------------------------------------------------------------

def test_a22_default_int_dtype(capsys):
    tensor1d = torch.tensor([1, 2, 3])
    print(tensor1d.dtype)
    assert capsys.readouterr().out == SEED_OUTPUTS["int64"] + "\n"
    assert str(tensor1d.dtype) == "torch.int64"
    assert tensor1d.dtype == torch.int64


def test_a22_default_float_dtype(capsys):
    floatvec = torch.tensor([1.0, 2.0, 3.0])
    print(floatvec.dtype)
    assert capsys.readouterr().out == SEED_OUTPUTS["float32"] + "\n"
    assert floatvec.dtype == torch.float32
    assert floatvec.dtype.itemsize == 4


def test_a22_to_float32(capsys):
    tensor1d = torch.tensor([1, 2, 3])
    floatvec = tensor1d.to(torch.float32)
    print(floatvec.dtype)
    assert capsys.readouterr().out == SEED_OUTPUTS["float32"] + "\n"
    assert_close(floatvec, np.array([1.0, 2.0, 3.0]))
    assert tensor1d.dtype == torch.int64  # .to returns a new tensor


def test_a22_dtypes_match_torch(oracle):
    assert str(torch.tensor([1, 2, 3]).dtype) == str(oracle.tensor([1, 2, 3]).dtype)
    assert str(torch.tensor([1.0, 2.0]).dtype) == str(oracle.tensor([1.0, 2.0]).dtype)
    assert str(torch.tensor([1, 2]).to(torch.float32).dtype) == str(oracle.tensor([1, 2]).to(oracle.float32).dtype)


# ---------------------------------------------------------------------------
# A.2.3 common tensor operations
# ---------------------------------------------------------------------------

def test_a23_print_tensor2d(capsys):
    tensor2d = torch.tensor([[1, 2, 3],
                             [4, 5, 6]])
    print(tensor2d)
    assert capsys.readouterr().out == SEED_OUTPUTS["tensor2d"] + "\n"


def test_a23_shape(capsys):
    tensor2d = torch.tensor([[1, 2, 3],
                             [4, 5, 6]])
    print(tensor2d.shape)
    assert capsys.readouterr().out == SEED_OUTPUTS["shape"] + "\n"
    assert tensor2d.shape == (2, 3)
    assert tensor2d.shape == torch.Size([2, 3])
    assert tuple(tensor2d.shape) == (2, 3)


def test_a23_reshape_and_view(capsys):
    tensor2d = torch.tensor([[1, 2, 3],
                             [4, 5, 6]])
    print(tensor2d.reshape(3, 2))
    print(tensor2d.view(3, 2))
    out = capsys.readouterr().out
    assert out == SEED_OUTPUTS["reshape"] + "\n" + SEED_OUTPUTS["reshape"] + "\n"
    np.testing.assert_array_equal(to_np(tensor2d.view(3, 2)), np.arange(1, 7).reshape(3, 2))
    # view shares storage with tensor2d
    v = tensor2d.view(3, 2)
    v[0, 0] = 100
    assert tensor2d[0, 0].item() == 100


def test_a23_transpose(capsys):
    tensor2d = torch.tensor([[1, 2, 3],
                             [4, 5, 6]])
    print(tensor2d.T)
    assert capsys.readouterr().out == SEED_OUTPUTS["T"] + "\n"
    assert tensor2d.T.shape == torch.Size([3, 2])


def test_a23_matmul(capsys):
    tensor2d = torch.tensor([[1, 2, 3],
                             [4, 5, 6]])
    print(tensor2d.matmul(tensor2d.T))
    print(tensor2d @ tensor2d.T)
    out = capsys.readouterr().out
    assert out == SEED_OUTPUTS["matmul"] + "\n" + SEED_OUTPUTS["matmul"] + "\n"
    r = tensor2d @ tensor2d.T
    assert r.dtype == torch.int64
    a = np.array([[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(to_np(r), a @ a.T)


def test_a23_prints_match_torch(oracle):
    ours = torch.tensor([[1, 2, 3], [4, 5, 6]])
    theirs = oracle.tensor([[1, 2, 3], [4, 5, 6]])
    for f in (lambda t: t, lambda t: t.shape, lambda t: t.reshape(3, 2), lambda t: t.T,
              lambda t: t @ t.T, lambda t: t.dtype, lambda t: t.to(t.dtype).float()):
        assert str(f(ours)) == str(f(theirs))
        assert repr(f(ours)) == repr(f(theirs))


# ---------------------------------------------------------------------------
# A.3 a model as a computation graph (forward pass of logistic regression)
# ---------------------------------------------------------------------------

def _a3_forward():
    y = torch.tensor([1.0])
    x1 = torch.tensor([1.1])
    w1 = torch.tensor([2.2])
    b = torch.tensor([0.0])
    z = x1 * w1 + b
    a = torch.sigmoid(z)
    loss = F.binary_cross_entropy(a, y)
    return z, a, loss


def test_a3_forward():
    z, a, loss = _a3_forward()
    zr = 1.1 * 2.2
    ar = 1 / (1 + math.exp(-zr))
    assert math.isclose(z.item(), zr, rel_tol=1e-6)
    assert math.isclose(a.item(), ar, rel_tol=1e-6)
    assert loss.ndim == 0  # mean reduction: a 0-d tensor
    assert loss.dtype == torch.float32
    assert math.isclose(loss.item(), -math.log(ar), rel_tol=1e-5)
    assert not loss.requires_grad


def test_a3_forward_matches_torch(oracle):
    _, _, loss = _a3_forward()
    OF = oracle.nn.functional
    ref = OF.binary_cross_entropy(oracle.sigmoid(oracle.tensor([1.1]) * oracle.tensor([2.2]) + oracle.tensor([0.0])),
                                  oracle.tensor([1.0]))
    assert_close(loss, ref, rtol=1e-6)
    assert str(loss) == str(ref)


# ---------------------------------------------------------------------------
# A.4 automatic differentiation made easy
# ---------------------------------------------------------------------------

def _a4_graph():
    y = torch.tensor([1.0])
    x1 = torch.tensor([1.1])
    w1 = torch.tensor([2.2], requires_grad=True)
    b = torch.tensor([0.0], requires_grad=True)
    z = x1 * w1 + b
    a = torch.sigmoid(z)
    loss = F.binary_cross_entropy(a, y)
    return w1, b, loss


def test_a4_grad(capsys):
    w1, b, loss = _a4_graph()
    grad_L_w1 = grad(loss, w1, retain_graph=True)
    grad_L_b = grad(loss, b, retain_graph=True)
    print(grad_L_w1)
    print(grad_L_b)
    out = capsys.readouterr().out
    assert out == SEED_OUTPUTS["grad_w1"] + "\n" + SEED_OUTPUTS["grad_b"] + "\n"
    assert isinstance(grad_L_w1, tuple) and len(grad_L_w1) == 1
    # analytic values: dL/dz = a - y; dL/dw1 = (a - y) * x1; dL/db = a - y
    a = 1 / (1 + math.exp(-1.1 * 2.2))
    assert math.isclose(grad_L_w1[0].item(), (a - 1) * 1.1, rel_tol=1e-5)
    assert math.isclose(grad_L_b[0].item(), a - 1, rel_tol=1e-5)
    assert w1.grad is None and b.grad is None  # grad() does not populate .grad


def test_a4_backward(capsys):
    w1, b, loss = _a4_graph()
    grad(loss, w1, retain_graph=True)
    grad(loss, b, retain_graph=True)
    loss.backward()
    print(w1.grad)
    print(b.grad)
    out = capsys.readouterr().out
    # "the same output as before": the tensors inside the tuples
    assert out == "tensor([-0.0898])\ntensor([-0.0817])\n"
    assert SEED_OUTPUTS["grad_w1"] == "(" + "tensor([-0.0898])" + ",)"
    a = 1 / (1 + math.exp(-1.1 * 2.2))
    assert_close(w1.grad, np.array([(a - 1) * 1.1]), rtol=1e-5)
    assert_close(b.grad, np.array([a - 1]), rtol=1e-5)


def test_a4_graph_is_freed_without_retain_graph():
    w1, b, loss = _a4_graph()
    loss.backward()
    with pytest.raises(RuntimeError):
        loss.backward()


def test_a4_grad_fn_names(oracle):
    _, _, loss = _a4_graph()
    OF = oracle.nn.functional
    w = oracle.tensor([2.2], requires_grad=True)
    ref = OF.binary_cross_entropy(oracle.sigmoid(oracle.tensor([1.1]) * w), oracle.tensor([1.0]))
    name = loss.grad_fn.name() if hasattr(loss.grad_fn, "name") else type(loss.grad_fn).__name__
    assert name == type(ref.grad_fn).__name__ == "BinaryCrossEntropyBackward0"


def test_a4_matches_torch(oracle):
    w1, b, loss = _a4_graph()
    loss.backward()
    OF = oracle.nn.functional
    tw = oracle.tensor([2.2], requires_grad=True)
    tb = oracle.tensor([0.0], requires_grad=True)
    tl = OF.binary_cross_entropy(oracle.sigmoid(oracle.tensor([1.1]) * tw + tb), oracle.tensor([1.0]))
    tl.backward()
    assert_close(w1.grad, tw.grad, rtol=1e-6)
    assert_close(b.grad, tb.grad, rtol=1e-6)
    assert str(w1.grad) == str(tw.grad) and str(b.grad) == str(tb.grad)


# ---------------------------------------------------------------------------
# F.binary_cross_entropy, F.sigmoid, F.relu
# ---------------------------------------------------------------------------

def np_bce(p, t, w=None, reduction="mean"):
    l = -(t * np.maximum(np.log(p), -100) + (1 - t) * np.maximum(np.log1p(-p), -100))
    if w is not None:
        l = l * w
    return {"mean": l.mean(), "sum": l.sum(), "none": l}[reduction]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_reductions(device, reduction):
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.95, (3, 4)).astype(np.float32)
    t = rng.uniform(0, 1, (3, 4)).astype(np.float32)  # soft targets are allowed
    out = F.binary_cross_entropy(torch.tensor(p, device=device), torch.tensor(t, device=device),
                                 reduction=reduction)
    exp = np_bce(p.astype(np.float64), t.astype(np.float64), reduction=reduction)
    assert out.dtype == torch.float32
    assert tuple(out.shape) == np.shape(exp)
    assert_close(out, exp, rtol=1e-5, atol=1e-6)


def test_bce_weight_and_noncontiguous(device):
    rng = np.random.default_rng(1)
    p = rng.uniform(0.05, 0.95, (4, 3)).astype(np.float32)
    t = (rng.uniform(0, 1, (3, 4)) > 0.5).astype(np.float32)
    w = rng.uniform(0.5, 2, (4,)).astype(np.float32)
    pt = torch.tensor(p, device=device).t()  # (3, 4), non-contiguous
    out = F.binary_cross_entropy(pt, torch.tensor(t, device=device), weight=torch.tensor(w, device=device))
    assert_close(out, np_bce(p.T.astype(np.float64), t, w.astype(np.float64)), rtol=1e-5)


def test_bce_log_clamped_at_minus_100(device):
    p = torch.tensor([0.0, 1.0, 0.0, 1.0], device=device)
    t = torch.tensor([1.0, 0.0, 0.0, 1.0], device=device)
    out = F.binary_cross_entropy(p, t, reduction="none")
    assert_close(out, [100.0, 100.0, 0.0, 0.0])
    assert not np.isnan(to_np(out)).any()


def test_bce_input_out_of_range_raises(device):
    with pytest.raises(RuntimeError):
        F.binary_cross_entropy(torch.tensor([1.5], device=device), torch.tensor([1.0], device=device))
    with pytest.raises(RuntimeError):
        F.binary_cross_entropy(torch.tensor([-0.1], device=device), torch.tensor([1.0], device=device))


def test_bce_size_mismatch_raises(device):
    with pytest.raises(ValueError):
        F.binary_cross_entropy(torch.tensor([0.5, 0.5], device=device), torch.tensor([1.0], device=device))


def test_bce_gradcheck(device):
    rng = np.random.default_rng(2)
    t = rng.uniform(0, 1, (2, 3))
    w = rng.uniform(0.5, 2, (3,))

    def f(p):
        tt = torch.tensor(t, dtype=p.dtype, device=p.device)
        ww = torch.tensor(w, dtype=p.dtype, device=p.device)
        return (F.binary_cross_entropy(p, tt),
                F.binary_cross_entropy(p, tt, weight=ww, reduction="sum"),
                F.binary_cross_entropy(p, tt, reduction="none"))

    check_grad(f, [rng.uniform(0.1, 0.9, (2, 3))], device)
    # gradient with respect to the target too (torch supports it)
    check_grad(lambda p, tt: F.binary_cross_entropy(p, tt), [rng.uniform(0.1, 0.9, (4,)), rng.uniform(0, 1, (4,))],
               device)


def test_bce_matches_torch(device, oracle):
    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.95, (5,)).astype(np.float32)
    t = (rng.uniform(0, 1, (5,)) > 0.5).astype(np.float32)
    OF = oracle.nn.functional
    for red in ("mean", "sum", "none"):
        ours_p = torch.tensor(p, device=device, requires_grad=True)
        theirs_p = oracle.tensor(p, requires_grad=True)
        ours = F.binary_cross_entropy(ours_p, torch.tensor(t, device=device), reduction=red)
        theirs = OF.binary_cross_entropy(theirs_p, oracle.tensor(t), reduction=red)
        assert_close(ours, theirs.detach(), rtol=1e-5)
        ours.sum().backward()
        theirs.sum().backward()
        assert_close(ours_p.grad, theirs_p.grad, rtol=1e-5)


@pytest.mark.parametrize("name, ref", [("sigmoid", lambda x: 1 / (1 + np.exp(-x))),
                                       ("relu", lambda x: np.maximum(x, 0))])
def test_functional_sigmoid_relu(device, name, ref):
    rng = np.random.default_rng(4)
    a = rng.uniform(-4, 4, (3, 4)).astype(np.float32)
    x = torch.tensor(a, device=device)
    f = getattr(F, name)
    assert_close(f(x), ref(a.astype(np.float64)), rtol=1e-6, atol=1e-7)
    assert_close(f(x.t()), ref(a.T.astype(np.float64)), rtol=1e-6, atol=1e-7)
    assert f(x).dtype == torch.float32
    if name == "relu":
        y = torch.tensor(a, device=device)
        r = F.relu(y, inplace=True)
        assert r is y
        assert_close(y, ref(a.astype(np.float64)))
    check_grad(lambda v: f(v), [np.array([[-1.3, 0.4], [2.2, -0.2]])], device)


def test_functional_sigmoid_relu_match_torch(device, oracle):
    a = [[-2.0, -0.5, 0.0], [0.5, 3.0, 100.0]]
    OF = oracle.nn.functional
    for name in ("sigmoid", "relu"):
        assert_close(getattr(F, name)(torch.tensor(a, device=device)), getattr(OF, name)(oracle.tensor(a)),
                     rtol=1e-6)
