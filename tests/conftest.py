"""Shared test fixtures: the device list, hypothesis profiles, the torch oracle."""
import os

import numpy as np
import pytest
from hypothesis import settings

import wgtorch

# "ci" is the default: few examples, no deadline (lavapipe and 2 cores are slow).
settings.register_profile("ci", max_examples=25, deadline=None)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Devices every op test runs on. CI sets WGTORCH_REQUIRE_GPU=1: a missing adapter
# fails the wgpu tests there instead of skipping them.
DEVICES = ["cpu", "wgpu"]

try:  # real PyTorch, as an explicit test oracle only
    import torch as _oracle_torch
    if _oracle_torch is wgtorch:  # the alias is installed: no oracle
        _oracle_torch = None
except ImportError:
    _oracle_torch = None


@pytest.fixture(params=DEVICES)
def device(request):
    if request.param == "wgpu" and not wgtorch.wgpu.is_available():
        msg = ("no WebGPU adapter: install a Vulkan driver (Linux: apt-get install mesa-vulkan-drivers "
               "libvulkan1) to run the wgpu tests")
        if os.environ.get("WGTORCH_REQUIRE_GPU") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return request.param


def use_generator_path(path):
    """Makes the cpu generator run `path`: "native" (its compiled loops; CI sets
    WGTORCH_REQUIRE_NATIVE=1, so a machine that cannot build them fails there) or "numpy"."""
    from wgtorch import _native, random
    if path == "native" and _native.library() is None:
        msg = "the compiled random-number loops could not be built (no C compiler, or WGTORCH_NATIVE=0)"
        if os.environ.get("WGTORCH_REQUIRE_NATIVE") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    random.NATIVE = path == "native"


# float64 does not exist on wgpu (a TypeError, as PyTorch's MPS; test_wgpu_device
# checks that): float64 cases of device-parametrised tests, and tests marked
# @pytest.mark.float64 (they exercise float64 throughout), are not generated there.
_FLOAT64 = ("float64", "double")


def _is_float64(v):
    if isinstance(v, (list, tuple)):
        return any(_is_float64(x) for x in v)
    if isinstance(v, str):  # dtype names, and case names such as "zero_d_f64"
        return v in _FLOAT64 or "f64" in v.split("_")
    return v is wgtorch.float64 or v is np.float64 or (isinstance(v, np.dtype) and v == np.float64)


def pytest_collection_modifyitems(config, items):
    keep, dropped = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        float64 = item.get_closest_marker("float64") is not None or \
            any(_is_float64(v) for k, v in params.items() if k != "device")
        if params.get("device") == "wgpu" and float64:
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def dtypes_on(device, names):
    """The dtype names of `names` that `device` has."""
    return [n for n in names if device == "cpu" or n not in _FLOAT64]


@pytest.fixture
def oracle():
    """Real torch, or skip the torch comparison (NumPy references still run)."""
    if _oracle_torch is None:
        pytest.skip("torch is not installed")
    return _oracle_torch


def to_np(t):
    """A wgtorch tensor as a NumPy array (detached, on the host)."""
    return t.detach().cpu().numpy()


def assert_close(actual, expected, rtol=1e-5, atol=1e-6, check_dtype=True):
    """Compare a wgtorch tensor with a NumPy array / torch tensor / number."""
    if hasattr(expected, "detach") and not isinstance(expected, wgtorch.Tensor):
        expected = expected.detach().numpy()
    a = to_np(actual) if isinstance(actual, wgtorch.Tensor) else np.asarray(actual)
    e = np.asarray(expected)
    assert a.shape == e.shape, f"shape {a.shape} != {e.shape}"
    if check_dtype and isinstance(actual, wgtorch.Tensor) and hasattr(expected, "dtype") and not isinstance(expected, np.ndarray):
        pass
    np.testing.assert_allclose(a.astype(np.float64) if a.dtype != bool else a,
                               e.astype(np.float64) if e.dtype != bool else e,
                               rtol=rtol, atol=atol, equal_nan=True)


def assert_close_at(got, want, dtype, device, rtol=None, atol=None):
    """assert_close at dtype's precision (float64: 1e-10; float32: rtol 1e-4, atol 1e-5 on the cpu and
    1e-4 on wgpu), atol scaled by want's largest finite magnitude."""
    want = want.detach().numpy() if hasattr(want, "detach") else np.asarray(want)
    if dtype == "float64":
        r, a = 1e-10, 1e-10
    else:
        r, a = (1e-4, 1e-5) if device == "cpu" else (1e-4, 1e-4)
    finite = np.abs(want[np.isfinite(want)])
    scale = max(1.0, float(finite.max())) if finite.size else 1.0
    assert_close(got, want, rtol=rtol or r, atol=(atol or a) * scale)


def assert_matches_torch(oracle, device, fn, arrays, tol=(1e-6, 1e-7), grad_tol=(1e-5, 1e-6), seed=0):
    """fn(lib, *tensors) with wgtorch (on device) and with torch, from the same arrays: the same shape and
    values (rtol, atol = tol), and the same gradient of every input through one random projection of
    the output (grad_tol)."""
    ours = [wgtorch.tensor(a, device=device, requires_grad=True) for a in arrays]
    theirs = [oracle.tensor(a, requires_grad=True) for a in arrays]
    y, ty = fn(wgtorch, *ours), fn(oracle, *theirs)
    assert tuple(y.shape) == tuple(ty.shape)
    assert_close(y, ty.detach().numpy(), rtol=tol[0], atol=tol[1])
    g = np.random.default_rng(seed).standard_normal(tuple(ty.shape)).astype(np.float32)
    (y * wgtorch.tensor(g, device=device)).sum().backward()
    (ty * oracle.tensor(g)).sum().backward()
    for w, t in zip(ours, theirs):
        assert_close(w.grad, t.grad.numpy(), rtol=grad_tol[0], atol=grad_tol[1])
