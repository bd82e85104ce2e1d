"""wgpu fused layer norm: one workgroup per row forward (statistics and output in one
dispatch) and backward (the input gradient), plus one dispatch of column partial sums
for the weight and bias gradients."""
from string import Template

import numpy as np

from ...shaders_path import read_shader
from .base import _Dt
from .kernels import out_type, scalar_bits, store


def _source(name, var, out_t):
    expr = {"STORE_Y": "y", "STORE_GX": "rstd * (gxh(j, row) - m.x - xhat * m.y)"}[var]
    return Template(read_shader(name + ".wgsl")).substitute({var: store(expr, "f", out_t)})


class NormOps:
    def _ln_rows(self, h):
        if not self.is_contiguous(h):
            h = self.contiguous(h)
        return h

    def layer_norm(self, x, w, b, eps):
        x = self._ln_rows(x)
        rows, n = x.shape
        self._check_row("layer_norm", n)
        out = self._new(x.shape, x.dtype)
        stats = self._new((rows, 2), np.float32)
        out_t = out_type(x.dtype)
        key = ("layer_norm", out_t)
        source = None if key in self.pipelines else _source("layer_norm", "STORE_Y", out_t)
        w_, b_ = (self._ln_rows(t) if t is not None else x for t in (w, b))
        affine = (w is not None) | (b is not None) << 1
        self._row_dispatch(key, source, [out.storage.buffer, stats.storage.buffer, x.storage.buffer,
                                         w_.storage.buffer, b_.storage.buffer],
                           [rows, n, x.offset, 0, w_.offset, b_.offset, scalar_bits(eps, "f"), affine], rows,
                           writable=(0, 1))
        mean = self.view_strided(stats, (rows,), (2,), 0)
        rstd = self.view_strided(stats, (rows,), (2,), 1)
        return out, mean, rstd

    def layer_norm_grad(self, g, x, mean, rstd, w, needs):
        g, x = self._ln_rows(g), self._ln_rows(x)
        rows, n = x.shape
        stats = mean.storage  # mean and rstd interleave in the one [rows, 2] buffer layer_norm made
        gx = gw = gb = None
        if needs[0]:
            gx = self._new(x.shape, x.dtype)
            out_t = out_type(x.dtype)
            key = ("layer_norm_grad", out_t)
            source = None if key in self.pipelines else _source("layer_norm_grad", "STORE_GX", out_t)
            w_ = self._ln_rows(w) if w is not None else x
            self._row_dispatch(key, source, [gx.storage.buffer, x.storage.buffer, g.storage.buffer, stats.buffer,
                                             w_.storage.buffer],
                               [rows, n, x.offset, 0, g.offset, w_.offset, int(w is not None), 0], rows)
        if needs[1] or needs[2]:
            block = 256  # rows per partial sum (a thread's loop; lavapipe ends loops past 65,535)
            blocks = max(-(-rows // block), 1)
            parts = self._new((2, blocks, n), np.float32)
            self._run("layer_norm_wgrad", [parts.storage.buffer, x.storage.buffer, g.storage.buffer, stats.buffer],
                      [rows, n, x.offset, 0, g.offset, block, blocks, 0], blocks * n, row_word=3)
            sums = self.reduce("sum", parts, (1,), False, _Dt(np.float32))
            cast = (lambda h: h) if x.dtype == np.float32 else (lambda h: self.cast(h, _Dt(x.dtype)))
            gw = cast(self.view_index(sums, (0,))) if needs[1] else None
            gb = cast(self.view_index(sums, (1,))) if needs[2] else None
        return gx, gw, gb
