// C[b] = A[b] @ B[b] for strided A [.., M, K] and B [.., K, N]; C is contiguous.
// Register blocking without workgroup memory: each thread accumulates a 4x4
// block of C straight from storage (fast on CPU-like drivers such as lavapipe,
// where workgroup barriers are expensive).
$PARAMS  // struct Params: kernels.MATMUL_PARAMS (it must match linalg.py's words)

@group(0) @binding(0) var<storage, read_write> c: array<$T>;
@group(0) @binding(1) var<storage, read> a: array<$T>;
@group(0) @binding(2) var<storage, read> b: array<$T>;
@group(0) @binding(3) var<storage, read_write> err: array<atomic<u32>>;  // integer overflow flag
@group(0) @binding(4) var<uniform> p: Params;

// acc + x * y (integers: checked, a result past int32 sets the device error flag)
$MAC

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let row0 = gid.y * 4u;
    let col0 = gid.x * 4u;
    if (row0 >= p.m || col0 >= p.n) {
        return;
    }
    let batch = i32(wid.z);
    let abase = p.a_off + batch * p.a_bs;
    let bbase = p.b_off + batch * p.b_bs;
    var acc: array<array<$T, 4>, 4>;
    // rows / columns past the edge read the last valid one and are not written
    var ra: array<i32, 4>;
    var cb: array<i32, 4>;
    for (var i = 0u; i < 4u; i++) {
        ra[i] = abase + i32(min(row0 + i, p.m - 1u)) * p.a_sm;
        cb[i] = bbase + i32(min(col0 + i, p.n - 1u)) * p.b_sn;
    }
    for (var kk = 0u; kk < p.k; kk++) {
        let ka = i32(kk) * p.a_sk;
        let kb = i32(kk) * p.b_sk;
        let a0 = a[ra[0] + ka];
        let a1 = a[ra[1] + ka];
        let a2 = a[ra[2] + ka];
        let a3 = a[ra[3] + ka];
        for (var j = 0u; j < 4u; j++) {
            let bv = b[cb[j] + kb];
            acc[0][j] = mac(acc[0][j], a0, bv);
            acc[1][j] = mac(acc[1][j], a1, bv);
            acc[2][j] = mac(acc[2][j], a2, bv);
            acc[3][j] = mac(acc[3][j], a3, bv);
        }
    }
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            if (row0 + i < p.m && col0 + j < p.n) {
                let acc_ij = acc[i][j];
                c[u32(batch) * p.m * p.n + (row0 + i) * p.n + col0 + j] = $STORE;
            }
        }
    }
}
