// The input gradient of layer norm, one workgroup per row:
// gx = rstd * (gxh - mean(gxh) - xhat * mean(gxh * xhat)), gxh = g * w, xhat = (x - mean) * rstd.
struct Params {
    rows: u32, n: u32, x_off: u32, row_groups: u32,
    g_off: u32, w_off: u32, affine: u32, pad: u32,  // affine: 1 = weight
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;  // [rows, 2]: mean, rstd
@group(0) @binding(4) var<storage, read> w: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

fn gxh(j: u32, row: u32) -> f32 {
    var v = g[p.g_off + row * p.n + j];
    if ((p.affine & 1u) != 0u) {
        v *= w[p.w_off + j];
    }
    return v;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let row = wid.y * p.row_groups + wid.x;
    if (row >= p.rows) {
        return;
    }
    let lid = lid3.x;
    let base = p.x_off + row * p.n;
    let mean = stats[2u * row];
    let rstd = stats[2u * row + 1u];
    var s0 = 0.0;
    var s1 = 0.0;
    for (var j = lid; j < p.n; j += 256u) {
        let d = gxh(j, row);
        s0 += d;
        s1 += d * (x[base + j] - mean) * rstd;
    }
    let m = vec2<f32>(row_reduce(lid, s0, false), row_reduce(lid, s1, false)) / f32(p.n);
    for (var j = lid; j < p.n; j += 256u) {
        let xhat = (x[base + j] - mean) * rstd;
        out[row * p.n + j] = $STORE_GX;
    }
}
