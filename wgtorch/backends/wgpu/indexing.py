"""wgpu gather, scatter, advanced indexing and index_put over strided views."""
import numpy as np

from .array import STORAGE, WgpuArray
from .base import _Dt
from .kernels import WGSL_T, index_source, out_type


class IndexingOps:
    @staticmethod
    def _dims8(*lists):
        out = []
        for lst in lists:
            out += [v & 0xFFFFFFFF for v in lst] + [0] * (8 - len(lst))
        return out

    @staticmethod
    def _layout(v, shape, v_strides, idx=(), idx_strides=(), adv_stride=(), adv_size=()):
        """What the index kernel walks: result `shape`; source word = v.offset +
        sum(coord * v_strides) + sum(idx_j[coord . idx_strides_j] * adv_stride_j)."""
        flat = []
        for st in idx_strides:
            flat += list(st) + [0] * (8 - len(st))
        return {"v": v, "shape": tuple(shape), "v_strides": list(v_strides), "idx": list(idx),
                "idx_strides": flat + [0] * (32 - len(flat)), "adv_stride": list(adv_stride),
                "adv_size": list(adv_size)}

    def _along(self, x, dim, index):
        """torch.gather/scatter's layout: index replaces the coordinate along dim."""
        if x.ndim == 0:
            x = self.view_reshape(x, (1,))
            index = self.view_reshape(index, (1,)) if index.ndim == 0 else index
        st = [0 if k == dim else s for k, s in enumerate(x.strides)]
        return self._layout(x, index.shape, st, [index], [index.strides], [x.strides[dim]], [x.shape[dim]])

    def gather(self, x, dim, index):
        out = self._new(index.shape, x.dtype)
        self._index_run("get", out, x, self._along(x, dim, index), negative_ok=False)
        return out

    def scatter_(self, x, dim, index, src, reduce):
        if reduce not in (None, "add"):
            raise NotImplementedError(f"scatter with reduce={reduce!r} is not implemented on the wgpu device yet")
        if not isinstance(src, WgpuArray):
            src = self.view_expand(self.full((), src, _Dt(x.dtype)), index.shape)
        elif src.dtype != x.dtype:
            src = self.cast(src, _Dt(x.dtype))
        self._index_run("add" if reduce else "put", x, src, self._along(x, dim, index), src.offset, src.strides,
                        negative_ok=False)

    def _strided_copy(self, dst, src):
        """dst = src for two strided views of one shape (src may broadcast)."""
        self._index_run("put", dst, src, self._layout(dst, dst.shape, dst.strides), src.offset, src.strides)

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
        return self._layout(v, shape, v_strides, idx,
                            [[0] * len(before) + list(h.strides) + [0] * len(after) for h in idx],
                            [v.strides[k] for k in pos], [v.shape[k] for k in pos])

    def _index_run(self, mode, data, other, lay, vals_off=0, vals_strides=(), negative_ok=True):
        n = 1
        for s in lay["shape"]:
            n *= s
        idx = lay["idx"]
        t = WGSL_T[STORAGE[lay["v"].dtype]]
        key = ("index", mode, len(idx), t)
        source = None if key in self.pipelines else index_source(mode, len(idx), t)
        pad4 = lambda vals: [v & 0xFFFFFFFF for v in vals] + [0] * (4 - len(vals))  # noqa: E731
        if len(lay["shape"]) > 8:
            raise NotImplementedError("wgpu indexing and copies support at most 8 dimensions; move the tensor to the "
                                      "cpu for this operation")
        words = [n, len(lay["shape"]), 0, len(idx), lay["v"].offset & 0xFFFFFFFF, vals_off & 0xFFFFFFFF,
                 int(negative_ok), 0]
        words += self._dims8(lay["shape"], lay["v_strides"], vals_strides)
        words += pad4([h.offset for h in idx]) + pad4(lay["adv_stride"]) + pad4(lay["adv_size"])
        words += [s & 0xFFFFFFFF for s in lay["idx_strides"]]
        self._run(key, [data.storage.buffer, other.storage.buffer] + [h.storage.buffer for h in idx] + [self.errors],
                  words, n, source=source, row_word=2, writable=(0, 2 + len(idx)))
        if idx:
            self.unchecked = True  # indices are checked on the device
        if mode == "add" and out_type(data.dtype) in ("f16r", "bf16r"):  # atomic adds summed in float32
            self.copy_(data, self._ew("a", [(data, "f")], "f", data.dtype))

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

