// The weight and bias gradients of layer norm, in partial sums: thread (block, j)
// adds g * xhat and g of column j over one block of rows; the blocks are summed after.
// (A thread per column walking every row would pass lavapipe's loop limit on long inputs.)
struct Params {
    rows: u32, n: u32, x_off: u32, row: u32,  // row: threads per grid row
    g_off: u32, block: u32, blocks: u32, pad: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;  // [2, blocks, n]: weight's, then bias's
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * p.row + gid.x;
    if (i >= p.blocks * p.n) {
        return;
    }
    let blk = i / p.n;
    let j = i % p.n;
    let end = min(p.rows, (blk + 1u) * p.block);
    var sw = 0.0;
    var sb = 0.0;
    for (var r = blk * p.block; r < end; r++) {
        let gv = g[p.g_off + r * p.n + j];
        sw += gv * (x[p.x_off + r * p.n + j] - stats[2u * r]) * stats[2u * r + 1u];
        sb += gv;
    }
    out[i] = sw;
    out[p.blocks * p.n + i] = sb;
}
