// C[b] = A[b] @ B[b] when A's rows and B's rows are contiguous, N % 4 == 0 and B
// is 16-byte aligned: each thread accumulates 4 rows x 16 columns of C in
// vec4 registers, loading B a vec4 at a time (no workgroup memory). Unrolled by
// hand: indexing arrays with a loop variable sends them to memory on some drivers.
struct Params {
    m: u32, n: u32, k: u32, pad0: u32,
    a_off: i32, a_bs: i32, a_sm: i32, a_sk: i32,
    b_off: i32, b_bs: i32, b_sk: i32, b_sn: i32,
}

@group(0) @binding(0) var<storage, read_write> c: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let row0 = gid.y * 4u;
    let q0 = gid.x * 4u;        // first vec4 column of this thread
    let nq = p.n / 4u;          // vec4 columns of C and B
    if (row0 >= p.m || q0 >= nq) {
        return;
    }
    let batch = i32(wid.z);
    let abase = p.a_off + batch * p.a_bs;
    let bbase = (p.b_off + batch * p.b_bs) / 4;
    let bq = p.b_sk / 4;        // vec4s per row of B
    // rows / columns past the edge read the last valid one and are not written
    let ra0 = abase + i32(min(row0 + 0u, p.m - 1u)) * p.a_sm;
    let ra1 = abase + i32(min(row0 + 1u, p.m - 1u)) * p.a_sm;
    let ra2 = abase + i32(min(row0 + 2u, p.m - 1u)) * p.a_sm;
    let ra3 = abase + i32(min(row0 + 3u, p.m - 1u)) * p.a_sm;
    let cq0 = i32(min(q0 + 0u, nq - 1u));
    let cq1 = i32(min(q0 + 1u, nq - 1u));
    let cq2 = i32(min(q0 + 2u, nq - 1u));
    let cq3 = i32(min(q0 + 3u, nq - 1u));
    var c00 = vec4<f32>(0.0); var c01 = vec4<f32>(0.0); var c02 = vec4<f32>(0.0); var c03 = vec4<f32>(0.0);
    var c10 = vec4<f32>(0.0); var c11 = vec4<f32>(0.0); var c12 = vec4<f32>(0.0); var c13 = vec4<f32>(0.0);
    var c20 = vec4<f32>(0.0); var c21 = vec4<f32>(0.0); var c22 = vec4<f32>(0.0); var c23 = vec4<f32>(0.0);
    var c30 = vec4<f32>(0.0); var c31 = vec4<f32>(0.0); var c32 = vec4<f32>(0.0); var c33 = vec4<f32>(0.0);
    for (var kk = 0; kk < i32(p.k); kk++) {
        let brow = bbase + kk * bq;
        let b0 = b[brow + cq0];
        let b1 = b[brow + cq1];
        let b2 = b[brow + cq2];
        let b3 = b[brow + cq3];
        let a0 = a[ra0 + kk];
        c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
        let a1 = a[ra1 + kk];
        c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
        let a2 = a[ra2 + kk];
        c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
        let a3 = a[ra3 + kk];
        c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
    }
    let cbase = u32(batch) * p.m * nq;
    if (row0 + 0u < p.m) {
        let r = cbase + (row0 + 0u) * nq + q0;
        if (q0 + 0u < nq) { c[r + 0u] = c00; }
        if (q0 + 1u < nq) { c[r + 1u] = c01; }
        if (q0 + 2u < nq) { c[r + 2u] = c02; }
        if (q0 + 3u < nq) { c[r + 3u] = c03; }
    }
    if (row0 + 1u < p.m) {
        let r = cbase + (row0 + 1u) * nq + q0;
        if (q0 + 0u < nq) { c[r + 0u] = c10; }
        if (q0 + 1u < nq) { c[r + 1u] = c11; }
        if (q0 + 2u < nq) { c[r + 2u] = c12; }
        if (q0 + 3u < nq) { c[r + 3u] = c13; }
    }
    if (row0 + 2u < p.m) {
        let r = cbase + (row0 + 2u) * nq + q0;
        if (q0 + 0u < nq) { c[r + 0u] = c20; }
        if (q0 + 1u < nq) { c[r + 1u] = c21; }
        if (q0 + 2u < nq) { c[r + 2u] = c22; }
        if (q0 + 3u < nq) { c[r + 3u] = c23; }
    }
    if (row0 + 3u < p.m) {
        let r = cbase + (row0 + 3u) * nq + q0;
        if (q0 + 0u < nq) { c[r + 0u] = c30; }
        if (q0 + 1u < nq) { c[r + 1u] = c31; }
        if (q0 + 2u < nq) { c[r + 2u] = c32; }
        if (q0 + 3u < nq) { c[r + 3u] = c33; }
    }
}
