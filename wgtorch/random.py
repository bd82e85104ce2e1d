"""The cpu random generator: PyTorch's Mersenne Twister stream and transforms.

A Generator wraps NumPy's MT19937 seeded the way PyTorch seeds its CPU
generator (the 32-bit init_genrand), so ``manual_seed(s); rand(n)`` gives
PyTorch's numbers. Draws come out as raw 32-bit words (vectorised C)."""
import math

import numpy as np

from .device import device as _device

DEFAULT_SEED = 67280421310721  # PyTorch's default CPU seed


class Generator:
    def __init__(self, device="cpu"):
        self.device = _device(device)
        self._mt = np.random.MT19937()
        self.manual_seed(DEFAULT_SEED)

    def manual_seed(self, seed):
        seed = int(seed)
        if seed < 0:
            seed += 1 << 64
        if not 0 <= seed < 1 << 64:
            raise RuntimeError("Overflow when unpacking long long")
        self._seed = seed
        self._mt._legacy_seeding(seed & 0xFFFFFFFF)
        self.philox_offset = 0  # blocks of 4 words drawn by the wgpu device's Philox
        self._next_double_normal = None  # Box-Muller's cached second value
        return self

    def initial_seed(self):
        return self._seed

    def seed(self):
        import os
        s = int.from_bytes(os.urandom(8), "little") & ((1 << 63) - 1)
        self.manual_seed(s)
        return s

    def get_state(self):
        import pickle
        from .ops.creation import tensor
        blob = pickle.dumps((self._seed, self._mt.state, self._next_double_normal, self.philox_offset))
        return tensor(np.frombuffer(blob, dtype=np.uint8).copy())

    def set_state(self, state):
        import pickle
        self._seed, st, self._next_double_normal, self.philox_offset = pickle.loads(state.numpy().tobytes())
        self._mt.state = st
        return self

    # ---- raw streams ---------------------------------------------------------------
    def random32(self, n):
        return self._mt.random_raw(n).astype(np.uint64)

    def random64(self, n):
        r = self._mt.random_raw(2 * n).astype(np.uint64).reshape(n, 2)
        return (r[:, 0] << np.uint64(32)) | r[:, 1]

    # ---- PyTorch's transforms ------------------------------------------------------------
    def uniform(self, n, np_dtype):
        """U[0, 1) as PyTorch draws it: 24 random bits for float32/half, 53 for float64."""
        if np_dtype == np.float64:
            return (self.random64(n) & np.uint64((1 << 53) - 1)).astype(np.float64) * 2.0 ** -53
        return ((self.random32(n) & np.uint64(0xFFFFFF)).astype(np.float32) * np.float32(2.0 ** -24)
                ).astype(np_dtype)

    def normal(self, n, np_dtype, mean=0.0, std=1.0):
        if n >= 16:
            return self._normal_fill(n, np_dtype, mean, std)
        out = np.empty(n, np.float64)
        for i in range(n):
            out[i] = self._normal_double() * std + mean
        return out.astype(np_dtype)

    def _normal_double(self):
        if self._next_double_normal is not None:
            v, self._next_double_normal = self._next_double_normal, None
            return v
        u1, u2 = self.uniform(2, np.float64)
        r = math.sqrt(-2.0 * math.log1p(-u2))
        theta = 2.0 * math.pi * u1
        self._next_double_normal = r * math.sin(theta)
        return r * math.cos(theta)

    def _normal_fill(self, n, np_dtype, mean, std):
        """Box-Muller over blocks of 16 uniforms (pairs i, i+8), the tail block
        redrawn over the last 16 elements, as PyTorch's normal_fill."""
        ct = np.float64 if np_dtype == np.float64 else np.float32
        data = self.uniform(n, ct)
        m, s = ct(mean), ct(std)

        def block(d):
            u1 = ct(1) - d[..., :8]
            u2 = d[..., 8:]
            radius = np.sqrt(ct(-2) * np.log(u1))
            theta = ct(2.0 * math.pi) * u2
            return np.concatenate((radius * np.cos(theta) * s + m, radius * np.sin(theta) * s + m), axis=-1)

        full = n - n % 16
        data[:full] = block(data[:full].reshape(-1, 16)).reshape(-1)
        if n % 16:
            tail = self.uniform(16, ct)
            data[n - 16:] = block(tail)
        return data.astype(np_dtype)

    def random_below(self, n, bound, wide_from=1 << 28):
        """Integers in [0, bound): 32 random bits modulo bound, or 64 where bound >= wide_from (2**28 in
        torch's random_from_to, 2**32 in its random_()). A bound of 2**64 is the full range: the 64
        bits themselves, as int64."""
        if bound >= wide_from:
            bits = self.random64(n)
            if bound >= 1 << 64:
                return bits.view(np.int64)
            return (bits % np.uint64(bound)).astype(np.int64)
        return (self.random32(n) % np.uint64(bound)).astype(np.int64)


default_generator = Generator()


def manual_seed(seed):
    default_generator.manual_seed(seed)
    return default_generator


def seed():
    return default_generator.seed()


def initial_seed():
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(state):
    default_generator.set_state(state)


def gen(generator):
    return default_generator if generator is None else generator
