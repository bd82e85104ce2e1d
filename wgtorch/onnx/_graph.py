"""The recorded calls of a trace and the ONNX graph built from them."""
import inspect

import numpy as np

from ..tensor import Tensor


class UnsupportedOperatorError(RuntimeError):
    """An op the model ran has no ONNX mapping (torch.onnx's name)."""


class Call:
    """One recorded op call: its name, the original function, the arguments bound to its
    signature (``a``: positional values with defaults, ``kw``: every argument by name), its
    result, and ``alt``: the same call in the second trace (dynamic axes), or None."""
    __slots__ = ("name", "fn", "a", "kw", "out", "transparent", "alt", "start")

    def __init__(self, name, fn, args, kwargs, out, transparent):
        self.name, self.fn, self.out, self.transparent, self.alt = name, fn, out, transparent, None
        sig = _signature(fn)
        if sig is None:
            self.a, self.kw = list(args), dict(kwargs)
        else:
            try:
                ba = sig.bind(*args, **kwargs)
            except TypeError:
                self.a, self.kw = list(args), dict(kwargs)
            else:
                ba.apply_defaults()
                self.a, self.kw = list(ba.args), dict(ba.arguments)

    def tensors(self):
        return [t for t in flat(self.a) + flat(list(self.kw.values())) if isinstance(t, Tensor)]

    def outputs(self):
        return [t for t in flat([self.out]) if isinstance(t, Tensor)]


_SIGS = {}


def _signature(fn):
    sig = _SIGS.get(fn, False)
    if sig is False:
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            sig = None
        _SIGS[fn] = sig
    return sig


def flat(items):
    out = []
    for x in items:
        if isinstance(x, (list, tuple)) and not isinstance(x, Tensor):
            out.extend(flat(x))
        else:
            out.append(x)
    return out


def host(t):
    """A tensor's value as a NumPy array (read back from the device where it lives)."""
    if t.dtype.is_bfloat16:
        raise UnsupportedOperatorError("ONNX export of bfloat16 tensors is not supported; cast the model to "
                                       "float32 first")
    return np.ascontiguousarray(t.detach().cpu().numpy())


class Graph:
    """ONNX nodes and initializers under construction. ``env`` names the current value of
    each traced tensor (by identity); ``dyn`` holds the value names computed from graph inputs."""

    def __init__(self, opset, params):
        from onnx import helper
        self.helper, self.opset = helper, opset
        self.params = params  # id(tensor) -> (initializer name, tensor)
        self.nodes, self.inits, self.env, self.dyn = [], {}, {}, set()
        self.unsupported = {}  # id(tensor) -> name of the op without a mapping that produced it
        self.keep = []  # tensors named by identity stay alive while the graph is built
        self._consts, self._n = {}, 0

    def fresh(self, base):
        self._n += 1
        return f"{base}_{self._n}"

    # ---- values ------------------------------------------------------------------------
    def v(self, t, dtype=None):
        """The value name of a tensor (an initializer for parameters, buffers and constants)
        or of a Python scalar (a constant of ``dtype``), cast to ``dtype`` when given."""
        if not isinstance(t, Tensor):
            from .. import dtypes
            dt = dtype or (dtypes.bool_ if isinstance(t, bool) else dtypes.int64 if isinstance(t, int)
                           else dtypes.get_default_dtype())
            return self.const(np.asarray(t, dtype=dt.np))
        name = self.env.get(id(t))
        if name is None:
            if id(t) in self.unsupported:
                op = self.unsupported[id(t)]
                raise UnsupportedOperatorError(f"wgtorch.onnx.export: the operator '{op}' has no ONNX mapping "
                                               f"(the model calls it on a traced value)")
            if id(t) in self.params:
                name = self.params[id(t)][0]
                self.inits[name] = host(t)
            elif t.grad_fn is not None:  # computed from parameters, but by nothing the tracer saw
                raise UnsupportedOperatorError(
                    "wgtorch.onnx.export: a value computed from the model's parameters (its grad_fn is "
                    f"{type(t.grad_fn).__name__}) was made by an op the tracer did not see, e.g. a function "
                    "called through a reference it cannot replace; call it through wgtorch or "
                    "wgtorch.nn.functional in forward")
            else:  # created during forward without the inputs: a constant
                name = self.const(host(t), cache=False)
            self.env[id(t)] = name
            self.keep.append(t)
        if dtype is not None and t.dtype != dtype:
            name = self.cast(name, dtype)
        return name

    def const(self, array, cache=True):
        array = np.asarray(array)
        key = (array.dtype.str, array.shape, array.tobytes()) if cache and array.size <= 16 else None
        if key is not None and key in self._consts:
            return self._consts[key]
        name = self.fresh("const")
        self.inits[name] = array
        if key is not None:
            self._consts[key] = name
        return name

    def ints(self, values):
        return self.const(np.asarray(list(values), dtype=np.int64))

    def is_dynamic(self, t):
        return isinstance(t, Tensor) and self.env.get(id(t)) in self.dyn

    def bind(self, t, name):
        """Make ``name`` the current value of tensor t (a result, or an in-place op's self)."""
        self.env[id(t)] = name
        self.unsupported.pop(id(t), None)
        self.keep.append(t)

    # ---- nodes -------------------------------------------------------------------------
    def node(self, op, inputs, outputs=1, **attrs):
        """Append a node; returns its output name (or a list when outputs > 1)."""
        outs = [self.fresh(op.lower()) for _ in range(outputs)]
        self.nodes.append(self.helper.make_node(op, list(inputs), outs, name=self.fresh("n_" + op), **attrs))
        if any(i in self.dyn for i in inputs):
            self.dyn.update(outs)
        return outs[0] if outputs == 1 else outs

    def cast(self, name, dtype):
        return self.node("Cast", [name], to=onnx_type(dtype))

    def reduce(self, op, name, axes, keepdims):
        """A Reduce* node: axes as an input (ReduceSum from opset 13, the others from 18) or an attribute."""
        if axes is None:
            return self.node(op, [name], keepdims=int(keepdims))
        if op == "ReduceSum" or self.opset >= 18:
            return self.node(op, [name, self.ints(axes)], keepdims=int(keepdims))
        return self.node(op, [name], axes=list(axes), keepdims=int(keepdims))


def onnx_type(dtype):
    from onnx import TensorProto, helper
    if dtype.is_bfloat16:
        return TensorProto.BFLOAT16
    return helper.np_dtype_to_tensor_dtype(dtype.np)
