"""Fuzzing the public API with generated calls (hypothesis), on cpu and on wgpu.

Each case draws an op from a table, its operands (random shapes with 0-size dims,
0-d, 1-element and high ranks; float / int / bool dtypes; NaN and +-inf; contiguous,
transposed, strided, offset and expanded views) and its arguments (dims and indices in
and out of range, wrong types). The same call runs on real torch (the oracle) and on
wgtorch. Where torch returns, wgtorch returns the same values, shape and dtype (on wgpu
too); where torch raises, wgtorch raises an exception of the same documented kind
(IndexError, TypeError, ValueError, NotImplementedError or RuntimeError) whose message
is not empty and is not a NumPy or wgpu internal leaking through.

CI runs a bounded profile; WGTORCH_FUZZ_LONG=1 (or HYPOTHESIS_PROFILE=thorough) runs
the long one (>= 10,000 generated cases in all); the counts are printed at the end."""
import collections
import os
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wgtorch

LONG = os.environ.get("WGTORCH_FUZZ_LONG") == "1" or os.environ.get("HYPOTHESIS_PROFILE") == "thorough"
# examples per test (and device): CI ~4,200 cases in about a minute; the long profile
# 4000 x 2 + 1000 x 5 = 13,000 (>= 10,000)
N_OPS, N_OTHER = (4000, 1000) if LONG else (1500, 250)
FUZZ = dict(deadline=None, derandomize=not LONG, database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                                   HealthCheck.function_scoped_fixture])

DOCUMENTED = (IndexError, TypeError, ValueError, NotImplementedError, RuntimeError)
# phrases of NumPy's (and wgpu's) own errors: PyTorch says "dim", never "axis"
FOREIGN = ("ufunc", "ndarray", "numpy", "could not be broadcast together", "cannot reshape array",
           "out of bounds for axis", "axis ", "GPUValidationError", "Validation Error", "wgpu_native")

COUNTS = collections.Counter()

# Where a call has two faults, torch and wgtorch may report a different one first. These
# (torch's message, wgtorch's message) pairs are accepted: both are documented exception
# types with messages naming a real fault of the call. Counted as "other-fault-first".
OTHER_FAULT_FIRST = [
    (r"appears multiple times", r"Dimension out of range"),
    (r"not implemented for 'Bool'", r"same dtype"),  # matmul of bool with another dtype
    (r"Index to scalar can have only 1 value", r"out of bounds"),
    (r"self indexing axis dim should be positive", r"out of bounds"),
    (r"step must be greater than zero", r"invalid index of a 0-dim tensor"),
    (r"to have non-zero size", r"appears multiple times"),
    (r"INDICES element is out of DATA bounds", r"out of bounds"),
    (r"length must be non-negative", r"Dimension out of range|start out of range"),
    (r"invalid data type 'str'", r"valid indices"),  # t["k"]: torch tries to make a tensor of the str
]
# Calls torch returns from and wgtorch refuses on purpose with a clear error, mostly calls
# whose result is empty, which torch returns without checking their arguments:
# (name pattern, wgtorch's message pattern, only when torch's result is empty, why)
REFUSED_QUIRKS = [
    (r"^t\[\[", r"out of bounds", True, "torch skips the bounds check when the result is empty"),
    (r"^cat", r"Dimension out of range", True, "torch's legacy cat ignores dim when every input is 1-D and empty"),
    (r"^roll", r"Dimension out of range", True, "torch returns an empty input before checking the dim"),
    (r"^(matmul|mm|bmm|a @ b)", r"same dtype", False, "torch skips the dtype check when the contraction is empty"),
    (r"^t\[\(", r"single ellipsis", False, "torch takes several Ellipsis in one index (NumPy and wgtorch do not)"),
]


@pytest.fixture(scope="module", autouse=True)
def _report(request):
    yield
    rep = request.config.pluginmanager.get_plugin("terminalreporter")
    if rep is not None and COUNTS:
        rep.write_line(f"\nfuzz cases run: {sum(v for k, v in COUNTS.items() if k[1] == 'cases')} "
                       f"({', '.join(f'{k[0]} {k[1]}: {v}' for k, v in sorted(COUNTS.items()))})")


# ---- inputs -----------------------------------------------------------------------------------
# (1e18: var/std square in float32; values past ~1e19 overflow there, where torch stays finite)
# (-1e-10: 1e18 / 1e-30 overflows float32, and torch's fmod is NaN there while the exact value exists)
SPECIAL = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e18, -1e-10, 0.5, -2.5], np.float64)


@st.composite
def shapes(draw, max_rank=6):
    rank = draw(st.sampled_from([0, 1, 1, 2, 2, 2, 3, 3, 4, max_rank]))
    return tuple(draw(st.lists(st.sampled_from([0, 1, 1, 2, 3, 4]), min_size=rank, max_size=rank)))


def _values(rng, shape, dtype, special):
    if dtype == "bool":
        return np.asarray(rng.random(shape) < 0.5)
    if dtype in ("int64", "int32"):
        return np.asarray(rng.integers(-4, 5, shape)).astype(dtype)
    a = np.asarray(rng.standard_normal(shape) * 3).astype(dtype)
    if special and a.size:
        mask = np.asarray(rng.random(shape) < 0.3)
        a[mask] = rng.choice(SPECIAL, int(mask.sum()))
    return a


@st.composite
def operands(draw, shape, dtypes=("float32", "float32", "int64", "bool", "int32", "float64"), special=True):
    """(NumPy base, view) with the view applied identically to a torch and a wgtorch tensor."""
    dtype = draw(st.sampled_from(dtypes))
    layout = draw(st.sampled_from(["contiguous", "contiguous", "transposed", "strided", "offset", "expanded"]))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    special = special and draw(st.booleans())
    nd = len(shape)
    if layout == "transposed" and nd >= 2:
        base = _values(rng, shape[::-1], dtype, special)
        view = lambda T, t: t.permute(*range(nd - 1, -1, -1))  # noqa: E731
    elif layout == "strided" and nd >= 1:
        base = _values(rng, shape[:-1] + (2 * shape[-1],), dtype, special)
        view = lambda T, t: t[..., ::2]  # noqa: E731
    elif layout == "offset" and nd >= 1:
        base = _values(rng, (shape[0] + 1,) + shape[1:], dtype, special)
        view = lambda T, t: t[1:]  # noqa: E731
    elif layout == "expanded" and nd >= 1 and any(s != 1 for s in shape):
        d = next(i for i, s in enumerate(shape) if s != 1)
        base = _values(rng, shape[:d] + (1,) + shape[d + 1:], dtype, special)
        view = lambda T, t: t.expand(*shape)  # noqa: E731
    else:
        layout = "contiguous"
        base = _values(rng, shape, dtype, special)
        view = lambda T, t: t  # noqa: E731
    return base, view, layout


def broadcastable(draw, shape):
    """A shape that broadcasts with `shape` (fewer dims, 1s), or (sometimes) one that does not."""
    if draw(st.integers(0, 4)) == 0:
        return draw(shapes())
    keep = draw(st.integers(0, len(shape)))
    return tuple(s if draw(st.booleans()) else 1 for s in shape[len(shape) - keep:])


# ---- ops: each draws its arguments and returns f(T, *tensors) ---------------------------------------
def dim(draw, nd):
    """A dim, sometimes out of range."""
    lo, hi = -max(nd, 1), max(nd, 1) - 1
    return draw(st.one_of(st.integers(lo, hi), st.integers(lo, hi), st.sampled_from([lo - 1, hi + 1, 7])))


UNARY = ["neg", "abs", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "floor", "ceil", "round",
         "trunc", "sign", "reciprocal", "square", "isnan", "isinf", "isfinite", "logical_not", "bitwise_not",
         "rsqrt", "log1p", "expm1", "erf", "atan", "exp2", "log2"]
BINARY = ["add", "sub", "mul", "div", "floor_divide", "remainder", "fmod", "pow", "maximum", "minimum", "atan2",
          "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor", "bitwise_and",
          "bitwise_or", "bitwise_xor"]
SCALAR_EXTENSION = {"maximum", "minimum", "atan2", "logical_and", "logical_or", "logical_xor"}
REDUCE = ["sum", "mean", "prod", "amax", "amin", "argmax", "argmin", "std", "var", "all", "any", "logsumexp",
          "cumsum", "softmax", "log_softmax", "max", "min", "norm"]


def op_unary(draw, nd):
    name = draw(st.sampled_from(UNARY))
    return name, 1, lambda T, a: getattr(T, name)(a)


def op_binary(draw, nd):
    name = draw(st.sampled_from(BINARY))
    form = draw(st.sampled_from(["tensor", "tensor", "scalar", "method"]))
    if form == "scalar":
        s = draw(st.sampled_from([2, -3, 0, 0.5, -1.5, True, float("nan"), float("inf")]))
        if name in SCALAR_EXTENSION:
            # wgtorch takes a Python number where torch insists on a Tensor: compare with torch
            # given the number as a 0-d tensor, as wgtorch treats it
            return f"{name}(t, {s!r})", 1, lambda T, a: getattr(T, name)(a, s if T is wgtorch else T.tensor(s))
        return f"{name}(t, {s!r})", 1, lambda T, a: getattr(T, name)(a, s)
    if form == "method":
        return f"t.{name}(u)", 2, lambda T, a, b: getattr(a, name)(b)
    return name, 2, lambda T, a, b: getattr(T, name)(a, b)


def op_clamp(draw, nd):
    lo = draw(st.sampled_from([None, -1.0, 0, float("nan")]))
    hi = draw(st.sampled_from([None, 1.0, 2, -2.0]))
    return f"clamp({lo}, {hi})", 1, lambda T, a: T.clamp(a, lo, hi)


def op_where(draw, nd):
    return "where", 3, lambda T, a, b, c: T.where(a, b, c)


def op_reduce(draw, nd):
    name = draw(st.sampled_from(REDUCE))
    form = draw(st.sampled_from(["all", "dim", "dim", "dims"]))
    keep = draw(st.booleans())
    if form == "all" and name not in ("cumsum", "softmax", "log_softmax", "logsumexp"):
        return f"{name}()", 1, lambda T, a: getattr(T, name)(a)
    d = dim(draw, nd)
    if name in ("cumsum", "softmax", "log_softmax"):
        return f"{name}({d})", 1, lambda T, a: getattr(T, name)(a, d)
    if form == "dims" and name in ("sum", "mean", "amax", "amin", "std", "var", "logsumexp"):
        ds = tuple(draw(st.lists(st.integers(-nd - 1, nd), min_size=1, max_size=3)))
        return f"{name}({ds}, keepdim={keep})", 1, lambda T, a: getattr(T, name)(a, ds, keepdim=keep)
    return f"{name}({d}, keepdim={keep})", 1, lambda T, a: getattr(T, name)(a, d, keepdim=keep)


def op_shape(draw, nd):
    kind = draw(st.sampled_from(["reshape", "view", "permute", "transpose", "squeeze", "unsqueeze", "flatten",
                                 "flip", "narrow", "expand", "repeat", "movedim", "roll", "t", "split", "chunk",
                                 "contiguous", "diagonal", "tril"]))
    if kind in ("reshape", "view"):
        shp = tuple(draw(st.lists(st.sampled_from([-1, 0, 1, 2, 3, 4, 6, 12]), max_size=4)))
        return f"{kind}{shp}", 1, lambda T, a: getattr(a, kind)(*shp) if shp else getattr(a, kind)(())
    if kind == "permute":
        p = draw(st.one_of(st.permutations(range(nd)), st.lists(st.integers(-nd - 1, nd), max_size=nd + 1)))
        return f"permute{tuple(p)}", 1, lambda T, a: a.permute(*p) if p else a.permute(())
    if kind in ("transpose", "movedim"):
        d0, d1 = dim(draw, nd), dim(draw, nd)
        return f"{kind}({d0}, {d1})", 1, lambda T, a: getattr(T, kind)(a, d0, d1)
    if kind in ("squeeze", "unsqueeze"):
        d = dim(draw, nd + (kind == "unsqueeze"))
        return f"{kind}({d})", 1, lambda T, a: getattr(a, kind)(d)
    if kind == "flatten":
        s, e = dim(draw, nd), dim(draw, nd)
        return f"flatten({s}, {e})", 1, lambda T, a: T.flatten(a, s, e)
    if kind == "flip":
        ds = tuple(draw(st.lists(st.integers(-nd - 1, nd), max_size=3)))
        return f"flip{ds}", 1, lambda T, a: T.flip(a, ds)
    if kind == "narrow":
        d, s, n = dim(draw, nd), draw(st.integers(-3, 4)), draw(st.integers(-1, 4))
        return f"narrow({d}, {s}, {n})", 1, lambda T, a: a.narrow(d, s, n)
    if kind == "expand":
        shp = tuple(draw(st.lists(st.sampled_from([-1, 1, 2, 3, 4]), max_size=nd + 2)))
        return f"expand{shp}", 1, lambda T, a: a.expand(*shp)
    if kind == "repeat":
        r = tuple(draw(st.lists(st.integers(0, 3), max_size=nd + 2)))
        return f"repeat{r}", 1, lambda T, a: a.repeat(*r) if r else a.repeat(())
    if kind == "roll":
        sh, d = draw(st.integers(-5, 5)), dim(draw, nd)
        return f"roll({sh}, {d})", 1, lambda T, a: T.roll(a, sh, d)
    if kind == "t":
        return "t()", 1, lambda T, a: a.t()
    if kind in ("split", "chunk"):
        n, d = draw(st.integers(-1, 3)), dim(draw, nd)
        return f"{kind}({n}, {d})", 1, lambda T, a: getattr(T, kind)(a, n, d)
    if kind == "diagonal":
        o, d0, d1 = draw(st.integers(-2, 2)), dim(draw, nd), dim(draw, nd)
        return f"diagonal({o}, {d0}, {d1})", 1, lambda T, a: T.diagonal(a, o, d0, d1)
    if kind == "tril":
        o = draw(st.integers(-2, 2))
        return f"tril({o})", 1, lambda T, a: T.tril(a, o)
    return "contiguous", 1, lambda T, a: a.contiguous()


def op_join(draw, nd):
    kind = draw(st.sampled_from(["cat", "stack"]))
    d = dim(draw, nd + (kind == "stack"))
    return f"{kind}(dim={d})", 2, lambda T, a, b: getattr(T, kind)([a, b], d)


def op_index(draw, nd):
    kind = draw(st.sampled_from(["int", "slice", "tensor", "mask", "float", "index_select", "gather", "none",
                                 "masked_fill", "take", "setitem", "tuple"]))
    if kind == "int":
        i = draw(st.integers(-5, 5))
        return f"t[{i}]", 1, lambda T, a: a[i]
    if kind == "slice":
        s = slice(draw(st.sampled_from([None, -7, -1, 0, 1, 5])), draw(st.sampled_from([None, -1, 0, 2, 9])),
                  draw(st.sampled_from([None, 1, 2, 3, 0, -1])))
        return f"t[{s}]", 1, lambda T, a: a[s]
    if kind == "tuple":
        k = tuple(draw(st.lists(st.sampled_from([0, -1, 1, slice(None), None, Ellipsis, slice(1, None)]),
                                max_size=nd + 2)))
        return f"t[{k}]", 1, lambda T, a: a[k]
    if kind == "none":
        return "t[None, ..., None]", 1, lambda T, a: a[None, ..., None]
    if kind == "float":
        return "t[1.0]", 1, lambda T, a: a[1.0]
    idx = np.array(draw(st.lists(st.integers(-5, 5), max_size=4)), np.int64)
    if kind == "tensor":
        return f"t[{idx.tolist()}]", 1, lambda T, a: a[T.tensor(idx, device=a.device)]
    if kind == "mask":
        return "t[t > 0]", 1, lambda T, a: a[a > 0]
    if kind == "take":
        return f"take({idx.tolist()})", 1, lambda T, a: T.take(a, T.tensor(idx, device=a.device))
    d = dim(draw, nd)
    if kind == "index_select":
        # wgtorch's index_select takes negative indices, as indexing does (torch refuses them):
        # torch is given them wrapped, so the values are still checked
        def wrapped(a):
            n = a.shape[d] if a.ndim and -a.ndim <= d < a.ndim else 1
            return np.where((idx < 0) & (idx >= -n), idx + n, idx)
        return f"index_select({d}, {idx.tolist()})", 1, \
            lambda T, a: T.index_select(a, d, T.tensor(idx if T is wgtorch else wrapped(a), device=a.device))
    if kind == "gather":
        return f"gather({d}, idx)", 1, lambda T, a: T.gather(a, d, T.tensor(
            np.resize(idx, a.shape) if idx.size else np.zeros(a.shape, np.int64), device=a.device))
    if kind == "masked_fill":
        v = draw(st.sampled_from([0.0, -1, float("nan"), True]))
        return f"masked_fill(t > 0, {v})", 1, lambda T, a: a.masked_fill(a > 0, v)
    # setitem on a clone, then the clone
    val = draw(st.sampled_from([0.0, 7, -2.5]))
    return f"t[{idx.tolist()}] = {val}", 1, lambda T, a: _setitem(T, a, idx, val)


def _setitem(T, a, idx, val):
    c = a.clone()
    c[T.tensor(idx, device=a.device)] = val
    return c


def op_matmul(draw, nd):
    kind = draw(st.sampled_from(["matmul", "matmul", "mm", "bmm", "dot", "mv", "@"]))
    if kind == "@":
        return "a @ b", 2, lambda T, a, b: a @ b
    return kind, 2, lambda T, a, b: getattr(T, kind)(a, b)


OPS = [op_unary, op_binary, op_binary, op_clamp, op_where, op_reduce, op_reduce, op_shape, op_shape, op_join,
       op_index, op_index, op_matmul]


# ---- running a call on torch and on wgtorch -----------------------------------------------------------
def _run(fn, device="cpu"):
    """(result, None) or (None, exception). wgpu reports an index out of range found by a
    kernel at the next sync point, as CUDA does: synchronise so that it belongs to this call."""
    try:
        r = fn()
        if device == "wgpu":
            wgtorch.wgpu.synchronize()
        return r, None
    except Exception as e:  # noqa: BLE001  (every exception is classified below)
        if device == "wgpu":
            try:  # a call that raised after recording kernels: their report is this call's too
                wgtorch.wgpu.synchronize()
            except RuntimeError:
                pass
        return None, e


def _kind(e):
    for k in DOCUMENTED:  # IndexError first: torch's "Dimension out of range" is an IndexError
        if isinstance(e, k):
            return k
    return None


def _flat(r):
    """A result as [(kind, numpy array, dtype name)] for comparison."""
    if isinstance(r, (tuple, list)):
        return [x for item in r for x in _flat(item)]
    if hasattr(r, "detach") and hasattr(r, "dtype"):
        a = r.detach().cpu().numpy()
        return [("tensor", a, str(r.dtype).split(".")[-1])]
    return [("value", np.asarray(r), type(r).__name__)]


def _same(expected, actual, what, device):
    exp, act = _flat(expected), _flat(actual)
    assert len(exp) == len(act), f"{what}: {len(act)} results, torch gives {len(exp)}"
    for (ke, e, de), (ka, a, da) in zip(exp, act):
        assert ke == ka and e.shape == a.shape, f"{what}: shape {a.shape} ({ka}), torch {e.shape} ({ke})"
        if ke == "tensor":
            assert de == da, f"{what}: dtype {da}, torch {de}"
        if e.dtype.kind == "f" and e.size:
            loose = device == "wgpu" or e.dtype == np.float32
            np.testing.assert_allclose(a.astype(np.float64), e.astype(np.float64), equal_nan=True,
                                       rtol=2e-4 if loose else 1e-7, atol=2e-5 if loose else 1e-12, err_msg=what)
        else:
            np.testing.assert_array_equal(a, e, err_msg=what)


def _check_error(e, what, torch_error=None):
    assert _kind(e) is not None, f"{what}: undocumented exception type {type(e).__module__}.{type(e).__name__}: {e}"
    mod = type(e).__module__
    assert not mod.startswith(("numpy", "wgpu")), f"{what}: internal exception {mod}.{type(e).__name__}: {e}"
    msg = str(e)
    assert msg.strip(), f"{what}: {type(e).__name__} with an empty message"
    low = msg.lower()
    bad = [p for p in FOREIGN if p.lower() in low]
    assert not bad, f"{what}: a NumPy/wgpu message leaked ({bad}): {type(e).__name__}: {msg}"
    if torch_error is not None:
        want = _kind(torch_error)
        assert isinstance(e, want), (f"{what}: raised {type(e).__name__}({msg!r}); torch raises "
                                     f"{type(torch_error).__name__}({str(torch_error)[:200]!r})")


def _wgpu_exempt(terr, torch_result):
    """Documented wgpu differences (DESIGN.md's policies): integer division by zero does not
    raise there, and int64 results outside the int32 range raise instead of wrapping."""
    if terr is not None and "ZeroDivisionError" in str(terr):
        return True
    for kind, a, _ in _flat(torch_result) if torch_result is not None else []:
        if a.dtype.kind in "iu" and a.size and (a.min() < -2 ** 31 or a.max() >= 2 ** 31):
            return True
    return False


def check_call(oracle, device, name, fn, arrays, views):
    """Run fn on torch and on wgtorch (cpu, and device) with the same inputs; compare."""
    what = f"{name} on {device} with {[(a.dtype.name, a.shape) for a in arrays]}"
    tt = [v(oracle, oracle.from_numpy(a.copy())) for a, v in zip(arrays, views)]
    expected, terr = _run(lambda: fn(oracle, *tt))
    wt = [v(wgtorch, wgtorch.from_numpy(a.copy()).to(device)) for a, v in zip(arrays, views)]
    actual, werr = _run(lambda: fn(wgtorch, *wt), device)
    COUNTS[(device, "cases")] += 1
    if device == "wgpu" and _wgpu_exempt(terr, expected):
        if werr is not None:
            _check_error(werr, what)
        COUNTS[(device, "wgpu-documented")] += 1
        return
    if terr is not None:
        COUNTS[(device, "errors")] += 1
        if werr is None and device == "wgpu" and _empty(actual) and \
                re.search(r"out of bounds|out of DATA bounds|should be positive", str(terr)):
            # wgpu checks indices in the kernel, per element produced: an empty result checks none
            COUNTS[(device, "wgpu-documented")] += 1
            return
        assert werr is not None, f"{what}: returned a value, torch raises {type(terr).__name__}: {terr}"
        if not isinstance(werr, _kind(terr) or Exception) and any(
                re.search(p, str(terr)) and re.search(q, str(werr)) for p, q in OTHER_FAULT_FIRST):
            COUNTS[(device, "other-fault-first")] += 1
            terr = None  # (the type check below is skipped; the message checks are not)
        _check_error(werr, what, terr)
        return
    if werr is not None:
        if any(re.search(n, name) and re.search(m, str(werr)) and (_empty(expected) or not empty)
               for n, m, empty, _ in REFUSED_QUIRKS):
            _check_error(werr, what)
            COUNTS[(device, "refused-quirk")] += 1
            return
        if isinstance(werr, NotImplementedError) or (device == "wgpu" and isinstance(werr, TypeError)
                                                     and "float64" in str(werr)):
            _check_error(werr, what)  # a documented refusal (a primitive missing on this device)
            COUNTS[(device, "not-implemented")] += 1
            return
        raise AssertionError(f"{what}: raised {type(werr).__name__}: {werr}; torch returns a result") from werr
    _same(expected, actual, what, device)
    # the inputs are untouched (no op in the table writes to its operands)
    for a, v, t in zip(arrays, views, wt):
        _same(v(oracle, oracle.from_numpy(a.copy())), t, what + " (input afterwards)", device)
    COUNTS[(device, "values")] += 1


def _empty(r):
    return all(a.size == 0 for k, a, _ in _flat(r) if k == "tensor")


def _dtypes(device):
    return ("float32", "float32", "int64", "bool", "int32") + (("float64",) if device == "cpu" else ())


@settings(max_examples=N_OPS, **FUZZ)
@given(data=st.data())
def test_fuzz_ops(oracle, device, data):
    shape = data.draw(shapes())
    op = data.draw(st.sampled_from(OPS))
    name, arity, fn = op(data.draw, len(shape))
    if op is op_matmul:  # matmul shapes: mostly compatible, sometimes not
        k = data.draw(st.integers(0, 3))
        sa = data.draw(st.sampled_from([(k,), (2, k), (3, 2, k), shape]))
        sb = data.draw(st.sampled_from([(k,), (k, 2), (3, k, 2), (1, k, 3), data.draw(shapes(3))]))
        shp = [sa, sb]
    elif op is op_join:
        shp = [shape, data.draw(st.sampled_from([shape, broadcastable(data.draw, shape)]))]
    else:
        shp = [shape] + [broadcastable(data.draw, shape) for _ in range(arity - 1)]
    dts = _dtypes(device)
    ops = [data.draw(operands(s, dts if not (op is op_where and i == 0) else ("bool", "bool", "float32")))
           for i, s in enumerate(shp)]
    if op is op_join and data.draw(st.booleans()):  # mostly one dtype for cat / stack
        b, dt = ops[1][0], ops[0][0].dtype
        if dt.kind in "iub" and b.dtype.kind == "f":  # (NaN, inf and 1e18 have no integer value)
            b = np.clip(np.nan_to_num(b), -4, 4)
        ops[1] = (np.asarray(b).astype(dt), ops[1][1], ops[1][2])
    if "prod" in name:  # keep integer products inside int32 (wgpu's documented int64 range)
        ops = [(np.asarray(np.clip(a, -1, 1)) if a.dtype.kind in "iu" else a, v, lay) for a, v, lay in ops]
    if name in ("sin", "cos") and device == "wgpu":
        # WGSL promises trig accuracy only near [-pi, pi]: lavapipe's range reduction loses huge
        # arguments (sin(1e18) is -1 there); a documented GPU limitation, not checked here
        ops = [(np.where(np.abs(a) > 1e4, np.float32(0.5), a).astype(a.dtype) if a.dtype.kind == "f" else a, v, lay)
               for a, v, lay in ops]
    check_call(oracle, device, name + " " + "/".join(o[2] for o in ops), fn, [o[0] for o in ops],
               [o[1] for o in ops])


# ---- wrong argument types ------------------------------------------------------------------------
WRONG = [
    ("sum(dim='a')", lambda T, a: a.sum(dim="a")),
    ("sum(dim=1.5)", lambda T, a: a.sum(1.5)),
    ("reshape('x')", lambda T, a: a.reshape("x")),
    ("reshape(2.0)", lambda T, a: a.reshape(2.0, -1)),
    ("add(list)", lambda T, a: T.add(a, [1, 2])),
    ("add(None)", lambda T, a: T.add(a, None)),
    ("add(str)", lambda T, a: a + "s"),
    ("t[float tensor]", lambda T, a: a[T.tensor([0.0, 1.0], device=a.device)]),
    ("t['k']", lambda T, a: a["k"]),
    ("index_select(float idx)", lambda T, a: T.index_select(a, 0, T.tensor([0.0], device=a.device))),
    ("gather(float idx)", lambda T, a: T.gather(a, 0, T.zeros(a.shape, device=a.device))),
    ("exp(int)", lambda T, a: T.exp(a.to(T.int64))),
    ("softmax(int)", lambda T, a: T.softmax(a.to(T.int64), 0)),
    ("mean(int)", lambda T, a: a.to(T.int64).mean()),
    ("std(int)", lambda T, a: a.to(T.int64).std()),
    ("bool - bool", lambda T, a: (a > 0) - (a > 1)),
    ("-bool", lambda T, a: -(a > 0)),
    ("bitwise_and(float)", lambda T, a: T.bitwise_and(a, a)),
    ("~float", lambda T, a: ~a),
    ("matmul(int, float)", lambda T, a: T.matmul(a.to(T.int64), a)),
    ("int.add_(float)", lambda T, a: a.to(T.int64).add_(1.5)),
    ("bool.mul_(2)", lambda T, a: (a > 0).mul_(2)),
    ("zeros(-1)", lambda T, a: T.zeros(-1, device=a.device)),
    ("zeros(2.5)", lambda T, a: T.zeros(2.5, device=a.device)),
    ("ones('a')", lambda T, a: T.ones("a", device=a.device)),
    ("arange(0, 5, 0)", lambda T, a: T.arange(0, 5, 0, device=a.device)),
    ("full(bad dtype)", lambda T, a: T.full((2,), 1.0, dtype="float32", device=a.device)),
    ("tensor(ragged)", lambda T, a: T.tensor([[1, 2], [3]], device=a.device)),
    ("tensor(str)", lambda T, a: T.tensor("abc", device=a.device)),
    ("item of many", lambda T, a: a.item()),
    ("bool of many", lambda T, a: bool(a)),
    ("view(wrong numel)", lambda T, a: a.view(a.numel() + 1)),
    ("permute(dup)", lambda T, a: a.permute(0, 0)),
    ("cat(empty list)", lambda T, a: T.cat([], 0)),
    ("cat(mixed rank)", lambda T, a: T.cat([a, a[0]], 0)),
    ("stack(different shapes)", lambda T, a: T.stack([a, a[:1]])),
    ("unbind(dim 5)", lambda T, a: a.unbind(5)),
    ("split(0)", lambda T, a: a.split(0)),
    ("chunk(0)", lambda T, a: a.chunk(0)),
    ("topk(k too big)", lambda T, a: a.topk(10)),
    ("one_hot(neg)", lambda T, a: T.nn.functional.one_hot(T.tensor([-1, 2], device=a.device))),
    ("cross_entropy(float target)", lambda T, a: T.nn.functional.cross_entropy(a, T.zeros(3, device=a.device))),
    ("cross_entropy(target oob)", lambda T, a: T.nn.functional.cross_entropy(
        a, T.tensor([0, 1, 9], device=a.device)).item()),
    ("linear(shape mismatch)", lambda T, a: T.nn.functional.linear(a, T.ones(2, 5, device=a.device))),
    ("embedding(float idx)", lambda T, a: T.nn.functional.embedding(a, T.ones(3, 2, device=a.device))),
    ("embedding(idx oob)", lambda T, a: T.nn.functional.embedding(T.tensor([5], device=a.device),
                                                                  T.ones(3, 2, device=a.device)).sum().item()),
    ("conv2d(bad rank)", lambda T, a: T.nn.functional.conv2d(a, T.ones(1, 1, 1, 1, device=a.device))),
    ("requires_grad int", lambda T, a: a.to(T.int64).requires_grad_()),
    ("backward non-scalar", lambda T, a: a.clone().requires_grad_().mul(2).backward()),
    ("backward no grad", lambda T, a: a.sum().backward()),
    ("grad of non-leaf twice", lambda T, a: _twice(T, a)),
    ("to(bad device)", lambda T, a: a.to("nodevice")),
    ("device('cuda:x')", lambda T, a: T.device("cuda:x")),
    ("expand smaller", lambda T, a: a.expand(2)),
    ("index_put oob", lambda T, a: a.clone().index_put_((T.tensor([7], device=a.device),), T.tensor(1.0,
                                                       device=a.device)).sum().item()),
    ("t[oob] on device", lambda T, a: a[T.tensor([0, 9], device=a.device)].sum().item()),
    ("gather oob", lambda T, a: T.gather(a, 1, T.full((3, 1), 9, dtype=T.int64, device=a.device)).sum().item()),
    ("scatter_add oob", lambda T, a: T.zeros(3, 4, device=a.device).scatter_add(
        1, T.full((3, 4), 5, dtype=T.int64, device=a.device), a).sum().item()),
    ("masked_fill(non-bool mask)", lambda T, a: a.masked_fill(a, 0.0)),
    ("where(non-bool cond)", lambda T, a: T.where(a, a, a)),
    ("clamp(min > max)", lambda T, a: T.clamp(a, 2.0, -2.0)),
    ("mse_loss(size mismatch, int)", lambda T, a: T.nn.functional.mse_loss(a, T.zeros(4, 4, dtype=T.int64,
                                                                                        device=a.device))),
]


def _twice(T, a):
    x = a.clone().requires_grad_()
    y = (x * x).sum()
    y.backward()
    y.backward()


@settings(max_examples=N_OTHER, **FUZZ)
@given(data=st.data())
def test_fuzz_wrong_arguments(oracle, device, data):
    name, fn = data.draw(st.sampled_from(WRONG))
    # finite values: casts of NaN / inf to integers are undefined (and differ between devices)
    a, view, lay = data.draw(operands((3, 4), ("float32",), special=False))
    check_call(oracle, device, name + " " + lay, fn, [a], [view])


# ---- in-place ops on leaves, views and saved tensors ----------------------------------------------------
INPLACE = ["add_", "mul_", "sub_", "div_", "clamp_", "relu_", "zero_", "fill_", "copy_", "exp_", "neg_",
           "masked_fill_", "index_add_", "abs_", "sigmoid_", "tanh_", "pow_"]


def _inplace(name, t, T):
    args = {"add_": (1.5,), "mul_": (2,), "sub_": (0.5,), "div_": (4,), "clamp_": (-1, 1), "fill_": (3.0,),
            "copy_": (T.ones(t.shape[-1:], device=t.device),), "pow_": (2,),
            "masked_fill_": (t.detach() > 0, 0.0),
            "index_add_": (0, T.tensor([0], device=t.device), T.ones((1,) + tuple(t.shape[1:]), device=t.device))}
    return getattr(t, name)(*args.get(name, ()))


SCENES = ["leaf", "view of leaf", "leaf no grad", "non-leaf", "view of non-leaf", "saved for backward",
          "expanded", "int leaf", "inference", "detached"]


def _scene(T, name, where, base, device):
    """Build the scene, apply the in-place op, and return the observable results."""
    x = T.tensor(base, device=device)
    if where == "int leaf":
        x = x.to(T.int64)
        r = _inplace(name, x, T)
        return [x, r]
    if where == "leaf no grad":
        _inplace(name, x, T)
        return [x]
    if where == "expanded":
        e = x[:1].expand(*x.shape)
        _inplace(name, e, T)
        return [e, x]
    if where == "inference":
        with T.inference_mode():
            y = x * 2
        _inplace(name, y, T)
        return [y]
    if where == "detached":
        w = x.clone().requires_grad_()
        d = w.detach()
        _inplace(name, d, T)
        return [d, w]  # the detached view shares w's memory
    w = x.clone().requires_grad_()
    if where == "leaf":
        _inplace(name, w, T)
        return [w]
    if where == "view of leaf":
        _inplace(name, w[0], T)
        return [w]
    h = w * 1.5  # a non-leaf
    if where == "non-leaf":
        _inplace(name, h, T)
        target = h
    elif where == "view of non-leaf":
        _inplace(name, h[:, :2], T)
        target = h
    else:  # saved for backward: sigmoid saves its output, exp too; mul saves its inputs
        s = h.sigmoid()
        _inplace(name, s, T)
        target = s
    (target * T.arange(target.numel(), dtype=target.dtype, device=device).reshape(target.shape)).sum().backward()
    return [target, w.grad]


@settings(max_examples=N_OTHER, **FUZZ)
@given(data=st.data())
def test_fuzz_inplace(oracle, device, data):
    name = data.draw(st.sampled_from(INPLACE))
    where = data.draw(st.sampled_from(SCENES))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1)))
    check_scene(oracle, device, name, where, (rng.standard_normal((3, 4)) * 2).astype(np.float32))


def check_scene(oracle, device, name, where, base):
    what = f"{name} on {where} ({device})"
    expected, terr = _run(lambda: _scene(oracle, name, where, base, "cpu"))
    actual, werr = _run(lambda: _scene(wgtorch, name, where, base, device), device)
    COUNTS[(device, "cases")] += 1
    if terr is not None:
        COUNTS[(device, "errors")] += 1
        assert werr is not None, f"{what}: returned, torch raises {type(terr).__name__}: {terr}"
        _check_error(werr, what, terr)
        return
    if werr is not None:
        if where == "expanded" and name in ("fill_", "zero_", "masked_fill_") and "single memory location" in str(werr):
            # torch writes one value through overlapping memory; wgtorch refuses every in-place write
            # to an expanded tensor alike (clear RuntimeError)
            _check_error(werr, what)
            COUNTS[(device, "refused-quirk")] += 1
            return
        raise AssertionError(f"{what}: raised {type(werr).__name__}: {werr}; torch returns") from werr
    _same(expected, actual, what, device)
    COUNTS[(device, "values")] += 1


# ---- mixed devices ------------------------------------------------------------------------------
@settings(max_examples=N_OTHER, **FUZZ)
@given(data=st.data())
def test_fuzz_mixed_devices(oracle, data):
    if not wgtorch.wgpu.is_available():
        pytest.skip("no wgpu device")
    name, arity, fn = data.draw(st.sampled_from([op_binary, op_where, op_matmul, op_join]))(data.draw, 2)
    if arity == 1:
        return  # a scalar operand: nothing to mix
    shape = data.draw(st.sampled_from([(2, 3), (3,), (3, 3)]))
    zero_d = data.draw(st.integers(0, arity - 1)) if data.draw(st.booleans()) else None
    arrays = [np.ones(() if i == zero_d else shape, bool if (name == "where" and i == 0) else np.float32)
              for i in range(arity)]
    devices = data.draw(st.lists(st.sampled_from(["cpu", "wgpu"]), min_size=arity, max_size=arity))
    if len(set(devices)) == 1:
        devices[0] = "cpu" if devices[0] == "wgpu" else "wgpu"
    wt = [wgtorch.from_numpy(a).to(d) for a, d in zip(arrays, devices)]
    COUNTS[("mixed", "cases")] += 1
    actual, werr = _run(lambda: fn(wgtorch, *wt))
    tt = [oracle.from_numpy(a) for a in arrays]
    expected, terr = _run(lambda: fn(oracle, *tt))
    if terr is not None:  # torch refuses it on one device already
        assert werr is not None
        _check_error(werr, name)
        return
    if all(wgtorch.from_numpy(a).ndim for a in arrays) or werr is not None:
        # tensors on two devices (0-d cpu tensors included: a documented difference from CUDA, which
        # takes them as scalars) raise PyTorch's error naming both devices
        assert isinstance(werr, RuntimeError), f"{name} on {devices}: {actual if werr is None else werr!r}"
        assert "same device" in str(werr) and "cpu" in str(werr) and "wgpu" in str(werr), str(werr)
        _check_error(werr, name)
    else:
        _same(expected, actual, f"{name} on {devices}", "wgpu")


# ---- regressions: one call per bug the fuzzing found (fixed in the library) -------------------------
F32, I64 = np.float32, np.int64
REGRESSIONS = [
    ("sum(0) of a 0-d tensor", lambda T, a: a.sum(0), [np.array(3.0, F32)]),
    ("amax(-1, keepdim) of a 0-d tensor", lambda T, a: a.amax(-1, keepdim=True), [np.array(3.0, F32)]),
    ("std(0) of a 0-d tensor", lambda T, a: a.std(0), [np.array(3.0, F32)]),
    ("logsumexp(0) of a 0-d int", lambda T, a: T.logsumexp(a, 0), [np.array(3, I64)]),
    ("amax() of an empty tensor", lambda T, a: a.amax(), [np.ones((0, 2), F32)]),
    ("argmin(0) of a (2, 0) tensor", lambda T, a: a.argmin(0), [np.ones((2, 0), F32)]),
    ("argmin(1) of a (2, 0) tensor", lambda T, a: a.argmin(1), [np.ones((2, 0), F32)]),
    ("argmax of bool", lambda T, a: (a > 0).argmax(), [np.ones(3, F32)]),
    ("bitwise_or of floats", lambda T, a: T.bitwise_or(a, a), [np.ones(3, F32)]),
    ("softmax(0) of int", lambda T, a: T.softmax(a, 0), [np.ones((2, 2), I64)]),
    ("softmax(5) of int", lambda T, a: T.softmax(a, 5), [np.ones(2, I64)]),
    ("floor of bool", lambda T, a: T.floor(a > 0), [np.ones(3, F32)]),
    ("relu of bool", lambda T, a: T.relu(a > 0), [np.ones(3, F32)]),
    ("fmod of bools", lambda T, a: T.fmod(a > 0, a > 0), [np.ones(3, F32)]),
    ("pow of bools", lambda T, a: T.pow(a > 0, a > 0), [np.ones(3, F32)]),
    ("float - bool", lambda T, a: a - (a > 0), [np.ones(3, F32)]),
    ("1.0 - bool", lambda T, a: 1.0 - (a > 0), [np.ones(3, F32)]),
    ("diagonal of a 0-d tensor", lambda T, a: a.diagonal(), [np.array(1.0, F32)]),
    ("diagonal(0, 0, 0)", lambda T, a: a.diagonal(0, 0, 0), [np.ones((2, 2), F32)]),
    ("chunk of a 0-d tensor", lambda T, a: a.chunk(1), [np.array(1.0, F32)]),
    ("split of a 0-d tensor", lambda T, a: a.split(1), [np.array(1.0, F32)]),
    ("unbind of a 0-d tensor", lambda T, a: a.unbind(), [np.array(1.0, F32)]),
    ("narrow of a 0-d tensor", lambda T, a: a.narrow(0, 0, 1), [np.array(1.0, F32)]),
    ("narrow(0, 5, 1)", lambda T, a: a.narrow(0, 5, 1), [np.ones(3, F32)]),
    ("narrow(0, 1, -1)", lambda T, a: a.narrow(0, 1, -1), [np.ones(3, F32)]),
    ("narrow(0, -2, 1)", lambda T, a: a.narrow(0, -2, 1), [np.arange(3, dtype=F32)]),
    ("flatten(7, 0) of a 0-d tensor", lambda T, a: a.flatten(7, 0), [np.array(1.0, F32)]),
    ("expand()", lambda T, a: a.expand(), [np.ones(3, F32)]),
    ("cat with a 0-d tensor, dim 5", lambda T, a, b: T.cat([a, b], 5), [np.ones(2, F32), np.array(1.0, F32)]),
    ("cat of empty bool and float", lambda T, a, b: T.cat([a, b]), [np.ones(0, bool), np.ones(0, F32)]),
    ("stack(dim=5) of unequal shapes", lambda T, a, b: T.stack([a, b], 5), [np.ones(2, F32), np.ones(3, F32)]),
    ("sign of a 0-d tensor", lambda T, a: T.sign(a), [np.array(np.nan, F32)]),
    ("softmax of a 0-d tensor", lambda T, a: T.softmax(a, 0), [np.array(2.0, F32)]),
    ("log_softmax of an empty tensor", lambda T, a: T.log_softmax(a, -1), [np.ones(0, F32)]),
    ("int ** negative int tensor", lambda T, a, b: a ** b, [np.array([0, 1, -1, 2, -1], I64),
                                                             np.array([-1, -1, -3, -2, -2], I64)]),
    ("int ** -1", lambda T, a: a ** -1, [np.array([1, 2], I64)]),
    ("masked_fill(int, nan)", lambda T, a: a.masked_fill(a > 0, float("nan")), [np.ones(3, I64)]),
    ("floor_divide by zero, empty result", lambda T, a, b: T.floor_divide(a, b), [np.ones((2, 0, 1), I64),
                                                                                  np.zeros((2, 1, 1), I64)]),
    ("movedim of a 0-d tensor", lambda T, a: T.movedim(a, 0, -1), [np.array(2, I64)]),
    ("a 0-d bool mask", lambda T, a, m: a[m], [np.ones(2, F32), np.array(True)]),
    ("a false 0-d bool mask", lambda T, a, m: a[m], [np.array(1.0, F32), np.array(False)]),
    ("norm(-1) of an empty tensor", lambda T, a: T.norm(a, -1), [np.ones((0, 2), F32)]),
    ("clamp(nan, 1)", lambda T, a: T.clamp(a, float("nan"), 1.0), [np.array([0.5, 3.0], F32)]),
    ("nan ** 2", lambda T, a: a ** 2, [np.array([np.nan, 3.0], F32)]),
    ("-0.0 ** negative", lambda T, a, b: a ** b, [np.array([-0.0, 0.0, -0.0], F32), np.array([-3, -4.3, -2], F32)]),
    ("(-1) ** inf", lambda T, a: a ** float("inf"), [np.array([-1.0, 1.0, 0.5], F32)]),
    ("remainder of 1e18", lambda T, a, b: T.remainder(a, b), [np.array([1e18, -1e18, 7.5], F32),
                                                              np.array([0.377, 0.377, -2.0], F32)]),
    ("fmod by inf", lambda T, a, b: T.fmod(a, b), [np.array([-1.0, 2.0, np.inf], F32), np.array([np.inf, -np.inf, 2.0],
                                                                                               F32)]),
    ("floor_divide with infinities", lambda T, a, b: T.floor_divide(a, b), [np.array([-np.inf, -1.0, 3.0], F32),
                                                                            np.array([2.0, np.inf, -np.inf], F32)]),
    ("~float", lambda T, a: ~a, [np.ones(3, F32)]),
    ("bitwise_not(float)", lambda T, a: T.bitwise_not(a), [np.ones(3, F32)]),
    ("index_add_ of float into int", lambda T, a: a.index_add_(0, T.tensor([0], device=a.device),
                                                               T.ones(1, device=a.device)), [np.ones(3, I64)]),
    ("mv of a 0-d tensor and an int vector", lambda T, a, b: T.mv(a, b), [np.array(1.0, F32), np.ones(0, I64)]),
    ("a 12-dim repeat", lambda T, a: a.repeat(2, 1, 1, 1, 1, 2), [np.ones((2, 1, 1, 1, 1, 3), F32)]),
]


@pytest.mark.parametrize("case", REGRESSIONS, ids=[c[0] for c in REGRESSIONS])
def test_fixed_bugs(oracle, device, case):
    name, fn, arrays = case
    check_call(oracle, device, name, fn, arrays, [lambda T, t: t] * len(arrays))


@pytest.mark.parametrize("op", ["fill_", "zero_", "copy_"])
@pytest.mark.parametrize("where", ["saved for backward", "non-leaf"])
def test_overwrites_keep_autograd_history(oracle, device, op, where):
    """fill_ / zero_ / copy_ under autograd: the old value keeps a zero gradient and an
    overwritten saved value is caught by the version check (it was silently ignored)."""
    check_scene(oracle, device, op, where, np.arange(12, dtype=np.float32).reshape(3, 4))
