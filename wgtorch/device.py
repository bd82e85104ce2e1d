"""Device names. "cpu" is NumPy; "wgpu" (aliases "cuda", "mps", "gpu") is the WebGPU adapter."""

_GPU_ALIASES = ("wgpu", "cuda", "mps", "gpu")


class device:
    __slots__ = ("type", "index")

    def __new__(cls, type_or_str, index=None):
        if isinstance(type_or_str, device):
            return type_or_str
        if isinstance(type_or_str, int) and index is None:  # torch.device(0) means the first GPU
            type_or_str, index = "wgpu", type_or_str
        if not isinstance(type_or_str, str):
            raise TypeError(f"device() expected a string or device, got {type(type_or_str).__name__}")
        s = type_or_str.strip()
        if ":" in s:
            if index is not None:
                raise RuntimeError(f"type (string) must not include an index because index was passed explicitly: {s}")
            s, _, idx = s.partition(":")
            if not idx.isdigit():
                raise RuntimeError(f"Invalid device string: '{type_or_str}'")
            index = int(idx)
        if s in _GPU_ALIASES:
            s, index = "wgpu", 0 if index is None else index
        elif s != "cpu" and s != "meta":
            raise RuntimeError(
                f"Expected one of cpu, wgpu, cuda, mps, gpu device type at start of device string: {type_or_str}")
        key = (s, index)
        d = _interned.get(key)
        if d is None:
            d = object.__new__(cls)
            object.__setattr__(d, "type", s)
            object.__setattr__(d, "index", index)
            _interned[key] = d
        return d

    def __setattr__(self, name, value):
        raise AttributeError("device is immutable")

    def __repr__(self):
        return f"device(type='{self.type}'" + (f", index={self.index})" if self.index is not None else ")")

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except RuntimeError:
                return False
        return self is other

    def __hash__(self):
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (str(self),))


_interned = {}
CPU = device("cpu")
_default = [CPU]


def set_default_device(dev):
    """The device factories (tensor, zeros, rand, ...) use when given none."""
    _default[0] = CPU if dev is None else device(dev)


def get_default_device():
    return _default[0]
