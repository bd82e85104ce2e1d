// softmax / log_softmax of each row of a contiguous [rows, n] f32 input: one
// workgroup per row, three passes (max, sum of exponentials, write).
struct Params { rows: u32, n: u32, in_offset: u32, row_groups: u32 }

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let row = wid.y * p.row_groups + wid.x;
    if (row >= p.rows) {
        return;
    }
    let lid = lid3.x;
    let base = p.in_offset + row * p.n;
    var m = -bitcast<f32>(0x7f800000u);
    for (var j = lid; j < p.n; j += 256u) {
        let x = inp[base + j];
        m = select(max(m, x), x + m, is_nan(x) || is_nan(m));
    }
    m = row_reduce(lid, m, true);
    var s = 0.0;
    for (var j = lid; j < p.n; j += 256u) {
        s += exp(inp[base + j] - m);
    }
    s = row_reduce(lid, s, false);
    for (var j = lid; j < p.n; j += 256u) {
        let z = inp[base + j] - m;
        out[row * p.n + j] = $RESULT;
    }
}
