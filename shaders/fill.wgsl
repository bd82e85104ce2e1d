// Fill a contiguous f32 buffer with one value: the smallest kernel, used to
// check that shaders ship with the package and compile on the adapter.
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> params: vec4<f32>;  // x: value, y: element count (as f32 bits)

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n = bitcast<u32>(params.y);
    if (gid.x < n) {
        out[gid.x] = params.x;
    }
}
