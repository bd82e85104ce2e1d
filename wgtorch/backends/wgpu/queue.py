"""Command batching: dispatches are recorded into one pending compute pass and
submitted at sync points (read-back, synchronize) or every MAX_PENDING
dispatches, never once per op. WebGPU runs a queue's work in order, so work
recorded later sees the results of work recorded earlier."""
import numpy as np

MAX_PENDING = 256
RING = 1 << 16  # bytes of kernel parameters (a uniform buffer read with dynamic offsets)


class Queue:
    # wgtorch.profiler sets this while it records GPU time: called as each compute pass begins,
    # it returns the pass's timestamp_writes (or None); None here means no queries at all
    timestamps = None

    def __init__(self, device, wgpu):
        self.device, self.wgpu = device, wgpu
        self.encoder = None
        self.cpass = None
        self.pending = 0
        self.fusion = None  # fusion.Fusion: elementwise dispatches held back, sent before any other command
        self.staging = {}  # size -> [MAP_READ buffer], reused for read-back
        # kernel parameters: gathered on the host, uploaded once per submit
        self.ring = device.create_buffer(size=RING, usage=wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST |
                                         wgpu.BufferUsage.COPY_SRC)
        self.ring_host = bytearray(RING)
        self.ring_start = self.ring_pos = 0
        self.ring_align = max(device.limits["min-uniform-buffer-offset-alignment"], 16)

    def params(self, data):
        """Place kernel parameters in the ring; returns their offset."""
        if self.fusion.ops:  # every dispatch places parameters first: held-back work goes before it
            self.fusion.emit()
        n = len(data)
        if self.ring_pos + n > RING:
            self.flush()  # pending dispatches still read the ring's older entries
            self.ring_start = self.ring_pos = 0
        off = self.ring_pos
        self.ring_host[off:off + n] = data
        self.ring_pos = off + -(-n // self.ring_align) * self.ring_align
        return off

    def dispatch(self, pipeline, bind_group, groups, offsets=()):
        if self.cpass is None:
            if self.encoder is None:
                self.encoder = self.device.create_command_encoder()
            tw = self.timestamps() if self.timestamps is not None else None
            self.cpass = self.encoder.begin_compute_pass(timestamp_writes=tw) if tw else \
                self.encoder.begin_compute_pass()
        self.cpass.set_pipeline(pipeline)
        self.cpass.set_bind_group(0, bind_group, list(offsets))
        self.cpass.dispatch_workgroups(*groups)
        self.pending += 1
        if self.pending >= MAX_PENDING:
            self.flush()

    def end_pass(self):
        """End the open compute pass: the next dispatch begins a new one (the profiler times
        each op's dispatches as passes of their own)."""
        if self.fusion.ops:
            self.fusion.emit()
        if self.cpass is not None:
            self.cpass.end()
            self.cpass = None

    def copy(self, src, src_offset, dst, dst_offset, nbytes):
        """A buffer-to-buffer copy, in order with the recorded dispatches."""
        if src._device is not self.device or dst._device is not self.device:  # made before reinit()
            from .context import STALE
            raise RuntimeError(STALE)
        self._copy_encoder().copy_buffer_to_buffer(src, src_offset, dst, dst_offset, nbytes)

    def copy_to_texture(self, src, offset, bytes_per_row, texture, w, h):
        """Rows of a buffer into a w x h texture, in order with the recorded dispatches."""
        self._copy_encoder().copy_buffer_to_texture({"buffer": src, "offset": offset, "bytes_per_row": bytes_per_row},
                                                    {"texture": texture}, (w, h, 1))

    def _copy_encoder(self):
        """The pending encoder, out of any compute pass (copies are recorded outside them), after
        the held-back work; counts the copy about to be recorded."""
        if self.fusion.ops:
            self.fusion.emit()
        if self.cpass is not None:
            self.cpass.end()
            self.cpass = None
        if self.encoder is None:
            self.encoder = self.device.create_command_encoder()
        self.pending += 1
        return self.encoder

    def flush(self):
        if self.fusion.ops:
            self.fusion.emit()
        if self.ring_pos > self.ring_start:  # write_buffer lands before the submit's commands
            start, self.ring_start = self.ring_start, self.ring_pos
            self.upload_raw(self.ring, start, self.ring_host[start:self.ring_pos])
        if self.encoder is not None:
            enc, cpass = self.encoder, self.cpass
            # forget the batch first: a failed submit (a lost device) must not leave a dead
            # encoder behind that every later op would trip over
            self.cpass = self.encoder = None
            self.pending = 0
            try:
                if cpass is not None:
                    cpass.end()
                self.device.queue.submit([enc.finish()])
            except self.wgpu.GPUError as e:
                from .context import gpu_error
                raise gpu_error(e) from None

    def upload(self, buf, offset, data):
        # queue.write_buffer runs before the next submit's commands: pending work
        # that still reads a recycled buffer must be submitted first
        self.flush()
        self.upload_raw(buf, offset, data)

    def upload_raw(self, buf, offset, data):
        try:
            self.device.queue.write_buffer(buf, offset, data)
        except self.wgpu.GPUError as e:
            from .context import gpu_error
            raise gpu_error(e) from None

    def read(self, buf, offset, nbytes):
        """Bytes [offset, offset + nbytes) of buf, through a pooled staging buffer."""
        if nbytes == 0:
            return np.empty(0, np.uint8)
        if buf._device is not self.device:  # a tensor made before wgtorch.wgpu.reinit()
            from .context import STALE
            raise RuntimeError(STALE)
        try:
            return self._read(buf, offset, nbytes)
        except self.wgpu.GPUError as e:
            from .context import gpu_error
            raise gpu_error(e) from None

    def _read(self, buf, offset, nbytes):
        from .allocator import bucket
        size = bucket(nbytes)
        pool = self.staging.setdefault(size, [])
        stage = pool.pop() if pool else self.device.create_buffer(
            size=size, usage=self.wgpu.BufferUsage.MAP_READ | self.wgpu.BufferUsage.COPY_DST)
        self.copy(buf, offset, stage, 0, nbytes)  # after the pending work, in the same submit
        self.flush()
        self._map_read(stage, size)
        out = np.frombuffer(stage.read_mapped(0, nbytes, copy=True), np.uint8)  # (a copy of its own)
        stage.unmap()
        pool.append(stage)
        return out

    # wgpu-py's map for reading first submits an empty command buffer (a wgpu-native
    # workaround for buffers no submit has touched yet). Ours were just written by the submitted
    # copy, so we ask for the mode wgpu-py's own read_buffer uses, which skips that submit (about
    # a tenth of a tiny read-back's time), and fall back to the plain mode if a version lacks it.
    _read_mode = "READ_NOSYNC"

    def _map_read(self, stage, size):
        if self._read_mode is not None:
            try:
                return stage.map_async(self._read_mode, 0, size).sync_wait()
            except (KeyError, ValueError, TypeError, AttributeError):
                Queue._read_mode = None
        stage.map_sync(self.wgpu.MapMode.READ, 0, size)
