"""User-written WGSL compute kernels on wgpu tensors: ``wgtorch.wgpu.kernel``.

    SRC = '''
    @group(0) @binding(0) var<storage, read> x: array<f32>;
    @group(0) @binding(1) var<storage, read_write> y: array<f32>;
    struct P { n: u32, alpha: f32 }
    @group(0) @binding(2) var<uniform> p: P;
    @compute @workgroup_size(64)
    fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
        if (gid.x < p.n) { y[gid.x] = p.alpha * x[gid.x]; }
    }'''
    scale = wgtorch.wgpu.kernel(SRC, inputs=1, outputs=1, uniforms=("u32", "f32"))
    y = scale(x, uniforms=(x.numel(), 2.0))          # y: like x, zero-filled before the kernel

Bindings, all in group 0: the `inputs` tensors first (``var<storage, read>``), then
the `outputs` (``var<storage, read_write>``), then, when `uniforms` names their
WGSL scalar types, one ``var<uniform>`` struct of those fields in that order.
Element types: float32 -> ``array<f32>``, int32 and int64 (held as 32-bit words on
this device) -> ``array<i32>``, bool -> ``array<u32>`` (0 or 1). Each tensor is bound
contiguous from its first element with exactly its elements (``arrayLength`` is its
numel); a non-contiguous input is copied first.

The source is compiled once, when kernel() is called; WGSL errors raise
WGSLError with the compiler's text. A call records one dispatch in the backend's
pending queue (like every built-in op): nothing waits until a read-back.

Outputs do not track gradients: wrap the call in an ``autograd.Function`` whose
backward calls another kernel (see examples/custom_kernel.py)."""
import re
import struct
import warnings

import numpy as np

_TYPES = {"f32": "f", "i32": "i", "u32": "I"}  # uniform field types -> struct codes (4 bytes each)
_ELEMENT = {np.dtype(np.float32): "f32", np.dtype(np.int32): "i32", np.dtype(np.int64): "i32",
            np.dtype(np.bool_): "u32"}
_LAYOUTS = {}  # (device, storage bindings, inputs, uniform size) -> (bind group layout, pipeline layout)
_WG_RE = r"@workgroup_size\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?(?:,\s*(\d+)\s*)?,?\s*\)"


class WGSLError(RuntimeError):
    """A user kernel's WGSL did not compile or does not fit its declared bindings."""


def kernel(source, *, inputs, outputs=1, uniforms=(), entry_point="main", workgroup_size=None):
    """Compile WGSL `source` once and return a callable running it on wgpu tensors.

    inputs / outputs: how many tensors the kernel reads / writes (bindings 0, 1, ...).
    uniforms: WGSL scalar types ("u32", "i32", "f32") of the uniform struct's fields.
    workgroup_size: the kernel's workgroup size, read from the source's
    ``@workgroup_size(...)`` when it is written with integer literals."""
    return UserKernel(source, inputs, outputs, uniforms, entry_point, workgroup_size)


class UserKernel:
    def __init__(self, source, inputs, outputs, uniforms, entry_point, workgroup_size):
        from . import backend, context
        if not isinstance(source, str):
            raise TypeError(f"kernel() needs the WGSL source as a str, not {type(source).__name__}")
        if int(inputs) < 0 or int(outputs) < 1:
            raise ValueError(f"a kernel needs inputs >= 0 and outputs >= 1 (got inputs={inputs}, outputs={outputs})")
        bad = [t for t in uniforms if t not in _TYPES]
        if bad:
            raise ValueError(f"uniform types must be among {sorted(_TYPES)}; got {bad}")
        self.source, self.entry_point = source, entry_point
        self.n_in, self.n_out, self.uniforms = int(inputs), int(outputs), tuple(uniforms)
        self.workgroup_size = self._workgroup_size(source, entry_point, workgroup_size)
        if context.adapter() is None:
            raise RuntimeError(context.no_adapter_message())
        self.backend = backend(0)
        self._compile()

    def _compile(self):
        """Pipeline for the current device (again after wgtorch.wgpu.reinit() made a new one)."""
        be = self.backend._init()
        # the uniform struct, padded to 16 bytes; with no uniforms a 16-byte block is
        # still bound (the layout is the same for every kernel, and unused bindings are allowed)
        self.param_size = max(16, -(-4 * len(self.uniforms) // 16) * 16)
        w, n_st = be.wgpu, self.n_in + self.n_out
        entries = [{"binding": i, "visibility": w.ShaderStage.COMPUTE,
                    "buffer": {"type": w.BufferBindingType.read_only_storage if i < self.n_in else
                               w.BufferBindingType.storage}} for i in range(n_st)]
        # min_binding_size makes a uniform struct larger than the declared fields a
        # compile-time error rather than a failure at submit
        entries.append({"binding": n_st, "visibility": w.ShaderStage.COMPUTE,
                        "buffer": {"type": w.BufferBindingType.uniform, "has_dynamic_offset": True,
                                   "min_binding_size": self.param_size}})
        limit = be.dev.limits["max-storage-buffers-per-shader-stage"]
        if n_st > limit:
            raise ValueError(f"a kernel may bind at most {limit} storage buffers on this device; got {n_st}")
        try:
            # one layout per binding signature, kept for the process: the backend's bind-group
            # cache keys on the layout's id(), which must never be reused by a new layout
            key = (id(be.dev), n_st, self.n_in, self.param_size)
            if key not in _LAYOUTS:
                bgl = be.dev.create_bind_group_layout(entries=entries)
                _LAYOUTS[key] = (bgl, be.dev.create_pipeline_layout(bind_group_layouts=[bgl]))
            self.bgl, layout = _LAYOUTS[key]
            module = be.dev.create_shader_module(code=self.source)
            self.pipeline = be.dev.create_compute_pipeline(
                layout=layout, compute={"module": module, "entry_point": self.entry_point})
        except be.wgpu.GPUError as e:
            raise WGSLError(f"WGSL kernel failed to compile or does not match its bindings "
                            f"({self._layout_text()}):\n{e}") from None
        self.max_groups = be.dev.limits["max-compute-workgroups-per-dimension"]
        self._dev = be.dev

    def _layout_text(self):
        n_st = self.n_in + self.n_out
        ins = f"inputs: var<storage, read> at bindings 0..{self.n_in - 1}" if self.n_in else "no inputs"
        return (f"expected in group 0: {ins}; outputs: var<storage, read_write> at bindings "
                f"{self.n_in}..{n_st - 1}; uniforms {self.uniforms}: var<uniform> at binding {n_st}")

    @staticmethod
    def _workgroup_size(source, entry_point, given):
        if given is not None:
            wg = (given,) if isinstance(given, int) else tuple(given)
            return tuple(int(v) for v in wg) + (1,) * (3 - len(wg))
        # the @workgroup_size just before `fn <entry_point>`
        m = re.search(_WG_RE + r"[^;{}]*?\bfn\s+" + re.escape(entry_point) + r"\b", source)
        if m is None:
            return None  # then every call must give grid=
        return tuple(int(g) if g else 1 for g in m.groups())

    def __repr__(self):
        return (f"wgtorch.wgpu.kernel(inputs={self.n_in}, outputs={self.n_out}, uniforms={self.uniforms}, "
                f"workgroup_size={self.workgroup_size}, entry_point={self.entry_point!r})")

    def __call__(self, *tensors, out=None, shape=None, dtype=None, uniforms=(), grid=None, threads=None):
        """Run the kernel on `tensors` (its inputs); returns its output(s).

        Outputs: `out` (tensors to write in place), or new zero-filled tensors of
        `shape` / `dtype` (one each, or a list with one per output; by default the
        first input's shape and dtype). Launch size: `grid` workgroups per dimension,
        or `threads` invocations (rounded up to whole workgroups), by default the first
        output's number of elements."""
        from ...autograd import grad_mode
        if len(tensors) != self.n_in:
            raise TypeError(f"this kernel takes {self.n_in} input tensor(s), got {len(tensors)}")
        for i, t in enumerate(tensors):
            self._check(t, f"input {i}")
        if len(uniforms) != len(self.uniforms):
            raise TypeError(f"this kernel takes {len(self.uniforms)} uniform(s) {self.uniforms}, got {len(uniforms)}")
        if grad_mode.enabled and any(t.requires_grad for t in tensors):
            warnings.warn("wgtorch.wgpu.kernel outputs do not track gradients; wrap the call in an "
                          "autograd.Function with a backward to differentiate through it", stacklevel=2)
        outs = self._outputs(tensors, out, shape, dtype)
        be = self.backend._init()
        if be.dev is not self._dev:  # the device was re-created: compile for the new one
            self._compile()
        # WebGPU forbids binding one buffer read-only and read-write in the same dispatch:
        # an input sharing storage with an output (k(x, out=x)) is read from a copy
        out_bufs = [o._data.storage.buffer for o in outs]
        with grad_mode.no_grad():
            bound = [t if t.is_contiguous() else t.contiguous() for t in tensors]
            bound = [t.clone() if any(t._data.storage.buffer is b for b in out_bufs) else t for t in bound]
        handles = [t._data for t in bound] + [o._data for o in outs]
        # windows: each tensor from its first element, exactly its elements (4 bytes each)
        windows = [(4 * h.offset, 4 * max(h.size, 1)) for h in handles]
        if any((4 * h.offset) % be.align for h in handles):  # a view starting mid-buffer: bind a copy
            return self._misaligned(tensors, outs, uniforms, grid, threads)
        groups = self._groups(grid, threads, outs[0].numel())
        data = struct.pack("<" + "".join(_TYPES[t] for t in self.uniforms),
                           *[self._scalar(v, t) for v, t in zip(uniforms, self.uniforms)])
        data = data + bytes(self.param_size - len(data))
        off = be.queue.params(data)
        bg = be._bind_group(("user", id(self)), self.bgl, [h.storage.buffer for h in handles], self.param_size,
                            windows)
        if all(g > 0 for g in groups):
            be.queue.dispatch(self.pipeline, bg, groups, (off,))
        for o in outs:  # written in place: autograd's version check must see it
            o._vc[0] += 1
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _misaligned(self, tensors, outs, uniforms, grid, threads):
        # bind contiguous copies whose storage starts at offset 0, then copy results back
        from ...autograd import grad_mode
        with grad_mode.no_grad():
            ins = [t.clone() if (4 * t._data.offset) % self.backend.align else t for t in tensors]
            tmp = [o.clone() if (4 * o._data.offset) % self.backend.align else o for o in outs]
            self(*ins, out=tmp, uniforms=uniforms, grid=grid, threads=threads)
            for o, t in zip(outs, tmp):
                if o is not t:
                    o.copy_(t)
        return outs[0] if len(outs) == 1 else tuple(outs)

    @staticmethod
    def _scalar(v, t):
        if t == "f32":
            return float(v)
        v = int(v)
        lo, hi = (0, 2 ** 32 - 1) if t == "u32" else (-2 ** 31, 2 ** 31 - 1)
        if not lo <= v <= hi:
            raise OverflowError(f"uniform value {v} does not fit {t}")
        return v

    def _check(self, t, what):
        import wgtorch
        if not isinstance(t, wgtorch.Tensor):
            raise TypeError(f"kernel {what} must be a wgtorch.Tensor, not {type(t).__name__}")
        if t.device.type != "wgpu":
            raise RuntimeError(f"kernel {what} is on {t.device}; user kernels run on wgpu tensors only "
                               f"(move it with .to('wgpu'))")
        if np.dtype(t._data.dtype) not in _ELEMENT:
            raise TypeError(f"kernel {what} has dtype {t.dtype}; user kernels take float32 (array<f32>), "
                            f"int32 / int64 (array<i32>) and bool (array<u32>) tensors")

    def _outputs(self, tensors, out, shape, dtype):
        import wgtorch
        if out is not None:
            outs = list(out) if isinstance(out, (list, tuple)) else [out]
            if len(outs) != self.n_out:
                raise TypeError(f"this kernel writes {self.n_out} output(s); out= gave {len(outs)}")
            for i, o in enumerate(outs):
                self._check(o, f"output {i}")
                if not o.is_contiguous():
                    raise RuntimeError(f"kernel output {i} must be contiguous (it is written in place)")
            return outs
        shapes = self._per_output(shape, "shape", tensors[0].shape if tensors else None)
        dtypes = self._per_output(dtype, "dtype", tensors[0].dtype if tensors else wgtorch.float32)
        if any(s is None for s in shapes):
            raise TypeError("a kernel without inputs needs shape= for its outputs")
        outs = [wgtorch.zeros(tuple(s), dtype=d, device="wgpu") for s, d in zip(shapes, dtypes)]
        for i, o in enumerate(outs):
            self._check(o, f"output {i}")
        return outs

    def _per_output(self, v, name, default):
        if v is None:
            return [default] * self.n_out
        # one shape is a tuple of ints; several are a list/tuple of shapes
        several = name == "dtype" and isinstance(v, (list, tuple)) or \
            name == "shape" and isinstance(v, (list, tuple)) and len(v) > 0 and not isinstance(v[0], (int, np.integer))
        vs = list(v) if several else [v]
        if len(vs) != self.n_out:
            raise TypeError(f"this kernel writes {self.n_out} output(s); {name}= gave {len(vs)}")
        return vs

    def _groups(self, grid, threads, n_default):
        if grid is not None:
            groups = (grid,) if isinstance(grid, int) else tuple(grid)
            groups = tuple(int(g) for g in groups) + (1,) * (3 - len(groups))
        else:
            if self.workgroup_size is None:
                raise TypeError("the source's @workgroup_size is not a literal: give workgroup_size= to kernel() "
                                "or grid= to the call")
            t = (n_default,) if threads is None else (threads,) if isinstance(threads, int) else tuple(threads)
            t = tuple(int(v) for v in t) + (1,) * (3 - len(t))
            groups = tuple(-(-n // w) for n, w in zip(t, self.workgroup_size))
        if len(groups) != 3 or any(g < 0 for g in groups):
            raise ValueError(f"grid must be up to 3 non-negative workgroup counts, got {groups}")
        if any(g > self.max_groups for g in groups):
            raise ValueError(f"grid {groups} exceeds the device's {self.max_groups} workgroups per dimension; "
                             f"use a 2-D grid (and index with gid.y) or more threads per workgroup")
        return groups
