"""Recurrent layers (RNN, LSTM, GRU and their cells) against torch with the same
weights copied in: outputs, final states and gradients w.r.t. input, initial
states and every parameter, on both devices; default initialisation and printing;
dropout; an LSTM tagger trained for 20 steps against torch."""
import numpy as np
import pytest
from conftest import assert_close, to_np

import wgtorch
import wgtorch.nn as nn

TOL = {"cpu": {"rtol": 1e-4, "atol": 1e-5}, "wgpu": {"rtol": 1e-3, "atol": 1e-4}}


def _arr(shape, seed, scale=1.0, dtype=np.float32):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def _twins(oracle, cls, args, kwargs, device, dtype=np.float32):
    """A torch module and a wgtorch module on device with the torch module's weights."""
    t = getattr(oracle.nn, cls)(*args, **kwargs)
    w = getattr(nn, cls)(*args, **kwargs)
    if dtype == np.float64:
        t, w = t.double(), w.double()
    w.load_state_dict({k: wgtorch.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    return t, w.to(device)


def _leaf(a, device, oracle):
    return wgtorch.tensor(a, device=device, requires_grad=True), oracle.tensor(a, requires_grad=True)


def _backward(outs, touts, device, oracle, seed=100):
    """Backpropagate the same random projection of every output through both graphs."""
    wl = wgtorch.tensor(0.0, device=device, dtype=outs[0].dtype)
    tl = 0.0
    for k, (o, to) in enumerate(zip(outs, touts)):
        g = _arr(tuple(to.shape), seed + k, dtype=to.detach().numpy().dtype)
        wl = wl + (o * wgtorch.tensor(g, device=device)).sum()
        tl = tl + (to * oracle.tensor(g)).sum()
    wl.backward()
    tl.backward()


def _compare_params(w, t, tol):
    tp = dict(t.named_parameters())
    wp = dict(w.named_parameters())
    assert list(wp) == list(tp)
    for name, p in wp.items():
        assert tuple(p.shape) == tuple(tp[name].shape), name
        assert p.grad is not None, name
        assert_close(p.grad, tp[name].grad, **tol)


# ---- the layers ----------------------------------------------------------------------------------
# (name, constructor kwargs, batch (None: unbatched), seq, give initial states)
CONFIGS = [
    ("l1", {}, 3, 4, False),
    ("l2_bi_h0", {"num_layers": 2, "bidirectional": True}, 2, 3, True),
    ("batch_first_b1_odd", {"batch_first": True}, 1, 5, True),
    ("l2_nobias", {"num_layers": 2, "bias": False}, 2, 3, True),
    ("unbatched_h0", {"bidirectional": True}, None, 4, True),
    ("unbatched_batch_first", {"batch_first": True, "num_layers": 2}, None, 3, False),
]
MODES = [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {}), ("GRU", {})]


def _run_case(oracle, device, cls, mode_kw, kw, batch, seq, with_h0, dtype=np.float32, input_size=4, hidden=5):
    tol = TOL[device] if dtype == np.float32 else {"rtol": 1e-9, "atol": 1e-10}
    t, w = _twins(oracle, cls, (input_size, hidden), {**mode_kw, **kw}, device, dtype)
    # a non-zero bias on every parameter keeps the comparison sharp
    bf = kw.get("batch_first", False)
    shape = (seq, input_size) if batch is None else ((batch, seq, input_size) if bf else (seq, batch, input_size))
    x, tx = _leaf(_arr(shape, 0, dtype=dtype), device, oracle)
    D = 2 if kw.get("bidirectional") else 1
    L = kw.get("num_layers", 1)
    hsize = mode_kw.get("proj_size", 0) or hidden
    states, tstates = [], []
    if with_h0:
        lead = (L * D,) if batch is None else (L * D, batch)
        h0, th0 = _leaf(_arr(lead + (hsize,), 1, 0.5, dtype), device, oracle)
        states, tstates = [h0], [th0]
        if cls == "LSTM":
            c0, tc0 = _leaf(_arr(lead + (hidden,), 2, 0.5, dtype), device, oracle)
            states, tstates = [h0, c0], [th0, tc0]
    if cls == "LSTM":
        hx, thx = (tuple(states), tuple(tstates)) if with_h0 else (None, None)
        out, (hn, cn) = w(x, hx)
        tout, (thn, tcn) = t(tx, thx)
        outs, touts = [out, hn, cn], [tout, thn, tcn]
    else:
        hx, thx = (states[0], tstates[0]) if with_h0 else (None, None)
        out, hn = w(x, hx)
        tout, thn = t(tx, thx)
        outs, touts = [out, hn], [tout, thn]
    for o, to in zip(outs, touts):
        assert tuple(o.shape) == tuple(to.shape)
        assert o.device.type == wgtorch.device(device).type
        assert_close(o, to, **tol)
    _backward(outs, touts, device, oracle)
    assert_close(x.grad, tx.grad, **tol)
    for s, ts in zip(states, tstates):
        assert_close(s.grad, ts.grad, **tol)
    _compare_params(w, t, tol)


@pytest.mark.parametrize("cls,mode_kw", MODES, ids=["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("case", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_recurrent_layer_matches_torch(oracle, device, cls, mode_kw, case):
    _, kw, batch, seq, with_h0 = case
    _run_case(oracle, device, cls, mode_kw, kw, batch, seq, with_h0)


@pytest.mark.parametrize("case", [("proj_l2_bi_h0", {"num_layers": 2, "bidirectional": True}, 2, 3, True),
                                  ("proj_unbatched", {"batch_first": True}, None, 4, False)],
                         ids=lambda c: c[0])
def test_lstm_proj_size_matches_torch(oracle, device, case):
    _, kw, batch, seq, with_h0 = case
    _run_case(oracle, device, "LSTM", {"proj_size": 3}, kw, batch, seq, with_h0)


@pytest.mark.float64
@pytest.mark.parametrize("cls,mode_kw", MODES + [("LSTM", {"proj_size": 2})],
                         ids=["rnn_tanh", "rnn_relu", "lstm", "gru", "lstm_proj"])
def test_recurrent_layer_float64_tight(oracle, cls, mode_kw):
    _run_case(oracle, "cpu", cls, mode_kw, {"num_layers": 2, "bidirectional": True}, 3, 4, True, dtype=np.float64)


# ---- the cells -----------------------------------------------------------------------------------
CELL_CASES = [("batched_h0", 3, True, True), ("batched_no_h0", 2, False, True), ("batch1_nobias", 1, True, False),
              ("unbatched_h0", None, True, True), ("unbatched_no_h0", None, False, True)]


@pytest.mark.parametrize("cls,kw", [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}), ("LSTMCell", {}),
                                    ("GRUCell", {})], ids=["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("case", CELL_CASES, ids=[c[0] for c in CELL_CASES])
def test_cell_matches_torch(oracle, device, cls, kw, case):
    _, batch, with_h0, bias = case
    I, H = 4, 7
    tol = TOL[device]
    t, w = _twins(oracle, cls, (I, H), {**kw, "bias": bias}, device)
    lead = () if batch is None else (batch,)
    x, tx = _leaf(_arr(lead + (I,), 0), device, oracle)
    states, tstates = [], []
    if with_h0:
        n = 2 if cls == "LSTMCell" else 1
        for k in range(n):
            s, ts = _leaf(_arr(lead + (H,), 1 + k, 0.5), device, oracle)
            states.append(s)
            tstates.append(ts)
    if cls == "LSTMCell":
        outs = list(w(x, tuple(states) if with_h0 else None))
        touts = list(t(tx, tuple(tstates) if with_h0 else None))
    else:
        outs = [w(x, states[0] if with_h0 else None)]
        touts = [t(tx, tstates[0] if with_h0 else None)]
    for o, to in zip(outs, touts):
        assert tuple(o.shape) == tuple(to.shape)
        assert_close(o, to, **tol)
    _backward(outs, touts, device, oracle)
    assert_close(x.grad, tx.grad, **tol)
    for s, ts in zip(states, tstates):
        assert_close(s.grad, ts.grad, **tol)
    _compare_params(w, t, tol)


def test_cell_unrolled_by_hand_matches_torch(oracle, device):
    """A cell stepped over a sequence (the teaching-code pattern) accumulates gradients as torch."""
    t, w = _twins(oracle, "LSTMCell", (3, 6), {}, device)
    xs = _arr((5, 2, 3), 0)
    h, c = None, None
    th = None
    for k in range(5):
        hc = w(wgtorch.tensor(xs[k], device=device), None if h is None else (h, c))
        h, c = hc
        th = t(oracle.tensor(xs[k]), th)
    assert_close(h, th[0], **TOL[device])
    (h.sum() + c.sum()).backward()
    (th[0].sum() + th[1].sum()).backward()
    _compare_params(w, t, TOL[device])


# ---- initialisation, printing, API ----------------------------------------------------------------
INIT_CASES = [("RNN", (5, 7), {"num_layers": 2, "bidirectional": True}), ("RNN", (5, 7), {"nonlinearity": "relu"}),
              ("LSTM", (5, 7), {"num_layers": 2, "proj_size": 3, "bidirectional": True}),
              ("LSTM", (4, 6), {"bias": False, "batch_first": True, "dropout": 0.25, "num_layers": 3}),
              ("GRU", (3, 9), {"num_layers": 2}), ("RNNCell", (5, 7), {"nonlinearity": "relu", "bias": False}),
              ("LSTMCell", (5, 7), {}), ("GRUCell", (2, 11), {})]


@pytest.mark.parametrize("cls,args,kw", INIT_CASES)
def test_default_init_and_repr_match_torch(oracle, cls, args, kw):
    oracle.manual_seed(123)
    t = getattr(oracle.nn, cls)(*args, **kw)
    wgtorch.manual_seed(123)
    w = getattr(nn, cls)(*args, **kw)
    tp, wp = dict(t.named_parameters()), dict(w.named_parameters())
    assert list(wp) == list(tp)
    for name, tparam in tp.items():
        assert tuple(wp[name].shape) == tuple(tparam.shape)
        np.testing.assert_array_equal(to_np(wp[name]), tparam.detach().numpy(), err_msg=name)
    assert repr(w) == repr(t)
    # the stream continues where torch's does
    np.testing.assert_array_equal(to_np(wgtorch.rand(4)), oracle.rand(4).numpy())


def test_module_api():
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    assert m.mode == "LSTM" and m.input_size == 3 and m.hidden_size == 4 and m.proj_size == 0
    assert m._flat_weights_names[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert [p is q for p, q in zip(m._flat_weights, m.parameters())] == [True] * 16
    assert len(m.all_weights) == 4 and m.all_weights[1][0] is m.weight_ih_l0_reverse
    m.flatten_parameters()
    assert isinstance(nn.RNN(2, 3), nn.RNNBase) and isinstance(nn.GRUCell(2, 3), nn.RNNCellBase)
    assert m.state_dict()["weight_hh_l1_reverse"].shape == (16, 4)


def test_errors_match_torch(oracle):
    cases = [
        (lambda M: M.RNN(3, 4, nonlinearity="gelu"), ValueError),
        (lambda M: M.GRU(3, 4, proj_size=2), ValueError),
        (lambda M: M.LSTM(3, 4, proj_size=4), ValueError),
        (lambda M: M.LSTM(3, 4, dropout=1.5), ValueError),
        (lambda M: M.LSTM(3, 0), ValueError),
        (lambda M: M.LSTM(3, 4, bias=1), TypeError),
    ]
    for make, err in cases:
        with pytest.raises(err) as ew:
            make(nn)
        with pytest.raises(err) as et:
            make(oracle.nn)
        assert str(ew.value) == str(et.value)
    calls = [
        ("LSTM", lambda M, T: M(T.zeros(2, 3, 3, 3))),  # 4-D input
        ("LSTM", lambda M, T: M(T.zeros(2, 3, 5))),  # wrong input_size
        ("LSTM", lambda M, T: M(T.zeros(2, 3, 3), (T.zeros(1, 2, 4), T.zeros(1, 3, 4)))),  # wrong batch in h0
        ("LSTM", lambda M, T: M(T.zeros(2, 3, 3), (T.zeros(2, 4), T.zeros(2, 4)))),  # 2-D states for 3-D input
        ("GRU", lambda M, T: M(T.zeros(2, 3), T.zeros(1, 1, 4))),  # 3-D state for 2-D input
        ("GRU", lambda M, T: M(T.zeros(2, 3, 3), T.zeros(1, 3, 5))),
        ("GRU", lambda M, T: M(T.zeros(2, 3, 3, dtype=T.float64))),  # dtype mismatch
        ("RNN", lambda M, T: M(T.zeros(2, 3, 3), T.zeros(2, 3, 4))),
        ("GRUCell", lambda M, T: M(T.zeros(2, 3, 3))),
        ("LSTMCell", lambda M, T: M(T.zeros(2, 3), (T.zeros(3, 4), T.zeros(3, 4)))),
        ("RNNCell", lambda M, T: M(T.zeros(2, 3), T.zeros(2, 5))),
    ]
    for cls, call in calls:
        w, t = getattr(nn, cls)(3, 4), getattr(oracle.nn, cls)(3, 4)
        with pytest.raises(Exception) as et:
            call(t, oracle)
        with pytest.raises(type(et.value)) as ew:
            call(w, wgtorch)
        assert str(ew.value) == str(et.value), cls


def test_dropout_warning_for_one_layer():
    with pytest.warns(UserWarning, match="dropout option adds dropout after all but last recurrent layer"):
        nn.LSTM(3, 4, dropout=0.5)


# ---- dropout -------------------------------------------------------------------------------------
def test_dropout_between_layers(oracle, device):
    """Training mode draws masks (outputs vary, only between layers); eval mode is deterministic and
    equals the same network without dropout; p=1 drops the whole lower layer as torch does."""
    t, w = _twins(oracle, "LSTM", (3, 8), {"num_layers": 2, "dropout": 0.5}, device)
    x = _arr((6, 4, 3), 0)
    wx = wgtorch.tensor(x, device=device)
    wgtorch.manual_seed(0)
    o1, (h1, _) = w(wx)
    o2, (h2, _) = w(wx)
    assert not np.allclose(to_np(o1), to_np(o2))
    # layer 0 sees no dropout: its final state is the same in both calls
    assert_close(h1[0], to_np(h2[0]), rtol=1e-6, atol=1e-7)
    w.eval()
    t.eval()
    o3, _ = w(wx)
    o4, _ = w(wx)
    assert_close(o3, to_np(o4), rtol=0, atol=0)
    assert_close(o3, t(oracle.tensor(x))[0], **TOL[device])
    # training with p = 1: the upper layer sees zeros
    t1, w1 = _twins(oracle, "GRU", (3, 5), {"num_layers": 2, "dropout": 1.0}, device)
    assert w1.training
    assert_close(w1(wx)[0], t1(oracle.tensor(x))[0], **TOL[device])


def test_dropout_statistics_cpu():
    """With p = 0.5 about half of the first layer's outputs reach the second layer, scaled by 2."""
    wgtorch.manual_seed(0)
    m = nn.RNN(4, 400, num_layers=2, dropout=0.5, bias=False)
    with wgtorch.no_grad():
        m.weight_hh_l1.zero_()
        m.weight_ih_l1.copy_(wgtorch.eye(400))
        x = wgtorch.randn(3, 2, 4)
        out, _ = m(x)
        m.eval()
        ref, _ = m(x)
    # layer 1 is tanh(dropout(y0)) with y0 = tanh(...) of layer 0: tanh(y0) in eval, tanh(2 y0) or 0 in training
    o, r = to_np(out), to_np(ref)
    y0 = np.arctanh(r)
    kept = np.isclose(o, np.tanh(2 * y0), atol=1e-5)
    dropped = o == 0
    assert np.all(kept | dropped)
    assert 0.45 < dropped.mean() < 0.55


# ---- an LSTM tagger trained against torch --------------------------------------------------------
def _tagger_classes(lib, embedding):
    class OneHotEmbedding(lib.nn.Module):  # used only while wgtorch.nn.Embedding does not exist
        def __init__(self, n, d):
            super().__init__()
            self.n = n
            self.weight = lib.nn.Parameter(lib.randn(n, d))

        def forward(self, idx):
            onehot = lib.tensor(np.eye(self.n, dtype=np.float32)[np.asarray(idx.cpu().numpy())],
                                device=self.weight.device)
            return onehot @ self.weight

    class Tagger(lib.nn.Module):
        def __init__(self, vocab, emb, hidden, tags):
            super().__init__()
            self.embedding = (lib.nn.Embedding if embedding else OneHotEmbedding)(vocab, emb)
            self.lstm = lib.nn.LSTM(emb, hidden, num_layers=2, batch_first=True, bidirectional=True)
            self.head = lib.nn.Linear(2 * hidden, tags)

        def forward(self, idx):
            out, _ = self.lstm(self.embedding(idx))
            return self.head(out)

    return Tagger


@pytest.mark.parametrize("opt", ["Adam", "SGD"])
def test_lstm_tagger_trains_like_torch(oracle, device, opt):
    vocab, emb, hidden, tags, batch, seq = 12, 6, 7, 5, 4, 6
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, vocab, (batch, seq))
    labels = (tokens * 3 + np.roll(tokens, 1, axis=1)) % tags  # depends on context: learnable by an LSTM
    has_embedding = hasattr(wgtorch.nn, "Embedding")
    tm = _tagger_classes(oracle, True)(vocab, emb, hidden, tags)
    wm = _tagger_classes(wgtorch, has_embedding)(vocab, emb, hidden, tags)
    wm.load_state_dict({k: wgtorch.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    wm.to(device)
    kw = {"lr": 0.01} if opt == "Adam" else {"lr": 0.5, "momentum": 0.9}
    topt, wopt = getattr(oracle.optim, opt)(tm.parameters(), **kw), getattr(wgtorch.optim, opt)(wm.parameters(), **kw)
    tx, ty = oracle.tensor(tokens), oracle.tensor(labels)
    wx, wy = wgtorch.tensor(tokens, device=device), wgtorch.tensor(labels, device=device)
    tl, wl = [], []
    for _ in range(20):
        topt.zero_grad()
        loss = oracle.nn.functional.cross_entropy(tm(tx).reshape(-1, tags), ty.reshape(-1))
        loss.backward()
        topt.step()
        tl.append(loss.item())
        wopt.zero_grad()
        loss = wgtorch.nn.functional.cross_entropy(wm(wx).reshape(-1, tags), wy.reshape(-1))
        loss.backward()
        wopt.step()
        wl.append(loss.item())
    np.testing.assert_allclose(wl, tl, rtol=1e-4)
    assert tl[-1] < tl[0]


@pytest.mark.float64
@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
def test_double_backward_matches_torch(oracle, cls):
    """The layers are composites of differentiable ops: gradients of gradients match torch."""
    t, w = _twins(oracle, cls, (3, 4), {"bidirectional": True}, "cpu", np.float64)
    x = _arr((5, 2, 3), 0, dtype=np.float64)
    wx, tx = _leaf(x, "cpu", oracle)
    (tg,) = oracle.autograd.grad(t(tx)[0].pow(2).sum(), tx, create_graph=True)
    (wg,) = wgtorch.autograd.grad(w(wx)[0].pow(2).sum(), wx, create_graph=True)
    assert_close(wg, tg, rtol=1e-9, atol=1e-10)
    tg.sum().backward()
    wg.sum().backward()
    assert_close(wx.grad, tx.grad, rtol=1e-9, atol=1e-10)
    _compare_params(w, t, {"rtol": 1e-9, "atol": 1e-10})


def test_no_grad_forward(device):
    m = nn.GRU(3, 4, num_layers=2).to(device)
    with wgtorch.no_grad():
        out, h = m(wgtorch.randn(5, 2, 3, device=device))
    assert not out.requires_grad and out.grad_fn is None and tuple(h.shape) == (2, 2, 4)
