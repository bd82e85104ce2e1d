"""wgpu batched strided matmul: the kernel chosen per adapter and layout."""
import numpy as np

from .array import STORAGE
from .base import _LOOP_MAX
from .kernels import WGSL_T, kind, matmul_source, out_type


class LinalgOps:
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
        out_t = out_type(a.dtype)
        # the kernel per adapter and layout: vec4 register blocking for contiguous float32
        # rows on software adapters, scalar register blocking, or workgroup-memory tiles
        vec4 = (self._software and a.dtype == np.float32 and a.strides[-1] == 1 and b.strides[-1] == 1 and
                n % 4 == 0 and b.offset % 4 == 0 and b.strides[-2] % 4 == 0 and bbs % 4 == 0)
        blocked = self._software and kk < _LOOP_MAX  # (the tiled kernel loops K / 16 times)
        vec4 = vec4 and blocked
        key = ("matmul", t, out_t, blocked, vec4)
        layout = "vec4" if vec4 else "blocked" if blocked else "tiled"
        source = None if key in self.pipelines else matmul_source(t, out_t, layout)
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

