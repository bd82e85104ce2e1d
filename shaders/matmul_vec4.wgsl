// C[b] = A[b] @ B[b] when A's rows and B's rows are contiguous, N % 4 == 0 and B
// is 16-byte aligned: each thread accumulates 4 rows x 16 columns of C in
// vec4 registers, loading B a vec4 at a time (no workgroup memory).
$PARAMS  // struct Params: kernels.MATMUL_PARAMS (it must match linalg.py's words)

@group(0) @binding(0) var<storage, read_write> c: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> err: array<atomic<u32>>;  // (the layout of every matmul kernel)
@group(0) @binding(4) var<uniform> p: Params;

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
    var ra: array<i32, 4>;
    var cq: array<i32, 4>;
    for (var i = 0u; i < 4u; i++) {
        ra[i] = abase + i32(min(row0 + i, p.m - 1u)) * p.a_sm;
        cq[i] = i32(min(q0 + i, nq - 1u));
    }
    var acc: array<array<vec4<f32>, 4>, 4>;
    for (var kk = 0; kk < i32(p.k); kk++) {
        let brow = bbase + kk * bq;
        let b0 = b[brow + cq[0]];
        let b1 = b[brow + cq[1]];
        let b2 = b[brow + cq[2]];
        let b3 = b[brow + cq[3]];
        for (var i = 0; i < 4; i++) {
            let av = a[ra[i] + kk];
            acc[i][0] += av * b0;
            acc[i][1] += av * b1;
            acc[i][2] += av * b2;
            acc[i][3] += av * b3;
        }
    }
    let cbase = u32(batch) * p.m * nq;
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            if (row0 + i < p.m && q0 + j < nq) {
                c[cbase + (row0 + i) * nq + q0 + j] = acc[i][j];
            }
        }
    }
}
