"""GPU faults: a lost device, re-initialisation, stale tensors, and WGSL errors
surfacing as Python exceptions (never a process abort, never a wgpu-internal type)."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import wgtorch

pytestmark = pytest.mark.usefixtures("gpu")


@pytest.fixture
def gpu():
    if not wgtorch.wgpu.is_available():
        if os.environ.get("WGTORCH_REQUIRE_GPU") == "1":
            pytest.fail("no WebGPU adapter")
        pytest.skip("no WebGPU adapter")


# Losing the device is process-wide: it runs in a child so that no other test's
# tensors are left on a destroyed device.
_DEVICE_LOST = textwrap.dedent("""
    import numpy as np
    import wgtorch as torch

    def expect(fn, *words):
        try:
            fn()
        except RuntimeError as e:  # wgpu's own GPUError is not a RuntimeError: this also checks the type
            msg = str(e)
            assert all(w in msg for w in words), msg
            return msg
        raise AssertionError("no error raised")

    old = torch.arange(6, dtype=torch.float32, device="wgpu")
    view = old[1::2]
    assert np.array_equal((old * 2).cpu().numpy(), np.arange(6) * 2.0)
    pending = old + 1  # recorded, not yet submitted, when the device goes

    torch.wgpu._lose_device()
    # the next op (and the next allocation) says the device was lost and how to recover
    expect(lambda: (old + 1).cpu(), "device was lost", "reinit")
    expect(lambda: torch.ones(3, device="wgpu"), "device was lost")
    expect(lambda: pending.cpu(), "device was lost")

    torch.wgpu.reinit()
    # new tensors work: values, random numbers, reductions, matmul, autograd
    z = torch.arange(6, dtype=torch.float32, device="wgpu")
    assert np.array_equal((z * 3).cpu().numpy(), np.arange(6) * 3.0)
    assert float(z.sum()) == 15.0
    w = torch.ones(6, 2, device="wgpu", requires_grad=True)
    (z.reshape(1, 6) @ w).sum().backward()
    assert np.array_equal(w.grad.cpu().numpy(), np.repeat(np.arange(6.0)[:, None], 2, 1))
    r = torch.rand(100, device="wgpu").cpu().numpy()
    assert r.min() >= 0 and r.max() < 1 and r.std() > 0.1

    # old tensors (and their views) raise a clear error when used
    for fn in (lambda: old.cpu(), lambda: view.cpu(), lambda: old + z, lambda: z.copy_(old),
               lambda: old.sum().item(), lambda: print(old), lambda: old.add_(1)):
        expect(fn, "lost or re-initialised")
    # ... and leave the new device working
    assert np.array_equal((z + 1).cpu().numpy(), np.arange(6) + 1.0)
    print("OK")
""")


def test_device_lost_then_reinit():
    env = dict(os.environ, WGTORCH_ALLOW_SOFTWARE_ADAPTER="1")
    env.setdefault("XDG_RUNTIME_DIR", "/tmp")
    p = subprocess.run([sys.executable, "-c", _DEVICE_LOST], capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.strip().endswith("OK")


_BROKEN = """
@group(0) @binding(0) var<storage, read_write> y: array<f32>;
struct P { n: u32, a: u32, b: u32, c: u32 }
@group(0) @binding(1) var<uniform> p: P;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    y[gid.x] = not_defined_anywhere;
}
"""


def test_backend_shader_error_is_a_python_exception_with_text_and_line():
    be = wgtorch.backends.wgpu.backend(0)._init()
    with pytest.raises(RuntimeError) as info:
        be._pipeline("fault_test_broken", 1, _BROKEN)
    msg = str(info.value)
    assert type(info.value) is RuntimeError  # not wgpu's GPUValidationError
    assert "not_defined_anywhere" in msg and "fault_test_broken" in msg
    assert ":7:" in msg  # the WGSL line of the error
    assert "fault_test_broken" not in be.pipelines  # nothing half-built was cached
    # a validation error (not a parse error): a store through a read-only binding
    ro = _BROKEN.replace("not_defined_anywhere", "1.0").replace("read_write", "read")
    with pytest.raises(RuntimeError, match="fault_test_readonly"):
        be._pipeline("fault_test_readonly", 1, ro, writable=())
    # the process and the library carry on
    x = wgtorch.arange(4, dtype=wgtorch.float32, device="wgpu")
    assert np.array_equal((x * x).cpu().numpy(), np.arange(4.0) ** 2)


def test_user_kernel_shader_errors():
    """The custom kernel API (wgtorch.wgpu.kernel): compile and binding errors raise
    (WGSLError, a RuntimeError) with the compiler's text and the WGSL line."""
    src = _BROKEN.replace("struct P { n: u32, a: u32, b: u32, c: u32 }", "struct P { n: u32 }")
    with pytest.raises(RuntimeError) as info:
        wgtorch.wgpu.kernel(src, inputs=0, outputs=1, uniforms=("u32",))
    assert "not_defined_anywhere" in str(info.value) and ":7:" in str(info.value)
    ok_src = src.replace("not_defined_anywhere", "1.0")
    with pytest.raises(RuntimeError, match="binding"):  # binding 0 is read_write, declared as an input
        wgtorch.wgpu.kernel(ok_src, inputs=1, outputs=1, uniforms=("u32",))
    # a kernel that compiles still runs after the failures
    k = wgtorch.wgpu.kernel(ok_src, inputs=0, outputs=1, uniforms=("u32",))
    y = k(out=wgtorch.zeros(64, device="wgpu"), uniforms=(64,))
    assert np.array_equal(y.cpu().numpy(), np.ones(64, np.float32))
