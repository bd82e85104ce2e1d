"""WGSL for the elementwise primitives: one skeleton (shaders/elementwise.wgsl)
specialised by dtype and by a one-line expression per op. A new elementwise op
is one entry in UNARY or BINARY below (its NumPy twin lives in backends/cpu.py).

Expressions see the inputs as a, b, c and Python scalars as s0..s3, already in
the computation type: f32 (floats), i32 (integers) or bool."""
import functools
import struct
from string import Template

import numpy as np

from ...shaders_path import read_shader
from .array import BF16_BITS, STORAGE

# storage type of each logical NumPy dtype (see array.STORAGE) and its kind
WGSL_T = {np.dtype(np.float32): "f32", np.dtype(np.int32): "i32", np.dtype(np.uint32): "u32"}


def kind(np_dtype):
    """Computation kind of a logical dtype: 'f', 'i' or 'b' (bfloat16's uint16 bits are 'f')."""
    d = np.dtype(np_dtype)
    return "f" if d.kind == "f" or d == BF16_BITS else "b" if d.kind == "b" else "i"


_CT = {"f": "f32", "i": "i32", "b": "bool"}

# -- unary: {op: {kind: expression}}; "*" applies to every kind -----------------------
_FLOAT_ONLY = {
    "exp": "exp(a)", "exp2": "exp2(a)", "log": "log_(a)", "log2": "log2_(a)", "log10": "log_(a) * 0.4342944819",
    "log1p": "log1p_(a)", "expm1": "expm1_(a)", "sqrt": "sqrt(a)", "rsqrt": "inverseSqrt(a)",
    "sin": "sin(a)", "cos": "cos(a)", "tan": "tan(a)", "tanh": "tanh_(a)",
    # through atan2: lavapipe's asin / acos are 2e-4 to 4e-4 off near +-1
    "asin": "select(atan2_(a, sqrt((1.0 - a) * (1.0 + a))), nan(), abs(a) > 1.0)",
    "acos": "select(atan2_(sqrt((1.0 - a) * (1.0 + a)), a), nan(), abs(a) > 1.0)",
    "atan": "atan_(a)", "sinh": "sinh_(a)", "cosh": "cosh(a)",
    "asinh": "asinh_(a)", "acosh": "acosh_(a)", "atanh": "atanh_(a)", "erfinv": "erfinv_(a)",
    "sigmoid": "1.0 / (1.0 + exp(-a))", "erf": "erf_(a)", "reciprocal": "1.0 / a",
    "gelu": "0.5 * a * (1.0 + erf_(a * 0.7071067811865476))",
    "floor": "floor(a)", "ceil": "ceil(a)", "round": "round(a)", "trunc": "trunc(a)",
}
# NaN in, NaN out: WGSL leaves builtins at NaN indeterminate (lavapipe's atan(NaN) is 0)
UNARY = {op: {"f": f"select({e}, a, is_nan(a))"} for op, e in _FLOAT_ONLY.items()}
UNARY.update({
    "neg": {"f": "-a", "i": "-a"},
    "abs": {"f": "abs(a)", "i": "abs(a)", "b": "a"},
    "relu": {"f": "select(a, 0.0, a < 0.0)", "i": "max(a, 0)"},  # keeps NaN, as PyTorch
    "sign": {"f": "select(sign(a), 0.0, is_nan(a))", "i": "sign(a)", "b": "a"},
    "square": {"f": "a * a", "i": "a * a"},
    "bitwise_not": {"i": "~a", "b": "!a"},
})
# predicates: bool results from any input kind
PRED = {
    "isnan": {"f": "is_nan(a)", "i": "false", "b": "false"},
    "isinf": {"f": "(bitcast<u32>(a) & 0x7fffffffu) == 0x7f800000u", "i": "false", "b": "false"},
    "isfinite": {"f": "(bitcast<u32>(a) & 0x7f800000u) != 0x7f800000u", "i": "true", "b": "true"},
    "signbit": {"f": "sign_bit(a)", "i": "a < 0", "b": "false"},
    "logical_not": {"f": "a == 0.0", "i": "a == 0", "b": "!a"},
}

# -- binary ------------------------------------------------------------------------------------
BINARY = {
    "add": {"f": "a + b", "i": "a + b", "b": "a || b"},
    "sub": {"f": "a - b", "i": "a - b"},
    "mul": {"f": "a * b", "i": "a * b", "b": "a && b"},
    "div": {"f": "a / b"},
    "trunc_divide": {"f": "trunc(a / b)", "i": "a / b"},
    # Python's floor rules; an integer divisor of 0 gives a (WGSL's rule) on wgpu, documented
    "floor_divide": {"f": "ffloordiv_(a, b)", "i": "floordiv_(a, b)"},
    "remainder": {"f": "fremainder_(a, b)", "i": "floormod_(a, b)"},
    "fmod": {"f": "fmod_(a, b)", "i": "a % b"},
    "pow": {"f": "pow_(a, b)", "i": "ipow_(a, b)"},
    "maximum": {"f": "select(max(a, b), nan(), is_nan(a) || is_nan(b))", "i": "max(a, b)", "b": "a || b"},
    "minimum": {"f": "select(min(a, b), nan(), is_nan(a) || is_nan(b))", "i": "min(a, b)", "b": "a && b"},
    "atan2": {"f": "atan2_(a, b)"},
    "relu_grad": {"f": "select(a, 0.0, b <= 0.0)", "i": "select(a, 0, b <= 0)"},  # g, relu's output y
    # g, gelu's input x: g * (Phi(x) + x phi(x))
    "gelu_grad": {"f": "a * (0.5 * (1.0 + erf_(b * 0.7071067811865476)) + b * exp(-0.5 * b * b) * 0.3989422804014327)"},
    "bitwise_and": {"i": "a & b", "b": "a && b"},
    "bitwise_or": {"i": "a | b", "b": "a || b"},
    "bitwise_xor": {"i": "a ^ b", "b": "a != b"},
    "eq": {"*": "a == b"}, "ne": {"f": "a != b || is_nan(a) || is_nan(b)", "*": "a != b"},
    # WGSL orders no bools: compare them as integers
    "lt": {"b": "i32(a) < i32(b)", "*": "a < b"}, "le": {"b": "i32(a) <= i32(b)", "*": "a <= b"},
    "gt": {"b": "i32(a) > i32(b)", "*": "a > b"}, "ge": {"b": "i32(a) >= i32(b)", "*": "a >= b"},
    "logical_and": {"b": "a && b"}, "logical_or": {"b": "a || b"}, "logical_xor": {"b": "a != b"},
}
BOOL_RESULT = {"eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor"}

HELPERS = """
fn sign_bit(x: f32) -> bool {  // (true for -0 and for a NaN with its sign bit set)
    return (bitcast<u32>(x) & 0x80000000u) != 0u;
}
fn with_sign_of(r: f32, x: f32) -> f32 {  // r, negated where x's sign bit is set (-0 included)
    return select(r, -r, sign_bit(x));
}
fn log1p_(x: f32) -> f32 {
    if (abs(x) < 0.5) {  // 2 atanh(s), s = x / (2 + x), by its series: lavapipe's log near 1 is ~2e-8 off
        let s = x / (2.0 + x);  // absolutely, which was 2e-4 of log1p(1e-4) and 20% of log1p(1e-7)
        let z = s * s;
        return 2.0 * s * (1.0 + z * (0.33333334 + z * (0.2 + z * (0.14285715 + z * (0.11111111
               + z * (0.09090909 + z * (0.07692308 + z * 0.06666667)))))));
    }
    let u = 1.0 + x;
    if (is_nan(x) || u > 3.4e38) { return select(x, u, u > 3.4e38); }
    return log(u) * (x / (u - 1.0));  // (the rounding of 1 + x undone)
}
fn expm1_(x: f32) -> f32 {
    if (abs(x) < 0.5) {  // Taylor to x^9 (within 4e-10): lavapipe's exp(x) near 1 is too rough for exp(x) - 1
        return x * (1.0 + x * (0.5 + x * (0.16666667 + x * (0.041666668 + x * (0.008333334 + x * (0.0013888889
               + x * (1.984127e-4 + x * (2.4801588e-5 + x * 2.7557319e-6))))))));
    }
    if (x > 0.5) {
        let h = exp(0.5 * x);  // squared, so exp(x) does not overflow before expm1(x) does
        return h * h - 1.0;
    }
    let u = exp(x);
    if (u == 1.0 || is_nan(x)) { return x; }
    let um1 = u - 1.0;
    if (um1 == -1.0) { return -1.0; }
    return um1 * x / log(u);
}
fn sinh_(x: f32) -> f32 {
    if (abs(x) < 0.5) {  // Taylor to x^11: (exp(x) - exp(-x)) / 2 cancels near 0
        let z = x * x;
        return x + x * z * (0.16666667 + z * (0.008333334 + z * (1.984127e-4 + z * (2.7557319e-6 + z * 2.5052108e-8))));
    }
    return sinh(x);
}
// log near 1 through log1p_ (x - 1 is exact there): lavapipe's log and log2 are ~2e-8 off absolutely,
// which was 5% of log(0.999998)
fn log_(x: f32) -> f32 {
    if (x > 0.5 && x < 1.5) { return log1p_(x - 1.0); }
    return log(x);
}
fn log2_(x: f32) -> f32 {
    if (x > 0.5 && x < 1.5) { return log1p_(x - 1.0) * 1.4426950408889634; }
    return log2(x);
}
// the inverse hyperbolic functions through log1p_ (WGSL's own lose everything near 0 on lavapipe,
// which computes them as log(x + sqrt(...))); past 4096, asinh and acosh are log(2x) to float32
fn asinh_(x: f32) -> f32 {
    let a = abs(x);
    var r = log(a) + 0.6931471805599453;
    if (a <= 4096.0) {
        r = log1p_(a + a * a / (1.0 + sqrt(1.0 + a * a)));
    }
    return with_sign_of(r, x);
}
fn acosh_(x: f32) -> f32 {
    if (x < 1.0) { return nan(); }
    if (x > 4096.0) { return log(x) + 0.6931471805599453; }
    let t = x - 1.0;
    return log1p_(t + sqrt(t * (x + 1.0)));
}
fn atanh_(x: f32) -> f32 {
    let a = abs(x);
    if (a > 1.0) { return nan(); }
    var r = bitcast<f32>(0x7f800000u);
    if (a < 1.0) {
        r = 0.5 * log1p_(2.0 * a / (1.0 - a));
    }
    return with_sign_of(r, x);
}
fn erfinv_(x: f32) -> f32 {
    // backends/cpu.py's fits of erfinv(a) / a in w = -log(1 - a^2) (w - 2.5 below 5, sqrt(w) - 3 above),
    // w through log1p_ below 1/2 (1 - a^2 is near 1 there) and (1 - a)(1 + a) above (1 - a is exact)
    let a = abs(x);
    if (a >= 1.0) {  // +-inf at +-1, NaN past it
        return select(nan(), select(bitcast<f32>(0x7f800000u), bitcast<f32>(0xff800000u), x < 0.0), a == 1.0);
    }
    var w = -log((1.0 - a) * (1.0 + a));
    if (a < 0.5) { w = -log1p_(-a * a); }
    var p: f32;
    if (w < 5.0) {
        let t = w - 2.5;
        p = 1.50140936 + t * (0.246640272 + t * (-0.00417737215 + t * (-0.00125270754 + t * (0.000218330784
            + t * (-4.9855132e-06 + t * (-3.45873061e-06 + t * (4.71372163e-07 + t * (2.28779905e-08
            + t * (-9.19248064e-09)))))))));
    } else {
        let t = sqrt(w) - 3.0;
        p = 2.8329768 + t * (1.00167499 + t * (0.00944509492 + t * (-0.00763755042 + t * (0.00568886963
            + t * (-0.00359716029 + t * (0.00147916961 + t * (-5.44827976e-05 + t * (-0.000303883888
            + t * (0.000111935822)))))))));
    }
    return with_sign_of(p * a, x);
}
fn tanh_(x: f32) -> f32 {
    if (is_nan(x) || abs(x) < 0.0005) { return x; }  // tanh(x) = x to float32 precision
    let y = clamp(x, -15.0, 15.0);  // exp overflows past that; tanh is +-1 there
    let e = exp(2.0 * y);
    return (e - 1.0) / (e + 1.0);
}
fn erf_(x: f32) -> f32 {
    let a = abs(x);
    if (a < 0.5) {
        let a2 = a * a;
        let s = a * (1.1283791671 + a2 * (-0.3761263890 + a2 * (0.1128379167 + a2 * (-0.0268661706
                + a2 * (0.0052239776 + a2 * -0.0008548327)))));
        return with_sign_of(s, x);  // (erf(-0) is -0)
    }
    let t = 1.0 / (1.0 + 0.5 * a);
    let poly = t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807
               + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    let r = 1.0 - t * exp(-a * a - 1.26551223 + poly);
    return select(r, -r, x < 0.0);
}
fn pow_(a: f32, b: f32) -> f32 {
    // WGSL's pow is undefined for a < 0: use |a| and the sign of an odd integer power
    if (b == 0.0 || a == 1.0 || (a == -1.0 && abs(b) > 3.4e38)) { return 1.0; }  // (-1) ** +-inf is 1
    if (is_nan(a) || is_nan(b)) { return nan(); }  // (lavapipe's pow(NaN, 2) is 0)
    if (a < -3.4e38) {  // -inf: C's rules (WGSL's pow is undefined for a < 0)
        let odd_ = trunc(b) == b && abs(b % 2.0) == 1.0;
        if (b < 0.0) { return select(0.0, -0.0, odd_); }
        return select(bitcast<f32>(0x7f800000u), bitcast<f32>(0xff800000u), odd_);
    }
    if (a == 0.0 && b < 0.0) {  // WGSL leaves pow(0, b < 0) undefined: +-inf, as C's pow
        let odd = trunc(b) == b && abs(b % 2.0) == 1.0 && sign_bit(a);
        return select(bitcast<f32>(0x7f800000u), bitcast<f32>(0xff800000u), odd);
    }
    let r = pow(abs(a), b);
    if (a >= 0.0 || is_nan(a)) { return r; }
    if (trunc(b) != b) { return nan(); }
    return select(r, -r, abs(b % 2.0) == 1.0);
}
fn atan_(x: f32) -> f32 {
    // lavapipe's atan is ~40 ulp off (WGSL allows 4096): reduced to |t| <= tan(pi/8), then
    // atan(t) = t + t z Q(z), z = t^2, Q our own least-squares fit (1.3 ulp)
    let a = abs(x);
    var base = 0.0;
    var t = a;
    if (a > 2.4142135) {
        base = 1.5707964;
        t = -1.0 / a;
    } else if (a > 0.41421357) {
        base = 0.7853982;
        t = (a - 1.0) / (a + 1.0);
    }
    let z = t * t;
    let r = base + (t + t * z * (-0.33332938 + z * (0.19977359 + z * (-0.13874431 + z * 0.08044404))));
    return with_sign_of(r, x);  // (atan(-0) is -0)
}
fn atan2_(y: f32, x: f32) -> f32 {
    if (is_nan(y) || is_nan(x)) { return nan(); }
    if (y == 0.0) {  // +-0 or +-pi by the signs, as C (lavapipe gives 3pi/4 at (0, 0))
        let r = select(0.0, 3.14159265358979, x < 0.0 || (x == 0.0 && sign_bit(x)));
        return with_sign_of(r, y);
    }
    let yi = abs(y) > 3.4e38;
    if (x == 0.0 || (yi && abs(x) <= 3.4e38)) { return select(1.5707964, -1.5707964, y < 0.0); }
    if (abs(x) > 3.4e38) {  // +-inf: 0 or pi (y finite), pi/4 or 3pi/4 (y infinite), signed as y
        let r = select(select(0.0, 3.1415927, x < 0.0), select(0.7853982, 2.3561945, x < 0.0), yi);
        return select(r, -r, y < 0.0);
    }
    let r = atan_(y / x);
    if (x < 0.0) { return select(r - 3.1415927, r + 3.1415927, y > 0.0); }
    return r;
}
fn finite_over_inf_(a: f32, b: f32) -> bool {
    return (bitcast<u32>(b) & 0x7fffffffu) == 0x7f800000u && (bitcast<u32>(a) & 0x7f800000u) != 0x7f800000u;
}
fn fmod_(a: f32, b: f32) -> f32 {
    // exact, as C's fmod (a - b * trunc(a / b) loses every digit once |a / b| passes 2^24):
    // subtract |b| scaled by powers of two to the remainder's binade; each step is exact
    if (finite_over_inf_(a, b)) { return a; }
    if (is_nan(a) || is_nan(b) || b == 0.0 || (bitcast<u32>(a) & 0x7fffffffu) == 0x7f800000u) { return nan(); }
    let y = abs(b);
    let ey = frexp(y).exp;
    var r = abs(a);
    for (var i = 0; i < 300 && r >= y; i = i + 1) {
        var s = ldexp(y, frexp(r).exp - ey);
        if (s > r) { s = s * 0.5; }
        r = r - s;
    }
    return select(r, -r, a < 0.0 || (a == 0.0 && sign_bit(a)));
}
fn fremainder_(a: f32, b: f32) -> f32 {
    // PyTorch's rule: the exact fmod, moved to the divisor's sign
    let m = fmod_(a, b);
    return select(m, m + b, m != 0.0 && ((b < 0.0) != (m < 0.0)));
}
fn ffloordiv_(a: f32, b: f32) -> f32 {
    // PyTorch's div_floor: through the remainder, so an infinite a gives NaN and a finite a
    // over an infinite b of the other sign gives -1, as in Python
    if (b == 0.0) { return a / b; }
    let m = fmod_(a, b);
    var d = (a - m) / b;
    if (m != 0.0 && ((b < 0.0) != (m < 0.0))) { d = d - 1.0; }
    if (d == 0.0) { return select(0.0, -0.0, a / b < 0.0); }
    let f = floor(d);
    return select(f, f + 1.0, d - f > 0.5);
}
fn ipow_(a: i32, b: i32) -> i32 {
    if (b < 0) {  // PyTorch's rule: the truncated reciprocal
        if (a == 1) { return 1; }
        if (a == -1) { return select(-1, 1, (b & 1) == 0); }
        return 0;
    }
    var r = 1;
    var base = a;
    var e = b;
    loop {
        if (e <= 0) { break; }
        if ((e & 1) == 1) { r = r * base; }
        base = base * base;
        e = e >> 1u;
    }
    return r;
}
fn floordiv_(a: i32, b: i32) -> i32 {
    let q = a / b;
    return select(q, q - 1, b != 0 && (a % b != 0) && ((a < 0) != (b < 0)));
}
fn floormod_(a: i32, b: i32) -> i32 {
    let r = a % b;
    return select(r, r + b, b != 0 && r != 0 && ((r < 0) != (b < 0)));
}
"""


def expr_for(table, op, k):
    entry = table.get(op)
    if entry is None:
        raise NotImplementedError(f"'{op}' is not implemented on the wgpu device yet")
    e = entry.get(k, entry.get("*"))
    if e is None:
        raise NotImplementedError(f'"{op}" not implemented for the {_CT[k]} dtype on wgpu')
    return e


def convert(value, from_t, to_k):
    """WGSL that turns a value of storage type from_t into computation kind to_k."""
    to_t = _CT[to_k]
    if to_k == "b":
        if from_t in ("f32", "f16r", "bf16r"):  # NaN is true, as in PyTorch (WGSL's != is ordered)
            return f"({value} != 0.0 || is_nan({value}))"
        return f"({value} != {'0u' if from_t == 'u32' else '0'})"
    if from_t == to_t:
        return value
    return f"{to_t}({value})"


# float16 and bfloat16 tensors are held in f32 words rounded to their precision at
# every store ("f16r", "bf16r"), so results equal half arithmetic done in float32, as
# PyTorch computes it. bfloat16 keeps a float32's top 16 bits, rounded to nearest even.
ROUND16 = "unpack2x16float(pack2x16float(vec2<f32>({}, 0.0))).x"
ROUND_BF16 = "round_bf16({})"
ROUND_BF16_FN = """fn round_bf16(x: f32) -> f32 {
    let u = bitcast<u32>(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) { return bitcast<f32>((u | 0x400000u) & 0xffff0000u); }  // NaN stays NaN
    return bitcast<f32>((u + 0x7fffu + ((u >> 16u) & 1u)) & 0xffff0000u);
}

"""


# NaN test and value (WGSL has neither): prepended to every kernel that calls them
NAN_FNS = """fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

fn nan() -> f32 {
    return bitcast<f32>(0x7fc00000u);
}

"""


def with_helpers(source):
    """source with the WGSL helper functions it calls prepended."""
    if "row_reduce(" in source and "fn row_reduce" not in source:
        source = read_shader("row_reduce.wgsl") + source
    if ("is_nan(" in source or "nan()" in source) and "fn is_nan" not in source:
        source = NAN_FNS + source
    return ROUND_BF16_FN + source if "round_bf16(" in source and "fn round_bf16" not in source else source


def decl(t):
    """The WGSL array element type of a storage type."""
    return "f32" if t in ("f16r", "bf16r") else "i32" if t in _WRAP_EXPR else t


# int8 / uint8 / int16 live in i32 words and wrap around at every store, as in PyTorch
_WRAP = {np.dtype(np.uint8): ("u8w", "({}) & 255"), np.dtype(np.int8): ("i8w", "(({}) << 24u) >> 24u"),
         np.dtype(np.int16): ("i16w", "(({}) << 16u) >> 16u")}
_WRAP_EXPR = {t: e for t, e in _WRAP.values()}


@functools.lru_cache(maxsize=None)
def out_type(np_dtype):
    """The storage type results of a logical dtype are written as."""
    d = np.dtype(np_dtype)
    if d == np.float16:
        return "f16r"
    if d == BF16_BITS:
        return "bf16r"
    if d in _WRAP:
        return _WRAP[d][0]
    return WGSL_T[STORAGE_OF(d)]


def STORAGE_OF(np_dtype):
    return STORAGE[np.dtype(np_dtype)]


def store(expr, result_k, out_t):
    """WGSL that turns a result of kind result_k into the output storage type."""
    if out_t == "f16r":
        return ROUND16.format(store(expr, result_k, "f32"))
    if out_t == "bf16r":
        return ROUND_BF16.format(store(expr, result_k, "f32"))
    if out_t in _WRAP_EXPR:
        return _WRAP_EXPR[out_t].format(store(expr, result_k, "i32"))
    if result_k == "b":
        return f"select(0u, 1u, {expr})" if out_t == "u32" else f"select({out_t}(0), {out_t}(1), {expr})"
    if _CT[result_k] == out_t:
        return expr
    return f"{out_t}({expr})"


def scalar_load(i, k):
    src = f"p.scalars[{i}]"
    return {"f": f"bitcast<f32>({src})", "i": f"bitcast<i32>({src})", "b": f"({src} != 0u)"}[k]


_STRIDED_WALK = """    var rem = i;
    for (var k = i32(p.ndim) - 1; k >= 0; k--) {
        let size = p.shape[k / 4][k % 4];
        let idx = i32(rem % size);
        rem = rem / size;
        o.x += idx * p.strides[k / 4][k % 4];
        o.y += idx * p.strides[2 + k / 4][k % 4];
        o.z += idx * p.strides[4 + k / 4][k % 4];
    }"""


def elementwise_source(in_types, in_kinds, scalar_kinds, expr, result_k, out_t, layouts):
    """The WGSL of one specialised elementwise kernel: inputs v0.., scalars s0..
    layouts: per input 'c' (contiguous), 's' (one broadcast value) or 'n' (strided)."""
    decls = "\n".join(f"@group(0) @binding({i + 1}) var<storage, read> in{i}: array<{t}>;"
                      for i, t in enumerate(in_types))
    strided = "n" in layouts
    at = {"c": "o.{} + i32(i)", "s": "o.{}", "n": "o.{}"}
    loads = "\n".join(f"    let v{i} = {convert(f'in{i}[' + (at['n'] if strided else at[lay]).format(c) + ']', t, k)};"
                      for i, (t, k, c, lay) in enumerate(zip(in_types, in_kinds, "xyz", layouts)))
    loads += "".join(f"\n    let s{j} = {scalar_load(j, k)};" for j, k in enumerate(scalar_kinds))
    return Template(read_shader("elementwise.wgsl")).substitute(
        OUT_T=decl(out_t), IN_DECLS=decls, PARAM_BINDING=len(in_types) + 1, HELPERS=HELPERS, LOADS=loads,
        INDEX=_STRIDED_WALK if strided else "",
        EXPR=store(expr, result_k, out_t))


_FLOAT_BITS = {}  # the float scalars seen so far (a loop uses the same few): their float32 bits


def scalar_bits(value, k):
    """A Python scalar as the 32-bit pattern of its computation kind."""
    if k == "f":
        bits = _FLOAT_BITS.get(value)
        if bits is not None and value:  # (0.0 and -0.0 are one key)
            return bits
        bits = struct.unpack("<I", struct.pack("<f", float(value)))[0] if abs(float(value)) < 3.4e38 or \
            value != value else int(np.array(value, np.float32).view(np.uint32))
        if len(_FLOAT_BITS) < 4096:
            _FLOAT_BITS[value] = bits
        return bits
    if k == "b":
        return int(bool(value))
    return int(value) & 0xFFFFFFFF


# -- reductions: {op: {kind: (fold, identity)}} -------------------------------------------------
_NAN_MAX = "select(max(a, b), nan(), is_nan(a) || is_nan(b))"
_NAN_MIN = "select(min(a, b), nan(), is_nan(a) || is_nan(b))"
REDUCE = {
    "sum": {"f": ("a + b", "0.0"), "i": ("a + b", "0"), "b": ("a || b", "false")},
    "mean": {"f": ("a + b", "0.0")},
    "prod": {"f": ("a * b", "1.0"), "i": ("a * b", "1"), "b": ("a && b", "true")},
    "amax": {"f": (_NAN_MAX, "-bitcast<f32>(0x7f800000u)"), "i": ("max(a, b)", "-2147483647 - 1"),
             "b": ("a || b", "false")},
    "amin": {"f": (_NAN_MIN, "bitcast<f32>(0x7f800000u)"), "i": ("min(a, b)", "2147483647"),
             "b": ("a && b", "true")},
    "all": {"b": ("a && b", "true")},
    "any": {"b": ("a || b", "false")},
}


_SUM64 = """
fn widen(x: i32) -> vec2<u32> {
    return vec2<u32>(bitcast<u32>(x), select(0u, 0xffffffffu, x < 0));
}

fn add64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let lo = a.x + b.x;
    return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}"""
_SUM64_FINISH = """        let r = acc[0];
        let lo = bitcast<i32>(r.x);
        if (r.y != select(0u, 0xffffffffu, lo < 0)) {
            atomicOr(&err[0], 1u);  // int64 is stored as int32 here: report, never wrap silently
        }
        out[row] = lo;"""


_ERR_DECL = "@group(0) @binding(2) var<storage, read_write> err: array<atomic<u32>>;"


def reduce_source(op, in_t, k, out_t, strided=False):
    """The row reduction (reduce.wgsl), or with strided the middle-dim one (reduce_strided.wgsl)."""
    shader, elem = ("reduce_strided.wgsl", "inp[base + j * p.inner]") if strided else ("reduce.wgsl", "inp[base + j]")
    if op == "sum" and k == "i":  # exact: 64-bit adds, the result checked against int32
        return Template(read_shader(shader)).substitute(
            OUT_T="i32", IN_T=in_t, T="vec2<u32>", FOLD="add64(a, b)", IDENTITY="vec2<u32>(0u, 0u)",
            LOAD=f"widen({convert(elem, in_t, 'i')})", HELPERS=_SUM64, FINISH=_SUM64_FINISH,
            EXTRA_DECL=_ERR_DECL, PARAM_BINDING=3)
    fold, identity = REDUCE[op][k]
    t = _CT[k]
    result = "acc[0] * p.scale" if op == "mean" else "acc[0]"
    checked = op == "prod" and k == "i"  # products past int32 are flagged
    return Template(read_shader(shader)).substitute(
        OUT_T=decl(out_t), IN_T=in_t, T=t, FOLD="mul_checked(a, b)" if checked else fold, IDENTITY=identity,
        LOAD=convert(elem, in_t, k), HELPERS=CHECKED_INT if checked else "",
        EXTRA_DECL=_ERR_DECL if checked else "", PARAM_BINDING=3 if checked else 2,
        FINISH=f"        out[row] = {store(result, k, out_t)};")


def argreduce_source(op, in_t, k):
    t = "f32" if k == "f" else "i32"
    return Template(read_shader("argreduce.wgsl")).substitute(
        IN_T=in_t, T=t, NANQ="is_nan_(x)" if k == "f" else "false", CMP=">" if op == "argmax" else "<") \
        .replace("fn nanq", "fn is_nan_(x: f32) -> bool {\n    return (bitcast<u32>(x) & 0x7fffffffu) > "
                 "0x7f800000u;\n}\n\nfn nanq", 1)


# int32 adds and multiplies that flag a result past int32 (wgpu keeps int64 as int32)
CHECKED_INT = """fn add_checked(a: i32, b: i32) -> i32 {
    let r = a + b;
    if ((b > 0 && r < a) || (b < 0 && r > a)) {
        atomicOr(&err[0], 1u);
    }
    return r;
}

fn mul_checked(a: i32, b: i32) -> i32 {
    let r = a * b;
    if ((a != 0 && r / a != b) || (a == -1 && b == -2147483648) || (b == -1 && a == -2147483648)) {
        atomicOr(&err[0], 1u);
    }
    return r;
}
"""


def scan_source(op, in_t, k, out_t):
    fold = {("cumsum", "i"): "add_checked(a, b)", ("cumprod", "i"): "mul_checked(a, b)"}.get(
        (op, k), "a + b" if op == "cumsum" else "a * b")
    identity = {"cumsum": {"f": "0.0", "i": "0"}, "cumprod": {"f": "1.0", "i": "1"}}[op]
    return Template(read_shader("scan.wgsl")).substitute(
        OUT_T=decl(out_t), IN_T=in_t, T=_CT[k], IDENTITY=identity[k], FOLD=fold,
        HELPERS=CHECKED_INT if k == "i" else "",
        LOAD=convert("inp[p.in_offset + r * p.stride + j]", in_t, k), STORE=store("acc", k, out_t))


def softmax_source(op, out_t):
    r = "exp(z) / s" if op == "softmax" else "z - log(s)"
    return Template(read_shader("softmax.wgsl")).substitute(RESULT=store(r, "f", out_t))


MATMUL_PARAMS = """struct Params {
    m: u32, n: u32, k: u32, pad0: u32,
    a_off: i32, a_bs: i32, a_sm: i32, a_sk: i32,
    b_off: i32, b_bs: i32, b_sk: i32, b_sn: i32,
}"""


def matmul_source(t, out_t, layout):
    """layout: 'tiled' (16x16 workgroup-memory tiles: GPUs), 'blocked' (4x4 outputs
    per thread, no workgroup memory: CPU-like drivers) or 'vec4' (blocked with vec4
    loads, for contiguous float32 rows)."""
    acc = {"tiled": "acc", "blocked": "acc_ij", "vec4": "acc_ij"}[layout]
    name = {"tiled": "matmul.wgsl", "blocked": "matmul_blocked.wgsl", "vec4": "matmul_vec4.wgsl"}[layout]
    mac = (f"fn mac(acc: {t}, x: {t}, y: {t}) -> {t} {{\n    return acc + x * y;\n}}\n" if t == "f32" else
           "fn mac(acc: i32, x: i32, y: i32) -> i32 {\n    return add_checked(acc, mul_checked(x, y));\n}\n\n" +
           CHECKED_INT)
    return Template(read_shader(name)).safe_substitute(
        PARAMS=MATMUL_PARAMS, T=t, MAC=mac, STORE=store(acc, "f" if t == "f32" else "i", out_t))


def matmul_texture_source(tm, tn):
    """The texture-operand matmul with a tm x tn block of C per thread, unrolled:
    one named vec4 accumulator per 4 columns of each row (no indexed arrays)."""
    am, bn = tm // 4, tn // 4
    acc = "\n".join("    " + " ".join(f"var c{i}_{j} = vec4<f32>(0.0);" for j in range(bn)) for i in range(tm))
    loads = "\n".join([f"        let a{i} = textureLoad(at, vec2<u32>(aq + {i}u, k), 0);" for i in range(am)] +
                      [f"        let b{j} = textureLoad(bt, vec2<u32>(bq + {j}u, k), 0);" for j in range(bn)])
    fmas = "\n".join("        " + " ".join(f"c{i}_{j} = fma(vec4<f32>(a{i // 4}.{'xyzw'[i % 4]}), b{j}, c{i}_{j});"
                                            for j in range(bn)) for i in range(tm))
    stores = "\n".join(f"    store_row(row0 + {i}u, col0, array<vec4<f32>, {bn}>(" +
                       ", ".join(f"c{i}_{j}" for j in range(bn)) + "));" for i in range(tm))
    full = "\n".join("        " + " ".join(f"c[base + {4 * j + t}u] = v[{j}].{'xyzw'[t]};" for t in range(4))
                     for j in range(bn))
    return Template(read_shader("matmul_texture.wgsl")).substitute(
        TM=tm, TN=tn, AM=am, BN=bn, ACCUMULATORS=acc, LOADS=loads, FMAS=fmas, STORES=stores, FULL_STORES=full)


def optim_source(kind_, flags):
    """The fused step of SGD (flags: maximize, weight decay, momentum, first step, nesterov),
    Adam (flags: maximize, weight decay, decoupled, amsgrad), RMSprop (maximize, weight decay,
    centered, momentum) or Adagrad (maximize, weight decay); s0.. are its state buffers."""
    f = dict(flags)
    lines = ["    g = -g;"] if f["maximize"] else []
    if kind_ == "sgd":
        if f["weight_decay"]:
            lines.append("    g = g + u.c * p[i];")
        if f["momentum"]:
            lines.append("    let buf = g;" if f["first"] else "    let buf = u.a * s0[i] + (1.0 - u.b) * g;")
            lines.append("    s0[i] = buf;")
            lines.append("    g = g + u.a * buf;" if f["nesterov"] else "    g = buf;")
        lines.append("    p[i] = p[i] - u.lr * g;")
    elif kind_ == "rmsprop":  # s0 square average, s1 gradient average, s2 momentum buffer
        if f["weight_decay"]:
            lines.append("    g = g + u.c * p[i];")
        lines += ["    let sq = s0[i] * u.a + (1.0 - u.a) * g * g;", "    s0[i] = sq;"]
        if f["centered"]:
            lines += ["    let ga = s1[i] + (1.0 - u.a) * (g - s1[i]);", "    s1[i] = ga;",
                      "    let avg = sqrt(sq - ga * ga) + u.b;"]
        else:
            lines.append("    let avg = sqrt(sq) + u.b;")
        if f["momentum"]:
            lines += ["    let buf = s2[i] * u.d + g / avg;", "    s2[i] = buf;", "    p[i] = p[i] - u.lr * buf;"]
        else:
            lines.append("    p[i] = p[i] - u.lr * (g / avg);")
    elif kind_ == "adagrad":  # s0 the running sum of squares
        if f["weight_decay"]:
            lines.append("    g = g + u.b * p[i];")
        lines += ["    let s = s0[i] + g * g;", "    s0[i] = s;", "    p[i] = p[i] - u.c * (g / (sqrt(s) + u.a));"]
    else:
        if f["weight_decay"]:
            lines.append("    p[i] = p[i] * (1.0 - u.lr * u.d);" if f["decoupled"] else "    g = g + u.d * p[i];")
        lines += ["    let m = s0[i] + (1.0 - u.a) * (g - s0[i]);  // lerp(m, g, 1 - beta1)",
                  "    let v = s1[i] * u.b + (1.0 - u.b) * g * g;",
                  "    s0[i] = m;", "    s1[i] = v;"]
        if f["amsgrad"]:
            lines += ["    let vmax = max(s2[i], v);", "    s2[i] = vmax;",
                      "    let denom = sqrt(vmax) / u.f + u.c;"]
        else:
            lines.append("    let denom = sqrt(v) / u.f + u.c;")
        lines.append("    p[i] = p[i] - u.e * (m / denom);")
    return Template(read_shader("optim.wgsl")).substitute(UPDATE="\n".join(lines))


# how the index kernel adds a value into data[src]: compare-and-swap for f32, atomic add for i32, or for bool
_ATOMIC_ADD = {
    "f32": """    var old = atomicLoad(&data[src]);
    loop {
        let r = atomicCompareExchangeWeak(&data[src], old, bitcast<u32>(bitcast<f32>(old) + bitcast<f32>(other[vo])));
        if (r.exchanged) { break; }
        old = r.old_value;
    }""",
    "i32": "    atomicAdd(&data[src], other[vo]);",
    "u32": "    atomicOr(&data[src], other[vo]);",
}


def index_source(mode, n_idx, t):
    """The one kernel of strided reads and writes through index arrays (gather,
    scatter, advanced indexing, index_put, strided copies). mode: 'get' (data is
    the result, other the source), 'put' or 'add' (data is written, other the values)."""
    decls = "\n".join(f"@group(0) @binding({j + 2}) var<storage, read> idx{j}: array<i32>;" for j in range(n_idx))
    loads = "\n".join(f"    if (j == {j}u) {{ return idx{j}[at]; }}" for j in range(n_idx))
    if mode == "get":
        data_t, body = "u32", "    data[i] = other[src];"
    elif mode == "put":
        data_t, body = "u32", "    data[src] = other[vo];"
    else:
        data_t, body = "atomic<u32>", _ATOMIC_ADD[t]
    return Template(read_shader("index.wgsl")).substitute(
        DATA_T=data_t, IDX_DECLS=decls, ERR_BINDING=n_idx + 2, PARAM_BINDING=n_idx + 3, IDX_LOADS=loads, BODY=body)


# -- random numbers: {kind: (code run once per block of 4, value of element j)} -------------------
_RANDOM = {
    "uniform": ("", "unit(w[j]) * (p.b - p.a) + p.a"),
    # Box-Muller on the pairs (w0, w1) and (w2, w3)
    "normal": ("""    var z: vec4<f32>;
    for (var h = 0u; h < 2u; h++) {
        let r = sqrt(-2.0 * log(unit(w[2u * h]) + 5.9604644775390625e-08));
        let th = 6.283185307179586 * unit(w[2u * h + 1u]);
        z[2u * h] = r * cos(th);
        z[2u * h + 1u] = r * sin(th);
    }""", "z[j] * p.b + p.a"),
    "randint": ("", "p.lo + i32(w[j] % p.range)"),
}


def random_source(kind_, out_t):
    prepare, value = _RANDOM[kind_]
    k = "i" if kind_ == "randint" else "f"
    return Template(read_shader("philox.wgsl")).substitute(OUT_T=decl(out_t), PREPARE=prepare,
                                                           VALUE=store(value, k, out_t))
