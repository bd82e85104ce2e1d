"""Convolution, pooling, unfold/fold and interpolation against torch: outputs and gradients, both devices."""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
from conftest import assert_close, assert_close_at, to_np

import wgtorch
import wgtorch.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _tol(device):
    return {"rtol": 1e-5, "atol": 1e-5} if device == "cpu" else {"rtol": 1e-4, "atol": 1e-4}


def _run(device, fn, tfn, arrays, kwargs, noncontig=(), dtype=np.float32, seed=0):
    """fn(*wgtorch tensors, **kwargs) vs tfn(*torch tensors, **kwargs): output and every input's gradient.
    Arrays in noncontig are passed as transposed views (non-contiguous)."""
    rng = np.random.default_rng(seed)
    arrays = [None if a is None else a.astype(dtype) for a in arrays]
    ws, ts = [], []
    for i, a in enumerate(arrays):
        if a is None:
            ws.append(None)
            ts.append(None)
            continue
        if i in noncontig:  # stored transposed, passed as a transposed (non-contiguous) view
            w = wgtorch.tensor(np.ascontiguousarray(a.swapaxes(-1, -2)), device=device).transpose(-1, -2)
            assert not w.is_contiguous()
            w.requires_grad_(False)
            w_leaf = w
        else:
            w_leaf = wgtorch.tensor(a, device=device)
        ws.append(w_leaf.requires_grad_() if w_leaf.is_leaf else w_leaf)
        ts.append(torch.tensor(a, requires_grad=True))
    wl = [w for w in ws]
    y, ty = fn(*wl, **kwargs), tfn(*ts, **kwargs)
    if isinstance(ty, tuple):
        assert (y[1].cpu().numpy() == ty[1].numpy()).all()
        assert y[1].dtype == wgtorch.int64
        y, ty = y[0], ty[0]
    tol = _tol(device)
    assert_close(y, ty, **tol)
    gy = rng.standard_normal(ty.shape).astype(dtype)
    y.backward(wgtorch.tensor(gy, device=device))
    ty.backward(torch.tensor(gy))
    for w, t in zip(ws, ts):
        if w is not None and w.is_leaf:
            assert w.grad is not None
            assert_close(w.grad, t.grad, **tol)
    return y


def _r(*shape, seed=1):
    return np.random.default_rng(seed + sum(shape)).standard_normal(shape)


# ---- convolutions ------------------------------------------------------------------------
CONV2D = [  # (input shape, weight shape, bias?, kwargs)
    ((2, 3, 7, 6), (4, 3, 3, 3), True, {}),
    ((1, 2, 5, 5), (3, 2, 1, 1), False, {}),
    ((2, 4, 9, 8), (6, 2, 3, 2), True, {"groups": 2, "stride": (2, 1), "padding": (1, 2), "dilation": (1, 2)}),
    ((1, 3, 8, 7), (2, 3, 3, 3), True, {"padding": "same", "dilation": 2}),
    ((2, 3, 8, 7), (2, 3, 2, 4), True, {"padding": "same"}),
    ((1, 2, 6, 6), (4, 2, 3, 3), True, {"padding": "valid", "stride": 3}),
    ((2, 4, 5, 5), (4, 1, 3, 3), True, {"groups": 4, "padding": 1}),  # depthwise
    ((3, 7, 7), (2, 3, 3, 3), True, {"stride": 2}),  # unbatched
]


@pytest.mark.parametrize("case", range(len(CONV2D)))
def test_conv2d(device, case):
    xs, wsh, bias, kw = CONV2D[case]
    _run(device, F.conv2d, TF.conv2d, [_r(*xs), _r(*wsh), _r(wsh[0]) if bias else None], kw)


def test_conv2d_noncontiguous(device):
    _run(device, F.conv2d, TF.conv2d, [_r(2, 3, 6, 7), _r(4, 3, 3, 3), _r(4)], {"padding": 1}, noncontig=(0, 1))


def test_conv2d_float64():
    _run("cpu", F.conv2d, TF.conv2d, [_r(2, 3, 6, 7), _r(4, 3, 3, 2), _r(4)], {"padding": 1, "stride": 2},
         dtype=np.float64)


CONV1D = [
    ((2, 3, 10), (4, 3, 3), True, {}),
    ((1, 4, 9), (6, 2, 2), True, {"groups": 2, "stride": 2, "padding": 1, "dilation": 2}),
    ((3, 11), (2, 3, 4), False, {"padding": "same"}),
]


@pytest.mark.parametrize("case", range(len(CONV1D)))
def test_conv1d(device, case):
    xs, wsh, bias, kw = CONV1D[case]
    _run(device, F.conv1d, TF.conv1d, [_r(*xs), _r(*wsh), _r(wsh[0]) if bias else None], kw)


CONVT2D = [
    ((2, 3, 4, 5), (3, 2, 3, 3), True, {}),
    ((1, 4, 3, 4), (4, 3, 3, 2), True, {"stride": 2, "padding": 1, "output_padding": 1}),
    ((2, 4, 3, 3), (4, 2, 3, 3), False, {"groups": 2, "stride": (2, 3), "dilation": 2, "output_padding": (1, 0)}),
    ((3, 4, 4), (3, 2, 2, 2), True, {"stride": 2}),  # unbatched
]


@pytest.mark.parametrize("case", range(len(CONVT2D)))
def test_conv_transpose2d(device, case):
    xs, wsh, bias, kw = CONVT2D[case]
    out_c = wsh[1] * kw.get("groups", 1)
    _run(device, F.conv_transpose2d, TF.conv_transpose2d, [_r(*xs), _r(*wsh), _r(out_c) if bias else None], kw)


def test_conv_transpose1d(device):
    _run(device, F.conv_transpose1d, TF.conv_transpose1d, [_r(2, 4, 5), _r(4, 3, 3), _r(3)],
         {"stride": 2, "padding": 1, "output_padding": 1})


def test_conv_double_backward():
    x = wgtorch.tensor(_r(1, 2, 5, 5), requires_grad=True)
    w = wgtorch.tensor(_r(3, 2, 3, 3), requires_grad=True)
    tx, tw = (torch.tensor(a.numpy(), requires_grad=True) for a in (x.detach(), w.detach()))
    for lib, xx, ww, F_ in ((wgtorch, x, w, F), (torch, tx, tw, TF)):
        y = F_.conv2d(xx, ww, padding=1, stride=2)
        gx, = lib.autograd.grad((y * y).sum(), xx, create_graph=True)
        (gx * gx).sum().backward()
    assert_close(x.grad, tx.grad, rtol=1e-4, atol=1e-5)
    assert_close(w.grad, tw.grad, rtol=1e-4, atol=1e-5)


def test_conv_errors():
    x, w = wgtorch.zeros(1, 4, 8, 8), wgtorch.zeros(6, 3, 3, 3)
    tx, tw = torch.zeros(1, 4, 8, 8), torch.zeros(6, 3, 3, 3)
    for a, b, kw in ((x, w, {}), (x[0, 0], w, {}), (x, w[:5, :2], {"groups": 2}),
                     (x, wgtorch.zeros(6, 2, 3, 3), {"stride": 2, "padding": "same"})):
        ta, tb = (torch.zeros(tuple(t.shape)) for t in (a, b))
        with pytest.raises(RuntimeError) as e_t:
            TF.conv2d(ta, tb, **kw)
        with pytest.raises(RuntimeError) as e_w:
            F.conv2d(a, b, **kw)
        assert str(e_w.value) == str(e_t.value)
    del tx, tw
    for args in ((3, 4, 3), (4, 3, 3)):
        with pytest.raises(ValueError, match="divisible by groups"):
            wgtorch.nn.Conv2d(*args, groups=2)
        with pytest.raises(ValueError, match="divisible by groups"):
            torch.nn.Conv2d(*args, groups=2)
    with pytest.raises(RuntimeError, match="Expected 2D"):
        F.conv1d(wgtorch.zeros(3), wgtorch.zeros(2, 3, 1))


# ---- pooling -----------------------------------------------------------------------------
MAXPOOL2D = [
    ((2, 3, 8, 8), {"kernel_size": 2}),
    ((1, 2, 7, 9), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ((2, 2, 9, 8), {"kernel_size": (3, 2), "dilation": 2, "return_indices": True}),
    ((2, 7, 7), {"kernel_size": 3, "stride": (2, 1), "padding": 1, "return_indices": True}),
    ((1, 1, 5, 5), {"kernel_size": 2, "stride": 2, "ceil_mode": True, "return_indices": True}),
]


@pytest.mark.parametrize("case", range(len(MAXPOOL2D)))
def test_max_pool2d(device, case):
    xs, kw = MAXPOOL2D[case]
    _run(device, F.max_pool2d, TF.max_pool2d, [_r(*xs)], kw)


def test_max_pool2d_noncontiguous(device):
    _run(device, F.max_pool2d, TF.max_pool2d, [_r(2, 3, 6, 7)], {"kernel_size": 2, "return_indices": True},
         noncontig=(0,))


@pytest.mark.parametrize("kw", [{"kernel_size": 3}, {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True,
                                                          "return_indices": True}, {"kernel_size": 2, "dilation": 3}])
def test_max_pool1d(device, kw):
    _run(device, F.max_pool1d, TF.max_pool1d, [_r(2, 3, 11)], kw)


AVGPOOL2D = [
    ((2, 3, 8, 8), {"kernel_size": 2}),
    ((1, 2, 7, 9), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ((1, 2, 7, 9), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False}),
    ((2, 2, 6, 5), {"kernel_size": (2, 3), "stride": 1, "divisor_override": 4}),
    ((3, 5, 5), {"kernel_size": 2, "padding": 1, "count_include_pad": False}),
]


@pytest.mark.parametrize("case", range(len(AVGPOOL2D)))
def test_avg_pool2d(device, case):
    xs, kw = AVGPOOL2D[case]
    _run(device, F.avg_pool2d, TF.avg_pool2d, [_r(*xs)], kw)


def test_avg_pool1d(device):
    _run(device, F.avg_pool1d, TF.avg_pool1d, [_r(2, 3, 10)], {"kernel_size": 3, "stride": 2, "padding": 1})


@pytest.mark.parametrize("xs,out", [((2, 3, 8, 8), 4), ((1, 2, 7, 9), (3, 4)), ((2, 5, 6), (None, 4)),
                                    ((2, 3, 5, 5), 1), ((1, 1, 5, 7), (5, 3))])
def test_adaptive_avg_pool2d(device, xs, out):
    _run(device, F.adaptive_avg_pool2d, TF.adaptive_avg_pool2d, [_r(*xs)], {"output_size": out})


def test_adaptive_avg_pool1d(device):
    _run(device, F.adaptive_avg_pool1d, TF.adaptive_avg_pool1d, [_r(2, 3, 10)], {"output_size": 4})


def test_pool_errors():
    with pytest.raises(RuntimeError, match="pad should be at most half"):
        F.max_pool2d(wgtorch.zeros(1, 1, 4, 4), 2, padding=2)
    with pytest.raises(RuntimeError, match="pad should be at most half"):
        TF.max_pool2d(torch.zeros(1, 1, 4, 4), 2, padding=2)
    with pytest.raises(RuntimeError):
        F.max_pool2d(wgtorch.zeros(4, 4), 2)
    with pytest.raises(RuntimeError):
        TF.max_pool2d(torch.zeros(2, 3, 4, 4, 4), 2)
    with pytest.raises(RuntimeError):
        F.max_pool2d(wgtorch.zeros(2, 3, 4, 4, 4), 2)


# ---- unfold / fold, interpolation --------------------------------------------------------
def test_unfold_fold(device):
    kw = {"kernel_size": (2, 3), "dilation": (1, 2), "padding": 1, "stride": (2, 1)}
    _run(device, F.unfold, TF.unfold, [_r(2, 3, 6, 7)], kw)
    _run(device, F.fold, TF.fold, [_r(2, 3 * 6, 4 * 5)], dict(output_size=(6, 7), **kw))


INTERP = [
    ((2, 3, 4, 5), {"scale_factor": 2}),
    ((1, 2, 5, 4), {"size": (7, 9)}),
    ((1, 2, 6, 7), {"size": (4, 3)}),
    ((2, 2, 4, 5), {"scale_factor": 1.7, "mode": "bilinear"}),
    ((1, 2, 4, 5), {"size": (6, 11), "mode": "bilinear", "align_corners": True}),
    ((1, 2, 7, 6), {"size": (3, 4), "mode": "bilinear"}),
    ((1, 2, 6, 5), {"scale_factor": (0.5, 1.5), "mode": "nearest-exact"}),
    ((2, 3, 7), {"scale_factor": 2.5, "mode": "linear"}),
    ((2, 3, 7), {"size": 4, "mode": "nearest"}),
]


@pytest.mark.parametrize("case", range(len(INTERP)))
def test_interpolate(device, case):
    xs, kw = INTERP[case]
    _run(device, F.interpolate, TF.interpolate, [_r(*xs)], kw)


def test_interpolate_errors():
    x = wgtorch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="align_corners"):
        F.interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(ValueError, match="only one of size or scale_factor"):
        F.interpolate(x, size=3, scale_factor=2)
    with pytest.raises(NotImplementedError, match="bilinear mode needs 4D"):
        F.interpolate(wgtorch.zeros(1, 1, 4), scale_factor=2, mode="bilinear")


# ---- modules -----------------------------------------------------------------------------
def _modules(lib):
    nn = lib.nn
    return [
        nn.Conv2d(3, 8, 3, padding=1),
        nn.Conv2d(4, 6, (3, 2), stride=2, dilation=(2, 1), groups=2, bias=False),
        nn.Conv2d(3, 4, 3, padding="same", padding_mode="reflect"),
        nn.Conv2d(3, 4, 2, padding=1, padding_mode="circular"),
        nn.Conv1d(3, 5, 3, stride=2, padding=2),
        nn.Conv1d(4, 4, 2, padding="same", groups=4, padding_mode="replicate"),
        nn.ConvTranspose2d(4, 6, 3, stride=2, output_padding=1, groups=2, dilation=2),
        nn.ConvTranspose2d(3, 2, 2, padding=1, bias=False),
        nn.ConvTranspose1d(3, 2, 3, stride=2),
        nn.MaxPool2d(2), nn.MaxPool2d(3, 2, 1, ceil_mode=True), nn.MaxPool1d(3, 2, 1, dilation=1),
        nn.AvgPool2d((2, 3)), nn.AvgPool2d(3, 2, 1, count_include_pad=False), nn.AvgPool1d(3),
        nn.AdaptiveAvgPool2d((5, None)), nn.AdaptiveAvgPool2d(1), nn.AdaptiveAvgPool1d(3),
        nn.Upsample(scale_factor=2), nn.Upsample(size=(3, 4), mode="bilinear"),
        nn.Upsample(scale_factor=(2, 1.5), mode="bilinear", align_corners=True),
        nn.UpsamplingNearest2d(scale_factor=2), nn.UpsamplingBilinear2d(size=5),
        nn.Unfold(2, padding=1), nn.Fold((4, 5), 2),
    ]


def test_module_init_and_repr():
    wgtorch.manual_seed(0)
    torch.manual_seed(0)
    ours, theirs = _modules(wgtorch), _modules(torch)
    for m, tm in zip(ours, theirs):
        assert repr(m) == repr(tm)
        names = [n for n, _ in m.named_parameters()]
        assert names == [n for n, _ in tm.named_parameters()]
        for p, tp in zip(m.parameters(), tm.parameters()):
            assert p.shape == tuple(tp.shape)
            np.testing.assert_array_equal(p.detach().numpy(), tp.detach().numpy())


_MODULE_INPUTS = {0: (2, 3, 6, 5), 1: (1, 4, 9, 6), 2: (2, 3, 5, 6), 3: (1, 3, 4, 5), 4: (2, 3, 9), 5: (1, 4, 7),
                  6: (2, 4, 3, 3), 7: (3, 4, 4), 8: (2, 3, 5), 9: (2, 3, 6, 6), 10: (1, 2, 7, 7), 11: (2, 3, 9),
                  12: (1, 2, 6, 7), 13: (2, 2, 5, 6), 14: (2, 3, 9), 15: (1, 2, 7, 6), 16: (2, 3, 5, 4),
                  17: (2, 3, 7), 18: (1, 2, 3, 4), 19: (1, 2, 5, 6), 20: (1, 2, 3, 4), 21: (1, 1, 3, 3),
                  22: (1, 2, 3, 4), 23: (1, 2, 3, 4), 24: (2, 8, 12)}


@pytest.mark.parametrize("i", sorted(_MODULE_INPUTS))
def test_module_forward_backward(device, i):
    torch.manual_seed(i)
    tm = _modules(torch)[i]
    m = _modules(wgtorch)[i]
    for p, tp in zip(m.parameters(), tm.parameters()):
        with wgtorch.no_grad():
            p.copy_(wgtorch.tensor(tp.detach().numpy()))
    m.to(device)
    ps, tps = list(m.parameters()), list(tm.parameters())

    def fn(x):
        return m(x)

    def tfn(x):
        return tm(x)
    _run(device, fn, tfn, [_r(*_MODULE_INPUTS[i])], {})
    for p, tp in zip(ps, tps):
        assert_close(p.grad, tp.grad, **_tol(device))


def test_conv_transpose2d_output_size():
    torch.manual_seed(0)
    tm = torch.nn.ConvTranspose2d(2, 3, 3, stride=2)
    m = wgtorch.nn.ConvTranspose2d(2, 3, 3, stride=2)
    m.load_state_dict({k: wgtorch.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    x = _r(1, 2, 4, 4).astype(np.float32)
    y = m(wgtorch.tensor(x), output_size=[10, 10])
    assert_close(y, tm(torch.tensor(x), output_size=[10, 10]))
    with pytest.raises(ValueError, match="valid sizes range from 9 to 10"):
        m(wgtorch.tensor(x), output_size=[12, 12])


def test_small_cnn_training_matches_torch(device):
    """2 conv + pool + linear, a few SGD steps, losses as torch's from the same initial weights."""
    def net(lib):
        nn = lib.nn
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(4, 6, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 3))
    torch.manual_seed(0)
    wgtorch.manual_seed(0)
    tnet, wnet = net(torch), net(wgtorch).to(device)
    x = _r(4, 1, 10, 10).astype(np.float32)
    yl = np.array([0, 2, 1, 2])
    topt = torch.optim.SGD(tnet.parameters(), lr=0.1)
    wopt = wgtorch.optim.SGD(wnet.parameters(), lr=0.1)
    X, Y = wgtorch.tensor(x, device=device), wgtorch.tensor(yl, device=device)
    for _ in range(4):
        tl = TF.cross_entropy(tnet(torch.tensor(x)), torch.tensor(yl))
        wl = F.cross_entropy(wnet(X), Y)
        topt.zero_grad()
        tl.backward()
        topt.step()
        wopt.zero_grad()
        wl.backward()
        wopt.step()
        assert abs(wl.item() - tl.item()) <= 1e-4 * abs(tl.item()) + 1e-6


def test_max_pool2d_ties_gradient_goes_to_first(device, oracle):
    """Windows full of equal values: torch's max pooling sends the gradient to the first one."""
    a = np.zeros((2, 3, 6, 6), np.float32)
    a[0, 0, :2, :2] = 1.0
    x = wgtorch.tensor(a, device=device, requires_grad=True)
    tx = oracle.tensor(a, requires_grad=True)
    y, i = wgtorch.nn.functional.max_pool2d(x, 2, return_indices=True)
    ty, ti = oracle.nn.functional.max_pool2d(tx, 2, return_indices=True)
    g = np.random.default_rng(0).standard_normal(ty.shape).astype(np.float32)
    y.backward(wgtorch.tensor(g, device=device))
    ty.backward(oracle.tensor(g))
    np.testing.assert_array_equal(to_np(i), ti.numpy())
    np.testing.assert_allclose(to_np(x.grad), tx.grad.numpy(), rtol=1e-6, atol=1e-6)


# ---- the cpu's fused kernels (conv2d, max_pool2d), and the compositions on wgpu ---------------
# On the cpu, float32/float64 conv2d (groups == 1) and max_pool2d run backends/cpu.conv2d / max_pool2d
# and their fused backward; under create_graph the backward differentiates the composite instead.
# Every case runs on both devices (the wgpu compositions are the reference path there); float64 is
# cpu-only (conftest deselects it on wgpu).
def _leaf_pairs(arrays, device, dtype):
    """wgtorch leaves on device and torch leaves with the same values in dtype (None stays None)."""
    ws = [None if a is None else wgtorch.tensor(a.astype(dtype), device=device, requires_grad=True) for a in arrays]
    ts = [None if a is None else torch.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    return ws, ts


def _fused_conv_check(device, dtype, xs, wsh, bias, kw, view=None, seed=0):
    """conv2d(view(x), w, b, **kw) against torch: output, dtype, grad_fn (on the cpu) and the gradients of
    x, w and b for a random output gradient. view makes the input a non-contiguous view of the leaf x."""
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(xs), rng.standard_normal(wsh), rng.standard_normal(wsh[0]) if bias else None]
    (x, w, b), (tx, tw, tb) = _leaf_pairs(arrays, device, dtype)
    xin, txin = (x, tx) if view is None else (view(x), view(tx))
    if view is not None:
        assert not xin.is_contiguous()
    y, ty = F.conv2d(xin, w, b, **kw), TF.conv2d(txin, tw, tb, **kw)
    assert y.dtype == getattr(wgtorch, dtype) and tuple(y.shape) == tuple(ty.shape)
    if device == "cpu":  # the fused kernel served it (torch's node name too)
        assert type(y.grad_fn).__name__ == type(ty.grad_fn).__name__ == "ConvolutionBackward0"
    assert_close_at(y, ty, dtype, device)
    g = rng.standard_normal(ty.shape).astype(dtype)
    y.backward(wgtorch.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    for p, tp in ((x, tx), (w, tw), (b, tb)):
        if p is not None:
            assert p.grad is not None and p.grad.dtype == p.dtype
            assert_close_at(p.grad, tp.grad, dtype, device)


def _width_trick(xs, wsh, kw):
    """Whether the stride-1 padded-width rows apply (the garbage columns Wp - OW at most a quarter of OW)."""
    stride, dil, pad = kw.get("stride", 1), kw.get("dilation", 1), kw.get("padding", 0)
    s = stride if isinstance(stride, tuple) else (stride, stride)
    d = dil if isinstance(dil, tuple) else (dil, dil)
    if pad == "same":
        pw = d[1] * (wsh[3] - 1)
    else:
        pw = 2 * (pad[1] if isinstance(pad, tuple) else pad)
    Wp = xs[3] + pw
    OW = (Wp - d[1] * (wsh[3] - 1) - 1) // s[1] + 1
    return s == (1, 1) and 4 * (Wp - OW) <= OW


FUSED_CONV2D = {  # id: (input shape, weight shape, bias?, kwargs)
    "3x3_p1_wide": ((2, 3, 5, 17), (4, 3, 3, 3), True, {"padding": 1}),  # width trick
    "3x3_p0_W10_edge": ((1, 2, 4, 10), (3, 2, 3, 3), False, {}),  # garbage 2 = OW / 4: trick, just
    "3x3_p0_W9_edge": ((1, 2, 4, 9), (3, 2, 3, 3), False, {}),  # garbage 2 > 7 / 4: no trick
    "3x3_p2_tiny": ((3, 2, 3, 2), (2, 2, 3, 3), True, {"padding": 2}),  # tiny W, big padding: no trick
    "3x3_p2_d2_wide": ((1, 3, 7, 20), (2, 3, 3, 3), True, {"padding": 2, "dilation": 2}),  # trick
    "3x3_p1_d2_small": ((2, 2, 6, 5), (3, 2, 3, 3), False, {"padding": 1, "dilation": 2}),  # no trick
    "3x3_same_d2": ((1, 2, 7, 9), (3, 2, 3, 3), True, {"padding": "same", "dilation": 2}),
    "3x3_s2_p1": ((2, 3, 7, 9), (4, 3, 3, 3), True, {"stride": 2, "padding": 1}),
    "3x3_s2_p2_d2": ((1, 2, 9, 8), (3, 2, 3, 3), False, {"stride": 2, "padding": 2, "dilation": 2}),
    "3x3_s12_p0": ((3, 2, 6, 7), (2, 2, 3, 3), True, {"stride": (1, 2)}),
    "3x3_s21_p1": ((1, 2, 7, 12), (2, 2, 3, 3), True, {"stride": (2, 1), "padding": 1}),
    "1x1": ((2, 3, 5, 7), (4, 3, 1, 1), True, {}),
    "1x1_s2_p1": ((1, 3, 6, 5), (2, 3, 1, 1), False, {"stride": 2, "padding": 1}),
    "1x1_p2": ((1, 2, 3, 3), (3, 2, 1, 1), True, {"padding": 2}),
    "1x5_same_edge": ((2, 3, 4, 16), (2, 3, 1, 5), True, {"padding": "same"}),  # garbage 4 = 16 / 4: trick
    "1x5_p0_W5": ((1, 2, 3, 5), (3, 2, 1, 5), True, {}),  # OW 1: no trick
    "1x5_s2_p2_d2": ((1, 2, 3, 13), (2, 2, 1, 5), True, {"stride": 2, "padding": 2, "dilation": 2}),
    "1x5_p1_d2": ((2, 1, 2, 11), (2, 1, 1, 5), False, {"padding": 1, "dilation": 2}),
    "5x1_p2": ((1, 2, 9, 4), (3, 2, 5, 1), True, {"padding": 2}),
    "5x1_same": ((2, 2, 6, 3), (2, 2, 5, 1), False, {"padding": "same"}),
    "5x1_s2_d2": ((1, 3, 13, 5), (2, 3, 5, 1), True, {"stride": 2, "dilation": 2}),
    "5x1_p2_d2": ((3, 1, 7, 2), (2, 1, 5, 1), True, {"padding": 2, "dilation": 2}),
    "3x3_batch0": ((0, 3, 6, 9), (4, 3, 3, 3), True, {"padding": 1}),
    "1x5_batch0_s2": ((0, 2, 4, 7), (3, 2, 1, 5), False, {"stride": 2}),
}


def test_fused_conv2d_grid_covers_both_widths():
    """The grid below holds cases with and without the stride-1 padded-width rows (and the boundary)."""
    tricks = {k: _width_trick(*v[:2], v[3]) for k, v in FUSED_CONV2D.items()}
    assert tricks["3x3_p1_wide"] and tricks["3x3_p0_W10_edge"] and tricks["1x5_same_edge"]
    assert not tricks["3x3_p0_W9_edge"] and not tricks["3x3_p2_tiny"] and not tricks["1x5_p0_W5"]
    assert not tricks["3x3_s2_p1"]


@pytest.mark.parametrize("case", sorted(FUSED_CONV2D))
def test_fused_conv2d(device, case):
    xs, wsh, bias, kw = FUSED_CONV2D[case]
    _fused_conv_check(device, "float32", xs, wsh, bias, kw)


@pytest.mark.parametrize("case", ["3x3_p1_wide", "3x3_p2_tiny", "3x3_s2_p2_d2", "1x5_same_edge", "5x1_p2",
                                  "3x3_batch0"])
def test_fused_conv2d_float64(case):
    xs, wsh, bias, kw = FUSED_CONV2D[case]
    _fused_conv_check("cpu", "float64", xs, wsh, bias, kw, seed=1)


FUSED_CONV2D_VIEWS = {  # id: (leaf shape, view, weight shape, kwargs)
    "transposed_wide": ((2, 3, 16, 5), lambda t: t.transpose(-1, -2), (4, 3, 3, 3), {"padding": 1}),
    "transposed_1x1": ((1, 3, 6, 5), lambda t: t.transpose(-1, -2), (2, 3, 1, 1), {}),
    "transposed_s2": ((1, 2, 7, 6), lambda t: t.transpose(-1, -2), (3, 2, 3, 3), {"stride": 2}),
    "channels_last": ((2, 5, 6, 3), lambda t: t.permute(0, 3, 1, 2), (2, 3, 3, 3), {"padding": "same"}),
    "sliced": ((2, 4, 11, 19), lambda t: t[:, 1:, ::2, 1:-1], (3, 3, 3, 3), {"padding": 1}),
    "sliced_no_pad_1x1": ((1, 3, 6, 9), lambda t: t[:, :2, 1:, ::2], (2, 2, 1, 1), {}),
    "sliced_5x1": ((1, 2, 9, 8), lambda t: t[:, :, 1:8, ::3], (2, 2, 5, 1),
                   {"padding": (2, 0)}),
}


@pytest.mark.parametrize("case", sorted(FUSED_CONV2D_VIEWS))
def test_fused_conv2d_noncontiguous_input(device, case):
    shape, view, wsh, kw = FUSED_CONV2D_VIEWS[case]
    _fused_conv_check(device, "float32", shape, wsh, True, kw, view=view, seed=2)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_conv2d_noncontiguous_float64_and_weight(dtype):
    """A transposed input and a transposed (non-contiguous) weight on the cpu, float32 and float64."""
    rng = np.random.default_rng(3)
    a, wa, ba = rng.standard_normal((2, 3, 12, 4)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4)
    (x, w, b), (tx, tw, tb) = _leaf_pairs([a, wa, ba], "cpu", dtype)
    y = F.conv2d(x.transpose(2, 3), w.transpose(2, 3), b, padding=1)
    ty = TF.conv2d(tx.transpose(2, 3), tw.transpose(2, 3), tb, padding=1)
    assert_close_at(y, ty, dtype, "cpu")
    g = rng.standard_normal(ty.shape).astype(dtype)
    y.backward(wgtorch.tensor(g))
    ty.backward(torch.tensor(g))
    for p, tp in ((x, tx), (w, tw), (b, tb)):
        assert_close_at(p.grad, tp.grad, dtype, "cpu")


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.sampled_from([0, 1, 3]), c=st.integers(1, 3), h=st.integers(1, 9), wd=st.integers(1, 14),
       k=st.sampled_from([(1, 1), (3, 3), (1, 5), (5, 1)]), stride=st.sampled_from([1, 2]),
       padding=st.sampled_from([0, 1, 2, "same"]), dilation=st.sampled_from([1, 2]), bias=st.booleans(),
       dtype=st.sampled_from(["float32", "float64"]))
def test_fused_conv2d_hypothesis(n, c, h, wd, k, stride, padding, dilation, bias, dtype):
    """Random combinations of the grid's axes on the cpu's fused kernel (float32 and float64)."""
    assume(padding != "same" or stride == 1)
    pad = 0 if padding == "same" else padding
    assume(h + 2 * pad >= dilation * (k[0] - 1) + 1 and wd + 2 * pad >= dilation * (k[1] - 1) + 1)
    kw = {"stride": stride, "padding": padding, "dilation": dilation}
    _fused_conv_check("cpu", dtype, (n, c, h, wd), (2, c) + k, bias, kw, seed=h * 100 + wd)


def test_fused_conv2d_only_some_need_grad(device):
    """Gradients asked of the weight only, of the input only, of the bias only (the others frozen), and of
    nothing (no_grad: no node)."""
    rng = np.random.default_rng(4)
    a, wa, ba = rng.standard_normal((2, 3, 5, 12)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    g = rng.standard_normal((2, 4, 5, 12)).astype(np.float32)
    for need in ((False, True, False), (True, False, False), (False, False, True)):
        (x, w, b), (tx, tw, tb) = _leaf_pairs([a, wa, ba], device, "float32")
        for p, tp, n in zip((x, w, b), (tx, tw, tb), need):
            p.requires_grad_(n)
            tp.requires_grad_(n)
        y, ty = F.conv2d(x, w, b, padding=1), TF.conv2d(tx, tw, tb, padding=1)
        assert_close_at(y, ty, "float32", device)
        y.backward(wgtorch.tensor(g, device=device))
        ty.backward(torch.tensor(g))
        for p, tp, n in zip((x, w, b), (tx, tw, tb), need):
            assert (p.grad is None) == (not n)
            if n:
                assert_close_at(p.grad, tp.grad, "float32", device)
    with wgtorch.no_grad():
        y = F.conv2d(wgtorch.tensor(a.astype(np.float32), device=device).requires_grad_(),
                     wgtorch.tensor(wa.astype(np.float32), device=device), padding=1)
    assert y.grad_fn is None and not y.requires_grad
    assert_close_at(y, TF.conv2d(torch.tensor(a.astype(np.float32)), torch.tensor(wa.astype(np.float32)), padding=1),
           "float32", device)


# ---- double backward (create_graph): the composite differentiated --------------------------------
DOUBLE_CONV = {
    "3x3_p1_wide": ((1, 2, 4, 13), (3, 2, 3, 3), {"padding": 1}),  # width trick in the first backward
    "3x3_s2_p1": ((2, 2, 5, 6), (3, 2, 3, 3), {"stride": 2, "padding": 1}),
    "1x5_same_d2": ((1, 2, 3, 7), (2, 2, 1, 5), {"padding": "same", "dilation": 2}),
}


def _double_backward(lib, fn, leaves, gout, v):
    """g_i = d(sum(y * y) / 2 + sum(y * gout))/d leaf_i with create_graph; returns the first-order gradients
    and the gradients of sum_i sum(g_i * v_i) with respect to every leaf and to gout (a leaf too)."""
    y = fn(*leaves)
    firsts = lib.autograd.grad((y * y).sum() / 2 + (y * gout).sum(), leaves, create_graph=True)
    second = sum((f * vi).sum() for f, vi in zip(firsts, v))
    return firsts, lib.autograd.grad(second, list(leaves) + [gout], allow_unused=True)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(DOUBLE_CONV))
def test_fused_conv2d_double_backward(device, case, dtype):
    xs, wsh, kw = DOUBLE_CONV[case]
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal(xs), rng.standard_normal(wsh), rng.standard_normal(wsh[0])]
    ws, ts = _leaf_pairs(arrays, device, dtype)
    ty0 = TF.conv2d(*ts, **kw)
    gout = rng.standard_normal(ty0.shape)
    v = [rng.standard_normal(a.shape).astype(dtype) for a in arrays]
    (wg,), (tg,) = _leaf_pairs([gout], device, dtype)
    got = _double_backward(wgtorch, lambda *t: F.conv2d(*t, **kw), ws, wg, [wgtorch.tensor(a, device=device) for a in v])
    want = _double_backward(torch, lambda *t: TF.conv2d(*t, **kw), ts, tg, [torch.tensor(a) for a in v])
    for a, b in zip(got[0] + got[1], want[0] + want[1]):
        assert_close_at(a, b, dtype, device, rtol=None if dtype == "float64" else 2e-4)
    if device == "cpu":  # after a graph-building backward, a plain one still runs the fused backward
        y = F.conv2d(*ws, **kw)
        gx = wgtorch.autograd.grad(y.sum(), ws[0])[0]
        assert_close_at(gx, torch.autograd.grad(TF.conv2d(*ts, **kw).sum(), ts[0])[0], dtype, device)


# ---- max pooling -----------------------------------------------------------------------------
FUSED_MAXPOOL2D = {  # id: (input shape, kwargs)
    "k3_s1_overlap": ((2, 3, 7, 8), {"kernel_size": 3, "stride": 1}),
    "k3_s2_p1": ((1, 2, 9, 7), {"kernel_size": 3, "stride": 2, "padding": 1}),
    "k3_s2_ceil": ((2, 2, 8, 9), {"kernel_size": 3, "stride": 2, "ceil_mode": True}),
    "k23_s12_p1_ceil": ((1, 3, 7, 7), {"kernel_size": (2, 3), "stride": (1, 2), "padding": 1, "ceil_mode": True}),
    "k3_s1_p1_d2": ((2, 2, 9, 10), {"kernel_size": 3, "stride": 1, "padding": 1, "dilation": 2}),
    "k2_s3_d2_gaps": ((1, 2, 10, 9), {"kernel_size": 2, "stride": 3, "dilation": 2}),  # disjoint, with gaps
    "k2_s2_disjoint": ((2, 2, 6, 7), {"kernel_size": 2}),
    "k31_s1_p10": ((1, 1, 6, 5), {"kernel_size": (3, 1), "stride": 1, "padding": (1, 0)}),
    "k2_s1_p1_ceil": ((3, 2, 5, 6), {"kernel_size": 2, "stride": 1, "padding": 1, "ceil_mode": True}),
    "k3_s2_p1_d2_ceil": ((1, 2, 11, 8), {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2,
                                         "ceil_mode": True}),
    "batch0": ((0, 2, 6, 6), {"kernel_size": 3, "stride": 2, "padding": 1}),
}


def _pool_values(kind, shape, rng):
    if kind == "normal":  # distinct values
        return rng.standard_normal(shape)
    if kind == "ties":  # integer values 0..2: most windows hold several equal maxima
        return rng.integers(0, 3, shape).astype(np.float64)
    a = rng.standard_normal(shape)  # "inf": about a fifth of the values +inf, a tenth -inf
    u = rng.random(shape)
    a[u < 0.2] = np.inf
    a[u > 0.9] = -np.inf
    return a


def _fused_pool_check(device, dtype, a, kw, g=None, seed=0, view=None):
    """max_pool2d(view(x), **kw, return_indices=True) against torch: values, indices (exactly), and the
    input gradient for the output gradient g (random if None)."""
    (x,), (tx,) = _leaf_pairs([a], device, dtype)
    xin, txin = (x, tx) if view is None else (view(x), view(tx))
    y, i = F.max_pool2d(xin, **kw, return_indices=True)
    ty, ti = TF.max_pool2d(txin, **kw, return_indices=True)
    assert type(y.grad_fn).__name__ == type(ty.grad_fn).__name__
    assert y.dtype == getattr(wgtorch, dtype) and i.dtype == wgtorch.int64
    np.testing.assert_array_equal(to_np(y), ty.detach().numpy())  # a maximum is exact
    np.testing.assert_array_equal(to_np(i), ti.numpy())
    if g is None:
        g = np.random.default_rng(seed).standard_normal(ty.shape)
    g = g.astype(dtype)
    y.backward(wgtorch.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    assert_close_at(x.grad, tx.grad, dtype, device)


@pytest.mark.parametrize("values", ["normal", "ties", "inf"])
@pytest.mark.parametrize("case", sorted(FUSED_MAXPOOL2D))
def test_fused_max_pool2d(device, case, values):
    xs, kw = FUSED_MAXPOOL2D[case]
    rng = np.random.default_rng(6)
    a = _pool_values(values, xs, rng)
    # (windows of -inf only, at a padded border, have a test of their own below: none here)
    while values == "inf" and (TF.max_pool2d(torch.tensor(a), **kw) == -np.inf).any():
        a = _pool_values(values, xs, rng)
    _fused_pool_check(device, "float32", a, kw)


@pytest.mark.parametrize("values", ["normal", "ties", "inf"])
@pytest.mark.parametrize("case", ["k3_s1_overlap", "k3_s2_p1", "k3_s2_p1_d2_ceil", "k2_s2_disjoint"])
def test_fused_max_pool2d_float64(case, values):
    xs, kw = FUSED_MAXPOOL2D[case]
    rng = np.random.default_rng(7)
    a = _pool_values(values, xs, rng)
    while values == "inf" and (TF.max_pool2d(torch.tensor(a), **kw) == -np.inf).any():
        a = _pool_values(values, xs, rng)
    _fused_pool_check("cpu", "float64", a, kw)


@pytest.mark.parametrize("values", ["normal", "ties"])
def test_fused_max_pool2d_noncontiguous(device, values):
    rng = np.random.default_rng(8)
    a = _pool_values(values, (2, 3, 9, 13), rng)
    _fused_pool_check(device, "float32", a, {"kernel_size": 3, "stride": 2, "padding": 1},
                      view=lambda t: t[:, 1:, ::2, 1:].transpose(-1, -2))


def test_fused_max_pool2d_all_ties_overlapping(device):
    """Every value equal, overlapping windows: each window's gradient goes to its first tap (as torch),
    summed where first taps are shared."""
    _fused_pool_check(device, "float32", np.full((1, 2, 6, 7), 3.0), {"kernel_size": 3, "stride": 1})
    _fused_pool_check(device, "float32", np.full((1, 2, 6, 7), -2.0), {"kernel_size": 2, "stride": 1,
                                                                       "dilation": 2})


def test_fused_max_pool2d_all_neg_inf_windows_unpadded(device):
    """Windows of -inf only (no padding): the maximum -inf, the index and gradient the window's first tap."""
    a = np.full((1, 1, 5, 6), -np.inf)
    a[0, 0, 3:, 4:] = 1.0
    for kw in ({"kernel_size": 2}, {"kernel_size": 3, "stride": 1}):
        _fused_pool_check(device, "float32", a, kw)


def test_fused_max_pool2d_all_neg_inf_windows_padded(device):
    """Windows whose in-image values are all -inf, at a padded border: torch's maximum -inf with the index
    (and gradient) of the window's first tap inside the image, never a padding position."""
    a = np.full((1, 1, 4, 4), -np.inf)
    a[0, 0, 2:, 2:] = np.arange(4).reshape(2, 2)
    _fused_pool_check(device, "float32", a, {"kernel_size": 3, "stride": 2, "padding": 1}, g=np.ones((1, 1, 2, 2)))


def test_fused_max_pool2d_nan_input(device):
    """NaN is the maximum; with several NaNs in a window torch (cpu and cuda kernels: `val > max ||
    isnan(val)`) keeps the last one, and sends the gradient there."""
    a = np.random.default_rng(9).standard_normal((1, 2, 4, 6))
    a[0, 0, 0, 1] = a[0, 0, 1, 0] = np.nan  # two NaNs in one 2x2 window
    a[0, 1, 2, 3] = np.nan  # one NaN
    _fused_pool_check(device, "float32", a, {"kernel_size": 2})


@pytest.mark.parametrize("kw", [{"kernel_size": 2}, {"kernel_size": 3, "stride": 1, "padding": 1},
                                {"kernel_size": 2, "stride": 3, "dilation": 2}])
def test_fused_max_pool2d_nonfinite_incoming_gradient(device, kw):
    """inf, -inf and NaN in the output gradient: only the positions they are sent to become non-finite
    (inf + -inf where windows share a maximum: NaN), as torch."""
    rng = np.random.default_rng(10)
    xs = (1, 2, 7, 8)
    a = rng.integers(0, 4, xs).astype(np.float64)  # ties: windows share maxima where they overlap
    oh = TF.max_pool2d(torch.zeros(xs), **kw).shape
    g = rng.standard_normal(oh)
    g[0, 0, 0, 0], g[0, 0, 1, 1], g[0, 1, 0, 1], g[0, 1, 1, 0] = np.inf, -np.inf, np.nan, np.inf
    g[0, 1, 1, 1] = -np.inf
    _fused_pool_check(device, "float32", a, kw, g=g)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kw", [{"kernel_size": 3, "stride": 1, "padding": 1}, {"kernel_size": 2},
                                {"kernel_size": 3, "stride": 2, "dilation": 2, "ceil_mode": True}])
def test_fused_max_pool2d_double_backward(device, kw, dtype):
    rng = np.random.default_rng(11)
    a = rng.standard_normal((2, 2, 7, 7))
    (x,), (tx,) = _leaf_pairs([a], device, dtype)
    ty0 = TF.max_pool2d(tx, **kw)
    gout = rng.standard_normal(ty0.shape)
    v = rng.standard_normal(a.shape).astype(dtype)
    (wg,), (tg,) = _leaf_pairs([gout], device, dtype)
    got = _double_backward(wgtorch, lambda t: F.max_pool2d(t, **kw), [x], wg, [wgtorch.tensor(v, device=device)])
    want = _double_backward(torch, lambda t: TF.max_pool2d(t, **kw), [tx], tg, [torch.tensor(v)])
    # first order: y + gout sent to the maxima; second: v gathered at the maxima, back to x (through y)
    # and to gout
    for a_, b_ in zip(got[0] + got[1], want[0] + want[1]):
        assert_close_at(a_, b_, dtype, device)
