"""wgpu elementwise primitives: one specialised kernel per op, dtype and layout."""
import functools
import math
import re

import numpy as np

from .allocator import bucket
from .array import STORAGE, Storage, WgpuArray, contiguous_strides
from .base import _Dt
from .fusion import kernel_id
from .kernels import (BINARY, BOOL_RESULT, PRED, UNARY, WGSL_T, decl, elementwise_source, expr_for, kind, out_type,
                      scalar_bits)


@functools.lru_cache(maxsize=None)
def _rename(expr, is_handle):
    """expr with its operands a, b, c renamed to the kernel's inputs v0.. and scalars s0.."""
    names, nv, ns = {}, 0, 0
    for letter, h in zip("abc", is_handle):
        if h:
            names[letter], nv = f"v{nv}", nv + 1
        else:
            names[letter], ns = f"s{ns}", ns + 1
    return re.sub(r"\b[abc]\b", lambda m: names[m.group(0)], expr)



_MAX_PLANS = 4096
_new = object.__new__


def op_words(plan, sbits, offsets):
    """The parameter words of one elementwise dispatch (shaders/elementwise.wgsl's Params)."""
    return [plan[2], plan[4], 0, 0] + sbits + [0] * (4 - len(sbits)) + [o & 0xFFFFFFFF for o in offsets] + \
        [0] * (4 - len(offsets)) + plan[5]


class ElementwiseOps:
    def _ew(self, expr, args, result_k, out_dtype, memo=None):
        """One elementwise dispatch. args: (value, kind) pairs, a value being a
        handle (broadcast to the output's shape) or a Python scalar; expr names
        them a, b, c in order. memo: (table, key) a caller finds the plan under next time."""
        # everything but buffers, offsets and scalar values depends only on this
        # signature: it is worked out once (the per-op hot path)
        sig = (expr, result_k, out_dtype) + tuple([(v.shape, v.strides, v.dtype, k) if v.__class__ is WgpuArray
                                                   else k for v, k in args])
        plan = self._ew_plans.get(sig)
        if plan is None:
            if len(self._ew_plans) >= _MAX_PLANS:
                self._ew_plans.clear()
            plan = self._ew_plans[sig] = self._ew_plan(expr, args, result_k, out_dtype)
        if memo is not None:
            if len(memo[0]) >= _MAX_PLANS:
                memo[0].clear()
            memo[0][memo[1]] = plan
        handles, sbits = [], []
        for v, k in args:
            if v.__class__ is WgpuArray:
                handles.append(v)
            else:
                sbits.append(scalar_bits(v, k))
        return self._launch(plan, handles, sbits)

    def _launch(self, plan, handles, sbits):
        """Dispatch a planned elementwise op on these inputs and scalar words: held back for
        fusion, or at once (chunked past the binding limit; alone while the profiler times ops)."""
        alloc = self.alloc
        buf = alloc.take(plan[8])
        # (the two objects built field by field: a constructor call costs more on this path)
        st = _new(Storage)
        st.buffer, st.allocator, st.uid, st.nbytes = buf, alloc, buf.uid, plan[8]
        out = _new(WgpuArray)
        out.storage, out.shape, out.strides, out.offset, out.dtype = st, plan[0], plan[1], 0, plan[9]
        limit = self.max_binding
        if plan[8] <= limit and self.queue.timestamps is None and self.fusion.add(plan, handles, sbits, st):
            return out
        shape, _, n, key, nd, tail, strided, layouts = plan[:8]
        buffers = [st.buffer] + [h.storage.buffer for h in handles]
        if strided or st.nbytes <= limit and all(h.storage.nbytes <= limit for h in handles):
            # one dispatch (the N-d walk binds whole buffers: a clear error past the binding limit)
            chunks = ((0, n, None, [0] + [h.offset for h in handles]),)
        else:
            chunks = self._chunks(n, [(st.buffer, 0, "c")] +
                                  [(h.storage.buffer, h.offset, lay) for h, lay in zip(handles, layouts)])
        for _, cnt, windows, offs in chunks:
            words = op_words(plan, sbits, offs[1:])
            words[0], words[3] = cnt, offs[0]
            self._run(key, buffers, words, cnt, row_word=2, windows=windows)
        return out

    def _ew_plan(self, expr, args, result_k, out_dtype):
        """The plan of an elementwise signature: (shape, strides, size, pipeline key, ndim,
        shape/stride words, strided?, layouts, output bucket bytes, output dtype, output
        storage type, the last argument's kind, the kernel's id, per input (layout, storage
        type, stride words)); compiles the kernel on first use."""
        handles = [v for v, _ in args if isinstance(v, WgpuArray)]
        try:
            shape = handles[0].shape
            if any(h.shape != shape for h in handles):
                shape = np.broadcast_shapes(*(h.shape for h in handles))
        except ValueError:
            raise RuntimeError("shapes " + ", ".join(str(list(h.shape)) for h in handles) +
                               " cannot be broadcast together") from None
        if len(shape) > 8:
            raise NotImplementedError("wgpu elementwise ops support at most 8 dimensions; move the tensor to the cpu "
                                      "for this operation")
        scal, ins = [], []
        for v, k in args:
            if isinstance(v, WgpuArray):
                ins.append((self.view_expand(v, shape) if v.shape != shape else v, k))
            else:
                scal.append((v, k))
        body = _rename(expr, tuple(isinstance(v, WgpuArray) for v, _ in args))
        in_types = tuple(WGSL_T[STORAGE[h.dtype]] for h, _ in ins)
        out_t = out_type(np.dtype(out_dtype))
        cstrides = contiguous_strides(shape)
        layouts = tuple("c" if h.strides == cstrides else "s" if not any(h.strides) else "n" for h, _ in ins)
        key = ("ew", body, in_types, tuple(k for _, k in ins), tuple(k for _, k in scal), result_k, out_t, layouts)
        if key not in self.pipelines:
            self._pipeline(key, 1 + len(ins), elementwise_source(
                in_types, [k for _, k in ins], [k for _, k in scal], body, result_k, out_t, layouts))
        nd = len(shape)
        pad = [0] * (8 - nd)
        tail = list(shape) + pad
        for j in range(3):
            st = ins[j][0].strides if j < len(ins) else (0,) * nd
            tail += [s & 0xFFFFFFFF for s in st] + pad
        n = math.prod(shape)
        # per input, what fusion.py reads: layout, storage type and (N-d walk) the stride words
        fuse_ins = tuple((lay, t, tuple(tail[8 + 8 * j:8 + 8 * j + nd]) if lay == "n" else ())
                         for j, (lay, t) in enumerate(zip(layouts, in_types)))
        return shape, cstrides, n, key, nd, tail, "n" in layouts, layouts, bucket(4 * n), np.dtype(out_dtype), \
            decl(out_t), args[-1][1], kernel_id(key), fuse_ins

    def unary(self, op, x, dt):
        memo = (op, dt.np, x.shape, x.strides, x.dtype)
        plan = self._un_plans.get(memo)
        if plan is not None:
            return self._launch(plan, [x], [])
        k = kind(dt.np)
        return self._ew(expr_for(UNARY, op, k), [(x, k)], k, dt.np, memo=(self._un_plans, memo))

    def unary_pred(self, op, x):
        k = kind(x.dtype)
        return self._ew(expr_for(PRED, op, k), [(x, k)], "b", np.bool_)

    def binary(self, op, x, y, dt):
        # the plan by op, dtype and input layouts, before any other work (the per-op hot path)
        if y.__class__ is WgpuArray:
            memo = (op, dt.np, x.shape, x.strides, x.dtype, y.shape, y.strides, y.dtype)
            plan = self._op_plans.get(memo)
            if plan is not None:
                return self._launch(plan, [x, y], [])
        else:
            memo = (op, dt.np, x.shape, x.strides, x.dtype)
            plan = self._op_plans.get(memo)
            if plan is not None and plan[11] == "f":  # (integer scalars wrap into the dtype first: below)
                return self._launch(plan, [x], [scalar_bits(y, "f")])
        k = kind(dt.np)
        if k == "i" and not isinstance(y, WgpuArray):
            if op == "pow" and y < 0:
                raise RuntimeError("Integers to negative integer powers are not allowed.")
            y = int(np.array(y).astype(dt.np))  # a Python int wraps into a small integer dtype, as in PyTorch
        boolean = op in BOOL_RESULT
        return self._ew(expr_for(BINARY, op, k), [(x, k), (y, k)], "b" if boolean else k,
                        np.bool_ if boolean else dt.np, memo=(self._op_plans, memo))

    def gelu_grad(self, g, x, y, dt):
        """GELU's backward from g and x (erf is cheap on a GPU: y is not needed)."""
        return self.binary("gelu_grad", g, x, dt)

    def binary_(self, op, x, y):
        self.copy_(x, self.binary(op, x, y, _Dt(x.dtype)))

    def where(self, cond, x, y, dt):
        k = kind(dt.np)
        return self._ew("select(c, b, a)", [(cond, "b"), (x, k), (y, k)], k, dt.np)

    def clamp(self, x, lo, hi, dt):
        k = kind(dt.np)
        args, e = [(x, k)], "a"
        for bound, cmp in ((lo, "<"), (hi, ">")):
            if bound is not None:  # (x kept on a tie, as PyTorch: clamp(-0, 0) is -0)
                args.append((bound, k))
                v = "bc"[len(args) - 2]
                e = f"select({e}, {v}, {e} {cmp} {v})"
        if k == "f":  # NaN in the input or in a bound gives NaN, as PyTorch (a comparison with NaN is false)
            e = f"select({e}, nan(), {' || '.join(f'is_nan({v})' for v in 'abc'[:len(args)])})"
        return self._ew(e, args, k, dt.np)

    def cast(self, h, dt):
        k = kind(self._logical(dt))
        return self._ew("a", [(h, k)], k, dt.np)

