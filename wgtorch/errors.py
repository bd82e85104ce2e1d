"""Exception types and the checks that raise them (PyTorch's types and wording)."""
import numpy as np


class OutOfMemoryError(RuntimeError):
    """Raised when a device allocation exceeds what the device allows."""


class DeviceIndexError(IndexError, RuntimeError):
    """An index out of range found by a GPU kernel, raised at the next read-back. It is
    both PyTorch cpu errors at once: indexing raises IndexError there, gather RuntimeError."""


def check_int_divisor(x, y):
    """Integer division or remainder by zero raises, as PyTorch's CPU kernels do."""
    # (an empty result divides nothing: PyTorch does not raise for it)
    if x.dtype.kind in "iub" and np.any(np.asarray(y) == 0) and 0 not in np.broadcast_shapes(x.shape, np.shape(y)):
        raise RuntimeError("ZeroDivisionError")
