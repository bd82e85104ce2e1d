"""Command batching: dispatches are recorded into one pending compute pass and
submitted at sync points (read-back, synchronize) or every MAX_PENDING
dispatches, never once per op. WebGPU runs a queue's work in order, so work
recorded later sees the results of work recorded earlier."""
import numpy as np

MAX_PENDING = 256


class Queue:
    def __init__(self, device, wgpu):
        self.device, self.wgpu = device, wgpu
        self.encoder = None
        self.cpass = None
        self.pending = 0
        self.staging = {}  # size -> [MAP_READ buffer], reused for read-back

    def dispatch(self, pipeline, bind_group, groups, offsets=()):
        if self.cpass is None:
            self.encoder = self.device.create_command_encoder()
            self.cpass = self.encoder.begin_compute_pass()
        self.cpass.set_pipeline(pipeline)
        self.cpass.set_bind_group(0, bind_group, list(offsets))
        self.cpass.dispatch_workgroups(*groups)
        self.pending += 1
        if self.pending >= MAX_PENDING:
            self.flush()

    def flush(self):
        if self.cpass is not None:
            self.cpass.end()
            self.device.queue.submit([self.encoder.finish()])
            self.cpass = self.encoder = None
            self.pending = 0

    def upload(self, buf, offset, data):
        # queue.write_buffer runs before the next submit's commands: pending work
        # that still reads a recycled buffer must be submitted first
        self.flush()
        self.device.queue.write_buffer(buf, offset, data)

    def read(self, buf, offset, nbytes):
        """Bytes [offset, offset + nbytes) of buf, through a pooled staging buffer."""
        if nbytes == 0:
            return np.empty(0, np.uint8)
        from .allocator import bucket
        size = bucket(nbytes)
        pool = self.staging.setdefault(size, [])
        stage = pool.pop() if pool else self.device.create_buffer(
            size=size, usage=self.wgpu.BufferUsage.MAP_READ | self.wgpu.BufferUsage.COPY_DST)
        self.flush()
        enc = self.device.create_command_encoder()
        enc.copy_buffer_to_buffer(buf, offset, stage, 0, nbytes)
        self.device.queue.submit([enc.finish()])
        stage.map_sync(self.wgpu.MapMode.READ, 0, size)
        out = np.frombuffer(stage.read_mapped(0, nbytes, copy=True), np.uint8).copy()
        stage.unmap()
        pool.append(stage)
        return out
