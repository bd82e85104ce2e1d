"""wgtorch.wgpu.kernel: user-written WGSL on wgpu tensors, checked against NumPy; composed with
autograd.Function (gradients against the analytic ones and the built-in ops'); WGSL errors as
exceptions carrying the compiler's text; wrong device / dtype / arity as clear errors."""
import os

import numpy as np
import pytest
from conftest import to_np

import wgtorch
from wgtorch.wgpu import WGSLError

# y = alpha * x + beta elementwise, bounds-checked against the uniform n
AXPB = """
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
struct P { n: u32, alpha: f32, beta: f32 }
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x < p.n) { y[gid.x] = p.alpha * x[gid.x] + p.beta; }
}
"""

# two inputs, two outputs, integers: sum and difference; arrayLength is the bound tensor's numel
SUMDIFF = """
@group(0) @binding(0) var<storage, read> a: array<i32>;
@group(0) @binding(1) var<storage, read> b: array<i32>;
@group(0) @binding(2) var<storage, read_write> s: array<i32>;
@group(0) @binding(3) var<storage, read_write> d: array<i32>;
@compute @workgroup_size(32)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i < arrayLength(&a)) { s[i] = a[i] + b[i]; d[i] = a[i] - b[i]; }
}
"""

# a 2-D grid: out[r, c] = x[c, r] (transpose of a rows x cols matrix)
TRANSPOSE = """
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
struct P { rows: u32, cols: u32 }
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.y; let c = gid.x;
    if (r < p.rows && c < p.cols) { y[c * p.rows + r] = x[r * p.cols + c]; }
}
"""

# softplus and its derivative (the sigmoid times the incoming gradient), for autograd.Function
SOFTPLUS = """
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i < arrayLength(&x)) { let v = x[i]; y[i] = max(v, 0.0) + log(1.0 + exp(-abs(v))); }
}
"""
SOFTPLUS_BACKWARD = """
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i < arrayLength(&x)) { dx[i] = g[i] / (1.0 + exp(-x[i])); }
}
"""


@pytest.fixture(scope="module")
def gpu():
    if not wgtorch.wgpu.is_available():
        msg = "no WebGPU adapter (Linux: apt-get install mesa-vulkan-drivers libvulkan1)"
        if os.environ.get("WGTORCH_REQUIRE_GPU") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return "wgpu"


def test_elementwise_with_uniforms_matches_numpy(gpu):
    k = wgtorch.wgpu.kernel(AXPB, inputs=1, uniforms=("u32", "f32", "f32"))
    assert k.workgroup_size == (64, 1, 1)
    x_np = np.random.default_rng(0).standard_normal(1000).astype(np.float32)  # 16 workgroups, the last partial
    x = wgtorch.from_numpy(x_np).to(gpu)
    y = k(x, uniforms=(1000, 2.5, -1.0))
    assert y.device.type == "wgpu" and y.shape == x.shape and y.dtype == wgtorch.float32
    np.testing.assert_allclose(to_np(y), 2.5 * x_np - 1.0, rtol=1e-6, atol=1e-6)
    # the same compiled kernel again, other values; n smaller than the tensor leaves the rest zero
    y2 = k(x, uniforms=(10, 1.0, 1.0))
    np.testing.assert_allclose(to_np(y2)[:10], x_np[:10] + 1.0, rtol=1e-6)
    assert not to_np(y2)[10:].any()


def test_views_are_bound_from_their_first_element(gpu):
    k = wgtorch.wgpu.kernel(AXPB, inputs=1, uniforms=("u32", "f32", "f32"))
    base_np = np.arange(40, dtype=np.float32).reshape(4, 10)
    base = wgtorch.from_numpy(base_np).to(gpu)
    for view, ref in [(base[1], base_np[1]), (base[:, 3], base_np[:, 3]), (base.reshape(-1)[5:], base_np.ravel()[5:])]:
        y = k(view, uniforms=(view.numel(), 1.0, 0.5))
        np.testing.assert_allclose(to_np(y), ref + 0.5)
    # out= into a view starting mid-buffer writes there and nowhere else
    k(base[2], out=base[2], uniforms=(10, 0.0, 7.0))
    expect = base_np.copy()
    expect[2] = 7.0
    np.testing.assert_array_equal(to_np(base), expect)


def test_two_inputs_two_outputs_int(gpu):
    k = wgtorch.wgpu.kernel(SUMDIFF, inputs=2, outputs=2)
    a_np = np.arange(-50, 50, dtype=np.int32) * 3
    b_np = np.arange(100, dtype=np.int32)[::-1].copy()
    s, d = k(wgtorch.from_numpy(a_np).to(gpu), wgtorch.from_numpy(b_np).to(gpu))
    assert s.dtype == wgtorch.int32
    np.testing.assert_array_equal(to_np(s), a_np + b_np)
    np.testing.assert_array_equal(to_np(d), a_np - b_np)
    # int64 tensors are bound as array<i32> (their storage on this device)
    s64, _ = k(wgtorch.tensor([1, 2, 3], device=gpu), wgtorch.tensor([10, 20, 30], device=gpu))
    assert s64.dtype == wgtorch.int64 and s64.tolist() == [11, 22, 33]


def test_2d_grid_and_explicit_shapes(gpu):
    k = wgtorch.wgpu.kernel(TRANSPOSE, inputs=1, uniforms=("u32", "u32"))
    x_np = np.random.default_rng(1).standard_normal((19, 37)).astype(np.float32)
    x = wgtorch.from_numpy(x_np).to(gpu)
    y = k(x, shape=(37, 19), threads=(37, 19), uniforms=(19, 37))
    np.testing.assert_array_equal(to_np(y), x_np.T)
    y2 = k(x, shape=(37, 19), grid=(5, 3), uniforms=(19, 37))  # 5x3 workgroups of 8x8 cover 40x24
    np.testing.assert_array_equal(to_np(y2), x_np.T)


class SoftPlus(wgtorch.autograd.Function):
    fwd = bwd = None

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return SoftPlus.fwd(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return SoftPlus.bwd(x, grad.contiguous())


def test_autograd_function_with_kernel_backward(gpu):
    SoftPlus.fwd = wgtorch.wgpu.kernel(SOFTPLUS, inputs=1)
    SoftPlus.bwd = wgtorch.wgpu.kernel(SOFTPLUS_BACKWARD, inputs=2)
    x_np = np.linspace(-6, 6, 301, dtype=np.float32)
    w_np = np.random.default_rng(2).standard_normal(301).astype(np.float32)
    x = wgtorch.from_numpy(x_np).to(gpu).requires_grad_()
    w = wgtorch.from_numpy(w_np).to(gpu)
    y = SoftPlus.apply(x)
    assert y.requires_grad and type(y.grad_fn).__name__ == "SoftPlusBackward"
    (y * w).sum().backward()
    x64 = x_np.astype(np.float64)
    np.testing.assert_allclose(to_np(y), np.logaddexp(0, x64), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(to_np(x.grad), w_np / (1 + np.exp(-x64)), rtol=1e-5, atol=1e-6)
    # the same gradient as the built-in softplus's
    x2 = wgtorch.from_numpy(x_np).to(gpu).requires_grad_()
    (wgtorch.nn.functional.softplus(x2) * w).sum().backward()
    np.testing.assert_allclose(to_np(x.grad), to_np(x2.grad), rtol=1e-5, atol=1e-6)
    # a central finite difference of the loss at a few points (float32, so loose)
    with wgtorch.no_grad():
        for i in (0, 150, 290):
            e = np.zeros_like(x_np)
            e[i] = 1e-2
            up = (SoftPlus.apply(wgtorch.from_numpy(x_np + e).to(gpu)) * w).sum().item()
            down = (SoftPlus.apply(wgtorch.from_numpy(x_np - e).to(gpu)) * w).sum().item()
            assert abs((up - down) / 2e-2 - to_np(x.grad)[i]) < 2e-2


def test_plain_call_warns_that_it_does_not_track_gradients(gpu):
    k = wgtorch.wgpu.kernel(SOFTPLUS, inputs=1)
    x = wgtorch.ones(4, device=gpu, requires_grad=True)
    with pytest.warns(UserWarning, match="autograd.Function"):
        y = k(x)
    assert not y.requires_grad


def test_compile_errors_raise_with_wgsl_text(gpu):
    with pytest.raises(WGSLError, match="expected identifier"):
        wgtorch.wgpu.kernel("@compute @workgroup_size(1) fn main( {", inputs=0)
    bad_type = AXPB.replace("p.alpha * x[gid.x]", "p.n * x[gid.x]")  # u32 * f32
    with pytest.raises(WGSLError) as info:
        wgtorch.wgpu.kernel(bad_type, inputs=1, uniforms=("u32", "f32", "f32"))
    assert "Uint" in str(info.value) and "Float" in str(info.value)  # naga's report of the mismatch
    assert isinstance(info.value, RuntimeError)
    # the source's bindings disagree with the declared ones: the output declared as an input
    with pytest.raises(WGSLError, match="(?s)read_write.*binding"):
        wgtorch.wgpu.kernel(SUMDIFF, inputs=3, outputs=1)
    with pytest.raises(WGSLError, match="entry point"):
        wgtorch.wgpu.kernel(SOFTPLUS, inputs=1, entry_point="nope")
    # a uniform struct larger than the declared fields
    with pytest.raises(WGSLError, match="(?i)binding"):
        big = AXPB.replace("beta: f32 }", "beta: f32, pad0: vec4<f32>, pad1: vec4<f32> }")
        wgtorch.wgpu.kernel(big, inputs=1, uniforms=("u32", "f32", "f32"))
    # the device still works after the errors
    k = wgtorch.wgpu.kernel(SOFTPLUS, inputs=1)
    assert abs(k(wgtorch.zeros(3, device=gpu)).sum().item() - 3 * np.log(2)) < 1e-5


def test_wrong_device_dtype_and_arity(gpu):
    k = wgtorch.wgpu.kernel(AXPB, inputs=1, uniforms=("u32", "f32", "f32"))
    with pytest.raises(RuntimeError, match="on cpu.*wgpu"):
        k(wgtorch.ones(4), uniforms=(4, 1.0, 0.0))
    with pytest.raises(TypeError, match="float16"):
        k(wgtorch.ones(4, dtype=wgtorch.float16, device=gpu), uniforms=(4, 1.0, 0.0))
    with pytest.raises(TypeError, match="1 input"):
        k(wgtorch.ones(4, device=gpu), wgtorch.ones(4, device=gpu), uniforms=(4, 1.0, 0.0))
    with pytest.raises(TypeError, match="3 uniform"):
        k(wgtorch.ones(4, device=gpu), uniforms=(4,))
    with pytest.raises(OverflowError, match="u32"):
        k(wgtorch.ones(4, device=gpu), uniforms=(-1, 1.0, 0.0))
    with pytest.raises(RuntimeError, match="on cpu"):
        k(wgtorch.ones(4, device=gpu), out=wgtorch.ones(4), uniforms=(4, 1.0, 0.0))
    with pytest.raises(ValueError, match="workgroups per dimension"):
        k(wgtorch.ones(4, device=gpu), grid=10 ** 6, uniforms=(4, 1.0, 0.0))
    with pytest.raises(ValueError, match="uniform types"):
        wgtorch.wgpu.kernel(AXPB, inputs=1, uniforms=("f64",))
    with pytest.raises(TypeError, match="str"):
        wgtorch.wgpu.kernel(b"bytes", inputs=1)


def test_out_in_place_bumps_version(gpu):
    k = wgtorch.wgpu.kernel(AXPB, inputs=1, uniforms=("u32", "f32", "f32"))
    x = wgtorch.arange(8, dtype=wgtorch.float32, device=gpu)
    out = wgtorch.empty(8, device=gpu)
    v0 = out._version
    r = k(x, out=out, uniforms=(8, -1.0, 0.0))
    assert r is out and out._version == v0 + 1
    assert out.tolist() == [-float(i) for i in range(8)]


def test_input_that_is_also_the_output(gpu):
    # one buffer bound read-only and read-write in a dispatch is invalid in WebGPU: the input is copied
    k = wgtorch.wgpu.kernel(AXPB, inputs=1, uniforms=("u32", "f32", "f32"))
    x = wgtorch.arange(64, dtype=wgtorch.float32, device=gpu)
    k(x, out=x, uniforms=(64, 2.0, 0.0))
    assert x.tolist() == [2.0 * i for i in range(64)]
    # two halves of one buffer: read the first, write the second
    k(x[:32], out=x[32:], uniforms=(32, 1.0, 1.0))
    assert x.tolist() == [2.0 * i for i in range(32)] + [2.0 * i + 1 for i in range(32)]


def test_kernel_survives_device_reinit(gpu):
    if not hasattr(wgtorch.wgpu, "reinit"):
        pytest.skip("wgtorch.wgpu.reinit() does not exist yet")
    k = wgtorch.wgpu.kernel(SOFTPLUS, inputs=1)
    first = k._dev
    wgtorch.wgpu.reinit()  # a fresh device: the kernel recompiles for it on its next call
    y = k(wgtorch.zeros(5, device=gpu))
    assert k._dev is not first
    np.testing.assert_allclose(to_np(y), np.full(5, np.log(2.0)), rtol=1e-6)
