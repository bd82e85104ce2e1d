// Counter-based random numbers (Philox 4x32-10): thread t turns the counter
// (offset + t, 0, 0) under the key (seed) into 4 words and writes elements
// 4t .. 4t+3. The same numbers for the same (seed, offset) on every GPU; the
// generator's offset advances by the blocks used. Specialised per output kind.
struct Params {
    n: u32, row: u32, seed_lo: u32, seed_hi: u32,
    off_lo: u32, off_hi: u32, lo: i32, range: u32,
    a: f32, b: f32, pad0: u32, pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<$OUT_T>;
@group(0) @binding(1) var<uniform> p: Params;

fn mulhi(a: u32, b: u32) -> u32 {
    // the high word of a 32x32-bit product, from 16-bit halves (WGSL has no 64-bit ints)
    let al = a & 0xffffu;
    let ah = a >> 16u;
    let bl = b & 0xffffu;
    let bh = b >> 16u;
    let cross = ((al * bl) >> 16u) + ((ah * bl) & 0xffffu) + al * bh;
    return ah * bh + ((ah * bl) >> 16u) + (cross >> 16u);
}

fn philox(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = ctr;
    var k = key;
    for (var r = 0; r < 10; r++) {
        let hi0 = mulhi(0xD2511F53u, c.x);
        let lo0 = 0xD2511F53u * c.x;
        let hi1 = mulhi(0xCD9E8D57u, c.z);
        let lo1 = 0xCD9E8D57u * c.z;
        c = vec4<u32>(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
        k += vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
    }
    return c;
}

fn unit(w: u32) -> f32 {
    return f32(w >> 8u) * 5.9604644775390625e-08;  // 24 bits: [0, 1)
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let t = gid.y * p.row + gid.x;
    if (4u * t >= p.n) {
        return;
    }
    let block = p.off_lo + t;
    let carry = select(0u, 1u, block < p.off_lo);
    let w = philox(vec4<u32>(block, p.off_hi + carry, 0u, 0u), vec2<u32>(p.seed_lo, p.seed_hi));
$PREPARE
    for (var j = 0u; j < 4u; j++) {
        if (4u * t + j < p.n) {
            out[4u * t + j] = $VALUE;
        }
    }
}
