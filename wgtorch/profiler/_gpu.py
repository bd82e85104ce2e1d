"""GPU time on wgpu from timestamp queries: while profiling, each op's dispatches run in
compute passes of their own whose beginning and end write timestamps; the profiler reads
them back when it stops (or when the query set fills)."""
import numpy as np

QUERIES = 4096  # WebGPU's largest query set: 2048 passes between read-backs


def backend_if_started():
    """The wgpu backend when the device is available (created now if need be), else None."""
    from .. import wgpu as _wgpu
    if not _wgpu.is_available():
        return None
    from ..backends.wgpu import backend
    return backend(0)._init()


def supported(be):
    """Whether the device can write timestamps at pass boundaries (context.py requests the
    'timestamp-query' feature whenever the adapter has it)."""
    return "timestamp-query" in be.dev.features


def in_use():
    """Whether the wgpu device has been started (some tensor lives there)."""
    from ..backends.wgpu import _backends
    return any(b._gpu is not None for b in _backends.values())


class Timestamps:
    """Pass timestamps attributed to the profiler event that was innermost when the pass began."""

    def __init__(self, be, owner):
        w, dev = be.wgpu, be.dev
        self.be, self.owner = be, owner  # owner(): the event to charge, or None
        self.qs = dev.create_query_set(type=w.QueryType.timestamp, count=QUERIES)
        self.buf = dev.create_buffer(size=QUERIES * 8, usage=w.BufferUsage.QUERY_RESOLVE | w.BufferUsage.COPY_SRC)
        self.passes = []  # event of pass k (queries 2k, 2k + 1)
        self.spans = []  # (event, begin ns, end ns) read back so far
        self.period = _period(dev)

    def begin_pass(self):
        """The queue's hook: timestamp_writes for a pass beginning now (None when full or outside ops)."""
        ev = self.owner()
        k = len(self.passes)
        if ev is None or 2 * k + 2 > QUERIES:
            return None
        self.passes.append(ev)
        return {"query_set": self.qs, "beginning_of_pass_write_index": 2 * k, "end_of_pass_write_index": 2 * k + 1}

    def nearly_full(self):
        return 2 * len(self.passes) + 64 > QUERIES

    def drain(self):
        """Submit pending work, resolve the queries written so far and charge each pass to its event."""
        n = 2 * len(self.passes)
        if not n:
            return
        q = self.be.queue
        q.flush()
        enc = self.be.dev.create_command_encoder()
        enc.resolve_query_set(self.qs, 0, n, self.buf, 0)
        self.be.dev.queue.submit([enc.finish()])
        raw = q.read(self.buf, 0, n * 8).view(np.uint64).astype(np.float64) * self.period
        for k, ev in enumerate(self.passes):
            b, e = raw[2 * k], raw[2 * k + 1]
            if e >= b:
                ev.gpu_self_ns += e - b
                self.spans.append((ev, b, e))
        self.passes = []


def _period(dev):
    """Nanoseconds per timestamp tick (wgpu-native returns raw ticks)."""
    try:
        from wgpu.backends.wgpu_native._ffi import lib
        return float(lib.wgpuQueueGetTimestampPeriod(dev.queue._internal)) or 1.0
    except Exception:  # another wgpu backend: WebGPU's own timestamps are nanoseconds
        return 1.0
