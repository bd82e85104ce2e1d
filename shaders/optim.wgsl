// One fused optimizer step per parameter: every element of p (and of its state
// buffers) is updated by one thread, instead of a chain of elementwise dispatches.
// The update (templated in kernels.optim_source) is PyTorch's single-tensor formula of SGD,
// Adam, RMSprop or Adagrad, specialised by flags.
struct Params {
    n: u32, row: u32, pad0: u32, pad1: u32,
    lr: f32, a: f32, b: f32, c: f32,  // SGD: momentum, dampening, weight decay; Adam: beta1, beta2, eps;
    d: f32, e: f32, f: f32, pad2: f32,  // RMSprop: alpha, eps, weight decay, momentum; Adagrad: eps, weight
}                                       // decay, step lr; Adam: weight decay, step size, sqrt(bias correction 2)

@group(0) @binding(0) var<storage, read_write> p: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> s0: array<f32>;
@group(0) @binding(3) var<storage, read_write> s1: array<f32>;
@group(0) @binding(4) var<storage, read_write> s2: array<f32>;
@group(0) @binding(5) var<uniform> u: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * u.row + gid.x;
    if (i >= u.n) {
        return;
    }
    var g = grad[i];
$UPDATE
}
