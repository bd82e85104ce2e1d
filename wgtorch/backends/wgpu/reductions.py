"""wgpu reductions, arg-reductions, scans and fused softmax over contiguous rows."""
import math

import numpy as np

from .array import STORAGE, WgpuArray
from .base import _LOOP_MAX, _ROW_MAX, _Dt
from .kernels import (REDUCE, WGSL_T, argreduce_source, kind, out_type, reduce_source, scalar_bits, scan_source,
                      softmax_source)


class ReductionOps:
    def _rows(self, h, dims):
        """h with the dims in `dims` moved last, as a contiguous [rows, n] layout:
        returns (handle, rows, n, kept shape)."""
        keep = [d for d in range(h.ndim) if d not in dims]
        v = self.view_permute(h, keep + list(dims))
        if not self.is_contiguous(v):
            v = self.contiguous(v)
        kept = tuple(h.shape[d] for d in keep)
        rows = 1
        for s in kept:
            rows *= s
        return v, rows, (v.size // rows if rows else 0), kept

    def _row_dispatch(self, key, source, buffers, words, rows, writable=(0,), windows=None):
        """One workgroup per row (a 2-D grid past 65,535 rows)."""
        if rows == 0:
            return
        gx, gy = (rows, 1) if rows <= 65535 else (65535, -(-rows // 65535))
        words = list(words)
        words[3] = gx
        off, size = self._params(words)
        pipe, bgl = self._pipeline(key, len(buffers), source, writable)
        self.queue.dispatch(pipe, self._bind_group(key, bgl, buffers, size, windows), (gx, gy, 1), (off,))

    def reduce(self, op, x, dims, keepdim, dt):
        k = kind(dt.np)
        if op not in REDUCE or k not in REDUCE[op]:
            raise NotImplementedError(f"'{op}' over {dt} is not implemented on the wgpu device yet")
        strided = self._middle(x, dims)
        if strided:
            return self._reduce_strided(op, k, x, dims, keepdim, dt, *strided)
        v, rows, n, kept = self._rows(x, tuple(dims))
        if rows == 1 and (n > _ROW_MAX or v.storage.buffer.size > self.max_binding):
            return self._reduce_in_chunks(op, v, n, x, dims, keepdim, dt)
        if n > _ROW_MAX:
            raise RuntimeError(f"wgpu: reducing {rows} rows of {n} elements is not supported yet (rows longer "
                               f"than {_ROW_MAX} elements are reduced only when there is one row)")
        out = self._new(kept, dt.np)
        self._reduce_rows(op, k, out, v.storage.buffer, v.offset, v.dtype, rows, n)
        if n == 0 and rows:  # an empty reduction is its identity (NaN for mean)
            out = self.full(kept, {"sum": 0, "prod": 1, "all": True, "any": False, "mean": np.nan}[op], dt)
        if keepdim:
            out = self.view_reshape(out, tuple(1 if d in dims else s for d, s in enumerate(x.shape)))
        return out

    def _middle(self, x, dims):
        """(outer, n, inner) when dims are consecutive dims of a contiguous x, not the last, or
        short: the strided kernel reduces them in place, a thread per output. None otherwise.
        Short reductions (n <= 32) always take it: a workgroup tree's barriers cost far more than
        32 adds (a 16-element sum runs 3x faster so on lavapipe), whatever the number of outputs."""
        dims = sorted(dims)
        if not dims or dims != list(range(dims[0], dims[-1] + 1)) or not self.is_contiguous(x) or \
                x.storage.buffer.size > self.max_binding:
            return None
        shape = x.shape
        outer, n, inner = math.prod(shape[:dims[0]]), math.prod(shape[dims[0]:dims[-1] + 1]), \
            math.prod(shape[dims[-1] + 1:])
        if n == 0 or n > _LOOP_MAX or n > 32 and (outer * inner < 256 or inner == 1):
            return None
        return outer, n, inner

    def _reduce_strided(self, op, k, x, dims, keepdim, dt, outer, n, inner):
        kept = tuple(s for d, s in enumerate(x.shape) if d not in dims)
        out = self._new(kept, dt.np)
        in_t, out_t = WGSL_T[STORAGE[x.dtype]], out_type(out.dtype)
        key = ("reduce_strided", op, in_t, k, out_t)
        source = None if key in self.pipelines else reduce_source(op, in_t, k, out_t, strided=True)
        scale = scalar_bits(1.0 / n, "f")
        buffers, writable = [out.storage.buffer, x.storage.buffer], (0,)
        if op in ("sum", "prod") and k == "i":  # checked integer folds: report through the error flag
            buffers, writable = buffers + [self.errors], (0, 2)
            self.unchecked = True
        self._run(key, buffers, [outer * inner, n, x.offset, 0, scale, inner, 0, 0], outer * inner, source=source,
                  row_word=3, writable=writable)
        if keepdim:
            out = self.view_reshape(out, tuple(1 if d in dims else s for d, s in enumerate(x.shape)))
        return out

    def _reduce_rows(self, op, k, out, buf, offset, in_dtype, rows, n, window=None):
        """out[r] = op over elements [offset + r n, offset + (r + 1) n) of buf."""
        in_t, out_t = WGSL_T[STORAGE[in_dtype]], out_type(out.dtype)
        key = ("reduce", op, in_t, k, out_t)
        source = None if key in self.pipelines else reduce_source(op, in_t, k, out_t)
        scale = scalar_bits(1.0 / n if n else math.nan, "f")
        buffers, writable, windows = [out.storage.buffer, buf], (0,), [None, window]
        if op in ("sum", "prod") and k == "i":  # checked integer folds: report through the error flag
            buffers, writable, windows = buffers + [self.errors], (0, 2), windows + [None]
            self.unchecked = True
        self._row_dispatch(key, source, buffers, [rows, n, offset, 0, scale, 0, 0, 0], rows, writable, windows)

    def _reduce_in_chunks(self, op, v, n, x, dims, keepdim, dt):
        """A full reduction of a tensor larger than one binding: one partial result
        per chunk, then the reduction of the partials."""
        part_op = "sum" if op == "mean" else op
        chunks = list(self._chunks(n, [(v.storage.buffer, v.offset, "c")], _ROW_MAX))
        partials = self._new((len(chunks),), dt.np)
        for i, (_, cnt, windows, (off,)) in enumerate(chunks):
            one = WgpuArray(partials.storage, (), (), i, partials.dtype)
            part = self._new((), dt.np)
            self._reduce_rows(part_op, kind(dt.np), part, v.storage.buffer, off, v.dtype, 1, cnt, windows[0])
            self.copy_(one, part)
        out = self.reduce(part_op, partials, (0,), False, dt)
        if op == "mean":
            out = self.binary("mul", out, 1.0 / n, dt)
        if keepdim:
            out = self.view_reshape(out, (1,) * x.ndim)
        return out

    def _check_row(self, op, n, limit=_ROW_MAX):
        if n > limit:
            raise RuntimeError(f"wgpu: {op} along {n} elements is not supported yet (at most {limit}: the "
                               "software driver ends longer shader loops); move the tensor to the cpu for it")

    def argreduce(self, op, x, dim, keepdim):
        k = kind(x.dtype)
        dims = tuple(range(x.ndim)) if dim is None else (dim,)
        v, rows, n, kept = self._rows(x, dims)
        self._check_row(op, n)
        out = self._new(kept, np.int64)
        in_t = WGSL_T[STORAGE[v.dtype]]
        key = ("argreduce", op, in_t, k)
        source = None if key in self.pipelines else argreduce_source(op, in_t, k)
        self._row_dispatch(key, source, [out.storage.buffer, v.storage.buffer], [rows, n, v.offset, 0], rows)
        if keepdim:
            out = self.view_reshape(out, tuple(1 if d in dims else s for d, s in enumerate(x.shape)))
        return out

    def scan(self, op, x, dim, dt):
        k = kind(dt.np)
        if dim is None:  # a 0-d input
            return self.cast(x, dt)
        perm = [d for d in range(x.ndim) if d != dim] + [dim]
        v, rows, n, _ = self._rows(x, (dim,))
        out = self._new(v.shape, dt.np)
        in_t, out_t = WGSL_T[STORAGE[v.dtype]], out_type(out.dtype)
        key = ("scan", op, in_t, k, out_t)
        source = None if key in self.pipelines else scan_source(op, in_t, k, out_t)
        # one thread walks a row: rows longer than lavapipe's loop limit go in blocks, each
        # block then folded with the last value of the block before it
        for j in range(0, n, _LOOP_MAX):
            m = min(_LOOP_MAX, n - j)
            self._run(key, [out.storage.buffer, v.storage.buffer, self.errors], [rows, m, v.offset + j, 0, n, j, 0, 0],
                      rows, source=source, row_word=3, writable=(0, 2))
            if j:
                block = WgpuArray(out.storage, (rows, m), (n, 1), j, out.dtype)
                carry = WgpuArray(out.storage, (rows, 1), (n, 1), j - 1, out.dtype)
                self.copy_(block, self.binary("add" if op == "cumsum" else "mul", block, carry, dt))
        if k == "i":
            self.unchecked = True
        inv = [perm.index(d) for d in range(x.ndim)]
        return self.view_permute(out, inv)

    def _softmax(self, op, x, dim):
        if dim is None:  # a 0-d tensor: one row of one, and a 0-d result
            return self.view_reshape(self._softmax(op, self.view_reshape(x, (1,)), 0), ())
        v, rows, n, _ = self._rows(x, (dim,))
        self._check_row(op, n)
        if kind(v.dtype) != "f":
            raise TypeError(f"{op} on wgpu needs a floating-point tensor")
        out = self._new(v.shape, v.dtype)
        out_t = out_type(v.dtype)
        key = ("softmax", op, out_t)
        source = None if key in self.pipelines else softmax_source(op, out_t)
        self._row_dispatch(key, source, [out.storage.buffer, v.storage.buffer], [rows, n, v.offset, 0], rows)
        perm = [d for d in range(x.ndim) if d != dim] + [dim]
        return self.view_permute(out, [perm.index(d) for d in range(x.ndim)])

    def softmax(self, x, dim):
        return self._softmax("softmax", x, dim)

    def log_softmax(self, x, dim):
        return self._softmax("log_softmax", x, dim)

    # cross-entropy's nll of class indices, from the primitives (no Tensor overhead, no read-back)
    def _nll_rows(self, target, ignore_index):
        i64 = _Dt(np.int64)
        valid = self.binary("ne", target, ignore_index, i64)
        n = target.shape[0]
        return valid, self.view_reshape(self.where(valid, target, 0, i64), (n, 1))

    def nll_loss(self, logp, target, ignore_index, reduction):
        dt = _Dt(logp.dtype)
        valid, t = self._nll_rows(target, ignore_index)
        picked = self.view_reshape(self.gather(logp, 1, t), (target.shape[0],))
        rows = self.unary("neg", self.binary("mul", picked, valid, dt), dt)
        if reduction == "none":
            return rows, None
        total = self.reduce("sum", rows, (0,), False, dt)
        if reduction == "sum":
            return total, None
        den = self.reduce("sum", valid, (0,), False, dt)
        return self.binary("div", total, den, dt), den

    def nll_loss_grad(self, g, target, ignore_index, den, shape, reduction):
        dt = _Dt(g.dtype)
        valid, t = self._nll_rows(target, ignore_index)
        scale = self.binary("div", g, den, dt) if reduction == "mean" else g
        w = self.binary("mul", self.unary("neg", scale, dt), valid, dt)
        out = self.full(shape, 0, dt)
        self.scatter_(out, 1, t, self.view_reshape(w, (target.shape[0], 1)), None)
        return out

    # backward of the fused row kernels (from the primitives: no Tensor overhead)
    def softmax_grad(self, y, g, dim):
        dt = _Dt(y.dtype)
        gy = self.binary("mul", g, y, dt)
        return self.binary("mul", y, self.binary("sub", g, self.reduce("sum", gy, (dim,), True, dt), dt), dt)

    def log_softmax_grad(self, y, g, dim):
        dt = _Dt(y.dtype)
        s = self.reduce("sum", g, (dim,), True, dt)
        return self.binary("sub", g, self.binary("mul", self.unary("exp", y, dt), s, dt), dt)

