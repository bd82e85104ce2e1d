"""save / load in PyTorch's zip checkpoint format, written and read without torch.

A checkpoint is a zip archive: ``<name>/data.pkl`` is a protocol-2 pickle in which
every tensor is a call of ``torch._utils._rebuild_tensor_v2`` on a persistent id
that names a raw storage record ``<name>/data/<key>``; beside them are
``version``, ``byteorder``, ``.format_version``, ``.storage_alignment`` and
``.data/serialization_id``. Records start on 64-byte boundaries, as torch writes
them.

Saving writes the pickle with a small writer of its own: the standard pickler
imports a global's module to check its name, which would import torch. Loading
runs an allow-list interpreter of pickle opcodes: a checkpoint can build
containers, numbers, strings and tensors and call nothing else, so loading a
file never runs code from it (torch's ``weights_only=True``).
"""
import builtins
import io
import os
import pickle
import struct
import zipfile
import zlib
from collections import Counter, OrderedDict

import numpy as np

from . import dtypes
from .backends import for_device
from .device import CPU
from .device import device as _device
from .size import Size
from .tensor import Tensor, _make

# torch's storage classes and the dtypes they hold
_STORAGE_DTYPES = {"DoubleStorage": dtypes.float64, "FloatStorage": dtypes.float32, "HalfStorage": dtypes.float16,
                   "BFloat16Storage": dtypes.bfloat16, "LongStorage": dtypes.int64, "IntStorage": dtypes.int32,
                   "ShortStorage": dtypes.int16, "CharStorage": dtypes.int8, "ByteStorage": dtypes.uint8,
                   "BoolStorage": dtypes.bool_}
_STORAGE_NAMES = {dt: name for name, dt in _STORAGE_DTYPES.items()}
_TORCH_DTYPES = {"float32": dtypes.float32, "float": dtypes.float32, "float64": dtypes.float64,
                 "double": dtypes.float64, "float16": dtypes.float16, "half": dtypes.float16,
                 "bfloat16": dtypes.bfloat16, "int64": dtypes.int64, "long": dtypes.int64, "int32": dtypes.int32,
                 "int": dtypes.int32, "int16": dtypes.int16, "short": dtypes.int16, "int8": dtypes.int8,
                 "uint8": dtypes.uint8, "bool": dtypes.bool_}
_ALIGN = 64
_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"  # pre-1.6 torch.save


def _parameter_class():
    from . import nn
    return getattr(nn, "Parameter", None)  # nn.Parameter may not exist yet


# ==== save ==========================================================================================
def save(obj, f, pickle_module=None, pickle_protocol=2, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False):
    """Write obj (tensors in nested dicts / lists / tuples, numbers, strings, None) to f, a path or
    a binary file object, in the format torch.save writes. Tensors on wgpu are saved from their host
    values with location "cpu", so torch.load reads them on any machine."""
    if not _use_new_zipfile_serialization:
        raise NotImplementedError("wgtorch.save writes only the zip format (torch's default since 1.6)")
    storages = _Storages()
    storages.collect(obj, set())
    data = _Pickler(storages).dump(obj)
    if isinstance(f, (str, os.PathLike)):
        name = os.path.splitext(os.path.basename(os.fspath(f)))[0] or "archive"
        with open(f, "wb") as fp:
            _write_zip(fp, name, data, storages)
    else:
        _write_zip(f, "archive", data, storages)


def _write_zip(fp, name, data, storages):
    with zipfile.ZipFile(fp, "w", zipfile.ZIP_STORED) as zf:
        _write_record(zf, f"{name}/data.pkl", data)
        _write_record(zf, f"{name}/.format_version", b"1")
        _write_record(zf, f"{name}/.storage_alignment", str(_ALIGN).encode())
        _write_record(zf, f"{name}/byteorder", b"little")
        for key, arr in enumerate(storages.arrays()):
            _write_record(zf, f"{name}/data/{key}", memoryview(arr).cast("B"))
        _write_record(zf, f"{name}/version", b"3\n")
        sid = "".join(f"{int.from_bytes(os.urandom(8), 'little'):020d}" for _ in range(2))
        _write_record(zf, f"{name}/.data/serialization_id", sid.encode())


def _write_record(zf, name, data):
    """One uncompressed record whose data starts on a 64-byte boundary: the local header's
    extra field is padding ("FB" + length + "Z"s), as torch writes it, so a record can be mapped in place."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.file_size = len(data)
    zip64 = len(data) * 1.05 > zipfile.ZIP64_LIMIT  # zipfile's rule: it then adds a 20-byte extra
    header = zf.start_dir + 30 + len(name.encode()) + 4 + (20 if zip64 else 0)
    pad = -header % _ALIGN
    info.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
    with zf.open(info, "w", force_zip64=zip64) as w:
        w.write(data)


def _host_view(t):
    """(flat ndarray of the memory holding cpu tensor t, t's element offset in it), or None when
    t is not a plain view of one contiguous block (it is then saved as a storage of its own)."""
    a = t._data
    root, b = a, a.base
    while b is not None:  # NumPy views chain through .base (as_strided through a DummyArray)
        if isinstance(b, np.ndarray):
            root = b
        b = getattr(b, "base", None)
    it = a.itemsize
    off = a.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    if not (root.flags.c_contiguous or root.flags.f_contiguous) or root.nbytes % it or off < 0 or off % it \
            or any(s < 0 or s % it for s in a.strides):
        return None
    flat = root.ravel(order="K").view(np.uint8).view(a.dtype)
    if off // it + sum((n - 1) * s // it for n, s in zip(a.shape, a.strides)) >= flat.size:
        return None
    return flat, off // it


class _Storages:
    """The storage records of one save: tensors viewing one storage share a record, written once.
    A cpu record is the whole memory block, as torch writes; a wgpu record is read back up to the
    last element any saved view uses (a pooled buffer may be larger than the tensor it holds)."""

    def __init__(self):
        self.records = {}  # key -> [index, dtype, ndarray or (handle, backend), element count, tensor]
        self.views = {}    # id(tensor) -> (record, element offset, strides)

    def collect(self, obj, seen):
        """Add every tensor in obj first, so that record sizes are final before the pickle is written."""
        if isinstance(obj, Tensor):
            self.add(obj)
        elif isinstance(obj, (dict, list, tuple, set, frozenset)) and id(obj) not in seen:
            seen.add(id(obj))
            for x in (obj.items() if isinstance(obj, dict) else obj):
                self.collect(x, seen)

    def add(self, t):
        if id(t) in self.views:
            return self.views[id(t)]
        dt, h, off, strides = t._dtype, t._data, t.storage_offset(), tuple(t.stride())
        host = _host_view(t) if t.device.type == "cpu" and t.numel() else None
        if host is not None:
            src, off = host
            key, n = ("cpu", src.__array_interface__["data"][0], src.size, dt), src.size
        elif t.device.type != "cpu" and t.numel() and hasattr(h, "storage") and min(strides, default=0) >= 0:
            key, src = ("dev", id(h.storage), dt), (h, t._be)
            n = off + sum((s - 1) * st for s, st in zip(t.shape, strides)) + 1
        else:  # empty, or a layout torch cannot describe (negative strides): a contiguous copy of its own
            c = t.detach().contiguous()  # (the backend's values: bfloat16 as its bit patterns)
            key, src, n, off, strides = ("copy", id(t)), c._be.to_numpy(c._data).reshape(-1), t.numel(), 0, c.stride()
        rec = self.records.get(key)
        if rec is None:
            rec = self.records[key] = [len(self.records), dt, src, n, t]  # t keeps the memory alive
        rec[3] = max(rec[3], n)
        self.views[id(t)] = v = (rec, off, strides)
        return v

    def arrays(self):
        for _, dt, src, n, _ in sorted(self.records.values(), key=lambda r: r[0]):
            if isinstance(src, tuple):  # device storage: read back elements [0, n)
                h, be = src
                src = be.to_numpy(be.view_strided(h, (n,), (1,), -h.offset))
            yield np.ascontiguousarray(src, dtype=src.dtype.newbyteorder("<"))


class _Pickler:
    """Writes a protocol-2 pickle of the objects a state dict holds, tensors as torch writes them."""

    def __init__(self, storages):
        self.out, self.memo, self.storages, self.building = io.BytesIO(), {}, storages, set()
        self.w = self.out.write

    def dump(self, obj):
        self.w(b"\x80\x02")
        self.save(obj)
        self.w(b".")
        return self.out.getbuffer()

    def put(self, obj):
        i = len(self.memo)
        self.memo[id(obj)] = (i, obj)  # obj kept alive so its id is not reused
        self.w(b"q" + struct.pack("<B", i) if i < 256 else b"r" + struct.pack("<I", i))

    def glob(self, module, name):
        self.w(f"c{module}\n{name}\n".encode())

    def reduce(self, module, name, args):
        self.glob(module, name)
        self.save(tuple(args))
        self.w(b"R")

    def save(self, obj):
        w = self.w
        m = self.memo.get(id(obj))
        if m is not None:
            i = m[0]
            w(b"h" + struct.pack("<B", i) if i < 256 else b"j" + struct.pack("<I", i))
        elif obj is None:
            w(b"N")
        elif obj is True or obj is False:
            w(b"\x88" if obj else b"\x89")
        elif isinstance(obj, Tensor):
            self.tensor(obj)
        elif isinstance(obj, np.generic):  # NumPy scalars are saved as Python numbers
            self.save(obj.item())
        elif isinstance(obj, int):
            if 0 <= obj < 256:
                w(b"K" + struct.pack("<B", obj))
            elif 0 <= obj < 65536:
                w(b"M" + struct.pack("<H", obj))
            elif -2**31 <= obj < 2**31:
                w(b"J" + struct.pack("<i", obj))
            else:
                b = obj.to_bytes(obj.bit_length() // 8 + 1, "little", signed=True)
                w(b"\x8a" + struct.pack("<B", len(b)) + b)
        elif isinstance(obj, float):
            w(b"G" + struct.pack(">d", obj))
        elif isinstance(obj, str):
            b = obj.encode("utf-8", "surrogatepass")
            w(b"X" + struct.pack("<I", len(b)) + b)
        elif isinstance(obj, (bytes, bytearray)):  # protocol 2 spells bytes as _codecs.encode(str, "latin1")
            self.reduce("_codecs", "encode", (bytes(obj).decode("latin1"), "latin1"))
        elif isinstance(obj, complex):
            self.reduce("__builtin__", "complex", (obj.real, obj.imag))
        elif isinstance(obj, dtypes.dtype):
            self.glob("torch", obj.name)
        elif isinstance(obj, _device):
            kind = "cuda" if obj.type == "wgpu" else obj.type  # torch's name for the GPU; wgtorch reads it as wgpu
            self.reduce("torch", "device", (kind,) if obj.index is None else (kind, obj.index))
        elif isinstance(obj, Size):
            self.reduce("torch", "Size", (tuple(obj),))
        elif isinstance(obj, tuple):
            self.tuple(obj)
        elif isinstance(obj, list):
            w(b"]")
            self.put(obj)
            self.items(obj, b"e")
        elif isinstance(obj, dict):
            od = isinstance(obj, OrderedDict)
            w(b"ccollections\nOrderedDict\n)R" if od else b"}")
            self.put(obj)
            self.items([x for kv in obj.items() for x in kv], b"u", 2)
            if od and "_metadata" in getattr(obj, "__dict__", {}):  # nn.Module.state_dict's versions
                self.save({"_metadata": obj._metadata})
                w(b"b")
        elif isinstance(obj, (set, frozenset)):
            self.reduce("__builtin__", type(obj).__name__, (list(obj),))
        else:
            raise TypeError(f"wgtorch.save cannot save an object of type {type(obj).__module__}."
                            f"{type(obj).__qualname__}: only tensors, dicts, lists, tuples, sets, numbers, "
                            "strings, bytes, None, dtypes and devices (what torch.load(weights_only=True) "
                            "reads)")

    def items(self, xs, op, step=1):
        for i in range(0, len(xs), 1000 * step):  # in batches, as pickle does
            self.w(b"(")
            for x in xs[i:i + 1000 * step]:
                self.save(x)
            self.w(op)

    def tuple(self, t):
        if id(t) in self.building:
            raise ValueError("wgtorch.save cannot save a tuple that contains itself")
        self.building.add(id(t))
        if len(t) <= 3:
            for x in t:
                self.save(x)
            self.w((b")", b"\x85", b"\x86", b"\x87")[len(t)])
        else:
            self.w(b"(")
            for x in t:
                self.save(x)
            self.w(b"t")
        self.building.discard(id(t))
        if id(t) not in self.memo:
            self.put(t)

    def tensor(self, t):
        param = _parameter_class()
        is_param = param is not None and isinstance(t, param)
        if is_param:  # _rebuild_parameter(_rebuild_tensor_v2(...), requires_grad, OrderedDict())
            self.glob("torch._utils", "_rebuild_parameter")
        rec, off, strides = self.storages.add(t)
        self.glob("torch._utils", "_rebuild_tensor_v2")
        self.w(b"((")  # args, then the persistent id ("storage", type, key, location, numel)
        self.save("storage")
        self.glob("torch", _STORAGE_NAMES[t._dtype])
        for x in (str(rec[0]), "cpu", rec[3]):
            self.save(x)
        self.w(b"tQ")
        for x in (off, tuple(t.shape), strides, t.requires_grad and not is_param):
            self.save(x)
        self.w(b"ccollections\nOrderedDict\n)RtR")  # backward hooks: an empty OrderedDict
        if is_param:
            self.save(t.requires_grad)
            self.w(b"ccollections\nOrderedDict\n)R\x87R")
        self.put(t)


# ==== load ==========================================================================================
def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None, **pickle_load_args):
    """Read a checkpoint written by torch.save or wgtorch.save from a path or binary file object.

    map_location: None (each tensor on the device its file names; "cuda" means wgpu), a device
    (string or wgtorch.device), a dict mapping saved location strings to new ones, or a callable
    (storage, location) -> tensor or None, called with a 1-d cpu tensor standing in for each storage.
    weights_only=True (the default) allows only tensors, containers, numbers and strings and never
    runs code from the file; weights_only=False unpickles anything (only for files you trust).
    pickle_module, mmap and pickle_load_args are accepted for torch's signature and ignored."""
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fp:
            return _load(fp, map_location, weights_only is not False)
    return _load(f, map_location, weights_only is not False)


class _Corrupt(RuntimeError):
    pass


def _corrupt(what, e=None):
    return _Corrupt(f"wgtorch.load: the checkpoint is truncated or corrupt: {what}" + (f" ({e})" if e else ""))


# (zipfile raises RuntimeError for a record whose flags say "encrypted": one flipped bit)
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, struct.error, zlib.error,
               NotImplementedError, KeyError, IndexError, OverflowError, RuntimeError)


def _load(fp, map_location, weights_only):
    start = fp.tell() if fp.seekable() else 0
    head = fp.read(len(_LEGACY_MAGIC))
    if fp.seekable():
        fp.seek(start)
    else:  # zipfile needs to seek
        fp = io.BytesIO(head + fp.read())
    if not head:
        raise _corrupt("the file is empty")
    if head.startswith(_LEGACY_MAGIC):
        raise RuntimeError("wgtorch.load reads torch's zip checkpoint format (torch >= 1.6); this file has the "
                           "legacy format: load it with torch and save it again with torch.save")
    if not head.startswith(b"PK"):
        raise _corrupt("it is not a zip archive (the format torch.save writes)")
    try:
        zf = zipfile.ZipFile(fp)
        names = zf.namelist()
    except _ZIP_ERRORS as e:
        raise _corrupt("its zip directory cannot be read", e) from e
    with zf:
        pkl = next((n for n in names if n.endswith("data.pkl") and n.count("/") == 1), None)
        if pkl is None:
            raise _corrupt("it has no <name>/data.pkl record (is it a torch.save checkpoint?)")
        prefix = pkl[:-len("data.pkl")]
        big = prefix + "byteorder" in names and _read(zf, prefix + "byteorder") == b"big"
        storages = _StorageReader(zf, prefix, big, map_location)
        data = _read(zf, pkl)
        if not weights_only:
            return _FullUnpickler(storages, io.BytesIO(data)).load()
        return _SafeUnpickler(data, storages.load).load()


def _read(zf, name):
    try:
        return zf.read(name)
    except _ZIP_ERRORS as e:
        raise _corrupt(f"record {name}", e) from e


class _StorageType:
    """Stands for torch.<X>Storage in a checkpoint: the dtype its records hold."""

    def __init__(self, dtype):
        self.dtype = dtype


class _StorageReader:
    """Reads storage records on first use, and gives each one tensor per device it is mapped to,
    so views of one storage share memory again."""

    def __init__(self, zf, prefix, big_endian, map_location):
        self.zf, self.prefix, self.big, self.map_location = zf, prefix, big_endian, map_location
        self.cache = {}

    def load(self, pid):
        """persistent_load: ("storage", storage type, key, location, numel) -> a 1-d tensor."""
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"wgtorch.load: unsupported persistent id {pid!r:.80}")
        _, stype, key, location, numel = pid
        if not (isinstance(stype, _StorageType) and isinstance(key, str) and isinstance(location, str)
                and type(numel) is int and numel >= 0):
            raise pickle.UnpicklingError(f"wgtorch.load: malformed storage reference {pid!r:.80}")
        ck = (key, stype.dtype, location)
        if ck not in self.cache:
            try:
                self.cache[ck] = self._place(self._host(key, stype.dtype, numel), location)
            except TypeError as e:  # e.g. float64 on wgpu: a device's refusal, not a corrupt file
                raise RuntimeError(f"wgtorch.load: cannot restore a {stype.dtype} storage ({e})") from e
        return self.cache[ck]

    def _host(self, key, dt, numel):
        name = f"{self.prefix}data/{key}"
        try:
            info = self.zf.getinfo(name)
        except KeyError:
            raise _corrupt(f"storage record {name} is missing") from None
        if info.file_size != numel * dt.itemsize:
            raise _corrupt(f"storage record {name} holds {info.file_size} bytes, the pickle expects "
                           f"{numel} x {dt.itemsize}")
        # a hostile or damaged directory may declare more bytes than the file holds: check
        # before allocating (stored records hold their size; deflate expands at most 1032x)
        stored = info.compress_type == zipfile.ZIP_STORED
        if info.compress_size > self.zf.start_dir or \
                info.file_size > (info.compress_size if stored else 1032 * info.compress_size + 1024):
            raise _corrupt(f"storage record {name} declares {info.file_size} bytes but the file holds "
                           f"only {min(info.compress_size, self.zf.start_dir)} bytes of it")
        arr = np.empty(numel, dt.np)
        buf = memoryview(arr).cast("B") if numel else memoryview(bytearray())
        try:
            with self.zf.open(info) as r:  # straight into the array; the CRC is checked at the end
                got = 0
                while got < len(buf):
                    k = r.readinto(buf[got:])
                    if not k:
                        break
                    got += k
        except _ZIP_ERRORS as e:
            raise _corrupt(f"record {name}", e) from e
        if got != len(buf):
            raise _corrupt(f"record {name} ends early")
        if self.big:
            arr.byteswap(inplace=True)
        if dt is dtypes.bool_:
            arr = arr.view(np.uint8) != 0  # any nonzero byte is True, as in torch
        return _make(arr, dt, for_device(CPU))

    def _place(self, t, location):
        m = self.map_location
        if callable(m):
            r = m(t, location)
            if r is None:
                return self._place_on(t, location)
            if not (isinstance(r, Tensor) and r.shape == t.shape and r.dtype is t.dtype):
                raise TypeError("map_location callable must return the storage it was given (moved), or None")
            return r
        if isinstance(m, dict):
            return self._place_on(t, m.get(location, location))
        return self._place_on(t, location if m is None else m)

    @staticmethod
    def _place_on(t, dev):
        try:
            dev = _device(str(dev) if isinstance(dev, _device) else dev)
        except (RuntimeError, TypeError) as e:
            raise RuntimeError(f"wgtorch.load: cannot restore a tensor on {dev!r} ({e}); pass map_location, "
                               "e.g. map_location='cpu'") from None
        return t if dev.type == "cpu" else t.to(dev)


# ---- what a checkpoint may call ------------------------------------------------------------------
def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    ints = lambda xs: isinstance(xs, tuple) and all(type(x) is int and x >= 0 for x in xs)
    if not (isinstance(storage, Tensor) and type(storage_offset) is int and storage_offset >= 0 and ints(size)
            and ints(stride) and len(size) == len(stride) and isinstance(requires_grad, bool)):
        raise pickle.UnpicklingError("wgtorch.load: malformed tensor record "
                                     f"(offset {storage_offset!r:.40}, size {size!r:.60}, stride {stride!r:.60})")
    last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else -1
    if last >= storage.numel():  # never view memory outside the storage
        raise pickle.UnpicklingError(f"wgtorch.load: a tensor of size {list(size)} and stride {list(stride)} at "
                                     f"offset {storage_offset} does not fit its storage of {storage.numel()} elements")
    a = storage._data
    if storage.device.type == "cpu" and a.flags.c_contiguous:
        # a NumPy view whose .base is the storage array (as_strided's would hide the offset behind a DummyArray)
        it = a.itemsize
        view = np.ndarray(size, a.dtype, buffer=a, offset=storage_offset * it, strides=[s * it for s in stride])
        t = _make(view, storage.dtype, storage._be)
    else:
        t = storage.as_strided(size, stride, storage_offset).detach()
    return t.requires_grad_(True) if requires_grad else t


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _rebuild_tensor_v2(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad, backward_hooks=None, state=None):
    if not isinstance(data, Tensor):
        raise pickle.UnpicklingError("wgtorch.load: a Parameter record without a tensor")
    param = _parameter_class()
    if param is not None:
        return param(data, requires_grad=bool(requires_grad))
    return data.requires_grad_(bool(requires_grad))


class _TypeMarker:
    def __init__(self, name):
        self.name = name


_TENSOR, _PARAMETER = _TypeMarker("Tensor"), _TypeMarker("Parameter")


def _rebuild_from_type_v2(func, new_type, args, state):
    """torch's wrapper for tensors with Python attributes (dropped: wgtorch tensors have none)."""
    if func not in _REBUILDERS or new_type not in (_TENSOR, _PARAMETER) or not isinstance(args, tuple):
        raise pickle.UnpicklingError("wgtorch.load: unsupported tensor subclass record")
    t = func(*args)
    return _rebuild_parameter(t, t.requires_grad) if new_type is _PARAMETER else t


def _encode(s, encoding="latin1"):  # protocol 2's spelling of bytes
    if not isinstance(s, str) or encoding != "latin1":
        raise pickle.UnpicklingError("wgtorch.load: _codecs.encode is allowed only as protocol 2's bytes")
    return s.encode("latin1")


def _torch_device(*args):
    return _device(*args)


_REBUILDERS = (_rebuild_tensor_v2, _rebuild_tensor, _rebuild_parameter)
_ALLOWED = {
    ("collections", "OrderedDict"): OrderedDict, ("collections", "Counter"): Counter,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2, ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch", "Tensor"): _TENSOR, ("torch._tensor", "Tensor"): _TENSOR,
    ("torch.nn.parameter", "Parameter"): _PARAMETER,
    ("torch", "Size"): Size, ("torch", "device"): _torch_device, ("_codecs", "encode"): _encode,
    **{(b, n): getattr(builtins, n) for b in ("builtins", "__builtin__") for n in ("set", "frozenset", "bytearray",
                                                                                "complex")},
    **{("torch", n): _StorageType(dt) for n, dt in _STORAGE_DTYPES.items()},
    ("torch", "UntypedStorage"): _StorageType(dtypes.uint8),
    ("torch.storage", "UntypedStorage"): _StorageType(dtypes.uint8),
    **{("torch", n): dt for n, dt in _TORCH_DTYPES.items()},
}


def _bytearray(*args):
    """bytearray as pickles call it (from bytes or a latin-1 str); bytearray(n) would allocate n bytes."""
    if args and not isinstance(args[0], (bytes, bytearray, str)):
        raise _refuse(f"bytearray() of a {type(args[0]).__name__}")
    return bytearray(*args)


_ALLOWED.update({(b, "bytearray"): _bytearray for b in ("builtins", "__builtin__")})
_CALLABLE = {id(v) for v in _ALLOWED.values() if callable(v) and not isinstance(v, (dtypes.dtype, _StorageType))}


def _refuse(what):
    return pickle.UnpicklingError(
        f"Weights only load failed: the checkpoint uses {what}, which wgtorch.load does not allow. It loads only "
        "tensors, dicts, lists, tuples, numbers and strings, and never runs code from a file. If you trust the "
        "file's source, wgtorch.load(f, weights_only=False) unpickles anything.")


class _SafeUnpickler:
    """An interpreter of the pickle opcodes a state dict uses. Globals come only from _ALLOWED,
    REDUCE / NEWOBJ call only those, and BUILD only sets attributes of an OrderedDict (a state
    dict's _metadata), so nothing else can run."""

    def __init__(self, data, persistent_load):
        self.data, self.pos, self.persistent_load = bytes(data), 0, persistent_load

    def read(self, n):
        b = self.data[self.pos:self.pos + n]
        if len(b) != n:
            raise _corrupt("data.pkl ends early")
        self.pos += n
        return b

    def unpack(self, fmt):
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def readline(self):
        end = self.data.find(b"\n", self.pos)
        if end < 0:
            raise _corrupt("data.pkl ends early")
        line, self.pos = self.data[self.pos:end], end + 1
        return line.decode("utf-8", "replace")

    def pop_mark(self):
        items, self.stack = self.stack, self.metastack.pop()
        return items

    def load(self):
        self.stack, self.metastack, self.memo = [], [], {}
        try:
            while True:
                op = self.read(1)[0]
                if op == 0x2e:  # STOP
                    return self.stack.pop()
                fn = _OPS.get(op)
                if fn is None:
                    raise _refuse(f"the pickle opcode {bytes([op])!r}")
                fn(self)
        except (IndexError, KeyError, ValueError, TypeError, struct.error, UnicodeDecodeError, AttributeError) as e:
            raise pickle.UnpicklingError(f"wgtorch.load: the checkpoint's data.pkl is corrupt ({e!r})") from e

    def find_class(self, module, name):
        obj = _ALLOWED.get((module, name))
        if obj is None:
            raise _refuse(f"the global {module}.{name}")
        return obj

    def call(self, fn, args):
        if id(fn) not in _CALLABLE or not isinstance(args, tuple):
            raise _refuse(f"a call of {type(fn).__name__} {fn!r:.60}")
        return fn(*args)

    def build(self):
        state, inst = self.stack.pop(), self.stack[-1]
        if type(inst) is not OrderedDict or not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise _refuse(f"BUILD on {type(inst).__name__}")
        inst.__dict__.update(state)


def _op_table():
    def push(value):  # an opcode that pushes a constant
        return lambda u: u.stack.append(value)

    def push_new(kind):  # an opcode that pushes an empty container
        return lambda u: u.stack.append(kind())

    def memo_put(fmt):
        def put(u):
            u.memo[u.unpack(fmt)] = u.stack[-1]
        return put

    def memo_get(fmt):
        return lambda u: u.stack.append(u.memo[u.unpack(fmt)])

    def text(fmt):
        return lambda u: u.stack.append(str(u.read(u.unpack(fmt)), "utf-8", "surrogatepass"))

    def raw(fmt, kind=bytes):
        return lambda u: u.stack.append(kind(u.read(u.unpack(fmt))))

    def tuple_n(n):
        def tup(u):
            items = tuple(u.stack[len(u.stack) - n:])
            del u.stack[len(u.stack) - n:]
            u.stack.append(items)
        return tup

    def from_mark(kind):  # pop back to the last MARK first, then push onto the outer stack
        def build(u):
            items = kind(u.pop_mark())
            u.stack.append(items)
        return build

    def mark(u):
        u.metastack.append(u.stack)
        u.stack = []

    def setitem(u):
        v, k = u.stack.pop(), u.stack.pop()
        if not isinstance(u.stack[-1], dict):
            raise _refuse(f"SETITEM on {type(u.stack[-1]).__name__}")
        u.stack[-1][k] = v

    def append(u):
        v = u.stack.pop()
        if not isinstance(u.stack[-1], list):
            raise _refuse(f"APPEND on {type(u.stack[-1]).__name__}")
        u.stack[-1].append(v)

    def setitems(u):
        items = u.pop_mark()
        d = u.stack[-1]
        if not isinstance(d, dict):
            raise _refuse(f"SETITEMS on {type(d).__name__}")
        for i in range(0, len(items), 2):
            d[items[i]] = items[i + 1]

    def appends(u):
        items, lst = u.pop_mark(), u.stack[-1]
        if not isinstance(lst, list):
            raise _refuse(f"APPENDS on {type(lst).__name__}")
        lst.extend(items)

    def additems(u):
        items, st = u.pop_mark(), u.stack[-1]
        if not isinstance(st, set):
            raise _refuse(f"ADDITEMS on {type(st).__name__}")
        st.update(items)

    def long(fmt):
        return lambda u: u.stack.append(int.from_bytes(u.read(u.unpack(fmt)), "little", signed=True))

    def stack_global(u):
        name, module = u.stack.pop(), u.stack.pop()
        if not (isinstance(module, str) and isinstance(name, str)):
            raise _corrupt("STACK_GLOBAL without names")
        u.stack.append(u.find_class(module, name))

    def reduce(u):
        args = u.stack.pop()
        u.stack[-1] = u.call(u.stack[-1], args)

    def newobj(u):
        args, cls = u.stack.pop(), u.stack.pop()
        u.stack.append(u.call(cls, args))

    def proto(u):
        if u.read(1)[0] > 5:
            raise _corrupt("unknown pickle protocol")

    return {
        0x80: proto, 0x95: lambda u: u.read(8), 0x28: mark,  # PROTO FRAME MARK
        0x30: lambda u: u.stack.pop(), 0x31: lambda u: u.pop_mark(), 0x32: lambda u: u.stack.append(u.stack[-1]),
        0x4e: push(None), 0x88: push(True), 0x89: push(False),
        0x4a: lambda u: u.stack.append(u.unpack("<i")), 0x4b: lambda u: u.stack.append(u.read(1)[0]),
        0x4d: lambda u: u.stack.append(u.unpack("<H")), 0x8a: long("<B"), 0x8b: long("<i"),
        0x47: lambda u: u.stack.append(u.unpack(">d")),
        0x58: text("<I"), 0x8c: text("<B"), 0x8d: text("<Q"),
        0x42: raw("<I"), 0x43: raw("<B"), 0x8e: raw("<Q"), 0x96: raw("<Q", bytearray),
        0x29: push_new(tuple), 0x74: from_mark(tuple),
        0x85: tuple_n(1), 0x86: tuple_n(2), 0x87: tuple_n(3),
        0x5d: push_new(list), 0x6c: from_mark(list),
        0x61: append, 0x65: appends,
        0x7d: push_new(dict), 0x73: setitem, 0x75: setitems,
        0x8f: push_new(set), 0x90: additems, 0x91: from_mark(frozenset),
        0x63: lambda u: u.stack.append(u.find_class(u.readline(), u.readline())), 0x93: stack_global,
        0x52: reduce, 0x81: newobj, 0x62: lambda u: u.build(),
        0x51: lambda u: u.stack.append(u.persistent_load(u.stack.pop())),
        0x71: memo_put("<B"), 0x72: memo_put("<I"), 0x94: lambda u: u.memo.__setitem__(len(u.memo), u.stack[-1]),
        0x68: memo_get("<B"), 0x6a: memo_get("<I"),
    }


_OPS = _op_table()


class _FullUnpickler(pickle.Unpickler):
    """weights_only=False: torch's names map to wgtorch's, any other global is imported (trusted files only)."""

    def __init__(self, storages, file):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module, name):
        obj = _ALLOWED.get((module, name))
        return obj if obj is not None else super().find_class(module, name)

    def persistent_load(self, pid):
        return self.storages.load(pid)
