/* The cpu generator's hot loops, compiled at first use (see __init__.py); the NumPy code in
   random.py and _normal_fill.py is the reference they must match bit for bit.

   - mt_words / mt_uniform: the Mersenne Twister (MT19937) continuing NumPy's MT19937 state
     (key[624], pos), as raw 32-bit words or as PyTorch's float uniforms (low 24 bits * 2^-24).
   - normal_blocks: PyTorch 2.13's AVX2 Box-Muller over blocks of 16 float uniforms, the same float
     operations in the same order as _normal_fill.py, fmaf where that kernel fuses.
   Build flags keep the compiler from fusing anything else (-ffp-contract=off). */
#include <math.h>
#include <stdint.h>

#define MT_N 624
#define MT_M 397

static inline uint32_t mix(uint32_t upper, uint32_t lower, uint32_t far) {
    uint32_t y = (upper & 0x80000000u) | (lower & 0x7fffffffu);
    return far ^ (y >> 1) ^ ((0u - (y & 1u)) & 0x9908b0dfu);
}

/* the next 624 words of state (three loops without index wrapping, so that they vectorise) */
static void twist(uint32_t *key) {
    int i;
    for (i = 0; i < MT_N - MT_M; i++)
        key[i] = mix(key[i], key[i + 1], key[i + MT_M]);
    for (; i < MT_N - 1; i++)
        key[i] = mix(key[i], key[i + 1], key[i + MT_M - MT_N]);
    key[MT_N - 1] = mix(key[MT_N - 1], key[0], key[MT_M - 1]);
}

static inline uint32_t temper(uint32_t y) {
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
}

/* n draws continuing the state: raw words into `words`, or PyTorch's float uniforms into `uniform` */
static void mt_fill(uint32_t *key, int32_t *pos, int64_t n, uint32_t *words, float *uniform) {
    int64_t i = 0;
    int p = *pos;
    while (i < n) {
        if (p == MT_N) {
            twist(key);
            p = 0;
        }
        int64_t take = MT_N - p < n - i ? MT_N - p : n - i;
        if (words)
            for (int64_t k = 0; k < take; k++)
                words[i + k] = temper(key[p + k]);
        else
            for (int64_t k = 0; k < take; k++)
                uniform[i + k] = (float)(int32_t)(temper(key[p + k]) & 0xffffffu) * 0x1p-24f;
        i += take;
        p += (int)take;
    }
    *pos = p;
}

void mt_words(uint32_t *key, int32_t *pos, uint32_t *out, int64_t n) { mt_fill(key, pos, n, out, 0); }

void mt_uniform(uint32_t *key, int32_t *pos, float *out, int64_t n) { mt_fill(key, pos, n, 0, out); }

static inline float f32(uint32_t bits) {
    union { uint32_t u; float f; } v = {bits};
    return v.f;
}

static inline uint32_t bits_of(float f) {
    union { float f; uint32_t u; } v = {f};
    return v.u;
}

/* the kernel's log for u1 in [2^-24, 1] */
static inline float kernel_log(float u1) {
    uint32_t b = bits_of(u1);
    float e = (float)((int32_t)(b >> 23) - 127) + 1.0f;
    float m = f32((b & 0x807fffffu) | 0x3f000000u);
    float small = f32((0u - (uint32_t)(m < f32(0x3f3504f3))) & 0x3f800000u);  /* 1 or 0, branch-free */
    e -= small;
    float x = (m - 1.0f) + m * small;
    float z = x * x;
    float y = fmaf(f32(0x3d9021bb), x, f32(0xbdebd1b8));
    y = fmaf(y, x, f32(0x3def251a));
    y = fmaf(y, x, f32(0xbdfe5d4f));
    y = fmaf(y, x, f32(0x3e11e9bf));
    y = fmaf(y, x, f32(0xbe2aae50));
    y = fmaf(y, x, f32(0x3e4cceac));
    y = fmaf(y, x, f32(0xbe7ffffc));
    y = fmaf(y, x, f32(0x3eaaaaaa));
    y = fmaf(y * x, z, e * f32(0xb95e8083));
    y = y - z * 0.5f;
    return e * f32(0x3f318000) + (x + y);
}

/* the kernel's (sin, cos) for t in [0, 2 pi) */
static inline void kernel_sincos(float t, float *restrict sin_out, float *restrict cos_out) {
    int32_t j = (int32_t)(t * f32(0x3fa2f983));
    j = (j + 1) & ~1;
    float y = (float)j;
    float x = t + y * f32(0xbf490000);
    x = x + y * f32(0xb97da000);
    x = fmaf(y, f32(0xb3222169), x);
    float z = x * x;
    float c = fmaf(fmaf(f32(0x37ccf5ce), z, f32(0xbab6061a)), z, f32(0x3d2aaaa5));
    float cos_poly = fmaf(z, z * c, -(z * 0.5f)) + 1.0f;
    float s = fmaf(fmaf(f32(0xb94ca1f9), z, f32(0x3c08839e)), z, f32(0xbe2aaaa3));
    float sin_poly = fmaf(x, z * s, x);
    uint32_t pick = (uint32_t)(((j >> 1) & 1) - 1);
    uint32_t sp = bits_of(sin_poly), cp = bits_of(cos_poly);
    uint32_t js = (uint32_t)j;
    *sin_out = f32(((sp & pick) | (cp & ~pick)) ^ ((js & 4u) << 29));
    *cos_out = f32(((cp & pick) | (sp & ~pick)) ^ (((~(js - 2u)) & 4u) << 29));
}

#define LANES 1024 /* lanes per pass (128 blocks): the temporaries stay in cache */

void normal_blocks(float *u, int64_t blocks, float mean, float std) {
    float u1[LANES], u2[LANES], n1[LANES], n2[LANES];
    int plain = std == 1.0f && mean == 0.0f;
    for (int64_t b0 = 0; b0 < blocks; b0 += LANES / 8) {
        int nb = blocks - b0 < LANES / 8 ? (int)(blocks - b0) : LANES / 8;
        float *v = u + 16 * b0;
        for (int b = 0; b < nb; b++)  /* lane j of a block: u1 = 1 - u[j], u2 = u[j + 8] */
            for (int j = 0; j < 8; j++) {
                u1[8 * b + j] = 1.0f - v[16 * b + j];
                u2[8 * b + j] = v[16 * b + j + 8];
            }
        for (int i = 0; i < 8 * nb; i++) {
            float radius = sqrtf(kernel_log(u1[i]) * -2.0f);
            float sn, cs;
            kernel_sincos(u2[i] * f32(0x40c90fdb), &sn, &cs);
            n1[i] = radius * cs;
            n2[i] = radius * sn;
        }
        for (int b = 0; b < nb; b++)
            for (int j = 0; j < 8; j++) {  /* fma(n, 1, 0) is n with -0 turned to +0 */
                float c = n1[8 * b + j], s = n2[8 * b + j];
                v[16 * b + j] = plain ? c + 0.0f : fmaf(c, std, mean);
                v[16 * b + j + 8] = plain ? s + 0.0f : fmaf(s, std, mean);
            }
    }
}
