// Layer norm of each row of a contiguous [rows, n] input: one workgroup per row.
// The mean, then the centred sum of squares (two passes: no cancellation), then
// y = (x - mean) * rstd * w + b. The row's mean and rstd are kept for backward.
struct Params {
    rows: u32, n: u32, x_off: u32, row_groups: u32,
    w_off: u32, b_off: u32, eps: f32, affine: u32,  // affine: 1 = weight, 2 = bias
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;  // [rows, 2]: mean, rstd
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read> b: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let row = wid.y * p.row_groups + wid.x;
    if (row >= p.rows) {
        return;
    }
    let lid = lid3.x;
    let base = p.x_off + row * p.n;
    let inv_n = 1.0 / f32(p.n);
    var s = 0.0;
    for (var j = lid; j < p.n; j += 256u) {
        s += x[base + j];
    }
    let mean = row_reduce(lid, s, false) * inv_n;
    s = 0.0;
    for (var j = lid; j < p.n; j += 256u) {
        let d = x[base + j] - mean;
        s += d * d;
    }
    let rstd = inverseSqrt(row_reduce(lid, s, false) * inv_n + p.eps);
    for (var j = lid; j < p.n; j += 256u) {
        var y = (x[base + j] - mean) * rstd;
        if ((p.affine & 1u) != 0u) {
            y *= w[p.w_off + j];
        }
        if ((p.affine & 2u) != 0u) {
            y += b[p.b_off + j];
        }
        out[row * p.n + j] = $STORE_Y;
    }
    if (lid == 0u) {
        stats[2u * row] = mean;
        stats[2u * row + 1u] = rstd;
    }
}
