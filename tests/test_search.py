"""searchsorted and bucketize against torch on both devices: random sorted boundaries with repeats,
NaN and infinities, both sides, batched boundaries, sorter, int32 results, scalars, errors."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import wgtorch

fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def _same(got, want):
    assert str(got.dtype) == str(want.dtype) and tuple(got.shape) == tuple(want.shape)
    np.testing.assert_array_equal(got.cpu().numpy(), want.numpy())


@fixture_ok
@given(m=st.integers(0, 40), n=st.integers(0, 30), batch=st.sampled_from([(), (3,)]), seed=st.integers(0, 2 ** 16),
       right=st.booleans(), specials=st.booleans())
def test_searchsorted_matches_torch(oracle, device, m, n, batch, seed, right, specials):
    rng = np.random.default_rng(seed)
    seq = np.sort(rng.integers(-5, 6, batch + (m,)).astype(np.float32) * 0.5, axis=-1)  # repeats
    v = rng.integers(-7, 8, batch + (n,)).astype(np.float32) * 0.5
    if specials and n >= 3:
        v[..., :3] = (np.nan, np.inf, -np.inf)
    if specials and m >= 1:
        seq[..., -1] = np.nan  # torch's order puts NaN last
    for dt in ("float32", "int64") if not specials else ("float32",):
        s, x = seq.astype(dt), v.astype(dt)
        got = wgtorch.searchsorted(wgtorch.tensor(s, device=device), wgtorch.tensor(x, device=device), right=right)
        _same(got, oracle.searchsorted(oracle.tensor(s), oracle.tensor(x), right=right))
        if not batch:
            got = wgtorch.bucketize(wgtorch.tensor(x, device=device), wgtorch.tensor(s, device=device), right=right,
                                    out_int32=True)
            _same(got, oracle.bucketize(oracle.tensor(x), oracle.tensor(s), right=right, out_int32=True))


def test_searchsorted_options_and_errors_are_torchs(oracle, device):
    T = lambda a: wgtorch.tensor(a, device=device)  # noqa: E731
    seq, v = [1.0, 3, 5, 7], [[0.0, 3], [7, 9]]
    _same(wgtorch.searchsorted(T(seq), T(v), side="right"), oracle.searchsorted(oracle.tensor(seq), oracle.tensor(v),
                                                                                   side="right"))
    _same(wgtorch.searchsorted(T(seq), 4.0), oracle.searchsorted(oracle.tensor(seq), 4.0))
    _same(wgtorch.bucketize(3, T(seq)), oracle.bucketize(3, oracle.tensor(seq)))
    unsorted, sorter = [5.0, 1, 3, 1], [1, 3, 2, 0]
    _same(wgtorch.searchsorted(T(unsorted), T([2.0, 5]), sorter=T(sorter)),
          oracle.searchsorted(oracle.tensor(unsorted), oracle.tensor([2.0, 5]), sorter=oracle.tensor(sorter)))
    out = wgtorch.empty(2, 2, dtype=wgtorch.int64, device=device)
    assert wgtorch.searchsorted(T(seq), T(v), out=out) is out
    _same(out, oracle.searchsorted(oracle.tensor(seq), oracle.tensor(v)))
    bad = [lambda L, t: L.searchsorted(t([[1.0, 2, 3], [4, 5, 6]]), t([[1.0], [2], [3]])),
           lambda L, t: L.searchsorted(t(seq), t(v), side="left", right=True),
           lambda L, t: L.searchsorted(t(seq), t(v), side="middle"),
           lambda L, t: L.searchsorted(t(1.0), t(v)),
           lambda L, t: L.bucketize(t(v), t([[1.0, 2], [3, 4]]))]
    for call in bad:
        with pytest.raises(RuntimeError) as want:
            call(oracle, oracle.tensor)
        with pytest.raises(RuntimeError) as got:
            call(wgtorch, T)
        assert str(got.value) == str(want.value)
