// A run of elementwise ops over one shape, fused into one kernel by
// backends/wgpu/fusion.py. Thread i computes element i of every op in order,
// keeping each result in a register: an op reads an earlier op's result from that
// register, and other tensors from the x bindings (contiguous, one broadcast value
// or strided). Results still referenced outside the run are written to the y
// bindings (fresh contiguous buffers). Per-op offsets, strides and scalars are
// words of p.w, in the order the generator assigned them. (is_nan and nan are
// prepended by kernels.with_helpers.)
struct Params {
    n: u32, ndim: u32, row: u32, pad: u32,
    shape: array<vec4<u32>, 2>,
    w: array<vec4<u32>, $N_WORDS>,
}

$DECLS
@group(0) @binding($PARAM_BINDING) var<uniform> p: Params;

$HELPERS

@compute @workgroup_size($WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * p.row + gid.x;
    if (i >= p.n) {
        return;
    }
$BODY
}
