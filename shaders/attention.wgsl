// Fused attention, one workgroup per query row (b, i): scores = q k^T * scale (+ bias, causal
// mask) kept in workgroup memory (S <= 1024), their softmax, and out = softmax @ v, in one
// dispatch instead of two matmuls, a mask, a softmax and their intermediate (B, L, S) tensors.
struct Params {
    rows: u32, L: u32, S: u32, row_groups: u32,
    E: u32, Ev: u32, q_off: u32, k_off: u32,
    v_off: u32, b_off: u32, scale: f32, flags: u32,  // flags: 1 = causal, 2 = additive bias
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

const WG: u32 = 256u;
var<workgroup> scores: array<f32, 1024>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let row = wid.y * p.row_groups + wid.x;
    if (row >= p.rows) {
        return;
    }
    let lid = lid3.x;
    let b = row / p.L;
    let i = row % p.L;
    let qb = p.q_off + row * p.E;
    var m = -bitcast<f32>(0x7f800000u);
    for (var s = lid; s < p.S; s += WG) {
        let kb = p.k_off + (b * p.S + s) * p.E;
        var d = 0.0;
        for (var e = 0u; e < p.E; e++) {
            d += q[qb + e] * k[kb + e];
        }
        var z = d * p.scale;
        if ((p.flags & 2u) != 0u) {
            z += bias[p.b_off + row * p.S + s];
        }
        if ((p.flags & 1u) != 0u && s > i) {
            z = -bitcast<f32>(0x7f800000u);
        }
        scores[s] = z;
        m = select(max(m, z), z + m, is_nan(z) || is_nan(m));
    }
    m = row_reduce(lid, m, true);
    let dead = m == -bitcast<f32>(0x7f800000u);  // every key masked: attend to nothing (torch: 0, not NaN)
    var l = 0.0;
    for (var s = lid; s < p.S; s += WG) {
        let e = exp(scores[s] - m);
        scores[s] = e;
        l += e;
    }
    l = row_reduce(lid, l, false);  // (its barriers also publish every thread's scores)
    for (var e = lid; e < p.Ev; e += WG) {
        var o = 0.0;
        for (var s = 0u; s < p.S; s++) {
            o += scores[s] * v[p.v_off + (b * p.S + s) * p.Ev + e];
        }
        o = select(o / l, 0.0, dead);
        out[row * p.Ev + e] = $STORE;
    }
}
