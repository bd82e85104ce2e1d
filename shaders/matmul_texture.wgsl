// C = A @ B with both operands read through textures (pack_texture.wgsl), for software
// drivers whose storage-buffer loads are slow (lavapipe: a per-lane loop per load).
// at: width ceil(M/$TM)*$AM texels, height K, texel (q, k) = A[4q..4q+3, k]
// bt: width ceil(N/$TN)*$BN texels, height K, texel (q, k) = B[k, 4q..4q+3]
// (both zero past M and N). Each thread computes a $TM x $TN block of C in vec4
// registers: $AM + $BN texel loads per k. Grid: (ceil(N / ($TN*8)), ceil(M / ($TM*8)), 1).
struct Params { m: u32, n: u32, k: u32, c_off: u32 }

@group(0) @binding(0) var<storage, read_write> c: array<f32>;
@group(0) @binding(1) var at: texture_2d<f32>;
@group(0) @binding(2) var bt: texture_2d<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * ${TM}u;
    let col0 = gid.x * ${TN}u;
    if (row0 >= p.m || col0 >= p.n) {
        return;
    }
    let aq = gid.y * ${AM}u;
    let bq = gid.x * ${BN}u;
$ACCUMULATORS
    for (var k = 0u; k < p.k; k++) {
$LOADS
$FMAS
    }
$STORES
}

// $TN columns of one row of C; rows past M and columns past N are dropped
fn store_row(r: u32, j0: u32, v: array<vec4<f32>, $BN>) {
    if (r >= p.m) {
        return;
    }
    let base = p.c_off + r * p.n + j0;
    if (j0 + ${TN}u <= p.n) {  // a whole block: unrolled stores (no dynamic indexing into v)
$FULL_STORES
        return;
    }
    for (var j = 0u; j < ${TN}u; j++) {
        if (j0 + j < p.n) {
            c[base + j] = v[j / 4u][j % 4u];
        }
    }
}
