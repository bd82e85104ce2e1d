"""assert_close: compare tensors, Python numbers, and sequences / mappings of them.

Tolerances default per dtype as PyTorch's (the larger of the two inputs'); the
failure message says how many elements differ and where the greatest absolute
and relative differences are, in PyTorch's words. Values are compared on the
host with NumPy in the inputs' (common) dtype."""
import collections.abc
import math

import numpy as np

from .. import dtypes
from ..tensor import Tensor

# (rtol, atol) by dtype; integer and bool dtypes compare exactly
_PRECISIONS = {dtypes.float16: (1e-3, 1e-5), dtypes.bfloat16: (1.6e-2, 1e-5), dtypes.float32: (1.3e-6, 1e-5),
               dtypes.float64: (1e-7, 1e-7)}


class _Mismatch(Exception):
    def __init__(self, error_type, message):
        super().__init__(message)
        self.error_type = error_type


def assert_close(actual, expected, *, allow_subclasses=True, rtol=None, atol=None, equal_nan=False,
                 check_device=True, check_dtype=True, check_layout=True, check_stride=False, msg=None):
    """Raise AssertionError unless `actual` and `expected` are close: elementwise
    |actual - expected| <= atol + rtol * |expected| (NaNs equal only with equal_nan=True),
    with the same shape, and (unless switched off) the same device and dtype."""
    if (rtol is None) != (atol is None):
        missing = "atol" if atol is None else "rtol"
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got no {missing}.")
    try:
        _compare(actual, expected, (), {"rtol": rtol, "atol": atol, "equal_nan": equal_nan,
                                        "check_device": check_device, "check_dtype": check_dtype,
                                        "check_stride": check_stride})
    except _Mismatch as m:
        text = str(m)
        if callable(msg):
            text = msg(text)
        elif msg is not None:
            text = msg
        raise m.error_type(text) from None


def _compare(actual, expected, path, opts):
    if isinstance(actual, (str, bytes)) or isinstance(expected, (str, bytes)):
        _no_pair(actual, expected)
    if isinstance(actual, collections.abc.Mapping) and isinstance(expected, collections.abc.Mapping):
        missing, extra = set(expected) - set(actual), set(actual) - set(expected)
        if missing or extra:
            raise _Mismatch(AssertionError, "The keys of the mappings do not match:\n"
                                            f"Missing keys in the actual mapping: {sorted(missing)}\n"
                                            f"Additional keys in the actual mapping: {sorted(extra)}")
        for k in actual:
            _compare(actual[k], expected[k], path + (k,), opts)
        return
    if _is_sequence(actual) and _is_sequence(expected):
        if len(actual) != len(expected):
            raise _Mismatch(AssertionError, f"The length of the sequences mismatch: {len(actual)} != "
                                            f"{len(expected)}")
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, path + (i,), opts)
        return
    try:
        _compare_leaf(actual, expected, opts)
    except _Mismatch as m:
        if path:
            where = "".join(f"[{k!r}]" for k in path)
            raise _Mismatch(m.error_type, f"{m}\n\nThe failure occurred for item {where}") from None
        raise


def _is_sequence(x):
    return isinstance(x, collections.abc.Sequence) and not isinstance(x, (str, bytes))


def _no_pair(actual, expected):
    raise _Mismatch(TypeError, f"No comparison pair was able to handle inputs of type {type(actual)} and "
                               f"{type(expected)}.")


def _leaf(x):
    """(values as ndarray, dtype, device or None, is a Python scalar) for a tensor-like or number."""
    if isinstance(x, Tensor):
        return x._host(), x.dtype, x.device, False
    if isinstance(x, np.ndarray):
        return x, dtypes.to_dtype(x.dtype), None, False
    if isinstance(x, bool):
        return np.array(x), dtypes.bool_, None, True
    if isinstance(x, int):
        return np.array(x, dtype=np.int64), dtypes.int64, None, True
    if isinstance(x, float):
        return np.array(x, dtype=np.float64), dtypes.float64, None, True
    return None


def _compare_leaf(actual, expected, opts):
    a, e = _leaf(actual), _leaf(expected)
    if a is None or e is None or a[3] != e[3] or (a[2] is None) != (e[2] is None):
        _no_pair(actual, expected)  # as PyTorch: a tensor against a Python number has no pair
    (av, adt, adev, _), (ev, edt, edev, _) = a, e
    if av.shape != ev.shape:
        _attr_mismatch("shape", _shape_str(actual, av), _shape_str(expected, ev))
    if opts["check_device"] and adev is not None and adev != edev:
        _attr_mismatch("device", adev, edev)
    if opts["check_dtype"] and adt is not edt:
        _attr_mismatch("dtype", adt, edt)
    if opts["check_stride"] and isinstance(actual, Tensor) and actual.stride() != expected.stride():
        _attr_mismatch("stride()", actual.stride(), expected.stride())
    rtol, atol = opts["rtol"], opts["atol"]
    if rtol is None:
        ra, aa = _PRECISIONS.get(adt, (0.0, 0.0))
        re, ae = _PRECISIONS.get(edt, (0.0, 0.0))
        rtol, atol = max(ra, re), max(aa, ae)
    common = dtypes.promote_types(adt, edt)
    host = np.float32 if common is dtypes.bfloat16 else common.np  # bfloat16 values arrive as float32
    av, ev = av.astype(host), ev.astype(host)
    matches = _isclose(av, ev, rtol, atol, opts["equal_nan"])
    if matches.all():
        return
    if av.ndim == 0:
        message = _scalar_message(av.item(), ev.item(), rtol, atol)
    else:
        message = _tensor_message(av, ev, matches, rtol, atol)
    raise _Mismatch(AssertionError, message)


def _shape_str(x, values):
    from ..size import Size
    return Size(values.shape) if isinstance(x, (Tensor, np.ndarray)) else values.shape


def _attr_mismatch(name, a, e):
    raise _Mismatch(AssertionError, f"The values for attribute '{name}' do not match: {a} != {e}.")


def _isclose(a, e, rtol, atol, equal_nan):
    if a.dtype == np.bool_ or np.issubdtype(a.dtype, np.integer):
        if rtol == 0 and atol == 0:
            return a == e
        a, e = a.astype(np.float64), e.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        # an infinity is close only to itself
        close = (a == e) | (np.isfinite(a) & np.isfinite(e) & (np.abs(a - e) <= atol + rtol * np.abs(e)))
    if equal_nan:
        close |= np.isnan(a) & np.isnan(e)
    return close


def _message(identifier, extra, abs_diff, abs_idx, atol, rel_diff, rel_idx, rtol):
    equal = rtol == 0 and atol == 0

    def diff(kind, value, idx, tol):
        s = f"{kind.title()} difference: {value}" if idx is None else \
            f"Greatest {kind} difference: {value} at index {idx}"
        return s + (f" (up to {tol} allowed)" if tol > 0 else "") + "\n"

    text = f"{identifier} are not {'equal' if equal else 'close'}!\n\n{extra.strip()}\n"
    text += diff("absolute", abs_diff, abs_idx, atol) + diff("relative", rel_diff, rel_idx, rtol)
    return text.strip()


def _scalar_message(actual, expected, rtol, atol):
    abs_diff = abs(actual - expected)
    rel_diff = math.inf if expected == 0 else abs_diff / abs(expected)
    return _message("Scalars", f"Expected {expected} but got {actual}.", abs_diff, None, atol, rel_diff, None,
                    rtol)


def _tensor_message(a, e, matches, rtol, atol):
    n = matches.size
    bad = n - int(matches.sum())
    extra = f"Mismatched elements: {bad} / {n} ({bad / n:.1%})"
    a, e, m = a.reshape(-1), e.reshape(-1), matches.reshape(-1)
    if not np.issubdtype(a.dtype, np.floating):
        a, e = a.astype(np.int64), e.astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        abs_diff = np.abs(a - e)
        abs_diff[m] = 0
        rel_diff = abs_diff / np.abs(e)
        if a.dtype == np.int64:
            rel_diff = rel_diff.astype(np.float32)  # PyTorch divides integers in the default float dtype
        rel_diff[m] = 0
    ia, ir = int(np.argmax(abs_diff)), int(np.argmax(rel_diff))  # NaN wins, as torch.max's
    shape = matches.shape
    return _message("Tensor-likes", extra, abs_diff[ia].item(), tuple(int(i) for i in np.unravel_index(ia, shape)),
                    atol, rel_diff[ir].item(), tuple(int(i) for i in np.unravel_index(ir, shape)), rtol)
