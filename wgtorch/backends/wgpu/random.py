"""wgpu random numbers: Philox 4x32-10 on the device."""
from .kernels import out_type, random_source, scalar_bits


class RandomOps:
    def random(self, kind_, shape, dt, gen, a, b):
        """uniform [a, b), normal (mean a, std b) or integers [a, b), from the
        generator's Philox seed and offset (which advances by the blocks used)."""
        out = self._new(tuple(shape), self._logical(dt))
        blocks = -(-out.size // 4)
        seed, off = gen.philox_seed, gen.philox_offset
        gen.philox_offset += blocks
        rng = 0
        if kind_ == "randint":
            rng = int(b) - int(a)
            if not 0 < rng < 1 << 32:
                raise RuntimeError(f"wgpu randint supports ranges up to 2**32, got {rng}")
        out_t = out_type(out.dtype)
        key = ("random", kind_, out_t)
        source = None if key in self.pipelines else random_source(kind_, out_t)
        fbits = [scalar_bits(v, "f") if kind_ != "randint" else 0 for v in (a, b)]
        words = [out.size, 0, seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF, off & 0xFFFFFFFF, (off >> 32) & 0xFFFFFFFF,
                 int(a) & 0xFFFFFFFF if kind_ == "randint" else 0, rng & 0xFFFFFFFF] + fbits + [0, 0]
        self._run(key, [out.storage.buffer], words, blocks, source=source, row_word=1)
        return out

