"""wgpu batched strided matmul: the kernel chosen per adapter and layout."""
import numpy as np

from .array import STORAGE
from .base import _LOOP_MAX
from ...shaders_path import read_shader
from .kernels import WGSL_T, kind, matmul_source, matmul_texture_source, out_type

_MAX_TEXTURES = 8     # packed operands kept for reuse (by size)
_TEXTURE_MIN = 1 << 18  # M*N*K from which packing into textures pays off
_TEXTURE_BATCHES = 256  # (three dispatches per batch)


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
        if self._software and a.dtype == np.float32 and self._textures_fit(m, n, kk, nbatch) and \
                max(a.storage.buffer.size, b.storage.buffer.size, out.storage.buffer.size) <= self.max_binding:
            # (larger buffers go on to the storage kernels, whose bind groups refuse them by name)
            if out.size:
                self._matmul_textures(a, abs_, b, bbs, out, m, n, kk, nbatch)
            return out
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
        pipe, bgl = self._pipeline(key, 4, source, writable=(0, 3))
        if out.size:
            bufs = [out.storage.buffer, a.storage.buffer, b.storage.buffer, self.errors]
            self.unchecked = self.unchecked or t == "i32"  # integer products are checked on the device
            tile_n = 128 if vec4 else 32 if blocked else 16  # C elements per workgroup side
            tile_m = 32 if blocked else 16
            self.queue.dispatch(pipe, self._bind_group(key, bgl, bufs, size),
                                (-(-n // tile_n), -(-m // tile_m), nbatch), (off,))
        return out


    # ---- software adapters: operands through textures -----------------------------------
    # lavapipe turns every storage-buffer (and workgroup-memory) load into a loop over
    # its SIMD lanes, but compiles texture loads to gathers: packing A and B into
    # rgba32float textures first makes a large matmul ~15x faster there.
    def _textures_fit(self, m, n, kk, nbatch):
        lim = self.dev.limits["max-texture-dimension-2d"]
        return (m * n * kk >= _TEXTURE_MIN and nbatch <= _TEXTURE_BATCHES and kk <= lim and
                -(-m // 16) * 4 <= lim and -(-n // 16) * 4 <= lim)

    def _matmul_textures(self, a, abs_, b, bbs, out, m, n, kk, nbatch):
        tile = 16 if min(m, n) >= 512 else 8  # C rows/columns per thread
        wa, wb = -(-m // tile) * tile // 4, -(-n // tile) * tile // 4
        ta, tb = self._texture(wa, kk, 0), self._texture(wb, kk, 1)
        pack = self._texture_pipeline("pack_texture", ("ro", "tex_w"), read_shader("pack_texture.wgsl"))
        key = ("matmul_texture", tile)
        mm = self._texture_pipeline(key, ("rw", "tex", "tex"),
                                    None if key in self.pipelines else matmul_texture_source(tile, tile))
        for i in range(nbatch):
            # texel (q, r) = src[off + r * s_r + (4q + t) * s_t]: A transposed, B as it is
            for h, off, s_r, s_t, lim, tex, w in ((a, a.offset + i * abs_, a.strides[-1], a.strides[-2], m, ta, wa),
                                                   (b, b.offset + i * bbs, b.strides[-2], b.strides[-1], n, tb, wb)):
                if s_t == 1 and lim == 4 * w and off % 4 == 0 and s_r % 64 == 0:
                    # rows of 4w floats at 256-byte steps are the texture's rows as they are: a plain copy
                    self.queue.copy_to_texture(h.storage.buffer, 4 * off, 4 * s_r, tex[0], w, kk)
                    continue
                words = [off, s_r, s_t, lim, w, kk, 0, 0]
                self._texture_dispatch(pack, ("pack", h.storage.buffer.uid, id(tex[0])), [h.storage.buffer, tex[1]],
                                       words, (-(-w // 8), -(-kk // 8), 1))
            self._texture_dispatch(mm, ("mm", tile, out.storage.buffer.uid, id(ta[0]), id(tb[0])),
                                   [out.storage.buffer, ta[1], tb[1]], [m, n, kk, out.offset + i * m * n],
                                   (-(-n // (tile * 8)), -(-m // (tile * 8)), 1))

    def _texture(self, w, h, role):
        """A pooled rgba32float texture (and its view) of w x h texels for operand `role`."""
        pool = self.__dict__.setdefault("_textures", {})
        key = (w, h, role)
        tex = pool.get(key)
        if tex is None:
            if len(pool) >= _MAX_TEXTURES:  # bind groups may name the textures dropped
                pool.clear()
                self.bind_groups.clear()
            usage = self.wgpu.TextureUsage.TEXTURE_BINDING | self.wgpu.TextureUsage.STORAGE_BINDING | \
                self.wgpu.TextureUsage.COPY_DST
            t = self.dev.create_texture(size=(w, h, 1), format=self.wgpu.TextureFormat.rgba32float, usage=usage)
            tex = pool[key] = (t, t.create_view())
        return tex

    def _texture_pipeline(self, key, bindings, source):
        """A pipeline whose bindings are storage buffers ('ro', 'rw'), storage textures
        written ('tex_w') or float textures read ('tex'), then the uniform parameters."""
        p = self.pipelines.get(key)
        if p is None:
            w = self.wgpu
            kinds = {"ro": {"buffer": {"type": w.BufferBindingType.read_only_storage}},
                     "rw": {"buffer": {"type": w.BufferBindingType.storage}},
                     "tex_w": {"storage_texture": {"access": w.StorageTextureAccess.write_only,
                                                   "format": w.TextureFormat.rgba32float}},
                     "tex": {"texture": {"sample_type": w.TextureSampleType.unfilterable_float}}}
            entries = [dict(binding=i, visibility=w.ShaderStage.COMPUTE, **kinds[b]) for i, b in enumerate(bindings)]
            entries.append({"binding": len(bindings), "visibility": w.ShaderStage.COMPUTE,
                            "buffer": {"type": w.BufferBindingType.uniform, "has_dynamic_offset": True}})
            bgl = self.dev.create_bind_group_layout(entries=entries)
            module = self.dev.create_shader_module(code=source)
            pipe = self.dev.create_compute_pipeline(layout=self.dev.create_pipeline_layout(bind_group_layouts=[bgl]),
                                                    compute={"module": module, "entry_point": "main"})
            p = self.pipelines[key] = (pipe, bgl)
        return p

    def _texture_dispatch(self, pipeline, key, resources, words, groups):
        pipe, bgl = pipeline
        off, size = self._params([w & 0xFFFFFFFF for w in words])
        bg = self.bind_groups.get(key)
        if bg is None:
            entries = [{"binding": i, "resource": {"buffer": r, "offset": 0, "size": r.size}
                        if isinstance(r, self.wgpu.GPUBuffer) else r} for i, r in enumerate(resources)]
            entries.append({"binding": len(resources), "resource": {"buffer": self.queue.ring, "offset": 0,
                                                                     "size": size}})
            bg = self.bind_groups[key] = self.dev.create_bind_group(layout=bgl, entries=entries)
        self.queue.dispatch(pipe, bg, groups, (off,))
