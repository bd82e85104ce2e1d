"""The wgpu backend: the primitive set as WGSL compute kernels run through wgpu.

Handles are WgpuArray views (storage buffer, shape, element strides, offset).
Kernels come from shaders/ specialised in kernels.py; dispatches are batched in
queue.py; buffers come from allocator.py. Data-dependent sizes and sorting read
back and use the cpu backend (the host fallbacks the README lists). A primitive
a backend lacks raises NotImplementedError naming it, never a wrong answer."""
import functools
import re
import struct

import numpy as np

from ...device import device as _device
from .. import cpu as _cpu
from ...shaders_path import read_shader
from . import context
from .allocator import Allocator
from .array import STORAGE, Storage, WgpuArray, contiguous_strides, from_stand_in, stand_in
from .kernels import (BINARY, BOOL_RESULT, PRED, REDUCE, UNARY, WGSL_T, argreduce_source, elementwise_source,
                      expr_for, index_source, kind, matmul_source, out_type, random_source, reduce_source,
                      scalar_bits, scan_source, scatter_source, softmax_source)
from .queue import Queue

_WG = 256          # threads per workgroup of the 1-D kernels
# lavapipe (Mesa's llvmpipe) ends any shader loop after 65,535 iterations: kernels
# whose threads loop along a row keep under it (a row of up to _ROW_MAX elements is
# folded by 256 threads), and longer work is split on the host or refused clearly.
_LOOP_MAX = 65535
_ROW_MAX = 256 * 32768
_I32 = (np.iinfo(np.int32).min, np.iinfo(np.int32).max)


class WgpuBackend:
    name = "wgpu"
    supports_float64 = False

    def __init__(self, index):
        self.device = _device("wgpu", index)
        self._gpu = None

    # ---- lazily created GPU state ---------------------------------------------
    def _init(self):
        if self._gpu is None:
            wgpu = context._wgpu()
            dev = context.device()
            usage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST
            self.wgpu, self.dev = wgpu, dev
            self.alloc = Allocator(dev, usage, dev.limits["max-buffer-size"])
            self.max_binding = dev.limits["max-storage-buffer-binding-size"]
            self.align = dev.limits["min-storage-buffer-offset-alignment"]
            self.queue = Queue(dev, wgpu)
            self.pipelines, self.bind_groups = {}, {}
            self._software = context.is_software(context.adapter().info)
            # device-side error flag (like CUDA's asynchronous errors): kernels set it,
            # the next read-back or synchronize() raises
            self.errors = dev.create_buffer(size=256, usage=usage)
            self.unchecked = False
            self._gpu = True
        return self

    def __getattr__(self, attr):
        from .. import PRIMITIVES
        if attr not in PRIMITIVES:
            raise AttributeError(attr)
        raise NotImplementedError(f"'{attr}' is not implemented on the wgpu device yet; move the tensor to the "
                                  f"cpu with .cpu() for this operation")

    # ---- kernels: pipelines, bind groups, parameters -------------------------------
    def _pipeline(self, kernel, n_storage, source=None, writable=(0,)):
        """A compute pipeline with n_storage storage buffers (those in `writable`
        read-write) and the uniform parameters after them; cached by kernel key."""
        p = self.pipelines.get(kernel)
        if p is None:
            w = self.wgpu
            entries = [{"binding": i, "visibility": w.ShaderStage.COMPUTE,
                        "buffer": {"type": w.BufferBindingType.storage if i in writable else
                                   w.BufferBindingType.read_only_storage}} for i in range(n_storage)]
            entries.append({"binding": n_storage, "visibility": w.ShaderStage.COMPUTE,
                            "buffer": {"type": w.BufferBindingType.uniform, "has_dynamic_offset": True}})
            bgl = self.dev.create_bind_group_layout(entries=entries)
            layout = self.dev.create_pipeline_layout(bind_group_layouts=[bgl])
            module = self.dev.create_shader_module(code=source if source is not None else
                                                   read_shader(kernel + ".wgsl"))
            pipe = self.dev.create_compute_pipeline(layout=layout, compute={"module": module, "entry_point": "main"})
            p = self.pipelines[kernel] = (pipe, bgl)
        return p

    def _bind_group(self, kernel, bgl, buffers, param_size, windows=None):
        """buffers bound whole, or through windows [(byte offset, byte size) or None]."""
        windows = windows or [None] * len(buffers)
        key = (id(bgl),) + tuple([b.uid for b in buffers]) + tuple(windows)
        bg = self.bind_groups.get(key)
        if bg is None:
            wins = [w or (0, b.size) for b, w in zip(buffers, windows)]
            for b, (_, size) in zip(buffers, wins):
                if size > self.max_binding:
                    raise RuntimeError(
                        f"wgpu: this operation binds a buffer of {size} bytes, more than the device's largest storage "
                        f"binding ({self.max_binding} bytes), and does not run in chunks yet; move the tensor to "
                        f"the cpu for it (elementwise ops on contiguous tensors, fills, copies and full reductions "
                        f"run in chunks)")
            entries = [{"binding": i, "resource": {"buffer": b, "offset": off, "size": size}}
                       for i, (b, (off, size)) in enumerate(zip(buffers, wins))]
            entries.append({"binding": len(buffers), "resource": {"buffer": self.queue.ring, "offset": 0,
                                                                   "size": param_size}})
            bg = self.bind_groups[key] = self.dev.create_bind_group(layout=bgl, entries=entries)
        return bg

    def _params(self, words):
        """Kernel parameters into the uniform ring; returns (dynamic offset, size)."""
        data = struct.pack(f"<{len(words)}I", *words)
        return self.queue.params(data), len(data)

    def _run(self, kernel, buffers, words, n, source=None, row_word=None, windows=None):
        """Dispatch `kernel` over n threads (a 2-D grid past 65,535 workgroups)."""
        if n == 0:
            return
        groups = -(-n // _WG)
        gx, gy = (groups, 1) if groups <= 65535 else (65535, -(-groups // 65535))
        words = list(words)
        words[_ROW[kernel] if row_word is None else row_word] = gx * _WG
        off, size = self._params(words)
        pipe, bgl = self._pipeline(kernel, len(buffers), source)
        self.queue.dispatch(pipe, self._bind_group(kernel, bgl, buffers, size, windows), (gx, gy, 1), (off,))

    def _chunks(self, n, parts, limit=None):
        """Split n elements so that every binding fits the device's limit. parts:
        (buffer, element offset, 'c' = advances with the element, 's' = one element).
        Yields (first element, count, windows, element offsets within the windows).
        Window starts are aligned to min-storage-buffer-offset-alignment."""
        if all(buf.size <= self.max_binding for buf, _, _ in parts) and (limit is None or n <= limit):
            yield 0, n, None, [off for _, off, _ in parts]
            return
        align = self.align
        chunk = (self.max_binding - 2 * align) // 4
        if limit is not None:
            chunk = min(chunk, limit)
        for e0 in range(0, n, chunk):
            cnt = min(chunk, n - e0)
            windows, offs = [], []
            for buf, off, k in parts:
                first = off + (e0 if k == "c" else 0)
                start = (4 * first) // align * align
                end = min(4 * (first + (cnt if k == "c" else 1)), buf.size)
                windows.append((start, -(-(end - start) // 4) * 4))
                offs.append(first - start // 4)
            yield e0, cnt, windows, offs

    # ---- creation and transfer ---------------------------------------------------------
    def _new(self, shape, np_dtype):
        self._init()
        n = 1
        for s in shape:
            n *= s
        st = Storage(self.alloc.alloc(4 * n), self.alloc)
        return WgpuArray(st, shape, contiguous_strides(shape), 0, _NP_DTYPE.get(np_dtype) or np.dtype(np_dtype))

    def from_numpy(self, a):
        sd = STORAGE.get(a.dtype)
        if sd is None:
            raise TypeError(f"wgpu does not support {a.dtype} tensors yet; float32, int32, int64 (stored as int32), "
                            f"int16, int8, uint8 and bool are supported. Use float32 instead of float64.")
        if a.dtype == np.int64 and a.size and (a.min() < _I32[0] or a.max() > _I32[1]):
            raise RuntimeError("wgpu stores int64 tensors as int32: a value is outside the int32 range "
                               f"[{_I32[0]}, {_I32[1]}]")
        h = self._new(a.shape, a.dtype)
        if a.size:
            self.queue.upload(h.storage.buffer, 0, np.ascontiguousarray(a, dtype=sd).tobytes())
        return h

    def check_errors(self):
        """Raise what kernels flagged since the last check (called at sync points)."""
        if self._gpu is None or not self.unchecked:
            return
        self.unchecked = False
        flag = self.queue.read(self.errors, 0, 4).view(np.uint32)[0]
        if flag:
            self.queue.upload(self.errors, 0, bytes(4))
            raise RuntimeError("wgpu stores int64 as int32 and an integer sum left the int32 range (it would have "
                               "wrapped); compute it on the cpu. (Reported at the first read-back after the sum.)")

    def to_numpy(self, h):
        """A host copy of the handle's values (its logical dtype)."""
        self.check_errors()
        sd = STORAGE[h.dtype]
        if h.size == 0:
            return np.empty(h.shape, h.dtype)
        # the span of words the view touches
        lo = h.offset + sum(min(0, (s - 1) * st) for s, st in zip(h.shape, h.strides))
        hi = h.offset + sum(max(0, (s - 1) * st) for s, st in zip(h.shape, h.strides))
        raw = self.queue.read(h.storage.buffer, 4 * lo, 4 * (hi - lo + 1)).view(sd)
        view = np.lib.stride_tricks.as_strided(raw[h.offset - lo:], h.shape, [4 * s for s in h.strides])
        return view.astype(h.dtype)

    def empty(self, shape, dt):
        return self._new(tuple(shape), self._logical(dt))

    def full(self, shape, value, dt):
        h = self._new(tuple(shape), self._logical(dt))
        self.fill_(h, value)
        return h

    def _logical(self, dt):
        if dt.np not in STORAGE:
            raise TypeError(f"wgpu does not support {dt} tensors yet (MPS-like: no float64; use float32)")
        return dt.np

    # ---- views: metadata only ---------------------------------------------------------------
    def view_reshape(self, h, shape):
        v = stand_in(h).view()
        try:
            v.shape = shape
        except AttributeError:
            return None
        return from_stand_in(h, v)

    def view_permute(self, h, dims):
        return from_stand_in(h, stand_in(h).transpose(dims))

    def view_expand(self, h, shape):
        return from_stand_in(h, np.broadcast_to(stand_in(h), shape))

    def view_index(self, h, key):
        # a trailing ... keeps an all-int key a 0-d view: NumPy would otherwise read the
        # element of the stand-in, which has no memory behind it
        if not any(k is Ellipsis for k in key):
            key = key + (Ellipsis,)
        return from_stand_in(h, stand_in(h)[key])

    def view_strided(self, h, shape, strides, offset):
        return WgpuArray(h.storage, shape, strides, h.offset + offset, h.dtype)

    def strides(self, h):
        return contiguous_strides(h.shape) if h.size == 0 else h.strides

    def is_contiguous(self, h):
        return all(st == c for s, st, c in zip(h.shape, h.strides, contiguous_strides(h.shape)) if s != 1)

    def storage_offset(self, h):
        return h.offset

    def data_ptr(self, h):
        return (h.storage.buffer.uid << 32) + 4 * h.offset

    # ---- copies and fills ----------------------------------------------------------------------
    def fill_(self, h, value):
        sd = STORAGE[h.dtype]
        bits = int(np.array(value).astype(h.dtype).astype(sd).view(np.uint32))
        if self.is_contiguous(h):
            for _, cnt, windows, (off,) in self._chunks(h.size, [(h.storage.buffer, h.offset, "c")]):
                self._run("fill", [h.storage.buffer], [off, cnt, bits, 0], cnt, windows=windows)
        else:
            self.copy_(h, self.full((), value, _Dt(h.dtype)))

    def copy_(self, dst, src):
        if not isinstance(src, WgpuArray):
            return self.fill_(dst, src)
        if src.dtype != dst.dtype:
            src = self.cast(src, _Dt(dst.dtype))
        src = self.view_expand(src, dst.shape) if src.shape != dst.shape else src
        if self.is_contiguous(dst) and self.is_contiguous(src) and dst.size:
            self.queue.copy(src.storage.buffer, 4 * src.offset, dst.storage.buffer, 4 * dst.offset, 4 * dst.size)
            return
        nd = len(dst.shape)
        if nd > 8:
            raise RuntimeError("wgpu copies support at most 8 dimensions")
        pad = [0] * (8 - nd)
        words = [nd, dst.size, dst.offset, src.offset, 0, 0, 0, 0] + list(dst.shape) + pad + \
            [s & 0xFFFFFFFF for s in dst.strides] + pad + [s & 0xFFFFFFFF for s in src.strides] + pad
        self._run("copy_strided", [dst.storage.buffer, src.storage.buffer], words, dst.size)

    def contiguous(self, h):
        out = self._new(h.shape, h.dtype)
        self.copy_(out, h)
        return out

    clone = contiguous

    # ---- elementwise -------------------------------------------------------------------------
    def _ew(self, expr, args, result_k, out_dtype):
        """One elementwise dispatch. args: (value, kind) pairs, a value being a
        handle (broadcast to the output's shape) or a Python scalar; expr names
        them a, b, c in order."""
        handles = [v for v, _ in args if isinstance(v, WgpuArray)]
        try:
            shape = handles[0].shape
            if any(h.shape != shape for h in handles):
                shape = np.broadcast_shapes(*(h.shape for h in handles))
        except ValueError:
            raise RuntimeError("shapes " + ", ".join(str(list(h.shape)) for h in handles) +
                               " cannot be broadcast together") from None
        if len(shape) > 8:
            raise RuntimeError("wgpu elementwise ops support at most 8 dimensions")
        scal, ins = [], []
        for v, k in args:
            if isinstance(v, WgpuArray):
                ins.append((self.view_expand(v, shape) if v.shape != shape else v, k))
            else:
                scal.append((v, k))
        body = _rename(expr, tuple(isinstance(v, WgpuArray) for v, _ in args))
        in_types = tuple(WGSL_T[STORAGE[h.dtype]] for h, _ in ins)
        out = self._new(shape, out_dtype)
        out_t = out_type(out.dtype)
        cstrides = out.strides
        layouts = tuple("c" if h.strides == cstrides else "s" if not any(h.strides) else "n" for h, _ in ins)
        key = ("ew", body, in_types, tuple(k for _, k in ins), tuple(k for _, k in scal), result_k, out_t, layouts)
        source = None if key in self.pipelines else elementwise_source(
            in_types, [k for _, k in ins], [k for _, k in scal], body, result_k, out_t, layouts)
        nd = len(shape)
        pad = [0] * (8 - nd)
        sbits = [scalar_bits(v, k) for v, k in scal] + [0] * (4 - len(scal))
        tail = list(shape) + pad
        for j in range(3):
            st = ins[j][0].strides if j < len(ins) else (0,) * nd
            tail += [s & 0xFFFFFFFF for s in st] + pad
        buffers = [out.storage.buffer] + [h.storage.buffer for h, _ in ins]
        if "n" in layouts:  # the N-d walk binds whole buffers (a clear error past the binding limit)
            chunks = [(0, out.size, None, [out.offset] + [h.offset for h, _ in ins])]
        else:
            chunks = self._chunks(out.size, [(out.storage.buffer, out.offset, "c")] +
                                  [(h.storage.buffer, h.offset, lay) for (h, _), lay in zip(ins, layouts)])
        for _, cnt, windows, offs in chunks:
            words = [cnt, nd, 0, offs[0]] + sbits + [o & 0xFFFFFFFF for o in offs[1:]] + [0] * (4 - len(ins)) + tail
            self._run(key, buffers, words, cnt, source=source, row_word=2, windows=windows)
        return out

    def unary(self, op, x, dt):
        k = kind(dt.np)
        return self._ew(expr_for(UNARY, op, k), [(x, k)], k, dt.np)

    def unary_pred(self, op, x):
        k = kind(x.dtype)
        return self._ew(expr_for(PRED, op, k), [(x, k)], "b", np.bool_)

    def binary(self, op, x, y, dt):
        k = kind(dt.np)
        if k == "i" and not isinstance(y, WgpuArray):
            if op == "pow" and y < 0:
                raise RuntimeError("Integers to negative integer powers are not allowed.")
            y = int(np.array(y).astype(dt.np))  # a Python int wraps into a small integer dtype, as in PyTorch
        boolean = op in BOOL_RESULT
        return self._ew(expr_for(BINARY, op, k), [(x, k), (y, k)], "b" if boolean else k,
                        np.bool_ if boolean else dt.np)

    def binary_(self, op, x, y):
        self.copy_(x, self.binary(op, x, y, _Dt(x.dtype)))

    def where(self, cond, x, y, dt):
        k = kind(dt.np)
        return self._ew("select(c, b, a)", [(cond, "b"), (x, k), (y, k)], k, dt.np)

    def clamp(self, x, lo, hi, dt):
        k = kind(dt.np)
        args, e = [(x, k)], "a"
        for bound, fn in ((lo, "max"), (hi, "min")):
            if bound is not None:
                args.append((bound, k))
                e = f"{fn}({e}, {'bc'[len(args) - 2]})"
        if k == "f":
            e = f"select({e}, a, is_nan(a))"  # NaN stays NaN
        return self._ew(e, args, k, dt.np)

    def cast(self, h, dt):
        k = kind(self._logical(dt))
        return self._ew("a", [(h, k)], k, dt.np)

    # ---- reductions ----------------------------------------------------------------------------
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

    def _reduce_rows(self, op, k, out, buf, offset, in_dtype, rows, n, window=None):
        """out[r] = op over elements [offset + r n, offset + (r + 1) n) of buf."""
        in_t, out_t = WGSL_T[STORAGE[in_dtype]], out_type(out.dtype)
        key = ("reduce", op, in_t, k, out_t)
        source = None if key in self.pipelines else reduce_source(op, in_t, k, out_t)
        scale = int(np.array(1.0 / n if n else np.nan, np.float32).view(np.uint32))
        buffers, writable, windows = [out.storage.buffer, buf], (0,), [None, window]
        if op == "sum" and k == "i":  # checked 64-bit sum: reports through the error flag
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
        self._check_row(op, n, _LOOP_MAX)  # one thread walks the whole row
        out = self._new(v.shape, dt.np)
        in_t, out_t = WGSL_T[STORAGE[v.dtype]], out_type(out.dtype)
        key = ("scan", op, in_t, k, out_t)
        source = None if key in self.pipelines else scan_source(op, in_t, k, out_t)
        self._run(key, [out.storage.buffer, v.storage.buffer], [rows, n, v.offset, 0], rows, source=source,
                  row_word=3)
        inv = [perm.index(d) for d in range(x.ndim)]
        return self.view_permute(out, inv)

    def _softmax(self, op, x, dim):
        if dim is None:
            x, dim = self.view_reshape(x, (1,)), 0
        v, rows, n, _ = self._rows(x, (dim,))
        self._check_row(op, n)
        if v.dtype.kind != "f":
            raise TypeError(f"{op} on wgpu needs a floating-point tensor")
        out = self._new(v.shape, v.dtype)
        half = v.dtype == np.float16
        key = ("softmax", op, half)
        source = None if key in self.pipelines else softmax_source(op, half)
        self._row_dispatch(key, source, [out.storage.buffer, v.storage.buffer], [rows, n, v.offset, 0], rows)
        perm = [d for d in range(x.ndim) if d != dim] + [dim]
        return self.view_permute(out, [perm.index(d) for d in range(x.ndim)])

    def softmax(self, x, dim):
        return self._softmax("softmax", x, dim)

    def log_softmax(self, x, dim):
        return self._softmax("log_softmax", x, dim)

    # ---- linear algebra --------------------------------------------------------------------------
    def _batched(self, h, batch):
        """h expanded to the batch shape, with its batch dims as one stride (copied if they are not)."""
        h = self.view_expand(h, batch + h.shape[-2:]) if h.shape[:-2] != batch else h
        nb = len(batch)
        st = h.strides[:nb]
        ok = all(batch[i] == 1 or batch[i + 1] == 1 or st[i] == st[i + 1] * batch[i + 1] for i in range(nb - 1))
        if not ok:
            h = self.contiguous(h)
            st = h.strides[:nb]
        bstride = next((s for s, n in zip(reversed(st), reversed(batch)) if n != 1), 0)
        return h, bstride

    def matmul(self, a, b):
        k = kind(a.dtype)
        if k == "b":
            raise RuntimeError("matmul of bool tensors is not supported")
        batch = tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
        m, kk, n = a.shape[-2], a.shape[-1], b.shape[-1]
        nbatch = 1
        for s in batch:
            nbatch *= s
        if nbatch > 65535:
            raise RuntimeError(f"wgpu matmul supports at most 65535 batches, got {nbatch}")
        a, abs_ = self._batched(a, batch)
        b, bbs = self._batched(b, batch)
        out = self._new(batch + (m, n), a.dtype)
        t = WGSL_T[STORAGE[a.dtype]]
        half = a.dtype == np.float16
        # the kernel per adapter and layout: vec4 register blocking for contiguous float32
        # rows on software adapters, scalar register blocking, or workgroup-memory tiles
        vec4 = (self._software and a.dtype == np.float32 and a.strides[-1] == 1 and b.strides[-1] == 1 and
                n % 4 == 0 and b.offset % 4 == 0 and b.strides[-2] % 4 == 0 and bbs % 4 == 0)
        blocked = self._software and kk < _LOOP_MAX  # (the tiled kernel loops K / 16 times)
        vec4 = vec4 and blocked
        key = ("matmul", t, half, blocked, vec4)
        source = None if key in self.pipelines else (read_shader("matmul_vec4.wgsl") if vec4 else
                                                     matmul_source(t, half, blocked))
        words = [m, n, kk, 0, a.offset, abs_, a.strides[-2], a.strides[-1],
                 b.offset, bbs, b.strides[-2], b.strides[-1]]
        off, size = self._params([w & 0xFFFFFFFF for w in words])
        pipe, bgl = self._pipeline(key, 3, source)
        if out.size:
            bufs = [out.storage.buffer, a.storage.buffer, b.storage.buffer]
            tile_n = 128 if vec4 else 32 if blocked else 16  # C elements per workgroup side
            tile_m = 32 if blocked else 16
            self.queue.dispatch(pipe, self._bind_group(key, bgl, bufs, size),
                                (-(-n // tile_n), -(-m // tile_m), nbatch), (off,))
        return out

    # ---- indexing ---------------------------------------------------------------------------------
    @staticmethod
    def _dims8(*lists):
        out = []
        for lst in lists:
            out += [v & 0xFFFFFFFF for v in lst] + [0] * (8 - len(lst))
        return out

    def gather(self, x, dim, index):
        out = self._new(index.shape, x.dtype)
        if x.ndim == 0:
            x = self.view_reshape(x, (1,))
            index = self.view_reshape(index, (1,)) if index.ndim == 0 else index
        words = [out.size, index.ndim, 0, dim, x.offset & 0xFFFFFFFF, index.offset & 0xFFFFFFFF, 0, 0]
        words += self._dims8(index.shape, x.strides, index.strides)
        self._run("gather", [out.storage.buffer, x.storage.buffer, index.storage.buffer], words, out.size,
                  row_word=2)
        return out

    def scatter_(self, x, dim, index, src, reduce):
        if not isinstance(src, WgpuArray):
            src = self.view_expand(self.full((), src, _Dt(x.dtype)), index.shape)
        elif src.dtype != x.dtype:
            src = self.cast(src, _Dt(x.dtype))
        t = WGSL_T[STORAGE[x.dtype]]
        key = ("scatter", reduce, t)
        source = None if key in self.pipelines else scatter_source(reduce, t)
        words = [index.size, index.ndim, 0, dim, x.offset & 0xFFFFFFFF, index.offset & 0xFFFFFFFF,
                 src.offset & 0xFFFFFFFF, 0]
        words += self._dims8(index.shape, x.strides, index.strides, src.strides)
        self._run(key, [x.storage.buffer, src.storage.buffer, index.storage.buffer], words, index.size,
                  source=source, row_word=2)

    def _adv_layout(self, x, key):
        """NumPy's (= PyTorch's) advanced-indexing layout of x[key]: the result's
        shape, per-dim strides into a view of x, and the broadcast index arrays."""
        key = list(key)
        used = sum(1 if not isinstance(e, WgpuArray) or e.dtype != np.bool_ else e.ndim
                   for e in key if e is not None and e is not Ellipsis)
        if Ellipsis in key:
            i = key.index(Ellipsis)
            key[i:i + 1] = [slice(None)] * (x.ndim - used)
        else:
            key += [slice(None)] * (x.ndim - used)
        entries = []
        for e in key:
            if isinstance(e, WgpuArray) and e.dtype == np.bool_:  # a mask: its nonzero positions (host fallback)
                entries += [self.from_numpy(c.astype(np.int64)) for c in np.nonzero(self.to_numpy(e))]
            elif isinstance(e, (bool, np.bool_)):
                raise NotImplementedError("indexing with a Python bool is not implemented on the wgpu device yet")
            elif isinstance(e, int):
                entries.append(self.full((), e, _Dt(np.int64)))  # beside index arrays, ints index too
            else:
                entries.append(e)
        v = self.view_index(x, tuple(slice(None) if isinstance(e, WgpuArray) else e for e in entries))
        pos, d = [], 0
        for e in entries:
            if isinstance(e, WgpuArray):
                pos.append(d)
            d += 1
        idx = [e for e in entries if isinstance(e, WgpuArray)]
        if len(idx) > 4:
            raise NotImplementedError("more than four index tensors at once on the wgpu device")
        try:
            b = tuple(np.broadcast_shapes(*(h.shape for h in idx)))
        except ValueError:
            raise IndexError("shape mismatch: indexing tensors could not be broadcast together with shapes "
                             + ", ".join(str(list(h.shape)) for h in idx)) from None
        rest = [k for k in range(v.ndim) if k not in pos]
        start = pos[0] if pos == list(range(pos[0], pos[0] + len(pos))) else 0
        before = [k for k in rest if k < start] if start else []
        after = [k for k in rest if k not in before]
        shape = tuple(v.shape[k] for k in before) + b + tuple(v.shape[k] for k in after)
        v_strides = [v.strides[k] for k in before] + [0] * len(b) + [v.strides[k] for k in after]
        if len(shape) > 8:
            raise NotImplementedError("advanced indexing with a result of more than 8 dims on the wgpu device")
        idx = [self.view_expand(h, b) for h in idx]
        idx_strides = []
        for h in idx:
            st = [0] * len(before) + list(h.strides) + [0] * len(after)
            idx_strides += st + [0] * (8 - len(st))
        idx_strides += [0] * (32 - len(idx_strides))
        info = {"v": v, "shape": shape, "v_strides": v_strides, "idx": idx, "idx_strides": idx_strides,
                "adv_stride": [v.strides[k] for k in pos], "adv_size": [v.shape[k] for k in pos]}
        return info

    def _index_run(self, mode, data, other, lay, vals_off=0, vals_strides=()):
        n = 1
        for s in lay["shape"]:
            n *= s
        idx = lay["idx"]
        t = WGSL_T[STORAGE[lay["v"].dtype]]
        key = ("index", mode, len(idx), t)
        source = None if key in self.pipelines else index_source(mode, len(idx), t)
        pad4 = lambda vals: [v & 0xFFFFFFFF for v in vals] + [0] * (4 - len(vals))  # noqa: E731
        words = [n, len(lay["shape"]), 0, len(idx), lay["v"].offset & 0xFFFFFFFF, vals_off & 0xFFFFFFFF, 0, 0]
        words += self._dims8(lay["shape"], lay["v_strides"], vals_strides)
        words += pad4([h.offset for h in idx]) + pad4(lay["adv_stride"]) + pad4(lay["adv_size"])
        words += [s & 0xFFFFFFFF for s in lay["idx_strides"]]
        self._run(key, [data.storage.buffer, other.storage.buffer] + [h.storage.buffer for h in idx], words, n,
                  source=source, row_word=2)

    def index(self, x, key):
        lay = self._adv_layout(x, key)
        out = self._new(lay["shape"], x.dtype)
        self._index_run("get", out, lay["v"], lay)
        return out

    def index_put_(self, x, key, values, accumulate):
        lay = self._adv_layout(x, key)
        if not isinstance(values, WgpuArray):
            values = self.full((), values, _Dt(x.dtype))
        elif values.dtype != x.dtype:
            values = self.cast(values, _Dt(x.dtype))
        try:
            np.broadcast_shapes(values.shape, lay["shape"])
        except ValueError:
            raise ValueError(f"shape mismatch: {values.shape} into {lay['shape']}") from None
        vals = self.view_expand(values, lay["shape"]) if values.shape != lay["shape"] else values
        self._index_run("add" if accumulate else "put", x, vals, lay, vals.offset, vals.strides)

    # ---- random numbers: Philox 4x32-10 on the device ------------------------------------------
    def random(self, kind_, shape, dt, gen, a, b):
        """uniform [a, b), normal (mean a, std b) or integers [a, b), from the
        generator's seed and Philox offset (which advances by the blocks used)."""
        out = self._new(tuple(shape), self._logical(dt))
        blocks = -(-out.size // 4)
        seed, off = gen.initial_seed(), gen.philox_offset
        gen.philox_offset += blocks
        rng = 0
        if kind_ == "randint":
            rng = int(b) - int(a)
            if not 0 < rng < 1 << 32:
                raise RuntimeError(f"wgpu randint supports ranges up to 2**32, got {rng}")
        out_t = out_type(out.dtype)
        key = ("random", kind_, out_t)
        source = None if key in self.pipelines else random_source(kind_, out_t)
        fbits = [scalar_bits(v, "f") if kind_ != "randint" else 0 for v in (a, b)]
        words = [out.size, 0, seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF, off & 0xFFFFFFFF, (off >> 32) & 0xFFFFFFFF,
                 int(a) & 0xFFFFFFFF if kind_ == "randint" else 0, rng & 0xFFFFFFFF] + fbits + [0, 0]
        self._run(key, [out.storage.buffer], words, blocks, source=source, row_word=1)
        return out

    # ---- host fallbacks: data-dependent sizes and sorting (read back, NumPy, upload) -------------------
    def nonzero(self, x):
        return self.from_numpy(_cpu.nonzero(self.to_numpy(x)))

    def sort(self, x, dim, descending, stable=True):
        v, i = _cpu.sort(self.to_numpy(x), dim, descending)
        return self.from_numpy(v), self.from_numpy(i)

    def unique(self, x, sorted_, return_inverse, return_counts):
        return tuple(self.from_numpy(np.asarray(r, dtype=np.int64 if r.dtype.kind in "iu" and r is not None
                                                and r.dtype != x.dtype else r.dtype))
                     for r in _cpu.unique(self.to_numpy(x), sorted_, return_inverse, return_counts))

    # creation from host-computed values (an upload, like tensor(...))
    def arange(self, start, step, n, dt):
        return self.from_numpy(_cpu.arange(start, step, n, dt))

    def eye(self, n, m, dt):
        return self.from_numpy(_cpu.eye(n, m, dt))

    # ---- sync ----------------------------------------------------------------------------------
    def synchronize(self):
        if self._gpu is not None:
            self.queue.flush()
            self.queue.read(self.queue.ring, 0, 4)  # a tiny read-back waits for all submitted work
            self.check_errors()


_NP_DTYPE = {d: d for d in STORAGE}  # NumPy dtypes by themselves: skips np.dtype() on the hot path


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


# which parameter word holds the grid's row width, per kernel
_ROW = {"fill": 3, "copy_strided": 4, "gather": 2}


class _Dt:
    """The minimal dtype object full() needs when called from inside the backend."""

    def __init__(self, np_dtype):
        self.np = np.dtype(np_dtype)


_backends = {}


def backend(index=0):
    b = _backends.get(index)
    if b is None:
        b = _backends[index] = WgpuBackend(index)
    return b
