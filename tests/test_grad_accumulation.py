"""Leaves keep fresh gradients without a copy; that must never make two
gradients (or a gradient and a caller's tensor) share storage."""
import numpy as np
import pytest

import wgtorch
from conftest import assert_close, to_np


def test_pass_through_gradient_is_not_shared_between_leaves(device):
    x = wgtorch.ones(3, device=device, requires_grad=True)
    y = wgtorch.ones(3, device=device, requires_grad=True)
    (x + y).sum().backward()  # AddBackward hands the same gradient to both leaves
    x.grad.mul_(5)
    assert_close(y.grad, np.ones(3))
    (x + y).sum().backward()  # accumulation in place must not leak either
    assert_close(x.grad, np.full(3, 6.0))
    assert_close(y.grad, np.full(3, 2.0))


def test_views_of_one_gradient_are_not_shared(device):
    w = wgtorch.ones(2, 3, device=device, requires_grad=True)
    v = wgtorch.ones(3, 2, device=device, requires_grad=True)
    g = wgtorch.arange(6.0, device=device).reshape(2, 3)
    (w * g).sum().backward()
    (w.t() + v).backward(g.t().contiguous())  # v's and w's gradients are views of one tensor
    w.grad.zero_()
    assert_close(v.grad, np.arange(6.0).reshape(2, 3).T)


def test_callers_gradient_is_not_kept(device):
    x = wgtorch.zeros(3, device=device, requires_grad=True)
    g = wgtorch.tensor([1.0, 2.0, 3.0], device=device)
    (x + 0).backward(g)
    x.grad.zero_()
    assert_close(g, [1.0, 2.0, 3.0])


def test_custom_function_gradient_is_copied(device):
    keep = wgtorch.tensor([4.0, 5.0], device=device)

    class Leak(wgtorch.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            return t * 1

        @staticmethod
        def backward(ctx, grad):
            return keep  # a tensor the user still holds

    x = wgtorch.zeros(2, device=device, requires_grad=True)
    Leak.apply(x).sum().backward()
    x.grad.mul_(0)
    assert_close(keep, [4.0, 5.0])


def test_linear_weight_gradient_layout_and_value(device):
    # the weight's gradient is produced in the weight's own layout, then kept as is
    w = wgtorch.randn(4, 3, device=device, requires_grad=True)
    x = wgtorch.randn(5, 3, device=device)
    b = wgtorch.zeros(4, device=device, requires_grad=True)
    out = wgtorch.addmm(b, x, w.t())
    gout = wgtorch.randn(5, 4, device=device)
    out.backward(gout)
    g, xv = to_np(gout), to_np(x)
    assert_close(w.grad, g.T @ xv, rtol=1e-5, atol=1e-5)
    assert_close(b.grad, g.sum(0), rtol=1e-5, atol=1e-5)
    assert w.grad.is_contiguous()


@pytest.mark.parametrize("batch", [(5,), (2, 5), (2, 1, 5)])
def test_matmul_weight_gradient_is_made_in_the_weights_layout(device, batch):
    """x @ w.t() (nn.Linear without addmm: any batch shape) gives w a contiguous gradient, computed
    as one GEMM in w's own layout (no copy at accumulation), with the right values."""
    rng = np.random.default_rng(len(batch))
    w = wgtorch.tensor(rng.standard_normal((4, 3)).astype(np.float32), device=device, requires_grad=True)
    x = wgtorch.tensor(rng.standard_normal(batch + (3,)).astype(np.float32), device=device, requires_grad=True)
    g = rng.standard_normal(batch + (4,)).astype(np.float32)
    seen = []
    w.register_hook(lambda grad: seen.append(grad.is_contiguous()))
    (x @ w.t()).backward(wgtorch.tensor(g, device=device))
    assert seen == [True]
    g2, x2 = g.reshape(-1, 4).astype(np.float64), to_np(x).reshape(-1, 3).astype(np.float64)
    assert_close(w.grad, g2.T @ x2, rtol=1e-5, atol=1e-5)
    assert_close(x.grad, g.astype(np.float64) @ to_np(w).astype(np.float64), rtol=1e-5, atol=1e-5)


def test_broadcast_gradient_is_kept_dense_and_writable(device):
    # mean's and sum's gradients are expanded views of one value: the leaf gets a dense copy
    for shape in ((2, 3), (0,)):
        x = wgtorch.ones(*shape, device=device, requires_grad=True)
        x.mean().backward()
        assert x.grad.is_contiguous()
        x.mean().backward()  # accumulates in place
        x.grad.zero_()
        x.sum().backward()
        assert_close(x.grad, np.ones(shape))


def test_hook_result_is_not_kept(device):
    keep = wgtorch.tensor([4.0, 5.0], device=device)
    x = wgtorch.zeros(2, device=device, requires_grad=True)
    x.register_hook(lambda g: keep)  # returns a tensor the user still holds
    (x * 2).sum().backward()
    x.grad.mul_(0)
    assert_close(keep, [4.0, 5.0])
