"""nn.init against torch: on cpu the same seed gives torch's values (same stream,
same number of draws), on wgpu the initialisers run on the device with sane
statistics; gains, fans and errors as torch's."""
import math

import numpy as np
import pytest
from conftest import to_np

import wgtorch
import wgtorch.nn as nn

INITS = [("uniform_", (-1.0, 3.0)), ("uniform_", (-0.3, 0.7)), ("normal_", (0.5, 2.0)), ("xavier_uniform_", ()),
         ("xavier_uniform_", (2.0,)), ("xavier_normal_", ()), ("kaiming_uniform_", ()),
         ("kaiming_uniform_", (math.sqrt(5),)), ("kaiming_uniform_", (0, "fan_out", "relu")),
         ("kaiming_normal_", ()), ("kaiming_normal_", (0.1, "fan_in", "leaky_relu")),
         ("trunc_normal_", ()), ("trunc_normal_", (0.0, 1.0, -0.1, 0.2)), ("trunc_normal_", (1.0, 0.02)),
         ("orthogonal_", ()), ("orthogonal_", (2.0,))]


@pytest.mark.parametrize("shape", [(5, 4), (40, 20), (7, 3, 3), (3, 8)])
@pytest.mark.parametrize("name,args", INITS, ids=lambda v: str(v))
def test_init_matches_torch_on_cpu(oracle, shape, name, args):
    oracle.manual_seed(1)
    wgtorch.manual_seed(1)
    t = getattr(oracle.nn.init, name)(oracle.empty(shape), *args)
    w = wgtorch.empty(shape)
    assert getattr(nn.init, name)(w, *args) is w
    # torch's values up to float32 rounding of the transforms (the draws are torch's)
    # (orthogonal_'s QR runs in float64 on the host where torch's runs in float32: looser)
    np.testing.assert_allclose(to_np(w), t.numpy(), rtol=1e-6, atol=1e-6 if name == "orthogonal_" else 1e-7)
    # the same number of draws: the streams continue together (trunc_normal_'s rejections included)
    np.testing.assert_array_equal(to_np(wgtorch.rand(4)), oracle.rand(4).numpy())


def test_fills_match_torch(oracle):
    for name, args, shape in [("constant_", (0.25,), (2, 3)), ("zeros_", (), (4,)), ("ones_", (), (2, 2, 2)),
                              ("eye_", (), (3, 5)), ("dirac_", (), (4, 2, 3)), ("dirac_", (2,), (4, 2, 3, 3))]:
        t = getattr(oracle.nn.init, name)(oracle.full(shape, 7.0), *args)
        w = getattr(nn.init, name)(wgtorch.full(shape, 7.0), *args)
        np.testing.assert_array_equal(to_np(w), t.numpy())


@pytest.mark.parametrize("name,args", INITS + [("constant_", (0.5,)), ("zeros_", ()), ("ones_", ()), ("eye_", ()),
                                               ("sparse_", (0.5,))], ids=lambda v: str(v))
def test_init_on_device_and_on_parameters(device, name, args):
    """On a Parameter (a leaf requiring grad) under grad mode, on either device: in place, no history."""
    p = nn.Parameter(wgtorch.zeros(30, 20, device=device))
    w0 = p.data
    out = getattr(nn.init, name)(p, *args)
    assert out is p and p.is_leaf and p.grad_fn is None and p.requires_grad and p.device.type == device
    v = to_np(p)
    assert np.isfinite(v).all() and (v.std() > 0 or name in ("constant_", "zeros_", "ones_"))
    assert p.data.data_ptr() == w0.data_ptr()  # filled in place, storage kept


def test_init_statistics_on_device(device):
    wgtorch.manual_seed(0)
    x = wgtorch.empty(200, 100, device=device)
    v = to_np(nn.init.kaiming_uniform_(x, a=math.sqrt(5)))
    bound = 1 / math.sqrt(100)
    assert np.abs(v).max() <= bound and abs(v.std() - bound / math.sqrt(3)) < 0.05 * bound
    v = to_np(nn.init.normal_(x, 1.0, 0.5))
    assert abs(v.mean() - 1.0) < 0.01 and abs(v.std() - 0.5) < 0.01
    v = to_np(nn.init.trunc_normal_(x, std=0.02))  # timm's / ViT's default
    assert np.abs(v).max() <= 2.0 and abs(v.std() - 0.02) < 0.002
    v = to_np(nn.init.trunc_normal_(x, mean=0.0, std=1.0, a=0.5, b=0.6))  # the rejection-by-density branch
    assert v.min() >= 0.5 and v.max() <= 0.6 and 0.54 < v.mean() < 0.555
    q = to_np(nn.init.orthogonal_(wgtorch.empty(6, 10, device=device)))
    np.testing.assert_allclose(q @ q.T, np.eye(6), atol=1e-5)
    s = to_np(nn.init.sparse_(wgtorch.empty(10, 4, device=device), 0.3))
    assert ((s == 0).sum(0) >= 3).all()


def test_calculate_gain_matches_torch(oracle):
    for args in [("linear",), ("conv2d",), ("sigmoid",), ("tanh",), ("relu",), ("leaky_relu",), ("leaky_relu", 0.2),
                 ("leaky_relu", 3), ("selu",)]:
        assert nn.init.calculate_gain(*args) == oracle.nn.init.calculate_gain(*args)
    for args in [("swish",), ("leaky_relu", True), ("leaky_relu", "x")]:
        with pytest.raises(ValueError) as et:
            oracle.nn.init.calculate_gain(*args)
        with pytest.raises(ValueError) as ew:
            nn.init.calculate_gain(*args)
        assert str(ew.value) == str(et.value)


def test_fans_and_errors_match_torch(oracle):
    for shape in [(3, 4), (8, 2, 3, 3), (5, 1, 7)]:
        assert nn.init._calculate_fan_in_and_fan_out(wgtorch.empty(shape)) == \
            oracle.nn.init._calculate_fan_in_and_fan_out(oracle.empty(shape))
    cases = [("_calculate_fan_in_and_fan_out", (4,), ()), ("kaiming_uniform_", (3, 3), (0, "fan_middle")),
             ("eye_", (3,), ()), ("dirac_", (3, 3), ()), ("dirac_", (3, 2, 2), (2,)), ("orthogonal_", (4,), ()),
             ("xavier_uniform_", (4,), ()), ("sparse_", (2, 2, 2), (0.1,))]
    for name, shape, args in cases:
        with pytest.raises(ValueError) as et:
            getattr(oracle.nn.init, name)(oracle.empty(shape), *args)
        with pytest.raises(ValueError) as ew:
            getattr(nn.init, name)(wgtorch.empty(shape), *args)
        assert str(ew.value) == str(et.value), name


def test_zero_element_tensors_warn_like_torch():
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        nn.init.kaiming_uniform_(wgtorch.empty(0, 3))
    with pytest.warns(UserWarning, match="mean is more than 2 std"):
        nn.init.trunc_normal_(wgtorch.empty(3), mean=10.0)
