// Reduce the middle dim of a contiguous [outer, n, inner] input: one thread per (outer, inner)
// pair folds its n elements, neighbouring threads reading neighbouring words. For reduced
// dims that are short or not last (a workgroup per row would idle most of its threads, and
// moving the dim last would cost a copy). Specialised by kernels.py as reduce.wgsl is.
struct Params { count: u32, n: u32, in_offset: u32, row: u32, scale: f32, inner: u32, pad1: u32, pad2: u32 }

@group(0) @binding(0) var<storage, read_write> out: array<$OUT_T>;
@group(0) @binding(1) var<storage, read> inp: array<$IN_T>;
$EXTRA_DECL
@group(0) @binding($PARAM_BINDING) var<uniform> p: Params;

$HELPERS

fn fold(a: $T, b: $T) -> $T {
    return $FOLD;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.y * p.row + gid.x;
    if (row >= p.count) {
        return;
    }
    let base = p.in_offset + (row / p.inner) * p.n * p.inner + row % p.inner;
    var a: $T = $IDENTITY;
    for (var j = 0u; j < p.n; j++) {
        a = fold(a, $LOAD);
    }
    var acc: array<$T, 1>;  // (the shared final write reads acc[0])
    acc[0] = a;
    {
$FINISH
    }
}
