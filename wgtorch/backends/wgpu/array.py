"""The wgpu tensor handle: a storage buffer plus shape, element strides and an
element offset. Views share the storage; the buffer returns to the allocator's
pool when the last handle on it is gone."""
import numpy as np

# 32-bit storage: every dtype of this backend is held as one 32-bit word per element
# (float16 and bfloat16 as float32 rounded to their precision by every kernel that writes them)
_I32 = np.dtype(np.int32)
BF16_BITS = np.dtype(np.uint16)  # bfloat16's logical dtype on the host: its bit patterns
STORAGE = {np.dtype(np.float32): np.dtype(np.float32), np.dtype(np.float16): np.dtype(np.float32),
           BF16_BITS: np.dtype(np.float32),
           np.dtype(np.int32): _I32, np.dtype(np.int64): _I32, np.dtype(np.int16): _I32,
           np.dtype(np.int8): _I32, np.dtype(np.uint8): _I32, np.dtype(np.bool_): np.dtype(np.uint32)}


class Storage:
    # (uid and nbytes copy the buffer's, read on the per-op path; freeing one also tells
    # fusion.py, through the allocator, that held-back work need not write this result)
    __slots__ = ("buffer", "allocator", "uid", "nbytes")

    def __init__(self, buffer, allocator):
        self.buffer, self.allocator = buffer, allocator
        self.uid, self.nbytes = buffer.uid, buffer.size

    def __del__(self):
        try:
            self.allocator.free(self.buffer, self.nbytes, self.uid)
        except Exception:  # interpreter shutdown
            pass


class WgpuArray:
    __slots__ = ("storage", "shape", "strides", "offset", "dtype", "__weakref__")

    def __init__(self, storage, shape, strides, offset, dtype):
        self.storage, self.shape, self.strides, self.offset = storage, tuple(shape), tuple(strides), offset
        self.dtype = dtype  # the logical NumPy dtype (int64 even though storage holds int32)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        n = 1
        for s in self.shape:
            n *= s
        return n


def contiguous_strides(shape):
    st, acc = [], 1
    for s in reversed(shape):
        st.append(acc)
        acc *= max(s, 1)
    return tuple(reversed(st))


# Views are computed on a stand-in NumPy array with one-byte items laid out like
# the handle (no memory is touched): NumPy's own view rules give shape, strides
# and the offset, so wgpu views behave exactly like cpu ones.
_ANCHOR = np.zeros(1, np.uint8)
_ANCHOR_PTR = _ANCHOR.__array_interface__["data"][0]


def stand_in(h):
    return np.lib.stride_tricks.as_strided(_ANCHOR, h.shape, h.strides)


def from_stand_in(h, r):
    off = r.__array_interface__["data"][0] - _ANCHOR_PTR
    return WgpuArray(h.storage, r.shape, r.strides, h.offset + off, h.dtype)
