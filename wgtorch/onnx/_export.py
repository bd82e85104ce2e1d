"""wgtorch.onnx.export: trace one forward pass through the op interception and write it as ONNX."""
import enum

from .._intercept import intercept
from ..tensor import Tensor
from ._graph import Call, Graph, UnsupportedOperatorError, flat, onnx_type
from ._ops import HANDLERS

# ops whose handlers read the second trace themselves (their sizes may follow a dynamic axis)
class TrainingMode(enum.Enum):
    """The mode a model is traced in (torch.onnx's names); EVAL by default."""
    EVAL = 0
    PRESERVE = 1
    TRAINING = 2


_SHAPE_AWARE = {"view", "reshape", "view_as", "reshape_as", "flatten", "unflatten", "ravel", "expand",
                "expand_as", "broadcast_to", "scaled_dot_product_attention"}


class _Tracer:
    """The interception hook: records each outermost call that has a mapping (what it calls is
    not recorded twice); a call without one is recorded transparently, after what it calls."""

    def __init__(self):
        self.calls, self.depth = [], 0

    def __call__(self, name, fn, call, args, kwargs):
        if self.depth:
            return call(*args, **kwargs)
        start = len(self.calls)
        mapped = name in HANDLERS
        if mapped:
            self.depth += 1
        try:
            out = call(*args, **kwargs)
        finally:
            if mapped:
                self.depth -= 1
        c = Call(name, fn, args, kwargs, out, not mapped)
        c.start = start
        self.calls.append(c)
        return out


def _trace(model, args):
    """Run the model once, recording its calls. Gradients stay on so that a value computed from
    the parameters by an op the tracer did not see carries a grad_fn (Graph.v refuses it)."""
    from ..autograd.grad_mode import enable_grad
    tracer = _Tracer()
    objects = list(model.modules()) if hasattr(model, "modules") else []
    with enable_grad(), intercept(tracer, objects):
        out = model(*args)
    return tracer.calls, out


def _grow(t, axis):
    """t one shorter along axis (one longer when that would leave fewer than 2)."""
    from ..ops.shape import cat
    n = t.shape[axis]
    return t.narrow(axis, 0, n - 1) if n >= 3 else cat([t, t.narrow(axis, 0, 1)], axis)


def _dynamic_axes(dynamic_axes):
    out = {}
    for name, axes in (dynamic_axes or {}).items():
        out[name] = dict(axes) if isinstance(axes, dict) else {int(a): f"{name}_dim{int(a)}" for a in axes}
    return out


def _pair(calls, calls2):
    if [c.name for c in calls] != [c.name for c in calls2]:
        raise UnsupportedOperatorError("wgtorch.onnx.export: the model runs different ops when a dynamic axis "
                                       "changes size (shape-dependent control flow cannot be exported)")
    for c, c2 in zip(calls, calls2):
        c.alt = c2


def _check_alt(g, c):
    """With dynamic axes: arguments that change with them must be handled by the op's mapping."""
    if c.alt is None or c.name in _SHAPE_AWARE:
        return
    for x, y in zip(flat(c.a) + flat(list(c.kw.values())), flat(c.alt.a) + flat(list(c.alt.kw.values()))):
        if isinstance(x, Tensor) and isinstance(y, Tensor):
            traced = id(x) in g.env or id(x) in g.params or id(x) in g.unsupported
            if not traced and x.shape != y.shape:
                raise UnsupportedOperatorError(
                    f"wgtorch.onnx.export: a tensor created during forward with shape {tuple(x.shape)} changes "
                    f"with the dynamic axes (to {tuple(y.shape)}) before '{c.name}'; it would be a constant")
        elif not isinstance(x, Tensor) and not isinstance(y, Tensor) and x != y:
            raise UnsupportedOperatorError(f"wgtorch.onnx.export: the arguments of '{c.name}' change with the "
                                           f"dynamic axes ({x!r} vs {y!r}); they cannot be exported as constants")


def _build(g, calls):
    for i, c in enumerate(calls):
        if not any(id(t) in g.env or id(t) in g.params or id(t) in g.unsupported for t in c.tensors()):
            continue  # computed from constants only: its result, if used, is a constant
        mutates = c.name.endswith("_") or c.name == "setitem"
        if c.transparent:  # no mapping: fine when what it called produced its results
            inner = {id(t) for d in calls[c.start:i] for t in d.outputs()}
            stale = [o for o in c.outputs() if id(o) not in inner]
            if mutates and c.a and isinstance(c.a[0], Tensor):
                stale.append(c.a[0])  # written in place by something the tracer did not see
            for o in stale:
                g.unsupported[id(o)] = c.name
                g.env.pop(id(o), None)
            continue
        if mutates and c.a[0]._base is not None and id(c.a[0]._base) in g.env:
            raise UnsupportedOperatorError(f"wgtorch.onnx.export: '{c.name}' writes into a view of a traced "
                                           "tensor; use the out-of-place op")
        _check_alt(g, c)
        HANDLERS[c.name](g, c)


def _value_info(helper, name, t, dims):
    shape = [dims.get(j, n) for j, n in enumerate(t.shape)]
    return helper.make_tensor_value_info(name, onnx_type(t.dtype), shape)


def export(model, args, f, export_params=True, verbose=False, training=None, input_names=None,
           output_names=None, operator_export_type=None, opset_version=17, do_constant_folding=True,
           dynamic_axes=None, keep_initializers_as_inputs=None, custom_opsets=None, **kwargs):
    """Trace ``model(*args)`` once and write it to ``f`` (a path or a binary file) as an ONNX
    model: parameters and buffers become initializers, tensors created during forward become
    constants, and the axes named in ``dynamic_axes`` ({name: {axis: label}} or {name: [axes]})
    stay symbolic. The model runs in eval mode while it is traced (functions kept in module
    attributes, such as ``self.activation = F.relu``, are traced too).
    An op without an ONNX mapping raises UnsupportedOperatorError naming it."""
    import onnx
    from onnx import helper, numpy_helper
    from ..autograd.grad_mode import no_grad
    if opset_version is None:
        opset_version = 17
    if not 17 <= opset_version <= onnx.defs.onnx_opset_version():
        raise ValueError(f"wgtorch.onnx.export supports opset_version 17 to {onnx.defs.onnx_opset_version()}, "
                         f"not {opset_version}")
    if isinstance(args, Tensor):
        args = (args,)
    elif isinstance(args, list):
        args = tuple(args)
    if args and isinstance(args[-1], dict):  # torch's trailing dict of keyword arguments: not taken
        raise ValueError("wgtorch.onnx.export: keyword arguments to the model are not supported")
    tensors = [a for a in args if isinstance(a, Tensor)]
    input_names = list(input_names or [])  # names not given: input_<i>
    input_names += [f"input_{i}" for i in range(len(input_names), len(tensors))]
    dyn = _dynamic_axes(dynamic_axes)
    modes = [(m, m.training) for m in model.modules()] if hasattr(model, "modules") else []
    mode = TrainingMode.EVAL if training is None else training
    if modes and mode is not TrainingMode.PRESERVE:
        model.train(mode is TrainingMode.TRAINING or mode is True)
    try:
        calls, out = _trace(model, args)
        if any(n in dyn for n in input_names):
            names = iter(input_names)
            alt_names = [next(names, None) if isinstance(a, Tensor) else None for a in args]
            with no_grad():
                alt_args = _perturbed_args(args, alt_names, dyn)
            calls2, out2 = _trace(model, alt_args)
            _pair(calls, calls2)
        else:
            out2 = None
    finally:
        for m, was in modes:  # each submodule's own mode back
            m.training = was

    params = {}
    if hasattr(model, "named_parameters"):
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            params.setdefault(id(t), (name, t))
    g = Graph(opset_version, params)
    inputs = []
    for t, name in zip(tensors, input_names):
        g.env[id(t)] = name
        g.dyn.add(name)
        inputs.append(_value_info(helper, name, t, dyn.get(name, {})))
    _build(g, calls)

    outs = [t for t in flat([out]) if isinstance(t, Tensor)]
    outs2 = [t for t in flat([out2]) if isinstance(t, Tensor)] if out2 is not None else [None] * len(outs)
    output_names = list(output_names or [])
    output_names += [f"output_{i}" for i in range(len(output_names), len(outs))]
    outputs = []
    for t, t2, name in zip(outs, outs2, output_names):
        g.nodes.append(helper.make_node("Identity", [g.v(t)], [name], name=g.fresh("n_output")))
        dims = dict(dyn.get(name, {}))
        if t2 is not None:
            for j, (n1, n2) in enumerate(zip(t.shape, t2.shape)):
                if n1 != n2:
                    dims.setdefault(j, f"{name}_dim{j}")
        outputs.append(_value_info(helper, name, t, dims))

    inits = [numpy_helper.from_array(a, n) for n, a in g.inits.items()]
    graph = helper.make_graph(g.nodes, "main_graph", inputs, outputs, initializer=inits)
    opsets = [helper.make_opsetid("", opset_version)]
    m = helper.make_model(graph, opset_imports=opsets, producer_name="wgtorch", producer_version="0.1.0",
                          ir_version=helper.find_min_ir_version_for(opsets))
    onnx.checker.check_model(m)
    if verbose:
        print(helper.printable_graph(m.graph))
    if isinstance(f, (str, bytes)) or hasattr(f, "__fspath__"):
        onnx.save(m, f)
    else:
        f.write(m.SerializeToString())


def _perturbed_args(args, names, dyn):
    new = []
    for a, name in zip(args, names):
        if isinstance(a, Tensor) and name in dyn:
            for axis in sorted(dyn[name]):
                a = _grow(a, axis)
        new.append(a)
    return tuple(new)
