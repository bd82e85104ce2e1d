"""bfloat16 on the host: NumPy has no bfloat16, so its values live as their 16-bit
patterns in uint16 arrays (the top half of a float32). Arithmetic decodes to
float32, computes, and encodes back, rounding to nearest even, as PyTorch does."""
import numpy as np

BITS = np.dtype(np.uint16)  # the storage dtype of bfloat16 tensors on the host


def decode(bits):
    """float32 values of bfloat16 bit patterns (exact)."""
    return np.asarray(np.asarray(bits).astype(np.uint32) << 16).view(np.float32)  # (0-d stays an array)


def encode(values):
    """bfloat16 bit patterns of values, rounded to nearest even; NaN stays a (quiet) NaN."""
    f = np.asarray(values, dtype=np.float32)
    u = f.view(np.uint32)
    r = np.asarray((u + (0x7FFF + ((u >> 16) & 1))) >> 16).astype(np.uint16)
    nan = np.isnan(f)
    if nan.any():  # the rounding carry could turn a NaN into an infinity
        r = np.where(nan, ((u >> 16) | 0x40).astype(np.uint16), r)
    return r
