"""wgtorch.load against hostile and damaged files: truncated, bit-flipped and crafted
checkpoints (pickles that try to run code, absurd shapes, huge declared sizes, random
opcode streams). Every case is a clear error or an intact load: no code runs (a marker
file is never created) and nothing allocates more than a few MiB.
(tests/test_serialization.py has the round trips and the basic refusals.)"""
import io
import os
import pickle
import struct
import time
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wgtorch

LONG = os.environ.get("WGTORCH_FUZZ_LONG") == "1"
FUZZ = settings(max_examples=2500 if LONG else 300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ERRORS = (RuntimeError, pickle.UnpicklingError)


def _zip(records):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in records.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _checkpoint(pkl, **extra):
    return _zip({"archive/data.pkl": pkl, "archive/byteorder": b"little", **extra})


def _saved(obj):
    buf = io.BytesIO()
    wgtorch.save(obj, buf)
    return buf.getvalue()


def _reference():
    base = wgtorch.arange(24, dtype=wgtorch.float32).reshape(4, 6)
    return {"w": base, "col": base[:, 2], "ids": wgtorch.tensor([3, 1, 2]), "flag": wgtorch.tensor([True, False]),
            "meta": {"step": 7, "name": "x", "lr": 0.5, "shape": (2, 3)}}


GOOD = _saved(_reference())


def _intact(r):
    assert np.array_equal(r["w"].numpy(), np.arange(24, dtype=np.float32).reshape(4, 6))
    assert np.array_equal(r["col"].numpy(), np.arange(24, dtype=np.float32).reshape(4, 6)[:, 2])
    assert r["ids"].tolist() == [3, 1, 2] and r["ids"].dtype is wgtorch.int64
    assert r["flag"].tolist() == [True, False]
    assert r["meta"] == {"step": 7, "name": "x", "lr": 0.5, "shape": (2, 3)}


def _load_clean(data):
    """Load `data`: a clear wgtorch error (returned), or an intact result (None)."""
    try:
        r = wgtorch.load(io.BytesIO(bytes(data)))
    except ERRORS as e:
        msg = str(e)
        assert "wgtorch.load" in msg or "Weights only" in msg, f"{type(e).__name__}: {msg}"
        return e
    _intact(r)
    return None


# ---- truncated and bit-flipped files ----------------------------------------------------------
def test_every_truncation_is_a_clear_error():
    # every prefix of a checkpoint: a zip without its central directory never loads
    step = 1 if LONG else 7
    for cut in range(0, len(GOOD), step):
        assert _load_clean(GOOD[:cut]) is not None, cut


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 7)), min_size=1, max_size=8))
def test_bit_flips_fail_cleanly_or_load_intact(flips):
    data = bytearray(GOOD)
    for i, bit in flips:
        data[i] ^= 1 << bit
    _load_clean(data)


def test_a_flip_that_marks_a_record_encrypted_is_a_clear_error():
    # bit 0 of a central directory entry's flags means "encrypted": reading that record, zipfile raises
    # its own RuntimeError (hypothesis found it at byte 2033 of this checkpoint). Every entry flipped:
    # a clear error, or an intact load when wgtorch never reads the record (e.g. archive/version)
    starts = [i for i in range(len(GOOD) - 4) if GOOD[i:i + 4] == b"PK\x01\x02"]
    assert len(starts) >= 5
    errors = 0
    for start in starts:
        data = bytearray(GOOD)
        data[start + 8] ^= 1
        errors += _load_clean(data) is not None
    assert errors >= 5  # data.pkl and the four storages


def test_a_flip_in_tensor_bytes_is_caught():
    # storage bytes are CRC-checked: a flipped mantissa bit is an error, never a silently wrong weight
    data = bytearray(GOOD)
    data[data.index(struct.pack("<f", 13.0)) + 2] ^= 0x01
    e = _load_clean(data)
    assert e is not None and "truncated or corrupt" in str(e)


# ---- pickles that try to run code ---------------------------------------------------------------
class _Payload:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _payloads(marker):
    touch = f"open({str(marker)!r}, 'w').close()"
    import subprocess
    return [
        (os.system, (f"touch '{marker}'",)),
        (eval, (touch,)),
        (exec, (touch,)),
        (subprocess.call, (["touch", str(marker)],)),
        (open, (str(marker), "w")),
        (getattr, ("", "join")),  # the first step of a getattr chain
        (__import__, ("os",)),
        (np.save, (str(marker), np.zeros(1))),
        (wgtorch.save, ({"x": 1}, str(marker))),
    ]


@pytest.mark.parametrize("protocol", [0, 1, 2, 4, 5])
def test_code_running_pickles_are_refused(tmp_path, protocol):
    marker = tmp_path / "pwned"
    for fn, args in _payloads(marker):
        pkl = pickle.dumps({"state": [1.0], "evil": _Payload(fn, args)}, protocol=protocol)
        for data in (_checkpoint(pkl), pkl):  # in a checkpoint and as a bare pickle file
            with pytest.raises(ERRORS) as info:
                wgtorch.load(io.BytesIO(data))
            assert "Weights only load failed" in str(info.value) or "not a zip archive" in str(info.value)
            with pytest.raises(ERRORS):
                wgtorch.load(io.BytesIO(data), weights_only=True)
        assert not marker.exists(), fn
        assert not (tmp_path / "pwned.npy").exists()


def test_crafted_opcodes_are_refused(tmp_path):
    marker = str(tmp_path / "pwned")
    crafted = [
        f"cos\nsystem\n(S'touch {marker}'\ntR.".encode(),                  # GLOBAL + REDUCE
        f"(cos\nsystem\nS'touch {marker}'\no.".encode(),                   # OBJ
        f"(S'touch {marker}'\nios\nsystem\n.".encode(),                    # INST
        b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x05touch\x85R.",        # STACK_GLOBAL
        b"\x80\x02\x82\x01.",                                               # EXT1 (copyreg registry)
        b"\x80\x02ccollections\nOrderedDict\n)R}X\t\x00\x00\x00__class__cos\nsystem\nsb.",  # BUILD sets a global
        b"\x80\x02c__builtin__\nbytearray\nJ\x00\xe4\x0bTR.",               # bytearray(1.4e9): a 1.4 GB call
        b"\x80\x02cbuiltins\nbytearray\n\x8a\x05\x00\x00\x00\x00\x04\x85R.",  # bytearray(2**34)
        b"\x80\x02ccollections\nCounter\n\x8a\x05\x00\x00\x00\x00\x04\x85R.",  # Counter(int)
        b"\x80\x02ctorch\nSize\n\x8a\x05\x00\x00\x00\x00\x04\x85R.",       # Size(int)
    ]
    tracemalloc.start()
    try:
        for pkl in crafted:
            e = _load_clean(_checkpoint(pkl))
            assert e is not None, pkl
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"loading crafted pickles allocated {peak} bytes"
    assert not os.path.exists(marker)


@FUZZ
@given(st.lists(st.one_of(
    st.sampled_from([b"(", b")", b"]", b"}", b"t", b"l", b"d", b"s", b"u", b"a", b"e", b"R", b"\x81", b"b",
                     b"0", b"1", b"2", b"N", b"\x88", b"\x85", b"\x86", b"\x87", b"\x94", b"Q", b"h\x00", b"q\x00",
                     b"K\x05", b"J\xff\xff\xff\x7f", b"\x8a\x01\x05", b"\x8c\x03abc", b"X\x01\x00\x00\x00s",
                     b"ctorch\nSize\n", b"ctorch\nFloatStorage\n", b"ccollections\nOrderedDict\n",
                     b"ctorch._utils\n_rebuild_tensor_v2\n", b"cbuiltins\nbytearray\n", b"cbuiltins\nset\n",
                     b"X\x07\x00\x00\x00storage", b"X\x01\x00\x00\x000", b"X\x03\x00\x00\x00cpu",
                     b"\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f", b"\x8a\x01\xff", b"G\x7f\xf0\x00\x00\x00\x00\x00\x00",
                     b"cos\nsystem\n", b"\x93", b"\x95\x00\x00\x00\x00\x00\x00\x00\x00"]),
    st.binary(min_size=1, max_size=3)), max_size=40))
def test_random_opcode_streams(chunks):
    # the allow-list interpreter on arbitrary opcode soup: a clear error or plain data
    pkl = b"\x80\x02" + b"".join(chunks) + b"."
    data = _checkpoint(pkl, **{"archive/data/0": np.arange(6, dtype=np.float32).tobytes()})
    try:
        wgtorch.load(io.BytesIO(data))
    except ERRORS as e:
        assert "wgtorch.load" in str(e) or "Weights only" in str(e), f"{type(e).__name__}: {e}"


# ---- absurd shapes and huge declared sizes --------------------------------------------------
def _tensor_pkl(numel, size, stride, offset=0, storage="FloatStorage"):
    """A data.pkl holding one tensor record, as torch writes it (protocol 2)."""
    def ints(xs):
        return b"(" + b"".join(b"\x8a\x09" + int(x).to_bytes(9, "little", signed=True) for x in xs) + b"t"
    return (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(" +
            b"(X\x07\x00\x00\x00storagectorch\n" + storage.encode() + b"\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu" +
            b"\x8a\x09" + int(numel).to_bytes(9, "little", signed=True) + b"tQ" +
            b"\x8a\x09" + int(offset).to_bytes(9, "little", signed=True) + ints(size) + ints(stride) +
            b"\x89ccollections\nOrderedDict\n)RtR.")


def test_tensor_record_builder_is_right():
    # the hand-made record loads when it is consistent (so the refusals below are for the right reason)
    pkl = _tensor_pkl(6, (2, 3), (3, 1))
    t = wgtorch.load(io.BytesIO(_checkpoint(pkl, **{"archive/data/0": np.arange(6, dtype=np.float32).tobytes()})))
    assert np.array_equal(t.numpy(), np.arange(6, dtype=np.float32).reshape(2, 3))


ABSURD = [
    (6, (2 ** 62, 2 ** 62), (1, 1)),          # far past the storage
    (6, (2 ** 70,), (1,)),                    # past int64
    (6, (0, 2 ** 70), (1, 1)),                # empty, with a dimension past int64
    (6, (1, 1), (2 ** 70, 2 ** 70)),          # strides past int64
    (6, (-1, 6), (6, 1)),                     # negative size
    (6, (2, 3), (-3, 1)),                     # negative stride
    (6, (2, 3), (3,)),                        # size and stride disagree
    (6, tuple([1] * 5000), tuple([1] * 5000)),  # absurd rank
    (2 ** 40, (2 ** 40,), (1,)),              # 4 TiB declared, 24 bytes stored
    (-6, (6,), (1,)),                         # negative numel
]


@pytest.mark.parametrize("numel,size,stride", ABSURD, ids=range(len(ABSURD)))
def test_absurd_shapes_are_clear_errors(numel, size, stride):
    data = _checkpoint(_tensor_pkl(numel, size, stride), **{"archive/data/0": np.arange(6, dtype=np.float32).tobytes()})
    tracemalloc.start()
    try:
        e = _load_clean(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert e is not None
    assert peak < 16 << 20, peak


def _forge_size(data, name, nbytes):
    """Rewrite the declared (compressed and uncompressed) size of record `name` in both zip
    headers, as a hostile file would: the bytes themselves stay small."""
    data = bytearray(data)
    key = name.encode()
    for sig, size_at in ((b"PK\x01\x02", 20), (b"PK\x03\x04", 18)):  # central, local header
        i = 0
        while True:
            i = data.find(sig, i)
            if i < 0:
                break
            name_at = i + (46 if sig == b"PK\x01\x02" else 30)
            if data[name_at:name_at + len(key)] == key:
                struct.pack_into("<II", data, i + size_at, nbytes, nbytes)
            i += 4
    return bytes(data)


@pytest.mark.parametrize("numel", [10 ** 9, 2 ** 30 - 1])
def test_huge_declared_storage_fails_fast_without_allocating(numel):
    # the pickle and the zip directory agree on a 4 GB storage; the file holds 24 bytes of it
    data = _checkpoint(_tensor_pkl(numel, (numel,), (1,)),
                       **{"archive/data/0": np.arange(6, dtype=np.float32).tobytes()})
    data = _forge_size(data, "archive/data/0", 4 * numel)
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        e = _load_clean(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert e is not None and "truncated or corrupt" in str(e)
    assert peak < 16 << 20, f"a file declaring {4 * numel} bytes made wgtorch.load allocate {peak} bytes"
    assert time.perf_counter() - t0 < 2.0


def test_huge_declared_pickle_fails_fast():
    # a data.pkl record declaring 3 GB
    data = _forge_size(_checkpoint(b"\x80\x02K\x01."), "archive/data.pkl", 3 << 30)
    tracemalloc.start()
    try:
        e = _load_clean(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert e is not None and peak < 16 << 20, peak


def test_from_a_path_too(tmp_path):
    p = tmp_path / "bad.pt"
    p.write_bytes(GOOD[: len(GOOD) // 2])
    with pytest.raises(ERRORS, match="truncated or corrupt"):
        wgtorch.load(p)
    p.write_bytes(GOOD)
    _intact(wgtorch.load(p))
