"""save / load in PyTorch's zip checkpoint format: round trips on both devices, files read and
written by real torch (the oracle), map_location, the allow-list unpickler refusing code, corrupt
files, and wgtorch.utils.safetensors. References are NumPy arrays built beside the tensors."""
import io
import os
import pickle
import struct
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import wgtorch
from wgtorch import bf16
from wgtorch.utils import safetensors as wst

NAMES = ["float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool"]
_NP = {"bfloat16": np.float32, "bool": np.bool_}  # reference dtype (bfloat16: its exact float32 values)


def _ref(name, shape, device="cpu", seed=0):
    """A NumPy reference of dtype `name` (extremes and, for floats, nan / inf / -0.0 included)."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    if name == "bool":
        a = rng.integers(0, 2, n).astype(bool)
    elif name.startswith(("int", "uint")):
        info = np.iinfo(name)
        lo, hi = (max(info.min, -2**31), min(info.max, 2**31 - 1)) if device != "cpu" else (info.min, info.max)
        a = rng.integers(lo, hi, n, dtype=name, endpoint=True)
        a[:2] = [lo, hi][:n]
    else:  # multiples of 1/8 below 8 are exact in every float dtype, bfloat16 included
        a = (rng.integers(-63, 64, n) / 8).astype(_NP.get(name, name))
        a[:4] = np.array([np.nan, np.inf, -0.0, -np.inf], a.dtype)[:n]
    return a.reshape(shape)


def _tensor(a, name, device):
    return wgtorch.tensor(a, dtype=getattr(wgtorch, name), device=device)


def _same(t, ref, name=None, device=None):
    """t (wgtorch) has ref's values exactly (nan where ref has nan, the sign of zeros), dtype and device."""
    if name is not None:
        assert t.dtype is getattr(wgtorch, name)
    if device is not None:
        assert t.device == wgtorch.device(device)
    a = t.detach().cpu()._host()  # (bfloat16 decoded to float32 exactly)
    assert a.shape == np.shape(ref)
    np.testing.assert_array_equal(a, ref)
    if a.dtype.kind == "f":
        np.testing.assert_array_equal(np.signbit(a), np.signbit(ref))


def _torch_np(t):
    t = t.detach()
    return t.float().numpy() if str(t.dtype) == "torch.bfloat16" else t.numpy()


def _roundtrip(obj, **kw):
    buf = io.BytesIO()
    wgtorch.save(obj, buf)
    buf.seek(0)
    return wgtorch.load(buf, **kw)


def _records(data):
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def _zip(records):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for n, d in records.items():
            z.writestr(n, d)
    return out.getvalue()


def _saved(obj):
    buf = io.BytesIO()
    wgtorch.save(obj, buf)
    return buf.getvalue()


# ---- wgtorch -> file -> wgtorch --------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_round_trip_every_dtype(device, name):
    ref = _ref(name, (3, 5), device)
    x = _tensor(ref, name, device)
    r = _roundtrip({"x": x, "row": x[1], "elem": x[2, 3], "col": x[:, 4], "empty": x[:0]}, map_location=device)
    _same(r["x"], ref, name, device)
    _same(r["row"], ref[1], name, device)
    _same(r["elem"], ref[2, 3], name, device)  # 0-d
    _same(r["col"], ref[:, 4], name, device)
    _same(r["empty"], ref[:0], name, device)
    _same(_roundtrip(x)[1:], ref[1:], name, "cpu")  # map_location None: the file says "cpu"


def test_views_keep_sharing_one_storage(device):
    ref = np.arange(24, dtype=np.float32).reshape(4, 6)
    base = wgtorch.tensor(ref, device=device)
    views = {"rows": (base[1:3], ref[1:3]), "cols": (base[:, 1::2], ref[:, 1::2]), "T": (base.T, ref.T),
             "elem": (base[2, 3], ref[2, 3]), "expand": (base[0].expand(3, 6), np.broadcast_to(ref[0], (3, 6))),
             "narrow": (base.view(-1)[5:17:3], ref.reshape(-1)[5:17:3])}
    data = _saved({"base": base, **{k: v for k, (v, _) in views.items()}})
    assert [n for n in _records(data) if "/data/" in n] == ["archive/data/0"]  # one storage, saved once
    r = wgtorch.load(io.BytesIO(data), map_location=device)
    _same(r["base"], ref, device=device)
    for k, (v, want) in views.items():
        _same(r[k], want, device=device)
        assert r[k].stride() == v.stride() and r[k].storage_offset() == v.storage_offset()
    r["base"].add_(100)  # the loaded views are views of the loaded base
    for k, (_, want) in views.items():
        _same(r[k], want + 100)


def test_a_view_alone_saves_its_whole_storage():
    base = wgtorch.arange(10.0)
    recs = _records(_saved(base[2:4]))
    assert len(recs["archive/data/0"]) == 40  # as torch does: all 10 floats
    r = _roundtrip(base[2:4])
    _same(r, np.array([2.0, 3.0], np.float32))
    assert r.storage_offset() == 2


def test_non_torch_layouts_are_saved_as_copies():
    a = wgtorch.arange(6.0).reshape(2, 3).flip(1)  # may be a negative-stride view on cpu
    _same(_roundtrip(a), np.arange(6.0, dtype=np.float32).reshape(2, 3)[:, ::-1])


def test_nested_containers_and_python_values():
    t = wgtorch.tensor([1.0, 2.0])
    obj = OrderedDict(a=[t, (t, None, "s", b"\x00\xffbytes")], b={"n": 2**70, "neg": -(2**40), "f": float("nan"),
                                                                     "i": -7, "big": 70000, "t": True, 3: {1, 2}})
    obj["empty"] = ([], {}, ())
    obj["dt"], obj["dev"], obj["size"] = wgtorch.float16, wgtorch.device("cpu"), t.shape
    r = _roundtrip(obj)
    assert type(r) is OrderedDict and list(r) == ["a", "b", "empty", "dt", "dev", "size"]
    assert r["a"][0] is r["a"][1][0]  # one object saved twice is one object loaded, as in torch
    _same(r["a"][0], np.array([1.0, 2.0], np.float32))
    assert r["a"][1][1:] == (None, "s", b"\x00\xffbytes") and isinstance(r["a"][1], tuple)
    b = r["b"]
    assert (b["n"], b["neg"], b["i"], b["big"], b["t"], b[3]) == (2**70, -(2**40), -7, 70000, True, {1, 2})
    assert np.isnan(b["f"]) and r["empty"] == ([], {}, ())
    assert r["dt"] is wgtorch.float16 and r["dev"] == wgtorch.device("cpu") and r["size"] == wgtorch.Size([2])


def test_requires_grad_and_parameters():
    w = wgtorch.nn.Parameter(wgtorch.tensor([1.0, 2.0]))
    frozen = wgtorch.nn.Parameter(wgtorch.tensor([3.0]), requires_grad=False)
    r = _roundtrip({"w": w, "frozen": frozen, "g": wgtorch.tensor(1.0, requires_grad=True), "plain": w.detach()})
    assert isinstance(r["w"], wgtorch.nn.Parameter) and r["w"].requires_grad
    assert isinstance(r["frozen"], wgtorch.nn.Parameter) and not r["frozen"].requires_grad
    assert r["g"].requires_grad and r["g"].is_leaf and not r["plain"].requires_grad
    _same(r["w"], np.array([1.0, 2.0], np.float32))


def test_paths_and_archive_name(tmp_path):
    p = tmp_path / "model.pt"
    wgtorch.save({"x": wgtorch.ones(2)}, p)
    assert "model/data.pkl" in _records(p.read_bytes())  # torch names the archive after the file
    _same(wgtorch.load(str(p))["x"], np.ones(2, np.float32))


def test_records_are_aligned_as_torch_writes_them():
    data = _saved({"a": wgtorch.ones(3), "b": wgtorch.zeros(5, dtype=wgtorch.int8)})
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        for info in z.infolist():
            n, e = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
            assert (info.header_offset + 30 + n + e) % 64 == 0 and info.compress_type == zipfile.ZIP_STORED
        assert z.read("archive/version") == b"3\n" and z.read("archive/byteorder") == b"little"
        assert len(z.read("archive/.data/serialization_id")) == 40
    assert names == ["archive/data.pkl", "archive/.format_version", "archive/.storage_alignment",
                     "archive/byteorder", "archive/data/0", "archive/data/1", "archive/version",
                     "archive/.data/serialization_id"]


def test_big_endian_files_are_read():
    recs = _records(_saved({"f": wgtorch.tensor([1.5, -2.0]), "i": wgtorch.tensor([1, 258], dtype=wgtorch.int16)}))
    recs["archive/byteorder"] = b"big"
    for key, dt in (("archive/data/0", "f4"), ("archive/data/1", "i2")):
        recs[key] = np.frombuffer(recs[key], "<" + dt).astype(">" + dt).tobytes()
    r = wgtorch.load(io.BytesIO(_zip(recs)))
    _same(r["f"], np.array([1.5, -2.0], np.float32))
    _same(r["i"], np.array([1, 258], np.int16))


def test_save_refuses_what_torch_load_could_not_read():
    with pytest.raises(TypeError, match="cannot save an object of type"):
        _saved({"f": lambda: 0})


# ---- interoperability with real torch ---------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_wgtorch_save_torch_load(oracle, device, name):
    ref = _ref(name, (4, 3), device)
    x = _tensor(ref, name, device)
    obj = {"x": x, "T": x.T, "sub": x[1:, ::2], "elem": x[3, 1]}
    got = oracle.load(io.BytesIO(_saved(obj)), weights_only=True)
    for k, want in (("x", ref), ("T", ref.T), ("sub", ref[1:, ::2]), ("elem", ref[3, 1])):
        t = got[k]
        assert str(t.dtype) == repr(x.dtype) and t.device.type == "cpu"
        assert t.stride() == obj[k].stride() and t.storage_offset() == obj[k].storage_offset()
        np.testing.assert_array_equal(_torch_np(t), want)
        assert t.untyped_storage().data_ptr() == got["x"].untyped_storage().data_ptr()  # still one storage


def test_torch_mmap_load(oracle, tmp_path):
    p = tmp_path / "m.pt"
    wgtorch.save({"a": wgtorch.arange(5.0), "b": wgtorch.ones(3, dtype=wgtorch.int8)}, p)
    got = oracle.load(p, mmap=True)
    np.testing.assert_array_equal(got["a"].numpy(), np.arange(5.0))
    np.testing.assert_array_equal(got["b"].numpy(), np.ones(3, np.int8))


def test_torch_load_reads_parameters_and_metadata(oracle):
    m = wgtorch.nn.Linear(3, 2)
    sd = m.state_dict()
    got = oracle.load(io.BytesIO(_saved({"sd": sd, "p": m.weight, "g": wgtorch.ones(1, requires_grad=True)})))
    assert isinstance(got["p"], oracle.nn.Parameter) and got["p"].requires_grad and got["g"].requires_grad
    assert list(got["sd"]) == ["weight", "bias"]
    ref = oracle.nn.Linear(3, 2)
    ref.load_state_dict(got["sd"])  # torch's own module takes wgtorch's state dict
    np.testing.assert_array_equal(ref.weight.detach().numpy(), m.weight.detach().numpy())


def test_torch_save_wgtorch_load(oracle, device):
    torch = oracle
    g = torch.Generator().manual_seed(0)
    base = torch.randn(4, 6, generator=g)
    obj = {"base": base, "rows": base[1:3], "cols": base[:, ::2], "T": base.T, "elem": base[2, 5],
           "expand": base[0].expand(2, 6), "empty": torch.zeros(0, 3), "p": torch.nn.Parameter(torch.ones(2)),
           "g": torch.ones(2, requires_grad=True), "list": [torch.arange(5), (torch.tensor(True), 1.5)]}
    for name in NAMES:
        if device == "cpu" or name != "float64":
            t = getattr(torch, name)
            obj[name] = (torch.arange(-3, 5) if name != "bool" else torch.arange(8) % 3 == 0).to(t)[::2]
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    r = wgtorch.load(buf, map_location=device)
    for k, v in obj.items():
        if isinstance(v, torch.Tensor):
            _same(r[k], _torch_np(v), device=device)
            assert str(r[k].dtype) == str(v.dtype) and r[k].stride() == v.stride()
    _same(r["list"][0], np.arange(5))
    assert r["list"][1][1] == 1.5 and r["list"][1][0].item() is True
    assert isinstance(r["p"], wgtorch.nn.Parameter) and r["p"].requires_grad and r["g"].requires_grad
    r["base"].fill_(2.0)  # views of one storage share it after loading
    _same(r["cols"], np.full((4, 3), 2.0, np.float32))


def test_torch_model_and_optimizer_state(oracle, device):
    torch = oracle
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(5, 4), torch.randn(5, 3)
    torch.nn.functional.mse_loss(model(x), y).backward()
    opt.step()
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 3}, buf)
    buf.seek(0)
    r = wgtorch.load(buf, map_location=device)
    assert r["epoch"] == 3 and type(r["model"]) is OrderedDict
    assert r["model"]._metadata == model.state_dict()._metadata
    for k, v in model.state_dict().items():
        _same(r["model"][k], v.numpy(), "float32", device)
    want = opt.state_dict()
    assert r["optim"]["param_groups"] == want["param_groups"]
    for i, s in want["state"].items():
        _same(r["optim"]["state"][i]["momentum_buffer"], s["momentum_buffer"].numpy(), "float32", device)

    # the same network in wgtorch takes the state dicts and continues where torch is
    nn = wgtorch.nn
    wm = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).to(device)
    wm.load_state_dict(r["model"])
    wopt = wgtorch.optim.SGD(wm.parameters(), lr=0.1, momentum=0.9)
    wopt.load_state_dict(r["optim"])
    wx, wy = wgtorch.tensor(x.numpy(), device=device), wgtorch.tensor(y.numpy(), device=device)
    for m, o, a, b, F in ((model, opt, x, y, torch.nn.functional), (wm, wopt, wx, wy, wgtorch.nn.functional)):
        o.zero_grad()
        F.mse_loss(m(a), b).backward()
        o.step()
    tol = 1e-5 if device == "cpu" else 1e-4
    for (k, v), w in zip(model.state_dict().items(), wm.state_dict().values()):
        np.testing.assert_allclose(w.cpu().numpy(), v.numpy(), rtol=tol, atol=tol, err_msg=k)


def test_round_trip_through_torch(oracle, device):
    """wgtorch -> torch.load -> torch.save -> wgtorch.load gives identical tensors."""
    refs = {n: _ref(n, (2, 3), device, seed=i) for i, n in enumerate(NAMES) if device == "cpu" or n != "float64"}
    obj = {n: _tensor(a, n, device) for n, a in refs.items()}
    obj["view"] = obj["float32"][:, 1:]
    mid = oracle.load(io.BytesIO(_saved(obj)))
    buf = io.BytesIO()
    oracle.save(mid, buf)
    buf.seek(0)
    r = wgtorch.load(buf, map_location=device)
    for n, a in refs.items():
        _same(r[n], a, n, device)
    _same(r["view"], refs["float32"][:, 1:])


# ---- map_location ---------------------------------------------------------------------------
def _as_cuda_file(data):
    """The checkpoint with every storage located on "cuda:0" (as torch writes GPU tensors)."""
    recs = _records(data)
    pkl = recs["archive/data.pkl"]
    recs["archive/data.pkl"] = pkl.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
    assert recs["archive/data.pkl"] != pkl
    return _zip(recs)


def test_map_location(device):
    ref = np.arange(6, dtype=np.float32).reshape(2, 3)
    base = wgtorch.tensor(ref)
    cpu_file = _saved({"base": base, "view": base[:, 1]})
    cuda_file = _as_cuda_file(cpu_file)
    seen = []

    def move(storage, location):
        seen.append((location, storage.device.type))
        return storage.to(device)

    cases = [(cpu_file, device), (cpu_file, wgtorch.device(device)), (cpu_file, {"cpu": device}),
             (cpu_file, move), (cuda_file, {"cuda:0": device}), (cuda_file, device),
             (cpu_file, lambda s, loc: None), (cpu_file, None), (cuda_file, {"cuda:1": "cpu"})]
    for data, loc in cases:
        if device == "cpu" and data is cuda_file and loc in (None, {"cuda:1": "cpu"}):
            continue  # these restore on "cuda:0", that is wgpu
        r = wgtorch.load(io.BytesIO(data), map_location=loc)
        want = "cpu" if data is cpu_file and (loc is None or callable(loc) and loc is not move) else device
        _same(r["base"], ref, device=want)
        r["base"].add_(1)  # still one storage on the new device
        _same(r["view"], ref[:, 1] + 1)
    assert seen == [("cpu", "cpu")]  # one call per storage, with the location the file names
    if device == "wgpu":
        _same(wgtorch.load(io.BytesIO(cuda_file))["base"], ref, device="wgpu")  # "cuda" in a file is wgpu
        with pytest.raises(RuntimeError, match="float64"):  # wgpu has no float64: a clear error
            wgtorch.load(io.BytesIO(_saved(wgtorch.zeros(2, dtype=wgtorch.float64))), map_location="wgpu")


# ---- loading never runs code from the file --------------------------------------------------
class _System:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch '{self.path}'",))


class _Open:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _checkpoint(pkl):
    return _zip({"archive/data.pkl": pkl, "archive/byteorder": b"little", "archive/version": b"3\n"})


@pytest.mark.parametrize("payload,protocol", [(_System, 2), (_Open, 2), (_Open, 4), (_System, 5)])
def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path, payload, protocol):
    path = tmp_path / "pwned"
    pkl = pickle.dumps({"weights": [1.0], "x": payload(str(path))}, protocol=protocol)
    pickle.loads(pkl)  # the payload is live: plain pickle runs it
    assert path.exists()
    path.unlink()
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        wgtorch.load(io.BytesIO(_checkpoint(pkl)))
    assert not path.exists()


def test_pickles_cannot_tamper_with_allowed_objects():
    # BUILD on a dtype would rewrite wgtorch.float32 for the whole process
    pkl = b"\x80\x02ctorch\nfloat32\n}X\x08\x00\x00\x00itemsizeK\x08sb."
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        wgtorch.load(io.BytesIO(_checkpoint(pkl)))
    assert wgtorch.float32.itemsize == 4
    # a tensor record reaching past its storage is refused before any memory is read
    recs = _records(_saved(wgtorch.zeros(4)))
    pkl = recs["archive/data.pkl"]
    recs["archive/data.pkl"] = pkl.replace(b"QK\x00K\x04\x85", b"QK\x00M\xe8\x03\x85")
    assert recs["archive/data.pkl"] != pkl
    with pytest.raises(pickle.UnpicklingError, match="does not fit its storage"):
        wgtorch.load(io.BytesIO(_zip(recs)))


def test_weights_only_false_unpickles_other_objects(oracle):
    buf = io.BytesIO()
    oracle.save({"arr": np.arange(3), "t": oracle.ones(2)}, buf)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        wgtorch.load(io.BytesIO(buf.getvalue()))
    r = wgtorch.load(io.BytesIO(buf.getvalue()), weights_only=False)
    np.testing.assert_array_equal(r["arr"], np.arange(3))
    _same(r["t"], np.ones(2, np.float32))


# ---- truncated and corrupt files ------------------------------------------------------------
_GOOD = None


def _good():
    global _GOOD
    if _GOOD is None:
        _GOOD = _saved({"a": wgtorch.arange(40.0), "b": [wgtorch.ones(3, dtype=wgtorch.int64)]})
    return _GOOD


def _check_loaded(r):
    _same(r["a"], np.arange(40, dtype=np.float32))
    _same(r["b"][0], np.ones(3, np.int64))


@pytest.mark.parametrize("cut", [0, 1, 30, 200, 600, -100, -1])
def test_truncated_files_raise_clear_errors(cut):
    data = _good()[:cut]
    with pytest.raises((RuntimeError, pickle.UnpicklingError), match="empty|truncated or corrupt"):
        wgtorch.load(io.BytesIO(data))


def test_corrupt_files_raise_clear_errors(oracle):
    recs = _records(_good())
    cases = {
        "not a zip archive": b"this is not a checkpoint at all",
        "no <name>/data.pkl": _zip({"x/other": b""}),
        "storage record .* is missing": _zip({k: v for k, v in recs.items() if "data/1" not in k}),
        "data.pkl is corrupt|data.pkl ends early": _zip({**recs, "archive/data.pkl": recs["archive/data.pkl"][:50]}),
        "holds 4 bytes": _zip({**recs, "archive/data/1": b"\x00" * 4}),
    }
    data = bytearray(_good())
    data[data.index(struct.pack("<f", 7.0))] ^= 0xFF  # a flipped byte in the storage: the CRC catches it
    cases["truncated or corrupt: record"] = bytes(data)
    for msg, data in cases.items():
        with pytest.raises((RuntimeError, pickle.UnpicklingError), match=msg):
            wgtorch.load(io.BytesIO(data))
    buf = io.BytesIO()
    oracle.save(oracle.ones(2), buf, _use_new_zipfile_serialization=False)
    with pytest.raises(RuntimeError, match="legacy format"):
        wgtorch.load(io.BytesIO(buf.getvalue()))


@given(st.data())
def test_damaged_files_fail_cleanly_or_load_intact(data):
    good = bytearray(_good())
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(good) - 1))
        good[i] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        good = good[:data.draw(st.integers(0, len(good)))]
    try:
        r = wgtorch.load(io.BytesIO(bytes(good)))
    except (RuntimeError, pickle.UnpicklingError) as e:
        assert "wgtorch.load" in str(e) or "Weights only" in str(e)
    else:  # the damage hit bytes nothing reads (padding, dates): the contents are intact
        _check_loaded(r)


# ---- safetensors ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_safetensors_round_trip(tmp_path, device, name):
    ref = _ref(name, (3, 4), device)
    x = _tensor(ref, name, device)
    p = tmp_path / "m.safetensors"
    wst.save_file({"x": x, "t": x.T, "s": x[1, 1]}, p, metadata={"format": "pt"})
    r = wst.load_file(p, device=device)
    _same(r["x"], ref, name, device)
    _same(r["t"], ref.T, name, device)
    _same(r["s"], ref[1, 1], name, device)


def test_safetensors_layout_and_errors():
    x, y = wgtorch.tensor([1.5, -2.0]), wgtorch.tensor([[1, 2]], dtype=wgtorch.int16)
    data = wst.save({"x": x, "y": y}, {"k": "v"})
    n = int.from_bytes(data[:8], "little")
    import json
    header = json.loads(data[8:8 + n])
    assert (8 + n) % 8 == 0 and header["__metadata__"] == {"k": "v"}
    assert header["x"] == {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    assert header["y"] == {"dtype": "I16", "shape": [1, 2], "data_offsets": [8, 12]}
    assert data[8 + n:] == struct.pack("<ff", 1.5, -2.0) + struct.pack("<hh", 1, 2)
    for bad in (data[:5], data[:8 + n - 1], data[:-1], b"\xff" * 8 + data[8:], data[:8] + b"[" + data[9:]):
        with pytest.raises(RuntimeError, match="invalid safetensors file"):
            wst.load(bad)


def test_safetensors_matches_the_reference_package(oracle, tmp_path):
    sft = pytest.importorskip("safetensors.torch")
    p, q = tmp_path / "w.safetensors", tmp_path / "t.safetensors"
    refs = {n: _ref(n, (2, 3), seed=i) for i, n in enumerate(NAMES)}
    wst.save_file({n: _tensor(a, n, "cpu") for n, a in refs.items()}, p, metadata={"a": "b"})
    got = sft.load_file(p)
    for n, a in refs.items():
        np.testing.assert_array_equal(_torch_np(got[n]), a)
    sft.save_file(got, q)
    r = wst.load_file(q)
    for n, a in refs.items():
        _same(r[n], a, n)


def test_bfloat16_bits_are_kept():
    bits = np.array([0x3FC0, 0x7F80, 0xFF80, 0x0001, 0x8000], np.uint16)  # 1.5, inf, -inf, subnormal, -0.0
    x = wgtorch.tensor(bf16.decode(bits), dtype=wgtorch.bfloat16)
    for r in (_roundtrip(x), wst.load(wst.save({"x": x}))["x"]):
        np.testing.assert_array_equal(r._be.to_numpy(r._data), bits)
