"""random_(), randint and multinomial: torch's CPU stream bit for bit on cpu, in range on every device."""
import warnings

import numpy as np
import pytest

import wgtorch

from conftest import to_np

ALL = ["int64", "int32", "int16", "int8", "uint8", "bool", "float64", "float32", "float16", "bfloat16"]
SIZES = [(), (1,), (7,), (100,), (3, 333)]


def _np(t):
    """A tensor of either library as comparable NumPy values (bfloat16 as float32)."""
    if t.dtype.is_floating_point and t.dtype.itemsize == 2 and "bfloat16" in str(t.dtype):
        t = t.float()
    return t.detach().cpu().numpy()


def _same_stream(lib_ours, lib_theirs):
    """Both generators are at the same place: the next draws agree."""
    assert lib_ours.rand(3).tolist() == lib_theirs.rand(3).tolist()


def _draws(lib, dt, size, args, kwargs=None, seed=0):
    lib.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = lib.empty(size, dtype=getattr(lib, dt)).random_(*args, **(kwargs or {}))
    return t


@pytest.mark.parametrize("dt", ALL)
def test_random_no_bounds_is_torchs(oracle, dt):
    for seed in range(25):
        for size in SIZES:
            ours, theirs = _draws(wgtorch, dt, size, (), seed=seed), _draws(oracle, dt, size, (), seed=seed)
            assert str(ours.dtype) == str(theirs.dtype)
            np.testing.assert_array_equal(_np(ours), _np(theirs), err_msg=f"{dt} seed {seed} size {size}")
            _same_stream(wgtorch, oracle)


def test_random_no_bounds_examples(oracle):
    for dt, want in (("int64", 900450186894289455), ("int32", 209652396)):
        wgtorch.manual_seed(0)
        assert wgtorch.empty((), dtype=getattr(wgtorch, dt)).random_().item() == want
        oracle.manual_seed(0)
        assert oracle.empty((), dtype=getattr(oracle, dt)).random_().item() == want


def _bounds(dt):
    """(args, kwargs) of random_ that torch accepts for dtype dt."""
    cases = [((2,), {}), ((), {"to": 2}), ((0, 2), {}), ((0, None), {})]
    if dt == "bool":
        return cases
    cases += [((10,), {}), ((3, 100), {}), ((3, None), {}), ((3,), {"to": 100}), ((), {"from": 3, "to": 100})]
    if dt != "uint8":
        cases += [((-5, 5), {}), ((-100, None), {})]
    if dt in ("int64", "float64", "float32", "bfloat16"):  # 64 random bits from a range of 2**32 on
        cases += [((0, 2 ** 32), {}), ((0, 2 ** 33), {}), ((-2 ** 40, 2 ** 40), {}), ((-2 ** 63, None), {}),
                  ((2 ** 32 - 1,), {}), ((5, 2 ** 60), {})]
    if dt in ("int64", "int32", "float32", "float64"):
        cases += [((-2 ** 31, 2 ** 31), {}), ((2 ** 31 - 1,), {}), ((-2 ** 31, None), {})]
    if dt in ("float32", "bfloat16"):  # beyond the exactly representable integers
        cases += [((0, 2 ** 30 + 3), {}), ((-3000, 3001), {}), ((-2 ** 40 - 5, 2 ** 28 + 7), {})]
    if dt in ("float32", "float16"):
        cases += [((-3000, 3001), {}), ((1000, None), {}), ((-65504, 60001), {})]
    return cases


@pytest.mark.parametrize("dt", ALL)
def test_random_from_to_is_torchs(oracle, dt):
    for args, kwargs in _bounds(dt):
        for seed in range(8):
            for size in SIZES[1:4]:
                ours = _draws(wgtorch, dt, size, args, kwargs, seed)
                theirs = _draws(oracle, dt, size, args, kwargs, seed)
                np.testing.assert_array_equal(_np(ours), _np(theirs), err_msg=f"{dt} {args} {kwargs} seed {seed}")
                _same_stream(wgtorch, oracle)


@pytest.mark.parametrize("dt, args", [("int8", (0, 200)), ("uint8", (-1, 5)), ("bool", (0, 3)), ("int16", (0, 2 ** 16)),
                                      ("int32", (0, 2 ** 33)), ("float16", (0, 70000)), ("int64", (5, 5)),
                                      ("int64", (5, 3)), ("int8", (-2 ** 63, None)), ("float16", (-2 ** 63, None))])
def test_random_bound_errors_as_torchs(oracle, dt, args):
    with pytest.raises(RuntimeError):
        oracle.empty(3, dtype=getattr(oracle, dt)).random_(*args)
    with pytest.raises(RuntimeError):
        wgtorch.empty(3, dtype=getattr(wgtorch, dt)).random_(*args)


RANDINT_FORMS = [((10, (3,)), {}), ((2,), {"high": 10, "size": (3,)}), ((), {"high": 10, "size": (3,)}),
                 ((), {"low": 2, "high": 10, "size": (3,)}), ((10,), {"size": (3,)}), ((2, 10), {"size": (3, 2)}),
                 ((-7, 9, (50,)), {}), ((5, [2, 2]), {}), ((0, 2 ** 40, (9,)), {}),
                 ((2, 10, (20,)), {"dtype": "float16"}), ((0, 2, (20,)), {"dtype": "bool"}),
                 ((-9, 9, (20,)), {"dtype": "int8"}), ((0, 300, (20,)), {"dtype": "bfloat16"}),
                 ((0, 2 ** 31, (20,)), {"dtype": "int32"}), ((0, 2 ** 35, (20,)), {"dtype": "float64"})]


@pytest.mark.filterwarnings("ignore:to - 1 is out of bounds")
@pytest.mark.parametrize("args, kwargs", RANDINT_FORMS)
def test_randint_signatures_are_torchs(oracle, args, kwargs):
    def call(lib, seed):
        kw = dict(kwargs)
        if "dtype" in kw:
            kw["dtype"] = getattr(lib, kw["dtype"])
        lib.manual_seed(seed)
        a = lib.randint(*args, **kw)
        b = lib.randint(*args, generator=lib.Generator().manual_seed(seed + 100), **kw)
        return a, b
    for seed in range(5):
        ours, theirs = call(wgtorch, seed), call(oracle, seed)
        for o, t in zip(ours, theirs):
            assert str(o.dtype) == str(t.dtype) and tuple(o.shape) == tuple(t.shape)
            np.testing.assert_array_equal(_np(o), _np(t))
        _same_stream(wgtorch, oracle)


@pytest.mark.parametrize("args, kwargs", [((), {"size": (3,)}), ((0, 10, 3), {}), ((1, 2, 3, (4,)), {}),
                                          ((), {"low": 1, "size": (3,)}), ((10,), {})])
def test_randint_bad_signatures_raise_typeerror(oracle, args, kwargs):
    with pytest.raises(TypeError):
        oracle.randint(*args, **kwargs)
    with pytest.raises(TypeError):
        wgtorch.randint(*args, **kwargs)


def _weights(rng, shape, dt, zeros):
    w = rng.random(shape) ** 2 + 0.01
    if zeros and shape[-1] > 2:
        w[..., 1] = 0
    return w.astype(np.float32 if dt != "float64" else np.float64)


@pytest.mark.parametrize("dt", ["float64", "float32"])
def test_multinomial_is_torchs(oracle, dt):
    rng = np.random.default_rng(5)
    for i, shape in enumerate([(4,), (10,), (3, 5), (2, 7), (1, 1), (50,), (4, 30)]):
        for seed in range(12):
            w = _weights(rng, shape, dt, zeros=seed % 3 == 0)
            k = shape[-1]
            nonzero = int((w.reshape(-1, k) > 0).sum(-1).min())
            for n in sorted({1, max(1, k // 2), nonzero}):
                for replacement in (False, True):
                    wgtorch.manual_seed(seed)
                    oracle.manual_seed(seed)
                    ours = wgtorch.multinomial(wgtorch.tensor(w).to(getattr(wgtorch, dt)), n, replacement)
                    theirs = oracle.multinomial(oracle.tensor(w).to(getattr(oracle, dt)), n, replacement)
                    assert ours.tolist() == theirs.tolist(), (dt, shape, seed, n, replacement)
                    _same_stream(wgtorch, oracle)


@pytest.mark.parametrize("dt", ["float16", "bfloat16"])
def test_multinomial_half_precision_is_torchs(oracle, dt):
    """Quotients in the weights' dtype (small rows: torch's unstable sort only reorders exact ties)."""
    rng = np.random.default_rng(1)
    for seed in range(20):
        for shape, n in (((5,), 1), ((4,), 2), ((3, 4), 1)):
            w = _weights(rng, shape, dt, zeros=False)
            wgtorch.manual_seed(seed)
            oracle.manual_seed(seed)
            ours = wgtorch.multinomial(wgtorch.tensor(w).to(getattr(wgtorch, dt)), n)
            theirs = oracle.multinomial(oracle.tensor(w).to(getattr(oracle, dt)), n)
            assert ours.tolist() == theirs.tolist(), (shape, seed)
            _same_stream(wgtorch, oracle)


def test_multinomial_example(oracle):
    for lib in (wgtorch, oracle):
        lib.manual_seed(1)
        assert lib.multinomial(lib.tensor([1.0, 2.0, 3.0, 4.0]), 4).tolist() == [3, 0, 2, 1]


# ---- every device: ranges and dtypes ----------------------------------------------------------------
_LIMITS = {"int64": 2 ** 63, "int32": 2 ** 31, "int16": 2 ** 15, "int8": 2 ** 7, "uint8": 2 ** 8, "bool": 2,
           "float64": 2 ** 53 + 1, "float32": 2 ** 24 + 1, "float16": 2 ** 11 + 1, "bfloat16": 2 ** 8 + 1}


@pytest.mark.parametrize("dt", ALL)
def test_random_no_bounds_range(device, dt):
    wgtorch.manual_seed(0)
    t = wgtorch.empty(4000, dtype=getattr(wgtorch, dt), device=device).random_()
    assert t.dtype is getattr(wgtorch, dt) and t.device.type == device
    h = to_np(t.float() if dt == "bfloat16" else t).astype(np.float64)
    assert h.min() >= 0 and h.max() <= _LIMITS[dt] - 1
    assert len(np.unique(h)) > 1 and np.all(h == np.floor(h))
    if _LIMITS[dt] <= 2 ** 16:  # small ranges are covered end to end
        assert h.max() >= _LIMITS[dt] - 1 - _LIMITS[dt] // 8 and h.min() <= _LIMITS[dt] // 8


@pytest.mark.parametrize("dt", ALL)
def test_random_to_and_from_to_range(device, dt):
    lib_dt = getattr(wgtorch, dt)
    for args, lo, hi in (((2,), 0, 2), ((0, 2), 0, 2)) if dt == "bool" else \
            (((10,), 0, 10), ((3, 9), 3, 9)) + ((((-5, 5), -5, 5),) if dt != "uint8" else ()):
        t = wgtorch.empty(2000, dtype=lib_dt, device=device).random_(*args)
        assert t.dtype is lib_dt and t.device.type == device
        h = to_np(t.float() if dt == "bfloat16" else t).astype(np.int64)
        assert set(np.unique(h).tolist()) == set(range(lo, hi)), args


@pytest.mark.parametrize("dt", ["int64", "int32", "int8", "uint8", "float32", "float16", "bfloat16", "float64"])
def test_randint_keyword_forms_on_device(device, dt):
    lib_dt = getattr(wgtorch, dt)
    for t, lo, hi in ((wgtorch.randint(high=10, size=(500,), dtype=lib_dt, device=device), 0, 10),
                      (wgtorch.randint(10, size=(500,), dtype=lib_dt, device=device), 0, 10),
                      (wgtorch.randint(low=2, high=7, size=(500,), dtype=lib_dt, device=device), 2, 7),
                      (wgtorch.randint(2, 7, (500,), generator=wgtorch.Generator().manual_seed(3), dtype=lib_dt,
                                       device=device), 2, 7)):
        assert t.dtype is lib_dt and t.device.type == device and tuple(t.shape) == (500,)
        h = to_np(t.float() if dt == "bfloat16" else t).astype(np.int64)
        assert set(np.unique(h).tolist()) == set(range(lo, hi))


def test_randint_default_dtype_and_errors(device):
    t = wgtorch.randint(5, (3, 4), device=device)
    assert t.dtype is wgtorch.int64 and tuple(t.shape) == (3, 4)
    with pytest.raises(RuntimeError):
        wgtorch.randint(5, 3, (2,), device=device)
    with pytest.raises(TypeError):
        wgtorch.randint(0, 10, 3, device=device)


def test_multinomial_on_device(device):
    w = wgtorch.tensor([[0.0, 1.0, 2.0, 3.0], [5.0, 0.0, 0.0, 1.0]], device=device)
    for n, replacement in ((1, False), (2, False), (1, True), (50, True)):
        t = wgtorch.multinomial(w, n, replacement)
        assert t.dtype is wgtorch.int64 and t.device.type == device and tuple(t.shape) == (2, n)
        h = to_np(t)
        assert (h[0] != 0).all() and np.isin(h[1], [0, 3]).all()
        if not replacement:
            assert all(len(set(r)) == n for r in h.tolist())
