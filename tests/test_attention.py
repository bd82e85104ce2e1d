"""F.scaled_dot_product_attention, MultiheadAttention and the Transformer encoder/decoder layers and
stacks against torch with the same weights copied in: outputs, attention weights, input and parameter
gradients, every kind of mask, batch_first both ways, batch 1 and odd sizes, on both devices."""
import numpy as np
import pytest
from conftest import assert_close, to_np

import wgtorch
import wgtorch.nn as nn
import wgtorch.nn.functional as F

RTOL = {"cpu": 1e-5, "wgpu": 1e-4}
ATOL = {"cpu": 1e-5, "wgpu": 1e-4}


def _arr(shape, seed, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def _pair(oracle, shape, device, seed, grad=True):
    a = _arr(shape, seed)
    return (wgtorch.tensor(a, device=device, requires_grad=grad), oracle.tensor(a, requires_grad=grad))


def _backward(oracle, device, y, ty, seed=99):
    """Backpropagate the same random projection of the outputs through both."""
    g = _arr(tuple(ty.shape), seed)
    (y * wgtorch.tensor(g, device=device)).sum().backward()
    (ty * oracle.tensor(g)).sum().backward()


def _copy(oracle, tmod, wmod, device):
    """torch's state_dict into the wgtorch module, then to device."""
    wmod.load_state_dict({k: wgtorch.tensor(v.detach().numpy()) for k, v in tmod.state_dict().items()})
    return wmod.to(device)


def _check_params(wmod, tmod, device, rtol=None, atol=None):
    tp = dict(tmod.named_parameters())
    wp = dict(wmod.named_parameters())
    assert list(wp) == list(tp)
    for name, p in wp.items():
        assert p.grad is not None, name
        assert_close(p.grad, tp[name].grad, rtol=rtol or RTOL[device], atol=atol or ATOL[device])


# ---- the fused attention primitive ----------------------------------------------------------------
@pytest.mark.parametrize("L,S,E,Ev,mask", [(3, 1000, 8, 5, None), (70, 70, 16, 16, "causal"), (5, 300, 4, 130, "bool"),
                                           (9, 1100, 4, 4, "float"), (4, 4, 3, 3, "all_masked")])
def test_fused_attention_long_keys_and_masks(oracle, device, L, S, E, Ev, mask):
    """The fused kernel at up to 1024 keys (scores in workgroup memory), more threads than keys
    and values wider than a workgroup; 1100 keys take the composite on wgpu; a row with every
    key masked gives 0 (and no gradient), as torch's."""
    q, tq = _pair(oracle, (2, L, E), device, 1)
    k, tk = _pair(oracle, (2, S, E), device, 2)
    v, tv = _pair(oracle, (2, S, Ev), device, 3)
    kw, tkw = {}, {}
    if mask == "causal":
        kw = tkw = {"is_causal": True}
    elif mask in ("bool", "all_masked"):
        keep = np.random.default_rng(4).random((L, S)) > 0.3
        keep[:, 0] = mask == "bool"
        if mask == "all_masked":
            keep[1:, 0] = True
            keep[0, :] = False
        kw, tkw = {"attn_mask": wgtorch.tensor(keep, device=device)}, {"attn_mask": oracle.tensor(keep)}
    elif mask == "float":
        b, tb = _pair(oracle, (1, L, S), device, 5)
        kw, tkw = {"attn_mask": b}, {"attn_mask": tb}
    y = F.scaled_dot_product_attention(q, k, v, **kw)
    ty = oracle.nn.functional.scaled_dot_product_attention(tq, tk, tv, **tkw)
    assert_close(y, ty.detach(), rtol=RTOL[device], atol=ATOL[device])
    _backward(oracle, device, y, ty)
    for a, b in ((q, tq), (k, tk), (v, tv)) + (((kw["attn_mask"], tkw["attn_mask"]),) if mask == "float" else ()):
        assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-4)


def test_fused_attention_double_backward(oracle, device):
    q, tq = _pair(oracle, (2, 4, 3), device, 6)
    k, tk = _pair(oracle, (2, 5, 3), device, 7)
    v, tv = _pair(oracle, (2, 5, 2), device, 8)
    (gq,) = wgtorch.autograd.grad(F.scaled_dot_product_attention(q, k, v, is_causal=True).pow(2).sum(), q,
                                  create_graph=True)
    (tgq,) = oracle.autograd.grad(oracle.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=True)
                                  .pow(2).sum(), tq, create_graph=True)
    assert_close(gq, tgq.detach(), rtol=1e-4, atol=1e-5)
    c = _arr(tuple(tgq.shape), 9)
    (gq * wgtorch.tensor(c, device=device)).sum().backward()
    (tgq * oracle.tensor(c)).sum().backward()
    for a, b in ((q, tq), (k, tk), (v, tv)):
        assert_close(a.grad, b.grad, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_fused_attention_half(oracle, device, dtype):
    a = [_arr((2, 5, 4), s) for s in (10, 11, 12)]
    got = F.scaled_dot_product_attention(*(wgtorch.tensor(x, device=device).to(getattr(wgtorch, dtype)) for x in a))
    want = oracle.nn.functional.scaled_dot_product_attention(*(oracle.tensor(x).to(getattr(oracle, dtype))
                                                                for x in a))
    assert got.dtype == getattr(wgtorch, dtype)
    assert_close(got.float(), want.float(), rtol=2e-2, atol=2e-2)


# ---- F.scaled_dot_product_attention --------------------------------------------------------------
SDPA_CASES = [
    # (query shape, key length, value dim, mask kind, extra kwargs)
    ((2, 3, 5, 4), 5, 4, None, {}),
    ((2, 3, 5, 4), 7, 6, None, {}),
    ((1, 1, 1, 8), 1, 8, None, {}),
    ((3, 5, 4), 6, 3, None, {}),
    ((2, 3, 5, 4), 5, 4, "causal", {}),
    ((2, 3, 5, 4), 7, 4, "causal", {}),
    ((2, 3, 6, 4), 6, 4, "bool", {}),
    ((2, 3, 6, 4), 6, 4, "bool4d", {}),
    ((2, 3, 5, 4), 7, 4, "float", {}),
    ((1, 2, 5, 3), 7, 5, "float", {"scale": 0.3}),
    ((2, 4, 5, 4), 6, 4, None, {"enable_gqa": True}),
]


def _sdpa_mask(kind, L, S, oracle, device):
    if kind in ("bool", "bool4d"):
        keep = np.random.default_rng(5).random((2, 1, L, S) if kind == "bool4d" else (L, S)) > 0.4
        keep[..., 0] = True  # no row fully masked
        return wgtorch.tensor(keep, device=device), oracle.tensor(keep)
    if kind == "float":
        m = _arr((L, S), 6)
        return wgtorch.tensor(m, device=device), oracle.tensor(m)
    return None, None


@pytest.mark.parametrize("qshape,S,Ev,mask,kw", SDPA_CASES, ids=[f"case{i}" for i in range(len(SDPA_CASES))])
def test_sdpa_matches_torch(oracle, device, qshape, S, Ev, mask, kw):
    *b, L, E = qshape
    kb = list(b)
    if kw.get("enable_gqa"):
        kb[-1] //= 2
    q, tq = _pair(oracle, qshape, device, 1)
    k, tk = _pair(oracle, (*kb, S, E), device, 2)
    v, tv = _pair(oracle, (*kb, S, Ev), device, 3)
    m, tm = _sdpa_mask(mask, L, S, oracle, device)
    causal = mask == "causal"
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=causal, **kw)
    ty = oracle.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=tm, is_causal=causal, **kw)
    assert tuple(y.shape) == tuple(ty.shape)
    assert_close(y, ty, rtol=RTOL[device], atol=ATOL[device])
    _backward(oracle, device, y, ty)
    for a, ta in ((q, tq), (k, tk), (v, tv)):
        assert_close(a.grad, ta.grad, rtol=RTOL[device], atol=ATOL[device])


def test_sdpa_float_mask_gradient(oracle, device):
    q, tq = _pair(oracle, (2, 4, 3), device, 1)
    k, tk = _pair(oracle, (2, 5, 3), device, 2)
    v, tv = _pair(oracle, (2, 5, 3), device, 3)
    m, tm = _pair(oracle, (4, 5), device, 4)
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=m)
    ty = oracle.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=tm)
    _backward(oracle, device, y, ty)
    assert_close(m.grad, tm.grad, rtol=RTOL[device], atol=ATOL[device])


def test_sdpa_dropout(device):
    # uniform weights (q = k = 0) on one-hot values: each output is a dropped, rescaled weight
    S, p = 8, 0.25
    q = wgtorch.zeros((4, 64, 2), device=device)
    k = wgtorch.zeros((4, S, 2), device=device)
    v = wgtorch.eye(S, device=device).expand(4, S, S)
    out = to_np(F.scaled_dot_product_attention(q, k, v, dropout_p=p))
    kept = 1.0 / S / (1 - p)
    assert np.all(np.isclose(out, 0) | np.isclose(out, kept, rtol=1e-5))
    assert 0.15 < np.isclose(out, 0).mean() < 0.35
    assert np.allclose(to_np(F.scaled_dot_product_attention(q, k, v, dropout_p=0.0)), 1.0 / S)


def test_sdpa_errors(device):
    q = wgtorch.zeros((2, 3, 4), device=device)
    with pytest.raises(RuntimeError):
        F.scaled_dot_product_attention(q, q, q, attn_mask=wgtorch.ones((3, 3), dtype=wgtorch.bool, device=device),
                                       is_causal=True)
    with pytest.raises(RuntimeError):
        F.scaled_dot_product_attention(q, wgtorch.zeros((2, 3, 5), device=device), q)


# ---- MultiheadAttention ----------------------------------------------------------------------------
MHA_CASES = [
    # (name, ctor kwargs, L, S, N, forward kwargs spec)
    ("plain", {}, 5, 5, 3, {}),
    ("batch_first", {"batch_first": True}, 5, 7, 2, {}),
    ("batch1_odd", {}, 3, 7, 1, {}),
    ("per_head_weights", {}, 4, 6, 2, {"average_attn_weights": False}),
    ("no_weights", {"batch_first": True}, 4, 4, 2, {"need_weights": False}),
    ("bool_mask", {}, 6, 6, 2, {"attn_mask": "bool"}),
    ("float_mask_3d", {"batch_first": True}, 4, 5, 2, {"attn_mask": "float3d"}),
    ("causal", {"batch_first": True}, 6, 6, 2, {"attn_mask": "causal", "is_causal": True}),
    ("causal_no_weights", {}, 6, 6, 2, {"attn_mask": "causal", "is_causal": True, "need_weights": False}),
    ("key_padding", {"batch_first": True}, 5, 6, 3, {"key_padding_mask": "bool"}),
    ("key_padding_and_mask", {}, 6, 6, 2, {"key_padding_mask": "bool", "attn_mask": "bool"}),
    ("float_key_padding_and_mask", {}, 4, 5, 2, {"key_padding_mask": "float", "attn_mask": "float3d"}),
    ("kdim_vdim", {"kdim": 5, "vdim": 3}, 4, 6, 2, {}),
    ("no_bias", {"bias": False, "batch_first": True}, 4, 5, 2, {}),
    ("bias_kv_zero_attn", {"add_bias_kv": True, "add_zero_attn": True}, 4, 5, 2, {"key_padding_mask": "bool"}),
]
E, H = 12, 3


def _mha_masks(spec, L, S, N, oracle, device):
    w, t = {}, {}
    for name, kind in spec.items():
        if name not in ("attn_mask", "key_padding_mask"):
            w[name] = t[name] = kind
            continue
        rng = np.random.default_rng(len(name) + len(kind))
        if name == "key_padding_mask":
            m = rng.random((N, S)) < 0.3
            m[:, 0] = False  # keep one key per row
            if kind == "float":
                m = np.where(m, -1e9, 0).astype(np.float32)
        elif kind == "causal":
            m = np.triu(np.ones((L, S), bool), 1)
        elif kind == "bool":
            m = rng.random((L, S)) < 0.3
            m[:, 0] = False
        else:  # float3d
            m = rng.standard_normal((N * H, L, S)).astype(np.float32)
        w[name], t[name] = wgtorch.tensor(m, device=device), oracle.tensor(m)
    return w, t


@pytest.mark.parametrize("name,ctor,L,S,N,spec", MHA_CASES, ids=[c[0] for c in MHA_CASES])
def test_multihead_attention_matches_torch(oracle, device, name, ctor, L, S, N, spec):
    tm = oracle.nn.MultiheadAttention(E, H, **ctor)
    wm = _copy(oracle, tm, nn.MultiheadAttention(E, H, **ctor), device)
    bf = ctor.get("batch_first", False)
    shape = (lambda n, s, d: (n, s, d)) if bf else (lambda n, s, d: (s, n, d))
    q, tq = _pair(oracle, shape(N, L, E), device, 1)
    k, tk = _pair(oracle, shape(N, S, ctor.get("kdim", E)), device, 2)
    v, tv = _pair(oracle, shape(N, S, ctor.get("vdim", E)), device, 3)
    wkw, tkw = _mha_masks(spec, L, S, N, oracle, device)
    y, wts = wm(q, k, v, **wkw)
    ty, twts = tm(tq, tk, tv, **tkw)
    assert tuple(y.shape) == tuple(ty.shape)
    assert_close(y, ty, rtol=RTOL[device], atol=ATOL[device])
    if twts is None:
        assert wts is None
    else:
        assert_close(wts, twts, rtol=RTOL[device], atol=ATOL[device])
    _backward(oracle, device, y, ty)
    for a, ta in ((q, tq), (k, tk), (v, tv)):
        assert_close(a.grad, ta.grad, rtol=RTOL[device], atol=ATOL[device])
    _check_params(wm, tm, device)


@pytest.mark.parametrize("batch_first", [False, True])
def test_multihead_self_attention_and_unbatched(oracle, device, batch_first):
    tm = oracle.nn.MultiheadAttention(E, H, batch_first=batch_first)
    wm = _copy(oracle, tm, nn.MultiheadAttention(E, H, batch_first=batch_first), device)
    x, tx = _pair(oracle, (2, 5, E), device, 1)  # self-attention: one tensor as query, key and value
    y, wts = wm(x, x, x)
    ty, twts = tm(tx, tx, tx)
    assert_close(y, ty, rtol=RTOL[device], atol=ATOL[device])
    assert_close(wts, twts, rtol=RTOL[device], atol=ATOL[device])
    _backward(oracle, device, y, ty)
    assert_close(x.grad, tx.grad, rtol=RTOL[device], atol=ATOL[device])
    _check_params(wm, tm, device)
    u, tu = _pair(oracle, (5, E), device, 2)  # unbatched (L, E)
    kpm = np.array([False, False, True, False, True])
    y, wts = wm(u, u, u, key_padding_mask=wgtorch.tensor(kpm, device=device))
    ty, twts = tm(tu, tu, tu, key_padding_mask=oracle.tensor(kpm))
    assert tuple(y.shape) == (5, E) and tuple(wts.shape) == (5, 5)
    assert_close(y, ty, rtol=RTOL[device], atol=ATOL[device])
    assert_close(wts, twts, rtol=RTOL[device], atol=ATOL[device])


def test_multihead_attention_init_and_names(oracle):
    oracle.manual_seed(7)
    wgtorch.manual_seed(7)
    tm = oracle.nn.MultiheadAttention(8, 2, add_bias_kv=True)
    wm = nn.MultiheadAttention(8, 2, add_bias_kv=True)
    tsd, wsd = tm.state_dict(), wm.state_dict()
    assert list(wsd) == list(tsd)
    for k in tsd:  # torch's initialisation, draw for draw
        assert_close(wsd[k], tsd[k], rtol=0, atol=0)
    assert type(wm.out_proj).__name__ == "NonDynamicallyQuantizableLinear"
    assert isinstance(wm.out_proj, nn.Linear)
    sep = nn.MultiheadAttention(8, 2, kdim=4, vdim=6, bias=False)
    assert list(sep.state_dict()) == list(oracle.nn.MultiheadAttention(8, 2, kdim=4, vdim=6, bias=False).state_dict())
    with pytest.raises(AssertionError):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(RuntimeError):
        x = wgtorch.zeros((3, 1, 8))
        nn.MultiheadAttention(8, 2)(x, x, x, is_causal=True)


def test_multihead_attention_dropout_train_only(device):
    wgtorch.manual_seed(0)
    m = nn.MultiheadAttention(8, 2, dropout=0.5).to(device)
    x = wgtorch.randn((6, 2, 8), device=device)
    m.eval()
    a, _ = m(x, x, x)
    b, _ = m(x, x, x)
    assert np.array_equal(to_np(a), to_np(b))
    m.train()
    _, w = m(x, x, x, average_attn_weights=False)
    w = to_np(w)
    assert np.isclose(w, 0).any() and np.isclose(w, 0).mean() > 0.2  # dropped weights
    assert np.all(np.isclose(w, 0) | (w > 0))


# ---- Transformer layers and stacks -----------------------------------------------------------------
D, NH, FF = 8, 2, 16


def _src(oracle, device, batch_first, N, L, seed):
    return _pair(oracle, (N, L, D) if batch_first else (L, N, D), device, seed)


@pytest.mark.parametrize("norm_first,activation,batch_first", [
    (False, "relu", False), (True, "gelu", True), (False, "gelu", True), (True, "relu", False)])
def test_encoder_layer_matches_torch(oracle, device, norm_first, activation, batch_first):
    kw = dict(dim_feedforward=FF, dropout=0.0, activation=activation, batch_first=batch_first, norm_first=norm_first)
    tl = oracle.nn.TransformerEncoderLayer(D, NH, **kw)
    wl = _copy(oracle, tl, nn.TransformerEncoderLayer(D, NH, **kw), device)
    x, tx = _src(oracle, device, batch_first, 3, 5, 1)
    causal = np.triu(np.ones((5, 5), bool), 1)
    kpm = np.zeros((3, 5), bool)
    kpm[1, 3:] = True
    y = wl(x, src_mask=wgtorch.tensor(causal, device=device),
           src_key_padding_mask=wgtorch.tensor(kpm, device=device))
    ty = tl(tx, src_mask=oracle.tensor(causal), src_key_padding_mask=oracle.tensor(kpm))
    assert_close(y, ty, rtol=RTOL[device], atol=ATOL[device])
    _backward(oracle, device, y, ty)
    assert_close(x.grad, tx.grad, rtol=RTOL[device], atol=ATOL[device])
    _check_params(wl, tl, device)


def test_encoder_layer_options_and_eval(oracle, device):
    # a callable activation, no bias, batch 1, odd sizes; evaluation mode (torch's fast path) agrees too
    kw = dict(dim_feedforward=7, dropout=0.1, activation=oracle.nn.functional.gelu, bias=False,
              layer_norm_eps=1e-3)
    tl = oracle.nn.TransformerEncoderLayer(6, 3, **kw).eval()
    kw["activation"] = F.gelu
    wl = _copy(oracle, tl, nn.TransformerEncoderLayer(6, 3, **kw), device).eval()
    assert list(wl.state_dict()) == list(tl.state_dict())
    a = _arr((7, 1, 6), 3)
    with oracle.no_grad():
        ty = tl(oracle.tensor(a))
    assert_close(wl(wgtorch.tensor(a, device=device)), ty, rtol=RTOL[device], atol=ATOL[device])


@pytest.mark.parametrize("norm_first,batch_first", [(False, False), (True, True)])
def test_decoder_layer_matches_torch(oracle, device, norm_first, batch_first):
    kw = dict(dim_feedforward=FF, dropout=0.0, activation="gelu", batch_first=batch_first, norm_first=norm_first)
    tl = oracle.nn.TransformerDecoderLayer(D, NH, **kw)
    wl = _copy(oracle, tl, nn.TransformerDecoderLayer(D, NH, **kw), device)
    x, tx = _src(oracle, device, batch_first, 2, 4, 1)
    m, tm = _src(oracle, device, batch_first, 2, 6, 2)
    causal = np.triu(np.ones((4, 4), bool), 1)
    mkpm = np.zeros((2, 6), bool)
    mkpm[0, 4:] = True
    y = wl(x, m, tgt_mask=wgtorch.tensor(causal, device=device), tgt_is_causal=True,
           memory_key_padding_mask=wgtorch.tensor(mkpm, device=device))
    ty = tl(tx, tm, tgt_mask=oracle.tensor(causal), tgt_is_causal=True, memory_key_padding_mask=oracle.tensor(mkpm))
    assert_close(y, ty, rtol=RTOL[device], atol=ATOL[device])
    _backward(oracle, device, y, ty)
    assert_close(x.grad, tx.grad, rtol=RTOL[device], atol=ATOL[device])
    assert_close(m.grad, tm.grad, rtol=RTOL[device], atol=ATOL[device])
    _check_params(wl, tl, device)


def test_encoder_decoder_stacks_match_torch(oracle, device):
    kw = dict(dim_feedforward=FF, dropout=0.0, batch_first=True)
    tenc = oracle.nn.TransformerEncoder(oracle.nn.TransformerEncoderLayer(D, NH, **kw), 2,
                                        norm=oracle.nn.LayerNorm(D), enable_nested_tensor=False)
    tdec = oracle.nn.TransformerDecoder(oracle.nn.TransformerDecoderLayer(D, NH, **kw), 2, norm=oracle.nn.LayerNorm(D))
    wenc = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, NH, **kw), 2, norm=nn.LayerNorm(D))
    wdec = nn.TransformerDecoder(nn.TransformerDecoderLayer(D, NH, **kw), 2, norm=nn.LayerNorm(D))
    assert list(wenc.state_dict()) == list(tenc.state_dict())
    assert list(wdec.state_dict()) == list(tdec.state_dict())
    wenc, wdec = _copy(oracle, tenc, wenc, device), _copy(oracle, tdec, wdec, device)
    s, ts = _pair(oracle, (2, 5, D), device, 1)
    t, tt = _pair(oracle, (2, 3, D), device, 2)
    causal = np.triu(np.full((3, 3), -np.inf, np.float32), 1)
    mem, tmem = wenc(s), tenc(ts)
    assert_close(mem, tmem, rtol=RTOL[device], atol=ATOL[device])
    y = wdec(t, mem, tgt_mask=wgtorch.tensor(causal, device=device), tgt_is_causal=True)
    ty = tdec(tt, tmem, tgt_mask=oracle.tensor(causal), tgt_is_causal=True)
    assert_close(y, ty, rtol=RTOL[device], atol=ATOL[device])
    _backward(oracle, device, y, ty)
    assert_close(s.grad, ts.grad, rtol=RTOL[device], atol=ATOL[device])
    assert_close(t.grad, tt.grad, rtol=RTOL[device], atol=ATOL[device])
    _check_params(wenc, tenc, device)
    _check_params(wdec, tdec, device)
    # the clones are independent copies
    assert wenc.layers[0].linear1.weight is not wenc.layers[1].linear1.weight


@pytest.mark.parametrize("batch_first, norm_first", [(False, False), (True, True)])
def test_transformer_matches_torch(oracle, device, batch_first, norm_first):
    """nn.Transformer: its encoder and decoder stacks with their final norms, masks from
    generate_square_subsequent_mask, padding masks; outputs and every gradient as torch's."""
    kw = dict(d_model=D, nhead=NH, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=FF, dropout=0.0,
              batch_first=batch_first, norm_first=norm_first)
    tm, wm = oracle.nn.Transformer(**kw), nn.Transformer(**kw)
    assert list(wm.state_dict()) == list(tm.state_dict())
    wm = _copy(oracle, tm, wm, device)
    src_shape, tgt_shape = ((2, 5, D), (2, 4, D)) if batch_first else ((5, 2, D), (4, 2, D))
    s, ts = _pair(oracle, src_shape, device, 1)
    t, tt = _pair(oracle, tgt_shape, device, 2)
    mask = wgtorch.nn.Transformer.generate_square_subsequent_mask(4, device=device)
    tmask = oracle.nn.Transformer.generate_square_subsequent_mask(4)
    assert_close(mask, tmask, rtol=0, atol=0)
    pad = np.array([[False] * 4 + [True], [False] * 5])
    y = wm(s, t, tgt_mask=mask, src_key_padding_mask=wgtorch.tensor(pad, device=device),
           memory_key_padding_mask=wgtorch.tensor(pad, device=device), tgt_is_causal=True)
    ty = tm(ts, tt, tgt_mask=tmask, src_key_padding_mask=oracle.tensor(pad), memory_key_padding_mask=oracle.tensor(pad),
            tgt_is_causal=True)
    assert_close(y, ty, rtol=RTOL[device], atol=ATOL[device])
    _backward(oracle, device, y, ty)
    assert_close(s.grad, ts.grad, rtol=RTOL[device], atol=ATOL[device])
    assert_close(t.grad, tt.grad, rtol=RTOL[device], atol=ATOL[device])
    _check_params(wm, tm, device)
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        wm(s, t[:1] if batch_first else t[:, :1])
    with pytest.raises(RuntimeError, match="the feature number of src and tgt must be equal to d_model"):
        wm(s, t[..., :2])
