"""Elementwise fusion. Eager code calls many tiny elementwise ops, and each dispatch
costs far more on the host than its arithmetic on the device. So elementwise
dispatches are held back in a group and sent just before the next other command
(a reduction, a matmul, a copy, a read-back, a submit): a group whose structure has
run HOT times before becomes one generated kernel, a colder one is sent as the
per-op kernels it was recorded as (no compile for one-off sequences).

A group is a run of ops with one output shape. Thread i of the fused kernel
computes element i of each op in order, so an op may read an earlier op's result
only at the same element (a contiguous read at offset 0 of the buffer it wrote);
any other read of such a buffer, or an op writing a buffer the group reads from
outside, ends the group first. Outputs whose storage is gone by the time the group
is sent stay in registers: a chain of temporaries writes only what survives."""
import itertools
import os
import warnings
from string import Template

from ...shaders_path import read_shader
from .kernels import HELPERS, convert, decl, store

# ops per fused kernel: each one sent costs ~20 µs on the host and ~20 on lavapipe, so 128 ops spend
# 0.3 µs less per op than 64 did; a 128-op kernel compiles in ~6 ms
MAX_OPS = 128
WG = 64            # threads per workgroup (lavapipe runs a whole workgroup even for a few elements)
_MAX_BINDINGS = 16  # storage buffers per fused kernel (WebGPU guarantees 8; adapters give more)
_MAX_SEEN = 8192
# runs of a group structure sent per op before it is compiled (0: fuse at first sight);
# WGTORCH_WGPU_FUSION=0 turns fusion off
HOT = int(os.environ.get("WGTORCH_WGPU_FUSE_AFTER", "3"))
ENABLED = os.environ.get("WGTORCH_WGPU_FUSION", "1") != "0"


class Fusion:
    def __init__(self, backend, max_bindings):
        self.be = backend
        self.room = min(_MAX_BINDINGS, max_bindings) - 4  # bindings left once an op's (up to 3 + 1) are added
        self.seen = {}      # group structure -> [its id, runs so far]
        self.failed = set()  # ids of structures whose fused kernel did not compile (sent per op instead)
        self._reset()

    def _reset(self):
        self.ops = []       # per op: (plan, output buffer, (kernel id, *wiring), parameter words)
        self.shape = None
        self.producer = {}  # buffer uid -> index of the op that wrote it
        alloc = self.be.alloc
        self.reads = alloc.in_use  # uids of the buffers the group reads from outside
        alloc.release_held_back()
        self.held = alloc.held  # uids of the group's outputs that tensors still hold (freeing one drops it)
        self.held.clear()
        self.ext = {}       # (buffer uid, storage type) -> binding slot
        self.ext_bufs = []
        # the op count at which the group is looked at again before it grows (_make_room): at
        # MAX_OPS, or where the bindings could pass the limit, had every output stayed held
        self.check_at = min(MAX_OPS, self.room + 1)

    def add(self, plan, handles, sbits, out):
        """Hold back one elementwise dispatch: its plan (elementwise.py), input handles,
        scalar words and output storage. False when it cannot be: an input's buffer is larger
        than one binding (the caller sends it by itself, in chunks)."""
        ops = self.ops
        n = len(ops)
        if n and (n >= self.check_at or plan[0] != self.shape or out.uid in self.reads):
            n = self._make_room(plan, out)
            ops = self.ops
        ins = plan[13]
        if len(ins) == 1:  # the common case, one input that an earlier op of the group wrote: wired directly
            h = handles[0]
            p = self.producer.get(h.storage.uid)
            if p is not None and ins[0][0] == "c" and not h.offset and ops[p][0][10] == ins[0][1]:
                self.producer[out.uid] = n
                self.held.add(out.uid)
                ops.append((plan, out.buffer, (plan[12], p), sbits))
                return True
        limit = self.be.max_binding
        for h in handles:
            if h.storage.nbytes > limit:
                return False
        wired = self._wire(plan, handles, sbits)
        if wired is None:  # it reads another thread's element of a result: not in one kernel
            self.emit()
            return self.add(plan, handles, sbits, out)
        self.producer[out.uid] = len(ops)
        self.held.add(out.uid)
        ops.append((plan, out.buffer, wired[0], wired[1]))
        self.shape = plan[0]
        return True

    def _wire(self, plan, handles, sbits):
        """(wiring, words) of an op: its kernel id, then per input the index of the op whose
        result it is, or -1 - its binding slot; the words are this op's part of the fused kernel's
        parameters (outside inputs' offsets and strides, then the scalars). None when an input is
        an earlier result read at another element."""
        wiring, words = [plan[12]], sbits
        producer, ops = self.producer, self.ops
        for h, (lay, t, _) in zip(handles, plan[13]):  # checked before any binding is added for the op
            p = producer.get(h.storage.uid)
            if p is not None and (lay != "c" or h.offset or ops[p][0][10] != t):
                return None
        for h, (lay, t, strides) in zip(handles, plan[13]):
            hs = h.storage
            p = producer.get(hs.uid)
            if p is not None:
                wiring.append(p)
                continue
            slot = self.ext.get((hs.uid, t))
            if slot is None:
                if hs.buffer._device is not self.be.dev:  # a tensor made before reinit(): say so now
                    from .context import STALE
                    raise RuntimeError(STALE)
                slot = self.ext[(hs.uid, t)] = len(self.ext_bufs)
                self.ext_bufs.append(hs.buffer)
                self.reads.add(hs.uid)
                self.check_at -= 1  # one binding fewer for outputs
            wiring.append(-1 - slot)
            if words is sbits:
                words = [h.offset]
            else:
                words.append(h.offset)
            if strides:
                words += strides
        if words is not sbits:
            words += sbits
        return tuple(wiring), words

    def _make_room(self, plan, out):
        """Send the group unless the op fits in it: one shape, at most MAX_OPS ops, no write to
        a buffer the group reads from outside (the allocator holds those back: this is the second
        guard), its bindings (outside inputs, outputs still held, and the op's own) within the
        limit. Returns the number of ops the group holds then."""
        ops = self.ops
        if plan[0] != self.shape or len(ops) >= MAX_OPS or out.uid in self.reads:
            self.emit()
            return 0
        free = self.room - len(self.ext_bufs) - len(self.held)
        if free < 0:
            self.emit()
            return 0
        self.check_at = min(MAX_OPS, len(ops) + free + 1)
        return len(ops)

    def emit(self):
        """Send the group: fused when its structure is hot, else per op."""
        ops, ext_bufs = self.ops, self.ext_bufs
        if not ops:
            return
        live = [False] * len(ops)  # the results still held, each written by the op that wrote it last
        for uid in self.held:
            live[self.producer[uid]] = True
        live = tuple(live)
        self._reset()
        plan = ops[0][0]
        # the structure: kernel ids and wiring of the ops, which results are written, and the outside
        # bindings (the wiring names them all; counted too, as the kernel's source depends on it)
        struct = (plan[4], tuple([r[2] for r in ops]), live, len(ext_bufs))
        # hashed once here: the kernel key is a small id (never reused: the table may be cleared)
        seen = self.seen.get(struct)
        if seen is None:
            if len(self.seen) >= _MAX_SEEN:
                self.seen.clear()
            seen = self.seen[struct] = [next(_STRUCT_IDS), 0]
        seen[1] += 1
        sid, runs = seen
        if len(ops) == 1 or runs <= HOT or not ENABLED or sid in self.failed:
            return self._per_op(ops, ext_bufs)
        be = self.be
        kernel = ("fused", sid)
        bufs = ext_bufs + [r[1] for r, alive in zip(ops, live) if alive]
        writable = tuple(range(len(ext_bufs), len(bufs)))
        if kernel not in be.pipelines:
            try:
                be._pipeline(kernel, len(bufs), fused_source(struct), writable)
            except RuntimeError as e:  # a generator bug must not stop the program: the per-op kernels still work
                self.failed.add(sid)
                warnings.warn(f"wgtorch: a fused elementwise kernel failed to compile; running its ops one by one:"
                              f"\n{e}", RuntimeWarning)
                return self._per_op(ops, ext_bufs)
        words = [plan[2], plan[4], 0, 0] + plan[5][:8]  # n, ndim, (row), shape
        for r in ops:
            words += r[3]
        n_op = len(words) - 12  # p.w: whole vec4s, at least one
        words += [0] * (4 * max(1, -(-n_op // 4)) - n_op)
        be._run(kernel, bufs, words, plan[2], row_word=2, writable=writable, wg=WG)

    def _per_op(self, ops, ext_bufs):
        """Send the group's ops as the single-op kernels they were recorded as."""
        from .elementwise import op_words
        for plan, buf, wiring, words in ops:
            bufs, offs, w = [buf], [], 0
            for j, src in enumerate(wiring[1:]):
                if src >= 0:  # an earlier op's result: its whole fresh buffer
                    bufs.append(ops[src][1])
                    offs.append(0)
                else:
                    bufs.append(ext_bufs[-1 - src])
                    offs.append(words[w])
                    w += 1 + (plan[4] if plan[3][7][j] == "n" else 0)
            self.be._run(plan[3], bufs, op_words(plan, words[w:], offs), plan[2], row_word=2)


def kernel_id(key):
    """A small integer naming an elementwise kernel key (group structures hash these, not keys)."""
    i = _KEY_IDS.get(key)
    if i is None:
        i = _KEY_IDS[key] = len(_KEYS)
        _KEYS.append(key)
    return i


_KEY_IDS, _KEYS = {}, []
_STRUCT_IDS = itertools.count()


def fused_source(struct):
    """The WGSL of one fused group (see shaders/fused.wgsl)."""
    nd, ops, live, n_ext = struct
    ops = [(_KEYS[sig[0]], sig[1:]) for sig in ops]
    word_i = [0]

    def word():
        j = word_i[0]
        word_i[0] += 1
        return f"p.w[{j // 4}][{j % 4}]"

    ext_t, body = {}, []
    if any("n" in key[7] for key, _ in ops):
        body.append("    var rem = i;")
        for d in range(nd - 1, -1, -1):
            size = f"p.shape[{d // 4}][{d % 4}]"
            body.append(f"    let idx{d} = i32(rem % {size});\n    rem = rem / {size};")
    slot = n_ext
    for k, ((_, expr, in_types, in_kinds, scal_kinds, result_k, out_t, layouts), wiring) in enumerate(ops):
        lets = []
        for j, (t, kd, lay, src) in enumerate(zip(in_types, in_kinds, layouts, wiring)):
            if src >= 0:
                value = f"w{src}"
            else:
                ext_t.setdefault(-1 - src, t)
                at = f"bitcast<i32>({word()})"
                if lay == "c":
                    at += " + i32(i)"
                elif lay == "n":
                    at += "".join(f" + idx{d} * bitcast<i32>({word()})" for d in range(nd))
                value = f"x{-1 - src}[{at}]"
            lets.append(f"let v{j} = {convert(value, t, kd)};")
        for j, sk in enumerate(scal_kinds):
            w = word()
            lets.append(f"let s{j} = " + {"f": f"bitcast<f32>({w})", "i": f"bitcast<i32>({w})",
                                          "b": f"({w} != 0u)"}[sk] + ";")
        body.append(f"    var w{k}: {decl(out_t)};\n    {{ {' '.join(lets)} w{k} = {store(expr, result_k, out_t)}; }}")
        if live[k]:
            body.append(f"    y{slot}[i] = w{k};")
            slot += 1
    decls = [f"@group(0) @binding({s}) var<storage, read> x{s}: array<{decl(t)}>;" for s, t in sorted(ext_t.items())]
    decls += [f"@group(0) @binding({n_ext + j}) var<storage, read_write> y{n_ext + j}: array<{decl(ops[k][0][6])}>;"
              for j, k in enumerate(k for k in range(len(ops)) if live[k])]
    return Template(read_shader("fused.wgsl")).substitute(
        N_WORDS=max(1, -(-word_i[0] // 4)), WG=WG, DECLS="\n".join(decls), PARAM_BINDING=slot, HELPERS=HELPERS,
        BODY="\n".join(body))
