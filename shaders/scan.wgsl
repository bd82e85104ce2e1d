// Inclusive running sum / product along each row of a [rows, n] block of a
// contiguous input whose rows are `stride` long (long rows are scanned block by
// block: software drivers end shader loops after 65,535 iterations), one thread
// per row. Integer folds are checked: a result past int32 sets the device error
// flag (err), which the next read-back raises.
struct Params { rows: u32, n: u32, in_offset: u32, row: u32, stride: u32, out_offset: u32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<storage, read_write> out: array<$OUT_T>;
@group(0) @binding(1) var<storage, read> inp: array<$IN_T>;
@group(0) @binding(2) var<storage, read_write> err: array<atomic<u32>>;
@group(0) @binding(3) var<uniform> p: Params;

$HELPERS

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.y * p.row + gid.x;
    if (r >= p.rows) {
        return;
    }
    var acc: $T = $IDENTITY;
    for (var j = 0u; j < p.n; j++) {
        let a = acc;
        let b = $LOAD;
        acc = $FOLD;
        out[p.out_offset + r * p.stride + j] = $STORE;
    }
}
