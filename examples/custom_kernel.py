"""A user-written WGSL kernel as a differentiable op: a fused SiLU (x * sigmoid(x)).

    python examples/custom_kernel.py [--device cpu|wgpu] [--steps 300]

`wgtorch.wgpu.kernel(source, inputs=..., outputs=..., uniforms=...)` compiles WGSL
once and returns a callable on wgpu tensors. Two kernels (forward and backward)
wrapped in an `autograd.Function` make one differentiable op; on the cpu the same
Function falls back to tensor ops, as a CUDA extension falls back to a CPU path.
The script checks the op against the built-in one (values and gradients), then
uses it as the activation of a small classifier of two interleaved spirals."""
import argparse
import math
import time

import numpy as np

import wgtorch as torch
import wgtorch.nn as nn
import wgtorch.nn.functional as F

# Bindings, group 0: inputs first (read-only storage), then outputs (read_write), then
# the uniform struct. One invocation per element; threads past n do nothing.
SILU_FORWARD = """
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
struct Params { n: u32 }
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= params.n) { return; }
    let v = x[i];
    y[i] = v / (1.0 + exp(-v));
}
"""

# d/dx [x * s(x)] = s(x) * (1 + x * (1 - s(x))), times the incoming gradient
SILU_BACKWARD = """
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> grad_out: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad_in: array<f32>;
struct Params { n: u32 }
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= params.n) { return; }
    let v = x[i];
    let s = 1.0 / (1.0 + exp(-v));
    grad_in[i] = grad_out[i] * s * (1.0 + v * (1.0 - s));
}
"""

_kernels = {}


def kernels():
    """Compiled on first use (on the wgpu device), then reused."""
    if not _kernels:
        _kernels["fwd"] = torch.wgpu.kernel(SILU_FORWARD, inputs=1, outputs=1, uniforms=("u32",))
        _kernels["bwd"] = torch.wgpu.kernel(SILU_BACKWARD, inputs=2, outputs=1, uniforms=("u32",))
    return _kernels


class FusedSiLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        if x.device.type == "wgpu":
            return kernels()["fwd"](x, uniforms=(x.numel(),))
        return x * torch.sigmoid(x)  # the cpu path

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        if x.device.type == "wgpu":
            return kernels()["bwd"](x, grad_out.contiguous(), uniforms=(x.numel(),))
        s = torch.sigmoid(x)
        return grad_out * s * (1 + x * (1 - s))


class SiLU(nn.Module):
    def forward(self, x):
        return FusedSiLU.apply(x)


def spirals(n, seed=0):
    """Two interleaved spirals in the plane: a task a linear model cannot solve."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0.05, 1, n)) * 3 * math.pi
    label = rng.integers(0, 2, n)
    sign = np.where(label == 1, -1.0, 1.0)
    pts = np.stack([sign * t * np.cos(t), sign * t * np.sin(t)], 1) / 10 + 0.02 * rng.standard_normal((n, 2))
    return torch.from_numpy(pts.astype(np.float32)), torch.from_numpy(label.astype(np.int64))


def check_against_builtin(device):
    x_ref = torch.linspace(-8, 8, 1001).to(device).requires_grad_()
    x_new = x_ref.detach().clone().requires_grad_()
    w = torch.randn(1001).to(device)
    (F.silu(x_ref) * w).sum().backward()
    y = FusedSiLU.apply(x_new)
    (y * w).sum().backward()
    value_err = (y - F.silu(x_ref)).abs().max().item()
    grad_err = (x_new.grad - x_ref.grad).abs().max().item()
    print(f"fused SiLU vs built-in F.silu on {device}: max |value diff| {value_err:.2e}, "
          f"max |grad diff| {grad_err:.2e}")
    assert value_err < 1e-5 and grad_err < 1e-5, "the custom op disagrees with the built-in one"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="wgpu" if torch.cuda.is_available() else "cpu",
                        help="cpu or wgpu (default: wgpu when torch.cuda.is_available(), else cpu)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "wgpu":
        print("kernels:", *kernels().values(), sep="\n  ")

    torch.manual_seed(0)
    check_against_builtin(device)

    X, y = spirals(args.samples)
    X, y = X.to(device), y.to(device)
    model = nn.Sequential(nn.Linear(2, 64), SiLU(), nn.Linear(64, 64), SiLU(), nn.Linear(64, 2)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    start = time.perf_counter()
    for step in range(args.steps + 1):
        logits = model(X)
        loss = F.cross_entropy(logits, y)
        if step % max(1, args.steps // 5) == 0 or step == args.steps:
            acc = (logits.argmax(1) == y).float().mean().item()
            print(f"step {step:4d}  loss {loss.item():.4f}  accuracy {100 * acc:.1f} %")
        if step == args.steps:
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(f"trained with the fused SiLU on {device} in {time.perf_counter() - start:.1f} s; "
          f"final accuracy {100 * acc:.1f} %")


if __name__ == "__main__":
    main()
