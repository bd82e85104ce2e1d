// dst[i] = src[i] for 32-bit words of two strided views of up to 8 dims: the
// one kernel behind contiguous(), clone() and copy_() with broadcasting
// (a source stride of 0) and negative strides.
struct Params {
    ndim: u32, n: u32, dst_offset: u32, src_offset: u32,
    row: u32, pad0: u32, pad1: u32, pad2: u32,
    shape: array<vec4<u32>, 2>,
    dst_strides: array<vec4<i32>, 2>,
    src_strides: array<vec4<i32>, 2>,
}

@group(0) @binding(0) var<storage, read_write> dst: array<u32>;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * p.row + gid.x;
    if (i >= p.n) {
        return;
    }
    var rem = i;
    var d = i32(p.dst_offset);
    var s = i32(p.src_offset);
    for (var k = i32(p.ndim) - 1; k >= 0; k--) {
        let size = p.shape[k / 4][k % 4];
        let idx = i32(rem % size);
        rem = rem / size;
        d += idx * p.dst_strides[k / 4][k % 4];
        s += idx * p.src_strides[k / 4][k % 4];
    }
    dst[u32(d)] = src[u32(s)];
}
