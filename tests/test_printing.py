"""Printing: repr/str of tensors must equal real PyTorch's output character for
character (both print ``tensor(``). The literal strings below were copied
from PyTorch 2.x's output; the oracle tests re-check them against the installed
torch."""
import re

import numpy as np
import pytest

import wgtorch
from conftest import to_np

# name -> a constructor taking (module, device); the same code builds the
# wgtorch tensor and the torch one.
CASES = {
    "int_1d": lambda m, d: m.tensor([1, 2, 3], device=d),
    "int_2d_neg": lambda m, d: m.tensor([[1, -2], [300, 4]], device=d),
    "int_large": lambda m, d: m.tensor([1000000, -5, 42], device=d),
    "float_round": lambda m, d: m.tensor([1.0, 2.0, -3.0], device=d),
    "float_frac": lambda m, d: m.tensor([1.0, 2.5, -3.25], device=d),
    "float_tenths": lambda m, d: m.tensor([0.1, 0.2, 0.3], device=d),
    "float_small_sci": lambda m, d: m.tensor([1e-5, 1.0, 2.0], device=d),
    "float_large_sci": lambda m, d: m.tensor([1e10, 1.0], device=d),
    "float_medium": lambda m, d: m.tensor([123456.0, 1.5], device=d),
    "float_int_large": lambda m, d: m.tensor([100000000.0, 1.0], device=d),
    "float_tiny": lambda m, d: m.tensor([0.0001, 0.001], device=d),
    "float_neg_2d": lambda m, d: m.tensor([[-1.5, 2.25], [0.0, -100.125]], device=d),
    "float_special": lambda m, d: m.tensor([float("inf"), float("-inf"), float("nan"), 1.0], device=d),
    "float_special_frac": lambda m, d: m.tensor([float("nan"), 1.5, -0.25], device=d),
    "zero_d_float": lambda m, d: m.tensor(3.5, device=d),
    "zero_d_int": lambda m, d: m.tensor(7, device=d),
    "zero_d_bool": lambda m, d: m.tensor(True, device=d),
    "zero_d_small": lambda m, d: m.tensor(1e-8, device=d),
    "zero_d_f64": lambda m, d: m.tensor(2.0, dtype=m.float64, device=d),
    "empty_float": lambda m, d: m.tensor([], device=d),
    "empty_2d": lambda m, d: m.zeros(0, 3, device=d),
    "empty_int": lambda m, d: m.zeros(2, 0, dtype=m.int64, device=d),
    "empty_f64": lambda m, d: m.zeros(0, dtype=m.float64, device=d),
    "f64": lambda m, d: m.tensor([1.5, 2.0], dtype=m.float64, device=d),
    "f64_round": lambda m, d: m.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=m.float64, device=d),
    "f16": lambda m, d: m.tensor([0.5, 1.25, -2.0], dtype=m.float16, device=d),
    "i32": lambda m, d: m.tensor([1, 2, 3], dtype=m.int32, device=d),
    "i16": lambda m, d: m.tensor([[-1, 2]], dtype=m.int16, device=d),
    "i8": lambda m, d: m.tensor([-128, 127], dtype=m.int8, device=d),
    "u8": lambda m, d: m.tensor([0, 255], dtype=m.uint8, device=d),
    "bool_1d": lambda m, d: m.tensor([True, False, True], device=d),
    "bool_2d": lambda m, d: m.tensor([[True], [False]], device=d),
    "requires_grad": lambda m, d: m.tensor([1.0, 2.0], requires_grad=True, device=d),
    "requires_grad_f64": lambda m, d: m.tensor([1.0, -2.5], dtype=m.float64, requires_grad=True, device=d),
    "requires_grad_0d": lambda m, d: m.tensor(1.5, requires_grad=True, device=d),
    "three_d": lambda m, d: m.arange(24.0, device=d).reshape(2, 3, 4),
    "three_d_int": lambda m, d: m.arange(12, device=d).reshape(3, 2, 2) - 5,
    "four_d": lambda m, d: m.arange(16, device=d).reshape(2, 2, 2, 2),
    "transposed": lambda m, d: m.arange(6.0, device=d).reshape(2, 3).t(),
    "sliced": lambda m, d: (m.arange(20, device=d).reshape(4, 5) * 3)[::2, 1::2],
    "expanded": lambda m, d: m.tensor([1.5, -2.0], device=d).expand(3, 2),
    "wrap_float": lambda m, d: m.arange(20.0, device=d) * 1.5,
    "wrap_int": lambda m, d: m.arange(40, device=d) * 1000,
    "wrap_2d": lambda m, d: m.arange(30.0, device=d).reshape(2, 15) / 7,
    "summarized": lambda m, d: m.arange(2000, device=d),
    "summarized_2d": lambda m, d: m.arange(2500.0, device=d).reshape(50, 50),
    "mixed_scale": lambda m, d: m.tensor([[0.001, 1000.0], [-5.0, 2.5]], device=d),
    "sci_neg": lambda m, d: m.tensor([-1e-7, 3e-6, 1.0], device=d),
    "many_digits": lambda m, d: m.tensor([3.14159265, 2.71828182, 1.41421356], device=d),
    "f64_precise": lambda m, d: m.tensor([3.14159265358979, 1e-3], dtype=m.float64, device=d),
    "linspace": lambda m, d: m.linspace(-1, 1, 9, device=d),
    "zeros_2d": lambda m, d: m.zeros(2, 3, device=d),
    "neg_zero": lambda m, d: m.tensor([-0.0, 0.0, 1.0], device=d),
    "ones_int_col": lambda m, d: m.ones(3, 1, dtype=m.int64, device=d),
}

# PyTorch's repr for each case (copied from torch's output).
EXPECTED = {
    'int_1d': 'tensor([1, 2, 3])',
    'int_2d_neg': 'tensor([[  1,  -2],\n        [300,   4]])',
    'int_large': 'tensor([1000000,      -5,      42])',
    'float_round': 'tensor([ 1.,  2., -3.])',
    'float_frac': 'tensor([ 1.0000,  2.5000, -3.2500])',
    'float_tenths': 'tensor([0.1000, 0.2000, 0.3000])',
    'float_small_sci': 'tensor([1.0000e-05, 1.0000e+00, 2.0000e+00])',
    'float_large_sci': 'tensor([1.0000e+10, 1.0000e+00])',
    'float_medium': 'tensor([1.2346e+05, 1.5000e+00])',
    'float_int_large': 'tensor([1.0000e+08, 1.0000e+00])',
    'float_tiny': 'tensor([1.0000e-04, 1.0000e-03])',
    'float_neg_2d': 'tensor([[  -1.5000,    2.2500],\n        [   0.0000, -100.1250]])',
    'float_special': 'tensor([inf, -inf, nan, 1.])',
    'float_special_frac': 'tensor([    nan,  1.5000, -0.2500])',
    'zero_d_float': 'tensor(3.5000)',
    'zero_d_int': 'tensor(7)',
    'zero_d_bool': 'tensor(True)',
    'zero_d_small': 'tensor(1.0000e-08)',
    'zero_d_f64': 'tensor(2., dtype=torch.float64)',
    'empty_float': 'tensor([])',
    'empty_2d': 'tensor([], size=(0, 3))',
    'empty_int': 'tensor([], size=(2, 0), dtype=torch.int64)',
    'empty_f64': 'tensor([], dtype=torch.float64)',
    'f64': 'tensor([1.5000, 2.0000], dtype=torch.float64)',
    'f64_round': 'tensor([[1., 2.],\n        [3., 4.]], dtype=torch.float64)',
    'f16': 'tensor([ 0.5000,  1.2500, -2.0000], dtype=torch.float16)',
    'i32': 'tensor([1, 2, 3], dtype=torch.int32)',
    'i16': 'tensor([[-1,  2]], dtype=torch.int16)',
    'i8': 'tensor([-128,  127], dtype=torch.int8)',
    'u8': 'tensor([  0, 255], dtype=torch.uint8)',
    'bool_1d': 'tensor([ True, False,  True])',
    'bool_2d': 'tensor([[ True],\n        [False]])',
    'requires_grad': 'tensor([1., 2.], requires_grad=True)',
    'requires_grad_f64': 'tensor([ 1.0000, -2.5000], dtype=torch.float64, requires_grad=True)',
    'requires_grad_0d': 'tensor(1.5000, requires_grad=True)',
    'three_d': 'tensor([[[ 0.,  1.,  2.,  3.],\n         [ 4.,  5.,  6.,  7.],\n         [ 8.,  9., 10., 11.]],\n\n        [[12., 13., 14., 15.],\n         [16., 17., 18., 19.],\n         [20., 21., 22., 23.]]])',
    'three_d_int': 'tensor([[[-5, -4],\n         [-3, -2]],\n\n        [[-1,  0],\n         [ 1,  2]],\n\n        [[ 3,  4],\n         [ 5,  6]]])',
    'four_d': 'tensor([[[[ 0,  1],\n          [ 2,  3]],\n\n         [[ 4,  5],\n          [ 6,  7]]],\n\n\n        [[[ 8,  9],\n          [10, 11]],\n\n         [[12, 13],\n          [14, 15]]]])',
    'transposed': 'tensor([[0., 3.],\n        [1., 4.],\n        [2., 5.]])',
    'sliced': 'tensor([[ 3,  9],\n        [33, 39]])',
    'expanded': 'tensor([[ 1.5000, -2.0000],\n        [ 1.5000, -2.0000],\n        [ 1.5000, -2.0000]])',
    'wrap_float': 'tensor([ 0.0000,  1.5000,  3.0000,  4.5000,  6.0000,  7.5000,  9.0000, 10.5000,\n        12.0000, 13.5000, 15.0000, 16.5000, 18.0000, 19.5000, 21.0000, 22.5000,\n        24.0000, 25.5000, 27.0000, 28.5000])',
    'wrap_int': 'tensor([    0,  1000,  2000,  3000,  4000,  5000,  6000,  7000,  8000,  9000,\n        10000, 11000, 12000, 13000, 14000, 15000, 16000, 17000, 18000, 19000,\n        20000, 21000, 22000, 23000, 24000, 25000, 26000, 27000, 28000, 29000,\n        30000, 31000, 32000, 33000, 34000, 35000, 36000, 37000, 38000, 39000])',
    'wrap_2d': 'tensor([[0.0000, 0.1429, 0.2857, 0.4286, 0.5714, 0.7143, 0.8571, 1.0000, 1.1429,\n         1.2857, 1.4286, 1.5714, 1.7143, 1.8571, 2.0000],\n        [2.1429, 2.2857, 2.4286, 2.5714, 2.7143, 2.8571, 3.0000, 3.1429, 3.2857,\n         3.4286, 3.5714, 3.7143, 3.8571, 4.0000, 4.1429]])',
    'summarized': 'tensor([   0,    1,    2,  ..., 1997, 1998, 1999])',
    'summarized_2d': 'tensor([[0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 4.7000e+01, 4.8000e+01,\n         4.9000e+01],\n        [5.0000e+01, 5.1000e+01, 5.2000e+01,  ..., 9.7000e+01, 9.8000e+01,\n         9.9000e+01],\n        [1.0000e+02, 1.0100e+02, 1.0200e+02,  ..., 1.4700e+02, 1.4800e+02,\n         1.4900e+02],\n        ...,\n        [2.3500e+03, 2.3510e+03, 2.3520e+03,  ..., 2.3970e+03, 2.3980e+03,\n         2.3990e+03],\n        [2.4000e+03, 2.4010e+03, 2.4020e+03,  ..., 2.4470e+03, 2.4480e+03,\n         2.4490e+03],\n        [2.4500e+03, 2.4510e+03, 2.4520e+03,  ..., 2.4970e+03, 2.4980e+03,\n         2.4990e+03]])',
    'mixed_scale': 'tensor([[ 1.0000e-03,  1.0000e+03],\n        [-5.0000e+00,  2.5000e+00]])',
    'sci_neg': 'tensor([-1.0000e-07,  3.0000e-06,  1.0000e+00])',
    'many_digits': 'tensor([3.1416, 2.7183, 1.4142])',
    'f64_precise': 'tensor([3.1416e+00, 1.0000e-03], dtype=torch.float64)',
    'linspace': 'tensor([-1.0000, -0.7500, -0.5000, -0.2500,  0.0000,  0.2500,  0.5000,  0.7500,\n         1.0000])',
    'zeros_2d': 'tensor([[0., 0., 0.],\n        [0., 0., 0.]])',
    'neg_zero': 'tensor([-0., 0., 1.])',
    'ones_int_col': 'tensor([[1],\n        [1],\n        [1]])',
}

DEFAULTS = dict(precision=4, threshold=1000, edgeitems=3, linewidth=80, sci_mode=None)


@pytest.fixture
def restore_printoptions():
    yield
    wgtorch.set_printoptions(**DEFAULTS)


def with_device(expected, device):
    """PyTorch's repr on a GPU: device='...' is the first suffix after the values."""
    if device == "cpu":
        return expected
    body = expected[:-1]
    cut = min([i for i in (body.find(k) for k in (", size=", ", dtype=", ", requires_grad=", ", grad_fn="))
               if i != -1] or [len(body)])
    return body[:cut] + f", device='{wgtorch.device(device)}'" + body[cut:] + ")"


@pytest.mark.parametrize("name", list(CASES))
def test_repr_matches_pytorch_literal(device, name):
    t = CASES[name](wgtorch, device)
    r = repr(t)
    if device != "cpu":  # the device suffix may move later suffixes to a new line: compare without it
        suffix = f"device='{wgtorch.device(device)}'"
        assert suffix in r
        r = r.replace(",\n       " + suffix, "").replace(", " + suffix, "")
    assert r == EXPECTED[name]


@pytest.mark.parametrize("name", list(CASES))
def test_str_equals_repr(device, name):
    t = CASES[name](wgtorch, device)
    assert str(t) == repr(t)


@pytest.mark.parametrize("name", list(CASES))
def test_repr_matches_torch(oracle, name):
    assert repr(CASES[name](wgtorch, "cpu")) == repr(CASES[name](oracle, "cpu"))


def test_print_uses_repr(capsys):
    t = wgtorch.tensor([[1.5, 2.0], [3.0, -4.25]])
    print(t)
    assert capsys.readouterr().out == "tensor([[ 1.5000,  2.0000],\n        [ 3.0000, -4.2500]])\n"


def test_repr_of_values_computed_by_ops(device):
    x = wgtorch.tensor([1.0, 2.0, 3.0], device=device)
    assert repr(x / 4) == with_device("tensor([0.2500, 0.5000, 0.7500])", device)
    assert repr(x > 1.5) == with_device("tensor([False,  True,  True])", device)
    assert repr(x.long()) == with_device("tensor([1, 2, 3])", device)
    if device == "cpu":  # wgpu has no float64
        assert repr(x.double()) == "tensor([1., 2., 3.], dtype=torch.float64)"
    # the printed values are those of the tensor
    assert repr(wgtorch.tensor(to_np(x)[::-1].copy(), device=device)) == with_device("tensor([3., 2., 1.])", device)


PRINTOPTIONS = [
    ("prec2", dict(precision=2), lambda m: m.tensor([1.0, 2.5, -3.25, 0.123456]), 'tensor([ 1.00,  2.50, -3.25,  0.12])'),
    ("prec6", dict(precision=6), lambda m: m.tensor([3.14159265, 1.0]), 'tensor([3.141593, 1.000000])'),
    ("sci_off", dict(sci_mode=False), lambda m: m.tensor([1e-5, 1.0, 2.0]), 'tensor([0.0000, 1.0000, 2.0000])'),
    ("sci_on", dict(sci_mode=True), lambda m: m.tensor([1.0, 2.0]), 'tensor([1.0000e+00, 2.0000e+00])'),
    ("sci_on_int", dict(sci_mode=True), lambda m: m.tensor([1, 2]), 'tensor([1, 2])'),
    ("threshold", dict(threshold=5), lambda m: m.arange(10), 'tensor([0, 1, 2,  ..., 7, 8, 9])'),
    ("threshold_edge", dict(threshold=5, edgeitems=2), lambda m: m.arange(10.0), 'tensor([0., 1.,  ..., 8., 9.])'),
    ("linewidth", dict(linewidth=40), lambda m: m.arange(12.0) * 1.5,
     'tensor([ 0.0000,  1.5000,  3.0000,\n         4.5000,  6.0000,  7.5000,\n         9.0000, 10.5000, 12.0000,\n        13.5000, 15.0000, 16.5000])'),
    ("prec2_sci", dict(precision=2), lambda m: m.tensor([1e-5, 1.0]), 'tensor([1.00e-05, 1.00e+00])'),
]


@pytest.mark.parametrize("name, opts, make, expected", PRINTOPTIONS, ids=[p[0] for p in PRINTOPTIONS])
def test_set_printoptions(restore_printoptions, name, opts, make, expected):
    wgtorch.set_printoptions(**opts)
    assert repr(make(wgtorch)) == expected
    wgtorch.set_printoptions(**DEFAULTS)
    assert repr(wgtorch.tensor([1.0, 2.5])) == "tensor([1.0000, 2.5000])"


@pytest.mark.parametrize("name, opts, make, expected", PRINTOPTIONS, ids=[p[0] for p in PRINTOPTIONS])
def test_set_printoptions_matches_torch(restore_printoptions, oracle, name, opts, make, expected):
    wgtorch.set_printoptions(**opts)
    oracle.set_printoptions(**opts)
    try:
        assert repr(make(wgtorch)) == repr(make(oracle))
    finally:
        oracle.set_printoptions(profile="default")


def test_printoptions_restored_by_default_profile(restore_printoptions):
    wgtorch.set_printoptions(precision=1)
    assert repr(wgtorch.tensor([1.25])) == "tensor([1.2])"
    wgtorch.set_printoptions(profile="default")
    assert repr(wgtorch.tensor([1.25])) == "tensor([1.2500])"


def test_format_scalar_tensor(device):
    assert f"{wgtorch.tensor(2.5, device=device):.3f}" == "2.500"
    assert f"{wgtorch.tensor(3, device=device)}" == "3"  # 0-d: formats the item
    assert f"{wgtorch.tensor([3])}" == "tensor([3])"
    assert "{:.2f}".format(wgtorch.tensor(1.0, device=device)) == "1.00"
    assert f"{wgtorch.tensor(2.5, device=device):.3f}" == format(float(np.float32(2.5)), ".3f")


def test_dtype_and_device_repr():
    assert repr(wgtorch.float32).endswith("float32")
    assert repr(wgtorch.tensor([1.0]).dtype).endswith("float32")
    assert str(wgtorch.tensor([1.0]).device) == "cpu"
    assert repr(wgtorch.device("cpu")) == "device(type='cpu')"
    assert str(wgtorch.zeros(2, 3).shape).endswith("Size([2, 3])")


# ---------------------------------------------------------------------------
# hypothesis: random small tensors
# ---------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
small_shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)
NUMBER = re.compile(r"-?(?:inf|nan|\d+\.?\d*(?:e[+-]\d+)?)")


def printed_numbers(s):
    body = s[len("tensor("):]
    body = re.sub(r", (dtype|size|requires_grad)=.*$", "", body, flags=re.S)
    return [float(m) for m in NUMBER.findall(body.replace("True", "1").replace("False", "0"))]


@fixture_ok
@given(shape=small_shapes, data=st.data())
def test_repr_round_trips_values_hypothesis(device, shape, data):
    n = int(np.prod(shape))
    scale = data.draw(st.sampled_from([1.0, 1e-3, 1e3, 1e6]))
    vals = np.array(data.draw(st.lists(st.floats(-10, 10, allow_nan=False, width=32), min_size=n, max_size=n)),
                    dtype=np.float32).reshape(shape) * np.float32(scale)
    s = re.sub(r",\s*device='[^']*'", "", repr(wgtorch.tensor(vals, device=device)))
    assert s.startswith("tensor(")
    got = np.array(printed_numbers(s))
    assert got.shape == (n,)
    v = vals.reshape(-1).astype(np.float64)
    assert np.all(np.abs(got - v) <= 5e-5 + 5e-4 * np.abs(v)), (s, v)
    ints = np.rint(vals).astype(np.int64)
    si = re.sub(r",\s*device='[^']*'", "", repr(wgtorch.tensor(ints, device=device)))
    assert printed_numbers(si) == [float(i) for i in ints.reshape(-1)]


@fixture_ok
@given(shape=small_shapes, data=st.data())
def test_repr_matches_torch_hypothesis(oracle, shape, data):
    n = int(np.prod(shape))
    dt = data.draw(st.sampled_from(["float32", "float64", "int64", "int32", "bool"]))
    if dt == "bool":
        vals = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    elif dt.startswith("int"):
        vals = np.array(data.draw(st.lists(st.integers(-10**6, 10**6), min_size=n, max_size=n)), dtype=dt)
    else:
        vals = np.array(data.draw(st.lists(st.floats(-1e5, 1e5, allow_nan=False, width=32),
                                           min_size=n, max_size=n)), dtype=dt)
    vals = vals.reshape(shape)
    assert repr(wgtorch.tensor(vals)) == repr(oracle.tensor(vals))
