// Packs a strided float32 matrix into an rgba32float texture for matmul_texture.wgsl:
// texel (q, r) = (src[off + r*s_r + (4q + t)*s_t] for t in 0..3), zero where 4q + t >= lim.
// Software drivers (Mesa's lavapipe) read textures far faster than storage buffers.
struct Params { off: u32, s_r: u32, s_t: u32, lim: u32, w: u32, h: u32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var dst: texture_storage_2d<rgba32float, write>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let q = gid.x;
    let r = gid.y;
    if (q >= p.w || r >= p.h) {
        return;
    }
    var v = vec4<f32>(0.0);
    let base = p.off + r * p.s_r + 4u * q * p.s_t;
    for (var t = 0u; t < 4u; t++) {
        if (4u * q + t < p.lim) {
            v[t] = src[base + t * p.s_t];
        }
    }
    textureStore(dst, vec2<u32>(q, r), v);
}
