// Reduce each row of a contiguous [rows, n] input to one value: one workgroup
// per row, each thread folding a strided slice, then a tree in workgroup memory.
// Specialised by kernels.py: the element types, the fold and its identity, and
// the final write (integer sums add in 64 bits and flag results beyond int32).
struct Params { rows: u32, n: u32, in_offset: u32, row_groups: u32, scale: f32, pad0: u32, pad1: u32, pad2: u32 }

@group(0) @binding(0) var<storage, read_write> out: array<$OUT_T>;
@group(0) @binding(1) var<storage, read> inp: array<$IN_T>;
$EXTRA_DECL
@group(0) @binding($PARAM_BINDING) var<uniform> p: Params;

var<workgroup> acc: array<$T, 256>;

$HELPERS

fn fold(a: $T, b: $T) -> $T {
    return $FOLD;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wid.y * p.row_groups + wid.x;
    if (row >= p.rows) {
        return;  // uniform for the whole workgroup: no barrier is skipped by part of it
    }
    var a: $T = $IDENTITY;
    let base = p.in_offset + row * p.n;
    for (var j = lid.x; j < p.n; j += 256u) {
        a = fold(a, $LOAD);
    }
    acc[lid.x] = a;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid.x < s) {
            acc[lid.x] = fold(acc[lid.x], acc[lid.x + s]);
        }
        workgroupBarrier();
    }
    if (lid.x == 0u) {
$FINISH
    }
}
