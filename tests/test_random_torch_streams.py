"""cpu random streams bit for bit against torch 2.13: normals (both algorithms, every float dtype,
mean/std), the other distributions, bernoulli and dropout masks, generator state exchange, Generator
objects, fork_rng, samplers and random_split. wgpu's Philox stream: deterministic per seed."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import wgtorch
from conftest import use_generator_path
from wgtorch import random as wgrandom
from wgtorch.ops import conversion as cv

FLOATS = ["float32", "float64", "float16", "bfloat16"]
SIZES = st.sampled_from([0, 1, 2, 15, 16, 17, 31, 32, 33, 47, 100, 1001])
SEEDS = st.integers(0, 2 ** 64 - 1)
# the fixtures used with @given below only skip or return torch: nothing to reset between examples
_stateless_fixtures = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module", params=["native", "numpy"], autouse=True)
def generator_path(request):
    """Every test here runs on both paths of the cpu generator: its compiled loops and NumPy's code."""
    use_generator_path(request.param)
    yield request.param
    wgrandom.NATIVE = True


def _bits(t):
    if "bfloat16" in str(t.dtype):
        t = t.float()
    return np.ascontiguousarray(t.detach().cpu().numpy()).view(np.uint8)


def _same(ours, theirs):
    assert str(ours.dtype) == str(theirs.dtype) and tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_array_equal(_bits(ours), _bits(theirs))


def _same_stream(oracle):
    """Both generators are at the same place: the next draws agree."""
    assert wgtorch.rand(3).tolist() == oracle.rand(3).tolist()


def _both(oracle, seed, fn):
    wgtorch.manual_seed(seed)
    oracle.manual_seed(seed)
    _same(fn(wgtorch), fn(oracle))
    _same_stream(oracle)


@pytest.fixture
def avx2(oracle):
    """float32 normals from 16 on come from torch's AVX2 kernel, the one reproduced (machines
    without AVX2 run a scalar glibc path wgtorch does not reproduce)."""
    if oracle.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        pytest.skip("torch runs its non-AVX2 normal kernel here")
    return oracle


def _method(t, name, *args):
    """Tensor methods (geometric_, log_normal_, cauchy_) through the op where wgtorch lacks the binding."""
    if hasattr(t, name):
        return getattr(t, name)(*args)
    return getattr(cv, name)(t, *args)


@_stateless_fixtures
@given(seed=SEEDS, n=SIZES, dt=st.sampled_from(FLOATS))
def test_randn_is_torchs(avx2, seed, n, dt):
    _both(avx2, seed, lambda L: L.randn(n, dtype=getattr(L, dt)))


@_stateless_fixtures
@given(seed=SEEDS, n=SIZES, dt=st.sampled_from(FLOATS),
       mean=st.sampled_from([0.0, 0.3, -2.5, 1e3]), std=st.sampled_from([1.0, 0.02, 2.7, 1e-3]))
def test_normal_mean_std_is_torchs(avx2, seed, n, dt, mean, std):
    _both(avx2, seed, lambda L: L.empty(n, dtype=getattr(L, dt)).normal_(mean, std))
    _both(avx2, seed, lambda L: L.normal(mean, std, size=(n,), dtype=getattr(L, dt)))


@_stateless_fixtures
@given(seed=SEEDS, n=SIZES, dt=st.sampled_from(["float32", "float64"]))
def test_normal_tensor_overloads_are_torchs(avx2, seed, n, dt):
    m, s = np.linspace(-1, 1, n), np.linspace(0.1, 2, n)

    def t(L, v):
        return L.tensor(v, dtype=getattr(L, dt))
    _both(avx2, seed, lambda L: L.normal(t(L, m), 0.37))
    _both(avx2, seed, lambda L: L.normal(0.3, t(L, s)))
    _both(avx2, seed, lambda L: L.normal(t(L, m), t(L, s)))
    _both(avx2, seed, lambda L: L.normal(t(L, [0.5]).reshape(1, 1), t(L, s), generator=L.Generator().manual_seed(2)))


@_stateless_fixtures
@given(seed=SEEDS, rows=st.integers(0, 9), dt=st.sampled_from(FLOATS + ["int64", "int16", "uint8"]))
def test_in_place_fills_of_views_are_torchs(oracle, seed, rows, dt):
    """Every in-place fill visits a view's elements in memory order, as torch's kernels do."""
    def fill(name, *args):
        return lambda L: getattr(L.empty(rows, 5, dtype=getattr(L, dt)).t(), name)(*args)
    _both(oracle, seed, fill("random_", 0, 100))
    _both(oracle, seed, fill("random_"))
    _both(oracle, seed, fill("bernoulli_", 0.3))
    if dt in FLOATS:
        _both(oracle, seed, fill("uniform_", -1.0, 2.0))
        _both(oracle, seed, fill("exponential_", 2.0))


@_stateless_fixtures
@given(seed=SEEDS, rows=st.integers(0, 9), dt=st.sampled_from(FLOATS))
def test_normal_non_contiguous_is_torchs(avx2, seed, rows, dt):
    """Non-contiguous tensors take the per-element path, in memory order."""
    _both(avx2, seed, lambda L: L.empty(rows, 5, dtype=getattr(L, dt)).t().normal_(0.5, 2.0))
    _both(avx2, seed, lambda L: L.empty(rows, 6, dtype=getattr(L, dt))[:, ::2].normal_())


@_stateless_fixtures
@given(seed=SEEDS, sizes=st.lists(SIZES, min_size=1, max_size=5), dts=st.lists(st.sampled_from(FLOATS), min_size=5,
                                                                                max_size=5))
def test_call_sequences_are_torchs(avx2, seed, sizes, dts):
    """The cached Box-Muller sine and the block draws interleave as torch's."""
    def run(L):
        out = []
        for n, dt in zip(sizes, dts):
            out += [L.randn(n, dtype=getattr(L, dt)).double(), L.rand(n % 3).double(),
                    L.randn(1, dtype=L.float64)]
        return L.cat(out)
    _both(avx2, seed, run)


def test_randn_large_is_torchs(avx2):
    """Many blocks (the rare float64 ties of the fused multiply-add included, if any)."""
    for seed in (0, 123):
        _both(avx2, seed, lambda L: L.randn(200_003))
        _both(avx2, seed, lambda L: L.empty(70_001).normal_(0.1, 0.02))


def test_randn_like_and_generators_are_torchs(avx2):
    def run(L):
        g = L.Generator().manual_seed(7)
        x = L.randn(40, generator=g)
        return L.cat([x, L.randn_like(x), L.randn(3, 20, generator=g).reshape(-1), L.rand_like(x)])
    _both(avx2, 1, run)


@_stateless_fixtures
@given(seed=SEEDS, n=SIZES, dt=st.sampled_from(FLOATS))
def test_other_distributions_are_torchs(oracle, seed, n, dt):
    for name, args in (("exponential_", (1.7,)), ("geometric_", (0.3,)), ("log_normal_", (0.5, 1.5)),
                       ("cauchy_", (0.5, 1.5)), ("uniform_", (-2.0, 3.0))):
        _both(oracle, seed, lambda L, name=name, args=args: _method(L.empty(n, dtype=getattr(L, dt)), name, *args))


@pytest.mark.parametrize("dt", ["int64", "int32", "int16", "uint8"])
def test_geometric_integers_is_torchs(oracle, dt):
    for seed in range(5):
        _both(oracle, seed, lambda L: _method(L.empty(37, dtype=getattr(L, dt)), "geometric_", 0.2))


@pytest.fixture
def mt_bernoulli(oracle):
    """torch 2.13's cpu bernoulli is a Mersenne Twister threshold on every vendor: its wheel links no
    MKL random-number code (no VSL symbols), so the Intel-only MKL path of older releases is gone."""
    if tuple(int(v) for v in oracle.__version__.split(".")[:2]) < (2, 13):
        pytest.skip("older torch: Intel CPUs may take an MKL bernoulli path")
    return oracle


@_stateless_fixtures
@given(seed=SEEDS, n=SIZES, dt=st.sampled_from(FLOATS + ["int64", "uint8", "bool"]), p=st.floats(0, 1))
def test_bernoulli_scalar_is_torchs(mt_bernoulli, seed, n, dt, p):
    _both(mt_bernoulli, seed, lambda L: L.empty(n, dtype=getattr(L, dt)).bernoulli_(p))
    _both(mt_bernoulli, seed, lambda L: L.bernoulli(L.zeros(n, dtype=getattr(L, dt)), p))


@_stateless_fixtures
@given(seed=SEEDS, n=SIZES, pdt=st.sampled_from(["float32", "float64"]))
def test_bernoulli_tensor_is_torchs(mt_bernoulli, seed, n, pdt):
    p = np.linspace(0, 1, n)
    _both(mt_bernoulli, seed, lambda L: L.bernoulli(L.tensor(p, dtype=getattr(L, pdt))))
    _both(mt_bernoulli, seed, lambda L: L.empty(n, 3).bernoulli_(L.tensor([0.2, 0.5, 0.9], dtype=getattr(L, pdt))))
    _both(mt_bernoulli, seed, lambda L: L.empty(3, n).t().bernoulli_(0.25))


@_stateless_fixtures
@given(seed=SEEDS, n=SIZES, p=st.sampled_from([0.1, 0.5, 0.8]))
def test_dropout_masks_are_torchs(mt_bernoulli, seed, n, p):
    _both(mt_bernoulli, seed, lambda L: L.nn.functional.dropout(L.ones(n, 3), p))
    _both(mt_bernoulli, seed, lambda L: L.nn.Dropout(p)(L.ones(2, n)))


# ---- state ------------------------------------------------------------------------------------------
@_stateless_fixtures
@given(seed=SEEDS, draws=st.lists(st.sampled_from(["rand", "randn1", "randn64", "randn40", "perm"]), max_size=6))
def test_rng_state_is_torchs_and_exchangeable(oracle, seed, draws):
    def run(L):
        L.manual_seed(seed)
        for d in draws:
            {"rand": lambda: L.rand(700), "randn1": lambda: L.randn(1, dtype=L.float64),
             "randn64": lambda: L.randn(5, dtype=L.float64), "randn40": lambda: L.randn(40),
             "perm": lambda: L.randperm(9)}[d]()
        return L.get_rng_state()
    ours, theirs = run(wgtorch), run(oracle)
    assert tuple(ours.shape) == (5056,) and str(ours.dtype) == "torch.uint8"
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    wgtorch.set_rng_state(wgtorch.tensor(theirs.numpy()))  # and across: each continues the other's stream
    oracle.set_rng_state(oracle.tensor(ours.numpy()))
    _same(wgtorch.randn(3, dtype=wgtorch.float64), oracle.randn(3, dtype=oracle.float64))
    _same_stream(oracle)


def test_generator_objects_are_torchs(oracle):
    for seed in (0, 3, 2 ** 63 + 5):
        g, h = wgtorch.Generator().manual_seed(seed), oracle.Generator().manual_seed(seed)
        assert g.initial_seed() == h.initial_seed()
        np.testing.assert_array_equal(g.get_state().numpy(), h.get_state().numpy())
        _same(wgtorch.randn(50, generator=g), oracle.randn(50, generator=h))
        _same(wgtorch.randperm(20, generator=g), oracle.randperm(20, generator=h))
        _same(wgtorch.randint(0, 9, (5,), generator=g), oracle.randint(0, 9, (5,), generator=h))
        _same(wgtorch.empty(20).exponential_(generator=g), oracle.empty(20).exponential_(generator=h))
        _same(wgtorch.empty(20).bernoulli_(0.3, generator=g), oracle.empty(20).bernoulli_(0.3, generator=h))
        _same(wgtorch.multinomial(wgtorch.ones(6), 3, generator=g), oracle.multinomial(oracle.ones(6), 3, generator=h))
        np.testing.assert_array_equal(g.get_state().numpy(), h.get_state().numpy())


def test_set_rng_state_errors():
    with pytest.raises(RuntimeError):
        wgtorch.set_rng_state(wgtorch.zeros(10, dtype=wgtorch.uint8))
    with pytest.raises((RuntimeError, TypeError)):
        wgtorch.set_rng_state(wgtorch.zeros(5056))


def test_fork_rng_restores_both_streams(device):
    wgtorch.manual_seed(3)
    before = wgtorch.random.default_generator.get_state().numpy()
    with wgtorch.random.fork_rng():
        wgtorch.rand(5)
        wgtorch.rand(5, device=device)
    np.testing.assert_array_equal(wgtorch.random.default_generator.get_state().numpy(), before)
    a = wgtorch.rand(4, device=device).tolist()
    wgtorch.manual_seed(3)
    assert wgtorch.rand(4, device=device).tolist() == a
    with wgtorch.random.fork_rng(enabled=False):
        wgtorch.rand(1)


def test_wgpu_stream_is_deterministic_per_seed(device):
    wgtorch.manual_seed(11)
    a = wgtorch.randn(100, device=device).tolist()
    wgtorch.manual_seed(11)
    assert wgtorch.randn(100, device=device).tolist() == a
    wgtorch.manual_seed(12)
    assert wgtorch.randn(100, device=device).tolist() != a


def test_manual_seed_wgpu_seeds_only_the_device_stream():
    wgtorch.manual_seed(5)
    cpu_state = wgtorch.get_rng_state().numpy()
    wgtorch.random.manual_seed_wgpu(9)
    np.testing.assert_array_equal(wgtorch.get_rng_state().numpy(), cpu_state)
    g = wgtorch.random.default_generator
    assert (g.philox_seed, g.philox_offset) == (9, 0)


# ---- data ---------------------------------------------------------------------------------------------
def _orders(L, seed):
    from importlib import import_module
    data = import_module(L.__name__ + ".utils.data")
    L.manual_seed(seed)
    ds = data.TensorDataset(L.arange(23))
    out = [[b[0].tolist() for b in data.DataLoader(ds, batch_size=4, shuffle=True)] for _ in range(2)]
    out.append(list(data.RandomSampler(range(10))))
    out.append(list(data.RandomSampler(range(10), replacement=True, num_samples=45)))
    out.append(list(data.RandomSampler(range(7), num_samples=16)))
    out.append(list(data.SubsetRandomSampler([3, 5, 8, 13, 21])))
    out.append(list(data.WeightedRandomSampler([0.1, 0.9, 0.4, 0.6], 10)))
    out.append([list(s) for s in data.random_split(range(10), [3, 7])])
    out.append([list(s) for s in data.random_split(range(11), [0.5, 0.3, 0.2])])
    g = L.Generator().manual_seed(42)
    out.append([list(s) for s in data.random_split(range(9), [4, 5], generator=g)])
    out.append([b[0].tolist() for b in data.DataLoader(ds, batch_size=5, shuffle=True, generator=g)])
    out.append(L.rand(2).tolist())
    return out


@pytest.mark.parametrize("seed", [0, 123, 2 ** 40])
def test_shuffles_and_splits_are_torchs(oracle, seed):
    assert _orders(wgtorch, seed) == _orders(oracle, seed)


# ---- initialisation ------------------------------------------------------------------------------------
INITS = [("uniform_", (-0.3, 0.7)), ("normal_", (0.5, 2.0)), ("normal_", (0.0, 0.02)), ("xavier_uniform_", (2.0,)),
         ("xavier_normal_", ()), ("kaiming_uniform_", (math.sqrt(5),)), ("kaiming_normal_", (0, "fan_out", "relu")),
         ("trunc_normal_", ()), ("trunc_normal_", (0.0, 1.0, -0.1, 0.2)), ("sparse_", (0.3,))]


@pytest.mark.parametrize("shape", [(5, 3), (40, 20), (7, 3, 3)])
@pytest.mark.parametrize("name, args", INITS, ids=str)
def test_init_is_torchs_bitwise(avx2, shape, name, args):
    """(orthogonal_ is not here: torch's QR is MKL's float32 LAPACK, NumPy's another: last bits differ.)"""
    if name == "sparse_" and len(shape) != 2:
        return
    _both(avx2, 3, lambda L: getattr(L.nn.init, name)(L.empty(shape), *args))
    _both(avx2, 3, lambda L: getattr(L.nn.init, name)(L.empty(shape), *args, generator=L.Generator().manual_seed(8)))


LAYERS = [lambda L: L.nn.Linear(20, 7), lambda L: L.nn.Bilinear(6, 4, 3), lambda L: L.nn.Conv1d(3, 5, 3), lambda L: L.nn.Conv2d(4, 8, 3, groups=2),
          lambda L: L.nn.ConvTranspose2d(3, 4, 3), lambda L: L.nn.Embedding(30, 8, padding_idx=2),
          lambda L: L.nn.LayerNorm(6), lambda L: L.nn.BatchNorm1d(6), lambda L: L.nn.RNN(5, 7, num_layers=2),
          lambda L: L.nn.LSTM(5, 7, bidirectional=True), lambda L: L.nn.GRU(5, 7, batch_first=True),
          lambda L: L.nn.LSTM(5, 8, proj_size=3), lambda L: L.nn.MultiheadAttention(8, 2, kdim=5, vdim=6),
          lambda L: L.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16),
          lambda L: L.nn.TransformerDecoderLayer(8, 2, dim_feedforward=16),
          lambda L: L.nn.Transformer(8, 2, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=16)]


@pytest.mark.parametrize("build", LAYERS, ids=range(len(LAYERS)))
def test_default_inits_are_torchs_bitwise(avx2, build):
    for seed in (0, 123):
        wgtorch.manual_seed(seed)
        avx2.manual_seed(seed)
        ours, theirs = dict(build(wgtorch).named_parameters()), dict(build(avx2).named_parameters())
        assert list(ours) == list(theirs)
        for k, v in ours.items():
            _same(v, theirs[k])
        _same_stream(avx2)


@pytest.mark.parametrize("call", [lambda t: t.long().exponential_(), lambda t: _method(t.long(), "log_normal_"),
                                  lambda t: _method(t.long(), "cauchy_"), lambda t: _method(t.bool(), "geometric_", 0.3),
                                  lambda t: _method(t, "geometric_", 1.5), lambda t: t.exponential_(-1.0),
                                  lambda t: t.bernoulli_(1.5), lambda t: _method(t, "cauchy_", 0.0, -1.0),
                                  lambda t: _method(t, "log_normal_", 0.0, -1.0), lambda t: t.normal_(0.0, -1.0)])
def test_distribution_errors_are_torchs(oracle, call):
    with pytest.raises(Exception) as theirs:
        call(oracle.empty(3))
    with pytest.raises(type(theirs.value)):
        call(wgtorch.empty(3))
