"""Op interception for the ONNX tracer and the profiler.

While an `intercept(hook)` block is active, the public op entry points that models call
(Tensor methods and operators, wgtorch's top-level functions, nn.functional, and every
module global bound to one of those functions, e.g. nn.modules.linear's `addmm` or a
script's `from wgtorch.nn.functional import relu`) are replaced by wrappers that call
``hook(name, fn, call, args, kwargs)``; on exit the originals are put back. Nothing is wrapped outside such a block, so ordinary calls cost
nothing extra. Blocks nest (the innermost hook runs first and its `call` runs the outer one).
"""
import sys
import threading
import types

# Tensor attributes bound in ops/methods.py that answer questions instead of computing
_NOT_OPS = {"get_device", "is_conj", "is_meta", "is_neg", "is_nested", "is_nonzero", "is_quantized",
            "is_same_size", "is_shared", "is_signed", "is_sparse", "itemsize", "nbytes", "real",
            "share_memory_", "equal", "allclose"}
# wgtorch top-level functions that are settings or queries, not ops
_NOT_OP_FUNCS = {"manual_seed", "seed", "initial_seed", "promote_types", "broadcast_shapes", "result_type",
                 "can_cast", "install_as_torch", "compile", "numel", "equal", "allclose"}
_NOT_OP_PREFIXES = ("set_", "get_", "is_", "use_", "are_", "_")
# operator names -> the op's name (reflected forms keep an r: their operands are swapped)
_DUNDER = {"truediv": "div", "rtruediv": "rdiv", "floordiv": "floor_divide", "rfloordiv": "rfloor_divide",
           "mod": "remainder", "rmod": "rremainder", "invert": "bitwise_not", "and": "bitwise_and",
           "rand": "bitwise_and", "or": "bitwise_or", "ror": "bitwise_or", "xor": "bitwise_xor",
           "rxor": "bitwise_xor", "radd": "add", "rmul": "mul", "pos": "positive", "iand": "bitwise_and_",
           "ior": "bitwise_or_", "ixor": "bitwise_xor_", "itruediv": "div_", "ifloordiv": "floor_divide_",
           "imod": "remainder_"}
# modules whose globals are never patched (the interceptors themselves)
_OWN = ("wgtorch._intercept", "wgtorch.onnx", "wgtorch.profiler")

_hooks = []  # (hook, thread id), innermost last
_lock = threading.Lock()
_restore = []  # (owner, attribute, original) while any block is active
_funcs = {}  # id(original function) -> (original, wrapper) while any block is active


def op_name(attr, fn):
    """The name an entry point is recorded under: Tensor.__add__ -> 'add', F.linear -> 'linear'."""
    if attr.startswith("__") and attr.endswith("__"):
        core = attr[2:-2]
        if core in _DUNDER:
            return _DUNDER[core]
        if core.startswith("i") and core[1:] in ("add", "sub", "mul", "pow"):
            return core[1:] + "_"
        return core
    name = getattr(fn, "__name__", attr)
    return attr if name == "<lambda>" or name.startswith("_") else name


def _run(i, name, fn, args, kwargs):
    # hooks from other threads are skipped: a tracer records only its own thread's calls
    me = threading.get_ident()
    while i >= 0 and _hooks[i][1] != me:
        i -= 1
    if i < 0:
        return fn(*args, **kwargs)
    return _hooks[i][0](name, fn, lambda *a, **k: _run(i - 1, name, fn, a, k), args, kwargs)


def _wrapper(name, fn):
    def wrapper(*args, **kwargs):
        return _run(len(_hooks) - 1, name, fn, args, kwargs)
    wrapper.__name__ = getattr(fn, "__name__", name)
    wrapper.__doc__ = getattr(fn, "__doc__", None)
    wrapper.__wrapped__ = fn
    return wrapper


def _targets():
    """(owner, attribute, replacement) for every entry point to wrap; fills _funcs."""
    import wgtorch
    import wgtorch.nn.functional as F
    from wgtorch.ops import methods
    from wgtorch.tensor import Tensor
    out = []
    for attr in sorted(set(methods.M) | {"detach"}):
        if attr in _NOT_OPS:
            continue
        v = Tensor.__dict__.get(attr)
        if isinstance(v, property):
            out.append((Tensor, attr, property(_wrapper(attr, v.fget))))
        elif callable(v):
            out.append((Tensor, attr, _wrapper(op_name(attr, v), v)))
    # functions: wrapped once each, then replaced wherever a module binds them
    funcs = _funcs
    for mod, public in ((wgtorch, lambda n: not n.startswith(_NOT_OP_PREFIXES) and n not in _NOT_OP_FUNCS),
                        (F, lambda n: not n.startswith("_"))):
        for n, v in vars(mod).items():
            if isinstance(v, types.FunctionType) and public(n) and id(v) not in funcs:
                funcs[id(v)] = (v, _wrapper(op_name(n, v), v))
    # every loaded module, not only wgtorch's: a script's `from wgtorch.nn.functional import relu`
    # binds the function in the script's own namespace (identity makes this safe; ~40 ms at most)
    seen = set()
    for mname, mod in list(sys.modules.items()):
        try:  # sys.modules may hold odd objects (lazy-module proxies)
            d = object.__getattribute__(mod, "__dict__")
        except Exception:  # noqa: BLE001
            continue
        if not isinstance(d, dict) or id(mod) in seen or mname.startswith(_OWN):
            continue
        seen.add(id(mod))
        for n, v in list(d.items()):
            hit = funcs.get(id(v))
            if hit is not None and hit[0] is v:
                out.append((mod, n, hit[1]))
    return out


class intercept:
    """``with intercept(hook):`` routes every op entry point through
    ``hook(name, fn, call, args, kwargs)``; ``call(*args, **kwargs)`` runs the op (and any
    outer hook) and returns its result, which the hook returns."""

    def __init__(self, hook, objects=()):
        self.hook = hook
        self.objects = objects  # instances whose attributes may hold op functions (self.act = F.relu)
        self._own = []

    def __enter__(self):
        import wgtorch.nn.functional  # noqa: F401  (its functions must exist to be wrapped)
        with _lock:
            if not _hooks:
                for owner, attr, new in _targets():
                    _restore.append((owner, attr, owner.__dict__[attr]))
                    setattr(owner, attr, new)
            for obj in self.objects:  # written into __dict__: Module.__setattr__ is not involved
                d = getattr(obj, "__dict__", None)
                for n, v in list(d.items()) if isinstance(d, dict) else ():
                    hit = _funcs.get(id(v))
                    if hit is not None and hit[0] is v:
                        self._own.append((d, n, v))
                        d[n] = hit[1]
            _hooks.append((self.hook, threading.get_ident()))
        return self

    def __exit__(self, *exc):
        with _lock:
            _hooks.remove(next(h for h in _hooks if h[0] is self.hook))
            for d, n, v in reversed(self._own):
                d[n] = v
            self._own = []
            if not _hooks:
                for owner, attr, orig in reversed(_restore):
                    setattr(owner, attr, orig)
                _restore.clear()
                _funcs.clear()
        return False


def active():
    """Whether any interception block is active (the wrappers are installed)."""
    return bool(_hooks)
