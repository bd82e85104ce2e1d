"""wgtorch.profiler.profile: every op call timed on the CPU (and, on wgpu, on the GPU from
timestamp queries), through the same op interception as the ONNX tracer: nothing is wrapped
outside a profile block."""
import enum
import json
import os
import threading
import time

from .._intercept import intercept
from ..tensor import Tensor

_active = []  # profiles recording now (record_function reports to them)


class ProfilerActivity(enum.Enum):
    """What to record: CPU time, and device (GPU) time; CUDA, MPS and XPU all mean the wgpu device."""
    CPU = 0
    CUDA = 1
    MPS = 2
    XPU = 3


class FunctionEvent:
    """One recorded call: times in nanoseconds (perf_counter), GPU time from its own passes."""
    __slots__ = ("name", "start_ns", "end_ns", "parent", "children", "shapes", "cpu_mem", "gpu_mem", "gpu_self_ns",
                 "tid", "kind")

    def __init__(self, name, parent, shapes, kind):
        self.name, self.parent, self.shapes, self.kind = name, parent, shapes, kind
        self.children = []
        self.start_ns = self.end_ns = 0
        self.cpu_mem = self.gpu_mem = 0
        self.gpu_self_ns = 0.0
        self.tid = threading.get_ident()

    @property
    def key(self):
        return self.name

    @property
    def cpu_time_total(self):  # microseconds, as torch
        return (self.end_ns - self.start_ns) / 1e3

    @property
    def self_cpu_time_total(self):
        return self.cpu_time_total - sum(c.cpu_time_total for c in self.children)

    @property
    def device_time_total(self):
        return (self.gpu_self_ns + sum(c.device_time_total * 1e3 for c in self.children)) / 1e3

    @property
    def self_device_time_total(self):
        return self.gpu_self_ns / 1e3

    cuda_time_total = device_time_total
    self_cuda_time_total = self_device_time_total


def _shapes(args, kwargs):
    return [list(a.shape) if isinstance(a, Tensor) else [] for a in list(args) + list(kwargs.values())]


def _nbytes(out):
    items = out if isinstance(out, (tuple, list)) else [out]
    return sum(t.numel() * t.dtype.itemsize for t in items  # views (t._base set) allocate nothing
               if isinstance(t, Tensor) and t._base is None and t.device.type == "cpu")


class profile:
    """``with profile() as prof:`` records every op run inside; ``prof.key_averages().table()``
    summarises them, ``prof.export_chrome_trace(path)`` writes a trace for chrome://tracing or
    Perfetto. GPU columns (on wgpu) come from timestamp queries; where the adapter has no
    'timestamp-query' they read 'n/a' and the table says why. With ``profile_memory``, CPU Mem
    is the bytes of the new cpu tensors an op returned (views count 0) and GPU Mem the change in the wgpu
    allocator's allocated bytes across the op."""

    def __init__(self, activities=None, schedule=None, on_trace_ready=None, record_shapes=False,
                 profile_memory=False, with_stack=False, with_flops=False, with_modules=False,
                 experimental_config=None, use_cuda=None, **kwargs):
        # by default the GPU is timed when the wgpu device is already in use (as torch: when CUDA is there)
        self._gpu_default = activities is None and not use_cuda
        acts = set(activities) if activities is not None else {ProfilerActivity.CPU, ProfilerActivity.CUDA}
        if use_cuda:
            acts.add(ProfilerActivity.CUDA)
        self.activities = acts
        self.record_shapes, self.profile_memory = record_shapes, profile_memory
        self.on_trace_ready = on_trace_ready
        self._events = []  # every event, in start order
        self._stack, self._gpu, self._be, self._icpt = [], None, None, None
        self.gpu_status = "not requested"  # or "timestamp queries", or why GPU time is unavailable
        self._t0 = 0

    # ---- recording -------------------------------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        self._events, self._stack = [], []
        self._thread = threading.get_ident()
        if self.activities & {ProfilerActivity.CUDA, ProfilerActivity.MPS, ProfilerActivity.XPU}:
            self._start_gpu()
        self._t0 = time.perf_counter_ns()
        self._icpt = intercept(self._hook)
        self._icpt.__enter__()
        _active.append(self)

    def stop(self):
        if self._icpt is None:
            return
        self._icpt.__exit__(None, None, None)
        self._icpt = None
        _active.remove(self)
        if self._gpu is not None:
            self._gpu.drain()
            self._be.queue.timestamps = None
        if self.on_trace_ready is not None:
            self.on_trace_ready(self)

    def step(self):
        """Accepted for schedule-driven loops; every step is recorded."""

    def _start_gpu(self):
        from . import _gpu
        if self._gpu_default and not _gpu.in_use():
            return
        be = _gpu.backend_if_started()
        if be is None:
            self.gpu_status = "unavailable: no wgpu adapter"
            return
        self._be = be
        if not _gpu.supported(be):
            self.gpu_status = "unavailable: the adapter lacks the 'timestamp-query' feature"
            return
        be.queue.end_pass()  # work recorded before the profile is not charged to its ops
        self._gpu = _gpu.Timestamps(be, lambda: self._stack[-1] if self._stack else None)
        be.queue.timestamps = self._gpu.begin_pass
        self.gpu_status = "timestamp queries"

    def _open(self, name, shapes, kind):
        parent = self._stack[-1] if self._stack else None
        ev = FunctionEvent(name, parent, shapes, kind)
        if parent is not None:
            parent.children.append(ev)
        self._events.append(ev)
        if self._gpu is not None:
            self._be.queue.end_pass()  # this op's dispatches begin a pass of their own
        if self.profile_memory and self._be is not None:
            ev.gpu_mem = self._be.alloc.allocated
        self._stack.append(ev)
        ev.start_ns = time.perf_counter_ns()
        return ev

    def _close(self, ev, out):
        ev.end_ns = time.perf_counter_ns()
        self._stack.pop()
        if self._gpu is not None:
            self._be.queue.end_pass()  # the caller's later dispatches are not this op's
            if self._gpu.nearly_full():
                self._gpu.drain()
        if self.profile_memory:
            ev.cpu_mem = _nbytes(out)
            if self._be is not None:
                ev.gpu_mem = self._be.alloc.allocated - ev.gpu_mem

    def _hook(self, name, fn, call, args, kwargs):
        ev = self._open(name, _shapes(args, kwargs) if self.record_shapes else None, "cpu_op")
        out = None
        try:
            out = call(*args, **kwargs)
        finally:
            self._close(ev, out)
        return out

    # ---- results ---------------------------------------------------------------------------
    def key_averages(self, group_by_input_shape=False, group_by_stack_n=0):
        return EventList(self, group_by_input_shape)

    def export_chrome_trace(self, path):
        """Chrome trace event format (JSON): one complete ('X') event per op on the CPU track and,
        with timestamp queries, one per timed GPU pass on a GPU track (GPU clock, shifted to
        start with the first op)."""
        pid = os.getpid()
        out = []
        for ev in self._events:
            e = {"ph": "X", "cat": ev.kind, "name": ev.name, "pid": pid, "tid": ev.tid,
                 "ts": (ev.start_ns - self._t0) / 1e3, "dur": (ev.end_ns - ev.start_ns) / 1e3, "args": {}}
            if ev.shapes is not None:
                e["args"]["Input Dims"] = ev.shapes
            out.append(e)
        if self._gpu is not None and self._gpu.spans:
            first_gpu = min(b for _, b, _ in self._gpu.spans)
            first_cpu = min((ev.start_ns for ev in self._events), default=self._t0) - self._t0
            for ev, b, e in self._gpu.spans:
                out.append({"ph": "X", "cat": "kernel", "name": ev.name, "pid": 0, "tid": 0,
                            "ts": (first_cpu + b - first_gpu) / 1e3, "dur": (e - b) / 1e3,
                            "args": {"clock": "GPU timestamps, aligned to the first CPU op"}})
        out.append({"ph": "M", "name": "process_name", "pid": pid, "args": {"name": "CPU"}})
        if self._gpu is not None and self._gpu.spans:
            out.append({"ph": "M", "name": "process_name", "pid": 0, "args": {"name": "GPU (wgpu queue)"}})
        with open(path, "w") as f:
            json.dump({"traceEvents": out, "displayTimeUnit": "ms",
                       "otherData": {"gpu_time": self.gpu_status}}, f)

    def events(self):
        """Every recorded event (FunctionEvent), in the order they began."""
        return list(self._events)


class _Avg:
    """Totals of the events of one name (and input shapes): times in microseconds, as torch."""

    def __init__(self, key, shapes):
        self.key, self.input_shapes = key, shapes
        self.count = 0
        self.cpu_time_total = self.self_cpu_time_total = 0.0
        self.device_time_total = self.self_device_time_total = 0.0
        self.cpu_memory_usage = self.device_memory_usage = 0

    def add(self, ev):
        self.count += 1
        self.cpu_time_total += ev.cpu_time_total
        self.self_cpu_time_total += ev.self_cpu_time_total
        self.device_time_total += ev.device_time_total
        self.self_device_time_total += ev.self_device_time_total
        self.cpu_memory_usage += ev.cpu_mem
        self.device_memory_usage += ev.gpu_mem

    @property
    def cpu_time(self):
        return self.cpu_time_total / max(self.count, 1)

    @property
    def device_time(self):
        return self.device_time_total / max(self.count, 1)

    cuda_time_total = property(lambda self: self.device_time_total)
    self_cuda_time_total = property(lambda self: self.self_device_time_total)
    cuda_memory_usage = property(lambda self: self.device_memory_usage)
    self_cpu_memory_usage = property(lambda self: self.cpu_memory_usage)
    self_device_memory_usage = property(lambda self: self.device_memory_usage)


_SORT = {"cpu_time_total": "cpu_time_total", "self_cpu_time_total": "self_cpu_time_total", "cpu_time": "cpu_time",
         "count": "count", "cuda_time_total": "device_time_total", "device_time_total": "device_time_total",
         "gpu_time_total": "device_time_total", "self_cuda_time_total": "self_device_time_total",
         "self_device_time_total": "self_device_time_total", "cuda_time": "device_time",
         "device_time": "device_time", "cpu_memory_usage": "cpu_memory_usage",
         "self_cpu_memory_usage": "cpu_memory_usage", "cuda_memory_usage": "device_memory_usage",
         "device_memory_usage": "device_memory_usage", "self_cuda_memory_usage": "device_memory_usage"}


def _fmt_time(us):
    if us >= 1e6:
        return f"{us / 1e6:.3f}s"
    if us >= 1e3:
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


def _fmt_mem(b):
    for unit, size in (("Gb", 1 << 30), ("Mb", 1 << 20), ("Kb", 1 << 10)):
        if abs(b) >= size:
            return f"{b / size:.2f} {unit}"
    return f"{b} b"


class EventList(list):
    """key_averages(): one row per op name (and input shapes when grouped by them)."""

    def __init__(self, prof, by_shape=False):
        rows = {}
        for ev in prof._events:
            key = (ev.name, str(ev.shapes) if by_shape else None)
            rows.setdefault(key, _Avg(ev.name, ev.shapes if by_shape else None)).add(ev)
        super().__init__(rows.values())
        self._prof = prof

    def table(self, sort_by=None, row_limit=100, max_name_column_width=55, header=None, top_level_events_only=False,
              **kwargs):
        prof = self._prof
        rows = list(self)
        if sort_by is not None:
            if sort_by not in _SORT:
                raise ValueError(f"sort_by must be one of {sorted(_SORT)}, not {sort_by!r}")
            rows.sort(key=lambda r: getattr(r, _SORT[sort_by]), reverse=True)
        if row_limit is not None and row_limit >= 0:
            rows = rows[:row_limit]
        top = [ev for ev in prof._events if ev.parent is None]
        self_cpu = sum(ev.self_cpu_time_total for ev in prof._events) or 1e-9
        gpu_cols = prof.gpu_status != "not requested"
        gpu_ok = prof._gpu is not None
        self_gpu = sum(ev.self_device_time_total for ev in prof._events) or 1e-9
        by_shape = any(r.input_shapes is not None for r in rows)
        name_w = min(max([len("Name")] + [len(r.key) for r in rows]) + 2, max_name_column_width)
        cols = [("Name", name_w), ("Self CPU %", 12), ("Self CPU", 12), ("CPU total %", 12), ("CPU total", 12),
                ("CPU time avg", 12)]
        if gpu_cols:
            cols += [("Self GPU", 12), ("Self GPU %", 12), ("GPU total", 12), ("GPU time avg", 12)]
        if prof.profile_memory:
            cols += [("CPU Mem", 12), ("GPU Mem", 12)]
        cols.append(("# of Calls", 12))
        if by_shape:
            cols.append(("Input Shapes", 40))
        line = "  ".join("-" * w for _, w in cols)

        def fmt(values):
            return "  ".join(str(v)[:w].rjust(w) if i else str(v)[:w].ljust(w)
                             for i, (v, (_, w)) in enumerate(zip(values, cols)))

        out = [line, fmt([c for c, _ in cols]), line]
        for r in rows:
            v = [r.key, f"{100 * r.self_cpu_time_total / self_cpu:.2f}%", _fmt_time(r.self_cpu_time_total),
                 f"{100 * r.cpu_time_total / self_cpu:.2f}%", _fmt_time(r.cpu_time_total), _fmt_time(r.cpu_time)]
            if gpu_cols:
                v += ([_fmt_time(r.self_device_time_total), f"{100 * r.self_device_time_total / self_gpu:.2f}%",
                       _fmt_time(r.device_time_total), _fmt_time(r.device_time)] if gpu_ok else ["n/a"] * 4)
            if prof.profile_memory:
                v += [_fmt_mem(r.cpu_memory_usage), _fmt_mem(r.device_memory_usage)]
            v.append(r.count)
            if by_shape:
                v.append(str(r.input_shapes))
            out.append(fmt(v))
        out.append(line)
        out.append(f"Self CPU time total: {_fmt_time(sum(ev.cpu_time_total for ev in top))}")
        if gpu_cols:
            out.append(f"Self GPU time total: {_fmt_time(self_gpu)} (timestamp queries)" if gpu_ok else
                       f"Self GPU time total: n/a (GPU time {prof.gpu_status})")
        return "\n".join(out) + "\n"

    def __str__(self):
        return self.table()


def schedule(*, wait=0, warmup=0, active=1, repeat=0, skip_first=0, **kwargs):
    """torch.profiler.schedule, accepted so that scripts run: wgtorch's profile records every
    step (the schedule is not applied)."""
    return lambda step: None


def tensorboard_trace_handler(dir_name, worker_name=None, use_gzip=False):
    """An on_trace_ready handler writing the chrome trace into dir_name."""
    def handler(prof):
        os.makedirs(dir_name, exist_ok=True)
        name = f"{worker_name or os.getpid()}.{time.time_ns()}.pt.trace.json"
        prof.export_chrome_trace(os.path.join(dir_name, name))
    return handler


class record_function:
    """``with record_function("name"):`` (or as a decorator) marks a span in the active profiles;
    nothing happens when none is recording."""

    def __init__(self, name, args=None):
        self.name = name
        self._evs = []

    def __enter__(self):
        me = threading.get_ident()
        self._evs = [(p, p._open(self.name, None, "user_annotation")) for p in _active if p._thread == me]
        return self

    def __exit__(self, *exc):
        for p, ev in reversed(self._evs):
            if ev in p._stack:
                while p._stack and p._stack[-1] is not ev:  # spans left open inside are closed with it
                    p._close(p._stack[-1], None)
                p._close(ev, None)
        self._evs = []
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with record_function(self.name):
                return fn(*args, **kwargs)
        return wrapped
