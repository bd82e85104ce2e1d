"""matmul / @ with PyTorch's 1-D, 2-D and batched broadcasting rules, mm, bmm,
dot, outer, addmm and einsum, checked against NumPy (float64) and, when
installed, real PyTorch."""
import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import wgtorch
from conftest import assert_close, assert_matches_torch, to_np
from gradcheck import check_grad

fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def rand(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# (shape a, shape b, result shape) -- NumPy's matmul follows the same rules
MATMUL_SHAPES = [
    ((3,), (3,), ()),
    ((3,), (3, 4), (4,)),
    ((2, 3), (3,), (2,)),
    ((2, 3), (3, 4), (2, 4)),
    ((5, 2, 3), (3, 4), (5, 2, 4)),
    ((2, 3), (5, 3, 4), (5, 2, 4)),
    ((3,), (5, 3, 4), (5, 4)),
    ((5, 2, 3), (3,), (5, 2)),
    ((5, 2, 3), (5, 3, 4), (5, 2, 4)),
    ((2, 1, 2, 3), (5, 3, 4), (2, 5, 2, 4)),
    ((1, 2, 3), (4, 3, 2), (4, 2, 2)),
    ((2, 1, 4, 3), (1, 3, 3, 2), (2, 3, 4, 2)),
    ((1, 3), (3, 1), (1, 1)),
    ((0, 3), (3, 2), (0, 2)),
    ((2, 0), (0, 3), (2, 3)),
]


def _ids(shapes):
    return [f"{a}@{b}" for a, b, _ in shapes]


@pytest.mark.parametrize("sa, sb, sr", MATMUL_SHAPES, ids=_ids(MATMUL_SHAPES))
def test_matmul_shapes(device, sa, sb, sr):
    a, b = rand(sa, 1), rand(sb, 2)
    x, y = wgtorch.tensor(a, device=device), wgtorch.tensor(b, device=device)
    exp = np.matmul(a.astype(np.float64), b.astype(np.float64))
    assert exp.shape == sr
    for out in (x @ y, wgtorch.matmul(x, y), x.matmul(y)):
        assert tuple(out.shape) == sr
        assert out.dtype == wgtorch.float32
        assert_close(out, exp, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("sa, sb, sr", MATMUL_SHAPES[:12], ids=_ids(MATMUL_SHAPES[:12]))
def test_matmul_matches_torch(device, oracle, sa, sb, sr):
    a, b = rand(sa, 3), rand(sb, 4)
    ours = wgtorch.tensor(a, device=device) @ wgtorch.tensor(b, device=device)
    theirs = oracle.tensor(a) @ oracle.tensor(b)
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_matmul_noncontiguous_operands(device):
    a, b = rand((4, 3), 5), rand((5, 4), 6)
    exp = a.T.astype(np.float64) @ b.T.astype(np.float64)  # (3, 5)
    x = wgtorch.tensor(a, device=device).t()  # transposed
    y = wgtorch.tensor(b, device=device).t()
    assert not x.is_contiguous() and not y.is_contiguous()
    assert_close(x @ y, exp, rtol=1e-5, atol=1e-5)
    # step-sliced
    big = rand((6, 8), 7)
    xs = wgtorch.tensor(big, device=device)[::2, 1::2]  # (3, 4)
    ys = wgtorch.tensor(big, device=device)[1::2, ::2].t()  # (4, 3)
    assert_close(xs @ ys, big[::2, 1::2].astype(np.float64) @ big[1::2, ::2].T, rtol=1e-5, atol=1e-5)
    # expanded batch and expanded vector
    m = rand((3, 4), 8)
    xe = wgtorch.tensor(m, device=device).expand(2, 3, 4)
    v = rand((1,), 9)
    ve = wgtorch.tensor(v, device=device).expand(4)
    assert_close(xe @ ve, np.broadcast_to(m, (2, 3, 4)).astype(np.float64) @ np.broadcast_to(v, (4,)),
                 rtol=1e-5, atol=1e-5)
    # batched transposed (permuted) operands
    c = rand((2, 4, 3), 10)
    xc = wgtorch.tensor(c, device=device).transpose(1, 2)  # (2, 3, 4)
    assert_close(xc @ wgtorch.tensor(c, device=device), np.swapaxes(c, 1, 2).astype(np.float64) @ c,
                 rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layout", ["nn", "tn", "nt", "sliced", "batched", "many_batches"])
def test_large_matmul_layouts(device, layout):
    """Sizes past the point where software adapters pack operands into textures (and
    not multiples of its tiles), every operand layout, one batch or many, against float64."""
    rng = np.random.default_rng(3)
    m, k, n = 67, 301, 45
    batch = {"batched": (3,), "many_batches": (20,)}.get(layout, ())
    a = rng.standard_normal(batch + (m, k)).astype(np.float32)
    b = rng.standard_normal(batch + (k, n)).astype(np.float32)
    ta = wgtorch.tensor(a, device=device)
    tb = wgtorch.tensor(b, device=device)
    if layout == "tn":
        ta = wgtorch.tensor(a.T.copy(), device=device).t()
    elif layout == "nt":
        tb = wgtorch.tensor(b.T.copy(), device=device).t()
    elif layout == "sliced":  # offsets and row strides of a bigger storage
        big = np.zeros((m + 5, 2 * k), np.float32)
        big[3:3 + m, 1:1 + 2 * k:2] = a
        ta = wgtorch.tensor(big, device=device)[3:3 + m, 1::2]
    r = ta @ tb
    assert_close(r, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)
    if device == "wgpu" and ta._be._software:  # the texture path ran
        assert any(isinstance(key, tuple) and key[0] == "matmul_texture" for key in ta._be.pipelines)
    # the result shape the texture path writes into: the next op sees plain values
    assert_close(r.sum(-1), (a.astype(np.float64) @ b).sum(-1), rtol=1e-4, atol=1e-3)


def test_large_matmul_rows_copied_into_textures(device, monkeypatch):
    """Operands whose rows already are the packed texture's rows (256-byte steps, a multiple of
    the tile wide) are copied, not packed: B as it is, A given transposed, slices of a wider
    storage, batches; against float64, with the copies counted on a software adapter."""
    rng = np.random.default_rng(5)
    copies = []
    if device == "wgpu":
        from wgtorch.backends import for_device
        q = for_device(wgtorch.device("wgpu"))._init().queue
        copy = q.copy_to_texture
        monkeypatch.setattr(q, "copy_to_texture", lambda *a: (copies.append(a[5]), copy(*a)))
    m, k, n = 64, 37, 128
    a = rng.standard_normal((3, m, k)).astype(np.float32)
    b = rng.standard_normal((3, k, n)).astype(np.float32)
    ta = wgtorch.tensor(a.transpose(0, 2, 1).copy(), device=device).transpose(1, 2)  # rows of A^T: m wide
    big = np.zeros((3, k, n + 64), np.float32)
    big[:, :, 64:] = b
    tb = wgtorch.tensor(big, device=device)[:, :, 64:]  # an offset of 64 floats, rows 192 apart
    assert_close(ta @ tb, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)
    assert_close(ta[0] @ tb[1], a[0].astype(np.float64) @ b[1], rtol=1e-4, atol=1e-4)
    c = rng.standard_normal((k, 120)).astype(np.float32)  # rows 480 bytes apart: packed by the kernel
    assert_close(ta[1] @ wgtorch.tensor(c, device=device), a[1].astype(np.float64) @ c, rtol=1e-4, atol=1e-4)
    if device == "wgpu" and ta._be._software:
        assert len(copies) == 2 * 3 + 2 + 1  # A and B of each batch, of the 2-D product, A of the last


@pytest.mark.parametrize("dtype", ["int64", "int32", "float64"])
def test_matmul_dtypes(device, dtype):
    if dtype == "float64" and device != "cpu":
        pytest.skip("no float64 on this device")
    a = np.arange(6).reshape(2, 3).astype(dtype)
    b = np.arange(12).reshape(3, 4).astype(dtype) - 5
    out = wgtorch.tensor(a, device=device) @ wgtorch.tensor(b, device=device)
    assert out.dtype == getattr(wgtorch, dtype)
    assert_close(out, a.astype(np.float64) @ b, rtol=0, atol=0)
    v = wgtorch.tensor(a[0], device=device) @ wgtorch.tensor(a[1], device=device)
    assert v.dtype == getattr(wgtorch, dtype) and v.ndim == 0
    assert v.item() == int(a[0] @ a[1])


def test_matmul_int64_exact(device):
    a = np.array([[2 ** 31, 3], [1, -2 ** 33]], dtype=np.int64)
    if device != "cpu":  # int64 is stored as int32 there: out-of-range values are refused, never wrapped
        with pytest.raises(RuntimeError, match="int32"):
            wgtorch.tensor(a, device=device)
        return
    out = wgtorch.tensor(a, device=device) @ wgtorch.tensor(a, device=device)
    np.testing.assert_array_equal(to_np(out), a @ a)  # no float round-trip


@pytest.mark.parametrize("sa, sb", [
    ((2, 3), (4, 5)),
    ((3,), (4,)),
    ((2, 3), (4,)),
    ((4,), (3, 2)),
    ((2, 2, 3), (3, 3, 4)),
    ((5, 2, 3), (5, 4, 2)),
])
def test_matmul_shape_mismatch_raises(device, sa, sb):
    x = wgtorch.ones(*sa, device=device)
    y = wgtorch.ones(*sb, device=device)
    with pytest.raises(RuntimeError) as info:
        x @ y
    with pytest.raises(RuntimeError):
        wgtorch.matmul(x, y)
    # the message names the offending sizes
    nums = [int(n) for n in re.findall(r"\d+", str(info.value))]
    wanted = [n for n in sa + sb if n not in (1,)]
    assert any(n in nums for n in wanted), str(info.value)


def test_mm_mismatch_message_names_shapes(device, oracle):
    with pytest.raises(RuntimeError) as theirs:
        oracle.ones(2, 3) @ oracle.ones(4, 5)
    with pytest.raises(RuntimeError) as ours:
        wgtorch.ones(2, 3, device=device) @ wgtorch.ones(4, 5, device=device)
    assert type(ours.value) is type(theirs.value)
    msg = str(ours.value)
    assert ("2x3" in msg and "4x5" in msg) or ("[2, 3]" in msg and "[4, 5]" in msg), msg


def test_mm_mismatch_message_without_oracle(device):
    with pytest.raises(RuntimeError) as ours:
        wgtorch.mm(wgtorch.ones(2, 3, device=device), wgtorch.ones(4, 5, device=device))
    msg = str(ours.value)
    assert ("2x3" in msg and "4x5" in msg) or ("[2, 3]" in msg and "[4, 5]" in msg), msg


def test_matmul_0d_raises(device):
    with pytest.raises(RuntimeError):
        wgtorch.matmul(wgtorch.tensor(2.0, device=device), wgtorch.ones(3, device=device))


@pytest.mark.float64
def test_matmul_dtype_mismatch_raises(device):
    with pytest.raises(RuntimeError):
        wgtorch.ones(2, 3, device=device) @ wgtorch.ones(3, 4, dtype=wgtorch.float64, device=device)


@fixture_ok
@given(batch=st.lists(st.integers(1, 3), min_size=0, max_size=2), data=st.data(),
       n=st.integers(1, 4), k=st.integers(1, 4), m=st.integers(1, 4))
def test_matmul_generated_broadcast(device, batch, data, n, k, m):
    # batch dims of each operand: drawn as a suffix of `batch`, each size possibly replaced by 1
    def side():
        cut = data.draw(st.integers(0, len(batch)))
        dims = batch[cut:]
        return [1 if data.draw(st.booleans()) else d for d in dims]
    a = rand(tuple(side()) + (n, k), 11)
    b = rand(tuple(side()) + (k, m), 12)
    out = wgtorch.tensor(a, device=device) @ wgtorch.tensor(b, device=device)
    exp = a.astype(np.float64) @ b.astype(np.float64)
    assert tuple(out.shape) == exp.shape
    assert_close(out, exp, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------
# mm, bmm, dot, outer, addmm
# ---------------------------------------------------------------------------

def test_mm(device):
    a, b = rand((3, 4), 1), rand((4, 2), 2)
    x, y = wgtorch.tensor(a, device=device), wgtorch.tensor(b, device=device)
    exp = a.astype(np.float64) @ b
    assert_close(wgtorch.mm(x, y), exp, rtol=1e-5, atol=1e-5)
    assert_close(x.mm(y), exp, rtol=1e-5, atol=1e-5)
    assert_close(wgtorch.mm(wgtorch.tensor(b, device=device).t(), x.t()), (exp).T,
                 rtol=1e-5, atol=1e-5)
    with pytest.raises(RuntimeError):
        wgtorch.mm(wgtorch.ones(3, device=device), y)  # mm needs matrices
    with pytest.raises(RuntimeError):
        wgtorch.mm(wgtorch.ones(2, 3, 4, device=device), y)


def test_bmm(device):
    a, b = rand((2, 3, 4), 1), rand((2, 4, 5), 2)
    x, y = wgtorch.tensor(a, device=device), wgtorch.tensor(b, device=device)
    exp = a.astype(np.float64) @ b
    assert_close(wgtorch.bmm(x, y), exp, rtol=1e-5, atol=1e-5)
    assert_close(x.bmm(y), exp, rtol=1e-5, atol=1e-5)
    yt = wgtorch.tensor(np.swapaxes(b, 1, 2).copy(), device=device).transpose(1, 2)
    assert_close(wgtorch.bmm(x, yt), exp, rtol=1e-5, atol=1e-5)
    with pytest.raises(RuntimeError):  # no broadcasting of the batch
        wgtorch.bmm(x, wgtorch.ones(1, 4, 5, device=device))
    with pytest.raises(RuntimeError):
        wgtorch.bmm(x, wgtorch.ones(2, 3, 5, device=device))
    with pytest.raises(RuntimeError):
        wgtorch.bmm(wgtorch.ones(3, 4, device=device), wgtorch.ones(4, 5, device=device))


def test_dot(device):
    a, b = rand((5,), 1), rand((5,), 2)
    x, y = wgtorch.tensor(a, device=device), wgtorch.tensor(b, device=device)
    out = wgtorch.dot(x, y)
    assert out.ndim == 0 and out.dtype == wgtorch.float32
    assert_close(out, float(a.astype(np.float64) @ b), rtol=1e-5)
    assert_close(x.dot(y), float(a.astype(np.float64) @ b), rtol=1e-5)
    big = rand((10,), 3)
    assert_close(wgtorch.dot(wgtorch.tensor(big, device=device)[::2], y), float(big[::2].astype(np.float64) @ b),
                 rtol=1e-5)
    assert wgtorch.dot(wgtorch.tensor([1, 2, 3], device=device), wgtorch.tensor([4, 5, 6], device=device)).item() == 32
    with pytest.raises(RuntimeError):
        wgtorch.dot(x, wgtorch.ones(4, device=device))
    with pytest.raises(RuntimeError):
        wgtorch.dot(wgtorch.ones(2, 2, device=device), wgtorch.ones(2, 2, device=device))
    if device == "cpu":
        with pytest.raises(RuntimeError):
            wgtorch.dot(x, wgtorch.ones(5, dtype=wgtorch.float64, device=device))


def test_outer(device):
    a, b = rand((3,), 1), rand((4,), 2)
    x, y = wgtorch.tensor(a, device=device), wgtorch.tensor(b, device=device)
    exp = np.outer(a.astype(np.float64), b)
    assert_close(wgtorch.outer(x, y), exp, rtol=1e-6)
    assert_close(x.outer(y), exp, rtol=1e-6)
    big = rand((8,), 3)
    assert_close(wgtorch.outer(wgtorch.tensor(big, device=device)[1::2], x),
                 np.outer(big[1::2].astype(np.float64), a), rtol=1e-6)
    oi = wgtorch.outer(wgtorch.tensor([1, 2], device=device), wgtorch.tensor([3, 4, 5], device=device))
    assert oi.dtype == wgtorch.int64
    assert_close(oi, np.outer([1, 2], [3, 4, 5]), rtol=0, atol=0)


@pytest.mark.parametrize("beta, alpha", [(1, 1), (0.5, 2.0), (0, 1), (2, 0)])
@pytest.mark.parametrize("inp_shape", [(3, 5), (5,), (1, 5), (3, 1), ()])
def test_addmm(device, beta, alpha, inp_shape):
    c, a, b = rand(inp_shape, 1), rand((3, 4), 2), rand((4, 5), 3)
    inp = wgtorch.tensor(c, device=device)
    x, y = wgtorch.tensor(a, device=device), wgtorch.tensor(b, device=device)
    exp = beta * c.astype(np.float64) + alpha * (a.astype(np.float64) @ b)
    exp = np.broadcast_to(exp, (3, 5))
    assert_close(wgtorch.addmm(inp, x, y, beta=beta, alpha=alpha), exp, rtol=1e-5, atol=1e-5)
    assert_close(inp.addmm(x, y, beta=beta, alpha=alpha), exp, rtol=1e-5, atol=1e-5)
    if beta == 1 and alpha == 1:
        assert_close(wgtorch.addmm(inp, x, y), exp, rtol=1e-5, atol=1e-5)


def test_addmm_beta_zero_ignores_nan(device):
    inp = wgtorch.tensor([float("nan"), float("inf")], device=device)
    x = wgtorch.ones(2, 2, device=device)
    out = wgtorch.addmm(inp, x, x, beta=0)
    assert_close(out, np.full((2, 2), 2.0))


def test_addmm_noncontiguous_and_inplace(device):
    a, b, c = rand((4, 3), 1), rand((5, 4), 2), rand((3, 5), 3)
    x = wgtorch.tensor(a, device=device).t()
    y = wgtorch.tensor(b, device=device).t()
    inp = wgtorch.tensor(c, device=device)
    exp = c.astype(np.float64) * 0.5 + 3 * (a.T.astype(np.float64) @ b.T)
    assert_close(wgtorch.addmm(inp, x, y, beta=0.5, alpha=3), exp, rtol=1e-5, atol=1e-5)
    v0 = inp._version
    r = inp.addmm_(x, y, beta=0.5, alpha=3)
    assert r is inp and inp._version > v0
    assert_close(inp, exp, rtol=1e-5, atol=1e-5)


def test_addmm_matches_torch(device, oracle):
    c, a, b = rand((5,), 1), rand((3, 4), 2), rand((4, 5), 3)
    ours = wgtorch.addmm(wgtorch.tensor(c, device=device), wgtorch.tensor(a, device=device),
                         wgtorch.tensor(b, device=device), beta=0.3, alpha=-2)
    theirs = oracle.addmm(oracle.tensor(c), oracle.tensor(a), oracle.tensor(b), beta=0.3, alpha=-2)
    assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------
# einsum
# ---------------------------------------------------------------------------

EINSUM = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("ij,jk", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("i,i->", [(4,), (4,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),
    ("ij->ji", [(3, 4)]),
    ("ij->", [(3, 4)]),
    ("ij->j", [(3, 4)]),
    ("ijk->kji", [(2, 3, 4)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),
    ("...ij,jk->...ik", [(2, 2, 3, 4), (4, 5)]),
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
    ("ij,ij->ij", [(3, 4), (3, 4)]),
    ("ij,kj->ik", [(3, 4), (5, 4)]),
    ("i,ij,j->", [(3,), (3, 4), (4,)]),
    ("ab,bc,cd->ad", [(2, 3), (3, 4), (4, 5)]),
    (" ij , jk -> ik ", [(3, 4), (4, 5)]),
]


@pytest.mark.parametrize("eq, shapes", EINSUM, ids=[e[0].replace(" ", "_") for e in EINSUM])
def test_einsum(device, eq, shapes):
    arrs = [rand(s, i + 1) for i, s in enumerate(shapes)]
    exp = np.einsum(eq.replace(" ", ""), *[a.astype(np.float64) for a in arrs])
    ts = [wgtorch.tensor(a, device=device) for a in arrs]
    out = wgtorch.einsum(eq, *ts)
    assert tuple(out.shape) == exp.shape
    assert_close(out, exp, rtol=1e-5, atol=1e-5)
    out_list = wgtorch.einsum(eq, ts)  # operands as one list
    assert_close(out_list, exp, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("eq, shapes", EINSUM[:6], ids=[e[0] for e in EINSUM[:6]])
def test_einsum_matches_torch(device, oracle, eq, shapes):
    arrs = [rand(s, i + 1) for i, s in enumerate(shapes)]
    ours = wgtorch.einsum(eq, *[wgtorch.tensor(a, device=device) for a in arrs])
    theirs = oracle.einsum(eq, *[oracle.tensor(a) for a in arrs])
    assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_einsum_noncontiguous_and_int(device):
    a = rand((4, 3), 1)
    b = rand((5, 8), 2)
    x = wgtorch.tensor(a, device=device).t()  # (3, 4)
    y = wgtorch.tensor(b, device=device)[:, ::2].t()  # (4, 5)
    assert_close(wgtorch.einsum("ij,jk->ik", x, y), a.T.astype(np.float64) @ b[:, ::2].T, rtol=1e-5, atol=1e-5)
    xi = wgtorch.tensor([[1, 2], [3, 4]], device=device)
    r = wgtorch.einsum("ij,jk->ik", xi, xi)
    assert r.dtype == wgtorch.int64
    assert_close(r, np.array([[7, 10], [15, 22]]), rtol=0, atol=0)
    e = wgtorch.tensor(rand((1, 4), 3), device=device).expand(3, 4)
    assert_close(wgtorch.einsum("ij->i", e), np.broadcast_to(rand((1, 4), 3), (3, 4)).sum(1), rtol=1e-5)


def test_einsum_errors(device):
    with pytest.raises(RuntimeError):
        wgtorch.einsum("ij,jk->ik", wgtorch.ones(2, 3, device=device), wgtorch.ones(4, 5, device=device))
    with pytest.raises(RuntimeError):
        wgtorch.einsum("ij,jk->ik", wgtorch.ones(2, 3, device=device))


# ---------------------------------------------------------------------------
# gradients of the linear-algebra ops (the full table is in test_autograd.py)
# ---------------------------------------------------------------------------

LINALG_GRADS = [
    ("matmul_2d", lambda a, b: a @ b, [(3, 4), (4, 2)]),
    ("matmul_1d_1d", lambda a, b: a @ b, [(4,), (4,)]),
    ("matmul_1d_2d", lambda a, b: a @ b, [(4,), (4, 3)]),
    ("matmul_2d_1d", lambda a, b: a @ b, [(3, 4), (4,)]),
    ("matmul_batched_broadcast", lambda a, b: a @ b, [(2, 1, 3, 4), (3, 4, 2)]),
    ("matmul_3d_1d", lambda a, b: wgtorch.matmul(a, b), [(2, 3, 4), (4,)]),
    ("mm_t", lambda a, b: wgtorch.mm(a.t(), b), [(4, 3), (4, 2)]),
    ("bmm", lambda a, b: wgtorch.bmm(a, b), [(2, 3, 4), (2, 4, 2)]),
    ("dot", lambda a, b: wgtorch.dot(a, b), [(5,), (5,)]),
    ("outer", lambda a, b: wgtorch.outer(a, b), [(3,), (4,)]),
    ("addmm", lambda c, a, b: wgtorch.addmm(c, a, b, beta=0.5, alpha=2.0), [(3,), (2, 4), (4, 3)]),
    ("einsum_bij", lambda a, b: wgtorch.einsum("bij,bjk->bik", a, b), [(2, 3, 4), (2, 4, 2)]),
    ("einsum_trace", lambda a: wgtorch.einsum("ii", a), [(3, 3)]),
    ("einsum_3", lambda a, b, c: wgtorch.einsum("i,ij,j->", a, b, c), [(3,), (3, 4), (4,)]),
]


@pytest.mark.parametrize("name, fn, shapes", LINALG_GRADS, ids=[g[0] for g in LINALG_GRADS])
def test_linalg_gradcheck(device, name, fn, shapes):
    inputs = [np.random.default_rng(i).standard_normal(s) for i, s in enumerate(shapes)]
    check_grad(fn, inputs, device)


def test_matmul_int_float_mismatch_raises(device):
    with pytest.raises(RuntimeError):
        wgtorch.ones(2, 3, dtype=wgtorch.int64, device=device) @ wgtorch.ones(3, 2, device=device)
    with pytest.raises(RuntimeError):
        wgtorch.mm(wgtorch.ones(2, 3, device=device), wgtorch.ones(3, 2, dtype=wgtorch.int64, device=device))


@pytest.mark.parametrize("p", [0.0, 1.0, 2.0, 3.0, math.inf, 0.5])
@pytest.mark.parametrize("s1, s2, mode", [((5, 3), (4, 3), None), ((2, 4, 3), (1, 6, 3), None),
                                          ((30, 4), (7, 4), None), ((3, 4), (2, 4), "use_mm_for_euclid_dist"),
                                          ((30, 4), (7, 4), "donot_use_mm_for_euclid_dist")])
def test_cdist_matches_torch(oracle, device, p, s1, s2, mode):
    """Values and both gradients, with repeated rows (distance 0) and shared coordinates (a zero
    difference), batch broadcast, torch's matrix-product path for p=2 past 25 rows and compute_mode."""
    rng = np.random.default_rng(len(s1) + s1[-2])
    a = rng.integers(-2, 3, s1).astype(np.float32) * 0.5
    b = rng.integers(-2, 3, s2).astype(np.float32) * 0.5
    b[..., 0, :] = a[..., 0, :] if a.ndim == b.ndim == 2 else b[..., 0, :]  # a zero distance
    kw = {} if mode is None else {"compute_mode": mode}
    assert_matches_torch(oracle, device, lambda L, x1, x2: L.cdist(x1, x2, p, **kw), [a, b], tol=(1e-5, 1e-5),
                         grad_tol=(1e-4, 1e-4))


def test_cdist_errors_are_torchs(oracle, device):
    z = lambda *s, **k: (wgtorch.zeros(*s, device=device, **{kk: getattr(wgtorch, v) for kk, v in k.items()}),
                         oracle.zeros(*s, **{kk: getattr(oracle, v) for kk, v in k.items()}))
    cases = [((z(3, 2, dtype="int32"), z(3, 2, dtype="int32")), {}), ((z(3), z(3, 3)), {}), ((z(3, 2), z(3, 4)), {}),
             ((z(3, 2), z(3, 2)), {"p": -1.0}), ((z(2, 3, 2), z(3, 3, 2)), {})]
    for (a, b), kw in cases:
        with pytest.raises(RuntimeError) as want:
            oracle.cdist(a[1], b[1], **kw)
        with pytest.raises(RuntimeError) as got:
            wgtorch.cdist(a[0], b[0], **kw)
        assert str(got.value) == str(want.value)
    with pytest.raises(ValueError, match="nearest is not a valid value for compute_mode"):
        wgtorch.cdist(wgtorch.zeros(2, 2, device=device), wgtorch.zeros(2, 2, device=device), compute_mode="nearest")
    with pytest.raises(ValueError, match="nearest is not a valid value for compute_mode"):
        oracle.cdist(oracle.zeros(2, 2), oracle.zeros(2, 2), compute_mode="nearest")
