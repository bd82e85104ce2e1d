// Workgroup reductions for the kernels that give one workgroup of 256 threads to a row
// (softmax, layer norm, attention): prepended by kernels.with_helpers where a kernel
// calls row_reduce(). Every thread passes its partial value and gets the total: the sum,
// or the max with NaN propagating (WGSL's max may drop NaN).
var<workgroup> row_acc: array<f32, 256>;

fn row_reduce(lid: u32, v: f32, is_max: bool) -> f32 {
    row_acc[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            let a = row_acc[lid];
            let b = row_acc[lid + s];
            row_acc[lid] = select(a + b, select(max(a, b), a + b, is_nan(a) || is_nan(b)), is_max);
        }
        workgroupBarrier();
    }
    let r = row_acc[0];
    workgroupBarrier();
    return r;
}

