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

# Devices every op test runs on. The wgpu backend adds itself here when it lands.
DEVICES = ["cpu"]

try:  # real PyTorch, as an explicit test oracle only
    import torch as _oracle_torch
    if _oracle_torch is wgtorch:  # the alias is installed: no oracle
        _oracle_torch = None
except ImportError:
    _oracle_torch = None


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


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
