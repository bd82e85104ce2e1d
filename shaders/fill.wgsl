// Fill n 32-bit words of `out`, starting at word `offset`, with one bit pattern
// (an f32, i32 or bool value, already encoded as u32 on the host).
struct Params { offset: u32, n: u32, bits: u32, row: u32 }

@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    // 2-D grid: more than 65,535 workgroups of one row are spread over y
    let i = gid.y * p.row + gid.x;
    if (i < p.n) {
        out[p.offset + i] = p.bits;
    }
}
