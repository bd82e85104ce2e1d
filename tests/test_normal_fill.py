"""The exactly rounded fused multiply-adds behind the cpu normals, against exact rational arithmetic."""
from fractions import Fraction

import numpy as np
from hypothesis import given, strategies as st

from wgtorch._normal_fill import fma32, fma64

f32 = st.floats(width=32, allow_nan=False, allow_infinity=False, min_value=-2.0 ** 60, max_value=2.0 ** 60)
f64 = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e150, max_value=1e150)


def _exact(a, b, c, dtype):
    v = Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))
    if dtype == np.float64:
        return np.float64(float(v))  # Fraction -> float rounds correctly
    # nearest float32 (ties to even), from the exact value: compare with both neighbours of a guess
    g = np.float32(float(v))
    cands = [np.nextafter(g, np.float32(-np.inf)), g, np.nextafter(g, np.float32(np.inf))]
    best = min(cands, key=lambda x: (abs(Fraction(float(x)) - v), int(np.array(x).view(np.uint32)) & 1))
    return np.float32(best)


@given(f32, f32, f32)
def test_fma32_rounds_once(a, b, c):
    a, b, c = np.float32(a), np.float32(b), np.float32(c)
    want = _exact(a, b, c, np.float32)
    if np.isfinite(want):
        assert fma32(np.array([a]), np.array([b]), c)[0] == want


def test_fma32_where_two_roundings_differ():
    """Sums whose float64 rounding lands halfway between two floats: one rounding is not two."""
    a = np.float32(1 + 2.0 ** -23)               # (1 + 2**-23)**2 = 1 + 2**-22 + 2**-46
    c = np.array([2.0 ** -24, -2.0 ** -24, 2.0 ** -24 + 2.0 ** -47], np.float32)
    got = fma32(np.full(3, a), np.full(3, a), c)
    for g, cc in zip(got, c):
        assert g == _exact(a, a, cc, np.float32)


@given(f64, f64, f64)
def test_fma64_rounds_once(a, b, c):
    want = _exact(a, b, c, np.float64)
    if np.isfinite(want) and abs(a * b) < 1e300:
        assert fma64(np.array([a]), np.array([b]), np.array([c]))[0] == want


def test_fma64_near_halfway():
    rng = np.random.default_rng(0)
    a = rng.random(2000) + 1
    b = rng.random(2000) + 1
    c = -(a * b)  # cancellation: the exact residual of the product
    c[::2] += np.spacing(c[::2]) / 2
    got = fma64(a, b, c)
    for i in range(0, 2000, 97):
        assert got[i] == _exact(a[i], b[i], c[i], np.float64)
