"""Philox 4x32-10 in NumPy: the independent reference for the wgpu generator."""
import numpy as np

M0, M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
W0, W1 = 0x9E3779B9, 0xBB67AE85
MASK = np.uint64(0xFFFFFFFF)


def philox(counters, seed):
    """counters: uint64 array of block numbers -> uint32 array [n, 4]."""
    c0 = (counters & MASK).astype(np.uint64)
    c1 = (counters >> np.uint64(32)).astype(np.uint64)
    c2 = np.zeros_like(c0)
    c3 = np.zeros_like(c0)
    k0, k1 = seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF
    for _ in range(10):
        p0 = M0 * c0
        p1 = M1 * c2
        hi0, lo0 = p0 >> np.uint64(32), p0 & MASK
        hi1, lo1 = p1 >> np.uint64(32), p1 & MASK
        c0, c1, c2, c3 = hi1 ^ c1 ^ np.uint64(k0), lo1, hi0 ^ c3 ^ np.uint64(k1), lo0
        k0, k1 = (k0 + W0) & 0xFFFFFFFF, (k1 + W1) & 0xFFFFFFFF
    return np.stack([c0, c1, c2, c3], axis=1).astype(np.uint32)


def words(n, seed, offset):
    blocks = -(-n // 4)
    return philox(np.arange(offset, offset + blocks, dtype=np.uint64), seed).reshape(-1)[:n]


def uniform(n, seed, offset):
    return (words(n, seed, offset) >> np.uint32(8)).astype(np.float32) * np.float32(2.0 ** -24)


def normal(n, seed, offset):
    w = (words(4 * -(-n // 4), seed, offset) >> np.uint32(8)).astype(np.float64) * 2.0 ** -24
    u1, u2 = w[0::2] + 2.0 ** -24, w[1::2]
    r = np.sqrt(-2.0 * np.log(u1))
    z = np.empty_like(w)
    z[0::2], z[1::2] = r * np.cos(2 * np.pi * u2), r * np.sin(2 * np.pi * u2)
    return z[:n]
