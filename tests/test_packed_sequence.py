"""nn.utils.rnn (pad_sequence, pack_padded_sequence, pad_packed_sequence, pack_sequence, PackedSequence)
and the recurrent layers on packed input, against torch: values, index fields, errors, gradients."""
import numpy as np
import pytest
from conftest import assert_close, to_np

import wgtorch
import wgtorch.nn as nn
from wgtorch.nn.utils import rnn as wr

TOL = {"cpu": {"rtol": 1e-4, "atol": 1e-5}, "wgpu": {"rtol": 1e-3, "atol": 1e-4}}
LENS = [3, 5, 1, 3]  # unsorted, with a tie


def _arr(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _seqs(lens, feat=2, seed=0):
    return [_arr((n, feat), seed + i) for i, n in enumerate(lens)]


def _same_packed(pw, pt):
    np.testing.assert_array_equal(to_np(pw.data), pt.data.detach().numpy())
    assert pw.batch_sizes.device.type == "cpu" and pw.batch_sizes.dtype is wgtorch.int64
    assert pw.batch_sizes.tolist() == pt.batch_sizes.tolist()
    for a, b in ((pw.sorted_indices, pt.sorted_indices), (pw.unsorted_indices, pt.unsorted_indices)):
        assert (a is None) == (b is None)
        if a is not None:
            assert to_np(a).tolist() == b.tolist()


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence(device, oracle, batch_first, side):
    arrs = _seqs(LENS)
    ws = [wgtorch.tensor(a, device=device, requires_grad=True) for a in arrs]
    ts = [oracle.tensor(a, requires_grad=True) for a in arrs]
    pw = wr.pad_sequence(ws, batch_first=batch_first, padding_value=-7.0, padding_side=side)
    pt = oracle.nn.utils.rnn.pad_sequence(ts, batch_first=batch_first, padding_value=-7.0, padding_side=side)
    np.testing.assert_array_equal(to_np(pw), pt.detach().numpy())
    g = _arr(tuple(pt.shape), 9)
    (pw * wgtorch.tensor(g, device=device)).sum().backward()
    (pt * oracle.tensor(g)).sum().backward()
    for a, b in zip(ws, ts):
        np.testing.assert_array_equal(to_np(a.grad), b.grad.numpy())
    with pytest.raises(ValueError, match="padding_side"):
        wr.pad_sequence(ws, padding_side="middle")


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted", [False, True])
def test_pack_and_pad_round_trip(device, oracle, batch_first, enforce_sorted):
    lens = sorted(LENS, reverse=True) if enforce_sorted else LENS
    arrs = _seqs(lens)
    padded = oracle.nn.utils.rnn.pad_sequence([oracle.tensor(a) for a in arrs], batch_first=batch_first)
    x = padded.numpy()
    xw = wgtorch.tensor(x, device=device, requires_grad=True)
    xt = oracle.tensor(x, requires_grad=True)
    for lengths in (lens, oracle.tensor(lens)):
        pt = oracle.nn.utils.rnn.pack_padded_sequence(xt, lengths, batch_first=batch_first,
                                                      enforce_sorted=enforce_sorted)
        lw = lengths if isinstance(lengths, list) else wgtorch.tensor(lengths.numpy())
        pw = wr.pack_padded_sequence(xw, lw, batch_first=batch_first, enforce_sorted=enforce_sorted)
        assert isinstance(pw, wr.PackedSequence) and isinstance(pw, tuple)
        _same_packed(pw, pt)
    for total in (None, 7):
        ow, lw = wr.pad_packed_sequence(pw, batch_first=batch_first, padding_value=0.5, total_length=total)
        ot, lt = oracle.nn.utils.rnn.pad_packed_sequence(pt, batch_first=batch_first, padding_value=0.5,
                                                         total_length=total)
        np.testing.assert_array_equal(to_np(ow), ot.detach().numpy())
        assert lw.tolist() == lt.tolist() and lw.dtype is wgtorch.int64 and lw.device.type == "cpu"
    g = _arr(tuple(ot.shape), 3)
    (ow * wgtorch.tensor(g, device=device)).sum().backward()
    (ot * oracle.tensor(g)).sum().backward()
    np.testing.assert_array_equal(to_np(xw.grad), xt.grad.numpy())  # zero where padded
    with pytest.raises(ValueError, match="Expected total_length to be at least"):
        wr.pad_packed_sequence(pw, total_length=2)


def test_pack_sequence_and_unpack(device, oracle):
    arrs = _seqs(LENS, feat=3, seed=5)
    ws = [wgtorch.tensor(a, device=device) for a in arrs]
    pw = wr.pack_sequence(ws, enforce_sorted=False)
    pt = oracle.nn.utils.rnn.pack_sequence([oracle.tensor(a) for a in arrs], enforce_sorted=False)
    _same_packed(pw, pt)
    for a, b in zip(wr.unpack_sequence(pw), arrs):
        np.testing.assert_array_equal(to_np(a), b)
    padded = wr.pad_sequence(ws, batch_first=True)
    for a, b in zip(wr.unpad_sequence(padded, wgtorch.tensor(LENS), batch_first=True), arrs):
        np.testing.assert_array_equal(to_np(a), b)


def _err(fn):
    with pytest.raises(Exception) as e:
        fn()
    return type(e.value).__name__, str(e.value)


def test_errors_as_torch(oracle):
    x = np.zeros((5, 4, 2), np.float32)
    def pack(mod, lens):
        return mod.nn.utils.rnn.pack_padded_sequence(mod.tensor(x), lens, enforce_sorted=lens[0] == 3)
    for lens in ([3, 5, 1, 3], [5, 3, 0, 0]):  # unsorted; an empty sequence
        assert _err(lambda: pack(wgtorch, lens)) == _err(lambda: pack(oracle, lens))  # noqa: B023


def test_packed_sequence_to(device):
    pw = wr.pack_sequence([wgtorch.ones(3, 2), wgtorch.ones(1, 2)], enforce_sorted=False)
    moved = pw.to(device)
    assert moved.data.device.type == ("cpu" if device == "cpu" else "wgpu")
    assert moved.sorted_indices.device == moved.data.device and moved.batch_sizes.device.type == "cpu"
    assert moved.to(dtype=wgtorch.float16).data.dtype is wgtorch.float16
    assert pw.to("cpu") is pw  # nothing to do
    assert wr.PackedSequence(pw.data, pw.batch_sizes).unsorted_indices is None
    assert moved.is_cuda == (device != "cpu") and not moved.is_pinned()


CONFIGS = [
    ("RNN", {"nonlinearity": "relu"}),
    ("GRU", {"num_layers": 2}),
    ("LSTM", {"bidirectional": True, "num_layers": 2}),
    ("LSTM", {"proj_size": 2, "bidirectional": True}),
    ("GRU", {"bidirectional": True, "batch_first": True}),
]


@pytest.mark.parametrize("cls,kw", CONFIGS, ids=[f"{c}-{'-'.join(k)}" for c, k in CONFIGS])
@pytest.mark.parametrize("give_h0,enforce_sorted", [(False, False), (True, False), (True, True)])
def test_recurrent_layers_on_packed_input(device, oracle, cls, kw, give_h0, enforce_sorted):
    """Packed input (lengths sorted or not): packed output, final states (in the caller's batch order) and all
    gradients equal torch's."""
    lens = sorted(LENS, reverse=True) if enforce_sorted else LENS
    t = getattr(oracle.nn, cls)(3, 4, **kw)
    w = getattr(nn, cls)(3, 4, **kw)
    w.load_state_dict({k: wgtorch.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    w = w.to(device)
    bf = kw.get("batch_first", False)
    B, T = len(lens), max(lens)
    x = _arr((B, T, 3) if bf else (T, B, 3), 1)
    xw, xt = wgtorch.tensor(x, device=device, requires_grad=True), oracle.tensor(x, requires_grad=True)
    pw = wr.pack_padded_sequence(xw, lens, batch_first=bf, enforce_sorted=enforce_sorted)
    pt = oracle.nn.utils.rnn.pack_padded_sequence(xt, lens, batch_first=bf, enforce_sorted=enforce_sorted)
    hw = ht = None
    if give_h0:
        D = (2 if kw.get("bidirectional") else 1) * kw.get("num_layers", 1)
        h = _arr((D, B, kw.get("proj_size") or 4), 2)
        hw, ht = wgtorch.tensor(h, device=device, requires_grad=True), oracle.tensor(h, requires_grad=True)
        if cls == "LSTM":
            c = _arr((D, B, 4), 3)
            hw = (hw, wgtorch.tensor(c, device=device, requires_grad=True))
            ht = (ht, oracle.tensor(c, requires_grad=True))
    ow, sw = w(pw, hw)
    ot, st = t(pt, ht)
    assert isinstance(ow, wr.PackedSequence)
    assert_close(ow.data, ot.data, **TOL[device])
    assert ow.batch_sizes.tolist() == ot.batch_sizes.tolist()
    assert (ow.unsorted_indices is None) == enforce_sorted
    if not enforce_sorted:
        assert to_np(ow.unsorted_indices).tolist() == ot.unsorted_indices.tolist()
    sw = sw if isinstance(sw, tuple) else (sw,)
    st = st if isinstance(st, tuple) else (st,)
    for a, b in zip(sw, st):
        assert_close(a, b, **TOL[device])
    # gradients through the packed output and the final states
    outs_w, outs_t = [ow.data, *sw], [ot.data, *st]
    lw, lt = 0, 0
    for k, (a, b) in enumerate(zip(outs_w, outs_t)):
        g = _arr(tuple(b.shape), 50 + k)
        lw = lw + (a * wgtorch.tensor(g, device=device)).sum()
        lt = lt + (b * oracle.tensor(g)).sum()
    lw.backward()
    lt.backward()
    assert_close(xw.grad, xt.grad, **TOL[device])
    if give_h0:
        for a, b in zip(hw if isinstance(hw, tuple) else (hw,), ht if isinstance(ht, tuple) else (ht,)):
            assert_close(a.grad, b.grad, **TOL[device])
    tp = dict(t.named_parameters())
    for name, p in w.named_parameters():
        assert_close(p.grad, tp[name].grad, **TOL[device])


def test_packed_lstm_padded_outputs_match_per_sequence_runs(device):
    """Each sequence run alone through the LSTM gives its rows of the padded packed output (NumPy-free check
    that padding never leaks into the states)."""
    wgtorch.manual_seed(0)
    lstm = nn.LSTM(2, 3, batch_first=True).to(device)
    arrs = _seqs(LENS, seed=20)
    packed = wr.pack_sequence([wgtorch.tensor(a, device=device) for a in arrs], enforce_sorted=False)
    out, (h, c) = lstm(packed)
    padded, lengths = wr.pad_packed_sequence(out, batch_first=True)
    assert lengths.tolist() == LENS
    for i, a in enumerate(arrs):
        o1, (h1, c1) = lstm(wgtorch.tensor(a[None], device=device))
        assert_close(padded[i, :LENS[i]], to_np(o1[0]), **TOL[device])
        assert float(padded[i, LENS[i]:].abs().sum()) == 0.0
        assert_close(h[:, i], to_np(h1[:, 0]), **TOL[device])
        assert_close(c[:, i], to_np(c1[:, 0]), **TOL[device])
