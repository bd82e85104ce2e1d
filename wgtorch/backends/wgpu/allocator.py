"""A caching allocator, like torch.cuda's: freed buffers go back to a pool keyed
by a size bucket and are reused; stats report what tensors hold (allocated)
and what the pool holds from the device (reserved)."""
import os

from ...errors import OutOfMemoryError

_MIN = 256
_LARGE = 1 << 20


def bucket(nbytes):
    """Small sizes round up to a power of two, large ones to a whole MiB."""
    n = max(int(nbytes), _MIN)
    if n <= _LARGE:
        return 1 << (n - 1).bit_length()
    return -(-n // _LARGE) * _LARGE


class Allocator:
    def __init__(self, device, usage, max_buffer, limit=None):
        self.device, self.usage, self.max_buffer = device, usage, max_buffer
        self.pool = {}          # bucket size -> [GPUBuffer]
        # The allocator owns every buffer it made: a tensor only borrows one. Were
        # a buffer reachable only through a tensor, the garbage collector could
        # finalise (release) it before the tensor hands it back to the pool.
        self.owned = set()
        self.allocated = 0      # bytes held by live tensors
        self.reserved = 0       # bytes held from the device (live + pooled)
        self.peak = 0
        env = os.environ.get("WGTORCH_WGPU_MEMORY_LIMIT")  # bytes, for the memory cap
        self.limit = limit if limit is not None else (int(env) if env else None)
        self.on_release = None  # called when buffers are destroyed (caches naming them must go)
        # uids of buffers that held-back work still reads (fusion.py): freed, they wait in
        # `held_back` rather than the pool, so no op of that work is handed one to write
        self.in_use = set()
        self.held_back = []
        # uids of the held-back work's results that tensors still hold (fusion.py writes only those)
        self.held = set()

    def alloc(self, nbytes):
        size = bucket(nbytes)
        if size > self.max_buffer:
            raise OutOfMemoryError(f"wgpu: cannot allocate a buffer of {nbytes} bytes: the device's largest "
                                   f"buffer is {self.max_buffer} bytes ({self.allocated} bytes allocated now)")
        free = self.pool.get(size)
        if free:
            buf = free.pop()
        else:
            if self.limit is not None and self.reserved + size > self.limit:
                self.empty_cache()
                if self.reserved + size > self.limit:
                    raise OutOfMemoryError(
                        f"wgpu out of memory: tried to allocate {size} bytes with {self.allocated} bytes "
                        f"allocated and a limit of {self.limit} bytes (set_per_process_memory_fraction or "
                        f"WGTORCH_WGPU_MEMORY_LIMIT)")
            try:
                buf = self.device.create_buffer(size=size, usage=self.usage)
            except Exception as e:  # wgpu's GPUError: a lost device, or the driver refused the size
                from .context import gpu_error
                raise gpu_error(e) from None
            self.owned.add(buf)
            self.reserved += size
        self.allocated += size
        self.peak = max(self.peak, self.allocated)
        return buf

    def take(self, size):
        """alloc() for a size that is already a bucket: the per-op path pops the pool directly."""
        free = self.pool.get(size)
        if not free:
            return self.alloc(size)
        self.allocated += size
        if self.allocated > self.peak:
            self.peak = self.allocated
        return free.pop()

    def free(self, buf, size, uid):
        """Take back a buffer (its size and uid passed: the per-op path reads no properties)."""
        self.allocated -= size
        self.held.discard(uid)
        if uid in self.in_use:
            self.held_back.append(buf)
        else:
            self.pool.setdefault(size, []).append(buf)

    def release_held_back(self):
        """The held-back work was recorded: its buffers may be reused."""
        self.in_use.clear()
        for buf in self.held_back:
            self.pool.setdefault(buf.size, []).append(buf)
        self.held_back.clear()

    def empty_cache(self):
        if self.pool and self.on_release is not None:
            self.on_release()
        for bufs in self.pool.values():
            for b in bufs:
                self.reserved -= b.size
                self.owned.discard(b)
                b.destroy()
        self.pool.clear()
