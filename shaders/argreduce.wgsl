// Index of the max (or min) of each row of a contiguous [rows, n] input: one
// workgroup per row; NaN wins (the first NaN), ties keep the first index.
struct Params { rows: u32, n: u32, in_offset: u32, row_groups: u32 }

@group(0) @binding(0) var<storage, read_write> out: array<i32>;
@group(0) @binding(1) var<storage, read> inp: array<$IN_T>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> bv: array<$T, 256>;
var<workgroup> bi: array<u32, 256>;

const NONE = 0xffffffffu;

fn nanq(x: $T) -> bool {
    return $NANQ;
}

// should (w, j) replace the current best (v, i)?
fn better(v: $T, i: u32, w: $T, j: u32) -> bool {
    if (j == NONE) { return false; }
    if (i == NONE) { return true; }
    let vn = nanq(v);
    let wn = nanq(w);
    if (vn || wn) { return wn && (!vn || j < i); }
    return w $CMP v || (w == v && j < i);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wid.y * p.row_groups + wid.x;
    if (row >= p.rows) {
        return;
    }
    var v: $T;
    var i = NONE;
    let base = p.in_offset + row * p.n;
    for (var j = lid.x; j < p.n; j += 256u) {
        let w = $T(inp[base + j]);
        if (better(v, i, w, j)) { v = w; i = j; }
    }
    bv[lid.x] = v;
    bi[lid.x] = i;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid.x < s && better(bv[lid.x], bi[lid.x], bv[lid.x + s], bi[lid.x + s])) {
            bv[lid.x] = bv[lid.x + s];
            bi[lid.x] = bi[lid.x + s];
        }
        workgroupBarrier();
    }
    if (lid.x == 0u) {
        out[row] = i32(bi[0]);
    }
}
