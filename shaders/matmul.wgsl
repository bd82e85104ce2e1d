// C[b] = A[b] @ B[b] for strided A [.., M, K] and B [.., K, N] (any row/column
// strides, so transposed views need no copy); C is contiguous. 16x16 tiles
// in workgroup memory; the batch is the z dimension of the grid.
$PARAMS  // struct Params: kernels.MATMUL_PARAMS (it must match linalg.py's words)

@group(0) @binding(0) var<storage, read_write> c: array<$T>;
@group(0) @binding(1) var<storage, read> a: array<$T>;
@group(0) @binding(2) var<storage, read> b: array<$T>;
@group(0) @binding(3) var<storage, read_write> err: array<atomic<u32>>;  // integer overflow flag
@group(0) @binding(4) var<uniform> p: Params;

// acc + x * y (integers: checked, a result past int32 sets the device error flag)
$MAC

var<workgroup> ta: array<array<$T, 16>, 16>;
var<workgroup> tb: array<array<$T, 16>, 16>;

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(workgroup_id) wid: vec3<u32>) {
    let row = gid.y;
    let col = gid.x;
    let batch = i32(wid.z);
    var acc: $T = $T(0);
    let tiles = (p.k + 15u) / 16u;
    for (var t = 0u; t < tiles; t++) {
        let ka = t * 16u + lid.x;
        let kb = t * 16u + lid.y;
        var va: $T = $T(0);
        var vb: $T = $T(0);
        if (row < p.m && ka < p.k) {
            va = a[p.a_off + batch * p.a_bs + i32(row) * p.a_sm + i32(ka) * p.a_sk];
        }
        if (col < p.n && kb < p.k) {
            vb = b[p.b_off + batch * p.b_bs + i32(kb) * p.b_sk + i32(col) * p.b_sn];
        }
        ta[lid.y][lid.x] = va;
        tb[lid.y][lid.x] = vb;
        workgroupBarrier();
        for (var j = 0u; j < 16u; j++) {
            acc = mac(acc, ta[lid.y][j], tb[j][lid.x]);
        }
        workgroupBarrier();
    }
    if (row < p.m && col < p.n) {
        c[u32(batch) * p.m * p.n + row * p.n + col] = $STORE;
    }
}
