// out[i] = x[... index[i] along dim ...]: torch.gather over strided x and index
// (32-bit words: the element type does not matter). out is contiguous.
struct Params {
    n: u32, ndim: u32, row: u32, dim: u32,
    x_off: i32, i_off: i32, pad0: u32, pad1: u32,
    shape: array<vec4<u32>, 2>,
    x_strides: array<vec4<i32>, 2>,
    i_strides: array<vec4<i32>, 2>,
}

@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read> index: array<i32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * p.row + gid.x;
    if (i >= p.n) {
        return;
    }
    var rem = i;
    var xo = p.x_off;
    var io = p.i_off;
    for (var k = i32(p.ndim) - 1; k >= 0; k--) {
        let size = p.shape[k / 4][k % 4];
        let c = i32(rem % size);
        rem = rem / size;
        io += c * p.i_strides[k / 4][k % 4];
        if (u32(k) != p.dim) {
            xo += c * p.x_strides[k / 4][k % 4];
        }
    }
    let d = i32(p.dim);
    xo += index[io] * p.x_strides[d / 4][d % 4];
    out[i] = x[xo];
}
