"""The core of the wgpu backend: lazily created GPU state, kernel dispatch (pipelines,
bind groups, parameters, chunks past the binding limit), transfers, views, fills, copies."""
import struct

import numpy as np

from ... import bf16
from ...device import device as _device
from ...errors import DeviceIndexError
from ...shaders_path import read_shader
from . import context
from .allocator import Allocator
from .array import BF16_BITS, STORAGE, Storage, WgpuArray, contiguous_strides, from_stand_in, stand_in
from .fusion import Fusion
from .kernels import with_helpers
from .queue import Queue

_WG = 256          # threads per workgroup of the 1-D kernels
# lavapipe (Mesa's llvmpipe) ends any shader loop after 65,535 iterations: kernels
# whose threads loop along a row keep under it (a row of up to _ROW_MAX elements is
# folded by 256 threads), and longer work is split on the host or refused clearly.
_LOOP_MAX = 65535
_ROW_MAX = 256 * 32768
_MAX_BIND_GROUPS = 4096
_I32 = (np.iinfo(np.int32).min, np.iinfo(np.int32).max)
_NP_DTYPE = {d: d for d in STORAGE}  # NumPy dtypes by themselves: skips np.dtype() on the hot path


_ROW = {"fill": 3}


class _Dt:
    """The minimal dtype object full() needs when called from inside the backend."""

    def __init__(self, np_dtype):
        self.np = np.dtype(np_dtype)



class Base:
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
            self.fusion = self.queue.fusion = Fusion(self, dev.limits["max-storage-buffers-per-shader-stage"])
            self.pipelines, self.bind_groups = {}, {}
            self._ew_plans, self._op_plans, self._un_plans = {}, {}, {}  # elementwise.py's plans
            self.alloc.on_release = self._release
            self._software = context.is_software(context.adapter().info)
            # device-side error flag (like CUDA's asynchronous errors): kernels set it,
            # the next read-back or synchronize() raises
            self.errors = dev.create_buffer(size=256, usage=usage)
            self.unchecked = False
            self._gpu = True
        return self

    def _release(self):
        """Before the allocator destroys its pooled buffers: recorded work that names them is
        submitted, and the bind groups naming them go."""
        self.queue.flush()
        self.bind_groups.clear()

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
            try:
                bgl = self.dev.create_bind_group_layout(entries=entries)
                layout = self.dev.create_pipeline_layout(bind_group_layouts=[bgl])
                module = self.dev.create_shader_module(code=with_helpers(source if source is not None else
                                                                    read_shader(kernel + ".wgsl")))
                pipe = self.dev.create_compute_pipeline(layout=layout, compute={"module": module,
                                                                                "entry_point": "main"})
            except self.wgpu.GPUError as e:  # WGSL compile / validation errors, with the text and line
                if context._state["lost"] is not None or "device is lost" in str(e).lower():
                    raise context.gpu_error(e) from None
                raise RuntimeError(f"wgpu: the WGSL kernel {str(kernel)[:80]!r} failed to compile or validate:\n{e}") \
                    from None
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
            if len(self.bind_groups) >= _MAX_BIND_GROUPS:  # bounded: a long run must not grow it forever
                self.bind_groups.clear()
            if any(b._device is not self.dev for b in buffers):  # a tensor made before reinit()
                raise RuntimeError(context.STALE)
            try:
                bg = self.bind_groups[key] = self.dev.create_bind_group(layout=bgl, entries=entries)
            except self.wgpu.GPUError as e:
                raise context.gpu_error(e) from None
        return bg

    def _params(self, words):
        """Kernel parameters into the uniform ring; returns (dynamic offset, size)."""
        data = struct.pack(f"<{len(words)}I", *words)
        return self.queue.params(data), len(data)

    def _run(self, kernel, buffers, words, n, source=None, row_word=None, windows=None, writable=(0,), wg=_WG):
        """Dispatch `kernel` over n threads, wg per workgroup (a 2-D grid past 65,535 workgroups)."""
        if n == 0:
            return
        groups = -(-n // wg)
        gx, gy = (groups, 1) if groups <= 65535 else (65535, -(-groups // 65535))
        words = list(words)
        words[_ROW[kernel] if row_word is None else row_word] = gx * wg
        off, size = self._params(words)
        pipe, bgl = self._pipeline(kernel, len(buffers), source, writable)
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
    def _new(self, shape, np_dtype, strides=None, n=None):
        """A fresh contiguous handle (strides and size may be passed when known)."""
        self._init()
        if n is None:
            n = 1
            for s in shape:
                n *= s
        st = Storage(self.alloc.alloc(4 * n), self.alloc)
        return WgpuArray(st, shape, strides or contiguous_strides(shape), 0,
                         _NP_DTYPE.get(np_dtype) or np.dtype(np_dtype))

    def from_numpy(self, a):
        sd = STORAGE.get(a.dtype)
        if sd is None:
            raise TypeError(f"wgpu does not support {a.dtype} tensors yet; float32, int32, int64 (stored as int32), "
                            f"int16, int8, uint8 and bool are supported. Use float32 instead of float64.")
        if a.dtype == np.int64 and a.size and (a.min() < _I32[0] or a.max() > _I32[1]):
            raise RuntimeError("wgpu stores int64 tensors as int32: a value is outside the int32 range "
                               f"[{_I32[0]}, {_I32[1]}]")
        h = self._new(a.shape, a.dtype)
        if a.dtype == BF16_BITS:  # bfloat16 bits: the top half of a float32 word
            a = np.ascontiguousarray(a).astype(np.uint32) << 16
        if a.size:
            self.queue.upload(h.storage.buffer, 0, np.ascontiguousarray(a, dtype=sd if a.dtype != np.uint32 else
                                                                         np.uint32).tobytes())
        return h

    def check_errors(self):
        """Raise what kernels flagged since the last check (called at sync points)."""
        if self._gpu is None or not self.unchecked:
            return
        self.unchecked = False
        flag = self.queue.read(self.errors, 0, 4).view(np.uint32)[0]
        if flag:
            self.queue.upload(self.errors, 0, bytes(4))
            if flag & 2:
                raise DeviceIndexError("index out of range on the wgpu device: an index tensor held a value outside the "
                                 "size of the dimension it indexes; the elements it named were skipped. (Checked on "
                                 "the device, reported at the first read-back after the op, as CUDA reports it.)")
            raise RuntimeError("wgpu stores int64 as int32 and an integer sum, product or cumulative sum/product "
                               "left the int32 range (it would have wrapped); compute it on the cpu. (Reported at "
                               "the first read-back after the op.)")

    def to_numpy(self, h):
        """A host copy of the handle's values (its logical dtype)."""
        self.check_errors()
        sd = STORAGE[h.dtype]
        if h.size == 0:
            return np.empty(h.shape, h.dtype)
        if h.strides == contiguous_strides(h.shape):  # (most read-backs: .item(), .cpu() of a result)
            view = self.queue.read(h.storage.buffer, 4 * h.offset, 4 * h.size).view(sd).reshape(h.shape)
        else:  # the span of words the view touches
            lo = h.offset + sum(min(0, (s - 1) * st) for s, st in zip(h.shape, h.strides))
            hi = h.offset + sum(max(0, (s - 1) * st) for s, st in zip(h.shape, h.strides))
            raw = self.queue.read(h.storage.buffer, 4 * lo, 4 * (hi - lo + 1)).view(sd)
            view = np.lib.stride_tricks.as_strided(raw[h.offset - lo:], h.shape, [4 * s for s in h.strides])
        if h.dtype == BF16_BITS:
            return (view.view(np.uint32) >> 16).astype(np.uint16)  # (stored already rounded)
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
        if h.dtype == BF16_BITS:
            bits = int(bf16.encode(value)) << 16
        else:
            bits = int(np.array(value).astype(h.dtype).astype(STORAGE[h.dtype]).view(np.uint32))
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
        self._strided_copy(dst, src)  # the index kernel, with no index arrays

    def contiguous(self, h):
        out = self._new(h.shape, h.dtype)
        self.copy_(out, h)
        return out

    clone = contiguous


    # ---- sync ----------------------------------------------------------------------------------
    def synchronize(self):
        if self._gpu is not None:
            self.queue.flush()
            self.queue.read(self.queue.ring, 0, 4)  # a tiny read-back waits for all submitted work
            self.check_errors()

