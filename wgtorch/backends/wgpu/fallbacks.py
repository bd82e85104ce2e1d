"""The wgpu host fallbacks: data-dependent sizes and sorting read back, use NumPy, upload."""
from .. import cpu as _cpu


class HostFallbacks:
    def nonzero(self, x):
        return self.from_numpy(_cpu.nonzero(self.to_numpy(x)))

    def sort(self, x, dim, descending, stable=True):
        v, i = _cpu.sort(self.to_numpy(x), dim, descending)
        return self.from_numpy(v), self.from_numpy(i)

    def unique(self, x, dim=None, consecutive=False):
        return tuple(self.from_numpy(r) for r in _cpu.unique(self.to_numpy(x), dim, consecutive))

    # creation from host-computed values (an upload, like tensor(...))
    def arange(self, start, step, n, dt):
        return self.from_numpy(_cpu.arange(start, step, n, dt))

    def eye(self, n, m, dt):
        return self.from_numpy(_cpu.eye(n, m, dt))

