// The one kernel of strided reads and writes through index arrays: advanced
// indexing and index_put, torch.gather / scatter (one index array replacing the
// coordinate along a dim) and strided copies (no index array). For each element
// i of the result, the word is v_off + sum(coord * stride) over the view's dims
// plus index_j[...] * adv_stride_j for up to four (broadcast) integer arrays.
// The body reads (data[i] = other[src]) or writes (data[src] = other[vo], or an
// atomic add). An index out of range skips its element and sets bit 2 of the
// device error flag, which the next read-back raises (like CUDA's device asserts).
struct Params {
    n: u32, ndim: u32, row: u32, n_idx: u32,
    v_off: i32, vals_off: i32, negative_ok: u32, pad1: u32,
    shape: array<vec4<u32>, 2>,
    v_strides: array<vec4<i32>, 2>,     // per result dim: the view's stride, 0 for index dims
    vals_strides: array<vec4<i32>, 2>,  // values broadcast to the result (index_put)
    idx_off: vec4<i32>,
    adv_stride: vec4<i32>,
    adv_size: vec4<i32>,
    idx_strides: array<vec4<i32>, 8>,  // index array j, result dim k: idx_strides[2j + k / 4][k % 4]
}

@group(0) @binding(0) var<storage, read_write> data: array<$DATA_T>;
@group(0) @binding(1) var<storage, read> other: array<u32>;
$IDX_DECLS
@group(0) @binding($ERR_BINDING) var<storage, read_write> errors: array<atomic<u32>>;
@group(0) @binding($PARAM_BINDING) var<uniform> p: Params;

fn idx_value(j: u32, at: i32) -> i32 {
$IDX_LOADS
    return 0;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * p.row + gid.x;
    if (i >= p.n) {
        return;
    }
    var rem = i;
    var src = p.v_off;
    var vo = p.vals_off;
    var io = p.idx_off;
    for (var k = i32(p.ndim) - 1; k >= 0; k--) {
        let size = p.shape[k / 4][k % 4];
        let c = i32(rem % size);
        rem = rem / size;
        src += c * p.v_strides[k / 4][k % 4];
        vo += c * p.vals_strides[k / 4][k % 4];
        io.x += c * p.idx_strides[k / 4][k % 4];
        io.y += c * p.idx_strides[2 + k / 4][k % 4];
        io.z += c * p.idx_strides[4 + k / 4][k % 4];
        io.w += c * p.idx_strides[6 + k / 4][k % 4];
    }
    for (var j = 0u; j < p.n_idx; j++) {
        var v = idx_value(j, io[j]);
        if (v < 0 && p.negative_ok != 0u) {
            v += p.adv_size[j];  // negative indices count from the end
        }
        if (v < 0 || v >= p.adv_size[j]) {
            atomicOr(&errors[0], 2u);
            return;
        }
        src += v * p.adv_stride[j];
    }
$BODY
}
