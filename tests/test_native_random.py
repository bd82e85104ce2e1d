"""The cpu generator's compiled loops (wgtorch/_native): bit for bit the NumPy code they stand in
for (which tests/test_random_torch_streams.py checks against torch on both paths), and how they
are built, cached and turned off."""
import os
import subprocess
import sys

import numpy as np
import pytest

import wgtorch
from conftest import use_generator_path
from wgtorch import _native, _normal_fill, random as wgrandom


@pytest.fixture
def lib():
    use_generator_path("native")
    return _native.library()


@pytest.mark.parametrize("mean, std", [(0.0, 1.0), (-2.5, 0.3)])
def test_normal_blocks_match_numpy_for_every_uniform(lib, mean, std):
    """All 2**24 float uniforms in the log's lanes and, in another order, in the sine's lanes."""
    u = np.arange(1 << 24, dtype=np.uint32).astype(np.float32) * np.float32(2 ** -24)
    lanes = np.empty((1 << 21, 16), np.float32)
    lanes[:, :8] = u.reshape(-1, 8)
    lanes[:, 8:] = np.random.default_rng(7).permutation(u).reshape(-1, 8)
    ours = lanes.copy()
    lib.normal_blocks(ours.ctypes.data, len(ours), mean, std)
    want = _normal_fill.normal_blocks(lanes, np.float32(mean), np.float32(std))
    np.testing.assert_array_equal(ours.view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize("sizes", [[1, 623, 624, 625, 5000], [100_000, 3, 1 << 20]])
def test_twister_continues_numpys_stream(lib, sizes):
    """Words and float uniforms drawn in C, NumPy's draws in between: one stream, as NumPy alone draws it."""
    g, ref = wgrandom.Generator().manual_seed(99), np.random.MT19937()
    ref._legacy_seeding(99)
    ref_words = np.random.Generator(ref)
    for n in sizes:
        np.testing.assert_array_equal(g.words(n), ref_words.integers(0, 1 << 32, size=n, dtype=np.uint32))
        want = (ref_words.integers(0, 1 << 32, size=n, dtype=np.uint32) & 0xFFFFFF).astype(np.float32) * 2.0 ** -24
        np.testing.assert_array_equal(g.uniform(n, np.float32), want.astype(np.float32))
        np.testing.assert_array_equal(g._words.integers(0, 1 << 32, size=3, dtype=np.uint32),
                                      ref_words.integers(0, 1 << 32, size=3, dtype=np.uint32))


def test_both_paths_give_the_same_tensors(lib):
    out = {}
    for path in ("native", "numpy"):
        use_generator_path(path)
        wgtorch.manual_seed(5)
        out[path] = [wgtorch.randn(100_003), wgtorch.rand(70_000), wgtorch.randint(0, 1000, (40_000,)),
                     wgtorch.empty(5000, dtype=wgtorch.float16).normal_(2.0, 0.5), wgtorch.randperm(3000),
                     wgtorch.get_rng_state()]
    wgrandom.NATIVE = True
    for a, b in zip(out["native"], out["numpy"]):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def _run(code, **env):
    e = {k: v for k, v in os.environ.items() if k not in ("WGTORCH_NATIVE", "CC")}
    e.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e, timeout=300)


def test_built_once_into_the_cache_dir(lib, tmp_path):
    code = "from wgtorch import _native; print(_native.library() is not None)"
    assert _run(code, WGTORCH_CACHE_DIR=str(tmp_path)).stdout.split() == ["True"]
    built = [f for f in os.listdir(tmp_path) if f.endswith(".so")]
    assert len(built) == 1
    stamp = os.stat(tmp_path / built[0]).st_mtime_ns
    assert _run(code, WGTORCH_CACHE_DIR=str(tmp_path)).stdout.split() == ["True"]
    assert os.listdir(tmp_path) == built and os.stat(tmp_path / built[0]).st_mtime_ns == stamp  # reused


@pytest.mark.parametrize("env", [{"WGTORCH_NATIVE": "0"}, {"PATH": "", "CC": ""}], ids=["turned off", "no compiler"])
def test_without_the_loops_numpy_gives_the_same_numbers(lib, tmp_path, env):
    code = ("import wgtorch; from wgtorch import _native; wgtorch.manual_seed(3); "
            "print(_native.library() is None, wgtorch.randn(50_000).sum().item())")
    wgtorch.manual_seed(3)
    want = wgtorch.randn(50_000).sum().item()
    none, total = _run(code, WGTORCH_CACHE_DIR=str(tmp_path), **env).stdout.split()
    assert none == "True" and float(total) == want
    assert os.listdir(tmp_path) == []
