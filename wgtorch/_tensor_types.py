"""The legacy tensor types tutorials still use: `torch.FloatTensor([1, 2])`,
`torch.LongTensor(3)`, `x.type(torch.cuda.FloatTensor)`, `isinstance(x, torch.FloatTensor)`.

Each is a class whose instances are never made: calling it builds an ordinary
Tensor of its dtype (and device), and isinstance() asks dtype and device, as
PyTorch's do. `torch.cuda.FloatTensor` and friends stand for the wgpu device."""
from . import dtypes
from .tensor import Tensor

_NAMES = {"FloatTensor": dtypes.float32, "DoubleTensor": dtypes.float64, "HalfTensor": dtypes.float16,
          "BFloat16Tensor": dtypes.bfloat16, "LongTensor": dtypes.int64, "IntTensor": dtypes.int32,
          "ShortTensor": dtypes.int16, "CharTensor": dtypes.int8, "ByteTensor": dtypes.uint8,
          "BoolTensor": dtypes.bool_}


class _TensorType(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.dtype is cls.dtype and obj.device.type == cls._device_type

    def __call__(cls, *args, device=None):
        from .ops.creation import empty, tensor
        dev = cls._device_type if device is None else device
        if len(args) == 1 and isinstance(args[0], Tensor):
            if args[0].dtype is not cls.dtype:
                raise TypeError(f"expected {cls.dtype} (got {args[0].dtype})")
            return args[0]
        if len(args) == 1 and not isinstance(args[0], int):  # data: a list, tuple, array or scalar sequence
            return tensor(args[0], dtype=cls.dtype, device=dev)
        return empty(*(args or (0,)), dtype=cls.dtype, device=dev)  # a shape (uninitialised); () is empty

    def __repr__(cls):
        return f"<class '{cls.__qualname__}'>"


def _make_types(device_type, prefix):
    out = {}
    for name, dt in _NAMES.items():
        out[name] = _TensorType(name, (), {"dtype": dt, "_device_type": device_type,
                                           "__qualname__": prefix + name, "__module__": prefix.rstrip(".")})
    return out


CPU_TYPES = _make_types("cpu", "torch.")
GPU_TYPES = _make_types("wgpu", "torch.cuda.")


def from_name(name):
    """The dtype and device type a legacy type name ('torch.cuda.FloatTensor') means."""
    for types in (CPU_TYPES, GPU_TYPES):
        for t in types.values():
            if t.__qualname__ == name:
                return t.dtype, t._device_type
    raise ValueError(f"invalid type: '{name}'")


def type_name(t):
    """PyTorch's name for a tensor's type: 'torch.FloatTensor', 'torch.cuda.LongTensor' (wgpu)."""
    types = GPU_TYPES if t.device.type == "wgpu" else CPU_TYPES
    return next(c.__qualname__ for c in types.values() if c.dtype is t.dtype)
