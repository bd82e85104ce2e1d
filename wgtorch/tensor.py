"""The Tensor: a view of backend storage (shape, strides, offset live in the
backend handle) plus dtype, device and autograd fields. Operations are bound
as methods in ops/methods.py; this file holds only what is a tensor's own."""
import math

import numpy as np

from . import autograd as _autograd
from . import bf16, dtypes
from .autograd import grad_mode
from .autograd import graph as _graph
from .autograd.graph import edge
from .size import Size


class Tensor:
    __slots__ = ("_data", "_dtype", "_be", "_rg", "_grad", "_grad_fn", "_out_nr", "_vc",
                 "_acc", "_base", "_view_fn", "__weakref__")

    def __new__(cls, *args, **kwargs):
        # wgtorch.Tensor(data) / Tensor(2, 3) as legacy constructors, like torch.Tensor
        if cls is Tensor and (args or kwargs):
            from .ops.creation import _legacy_tensor
            return _legacy_tensor(*args, **kwargs)
        return object.__new__(cls)

    # ---- metadata -------------------------------------------------------------
    @property
    def shape(self):
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[self._wrap_dim(dim)]

    @property
    def dtype(self):
        return self._dtype

    @property
    def device(self):
        return self._be.device

    @property
    def is_cuda(self):
        return self._be.device.type == "wgpu"

    @property
    def is_cpu(self):
        return self._be.device.type == "cpu"

    @property
    def ndim(self):
        return self._data.ndim

    def dim(self):
        return self._data.ndim

    ndimension = dim

    def numel(self):
        return math.prod(self._data.shape)

    nelement = numel

    def element_size(self):
        return self._dtype.itemsize

    def stride(self, dim=None):
        s = self._be.strides(self._data)
        return s if dim is None else s[self._wrap_dim(dim)]

    def storage_offset(self):
        return self._be.storage_offset(self._data)

    def data_ptr(self):
        return self._be.data_ptr(self._data)

    def is_contiguous(self, memory_format=None):
        return self._be.is_contiguous(self._data)

    def is_floating_point(self):
        return self._dtype.is_floating_point

    def is_complex(self):
        return False

    def is_inference(self):
        return self._vc is INFERENCE_VC

    @property
    def is_leaf(self):
        return self._grad_fn is None

    @property
    def _version(self):
        return self._vc[0]

    def type(self, dtype=None, non_blocking=False, **kwargs):
        """No argument: PyTorch's type name ('torch.FloatTensor', 'torch.cuda.FloatTensor' on
        wgpu). Else a dtype, a legacy type (torch.LongTensor) or its name: this tensor cast
        (and moved, for a cpu or cuda type), or itself when nothing changes."""
        from . import _tensor_types as tt
        if dtype is None:
            return tt.type_name(self)
        if isinstance(dtype, str):
            dtype, dev = tt.from_name(dtype)
        elif isinstance(dtype, tt._TensorType):
            dtype, dev = dtype.dtype, dtype._device_type
        else:
            dev = None
        return self.to(dtype) if dev is None else self.to(dev, dtype)

    def _wrap_dim(self, dim):
        n = self._data.ndim
        return wrap_dim(dim, n)

    # ---- autograd fields -------------------------------------------------------
    @property
    def requires_grad(self):
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value):
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad=True):
        if self._grad_fn is not None:
            if not requires_grad:
                raise RuntimeError("you can only change requires_grad flags of leaf variables. If you want "
                                   "to use a computed variable in a subgraph that doesn't require "
                                   "differentiation use var_no_grad = var.detach().")
            return self
        if requires_grad and not self._dtype.is_floating_point:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self._rg = bool(requires_grad)
        return self

    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of type "
                                f"{type(value).__name__}")
            if value.shape != self.shape:
                raise RuntimeError(f"assigned grad has data of a different size: {list(value.shape)} vs "
                                   f"{list(self.shape)}")
        self._grad = value

    @property
    def grad_fn(self):
        return self._grad_fn

    @property
    def output_nr(self):
        return self._out_nr

    def retain_grad(self):
        if not self._rg:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        fn = self._grad_fn
        if fn is None:
            return
        import weakref
        if fn._retained is None:
            fn._retained = []
        if not any(r() is self for _, r in fn._retained):
            fn._retained.append((self._out_nr, weakref.ref(self)))

    @property
    def retains_grad(self):
        fn = self._grad_fn
        return bool(fn and fn._retained and any(r() is self for _, r in fn._retained))

    def register_hook(self, hook):
        """hook(grad) -> grad or None, called with this tensor's gradient."""
        if not self._rg:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        node, i = edge(self)
        if node._pre_hooks is None:
            node._pre_hooks = {}
        hooks = node._pre_hooks.setdefault(i, [])
        hooks.append(hook)
        return _RemovableHandle(hooks, hook)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        _autograd.backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    def detach(self):
        t = _make(self._data, self._dtype, self._be)
        t._vc = self._vc
        return t

    def detach_(self):
        if self._base is not None:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self._grad_fn = None
        self._rg = False
        return self

    @property
    def data(self):
        return self.detach()

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"data must be a Tensor, not {type(value).__name__}")
        self._data, self._dtype, self._be = value._data, value._dtype, value._be

    def pin_memory(self, device=None):
        """Accepted for PyTorch code: wgpu uploads go through wgpu's own staging memory, so
        there is no page-locked host memory to ask for; the cpu tensor itself is returned."""
        if self._be.device.type != "cpu":
            raise RuntimeError(f"cannot pin '{self.type()}' only dense CPU tensors can be pinned")
        return self

    def is_pinned(self, device=None):
        return False  # see pin_memory()

    # ---- conversion to Python and NumPy -------------------------------------------
    def numpy(self, force=False):
        if self._rg and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                               "instead.")
        if self._be.device.type != "cpu" and not force:
            raise TypeError(f"can't convert {self._be.device} device type tensor to numpy. Use Tensor.cpu() "
                            "to copy the tensor to host memory first.")
        if self._dtype is dtypes.bfloat16:
            raise TypeError("Got unsupported ScalarType BFloat16")
        return self._be.to_numpy(self._data)

    def _host(self):
        """An ndarray of the values (a copy for device tensors; bfloat16 as float32)."""
        a = self._be.to_numpy(self._data)
        return a if self._dtype is not dtypes.bfloat16 else bf16.decode(a)

    def item(self):
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to Scalar")
        return self._host().reshape(()).item()

    def tolist(self):
        return self._host().tolist()

    def __array__(self, dtype=None, copy=None):
        a = self._host()
        return a if dtype is None else a.astype(dtype)

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self._dtype.is_floating_point or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __complex__(self):
        return complex(self.item())

    def __hash__(self):
        return id(self)

    def __format__(self, spec):
        # as PyTorch: a 0-d plain Tensor formats as its number (f"{loss:.4f}"); others as object
        if self._data.ndim == 0 and type(self) is Tensor:
            return format(self.item(), spec)
        return object.__format__(self, spec)

    def __repr__(self):
        from .printing import tensor_repr
        return tensor_repr(self)

    def __reduce_ex__(self, proto):
        from .ops.creation import _rebuild
        return (_rebuild, (self._host().copy(), str(self.device), self._rg, self._dtype))

    def __deepcopy__(self, memo):
        if not self.is_leaf:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support the "
                               "deepcopy protocol at the moment.")
        t = self.clone().detach()
        t._rg = self._rg
        if self._grad is not None:
            t._grad = self._grad.clone()
        memo[id(self)] = t
        return t


class _RemovableHandle:
    def __init__(self, lst, item):
        self._lst, self._item = lst, item

    def remove(self):
        if self._item in self._lst:
            self._lst.remove(self._item)


_new = object.__new__
# Tensors made under inference_mode share this version counter: it marks them.
INFERENCE_VC = [0]
_graph.INFERENCE_VC = INFERENCE_VC


def _make(data, dt, be):
    """Wrap a backend handle: the one constructor every op uses."""
    t = _new(Tensor)
    t._data = data
    t._dtype = dt
    t._be = be
    t._rg = False
    t._grad = None
    t._grad_fn = None
    t._out_nr = 0
    t._vc = [0] if not grad_mode.inference else INFERENCE_VC
    t._acc = None
    t._base = None
    t._view_fn = None
    return t


def wrap_dim(dim, n):
    """A dim in [-n, n) as a non-negative index (0-d tensors accept -1 and 0)."""
    m = n if n else 1
    if dim.__class__ is not int:
        if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
            raise TypeError(f"dim must be an int, not {type(dim).__name__}")
        dim = int(dim)
    if not -m <= dim < m:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-m}, {m - 1}], but got {dim})")
    return dim + m if dim < 0 else dim
