"""The cpu random generator: PyTorch's Mersenne Twister stream and transforms, bit for bit.

A Generator wraps NumPy's MT19937 seeded the way PyTorch seeds its CPU generator (the 32-bit
init_genrand), so ``manual_seed(s); rand(n)`` gives PyTorch's numbers. Draws come out as raw 32-bit
words; the transforms below follow PyTorch 2.13's CPU kernels (see each method). The twister and the
float32 Box-Muller run as compiled loops where the machine can build them (_native), else as NumPy
code: the same numbers either way.
The same object also holds the wgpu device's Philox seed and offset.

Bit for bit with torch 2.13 on cpu (tests/test_random_torch_streams.py): rand, randn, randint,
randperm, normal (every overload), the *_like forms, Tensor.uniform_, normal_, random_, bernoulli(_),
exponential_, geometric_, log_normal_, cauchy_, multinomial, dropout masks, nn.init's initialisers,
the layers' default initialisation, the samplers' and random_split's orders, get_rng_state /
set_rng_state (PyTorch's 5056-byte layout, exchangeable both ways). What still differs:
- nn.init.orthogonal_: the draws are torch's, but its QR (MKL's float32 LAPACK in torch, NumPy's
  LAPACK here) rounds differently: last bits differ.
- float32 normals of 16 elements or more on machines where torch lacks AVX2: torch then runs a
  scalar kernel with glibc's logf/sinf/cosf, not reproduced (this module reproduces its AVX2
  kernel; torch on Intel and AMD x86 with AVX2 or AVX512 runs that one).
- bernoulli_ in torch releases before 2.13 took an MKL stream on Intel CPUs; torch 2.13's wheel has
  no MKL random-number code and draws the Mersenne Twister threshold reproduced here everywhere.
- the wgpu device draws from its own Philox stream, not torch's CUDA stream."""
import contextlib
import math

import numpy as np

from . import _native, _normal_fill
from .device import device as _device

DEFAULT_SEED = 67280421310721  # PyTorch's default CPU seed
_STATE_BYTES = 5056            # sizeof(CPUGeneratorImplState): torch.get_rng_state() is this many uint8
_MT_N = 624
NATIVE = True  # the compiled loops (_native) run where they could be built; False: NumPy's code only


class Generator:
    def __init__(self, device="cpu"):
        self.device = _device(device)
        self._mt = np.random.MT19937()
        self._words = np.random.Generator(self._mt)  # the same stream, as uint32 arrays
        self._wgpu_positions = {}  # state bytes -> (Philox seed, offset) at get_state
        self.manual_seed(DEFAULT_SEED)

    def manual_seed(self, seed):
        seed = int(seed)
        if seed < 0:
            seed += 1 << 64
        if not 0 <= seed < 1 << 64:
            raise RuntimeError("Overflow when unpacking long long")
        self._seed = seed
        self._mt._legacy_seeding(seed & 0xFFFFFFFF)
        self._next_double_normal = None  # Box-Muller's cached second value (normal_distribution<double>)
        self._fresh = True  # seeded, nothing drawn: PyTorch's state then says next = 0 (else next = pos)
        self.philox_seed, self.philox_offset = seed, 0  # the wgpu device's stream: Philox blocks drawn
        return self

    def initial_seed(self):
        return self._seed

    def seed(self):
        import os
        s = int.from_bytes(os.urandom(8), "little") & ((1 << 63) - 1)
        self.manual_seed(s)
        return s

    # ---- state: PyTorch's CPUGeneratorImplState layout, so states move between the libraries -----
    def get_state(self):
        from .ops.creation import tensor
        st = self._mt.state["state"]
        pos = int(st["pos"])
        buf = bytearray(_STATE_BYTES)
        np.frombuffer(buf, np.int64, 1, 0)[0] = np.uint64(self._seed).view(np.int64)
        np.frombuffer(buf, np.int32, 2, 8)[:] = (_MT_N + 1 - pos, 1)  # left, seeded
        np.frombuffer(buf, np.uint64, 1, 16)[0] = 0 if self._fresh else pos  # next
        np.frombuffer(buf, np.uint64, _MT_N, 24)[:] = st["key"]
        if self._next_double_normal is not None:
            np.frombuffer(buf, np.float64, 1, 5024)[0] = self._next_double_normal  # normal_y
            np.frombuffer(buf, np.int32, 1, 5040)[0] = 1                            # normal_is_valid
        blob = bytes(buf)
        # PyTorch's layout has no room for the wgpu stream: its position rides along outside the bytes,
        # found again when these exact bytes come back (a few recent states are kept)
        self._wgpu_positions[blob] = (self.philox_seed, self.philox_offset)
        while len(self._wgpu_positions) > 64:
            del self._wgpu_positions[next(iter(self._wgpu_positions))]
        return tensor(np.frombuffer(blob, np.uint8).copy())

    def set_state(self, state):
        from .ops.core import Tensor
        if not isinstance(state, Tensor):
            raise TypeError(f"expected a torch.ByteTensor, but got {type(state).__name__}")
        if str(state.dtype) != "torch.uint8":
            raise RuntimeError(f"expected a torch.ByteTensor, but got a tensor of dtype {state.dtype}")
        buf = np.ascontiguousarray(state.detach().cpu().numpy()).tobytes()
        if len(buf) not in (_STATE_BYTES, 5048):
            raise RuntimeError("Expected either a CPUGeneratorImplStateLegacy of size 5048 or a "
                               f"CPUGeneratorImplState of size 5056 but found the input RNG state size to be {len(buf)}")
        left = int(np.frombuffer(buf, np.int32, 1, 8)[0])
        if not 1 <= left <= _MT_N:
            raise RuntimeError("The input RNG state must have a valid 'left' value between 1 and 624")
        self._seed = int(np.frombuffer(buf, np.uint64, 1, 0)[0])
        key = np.frombuffer(buf, np.uint64, _MT_N, 24).astype(np.uint32)
        self._mt.state = {"bit_generator": "MT19937", "state": {"key": key, "pos": _MT_N + 1 - left}}
        self._fresh = left == 1 and int(np.frombuffer(buf, np.uint64, 1, 16)[0]) == 0
        valid = np.frombuffer(buf, np.int32, 1, 5040)[0]
        self._next_double_normal = float(np.frombuffer(buf, np.float64, 1, 5024)[0]) if valid else None
        if buf in self._wgpu_positions:
            self.philox_seed, self.philox_offset = self._wgpu_positions[buf]
        return self

    def _snapshot(self):
        """Everything, the wgpu stream included (fork_rng)."""
        return (self._seed, self._mt.state, self._next_double_normal, self._fresh, self.philox_seed,
                self.philox_offset)

    def _restore(self, snap):
        self._seed, st, self._next_double_normal, self._fresh, self.philox_seed, self.philox_offset = snap
        self._mt.state = st

    # ---- raw streams ---------------------------------------------------------------------------
    def words(self, n):
        """n raw 32-bit draws (uint32), as PyTorch's random()."""
        self._fresh = self._fresh and n == 0
        lib = _compiled()
        if lib is not None:
            return self._twist_in_c(lib.mt_words, np.empty(n, np.uint32))
        return self._words.integers(0, 1 << 32, size=n, dtype=np.uint32)

    def _twist_in_c(self, fn, out):
        """fn (a compiled loop) continues the NumPy generator's stream into out, in its own state
        (NumPy's {uint32 key[624]; int pos}: _native checks that layout when it loads)."""
        addr = self._mt.ctypes.state_address
        with self._mt.lock:  # (the lock NumPy's own draws take)
            fn(addr, addr + 4 * _MT_N, out.ctypes.data, out.size)
        return out

    def random32(self, n):
        return self.words(n).astype(np.uint64)

    def random64(self, n):
        """PyTorch's random64(): two draws, the first the high word."""
        r = self.words(2 * n).astype(np.uint64).reshape(n, 2)
        return (r[:, 0] << np.uint64(32)) | r[:, 1]

    # ---- PyTorch's transforms ----------------------------------------------------------------------
    def uniform(self, n, np_dtype):
        """U[0, 1) as PyTorch's cpu draws it: 53 random bits of random64() for float64, else the low 24
        bits of random() as a float (rounded to the dtype for half: torch 2.13's rand does the same)."""
        if np_dtype == np.float64:
            return (self.random64(n) & np.uint64((1 << 53) - 1)).astype(np.float64) * 2.0 ** -53
        lib = _compiled()
        if lib is not None:
            self._fresh = self._fresh and n == 0
            return self._twist_in_c(lib.mt_uniform, np.empty(n, np.float32)).astype(np_dtype, copy=False)
        w = self.words(n)
        w &= np.uint32(0xFFFFFF)
        return (w.astype(np.float32) * np.float32(2.0 ** -24)).astype(np_dtype, copy=False)

    def normal(self, n, np_dtype, mean=0.0, std=1.0, bfloat16=False):
        """normal_kernel of PyTorch's CPU: below 16 elements one normal_distribution<double> each
        (Box-Muller in double, the sine cached), mean + z * std fused, cast through float for the
        16-bit types; from 16 on, Box-Muller over blocks of 16 (see normal_fill). bfloat16 values come
        back as float32 (round them to bfloat16)."""
        if n >= 16:
            return self.normal_fill(n, np_dtype, mean, std, bfloat16)
        return _cast_double(self.normal_doubles(n, mean, std), np_dtype, bfloat16)

    def normal_doubles(self, n, mean=0.0, std=1.0):
        """n draws of normal_distribution<double>(mean, std), in order: a cached sine first, then
        Box-Muller pairs (u1, u2 -> r cos, r sin) of which an unused sine stays cached."""
        z = np.empty(n, np.float64)
        k = 0
        if n and self._next_double_normal is not None:
            z[0], self._next_double_normal, k = self._next_double_normal, None, 1
        pairs = (n - k + 1) // 2
        if pairs:
            u = self.uniform(2 * pairs, np.float64).reshape(pairs, 2)
            r = np.sqrt(-2.0 * np.log1p(-u[:, 1]))
            theta = 2.0 * math.pi * u[:, 0]
            both = np.stack((r * np.cos(theta), r * np.sin(theta)), axis=1).reshape(-1)
            z[k:] = both[:n - k]
            if (n - k) % 2:
                self._next_double_normal = float(both[-1])
        return _fma64(z, std, mean)

    def normal_fill(self, n, np_dtype, mean, std, bfloat16=False):
        """PyTorch's normal_fill (n >= 16, contiguous): float64 draws n uniforms, then each block of 16
        gives 16 normals (lanes j, j + 8 a Box-Muller pair); n % 16 leftovers are covered by 16 fresh
        uniforms whose block overwrites the last 16 elements. float32 uses the AVX2 kernel's float
        arithmetic (_normal_fill); float16 and bfloat16 draw 16 float uniforms per block, compute in
        float32 the same way and round."""
        full = n // 16
        if np_dtype == np.float64:
            u = self.uniform(n, np.float64)
            out = np.empty(n, np.float64)
            out[:16 * full] = _double_blocks(u[:16 * full].reshape(-1, 16), mean, std).reshape(-1)
            if n % 16:
                out[n - 16:] = _double_blocks(self.uniform(16, np.float64).reshape(1, 16), mean, std)[0]
            return out
        m, s = float(np.float32(mean)), float(np.float32(std))
        half = np_dtype == np.float16 or bfloat16
        out = self.uniform(16 * full if half else n, np.float32)  # the normals overwrite their uniforms
        if half and n % 16:
            out = np.concatenate((out, np.empty(n % 16, np.float32)))
        _normal_blocks(out[:16 * full].reshape(-1, 16), m, s)
        if n % 16:
            out[n - 16:] = _normal_blocks(self.uniform(16, np.float32).reshape(1, 16), m, s)[0]
        return out if bfloat16 else out.astype(np_dtype, copy=False)

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


def _compiled():
    """The compiled loops, or None (NumPy's code then: the same numbers)."""
    return _native.library() if NATIVE else None


def _normal_blocks(u, mean, std):
    """PyTorch's float32 Box-Muller over the rows of 16 uniforms of u (contiguous), in place."""
    lib = _compiled()
    if lib is None:
        return _normal_fill.normal_blocks(u, mean, std, out=u)
    lib.normal_blocks(u.ctypes.data, len(u), mean, std)
    return u


def _fma64(z, std, mean):
    """z * std + mean as PyTorch's compiled kernels compute it: one fused multiply-add."""
    if std == 1 and mean == 0:
        return z + 0.0  # (-0 becomes +0, as the fused form gives)
    return _normal_fill.fma64(z, np.float64(std), np.float64(mean))


def _cast_double(v, np_dtype, bfloat16=False):
    """static_cast from double: half and bfloat16 go through float, as c10's constructors do."""
    if np_dtype == np.float64:
        return v
    f = v.astype(np.float32)
    return f if (bfloat16 or np_dtype == np.float32) else f.astype(np_dtype)


def _double_blocks(u, mean, std):
    """normal_fill_16 in double (glibc's log and sincos, which NumPy's float64 ufuncs call here)."""
    radius = np.sqrt(np.log(1.0 - u[:, :8]) * -2.0)
    theta = (2.0 * math.pi) * u[:, 8:]
    return _fma64(np.concatenate((radius * np.cos(theta), radius * np.sin(theta)), axis=1), std, mean)


default_generator = Generator()


def manual_seed(seed):
    """Seeds the cpu stream and the wgpu device's Philox stream, as torch.manual_seed seeds all devices."""
    default_generator.manual_seed(seed)
    return default_generator


def manual_seed_wgpu(seed):
    """Seeds only the wgpu device's Philox stream (torch.cuda.manual_seed's counterpart)."""
    seed = int(seed) % (1 << 64)
    default_generator.philox_seed, default_generator.philox_offset = seed, 0


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


@contextlib.contextmanager
def fork_rng(devices=None, enabled=True, _caller="fork_rng", _devices_kw="devices", device_type="cuda"):
    """Runs the block with the generators' states saved and restored afterwards (cpu and wgpu streams)."""
    if not enabled:
        yield
        return
    snap = default_generator._snapshot()
    try:
        yield
    finally:
        default_generator._restore(snap)
