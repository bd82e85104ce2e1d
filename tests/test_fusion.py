"""Elementwise fusion on wgpu (backends/wgpu/fusion.py): runs of elementwise ops sent as
one generated kernel. Fusion is forced at first sight here (normally a group structure
runs per op a few times first), and every result is compared with NumPy in float64 or
with torch; each test also checks that fused kernels really ran."""
import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import wgtorch
import wgtorch.wgpu as wg
from conftest import assert_close
from wgtorch.backends.wgpu import backend, fusion


def need_gpu():
    if not wg.is_available():
        if os.environ.get("WGTORCH_REQUIRE_GPU") == "1":
            pytest.fail("no WebGPU adapter")
        pytest.skip("no WebGPU adapter (install a Vulkan driver, e.g. mesa-vulkan-drivers)")


def fusion_after(monkeypatch, runs):
    """The wgpu backend, with nothing pending, fusing a group structure after `runs` runs per op."""
    need_gpu()
    monkeypatch.setattr(fusion, "HOT", runs)
    monkeypatch.setattr(fusion, "ENABLED", True)
    be = backend(0)._init()
    wg.synchronize()
    return be


@pytest.fixture
def fuse(monkeypatch):
    """Fusion at first sight; yields a counter of fused and per-op dispatches since the last reset."""
    be = fusion_after(monkeypatch, 0)
    counts = {"fused": 0, "ops": 0}
    run = be._run

    def counting_run(kernel, *args, **kw):
        if isinstance(kernel, tuple) and kernel[0] == "fused":  # ("fused", the structure's id)
            struct = next(k for k, (sid, _) in be.fusion.seen.items() if sid == kernel[1])
            counts["fused"] += 1
            counts["ops"] += len(struct[1])
        return run(kernel, *args, **kw)
    monkeypatch.setattr(be, "_run", counting_run)
    yield counts
    wg.synchronize()


def rnd(*shape, seed=0, lo=-2.0, hi=2.0):
    return np.random.default_rng(seed).uniform(lo, hi, shape).astype(np.float32)


def chain(m, t, row, col_t):
    """Unary, binary with scalars, a broadcast row, a transposed input, a comparison and
    where; m is wgtorch or torch."""
    a = t * 1.5 + 0.25
    b = a.exp() * row - a.sigmoid()
    c = m.where(b > 0, b, col_t * 2)
    return ((c.abs() + 1).log() / (a * a + 1)).clamp(-3, 3) + a


def sigmoid64(x):
    return 1 / (1 + np.exp(-x))


def test_fused_chain_matches_numpy(fuse):
    t, row, col = rnd(5, 7), rnd(7, seed=1), rnd(7, 5, seed=2)
    a = t.astype(np.float64) * 1.5 + 0.25
    b = np.exp(a) * row - sigmoid64(a)
    c = np.where(b > 0, b, col.T.astype(np.float64) * 2)
    e = np.log(np.abs(c) + 1) / (a * a + 1)
    expected = np.clip(e, -3, 3) + a
    got = chain(wgtorch, wgtorch.tensor(t, device="wgpu"), wgtorch.tensor(row, device="wgpu"),
                wgtorch.tensor(col, device="wgpu").t())
    assert_close(got, expected, rtol=2e-5, atol=2e-6)
    assert fuse["fused"] >= 1 and fuse["ops"] >= 10  # one or two groups, not per-op dispatches


def test_fused_chain_matches_torch(fuse, oracle):
    t, row, col = rnd(3, 4, 6), rnd(6, seed=1), rnd(6, 4, 3, seed=2)
    got = chain(wgtorch, wgtorch.tensor(t, device="wgpu"), wgtorch.tensor(row, device="wgpu"),
                wgtorch.tensor(col, device="wgpu").permute(2, 1, 0))
    want = chain(oracle, oracle.tensor(t), oracle.tensor(row), oracle.tensor(col).permute(2, 1, 0))
    assert_close(got, want, rtol=2e-5, atol=2e-6)
    assert fuse["fused"] >= 1


def test_intermediates_kept_by_the_caller_are_written(fuse):
    # every intermediate is held: the fused kernel writes each of them
    x = rnd(33)
    t = wgtorch.tensor(x, device="wgpu")
    kept = [t]
    for i in range(10):
        kept.append(kept[-1] * 0.5 + i)
    ref = [x.astype(np.float64)]
    for i in range(10):
        ref.append(ref[-1] * 0.5 + i)
    for k, r in zip(kept, ref):
        assert_close(k, r)
    assert fuse["fused"] >= 1


def test_views_of_an_intermediate_end_the_group(fuse):
    # an op reading another element of a result computed in the same group (a transpose, a
    # slice, a broadcast of it) must see it written: the group is sent first
    x = rnd(6, 6)
    t = wgtorch.tensor(x, device="wgpu")
    a = t * 2 + 1
    b = (a.t() + a).sin()                  # transpose of a in-group result
    c = b[1:, :-1] * b[:-1, 1:]            # shifted slices of one
    d = c + c[:1]                          # a broadcast row of one
    x64 = x.astype(np.float64)
    a64 = x64 * 2 + 1
    b64 = np.sin(a64.T + a64)
    c64 = b64[1:, :-1] * b64[:-1, 1:]
    assert_close(d, c64 + c64[:1], rtol=1e-5, atol=1e-5)


def test_recycled_buffers_inside_a_group(fuse):
    # temporaries die mid-group and their buffers are handed out again while the group
    # still reads them from outside: the allocator holds them back until it is sent
    x, y = rnd(1000), rnd(1000, seed=3)
    tx, ty = wgtorch.tensor(x, device="wgpu"), wgtorch.tensor(y, device="wgpu")
    acc = tx
    ref = x.astype(np.float64)
    for i in range(40):
        tmp = ty * (i + 1)                 # read from outside, then dropped
        acc = acc * 0.9 + tmp.flip(0)  # (flip, not elementwise, sends the group)
        del tmp
        ref = ref * 0.9 + y[::-1].astype(np.float64) * (i + 1)
    assert_close(acc, ref, rtol=1e-4, atol=1e-3)


def transposed_chain(fuse):
    """u is read transposed (other threads' elements) by a group and dropped in it; returns
    the result, its reference, u's buffer uid and the uid of the next op's output."""
    x = rnd(256, 256)
    u = wgtorch.tensor(x, device="wgpu") + 1
    u.sum()                                  # (a reduction: u is written before the group below)
    fuse["fused"] = fuse["ops"] = 0
    uid = u._data.storage.uid
    v = u.t() * 2 + 1
    del u
    w1 = v * 3
    w = w1 - 2
    x64 = x.astype(np.float64) + 1
    return w, (x64.T * 2 + 1) * 3 - 2, uid, w1._data.storage.uid


def test_a_buffer_read_from_outside_is_not_rewritten_in_the_group(fuse):
    # u's buffer must not be handed to a later op of the same group, whose threads would
    # overwrite elements others have not read yet: the allocator holds it back, and the
    # four ops stay one kernel
    w, ref, uid, w1_uid = transposed_chain(fuse)
    assert w1_uid != uid
    assert_close(w, ref, rtol=1e-5, atol=1e-4)
    assert (fuse["fused"], fuse["ops"]) == (1, 4)


def test_a_group_never_writes_what_it_reads_from_outside(fuse, monkeypatch):
    # without the allocator's hold-back the buffer comes back at once: the group is sent
    # before the op that would write it
    alloc = backend(0).alloc
    monkeypatch.setattr(alloc, "free", lambda buf, size, uid: (alloc.pool.setdefault(size, []).append(buf),
                                                                 setattr(alloc, "allocated", alloc.allocated - size)))
    w, ref, uid, w1_uid = transposed_chain(fuse)
    assert w1_uid == uid
    assert_close(w, ref, rtol=1e-5, atol=1e-4)
    assert (fuse["fused"], fuse["ops"]) == (2, 4)


def test_in_place_ops_and_copies_between_fused_ops(fuse):
    x = rnd(4, 5)
    t = wgtorch.tensor(x, device="wgpu")
    a = t * 3 - 1
    a.add_(2)                # a copy into a's buffer: the group is sent before it
    b = a.relu() * a
    a.mul_(0)                # b was computed from the old a
    c = b + a + 1
    a64 = x.astype(np.float64) * 3 + 1
    assert_close(c, np.maximum(a64, 0) * a64 + 1)


def test_dtypes_in_one_group(fuse, oracle):
    x = np.arange(-20, 20, dtype=np.int64)
    t = wgtorch.tensor(x, device="wgpu")
    o = oracle.tensor(x)

    def f(m, v):
        i = (v * 3) // 4 - v % 3          # int64 (int32 words on wgpu)
        b = (i > 2) & (v < 15)            # bool
        h = i.to(m.float16) * 0.37 + 1    # float16: each result rounded to half
        u = (v + 250).to(m.uint8) * 2     # uint8 wraps around
        return i, b, h, u, m.where(b, h.float(), u.float() / 7)
    for g, w in zip(f(wgtorch, t), f(oracle, o)):
        assert g.dtype == getattr(wgtorch, str(w.dtype).split(".")[1])
        assert_close(g, w.numpy(), rtol=0, atol=0)
    assert fuse["fused"] >= 1


def test_more_inputs_than_one_kernel_binds(fuse):
    xs = [rnd(17, seed=s) for s in range(30)]
    ts = [wgtorch.tensor(x, device="wgpu") for x in xs]
    total = ts[0] * 1
    for t in ts[1:]:
        total = total + t * 0.5
    assert_close(total, xs[0].astype(np.float64) + 0.5 * np.sum(xs[1:], axis=0, dtype=np.float64),
                 rtol=1e-5, atol=1e-5)
    assert fuse["fused"] >= 2  # split over several kernels


def test_groups_longer_than_one_kernel(fuse):
    x = rnd(300)
    t = wgtorch.tensor(x, device="wgpu")
    r = x.astype(np.float64)
    for i in range(3 * fusion.MAX_OPS + 5):
        t = t * 1.001 + 0.01 if i % 2 else (t * 0.999).abs()
        r = r * 1.001 + 0.01 if i % 2 else np.abs(r * 0.999)
    assert_close(t, r, rtol=1e-4)
    assert fuse["fused"] >= 3


def test_autograd_through_fused_chains(fuse, oracle):
    x = rnd(8, 3)
    t = wgtorch.tensor(x, device="wgpu", requires_grad=True)
    o = oracle.tensor(x, requires_grad=True)
    for v in (t, o):
        y = (v.tanh() * v + 0.5).sigmoid() * v.exp()
        (y * y).sum().backward()
    assert_close(t.grad, o.grad, rtol=1e-5, atol=1e-6)


def test_more_than_65535_workgroups(fuse):
    n = 65536 * 256 + 1000  # a 2-D grid
    t = wgtorch.arange(n, device="wgpu", dtype=wgtorch.int32)
    r = ((t % 1000) * 2 + 1).float() * 0.5 - 3
    got = r[[0, 1, 999, 1000, n - 1]].cpu().numpy()
    idx = np.array([0, 1, 999, 1000, n - 1])
    np.testing.assert_array_equal(got, ((idx % 1000) * 2 + 1) * 0.5 - 3)
    assert fuse["fused"] >= 1


def test_a_fused_kernel_that_fails_to_compile_falls_back(fuse, monkeypatch):
    monkeypatch.setattr(fusion, "fused_source", lambda *a: "this is not WGSL")
    x = rnd(10)
    t = wgtorch.tensor(x, device="wgpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = ((t * 7 + 3).cos() * 2).cpu()
    assert any("fused elementwise kernel failed to compile" in str(w.message) for w in caught)
    assert_close(got, np.cos(x.astype(np.float64) * 7 + 3) * 2, rtol=1e-5, atol=1e-5)
    be = backend(0)
    be.fusion.failed.clear()


def test_repeated_structures_fuse_after_a_few_runs(monkeypatch):
    be = fusion_after(monkeypatch, 2)
    x = rnd(5)
    t = wgtorch.tensor(x, device="wgpu")
    sent = []
    run = be._run
    monkeypatch.setattr(be, "_run", lambda k, *a, **kw: (sent.append(k[0] if isinstance(k, tuple) else k),
                                                         run(k, *a, **kw))[1])
    for step in range(4):
        sent.clear()
        y = ((t * (step + 2)).exp() + 1).reciprocal()
        assert_close(y, 1 / (np.exp(x.astype(np.float64) * (step + 2)) + 1))
        # the first runs send one kernel per op; from the third the group is one fused kernel
        assert sent == (["ew"] * 4 if step < 2 else ["fused"])


def test_an_op_that_cannot_join_leaves_no_binding_behind(fuse):
    """An op reading an outside tensor and another element of a group's result ends the group; the
    outside tensor must not stay among the group's bindings (hypothesis found a group then sent
    with one buffer more than the kernel compiled for its structure had: a validation error)."""
    xs, ys = rnd(2, 3).astype(np.float64), rnd(2, 3, seed=1).astype(np.float64)
    x, y = wgtorch.tensor(xs, dtype=wgtorch.float32, device="wgpu"), wgtorch.tensor(ys, dtype=wgtorch.float32, device="wgpu")
    a = x.neg()
    b = a.exp()
    assert_close(b, np.exp(-xs))  # the group (x -> neg -> exp) is sent: its kernel has x's binding
    for _ in range(2):
        a = x.neg()
        b = a.exp()
        c = y + a[0]  # a[0]: the group's result read as a broadcast row
        assert_close(b, np.exp(-xs))
        assert_close(c, ys - xs[0])
    assert fuse["fused"] >= 3


ops_1 = ["neg", "exp", "sin", "tanh", "sigmoid", "relu", "abs", "square"]
ops_2 = ["add", "sub", "mul", "maximum"]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=3),
       program=st.lists(st.tuples(st.sampled_from(ops_1 + ops_2), st.integers(0, 10), st.sampled_from(
           ["plain", "t", "row", "scalar"])), min_size=2, max_size=24))
def test_random_programs(fuse, shape, program):
    """Random elementwise programs over earlier results, broadcast rows, transposes and scalars."""
    x = rnd(*shape, seed=len(program))
    vals = [wgtorch.tensor(x, device="wgpu")]
    refs = [x.astype(np.float64)]
    np_1 = {"neg": np.negative, "exp": lambda v: np.exp(np.clip(v, -20, 20)), "sin": np.sin, "tanh": np.tanh,
            "sigmoid": sigmoid64, "relu": lambda v: np.maximum(v, 0), "abs": np.abs, "square": np.square}
    w_1 = {"exp": lambda v: v.clamp(-20, 20).exp(), "square": lambda v: v * v}
    for op, pick, how in program:
        a, ra = vals[pick % len(vals)], refs[pick % len(refs)]
        if op in ops_1:
            vals.append(w_1[op](a) if op in w_1 else getattr(a, op)())
            refs.append(np_1[op](ra))
            continue
        b, rb = vals[(pick * 7 + 1) % len(vals)], refs[(pick * 7 + 1) % len(refs)]
        if how == "t" and b.ndim >= 2 and b.shape[-1] == b.shape[-2]:
            b, rb = b.transpose(-1, -2), rb.swapaxes(-1, -2)
        elif how == "row":
            b, rb = b[(0,) * (b.ndim - 1)], rb[(0,) * (rb.ndim - 1)]
        elif how == "scalar":
            b = rb = 0.75
        if how == "scalar":
            vals.append({"add": a + b, "sub": a - b, "mul": a * b, "maximum": a.clamp(min=b)}[op])
        else:
            vals.append(getattr(wgtorch, op)(a, b))
        refs.append({"add": np.add, "sub": np.subtract, "mul": np.multiply, "maximum": np.maximum}[op](ra, rb))
        if np.abs(refs[-1]).max() > 1e6:  # keep magnitudes where float32 comparisons stay meaningful
            vals[-1], refs[-1] = vals[-1] * 0, refs[-1] * 0
    for v, r in zip(vals[1:], refs[1:]):
        assert_close(v, r, rtol=1e-4, atol=1e-4)
