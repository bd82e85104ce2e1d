"""PyTorch's CPU Box-Muller for float32 normals (``randn``/``normal_`` of 16 elements or more), bit for bit.

PyTorch 2.13's AVX2 kernel turns each block of 16 uniforms u into 16 normals: the first 8 lanes give
u1 = 1 - u[:8], the last 8 u2 = u[8:], and lane j gets r*cos(t) * std + mean, lane j+8 r*sin(t) * std + mean,
with r = sqrt(-2 log u1) and t = 2*pi*u2. log, sin and cos are Cephes-style float32 polynomials (the
"avx_mathfun" routines) which GCC compiled with fused multiply-adds. Reading the instructions of
libtorch_cpu.so (NormalFill16<float, true>) gives the exact order of float32 operations; this module
replays it in NumPy: plain float32 multiplies and adds where the kernel rounds each step, and an
exactly rounded float32 fma (below) where it fuses. The constants are the kernel's own float32 bits.

Machines without AVX2 run PyTorch's scalar fallback (glibc's logf/sinf/cosf), which this does not
reproduce."""
import numpy as np

F32 = np.float32
_U64 = np.uint64


def _f32(*bits):
    return tuple(F32(v) for v in np.array(bits, np.uint32).view(np.float32))


_LOG_P = _f32(0x3d9021bb, 0xbdebd1b8, 0x3def251a, 0xbdfe5d4f, 0x3e11e9bf, 0xbe2aae50, 0x3e4cceac,
              0xbe7ffffc, 0x3eaaaaaa)          # log's polynomial, highest power first
_LOG_Q1, _LOG_Q2 = _f32(0xb95e8083, 0x3f318000)  # ln 2 split in two
(_SQRTHF,) = _f32(0x3f3504f3)
(_TWO_PI,) = _f32(0x40c90fdb)                    # float(2 pi)
(_FOUR_OVER_PI,) = _f32(0x3fa2f983)
_DP1, _DP2, _DP3 = _f32(0xbf490000, 0xb97da000, 0xb3222169)  # -pi/4 in three parts
_COS_P = _f32(0x37ccf5ce, 0xbab6061a, 0x3d2aaaa5)
_SIN_P = _f32(0xb94ca1f9, 0x3c08839e, 0xbe2aaaa3)

_TIE_MASK, _TIE = _U64((1 << 29) - 1), _U64(1 << 28)  # the 29 bits a double has beyond a float


def fma32(a, b, c):
    """round_to_float32(a * b + c) computed exactly, for float32 inputs (arrays or scalars).

    The product of two floats is exact in float64, so one float64 add leaves a single rounding
    before the final one. Two roundings differ from one only when the float64 sum lands exactly
    halfway between two floats; those (rare) lanes are redone from the sum's exact error term."""
    p = np.multiply(a, b, dtype=np.float64)
    s = np.add(p, c, dtype=np.float64)
    tie = (s.view(_U64) & _TIE_MASK) == _TIE
    r = s.astype(F32)
    if tie.any():
        p, s, cc = np.broadcast_arrays(p, s, np.asarray(c, np.float64))
        p, s, cc = p[tie], s[tie], cc[tie]
        bb = s - p                                   # TwoSum: p + c == s + err exactly
        err = (p - (s - bb)) + (cc - bb)
        toward = np.where(err > 0, np.inf, np.where(err < 0, -np.inf, s))
        r[tie] = np.nextafter(s, toward).astype(F32)  # off the halfway point, to the side of the true sum
    return r


def _log(u1, fma):
    """The kernel's float32 log for u1 in [2**-24, 1] (no zero, negative or denormal inputs here)."""
    bits = u1.view(np.int32)
    e = ((bits >> 23) - 127).astype(F32) + F32(1)
    m = ((bits & np.int32(-0x7f800001)) | np.int32(0x3f000000)).view(F32)  # mantissa in [0.5, 1)
    small = m < _SQRTHF
    e -= small.astype(F32)
    x = (m - F32(1)) + m * small  # m where small, else 0
    z = x * x
    y = fma(_LOG_P[0], x, _LOG_P[1])
    for p in _LOG_P[2:]:
        y = fma(y, x, p)
    y = fma(y * x, z, e * _LOG_Q1)
    y = y - z * F32(0.5)          # fused in the kernel, but z/2 is exact: the same value
    return e * _LOG_Q2 + (x + y)  # e * Q2 is exact (few bits each): the same as the fused form


def _sincos(t, fma):
    """The kernel's float32 (sin, cos) for t in [0, 2 pi)."""
    j = (t * _FOUR_OVER_PI).astype(np.int32)
    j = (j + 1) & ~1
    y = j.astype(F32)
    x = t + y * _DP1                # exact products (few bits): the same as the fused forms
    x = x + y * _DP2
    x = fma(y, _DP3, x)
    z = x * x
    c = fma(fma(_COS_P[0], z, _COS_P[1]), z, _COS_P[2])
    cos_poly = fma(z, z * c, -(z * F32(0.5))) + F32(1)
    s = fma(fma(_SIN_P[0], z, _SIN_P[1]), z, _SIN_P[2])
    sin_poly = fma(x, z * s, x)
    # pick the polynomial per lane and flip signs with bit operations, as the kernel does
    pick = ((j >> 1) & 1) - 1                   # all ones where j & 2 == 0: sin from the sine polynomial
    sp, cp = sin_poly.view(np.int32), cos_poly.view(np.int32)
    sin = ((sp & pick) | (cp & ~pick)) ^ ((j & 4) << 29)
    cos = ((cp & pick) | (sp & ~pick)) ^ ((~(j - 2) & 4) << 29)
    sin, cos = sin.view(F32), cos.view(F32)
    return sin, cos


def _lanes(u1, u2, mean, std, fma):
    """(cos half, sin half) of the normals for the lanes' uniforms u1 = 1 - u[j], u2 = u[j + 8]."""
    radius = np.sqrt(_log(u1, fma) * F32(-2))
    sin, cos = _sincos(u2 * _TWO_PI, fma)
    n1, n2 = radius * cos, radius * sin
    if std == 1 and mean == 0:  # fma(n, 1, 0) is n, with -0 turned to +0
        return n1 + F32(0), n2 + F32(0)
    return fma(n1, std, mean), fma(n2, std, mean)


class _FastFma:
    """float32 fma through one float64 sum, noting the lanes where that sum fell exactly halfway
    between two floats (there a second rounding may differ from fma's single one)."""

    def __init__(self, shape):
        self.ties = np.zeros(shape, bool)
        self._bits = np.empty(shape, _U64)
        self._tie = np.empty(shape, bool)

    def __call__(self, a, b, c):
        s = np.multiply(a, b, dtype=np.float64)
        s += c
        np.bitwise_and(s.view(_U64), _TIE_MASK, out=self._bits)
        np.equal(self._bits, _TIE, out=self._tie)
        self.ties |= self._tie
        return s.astype(F32)


_CHUNK = 1 << 11  # blocks per pass: the temporaries stay in cache


def normal_blocks(u, mean, std, out=None):
    """Normals from float32 uniforms u of shape (blocks, 16), as PyTorch's AVX2 kernel makes them
    (written into `out`, which may be u itself)."""
    m, s = F32(mean), F32(std)
    out = np.empty(u.shape, F32) if out is None else out
    redo = []  # (block, lane) of the rare lanes an fma sum left halfway between two floats
    for i in range(0, len(u), _CHUNK):
        u1 = F32(1) - u[i:i + _CHUNK, :8]
        u2 = np.ascontiguousarray(u[i:i + _CHUNK, 8:])
        fast = _FastFma(u1.shape)
        n1, n2 = _lanes(u1, u2, m, s, fast)
        if fast.ties.any():
            b, j = np.nonzero(fast.ties)
            redo.append((b + i, j, u1[b, j], u2[b, j]))
        out[i:i + _CHUNK, :8] = n1
        out[i:i + _CHUNK, 8:] = n2
    if redo:  # all of them at once, with the exact fma
        b, j, u1, u2 = (np.concatenate(v) for v in zip(*redo))
        out[b, j], out[b, j + 8] = _lanes(u1, u2, m, s, fma32)
    return out


def fma64(a, b, c):
    """round(a * b + c) for float64 arrays, exactly: a*b split into two doubles (Dekker), the sum's
    errors carried along, and the few lanes within a hair of a rounding boundary redone in exact
    rational arithmetic."""
    a, b, c = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64),
                                  np.asarray(c, np.float64))
    ph = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    pl = ((ah * bh - ph) + ah * bl + al * bh) + al * bl   # a*b == ph + pl exactly
    s, e1 = _two_sum(ph, c)
    t, e2 = _two_sum(e1, pl)
    r, e3 = _two_sum(s, t)                                # a*b + c == r + e3 + e2 exactly
    d = e3 + e2
    half = np.spacing(np.abs(r)) / 2
    pow2 = (r.view(_U64) & _U64((1 << 52) - 1)) == 0
    near = (np.abs(np.abs(d) - half) <= half * 2.0 ** -40) | (pow2 & (np.abs(np.abs(d) - half / 2) <= half * 2.0 ** -40))
    near &= np.isfinite(r) & (d != 0)
    if near.any():
        from fractions import Fraction
        idx = np.flatnonzero(near)
        fa, fb, fc = a.reshape(-1), b.reshape(-1), c.reshape(-1)
        flat = r.reshape(-1).copy()
        for i in idx:
            flat[i] = float(Fraction(float(fa[i])) * Fraction(float(fb[i])) + Fraction(float(fc[i])))
        r = flat.reshape(r.shape)
    return r


def _split(a):
    g = a * 134217729.0  # 2**27 + 1
    hi = g - (g - a)
    return hi, a - hi


def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)
