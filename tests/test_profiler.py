"""wgtorch.profiler: op counts and times in key_averages().table(), the chrome trace, record_function,
GPU time from timestamp queries on wgpu (or its 'unavailable' marking), and that nothing stays
wrapped after a profile block."""
import json

import pytest

import wgtorch as torch
import wgtorch.nn as nn
import wgtorch.nn.functional as F
import wgtorch.profiler as profiler
from wgtorch import _intercept
from wgtorch.nn.modules import linear as linear_module
from wgtorch.profiler import ProfilerActivity, profile, record_function
from wgtorch.tensor import Tensor


def run_ops(device):
    a = torch.randn(16, 16, device=device)
    b = torch.randn(16, 16, device=device)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=True) as prof:
        for _ in range(3):
            c = a + b
        for _ in range(2):
            c = a @ b
        c = c.relu()
        c.sum().item()
    return prof


def rows(prof):
    return {r.key: r for r in prof.key_averages()}


def test_counts_and_table(device):
    prof = run_ops(device)
    r = rows(prof)
    assert {k: v.count for k, v in r.items()} == {"add": 3, "matmul": 2, "relu": 1, "sum": 1}
    assert all(v.cpu_time_total > 0 for v in r.values())
    table = prof.key_averages().table(sort_by="cpu_time_total", row_limit=10)
    lines = table.splitlines()
    assert "Name" in lines[1] and "# of Calls" in lines[1] and "CPU total" in lines[1]
    body = {ln.split()[0]: ln for ln in lines[3:3 + len(r)]}
    assert set(body) == {"add", "matmul", "relu", "sum"}
    assert body["add"].split()[-1] == "3" and body["matmul"].split()[-1] == "2"
    totals = [r[name].cpu_time_total for name in (ln.split()[0] for ln in lines[3:3 + len(r)])]
    assert totals == sorted(totals, reverse=True)  # sorted by CPU total
    assert "Self CPU time total" in table
    short = prof.key_averages().table(sort_by="count", row_limit=2).splitlines()
    seps = [i for i, ln in enumerate(short) if ln.startswith("---")]
    assert seps == [0, 2, 5] and short[3].split()[0] == "add" and short[4].split()[0] == "matmul"


def test_nested_ops_and_self_time():
    x = torch.randn(4, 8)
    lin = nn.Linear(8, 3)
    with profile() as prof:
        F.linear(x, lin.weight, lin.bias)
    ev = [e for e in prof.events() if e.name == "linear"]
    assert len(ev) == 1 and ev[0].parent is None
    assert {c.name for c in ev[0].children} == {"t", "matmul", "add"}  # what F.linear runs, inside it
    assert ev[0].self_cpu_time_total <= ev[0].cpu_time_total
    assert ev[0].cpu_time_total >= sum(c.cpu_time_total for c in ev[0].children)


def test_record_function_and_chrome_trace(tmp_path):
    x = torch.randn(8, 8)
    with profile(record_shapes=True) as prof:
        with record_function("my_block"):
            y = (x * 2).exp()
        y = y + 1
    r = rows(prof)
    assert r["my_block"].count == 1
    block = next(e for e in prof.events() if e.name == "my_block")
    assert [c.name for c in block.children] == ["mul", "exp"]
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(str(path))
    trace = json.loads(path.read_text())
    events = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert sorted(e["name"] for e in events) == ["add", "exp", "mul", "my_block"]
    span = next(e for e in events if e["name"] == "my_block")
    assert span["cat"] == "user_annotation"
    for e in events:
        assert e["dur"] >= 0 and isinstance(e["ts"], float)
        if e["name"] in ("mul", "exp"):  # inside the span on the timeline
            assert span["ts"] <= e["ts"] and e["ts"] + e["dur"] <= span["ts"] + span["dur"] + 1e-3
    assert next(e for e in events if e["name"] == "mul")["args"]["Input Dims"] == [[8, 8], []]
    # record_function outside a profile does nothing (and works as a decorator)
    @record_function("outside")
    def f(t):
        return t + 1
    assert f(x).shape == x.shape


@pytest.mark.parametrize("device", ["wgpu"], indirect=True)
def test_wgpu_gpu_time(device, tmp_path):
    prof = run_ops(device)
    from wgtorch.backends.wgpu import backend
    if "timestamp-query" not in backend(0)._init().dev.features:
        pytest.skip("this adapter has no timestamp queries (the 'unavailable' path is tested below)")
    assert prof.gpu_status == "timestamp queries"
    r = rows(prof)
    for name in ("add", "matmul", "relu", "sum"):  # each ran at least one kernel
        assert r[name].self_device_time_total > 0, name
    table = prof.key_averages().table(sort_by="self_device_time_total")
    assert "Self GPU" in table and "(timestamp queries)" in table
    assert backend(0).queue.timestamps is None  # the queue's hook is removed with the profile
    path = tmp_path / "gpu.json"
    prof.export_chrome_trace(str(path))
    kernels = [e for e in json.loads(path.read_text())["traceEvents"] if e.get("cat") == "kernel"]
    assert kernels and {e["name"] for e in kernels} <= {"add", "matmul", "relu", "sum"}
    assert all(e["dur"] > 0 for e in kernels)


@pytest.mark.parametrize("device", ["wgpu"], indirect=True)
def test_wgpu_gpu_time_unavailable(device, monkeypatch):
    from wgtorch.profiler import _gpu
    monkeypatch.setattr(_gpu, "supported", lambda be: False)  # an adapter without 'timestamp-query'
    prof = run_ops(device)
    assert prof.gpu_status.startswith("unavailable") and "timestamp-query" in prof.gpu_status
    assert all(r.self_device_time_total == 0 for r in prof.key_averages())
    table = prof.key_averages().table()
    assert "n/a" in table and "Self GPU time total: n/a (GPU time unavailable" in table


def test_schedule_and_trace_handler(tmp_path):
    with profile(schedule=profiler.schedule(wait=0, warmup=0, active=2),
                 on_trace_ready=profiler.tensorboard_trace_handler(str(tmp_path / "tb"))) as prof:
        for _ in range(2):
            torch.ones(3).exp()
            prof.step()
    files = list((tmp_path / "tb").iterdir())
    assert len(files) == 1
    names = [e["name"] for e in json.loads(files[0].read_text())["traceEvents"] if e["ph"] == "X"]
    assert names.count("exp") == 2 and names.count("ones") == 2


def test_cpu_only_has_no_gpu_columns():
    a = torch.randn(4)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        a + a
    assert "GPU" not in prof.key_averages().table()


def test_profile_memory():
    a = torch.randn(100)
    with profile(profile_memory=True) as prof:
        b = a * 2
        b.view(10, 10)
    r = rows(prof)
    assert r["mul"].cpu_memory_usage == 400  # a new float32 tensor of 100
    assert r["view"].cpu_memory_usage == 0  # a view allocates nothing
    assert "CPU Mem" in prof.key_averages().table()


def entry_points():
    return (Tensor.__add__, Tensor.__matmul__, Tensor.relu, Tensor.__dict__["T"], Tensor.detach, torch.matmul,
            torch.cat, F.linear, F.conv2d, F.scaled_dot_product_attention, linear_module.addmm,
            linear_module.matmul)


def test_nothing_wrapped_outside_a_profile():
    before = entry_points()
    with profile():
        during = entry_points()
    assert all(a is not b for a, b in zip(before, during))  # wrapped while profiling ...
    assert all(a is b for a, b in zip(before, entry_points()))  # ... and the originals are back
    with pytest.raises(ZeroDivisionError):
        with profile():
            torch.ones(2) + 1
            1 / 0
    assert all(a is b for a, b in zip(before, entry_points()))
    assert not _intercept.active()
    assert profiler.profile is profile
