"""wgpu fused attention forward: softmax(q k^T * scale + bias) @ v, one workgroup per query row."""
from string import Template

from ...shaders_path import read_shader
from .kernels import out_type, scalar_bits, store

MAX_KEYS = 1024  # the scores of one row live in workgroup memory
MAX_DIM = 4096   # a thread's dot product loops over E (lavapipe ends loops past 65,535)


class AttentionOps:
    def attention(self, q, k, v, bias, causal, scale):
        """q (B, L, E), k (B, S, E), v (B, S, Ev), bias (B, L, S) or None -> (B, L, Ev)."""
        B, L, E = q.shape
        S, Ev = k.shape[1], v.shape[2]
        if S > MAX_KEYS or E > MAX_DIM:
            raise RuntimeError(f"wgpu: fused attention over {S} keys of {E} features (at most {MAX_KEYS} keys "
                               f"of {MAX_DIM})")
        q, k, v = (h if self.is_contiguous(h) else self.contiguous(h) for h in (q, k, v))
        if bias is not None and not self.is_contiguous(bias):
            bias = self.contiguous(bias)
        out = self._new((B, L, Ev), q.dtype)
        out_t = out_type(q.dtype)
        key = ("attention", out_t)
        source = None if key in self.pipelines else \
            Template(read_shader("attention.wgsl")).substitute(STORE=store("o", "f", out_t))
        b_ = bias if bias is not None else q
        flags = int(bool(causal)) | (bias is not None) << 1
        self._row_dispatch(key, source, [out.storage.buffer, q.storage.buffer, k.storage.buffer, v.storage.buffer,
                                         b_.storage.buffer],
                           [B * L, L, S, 0, E, Ev, q.offset, k.offset, v.offset, b_.offset, scalar_bits(scale, "f"), flags],
                           B * L)
        return out
