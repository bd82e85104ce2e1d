// out[i] = EXPR(a, b, c) for up to three strided inputs broadcast to the
// output's shape (a stride of 0 repeats a value). The output is contiguous.
// Specialised by kernels.py: the output type, input bindings, loads and expression,
// and the indexing: the N-d strided walk, or none when every input is contiguous
// or a single broadcast value (the fast path).
struct Params {
    n: u32, ndim: u32, row: u32, out_offset: u32,
    scalars: vec4<u32>,           // Python scalars, as 32-bit patterns
    offsets: vec4<i32>,           // element offsets of the inputs
    shape: array<vec4<u32>, 2>,
    strides: array<vec4<i32>, 6>, // inputs' strides: input k uses strides[2k], strides[2k+1]
}

@group(0) @binding(0) var<storage, read_write> out: array<$OUT_T>;
$IN_DECLS
@group(0) @binding($PARAM_BINDING) var<uniform> p: Params;

$HELPERS

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * p.row + gid.x;
    if (i >= p.n) {
        return;
    }
    var o = p.offsets;
$INDEX
$LOADS
    out[p.out_offset + i] = $EXPR;
}
