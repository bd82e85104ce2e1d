"""The layers (forward, gradients, printing, default initialisation), an MLP end to
end against torch with the same weights, and nn.utils, on both devices."""
import math

import numpy as np
import pytest
from conftest import assert_close, to_np

import wgtorch
import wgtorch.nn as nn

RTOL = {"cpu": 1e-5, "wgpu": 1e-4}


def _pair(oracle, shape, device, seed=0, scale=2.0):
    """The same random input as a wgtorch tensor on device (requiring grad) and a torch tensor."""
    a = (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)
    return wgtorch.tensor(a, device=device, requires_grad=True), oracle.tensor(a, requires_grad=True)


def _check_layer(oracle, device, wlayer, tlayer, shape, rtol=None, atol=1e-6):
    """Forward and input gradient (through a fixed random projection of the output) match torch."""
    rtol = rtol or RTOL[device]
    x, tx = _pair(oracle, shape, device)
    y, ty = wlayer(x), tlayer(tx)
    assert tuple(y.shape) == tuple(ty.shape)
    assert_close(y, ty, rtol=rtol, atol=atol)
    g = np.random.default_rng(1).standard_normal(tuple(ty.shape)).astype(np.float32)
    (y * wgtorch.tensor(g, device=device)).sum().backward()
    (ty * oracle.tensor(g)).sum().backward()
    assert_close(x.grad, tx.grad, rtol=rtol, atol=atol)
    return x, y


ACTIVATIONS = [
    ("ReLU", {}), ("LeakyReLU", {}), ("LeakyReLU", {"negative_slope": 0.2}), ("ELU", {}), ("ELU", {"alpha": 0.5}),
    ("GELU", {}), ("GELU", {"approximate": "tanh"}), ("SiLU", {}), ("Sigmoid", {}), ("Tanh", {}),
    ("Softmax", {"dim": 1}), ("Softmax", {"dim": -1}), ("LogSoftmax", {"dim": 1}), ("Softplus", {}),
    ("Softplus", {"beta": 2.0, "threshold": 3.0}), ("Identity", {}), ("Flatten", {}),
    ("Flatten", {"start_dim": 0, "end_dim": 1}), ("Unflatten", {"dim": 1, "unflattened_size": (2, 3)}),
]


@pytest.mark.parametrize("name,kwargs", ACTIVATIONS, ids=lambda v: str(v))
def test_elementwise_and_shape_layers_match_torch(oracle, device, name, kwargs):
    w, t = getattr(nn, name)(**kwargs).to(device), getattr(oracle.nn, name)(**kwargs)
    _check_layer(oracle, device, w, t, (4, 6, 2))
    assert repr(w) == repr(t)


@pytest.mark.parametrize("name,kwargs", [("ReLU", {}), ("LeakyReLU", {"negative_slope": 0.1}), ("ELU", {}),
                                         ("SiLU", {})])
def test_inplace_activations(oracle, device, name, kwargs):
    w, t = getattr(nn, name)(inplace=True, **kwargs), getattr(oracle.nn, name)(inplace=True, **kwargs)
    assert repr(w) == repr(t)
    a = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)
    x, tx = wgtorch.tensor(a, device=device), oracle.tensor(a)
    y = w(x)
    assert y is x
    assert_close(x, t(tx), rtol=RTOL[device], atol=1e-6)


def test_layer_reprs_match_torch(oracle):
    cases = [("Linear", (3, 4), {}), ("Linear", (3, 4), {"bias": False}), ("Dropout", (), {}),
             ("Dropout", (0.25,), {"inplace": True}), ("Softmax", (), {}), ("LogSoftmax", (), {"dim": 0}),
             ("GELU", (), {"approximate": "tanh"}), ("ELU", (), {"alpha": 2.0, "inplace": True}),
             ("Unflatten", (-1, [2, 2]), {}), ("Identity", (3,), {"unused": 1})]
    for name, args, kwargs in cases:
        assert repr(getattr(nn, name)(*args, **kwargs)) == repr(getattr(oracle.nn, name)(*args, **kwargs))


def test_unflatten_argument_errors(oracle):
    for bad in (3, (2, 2.0)):
        with pytest.raises(TypeError) as et:
            oracle.nn.Unflatten(1, bad)
        with pytest.raises(TypeError) as ew:
            nn.Unflatten(1, bad)
        assert str(ew.value) == str(et.value)


# ---- Linear ------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(5,), (4, 5), (2, 3, 5)], ids=["1d", "2d", "3d"])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(oracle, device, shape, bias):
    t = oracle.nn.Linear(5, 3, bias=bias)
    w = nn.Linear(5, 3, bias=bias)
    w.load_state_dict({k: wgtorch.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    w.to(device)
    _, y = _check_layer(oracle, device, w, t, shape)
    if len(shape) == 2 and bias:
        assert y.grad_fn.name() == "AddmmBackward0"
    tw = t.weight.grad
    assert_close(w.weight.grad, tw, rtol=RTOL[device], atol=1e-5)
    if bias:
        assert_close(w.bias.grad, t.bias.grad, rtol=RTOL[device], atol=1e-5)
    else:
        assert w.bias is None and "bias" in w._parameters


@pytest.mark.parametrize("fan_in,fan_out", [(50, 30), (1, 1), (7, 2), (128, 3)])
def test_linear_default_init_is_torchs_on_cpu(oracle, fan_in, fan_out):
    oracle.manual_seed(123)
    t = oracle.nn.Linear(fan_in, fan_out)
    wgtorch.manual_seed(123)
    w = nn.Linear(fan_in, fan_out)
    # torch's stream and bounds; within 1e-7 because the cpu backend's uniform_(a, b) rounds
    # u * (b - a) + a in float32 where torch computes it in double (a 1-ulp difference)
    np.testing.assert_allclose(to_np(w.weight), t.weight.detach().numpy(), rtol=0, atol=1e-7)
    np.testing.assert_allclose(to_np(w.bias), t.bias.detach().numpy(), rtol=0, atol=1e-7)
    # and the stream continues where torch's does
    np.testing.assert_array_equal(to_np(wgtorch.rand(3)), oracle.rand(3).numpy())


def test_linear_init_on_device(device):
    wgtorch.manual_seed(7)
    a = nn.Linear(40, 20, device=device)
    wgtorch.manual_seed(7)
    b = nn.Linear(40, 20, device=device)
    assert a.weight.device.type == device and a.weight.dtype == wgtorch.float32
    np.testing.assert_array_equal(to_np(a.weight), to_np(b.weight))  # deterministic per seed
    bound = 1 / math.sqrt(40)  # kaiming_uniform_(a=sqrt(5)) gives the same bound as the bias
    wv, bv = to_np(a.weight), to_np(a.bias)
    assert np.abs(wv).max() <= bound and np.abs(bv).max() <= bound
    assert np.abs(wv).max() > 0.8 * bound and abs(wv.mean()) < 0.2 * bound  # spread over the range
    assert a.weight.is_leaf and a.weight.grad_fn is None and a.weight.requires_grad


@pytest.mark.float64
def test_linear_float64(oracle):
    t = oracle.nn.Linear(4, 2, dtype=oracle.float64)
    w = nn.Linear(4, 2, dtype=wgtorch.float64)
    assert w.weight.dtype == wgtorch.float64
    w.load_state_dict({k: wgtorch.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((3, 4))
    assert_close(w(wgtorch.tensor(x)), t(oracle.tensor(x)), rtol=1e-12, atol=1e-12)


# ---- Dropout --------------------------------------------------------------------------------------

def test_dropout_train_eval_and_scaling(device):
    x = wgtorch.ones(200, 50, device=device)
    d = nn.Dropout(0.3)
    assert d.training
    wgtorch.manual_seed(5)
    y = to_np(d(x))
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    wgtorch.manual_seed(5)
    np.testing.assert_array_equal(to_np(d(x)), y)  # the same mask for the same seed
    d.eval()
    assert d(x) is x or np.array_equal(to_np(d(x)), to_np(x))
    assert nn.Dropout(0.0)(x).sum().item() == x.numel()
    assert nn.Dropout(1.0)(x).sum().item() == 0


def test_dropout_gradient_uses_the_mask(device):
    x = wgtorch.ones(10, 10, device=device, requires_grad=True)
    y = nn.Dropout(0.5)(x)
    y.sum().backward()
    np.testing.assert_allclose(to_np(x.grad), to_np(y), rtol=1e-6)


def test_dropout_arguments(oracle):
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError) as et:
            oracle.nn.Dropout(p)
        with pytest.raises(ValueError) as ew:
            nn.Dropout(p)
        assert str(ew.value) == str(et.value)


def test_eval_turns_off_dropout_in_a_model(device):
    m = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 2)).to(device)
    x = wgtorch.rand(3, 4).to(device)
    m.eval()
    ref = m[2](m[0](x))
    assert_close(m(x), to_np(ref))
    assert not m[1].training


# ---- an MLP end to end ---------------------------------------------------------------------------

def _mlp(nn_, dtype=None):
    return nn_.Sequential(nn_.Linear(6, 8, dtype=dtype), nn_.GELU(), nn_.Linear(8, 8, dtype=dtype), nn_.Tanh(),
                          nn_.Flatten(), nn_.Linear(8, 3, dtype=dtype), nn_.LogSoftmax(dim=1))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mlp_forward_and_gradients_match_torch(oracle, device, dtype):
    t = _mlp(oracle.nn, getattr(oracle, dtype))
    w = _mlp(nn, getattr(wgtorch, dtype))
    w.load_state_dict({k: wgtorch.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    w.to(device)
    x = np.random.default_rng(3).standard_normal((5, 6)).astype(dtype)
    rtol = 1e-10 if dtype == "float64" else RTOL[device]
    out, tout = w(wgtorch.tensor(x, device=device)), t(oracle.tensor(x))
    assert_close(out, tout, rtol=rtol, atol=rtol)
    (out[:, 0] - out[:, 2] * 0.5).sum().backward()
    (tout[:, 0] - tout[:, 2] * 0.5).sum().backward()
    for (name, p), tp in zip(w.named_parameters(), t.parameters()):
        assert p.grad.device.type == device and p.grad.dtype == p.dtype, name
        assert_close(p.grad, tp.grad, rtol=rtol, atol=rtol)


# ---- nn.utils ------------------------------------------------------------------------------------

def _with_grads(lib, device=None):
    ps = []
    for i, shape in enumerate([(3, 4), (4,), (2, 2)]):
        v = np.random.default_rng(i).standard_normal(shape).astype(np.float32)
        p = lib.nn.Parameter(lib.tensor(v) if device is None else lib.tensor(v, device=device))
        p.grad = (p.detach() * (i + 1) * 3)
        ps.append(p)
    return ps


@pytest.mark.parametrize("norm_type", [2.0, 1, float("inf"), 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(oracle, device, norm_type, max_norm):
    w, t = _with_grads(wgtorch, device), _with_grads(oracle)
    total = nn.utils.clip_grad_norm_(w, max_norm, norm_type)
    ttotal = oracle.nn.utils.clip_grad_norm_(t, max_norm, norm_type)
    assert total.device.type == device and total.ndim == 0
    assert_close(total, ttotal, rtol=RTOL[device])
    for p, tp in zip(w, t):
        assert_close(p.grad, tp.grad, rtol=RTOL[device], atol=1e-6)


def test_clip_grad_norm_edge_cases(oracle):
    assert nn.utils.clip_grad_norm_([], 1.0).item() == 0.0
    p = nn.Parameter(wgtorch.ones(2))
    assert nn.utils.clip_grad_norm_(p, 1.0).item() == 0.0  # no grad: nothing to clip
    p.grad = wgtorch.tensor([float("inf"), 1.0])
    with pytest.raises(RuntimeError) as ew:
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    tp = oracle.nn.Parameter(oracle.ones(2))
    tp.grad = oracle.tensor([float("inf"), 1.0])
    with pytest.raises(RuntimeError) as et:
        oracle.nn.utils.clip_grad_norm_(tp, 1.0, error_if_nonfinite=True)
    assert str(ew.value) == str(et.value)


def test_clip_grad_value(oracle, device):
    w, t = _with_grads(wgtorch, device), _with_grads(oracle)
    assert nn.utils.clip_grad_value_(w, 2.5) is None
    oracle.nn.utils.clip_grad_value_(t, 2.5)
    for p, tp in zip(w, t):
        assert_close(p.grad, tp.grad)


def test_parameters_vector_roundtrip(oracle, device):
    m = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1)).to(device)
    t = oracle.nn.Sequential(oracle.nn.Linear(3, 2), oracle.nn.Linear(2, 1))
    t.load_state_dict({k: oracle.tensor(to_np(v)) for k, v in m.state_dict().items()})
    vec = nn.utils.parameters_to_vector(m.parameters())
    assert vec.shape == (11,) and vec.device.type == device and vec.grad_fn is not None
    assert_close(vec, oracle.nn.utils.parameters_to_vector(t.parameters()))
    new = wgtorch.arange(11, dtype=wgtorch.float32, device=device)
    nn.utils.vector_to_parameters(new, m.parameters())
    assert all(isinstance(p, nn.Parameter) for p in m.parameters())
    np.testing.assert_array_equal(to_np(m[0].weight), np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(to_np(m[1].bias), [10])
    with pytest.raises(TypeError, match="expected torch.Tensor, but got: list"):
        nn.utils.vector_to_parameters([1.0], m.parameters())


@pytest.mark.parametrize("device", ["wgpu"], indirect=True)  # needs a second device
def test_parameters_on_two_devices_are_refused(device):
    with pytest.raises(TypeError, match="different devices"):
        nn.utils.parameters_to_vector([nn.Parameter(wgtorch.ones(1)), nn.Parameter(wgtorch.ones(1, device="wgpu"))])
