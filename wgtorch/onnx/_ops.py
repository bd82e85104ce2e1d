"""ONNX mappings of the recorded ops: ``HANDLERS[name](g, c)`` emits the nodes of call c into
graph g and binds its results. An op with no entry here is recorded transparently (the ops it
calls are recorded instead); one that calls none raises UnsupportedOperatorError."""
import math

import numpy as np

from .. import dtypes
from ..tensor import Tensor
from ._graph import UnsupportedOperatorError

HANDLERS = {}
INT64_MAX = np.iinfo(np.int64).max


def op(*names):
    def register(fn):
        for n in names:
            HANDLERS[n] = fn
        return fn
    return register


def _axis(d, n):
    return d + n if d < 0 else d


def _shape_arg(args):
    """view(2, 3) and view((2, 3)) alike."""
    return list(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else list(args)


def _refuse(c, why):
    raise UnsupportedOperatorError(f"wgtorch.onnx.export: the operator '{c.name}' {why}")


# ---- elementwise --------------------------------------------------------------------------
_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow", "maximum": "Max",
           "minimum": "Min", "subtract": "Sub", "multiply": "Mul", "divide": "Div", "true_divide": "Div"}
_COMPARE = {"eq": "Equal", "lt": "Less", "le": "LessOrEqual", "gt": "Greater", "ge": "GreaterOrEqual",
            "greater": "Greater", "greater_equal": "GreaterOrEqual", "less": "Less", "less_equal": "LessOrEqual"}
_LOGICAL = {"logical_and": "And", "logical_or": "Or", "logical_xor": "Xor", "bitwise_and": "And",
            "bitwise_or": "Or", "bitwise_xor": "Xor"}


def _operands(g, a, b, dt):
    return g.v(a, dt), g.v(b, dt)


@op(*_BINARY, *(n + "_" for n in _BINARY), "rsub", "rdiv", "rpow")
def _binary(g, c):
    name = c.name.rstrip("_")
    a, b = c.a[0], c.a[1]
    if name in ("rsub", "rdiv", "rpow"):
        a, b, name = b, a, name[1:]
    if name in ("div", "divide", "true_divide") and c.kw.get("rounding_mode") is not None:
        _refuse(c, f"with rounding_mode={c.kw['rounding_mode']!r} has no ONNX mapping")
    dt = c.out.dtype
    alpha = c.kw.get("alpha", 1)
    if name == "pow":  # the exponent keeps its own type (Pow allows that); the base has the result's
        x, y = g.v(a, dt), g.v(b, dt if not isinstance(b, Tensor) else None)
    else:
        x, y = _operands(g, a, b, dt)
    if alpha != 1:
        y = g.node("Mul", [y, g.v(alpha, dt)])
    g.bind(c.out, g.node(_BINARY[name], [x, y]))


@op(*_COMPARE, "ne", "not_equal", *_LOGICAL)
def _compare(g, c):
    from ..ops.core import result_dtype
    a, b = c.a[0], c.a[1]
    if c.name in _LOGICAL:
        x, y = g.v(a, dtypes.bool_), g.v(b, dtypes.bool_)
        if c.name.startswith("bitwise") and c.out.dtype != dtypes.bool_:
            _refuse(c, "on integers has no ONNX mapping here (only on bool tensors)")
        g.bind(c.out, g.node(_LOGICAL[c.name], [x, y]))
        return
    x, y = _operands(g, a, b, result_dtype(a, b) if isinstance(a, Tensor) else b.dtype)
    if c.name in ("ne", "not_equal"):
        g.bind(c.out, g.node("Not", [g.node("Equal", [x, y])]))
    else:
        g.bind(c.out, g.node(_COMPARE[c.name], [x, y]))


_UNARY = {"neg": "Neg", "negative": "Neg", "abs": "Abs", "exp": "Exp", "log": "Log", "sqrt": "Sqrt",
          "sin": "Sin", "cos": "Cos", "tan": "Tan", "tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu",
          "erf": "Erf", "floor": "Floor", "ceil": "Ceil", "reciprocal": "Reciprocal", "sign": "Sign",
          "logical_not": "Not", "isnan": "IsNaN", "asin": "Asin", "acos": "Acos", "atan": "Atan",
          "sinh": "Sinh", "cosh": "Cosh", "asinh": "Asinh", "acosh": "Acosh", "atanh": "Atanh",
          "softsign": "Softsign"}


@op(*_UNARY, *(n + "_" for n in _UNARY))
def _unary(g, c):
    name = c.name.rstrip("_")
    dt = c.out.dtype if name not in ("logical_not", "isnan") else None
    g.bind(c.out, g.node(_UNARY[name], [g.v(c.a[0], dt)]))


@op("bitwise_not")
def _bitwise_not(g, c):
    if c.a[0].dtype != dtypes.bool_:
        _refuse(c, "on integers has no ONNX mapping here (only on bool tensors)")
    g.bind(c.out, g.node("Not", [g.v(c.a[0])]))


@op("rsqrt", "rsqrt_")
def _rsqrt(g, c):
    g.bind(c.out, g.node("Reciprocal", [g.node("Sqrt", [g.v(c.a[0], c.out.dtype)])]))


@op("log1p", "log1p_", "expm1", "expm1_")
def _log1p(g, c):
    # log(1 + x) and exp(x) - 1 composed (ONNX has neither): less accurate for tiny |x|
    dt = c.out.dtype
    x, one = g.v(c.a[0], dt), g.v(1.0, dt)
    if c.name.startswith("log1p"):
        g.bind(c.out, g.node("Log", [g.node("Add", [x, one])]))
    else:
        g.bind(c.out, g.node("Sub", [g.node("Exp", [x]), one]))


@op("square", "square_")
def _square(g, c):
    x = g.v(c.a[0], c.out.dtype)
    g.bind(c.out, g.node("Mul", [x, x]))


@op("round")
def _round(g, c):
    if len(c.a) > 1 and c.a[1]:
        _refuse(c, "with decimals has no ONNX mapping")
    g.bind(c.out, g.node("Round", [g.v(c.a[0])]))


@op("clamp", "clip", "clamp_", "clip_", "clamp_min", "clamp_max", "clamp_min_", "clamp_max_", "hardtanh",
    "relu6")
def _clamp(g, c):
    name, dt = c.name.rstrip("_"), c.out.dtype
    lo = hi = None
    if name in ("clamp", "clip", "hardtanh"):
        lo, hi = c.a[1], c.a[2]
    elif name == "clamp_min":
        lo = c.a[1]
    elif name == "clamp_max":
        hi = c.a[1]
    else:  # relu6
        lo, hi = 0.0, 6.0
    x = g.v(c.a[0], dt)
    if isinstance(lo, Tensor) or isinstance(hi, Tensor):  # elementwise bounds: Max / Min
        if lo is not None:
            x = g.node("Max", [x, g.v(lo, dt)])
        if hi is not None:
            x = g.node("Min", [x, g.v(hi, dt)])
        g.bind(c.out, x)
        return
    g.bind(c.out, g.node("Clip", [x, "" if lo is None else g.v(lo, dt), "" if hi is None else g.v(hi, dt)]))


@op("where")
def _where(g, c):
    if c.fn.__name__ == "<lambda>":  # Tensor.where(self, condition, other)
        x, cond, y = c.a[0], c.a[1], c.a[2]
    else:
        cond, x, y = c.a[0], c.a[1], c.a[2]
        if x is None:
            _refuse(c, "with only a condition (nonzero) has no ONNX mapping here")
    dt = c.out.dtype
    g.bind(c.out, g.node("Where", [g.v(cond, dtypes.bool_), g.v(x, dt), g.v(y, dt)]))


@op("masked_fill", "masked_fill_")
def _masked_fill(g, c):
    x, mask, value = c.a[0], c.a[1], c.a[2]
    dt = c.out.dtype
    g.bind(c.out, g.node("Where", [g.v(mask, dtypes.bool_), g.v(value, dt), g.v(x, dt)]))


# ---- activations --------------------------------------------------------------------------
@op("gelu")
def _gelu(g, c):
    x, approximate = g.v(c.a[0]), c.a[1]
    dt = c.out.dtype
    if g.opset >= 20:
        g.bind(c.out, g.node("Gelu", [x], approximate=approximate))
        return
    if approximate == "tanh":  # x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        inner = g.node("Mul", [g.node("Add", [x, g.node("Mul", [g.node("Mul", [g.node("Mul", [x, x]), x]),
                                                              g.v(0.044715, dt)])]),
                              g.v(math.sqrt(2.0 / math.pi), dt)])
        t = g.node("Tanh", [inner])
    else:  # x/2 (1 + erf(x / sqrt 2))
        t = g.node("Erf", [g.node("Mul", [x, g.v(1.0 / math.sqrt(2.0), dt)])])
    half = g.node("Mul", [x, g.v(0.5, dt)])
    g.bind(c.out, g.node("Mul", [half, g.node("Add", [t, g.v(1.0, dt)])]))


@op("silu")
def _silu(g, c):
    x = g.v(c.a[0])
    g.bind(c.out, g.node("Mul", [x, g.node("Sigmoid", [x])]))


@op("leaky_relu", "leaky_relu_")
def _leaky_relu(g, c):
    g.bind(c.out, g.node("LeakyRelu", [g.v(c.a[0])], alpha=float(c.a[1])))


@op("elu", "elu_")
def _elu(g, c):
    g.bind(c.out, g.node("Elu", [g.v(c.a[0])], alpha=float(c.a[1])))


@op("softplus")
def _softplus(g, c):
    x, beta, threshold = g.v(c.a[0]), float(c.a[1]), float(c.a[2])
    dt = c.out.dtype
    # log(1 + exp(beta x)) / beta, and x itself above the threshold (as wgtorch and torch do)
    bx = g.node("Mul", [x, g.v(beta, dt)])
    soft = g.node("Div", [g.node("Softplus", [bx]), g.v(beta, dt)])
    g.bind(c.out, g.node("Where", [g.node("Greater", [bx, g.v(threshold, dt)]), x, soft]))


@op("hardsigmoid")
def _hardsigmoid(g, c):
    g.bind(c.out, g.node("HardSigmoid", [g.v(c.a[0])], alpha=1.0 / 6.0, beta=0.5))


@op("hardswish")
def _hardswish(g, c):
    g.bind(c.out, g.node("HardSwish", [g.v(c.a[0])]))


@op("softmax", "log_softmax", "softmin")
def _softmax(g, c):
    x = c.a[0]
    dim = c.a[1]
    if dim is None:
        _refuse(c, "needs an explicit dim to be exported")
    v = g.v(x, c.kw.get("dtype") or None)
    if c.name == "softmin":
        v = g.node("Neg", [v])
    g.bind(c.out, g.node("LogSoftmax" if c.name == "log_softmax" else "Softmax", [v], axis=int(dim)))


@op("dropout", "dropout_")
def _dropout(g, c):
    p, training = c.a[1], c.a[2]
    if training and p > 0:
        _refuse(c, "in training mode has no deterministic ONNX mapping; call model.eval()")
    g.bind(c.out, g.node("Identity", [g.v(c.a[0])]))


# ---- linear algebra -----------------------------------------------------------------------
@op("matmul", "mm", "bmm", "rmatmul")
def _matmul(g, c):
    a, b = (c.a[1], c.a[0]) if c.name == "rmatmul" else (c.a[0], c.a[1])
    dt = c.out.dtype
    g.bind(c.out, g.node("MatMul", [g.v(a, dt), g.v(b, dt)]))


@op("addmm")
def _addmm(g, c):
    inp, m1, m2 = c.a[0], c.a[1], c.a[2]
    dt = c.out.dtype
    g.bind(c.out, g.node("Gemm", [g.v(m1, dt), g.v(m2, dt), g.v(inp, dt)], alpha=float(c.kw.get("alpha", 1)),
                         beta=float(c.kw.get("beta", 1))))


@op("linear")
def _linear(g, c):
    x, w, b = c.a[0], c.a[1], c.a[2]
    dt = c.out.dtype
    if x.dim() == 2:  # y = x W^T + b: one Gemm
        ins = [g.v(x, dt), g.v(w, dt)] + ([g.v(b, dt)] if b is not None else [])
        g.bind(c.out, g.node("Gemm", ins, transB=1))
        return
    y = g.node("MatMul", [g.v(x, dt), g.node("Transpose", [g.v(w, dt)], perm=[1, 0])])
    g.bind(c.out, y if b is None else g.node("Add", [y, g.v(b, dt)]))


# ---- shapes -------------------------------------------------------------------------------
def _reshape_target(c, x, out):
    """The Reshape shape input for out = x.reshape(...): static sizes, except the sizes that change
    with a dynamic axis (seen in the second trace): 0 (copy the input's size) where the output
    dimension is the input's at the same index, else -1 (at most one)."""
    target = list(out.shape)
    if c.alt is None:
        return target
    x2, out2 = c.alt.a[0], c.alt.out
    free = []
    for j, (n1, n2) in enumerate(zip(out.shape, out2.shape)):
        if n1 != n2:
            if j < x.dim() and x.shape[j] == n1 and x2.shape[j] == n2:
                target[j] = 0
            else:
                free.append(j)
    if len(free) > 1:
        raise UnsupportedOperatorError(f"wgtorch.onnx.export: '{c.name}' to {tuple(out.shape)} changes more than "
                                       "one dimension with the dynamic axes; it cannot be expressed as one Reshape")
    for j in free:
        target[j] = -1
    return target


@op("view", "reshape", "view_as", "reshape_as", "flatten", "unflatten", "ravel")
def _reshape(g, c):
    x, out = c.a[0], c.out
    if out.dim() == 0 and x.dim() == 0:
        g.bind(out, g.node("Identity", [g.v(x)]))
        return
    if c.name == "flatten" and out.dim() == 2 and c.a[2] in (-1, x.dim() - 1) and c.a[1] > 0 and x.dim() > 1:
        if _axis(c.a[1], x.dim()) == 1:  # (N, rest): ONNX Flatten, which keeps a dynamic batch
            g.bind(out, g.node("Flatten", [g.v(x)], axis=1))
            return
    target = _reshape_target(c, x, out)
    g.bind(out, g.node("Reshape", [g.v(x), g.ints(target)]))


@op("permute", "transpose", "swapaxes", "swapdims", "t", "T", "mT", "movedim", "moveaxis")
def _transpose(g, c):
    x, n = c.a[0], c.a[0].dim()
    perm = list(range(n))
    if c.name == "permute":
        perm = [_axis(d, n) for d in _shape_arg(c.a[1:])]
    elif c.name in ("transpose", "swapaxes", "swapdims"):
        i, j = _axis(c.a[1], n), _axis(c.a[2], n)
        perm[i], perm[j] = perm[j], perm[i]
    elif c.name == "T":
        perm = perm[::-1]
    elif c.name in ("t", "mT"):
        if n >= 2:
            perm[-1], perm[-2] = perm[-2], perm[-1]
    else:  # movedim(source, destination)
        src, dst = c.a[1], c.a[2]
        src = [_axis(s, n) for s in (src if isinstance(src, (tuple, list)) else [src])]
        dst = [_axis(d, n) for d in (dst if isinstance(dst, (tuple, list)) else [dst])]
        rest = iter(d for d in range(n) if d not in src)
        where = dict(zip(dst, src))
        perm = [where[i] if i in where else next(rest) for i in range(n)]
    g.bind(c.out, g.node("Transpose", [g.v(x)], perm=perm) if perm != list(range(n)) else
           g.node("Identity", [g.v(x)]))


@op("unsqueeze")
def _unsqueeze(g, c):
    g.bind(c.out, g.node("Unsqueeze", [g.v(c.a[0]), g.ints([_axis(c.a[1], c.out.dim())])]))


@op("squeeze")
def _squeeze(g, c):
    x = c.a[0]
    dims = c.a[1]
    if dims is None:
        axes = [i for i, n in enumerate(x.shape) if n == 1]
    else:
        dims = dims if isinstance(dims, (tuple, list)) else [dims]
        axes = [_axis(d, x.dim()) for d in dims if x.shape[_axis(d, x.dim())] == 1]
    g.bind(c.out, g.node("Squeeze", [g.v(x), g.ints(axes)]) if axes else g.node("Identity", [g.v(x)]))


@op("expand", "expand_as", "broadcast_to")
def _expand(g, c):
    x, out = c.a[0], c.out
    # 1 where the input already has the size: Expand keeps it (so a dynamic size stays dynamic)
    lead = out.dim() - x.dim()
    target = [1 if j >= lead and x.shape[j - lead] == n else n for j, n in enumerate(out.shape)]
    if c.alt is not None and list(c.alt.out.shape)[:lead] != list(out.shape)[:lead]:
        _refuse(c, "to new leading sizes that change with a dynamic axis cannot be exported")
    g.bind(out, g.node("Expand", [g.v(x), g.ints(target)]))


@op("contiguous", "clone", "detach", "positive", "conj", "resolve_conj", "resolve_neg")
def _identity(g, c):
    g.bind(c.out, g.node("Identity", [g.v(c.a[0])]))


@op("to", "float", "double", "half", "long", "int", "bool", "short", "char", "byte", "type_as", "cpu", "cuda",
    "wgpu")
def _to(g, c):
    x, out = c.a[0], c.out
    g.bind(out, g.node("Identity", [g.v(x)]) if out.dtype == x.dtype else g.v(x, out.dtype))


@op("cat", "concat", "concatenate")
def _cat(g, c):
    tensors, dim = [t for t in c.a[0] if t.numel() or t.dim() != 1], c.a[1]  # torch skips empty 1-D tensors
    dt = c.out.dtype
    g.bind(c.out, g.node("Concat", [g.v(t, dt) for t in tensors], axis=_axis(dim, c.out.dim())))


@op("stack")
def _stack(g, c):
    dt, dim = c.out.dtype, _axis(c.a[1], c.out.dim())
    parts = [g.node("Unsqueeze", [g.v(t, dt), g.ints([dim])]) for t in c.a[0]]
    g.bind(c.out, g.node("Concat", parts, axis=dim))


@op("split", "chunk", "tensor_split", "unbind")
def _split(g, c):
    x, outs = c.a[0], list(c.out)
    dim = _axis(c.a[1] if c.name == "unbind" else c.a[2], x.dim())
    if any(o.shape[dim] == 0 for o in outs):
        _refuse(c, "with an empty piece cannot be exported")
    sizes = [1 if c.name == "unbind" else o.shape[dim] for o in outs]
    names = g.node("Split", [g.v(x), g.ints(sizes)], outputs=len(outs), axis=dim)
    names = names if isinstance(names, list) else [names]
    for o, n in zip(outs, names):
        g.bind(o, g.node("Squeeze", [n, g.ints([dim])]) if c.name == "unbind" else n)


@op("narrow")
def _narrow(g, c):
    x, dim, start, length = c.a[0], _axis(c.a[1], c.a[0].dim()), c.a[2], c.a[3]
    start = int(start) % x.shape[dim] if int(start) < 0 else int(start)  # end = start + length stays right
    g.bind(c.out, g.node("Slice", [g.v(x), g.ints([start]), g.ints([start + int(length)]), g.ints([dim])]))


@op("select")
def _select(g, c):
    x, dim, index = c.a[0], _axis(c.a[1], c.a[0].dim()), int(c.a[2])
    g.bind(c.out, g.node("Gather", [g.v(x), g.const(np.asarray(index, np.int64))], axis=dim))


@op("getitem")
def _getitem(g, c):
    x, key = c.a[0], c.a[1]
    key = list(key) if isinstance(key, tuple) else [key]
    if any(isinstance(k, Tensor) and k.dtype == dtypes.bool_ for k in key):
        _refuse(c, "with a boolean mask has a data-dependent shape and no ONNX mapping here")
    n_real = sum(1 for k in key if k is not None and k is not Ellipsis)
    if any(k is Ellipsis for k in key):  # identity tests: == on a tensor index is elementwise
        i = next(i for i, k in enumerate(key) if k is Ellipsis)
        key[i:i + 1] = [slice(None)] * (x.dim() - n_real)
    key += [slice(None)] * (x.dim() - sum(1 for k in key if k is not None))
    tensors = [i for i, k in enumerate(key) if isinstance(k, (Tensor, list))]
    if tensors:
        if len(tensors) > 1 or any(not (isinstance(k, slice) and k == slice(None)) for i, k in enumerate(key)
                                   if i not in tensors and k is not None) or any(k is None for k in key):
            _refuse(c, "with a tensor index mixed with other indices has no ONNX mapping here")
        i = tensors[0]
        idx = key[i] if isinstance(key[i], Tensor) else np.asarray(key[i], dtype=np.int64)
        g.bind(c.out, g.node("Gather", [g.v(x), g.v(idx) if isinstance(idx, Tensor) else g.const(idx)], axis=i))
        return
    starts, ends, axes, steps, squeeze, unsq = [], [], [], [], [], []
    ax = out_ax = 0
    for k in key:
        if k is None:
            unsq.append(out_ax)
            out_ax += 1
        elif isinstance(k, slice):
            if k != slice(None):
                step = 1 if k.step is None else int(k.step)
                if step <= 0:
                    _refuse(c, "with a non-positive step")
                starts.append(0 if k.start is None else int(k.start))
                ends.append(INT64_MAX if k.stop is None else int(k.stop))
                axes.append(ax)
                steps.append(step)
            ax += 1
            out_ax += 1
        else:  # an int: a slice of one, then squeezed
            i = int(k)
            starts.append(i)
            ends.append(i + 1 if i != -1 else INT64_MAX)
            axes.append(ax)
            steps.append(1)
            squeeze.append(ax)
            ax += 1
    v = g.v(x)
    if axes:
        v = g.node("Slice", [v, g.ints(starts), g.ints(ends), g.ints(axes), g.ints(steps)])
    if squeeze:
        v = g.node("Squeeze", [v, g.ints(squeeze)])
    if unsq:
        v = g.node("Unsqueeze", [v, g.ints(unsq)])
    g.bind(c.out, v if v != g.env.get(id(x)) else g.node("Identity", [v]))


@op("repeat", "tile")
def _repeat(g, c):
    x, reps = c.a[0], _shape_arg(c.a[1:])
    v = g.v(x)
    if len(reps) > x.dim():  # leading new dims
        v = g.node("Reshape", [v, g.ints([1] * (len(reps) - x.dim()) + list(x.shape))])
    reps = [1] * (x.dim() - len(reps)) + list(reps)
    g.bind(c.out, g.node("Tile", [v, g.ints(reps)]))


@op("tril", "triu")
def _trilu(g, c):
    g.bind(c.out, g.node("Trilu", [g.v(c.a[0]), g.const(np.asarray(c.a[1], np.int64))], upper=int(c.name == "triu")))


# ---- reductions ---------------------------------------------------------------------------
def _dims(dim, n):
    if dim is None or dim == ():
        return None
    return [_axis(d, n) for d in (dim if isinstance(dim, (tuple, list)) else [dim])]


@op("sum", "mean", "amax", "amin", "logsumexp", "prod")
def _reduce(g, c):
    x = c.a[0]
    dt = c.kw.get("dtype") or c.out.dtype
    op_ = {"sum": "ReduceSum", "mean": "ReduceMean", "amax": "ReduceMax", "amin": "ReduceMin",
           "logsumexp": "ReduceLogSumExp", "prod": "ReduceProd"}[c.name]
    g.bind(c.out, g.reduce(op_, g.v(x, dt), _dims(c.a[1], x.dim()), c.a[2] if len(c.a) > 2 else False))


@op("max", "min")
def _max(g, c):
    x, dim = c.a[0], c.a[1]
    if c.kw.get("other") is not None or isinstance(dim, Tensor):
        other = c.kw.get("other") if c.kw.get("other") is not None else dim
        g.bind(c.out, g.node("Max" if c.name == "max" else "Min", [g.v(x, c.out.dtype), g.v(other, c.out.dtype)]))
        return
    red = "ReduceMax" if c.name == "max" else "ReduceMin"
    if dim is None:
        g.bind(c.out, g.reduce(red, g.v(x), None, False))
        return
    d, keep = _axis(dim, x.dim()), bool(c.a[2])
    values, indices = c.out
    g.bind(values, g.reduce(red, g.v(x), [d], keep))
    g.bind(indices, g.node("ArgMax" if c.name == "max" else "ArgMin", [g.v(x)], axis=d, keepdims=int(keep),
                           select_last_index=0))


@op("argmax", "argmin")
def _argmax(g, c):
    x, dim, keep = c.a[0], c.a[1], bool(c.a[2])
    v = g.v(x)
    if dim is None:
        v, dim = g.node("Reshape", [v, g.ints([-1])]), 0
    g.bind(c.out, g.node("ArgMax" if c.name == "argmax" else "ArgMin", [v], axis=_axis(dim, max(x.dim(), 1)),
                         keepdims=int(keep)))


# ---- nn -----------------------------------------------------------------------------------
@op("layer_norm")
def _layer_norm(g, c):
    x, shape, w, b, eps = c.a[0], c.a[1], c.a[2], c.a[3], c.a[4]
    k = 1 if isinstance(shape, int) else len(shape)
    dt = c.out.dtype
    norm = tuple(x.shape[-k:])
    wv = g.v(w, dt) if w is not None else g.const(np.ones(norm, dt.np))
    ins = [g.v(x, dt), wv] + ([g.v(b, dt)] if b is not None else [])
    g.bind(c.out, g.node("LayerNormalization", ins, axis=-k, epsilon=float(eps)))


@op("batch_norm")
def _batch_norm(g, c):
    x, mean, var, w, b, training, _, eps = c.a[:8]
    if training or mean is None:
        _refuse(c, "in training mode (batch statistics) cannot be exported; call model.eval()")
    dt, n = c.out.dtype, x.shape[1]
    wv = g.v(w, dt) if w is not None else g.const(np.ones(n, dt.np))
    bv = g.v(b, dt) if b is not None else g.const(np.zeros(n, dt.np))
    g.bind(c.out, g.node("BatchNormalization", [g.v(x, dt), wv, bv, g.v(mean, dt), g.v(var, dt)],
                         epsilon=float(eps)))


@op("embedding")
def _embedding(g, c):
    idx, w, max_norm = c.a[0], c.a[1], c.a[3]
    if max_norm is not None:
        _refuse(c, "with max_norm (it renormalises the weights in place) cannot be exported")
    g.bind(c.out, g.node("Gather", [g.v(w), g.v(idx)], axis=0))


def _tuple(v, n):
    return list(v) if isinstance(v, (tuple, list)) else [v] * n


@op("conv1d", "conv2d")
def _conv(g, c):
    x, w, b, stride, padding, dilation, groups = c.a[:7]
    n = 1 if c.name == "conv1d" else 2
    dt = c.out.dtype
    k, d = list(w.shape[2:]), _tuple(dilation, n)
    if padding == "valid":
        pads = [0] * (2 * n)
    elif padding == "same":  # torch puts the odd extra on the end
        tot = [d[i] * (k[i] - 1) for i in range(n)]
        pads = [t // 2 for t in tot] + [t - t // 2 for t in tot]
    else:
        p = _tuple(padding, n)
        pads = p + p
    ins = [g.v(x, dt), g.v(w, dt)] + ([g.v(b, dt)] if b is not None else [])
    g.bind(c.out, g.node("Conv", ins, kernel_shape=k, strides=_tuple(stride, n), pads=pads, dilations=d,
                         group=int(groups)))


@op("max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d")
def _pool(g, c):
    n = 1 if c.name.endswith("1d") else 2
    x, ks, stride, padding = c.a[0], _tuple(c.a[1], n), c.a[2], _tuple(c.a[3], n)
    stride = ks if stride is None or stride == [] or stride == () else _tuple(stride, n)
    out = c.out
    if c.name.startswith("max"):
        dil, ceil, ret = _tuple(c.a[4], n), c.a[5], c.a[6]
        if ret:
            _refuse(c, "with return_indices=True cannot be exported")
        g.bind(out, g.node("MaxPool", [g.v(x)], kernel_shape=ks, strides=stride, pads=padding + padding,
                           dilations=dil, ceil_mode=int(bool(ceil))))
        return
    ceil, include = c.a[4], c.a[5]
    if len(c.a) > 6 and c.a[6] is not None:
        _refuse(c, "with divisor_override cannot be exported")
    g.bind(out, g.node("AveragePool", [g.v(x)], kernel_shape=ks, strides=stride, pads=padding + padding,
                       ceil_mode=int(bool(ceil)), count_include_pad=int(bool(include))))


@op("adaptive_avg_pool1d", "adaptive_avg_pool2d")
def _adaptive_avg(g, c):
    x, out = c.a[0], c.out
    if any(n != 1 for n in out.shape[2:]):
        if all(i % o == 0 for i, o in zip(x.shape[2:], out.shape[2:])):  # equal windows: an AveragePool
            k = [i // o for i, o in zip(x.shape[2:], out.shape[2:])]
            g.bind(out, g.node("AveragePool", [g.v(x)], kernel_shape=k, strides=k))
            return
        _refuse(c, f"to {tuple(out.shape[2:])} from {tuple(x.shape[2:])} (unequal windows) has no ONNX mapping")
    g.bind(out, g.node("GlobalAveragePool", [g.v(x)]))


@op("pad")
def _pad(g, c):
    x, pad, mode, value = c.a[0], list(c.a[1]), c.a[2], c.a[3]
    if mode not in ("constant", "reflect", "replicate"):
        _refuse(c, f"with mode={mode!r} has no ONNX mapping here")
    n = x.dim()
    begins, ends = [0] * n, [0] * n
    for i in range(len(pad) // 2):  # torch's pad lists the last dim first
        begins[n - 1 - i], ends[n - 1 - i] = pad[2 * i], pad[2 * i + 1]
    if any(p < 0 for p in begins + ends):
        _refuse(c, "with negative padding has no ONNX mapping here")
    ins = [g.v(x), g.ints(begins + ends)]
    if mode == "constant":
        ins.append(g.v(0 if value is None else value, c.out.dtype))
    g.bind(c.out, g.node("Pad", ins, mode={"replicate": "edge"}.get(mode, mode)))


@op("scaled_dot_product_attention")
def _sdpa(g, c):
    q, k, v, mask, dropout_p, causal, scale, gqa = c.a[:8]
    if dropout_p > 0:
        _refuse(c, "with dropout_p > 0 has no deterministic ONNX mapping")
    if gqa and q.dim() >= 3 and k.shape[-3] != q.shape[-3]:
        _refuse(c, "with enable_gqa and fewer key heads cannot be exported")
    if c.alt is not None and (c.alt.a[0].shape[-2] != q.shape[-2] or c.alt.a[1].shape[-2] != k.shape[-2]):
        _refuse(c, "with a sequence length that changes with a dynamic axis cannot be exported")
    dt = c.out.dtype
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    perm = list(range(k.dim()))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    scores = g.node("MatMul", [g.node("Mul", [g.v(q, dt), g.v(scale, dt)]), g.node("Transpose", [g.v(k, dt)],
                                                                                      perm=perm)])
    L, S = q.shape[-2], k.shape[-2]
    if causal:
        mask = np.tril(np.ones((L, S), dtype=bool))
        scores = g.node("Where", [g.const(mask), scores, g.v(float("-inf"), dt)])
    elif mask is not None and mask.dtype == dtypes.bool_:
        scores = g.node("Where", [g.v(mask), scores, g.v(float("-inf"), dt)])
    elif mask is not None:
        scores = g.node("Add", [scores, g.v(mask, dt)])
    weights = g.node("Softmax", [scores], axis=-1)  # a fully masked row gives NaN here (wgtorch and torch: 0)
    g.bind(c.out, g.node("MatMul", [weights, g.v(v, dt)]))
