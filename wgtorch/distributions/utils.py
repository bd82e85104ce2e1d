"""Helpers the distributions share: broadcasting parameters, probs <-> logits."""
import numbers

import numpy as np

from ..dtypes import get_default_dtype
from ..ops.creation import tensor
from ..ops.shape import broadcast_tensors
from ..tensor import Tensor

__all__ = ["broadcast_all", "clamp_probs", "logits_to_probs", "probs_to_logits"]


def broadcast_all(*values):
    """values (tensors or numbers) as tensors of one broadcast shape; numbers take the dtype and
    device of the tensors among them (the default dtype when there are none)."""
    ref = next((v for v in values if isinstance(v, Tensor)), None)
    for v in values:
        if not isinstance(v, (Tensor, numbers.Number)):
            raise ValueError("Input arguments must all be instances of numbers.Number, torch.Tensor or objects "
                             "implementing __torch_function__.")
    kw = {"dtype": get_default_dtype()} if ref is None else {"dtype": ref.dtype, "device": ref.device}
    ts = [v if isinstance(v, Tensor) else tensor(float(v), **kw) for v in values]
    return broadcast_tensors(*ts)


def _eps(dtype):
    if dtype.name == "bfloat16":  # NumPy has no bfloat16: its eps is 2**-7
        return 2.0 ** -7
    return float(np.finfo(dtype.np).eps)


def clamp_probs(probs):
    """probs kept eps away from 0 and 1, so their logs are finite."""
    eps = _eps(probs.dtype)
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs, is_binary=False):
    p = clamp_probs(probs)
    return p.log() - (-p).log1p() if is_binary else p.log()


def logits_to_probs(logits, is_binary=False):
    return logits.sigmoid() if is_binary else logits.softmax(-1)
