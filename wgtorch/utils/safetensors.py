"""safetensors files (the Hugging Face format) without the safetensors package.

A file is an 8-byte little-endian header length, a UTF-8 JSON header mapping each
name to {"dtype", "shape", "data_offsets": [begin, end]} (byte offsets into the data
that follows; "__metadata__" holds string pairs), then the raw little-endian data.
The API is safetensors.torch's: save_file / load_file, save / load on bytes.
"""
import json
import os

import numpy as np

from .. import dtypes
from ..backends import for_device
from ..device import CPU
from ..device import device as _device
from ..tensor import Tensor, _make

_CODES = {dtypes.bool_: "BOOL", dtypes.uint8: "U8", dtypes.int8: "I8", dtypes.int16: "I16", dtypes.int32: "I32",
          dtypes.int64: "I64", dtypes.float16: "F16", dtypes.bfloat16: "BF16", dtypes.float32: "F32",
          dtypes.float64: "F64"}
_DTYPES = {code: dt for dt, code in _CODES.items()}
_MAX_HEADER = 100_000_000  # the reference implementation's limit: a corrupt length fails fast


def save(tensors, metadata=None):
    """The bytes of a safetensors file holding tensors (a dict of name -> Tensor)."""
    if not isinstance(tensors, dict) or not all(isinstance(k, str) and isinstance(v, Tensor)
                                                for k, v in tensors.items()):
        raise TypeError("save expects a dict of str -> Tensor")
    if metadata is not None and not (isinstance(metadata, dict) and
                                     all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
        raise TypeError("metadata must be a dict of str -> str")
    header, blobs, pos = {}, [], 0
    if metadata:
        header["__metadata__"] = dict(metadata)
    # largest items first, then by name (as the reference writer orders them): every tensor stays aligned
    for name, t in sorted(tensors.items(), key=lambda kv: (-kv[1].dtype.itemsize, kv[0])):
        a = t._be.to_numpy(t._data)  # host values as stored (bfloat16: its bit patterns)
        b = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": _CODES[t.dtype], "shape": list(t.shape), "data_offsets": [pos, pos + len(b)]}
        blobs.append(b)
        pos += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # pad so the data starts 8-byte aligned
    return len(h).to_bytes(8, "little") + h + b"".join(blobs)


def save_file(tensors, filename, metadata=None):
    data = save(tensors, metadata)
    with open(filename, "wb") as f:
        f.write(data)


def load(data, device="cpu"):
    """A dict of name -> Tensor from the bytes of a safetensors file."""
    data = memoryview(data).cast("B")
    n = int.from_bytes(data[:8], "little") if len(data) >= 8 else -1
    if not 0 < n <= min(_MAX_HEADER, len(data) - 8):
        raise RuntimeError("invalid safetensors file: the header length is missing or larger than the file")
    try:
        entries = [kv for kv in json.loads(bytes(data[8:8 + n]).decode("utf-8")).items() if kv[0] != "__metadata__"]
    except (UnicodeDecodeError, ValueError, AttributeError) as e:
        raise RuntimeError(f"invalid safetensors file: the header is not a JSON object ({e})") from None
    body, dev = data[8 + n:], _device(device)
    return {name: _tensor(name, info, body).to(dev) for name, info in entries}


def load_file(filename, device="cpu"):
    with open(os.fspath(filename), "rb") as f:
        return load(f.read(), device)


def _tensor(name, info, body):
    try:
        dt = _DTYPES[info["dtype"]]
        shape = info["shape"]
        begin, end = info["data_offsets"]
        ok = all(type(s) is int and s >= 0 for s in shape) and type(begin) is int and type(end) is int
    except (KeyError, TypeError, ValueError):
        raise RuntimeError(f"invalid safetensors file: bad header entry for {name!r}: {info!r:.200}") from None
    if not ok or not 0 <= begin <= end <= len(body) or end - begin != dt.itemsize * int(np.prod(shape)):
        raise RuntimeError(f"invalid safetensors file: {name!r} has shape {shape} and dtype {info['dtype']} but "
                           f"data_offsets {[begin, end]} in a data section of {len(body)} bytes")
    a = np.frombuffer(body[begin:end], dtype=dt.np.newbyteorder("<")).astype(dt.np).reshape(shape)
    if dt is dtypes.bool_:
        a = a.view(np.uint8) != 0
    return _make(a, dt, for_device(CPU))
