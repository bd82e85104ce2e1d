"""dtype objects (wgtorch.float32, ...) and PyTorch's type-promotion rules."""
import numpy as np

from . import bf16


class dtype:
    """A tensor element type. Prints as PyTorch does (``torch.float32``)."""
    __slots__ = ("name", "np", "itemsize", "is_floating_point", "is_signed", "is_complex", "kind")

    def __init__(self, name, np_dtype, kind):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.itemsize = self.np.itemsize
        self.kind = kind  # 0 bool, 1 integer, 2 floating point: the promotion category
        self.is_floating_point = kind == 2
        self.is_signed = kind == 2 or (kind == 1 and self.np.kind == "i")
        self.is_complex = False

    def __repr__(self):
        return "torch." + self.name

    def __reduce__(self):
        return (_by_name, (self.name,))

    def to_real(self):
        return self

    @property
    def is_bfloat16(self):
        return self.name == "bfloat16"


def to_float32(v):
    """A Python number rounded to float32, as a Python float (overflow gives inf)."""
    with np.errstate(over="ignore"):
        return float(np.float32(v))


def to_half(v, dt):
    """A Python number rounded to float16 or bfloat16 (dt) through float32, as torch's conversions
    round it, returned as a Python float (overflow gives inf, as in torch)."""
    with np.errstate(over="ignore"):
        f = np.float32(v)
        return float(np.float16(f)) if dt is float16 else float(bf16.decode(bf16.encode(f)))


bool_ = dtype("bool", np.bool_, 0)
uint8 = dtype("uint8", np.uint8, 1)
int8 = dtype("int8", np.int8, 1)
int16 = dtype("int16", np.int16, 1)
int32 = dtype("int32", np.int32, 1)
int64 = dtype("int64", np.int64, 1)
float16 = dtype("float16", np.float16, 2)
# NumPy has no bfloat16: its tensors hold the 16-bit patterns (see bf16.py)
bfloat16 = dtype("bfloat16", np.uint16, 2)
float32 = dtype("float32", np.float32, 2)
float64 = dtype("float64", np.float64, 2)

ALL = (bool_, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64)
_NAMES = {d.name: d for d in ALL}
FROM_NP = {d.np: d for d in ALL if d is not bfloat16}  # a uint16 array is not bfloat16 data
# Python/NumPy scalar types and NumPy dtypes accepted wherever a dtype is.
_ALIASES = {bool: bool_, int: int64, float: float32}


def _by_name(name):
    return _NAMES[name]


def to_dtype(d):
    """Turn a wgtorch dtype, a NumPy dtype or a Python type into a wgtorch dtype."""
    if isinstance(d, dtype):
        return d
    if d in _ALIASES:
        return float64 if d is float else _ALIASES[d]
    if isinstance(d, str):
        raise TypeError(f"dtype must be a wgtorch dtype, not the string {d!r}")
    try:
        return FROM_NP[np.dtype(d)]
    except (TypeError, KeyError):
        raise TypeError(f"unsupported dtype: {d!r}") from None


def from_numpy_dtype(npd):
    try:
        return FROM_NP[npd]
    except KeyError:
        raise TypeError(f"can't convert np.ndarray of type {npd}. The only supported types are: "
                        "float64, float32, float16, int64, int32, int16, int8, uint8, and bool.") from None


# ---- promotion -------------------------------------------------------------
_default_float = [float32]


def get_default_dtype():
    return _default_float[0]


def set_default_dtype(d):
    d = to_dtype(d)
    if d not in (float32, float64, float16):
        raise TypeError("only floating-point types are supported as the default type")
    _default_float[0] = d
    _cache.clear()


def _promote_same_priority(a, b):
    """Promotion of two dtypes of equal priority (both dimensioned tensors, ...)."""
    if a is b:
        return a
    if a.kind != b.kind:
        return a if a.kind > b.kind else b
    if a.kind == 1:
        if a is uint8 or b is uint8:  # uint8 with a signed int: the smallest signed type holding both
            other = b if a is uint8 else a
            return int16 if other is int8 else other
        return a if a.itemsize > b.itemsize else b
    if a.itemsize == b.itemsize:  # float16 with bfloat16: neither holds the other
        return float32
    return a if a.itemsize > b.itemsize else b


def promote_types(a, b):
    return _promote_same_priority(to_dtype(a), to_dtype(b))


_cache = {}


def result_type(a, a_prio, b, b_prio):
    """PyTorch's rule: a higher category always wins; within a category the
    operand of higher priority (2 = tensor with dims, 1 = 0-d tensor, 0 = Python
    scalar) decides. Python scalars use the default dtype of their category."""
    key = (a, a_prio, b, b_prio)
    r = _cache.get(key)
    if r is None:
        r = _cache[key] = _result_type(a, a_prio, b, b_prio)
    return r


def _result_type(a, ap, b, bp):
    if a.kind != b.kind:
        hi, hp = (a, ap) if a.kind > b.kind else (b, bp)
        if hp == 0:  # a Python scalar lifts the category: default dtype of it
            return get_default_dtype() if hi.kind == 2 else int64
        return hi
    if ap == bp:
        return _promote_same_priority(a, b)
    return a if ap > bp else b


def scalar_dtype(v):
    """The dtype PyTorch gives a Python scalar."""
    if isinstance(v, bool):
        return bool_
    if isinstance(v, int):
        return int64
    if isinstance(v, float):
        return get_default_dtype()
    if isinstance(v, np.generic):
        return to_dtype(v.dtype)
    if isinstance(v, complex):
        raise TypeError("complex numbers are not supported by wgtorch")
    raise TypeError(f"expected a number, got {type(v).__name__}")
