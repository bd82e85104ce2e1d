"""The padding, pixel-shuffle, distance, bilinear and channel-dropout layers and ParameterList /
ParameterDict, against torch on both devices: values, gradients, printing, errors."""
import warnings
from collections import OrderedDict

import numpy as np
import pytest
from conftest import assert_close, to_np

import wgtorch
import wgtorch.nn as nn
from wgtorch.nn import _layers_extra as FX

RTOL = {"cpu": 1e-5, "wgpu": 1e-4}


def _pair(oracle, a, device, dtype="float32"):
    """The same array as a wgtorch tensor on device and a torch tensor, both requiring grad."""
    a = np.asarray(a, dtype=dtype)
    return wgtorch.tensor(a, device=device, requires_grad=True), oracle.tensor(a, requires_grad=True)


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _check(oracle, device, wfn, tfn, arrays, view=None, rtol=None, atol=1e-6):
    """wfn(*inputs) matches tfn(*inputs) in value and in every input's gradient (through a fixed
    random projection of the output); ``view`` is applied to each input first (non-contiguous cases)."""
    rtol = rtol or RTOL[device]
    pairs = [_pair(oracle, a, device) for a in arrays]
    view = view or (lambda t: t)
    y, ty = wfn(*(view(w) for w, _ in pairs)), tfn(*(view(t) for _, t in pairs))
    assert tuple(y.shape) == tuple(ty.shape)
    assert_close(y, ty, rtol=rtol, atol=atol)
    g = _rand(tuple(ty.shape), seed=1)
    (y * wgtorch.tensor(g, device=device)).sum().backward()
    (ty * oracle.tensor(g)).sum().backward()
    for w, t in pairs:
        assert_close(w.grad, t.grad, rtol=rtol, atol=atol)


def _same_error(exc, wfn, tfn, match_message=True):
    with pytest.raises(exc) as et:
        tfn()
    with pytest.raises(exc) as ew:
        wfn()
    if match_message:
        assert str(ew.value) == str(et.value)


# ---- padding --------------------------------------------------------------------------------------
PADS = [
    ("ZeroPad1d", (2,), (2, 3, 5)), ("ZeroPad1d", ((0, 3),), (3, 4)), ("ZeroPad2d", (1,), (1, 2, 3, 4)),
    ("ZeroPad2d", ((1, 0, 2, 3),), (2, 3, 3)), ("ZeroPad2d", ((-1, 2, 0, 1),), (1, 1, 4, 5)),
    ("ZeroPad3d", ((1, 0, 0, 2, 1, 1),), (1, 2, 2, 3, 3)), ("ConstantPad1d", (2, 3.5), (2, 3, 4)),
    ("ConstantPad2d", ((1, 2, 0, 1), -1.0), (2, 2, 3)), ("ConstantPad3d", (1, 0.5), (2, 2, 3, 2)),
    ("ReflectionPad1d", (2,), (2, 3, 5)), ("ReflectionPad1d", ((3, 1),), (3, 4)),
    ("ReflectionPad2d", (1,), (1, 2, 3, 4)), ("ReflectionPad2d", ((2, 0, 1, 2),), (2, 3, 5)),
    ("ReflectionPad3d", ((1, 0, 1, 1, 0, 1),), (1, 2, 2, 3, 3)), ("ReplicationPad1d", ((2, 3),), (2, 3, 4)),
    ("ReplicationPad2d", (2,), (1, 1, 3, 3)), ("ReplicationPad3d", (1,), (2, 2, 3, 2)),
    ("CircularPad1d", ((1, 2),), (2, 3, 5)), ("CircularPad2d", (1,), (1, 2, 3, 4)),
    ("CircularPad2d", ((2, 0, 1, 3),), (2, 3, 5)), ("CircularPad3d", ((1, 0, 0, 2, 1, 1),), (1, 2, 2, 3, 3)),
]


@pytest.mark.parametrize("name,args,shape", PADS, ids=lambda v: str(v))
def test_padding_layers_match_torch(oracle, device, name, args, shape):
    w, t = getattr(nn, name)(*args), getattr(oracle.nn, name)(*args)
    assert str(w) == str(t) and w.padding == t.padding
    _check(oracle, device, w, t, [_rand(shape)])


@pytest.mark.parametrize("name", ["ZeroPad2d", "ReflectionPad2d", "ReplicationPad2d", "CircularPad2d"])
def test_padding_non_contiguous_input(oracle, device, name):
    w, t = getattr(nn, name)((1, 2, 2, 1)), getattr(oracle.nn, name)((1, 2, 2, 1))
    _check(oracle, device, w, t, [_rand((2, 5, 3, 4))], view=lambda x: x.transpose(-1, -2)[:, 1:4])


def test_padding_reprs_and_errors(oracle):
    for name, args in [("ZeroPad2d", (2,)), ("ZeroPad3d", ([1, 2, 3, 4, 5, 6],)), ("ConstantPad1d", (3, 0)),
                       ("ConstantPad3d", ((1, 2, 3, 4, 5, 6), 1.5)), ("ReflectionPad1d", ((0, 1),)),
                       ("ReplicationPad3d", (2,)), ("CircularPad3d", (1,))]:
        assert str(getattr(nn, name)(*args)) == str(getattr(oracle.nn, name)(*args))
    assert isinstance(nn.ZeroPad2d(1), nn.ConstantPad2d)
    x, tx = wgtorch.zeros(3, 4), oracle.zeros(3, 4)
    _same_error(ValueError, lambda: nn.CircularPad2d(1)(x), lambda: oracle.nn.CircularPad2d(1)(tx))
    _same_error(ValueError, lambda: nn.CircularPad1d(1)(x[0]), lambda: oracle.nn.CircularPad1d(1)(tx[0]))
    _same_error(RuntimeError, lambda: nn.ReflectionPad1d(4)(x), lambda: oracle.nn.ReflectionPad1d(4)(tx),
                match_message=False)
    _same_error(TypeError, lambda: nn.ConstantPad1d(2), lambda: oracle.nn.ConstantPad1d(2), match_message=False)


# ---- pixel shuffle ---------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,r", [((1, 8, 3, 5), 2), ((2, 9, 2, 3), 3), ((4, 3, 3), 2), ((2, 2, 4, 1, 3), 2),
                                     ((1, 5, 2, 2), 1)], ids=str)
def test_pixel_shuffle_and_unshuffle_match_torch(oracle, device, shape, r):
    _check(oracle, device, lambda x: FX.pixel_shuffle(x, r), lambda x: oracle.nn.functional.pixel_shuffle(x, r),
           [_rand(shape)])
    # unshuffle of the shuffled shape, through the modules
    *b, c, h, w = shape
    _check(oracle, device, nn.PixelUnshuffle(r), oracle.nn.PixelUnshuffle(r), [_rand((*b, c // (r * r), h * r, w * r))])
    x = wgtorch.tensor(_rand(shape), device=device)
    np.testing.assert_array_equal(to_np(FX.pixel_unshuffle(FX.pixel_shuffle(x, r), r)), to_np(x))


def test_pixel_shuffle_non_contiguous_input(oracle, device):
    _check(oracle, device, nn.PixelShuffle(2), oracle.nn.PixelShuffle(2), [_rand((2, 6, 4, 8))],
           view=lambda x: x.transpose(1, 3)[:, :, 1:])  # (2, 8, 3, 6)
    _check(oracle, device, nn.PixelUnshuffle(2), oracle.nn.PixelUnshuffle(2), [_rand((2, 4, 6, 3))],
           view=lambda x: x.transpose(1, 3)[..., :4])  # (2, 3, 6, 4)


def test_pixel_shuffle_reprs_and_errors(oracle):
    F = oracle.nn.functional
    assert str(nn.PixelShuffle(3)) == str(oracle.nn.PixelShuffle(3))
    assert str(nn.PixelUnshuffle(2)) == str(oracle.nn.PixelUnshuffle(2))
    cases = [(RuntimeError, "pixel_shuffle", (1, 3, 2, 2), 2), (RuntimeError, "pixel_shuffle", (3, 2), 2),
             (RuntimeError, "pixel_shuffle", (4, 2, 2), 0), (RuntimeError, "pixel_shuffle", (4, 2, 2), -1),
             (TypeError, "pixel_shuffle", (4, 2, 2), 2.0), (RuntimeError, "pixel_unshuffle", (1, 3, 3, 2), 2),
             (RuntimeError, "pixel_unshuffle", (1, 3, 4, 3), 2), (RuntimeError, "pixel_unshuffle", (3, 2), 2),
             (RuntimeError, "pixel_unshuffle", (3, 4, 4), 0), (TypeError, "pixel_unshuffle", (3, 4, 4), 1.5)]
    for exc, fn, shape, r in cases:
        _same_error(exc, lambda fn=fn, shape=shape, r=r: getattr(FX, fn)(wgtorch.zeros(shape), r),
                    lambda fn=fn, shape=shape, r=r: getattr(F, fn)(oracle.zeros(shape), r))
    assert FX.pixel_shuffle(wgtorch.zeros(0, 4, 2, 3), 2).shape == (0, 1, 4, 6)
    assert FX.pixel_shuffle(wgtorch.zeros(4, 2, 3), np.int64(2)).shape == (1, 4, 6)  # NumPy ints are ints
    _same_error(TypeError, lambda: FX.pixel_shuffle(wgtorch.zeros(4, 2, 2), True),
                lambda: F.pixel_shuffle(oracle.zeros(4, 2, 2), True))


# ---- distances --------------------------------------------------------------------------------------
def _with_zero_row(a):
    a = a.copy()
    a[1] = 0
    return a


COSINE = [((4, 5), (4, 5), {}), ((4, 5), (1, 5), {}), ((3, 1, 5), (4, 5), {"dim": -1}),
          ((2, 3, 4), (2, 3, 4), {"dim": 0}), ((5,), (5,), {"dim": 0}), ((1, 7), (1, 7), {}),
          ((6, 3), (6, 3), {"dim": 1, "eps": 2.0})]


@pytest.mark.parametrize("s1,s2,kwargs", COSINE, ids=str)
def test_cosine_similarity_matches_torch(oracle, device, s1, s2, kwargs):
    arrays = [_with_zero_row(_rand(s1)) if s1[0] > 2 else _rand(s1), _rand(s2, seed=3)]
    _check(oracle, device, lambda a, b: FX.cosine_similarity(a, b, **kwargs),
           lambda a, b: oracle.nn.functional.cosine_similarity(a, b, **kwargs), arrays)
    _check(oracle, device, nn.CosineSimilarity(**kwargs), oracle.nn.CosineSimilarity(**kwargs), arrays)


def test_cosine_similarity_eps_clamps_each_norm(oracle, device):
    # |a| = 0.5 < eps = 1 <= |b|: only a's norm is clamped (torch < 2 clamped the product instead)
    a, b = np.array([[0.3, 0.4]], np.float32), np.array([[3.0, 4.0]], np.float32)
    _check(oracle, device, lambda x, y: FX.cosine_similarity(x, y, eps=1.0),
           lambda x, y: oracle.nn.functional.cosine_similarity(x, y, eps=1.0), [a, b])
    assert_close(FX.cosine_similarity(wgtorch.tensor(a, device=device), wgtorch.tensor(b, device=device), eps=1.0),
                 np.array([0.5]), rtol=1e-6)


def test_cosine_similarity_non_contiguous_and_float64(oracle, device):
    _check(oracle, device, FX.cosine_similarity, oracle.nn.functional.cosine_similarity,
           [_rand((5, 4)), _rand((5, 4), seed=2)], view=lambda x: x.t()[:, 1:])
    if device == "cpu":
        a, b = _rand((3, 6)).astype(np.float64), _rand((3, 6), seed=2).astype(np.float64)
        wa, ta = _pair(oracle, a, device, "float64")
        y = FX.cosine_similarity(wa, wgtorch.tensor(b, dtype=wgtorch.float64))
        assert y.dtype == wgtorch.float64
        assert_close(y, oracle.nn.functional.cosine_similarity(ta, oracle.tensor(b)), rtol=1e-12)


def test_cosine_similarity_errors(oracle):
    F = oracle.nn.functional
    _same_error(IndexError, lambda: FX.cosine_similarity(wgtorch.zeros(3, 4), wgtorch.zeros(3, 4), dim=2),
                lambda: F.cosine_similarity(oracle.zeros(3, 4), oracle.zeros(3, 4), dim=2))
    _same_error(RuntimeError, lambda: FX.cosine_similarity(wgtorch.zeros(3, 4), wgtorch.zeros(2, 4)),
                lambda: F.cosine_similarity(oracle.zeros(3, 4), oracle.zeros(2, 4)), match_message=False)
    li, tli = wgtorch.zeros(3, 4, dtype=wgtorch.int64), oracle.zeros(3, 4, dtype=oracle.int64)
    _same_error(RuntimeError, lambda: FX.cosine_similarity(li, li), lambda: F.cosine_similarity(tli, tli))
    # an integer input with a floating one is promoted
    assert_close(FX.cosine_similarity(li + 1, wgtorch.ones(3, 4)), F.cosine_similarity(tli + 1, oracle.ones(3, 4)))


PAIRWISE = [((4, 5), (4, 5), {}), ((4, 5), (5,), {"p": 1.0}), ((3, 1, 5), (4, 5), {"p": 3.0}),
            ((4, 5), (4, 5), {"p": float("inf")}), ((4, 5), (4, 5), {"p": 0.5, "keepdim": True}),
            ((6,), (6,), {}), ((6,), (6,), {"keepdim": True}), ((1, 3), (1, 3), {"eps": 0.1}),
            ((2, 3, 4), (2, 3, 4), {"p": -1.5})]


@pytest.mark.parametrize("s1,s2,kwargs", PAIRWISE, ids=str)
def test_pairwise_distance_matches_torch(oracle, device, s1, s2, kwargs):
    arrays = [_rand(s1), _rand(s2, seed=3)]
    _check(oracle, device, lambda a, b: FX.pairwise_distance(a, b, **kwargs),
           lambda a, b: oracle.nn.functional.pairwise_distance(a, b, **kwargs), arrays)
    _check(oracle, device, nn.PairwiseDistance(**kwargs), oracle.nn.PairwiseDistance(**kwargs), arrays)


def test_pairwise_distance_non_contiguous_equal_inputs_and_errors(oracle, device):
    F = oracle.nn.functional
    _check(oracle, device, FX.pairwise_distance, F.pairwise_distance, [_rand((6, 4)), _rand((6, 4), seed=2)],
           view=lambda x: x.t()[:, ::2])
    # equal inputs: the distance is |eps| * n**(1/p), not 0 (eps is added to the difference)
    a = _rand((3, 4))
    _check(oracle, device, FX.pairwise_distance, F.pairwise_distance, [a, a])
    _same_error(RuntimeError, lambda: FX.pairwise_distance(wgtorch.zeros(3, 4), wgtorch.zeros(2, 4)),
                lambda: F.pairwise_distance(oracle.zeros(3, 4), oracle.zeros(2, 4)), match_message=False)


def test_distance_reprs(oracle):
    for name, kwargs in [("CosineSimilarity", {}), ("CosineSimilarity", {"dim": 0, "eps": 1e-6}),
                         ("PairwiseDistance", {}), ("PairwiseDistance", {"p": 1.0, "keepdim": True})]:
        w, t = getattr(nn, name)(**kwargs), getattr(oracle.nn, name)(**kwargs)
        assert str(w) == str(t)
        assert {k: v for k, v in vars(w).items() if k in ("dim", "eps", "norm", "keepdim")} == \
            {k: v for k, v in vars(t).items() if k in ("dim", "eps", "norm", "keepdim")}


# ---- channel dropout ----------------------------------------------------------------------------------
# (module, functional, input shape, number of leading dims that index a channel)
DROPOUTS = [("Dropout1d", "dropout1d", (64, 40, 3), 2), ("Dropout1d", "dropout1d", (300, 5), 1),
            ("Dropout2d", "dropout2d", (32, 50, 2, 3), 2), ("Dropout3d", "dropout3d", (16, 40, 2, 1, 3), 2),
            ("Dropout3d", "dropout3d", (400, 2, 3, 1), 1)]


@pytest.mark.parametrize("name,fn,shape,lead", DROPOUTS, ids=str)
def test_channel_dropout_zeroes_whole_channels_and_scales(device, name, fn, shape, lead):
    p = 0.3
    x = wgtorch.tensor(np.abs(_rand(shape)) + 0.5, device=device, requires_grad=True)
    m = getattr(nn, name)(p)
    wgtorch.manual_seed(11)
    y = m(x)
    out, xin = to_np(y), to_np(x)
    per_channel = out.reshape(*shape[:lead], -1)
    zero = (per_channel == 0).all(-1)
    kept = (per_channel != 0).all(-1)
    assert (zero | kept).all()  # every channel is dropped or kept whole
    assert abs(zero.mean() - p) < 0.06  # about p of the channels are dropped (>= 300 channels)
    np.testing.assert_allclose(out[kept], xin[kept] / (1 - p), rtol=1e-6)
    y.sum().backward()  # the gradient is the scaled mask
    np.testing.assert_allclose(to_np(x.grad), np.where(out != 0, 1 / (1 - p), 0.0), rtol=1e-6)
    wgtorch.manual_seed(11)
    np.testing.assert_array_equal(to_np(m(x)), out)  # the same channels for the same seed
    wgtorch.manual_seed(12)
    assert not np.array_equal(to_np(m(x)), out)
    m.eval()
    assert m(x) is x
    assert getattr(FX, fn)(x, p, training=False) is x


def test_channel_dropout_unbatched_channels_are_dim_0(device):
    x = wgtorch.ones(200, 4, device=device)
    for f in (FX.dropout1d, lambda t, p: FX.dropout3d(t.reshape(200, 2, 2, 1), p).reshape(200, 4)):
        y = to_np(f(x, 0.5))
        assert ((y == 0).all(1) | (y == 2).all(1)).all() and 0.3 < (y == 0).all(1).mean() < 0.7


def test_channel_dropout_p_0_p_1_inplace(device):
    x = wgtorch.tensor(_rand((2, 3, 4)), device=device, requires_grad=True)
    assert FX.dropout2d(x.reshape(2, 3, 2, 2), 0.0).shape == (2, 3, 2, 2)
    assert FX.dropout1d(x, 0.0) is x
    y = FX.dropout1d(x, 1.0)
    y.sum().backward()
    assert (to_np(y) == 0).all() and (to_np(x.grad) == 0).all()
    z = wgtorch.ones(4, 6, 2, 2, device=device)
    wgtorch.manual_seed(3)
    r = nn.Dropout2d(0.5, inplace=True)(z)
    assert r is z and set(np.unique(to_np(z))) <= {0.0, 2.0}
    e = wgtorch.ones(0, 3, 2, 2, device=device)
    assert FX.dropout2d(e, 0.5).shape == (0, 3, 2, 2)


def test_channel_dropout_errors_warnings_and_reprs(oracle):
    F = oracle.nn.functional
    for name in ("Dropout1d", "Dropout2d", "Dropout3d"):
        assert str(getattr(nn, name)()) == str(getattr(oracle.nn, name)())
        assert str(getattr(nn, name)(0.2, True)) == str(getattr(oracle.nn, name)(0.2, True))
        _same_error(ValueError, lambda name=name: getattr(nn, name)(1.5),
                    lambda name=name: getattr(oracle.nn, name)(1.5))
    for fn in ("dropout1d", "dropout2d", "dropout3d"):
        _same_error(ValueError, lambda fn=fn: getattr(FX, fn)(wgtorch.ones(2, 3, 4), -0.1),
                    lambda fn=fn: getattr(F, fn)(oracle.ones(2, 3, 4), -0.1))
    for shape in ((), (4,), (2, 3, 4, 5)):
        _same_error(RuntimeError, lambda shape=shape: FX.dropout1d(wgtorch.ones(shape)),
                    lambda shape=shape: F.dropout1d(oracle.ones(shape)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _same_error(RuntimeError, lambda: FX.dropout2d(wgtorch.ones(5)), lambda: F.dropout2d(oracle.ones(5)))
        _same_error(RuntimeError, lambda: FX.dropout3d(wgtorch.ones(())), lambda: F.dropout3d(oracle.ones(())))
        assert FX.dropout3d(wgtorch.ones(5), 0.5).shape == (5,)

    def messages(f, x):
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            f(x, 0.5, training=False)
        return [(r.category, str(r.message)) for r in rec]
    for fn, shape in (("dropout2d", (2, 3)), ("dropout2d", (2, 3, 4)), ("dropout2d", (2, 3, 4, 5, 6)),
                      ("dropout3d", (2, 3, 4)), ("dropout3d", (2, 3, 4, 5))):
        assert messages(getattr(FX, fn), wgtorch.ones(shape)) == messages(getattr(F, fn), oracle.ones(shape))


# ---- ParameterList / ParameterDict ------------------------------------------------------------------------
def _holder(lib):
    """The same structure in either library: a ParameterList and a ParameterDict inside a module."""
    nn_ = lib.nn

    class Net(nn_.Module):
        def __init__(self):
            super().__init__()
            self.plist = nn_.ParameterList([nn_.Parameter(lib.ones(2, 3)), lib.zeros(3)])
            self.plist.append(lib.full((2,), 2.0))
            self.plist.extend([nn_.Parameter(lib.ones(1))])
            self.pdict = nn_.ParameterDict({"w": lib.ones(3, 2), "b": nn_.Parameter(lib.zeros(2))})
            self.pdict["scale"] = lib.ones(())
            self.pdict.update([("z", lib.zeros(1))])

        def forward(self, x):
            h = x @ self.plist[0] + self.plist[1]
            return (h @ self.pdict["w"] + self.pdict["b"]) * self.pdict["scale"] + self.plist[2].sum()
    return Net()


def test_parameter_containers_register_like_torch(oracle):
    w, t = _holder(wgtorch), _holder(oracle)
    assert [n for n, _ in w.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert list(w.state_dict()) == list(t.state_dict())
    assert str(w) == str(t)
    assert len(w.plist) == 4 and len(w.pdict) == 4 and list(w.pdict) == list(t.pdict)
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in w.plist)
    assert isinstance(w.pdict["w"], nn.Parameter) and w.pdict.get("nope") is None and "b" in w.pdict
    assert str(w.plist[1:3]) == str(t.plist[1:3]) and w.plist[-1] is w.plist[3]
    assert [tuple(p.shape) for p in w.plist] == [tuple(p.shape) for p in t.plist]
    assert list(w.pdict.keys()) == list(t.pdict.keys())
    assert [tuple(v.shape) for v in w.pdict.values()] == [tuple(v.shape) for v in t.pdict.values()]
    # a state_dict round trip between the libraries' layouts
    w.load_state_dict({k: wgtorch.tensor(v.numpy() + 1) for k, v in t.state_dict().items()})
    assert_close(w.pdict["w"], t.pdict["w"].detach() + 1)


def test_parameter_containers_train_and_move(device):
    wgtorch.manual_seed(0)
    net = _holder(wgtorch).to(device)
    assert all(p.device.type == device for p in net.parameters())
    assert net.plist[0].device.type == device and net.pdict["w"].device.type == device
    before = {k: to_np(v).copy() for k, v in net.state_dict().items()}
    opt = wgtorch.optim.SGD(net.parameters(), lr=0.1)
    x = wgtorch.ones(4, 2, device=device)
    net(x).pow(2).sum().backward()
    opt.step()
    after = net.state_dict()
    changed = [k for k in before if not np.array_equal(before[k], to_np(after[k]))]
    assert set(changed) == {"plist.0", "plist.1", "plist.2", "pdict.w", "pdict.b", "pdict.scale"}
    assert net.plist[3].grad is None  # unused by forward


def test_parameter_list_behaviour_like_torch(oracle):
    for lib in (wgtorch, oracle):
        pl = lib.nn.ParameterList()
        assert str(pl) == "ParameterList()" and len(pl) == 0
        pl += [lib.ones(2), "note", 3]
        pl[2] = lib.zeros(1)  # replacing an object with a tensor registers it
        assert [n for n, _ in pl.named_parameters()] == ["0", "2"]
    w = wgtorch.nn.ParameterList([wgtorch.ones(2), "note", wgtorch.zeros(1)])
    t = oracle.nn.ParameterList([oracle.ones(2), "note", oracle.zeros(1)])
    assert str(w) == str(t)
    _same_error(IndexError, lambda: w[3], lambda: t[3])
    _same_error(IndexError, lambda: w.__setitem__(-4, wgtorch.ones(1)), lambda: t.__setitem__(-4, oracle.ones(1)))
    _same_error(TypeError, lambda: w.extend(wgtorch.ones(2)), lambda: t.extend(oracle.ones(2)))
    _same_error(RuntimeError, lambda: w(1), lambda: t(1))
    _same_error(TypeError, lambda: w.__setitem__(0, 5), lambda: t.__setitem__(0, 5))
    # a tensor taken in shares its storage (Parameter(t) does not copy)
    src = wgtorch.ones(3)
    pl = nn.ParameterList([src])
    with wgtorch.no_grad():
        pl[0].mul_(2)
    assert_close(src, np.full(3, 2.0))


def test_parameter_dict_behaviour_like_torch(oracle):
    def build(lib):
        d = lib.nn.ParameterDict(OrderedDict([("b", lib.ones(2)), ("a", lib.zeros(1))]))
        d.update({"d": lib.ones(1), "c": "text"})  # a plain dict is merged in sorted key order
        d.setdefault("e", lib.ones(3))
        d.setdefault("b", lib.zeros(5))
        popped = d.pop("a")
        last = d.popitem()
        both = d | lib.nn.ParameterDict({"f": lib.ones(1)})
        return d, popped, last, both
    (w, wp, wl, wb), (t, tp, tl, tb) = build(wgtorch), build(oracle)
    assert list(w) == list(t) == ["b", "c", "d"] and list(reversed(w)) == list(reversed(t))
    assert str(w) == str(t) and str(wb) == str(tb)
    assert isinstance(wp, nn.Parameter) and tuple(wp.shape) == tuple(tp.shape)
    assert wl[0] == tl[0] == "e" and tuple(wl[1].shape) == (3,)
    assert [n for n, _ in w.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert list(w.copy()) == list(t.copy()) and list(w.fromkeys(["x", "y"])) == ["x", "y"]
    assert w.get("c") == "text" and w.get("nope", 7) == 7
    _same_error(AttributeError, lambda: w["zz"], lambda: t["zz"])  # a missing key, as torch
    _same_error(TypeError, lambda: nn.ParameterDict()[1], lambda: oracle.nn.ParameterDict()[1])
    _same_error(KeyError, lambda: w.__setitem__("a.b", wgtorch.ones(1)), lambda: t.__setitem__("a.b", oracle.ones(1)))
    _same_error(TypeError, lambda: w.update(3), lambda: t.update(3))
    _same_error(ValueError, lambda: w.update([("a", 1, 2)]), lambda: t.update([("a", 1, 2)]))
    _same_error(RuntimeError, lambda: w(1), lambda: t(1))
    w.clear()
    assert len(w) == 0 and list(w.parameters()) == [] and str(w) == "ParameterDict()"
    _same_error(KeyError, w.popitem, oracle.nn.ParameterDict().popitem)


@pytest.mark.parametrize("shape1, shape2", [((6, 4), (6, 5)), ((2, 3, 4), (2, 3, 5)), ((4,), (5,)), ((1, 4), (1, 5))])
@pytest.mark.parametrize("bias", [True, False])
def test_bilinear_matches_torch(oracle, device, shape1, shape2, bias):
    """F.bilinear and nn.Bilinear: values and the gradients of both inputs, the weight and the bias,
    also for transposed inputs; torch's errors for mismatched sizes."""
    w, b = _rand((3, 4, 5), seed=2), _rand((3,), seed=3)
    arrays = [_rand(shape1), _rand(shape2, seed=4), w] + ([b] if bias else [])
    _check(oracle, device, nn.functional.bilinear, oracle.nn.functional.bilinear, arrays)
    if len(shape1) == 2:  # non-contiguous inputs (the weight and bias as they are)
        arrays = [_rand(shape1[::-1]), _rand(shape2[::-1], seed=4), w] + ([b] if bias else [])
        _check(oracle, device, lambda x1, x2, *p: nn.functional.bilinear(x1.t(), x2.t(), *p),
               lambda x1, x2, *p: oracle.nn.functional.bilinear(x1.t(), x2.t(), *p), arrays)
    m, tm = nn.Bilinear(4, 5, 3, bias=bias), oracle.nn.Bilinear(4, 5, 3, bias=bias)
    assert repr(m) == repr(tm)
    m.load_state_dict({k: wgtorch.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    m = m.to(device)
    x1, x2 = _rand(shape1), _rand(shape2, seed=4)
    assert_close(m(wgtorch.tensor(x1, device=device), wgtorch.tensor(x2, device=device)),
                 tm(oracle.tensor(x1), oracle.tensor(x2)), rtol=RTOL[device], atol=1e-6)


def test_bilinear_errors_are_torchs(oracle, device):
    W, tW = wgtorch.zeros(3, 4, 5, device=device), oracle.zeros(3, 4, 5)
    for a, c, bias in [((2, 4), (2, 6), 3), ((2, 4), (3, 5), 3), ((2, 7), (2, 5), 3), ((2, 4), (2, 1, 5), 3),
                       ((2, 4), (2, 5), 4)]:
        _same_error(RuntimeError,
                    lambda: nn.functional.bilinear(wgtorch.zeros(*a, device=device), wgtorch.zeros(*c, device=device),
                                                   W, wgtorch.zeros(bias, device=device)),
                    lambda: oracle.nn.functional.bilinear(oracle.zeros(*a), oracle.zeros(*c), tW, oracle.zeros(bias)))
