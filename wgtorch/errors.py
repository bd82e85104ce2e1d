"""Exception types and the checks that raise them (PyTorch's types and wording)."""
import numpy as np


class OutOfMemoryError(RuntimeError):
    """Raised when a device allocation exceeds what the device allows."""


def check_int_divisor(x, y):
    """Integer division or remainder by zero raises, as PyTorch's CPU kernels do."""
    if x.dtype.kind in "iub" and np.any(np.asarray(y) == 0):
        raise RuntimeError("ZeroDivisionError")
