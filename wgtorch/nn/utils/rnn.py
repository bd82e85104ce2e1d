"""Variable-length sequences (torch.nn.utils.rnn): padding a list of sequences into one tensor,
and the packed layout the recurrent layers take.

A PackedSequence holds the time steps one after another, each with only the sequences still
running at that step: ``data`` is (sum of lengths, *), ``batch_sizes[t]`` how many sequences
step t has (a cpu int64 tensor), the sequences sorted longest first (``sorted_indices`` maps
sorted position -> original batch index, ``unsorted_indices`` back). Packing and unpacking are
one ``index_select`` each (index built on the host from the lengths), so they are
differentiable and stay on the device."""
from collections import namedtuple

import numpy as np

from ... import dtypes
from ...ops.creation import full, tensor
from ...ops.shape import cat, stack
from ...tensor import Tensor

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pack_sequence", "pad_packed_sequence",
           "pad_sequence", "unpack_sequence", "unpad_sequence"]

_Fields = namedtuple("PackedSequence_", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])


class PackedSequence(_Fields):
    """(data, batch_sizes, sorted_indices, unsorted_indices); build it with pack_padded_sequence
    or pack_sequence."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:  # PackedSequence((data, batch_sizes)) as pack_padded_sequence's result
            data, batch_sizes = data[0], data[1]
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        """data converted as Tensor.to; the indices follow data's device; batch_sizes stays on cpu."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        dev = data.device
        idx = [None if i is None else i.to(dev) for i in (self.sorted_indices, self.unsorted_indices)]
        return type(self)(data, self.batch_sizes, *idx)

    def cuda(self, *args, **kwargs):
        return self.to("cuda", *args, **kwargs)

    def cpu(self):
        return self.to("cpu")

    def double(self):
        return self.to(dtype=dtypes.float64)

    def float(self):
        return self.to(dtype=dtypes.float32)

    def half(self):
        return self.to(dtype=dtypes.float16)

    def long(self):
        return self.to(dtype=dtypes.int64)

    def int(self):
        return self.to(dtype=dtypes.int32)

    @property
    def is_cuda(self):
        return self.data.device.type != "cpu"

    def is_pinned(self):
        return False


def invert_permutation(permutation):
    """The inverse permutation (None stays None)."""
    if permutation is None:
        return None
    p = permutation.cpu().numpy()
    inv = np.empty_like(p)
    inv[p] = np.arange(p.size)
    return tensor(inv, dtype=dtypes.int64, device=permutation.device)


def _lengths_np(lengths):
    if isinstance(lengths, Tensor):
        return lengths.cpu().numpy().astype(np.int64).reshape(-1)
    return np.asarray(lengths, dtype=np.int64).reshape(-1)


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """A padded batch (T, B, *) ((B, T, *) with batch_first) with each sequence's length as a
    PackedSequence. Unsorted lengths need enforce_sorted=False."""
    lens = _lengths_np(lengths)
    sorted_indices = None
    if enforce_sorted:
        if np.any(lens[:-1] < lens[1:]):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
                               "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to "
                               "sidestep this requirement if you do not need ONNX exportability.")
        order = np.arange(lens.size)
    else:
        order = np.argsort(-lens, kind="stable")  # longest first, ties in batch order
        sorted_indices = tensor(order, dtype=dtypes.int64, device=input.device)
    lens = lens[order]
    if lens.size and lens[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' that "
                           "is <= 0")
    B = input.shape[0] if batch_first else input.shape[1]
    T = input.shape[1] if batch_first else input.shape[0]
    if lens.size != B:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got {lens.size} (batch_size={B})")
    if lens.size and lens[0] > T:
        raise RuntimeError(f"Expected sequence length to be larger than or equal to max sequence length "
                           f"{lens[0]} in batch, but got {T}")
    batch_sizes = (lens[None, :] > np.arange(lens[0] if lens.size else 0)[:, None]).sum(1)
    # row of each packed element in the flattened padded input: step t, sorted position j < batch_sizes[t]
    t_idx = np.concatenate([np.full(n, t) for t, n in enumerate(batch_sizes)]) if batch_sizes.size else \
        np.zeros(0, np.int64)
    j_idx = np.concatenate([order[:n] for n in batch_sizes]) if batch_sizes.size else np.zeros(0, np.int64)
    rows = j_idx * T + t_idx if batch_first else t_idx * B + j_idx
    flat = input.reshape((T * B,) + tuple(input.shape[2:]))
    data = flat.index_select(0, tensor(rows, dtype=dtypes.int64, device=input.device))
    return PackedSequence(data, tensor(batch_sizes, dtype=dtypes.int64), sorted_indices,
                          invert_permutation(sorted_indices))


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The inverse of pack_padded_sequence: (padded (T, B, *) or (B, T, *), lengths), the batch in
    its original order."""
    data, batch_sizes, _, unsorted_indices = sequence
    bs = batch_sizes.cpu().numpy().astype(np.int64)
    T = bs.size
    if total_length is not None:
        if total_length < T:
            raise ValueError("Expected total_length to be at least the length of the longest sequence in input, "
                             f"but got total_length={total_length} and max sequence length being {T}")
        T = total_length
    B = int(bs[0]) if bs.size else 0
    # sorted position j runs for lengths[j] steps
    lengths = (bs[None, :] > np.arange(B)[:, None]).sum(1)
    # the output row of (step t, original batch b) takes packed element offset[t] + (b's sorted position),
    # or the pad row when b's sequence has ended
    pos_of_b = np.arange(B) if unsorted_indices is None else unsorted_indices.cpu().numpy()
    offsets = np.concatenate([[0], np.cumsum(bs)])[:-1]
    n = data.shape[0]
    src = np.full((T, B), n, dtype=np.int64)  # n: the pad row appended below
    for t in range(bs.size):
        live = pos_of_b < bs[t]
        src[t, live] = offsets[t] + pos_of_b[live]
    if batch_first:
        src = src.T
    pad = full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype, device=data.device)
    out = cat([data, pad], 0).index_select(0, tensor(src.reshape(-1), dtype=dtypes.int64, device=data.device))
    out = out.view(src.shape + tuple(data.shape[1:]))
    return out, tensor(lengths[pos_of_b], dtype=dtypes.int64)


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Tensors (L_i, *) stacked into (max L, B, *) ((B, max L, *) with batch_first), padded with
    padding_value on padding_side."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    if isinstance(sequences, Tensor):
        sequences = sequences.unbind(0)
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    T = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        n = T - s.shape[0]
        if n:
            fill = full((n,) + tuple(s.shape[1:]), padding_value, dtype=s.dtype, device=s.device)
            s = cat([s, fill] if padding_side == "right" else [fill, s], 0)
        padded.append(s)
    return stack(padded, 0 if batch_first else 1)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences pad_sequence was given (each cut to its length)."""
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [x[i, :n] for i, n in enumerate(_lengths_np(lengths).tolist())]


def pack_sequence(sequences, enforce_sorted=True):
    """Tensors (L_i, *) as one PackedSequence."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """The list of sequences pack_sequence was given."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
