"""Convolution, pooling, unfold/fold and interpolation against torch: outputs and gradients, both devices."""
import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
from conftest import assert_close, to_np

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
