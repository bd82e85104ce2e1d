"""wgtorch.distributed, DistributedDataParallel and multiprocessing.spawn, run as real
MPI jobs (mpirun -n 2 over loopback, in subprocesses with timeouts so a hang is a
failure, not a stuck suite). Ranks write what they computed to files; the values are
checked here against NumPy float64 (and real torch for the example's training).

MPI is never initialised in the pytest process itself: the suite forks DataLoader
workers, which MPI does not survive."""
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import wgtorch

pytestmark = pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None,
                                reason="mpi4py is not installed (pip install mpi4py mpich, or .[test])")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 60  # seconds for one job: generous on 2 busy cores; a hang hits it


def _env():
    path = os.pathsep.join(p for p in [ROOT, os.environ.get("PYTHONPATH")] if p)
    return dict(os.environ, PYTHONPATH=path, MPIR_CVAR_ENABLE_HEAVY_YIELD="1")


def _mpiexec():
    from wgtorch.multiprocessing import _mpiexec
    return _mpiexec()


def _script(tmp_path, code, name="job.py"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(code))
    return str(p)


def mpirun(tmp_path, code, *args, n=2, timeout=TIMEOUT):
    """Run code as an n-rank MPI job; the ranks get tmp_path as argv[1]."""
    cmd = [_mpiexec(), "-n", str(n), sys.executable, _script(tmp_path, code), str(tmp_path), *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(), cwd=str(tmp_path),
                          check=False)


def python(tmp_path, code, *args, timeout=TIMEOUT):
    """Run code as a plain `python script.py` (no mpirun)."""
    cmd = [sys.executable, _script(tmp_path, code), str(tmp_path), *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(), cwd=str(tmp_path),
                          check=False)


def ok(r):
    assert r.returncode == 0, f"exit {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"
    return r


def need_gpu(device):
    if device == "wgpu" and not wgtorch.wgpu.is_available():
        msg = "no WebGPU adapter (apt-get install mesa-vulkan-drivers libvulkan1)"
        if os.environ.get("WGTORCH_REQUIRE_GPU") == "1":
            pytest.fail(msg)
        pytest.skip(msg)


# ---- collectives --------------------------------------------------------------------
COLLECTIVES = """
import sys
import numpy as np
import wgtorch
import wgtorch.distributed as dist

out, device = sys.argv[1], sys.argv[2]
dist.init_process_group(backend="mpi")
r, n = dist.get_rank(), dist.get_world_size()
T = lambda a: wgtorch.tensor(np.asarray(a), device=device)   # a copy: x stays as it is
x = np.arange(12, dtype=np.float32).reshape(3, 4) * (r + 1) + r   # the test rebuilds these
res = {}
for op in ["SUM", "AVG", "MAX", "MIN", "PRODUCT"]:
    t = T(x)
    assert dist.all_reduce(t, op=getattr(dist.ReduceOp, op)) is None
    res["all_reduce_" + op] = t.cpu().numpy()
t = T(x.astype(np.int64) - 5)
work = dist.all_reduce(t, async_op=True)
assert work.wait()
res["all_reduce_int64"] = t.cpu().numpy()
big = T(np.zeros((4, 6), np.float32))
view = big[:, ::2]                      # a strided view: written back in place
view.add_(r + 1)
dist.all_reduce(view)
res["all_reduce_view_base"] = big.cpu().numpy()
t = T(x); dist.broadcast(t, src=1); res["broadcast"] = t.cpu().numpy()
lst = [T(np.zeros((3, 4), np.float32)) for _ in range(n)]
dist.all_gather(lst, T(x)); res["all_gather"] = np.stack([a.cpu().numpy() for a in lst])
o = T(np.zeros((n * 3, 4), np.float32)); dist.all_gather_into_tensor(o, T(x)); res["all_gather_into_tensor"] = o.cpu().numpy()
o = T(np.zeros(4, np.float32)); dist.reduce_scatter(o, [T(x[i]) for i in range(n)]); res["reduce_scatter"] = o.cpu().numpy()
o = T(np.zeros(6, np.float32)); dist.reduce_scatter_tensor(o, T(x.reshape(-1)[:6 * n]), op=dist.ReduceOp.AVG)
res["reduce_scatter_tensor_avg"] = o.cpu().numpy()
g = [T(np.zeros((3, 4), np.float32)) for _ in range(n)] if r == 0 else None
dist.gather(T(x), g, dst=0)
if r == 0:
    res["gather"] = np.stack([a.cpu().numpy() for a in g])
o = T(np.zeros((3, 4), np.float32))
dist.scatter(o, [T(x + 100 * i) for i in range(n)] if r == 1 else None, src=1); res["scatter"] = o.cpu().numpy()
t = T(x); dist.reduce(t, dst=1); res["reduce"] = t.cpu().numpy()
if device == "cpu":   # dtypes MPI does not reduce itself
    t = wgtorch.tensor([1.5, -2.0, 3.25], dtype=wgtorch.float16) * (r + 1); dist.all_reduce(t)
    res["all_reduce_f16"] = t.float().numpy()
    t = wgtorch.tensor([True, False, r == 1]); dist.all_reduce(t); res["all_reduce_bool"] = t.numpy()
objs = [None] * n
dist.all_gather_object(objs, {"rank": r}); assert objs == [{"rank": i} for i in range(n)]
dist.barrier()
np.savez(f"{out}/rank{r}.npz", **res)
dist.destroy_process_group()
"""


def _x(r):
    return np.arange(12, dtype=np.float64).reshape(3, 4) * (r + 1) + r


def _expected(r, device):
    """What rank r of COLLECTIVES must hold, from NumPy float64."""
    x0, x1 = _x(0), _x(1)
    f0, f1 = x0.reshape(-1), x1.reshape(-1)
    view_base = np.zeros((4, 6))
    view_base[:, ::2] = 1 + 2
    e = {"all_reduce_SUM": x0 + x1, "all_reduce_AVG": (x0 + x1) / 2, "all_reduce_MAX": np.maximum(x0, x1),
         "all_reduce_MIN": np.minimum(x0, x1), "all_reduce_PRODUCT": x0 * x1, "all_reduce_int64": x0 + x1 - 10,
         "all_reduce_view_base": view_base, "broadcast": x1, "all_gather": np.stack([x0, x1]),
         "all_gather_into_tensor": np.concatenate([x0, x1]), "reduce_scatter": x0[r] + x1[r],
         "reduce_scatter_tensor_avg": (f0[6 * r:6 * r + 6] + f1[6 * r:6 * r + 6]) / 2,
         "scatter": x1 + 100 * r, "reduce": x0 + x1 if r == 1 else _x(r)}
    if r == 0:
        e["gather"] = np.stack([x0, x1])
    if device == "cpu":
        e["all_reduce_f16"] = np.array([1.5, -2.0, 3.25]) * 3
        e["all_reduce_bool"] = np.array([True, False, True])
    return e


@pytest.mark.parametrize("device", ["cpu", "wgpu"])
def test_collectives_two_ranks(tmp_path, device):
    need_gpu(device)
    ok(mpirun(tmp_path, COLLECTIVES, device))
    for r in range(2):
        got, expect = np.load(tmp_path / f"rank{r}.npz"), _expected(r, device)
        assert set(got.files) == set(expect)
        for k, v in expect.items():
            np.testing.assert_allclose(got[k], v, rtol=1e-6, err_msg=f"rank {r}: {k}")
        assert got["all_reduce_int64"].dtype == np.int64   # dtypes survive the trip through MPI
        if device == "cpu":
            assert got["all_reduce_bool"].dtype == bool


# ---- one rank without mpirun ---------------------------------------------------------
WORLD_OF_ONE = """
import json, os, sys
import numpy as np
import wgtorch
import wgtorch.distributed as dist
from wgtorch.nn.parallel import DistributedDataParallel as DDP

res = {"available": dist.is_available(), "before": dist.is_initialized()}
try:
    dist.get_rank()
except ValueError as e:
    res["no_group"] = str(e)
try:
    dist.init_process_group("gloo", rank=0, world_size=2)
except ValueError as e:
    res["too_many"] = str(e)
os.environ.update(MASTER_ADDR="localhost", MASTER_PORT="29500")
dist.init_process_group(backend="nccl", init_method="env://", rank=0, world_size=1)
res.update(rank=dist.get_rank(), size=dist.get_world_size(), backend=dist.get_backend(), now=dist.is_initialized())
t = wgtorch.tensor([1.0, -2.0, 3.0])
dist.all_reduce(t, op=dist.ReduceOp.AVG)
res["avg"] = t.tolist()
lst = [wgtorch.zeros(3)]
dist.all_gather(lst, t)
res["gathered"] = lst[0].tolist()
wgtorch.manual_seed(0)
m = wgtorch.nn.Linear(3, 2)
ref = wgtorch.nn.Linear(3, 2)
ref.load_state_dict(m.state_dict())
d = DDP(m)
x = wgtorch.arange(6.0).reshape(2, 3)
(d(x) ** 2).sum().backward()
(ref(x) ** 2).sum().backward()
res["ddp_grad_diff"] = float((m.weight.grad - ref.weight.grad).abs().max())
res["state_dict_keys"] = list(d.state_dict())
dist.destroy_process_group()
dist.init_process_group("mpi")   # again, after destroy
res["again"] = dist.get_world_size()
print(json.dumps(res))
"""


def test_world_size_one_without_mpirun(tmp_path):
    res = json.loads(ok(python(tmp_path, WORLD_OF_ONE)).stdout.strip().splitlines()[-1])
    assert res["available"] and not res["before"] and res["now"]
    assert "init_process_group" in res["no_group"]
    assert "mpirun -n 2" in res["too_many"]
    assert (res["rank"], res["size"], res["backend"]) == (0, 1, "nccl")
    assert res["avg"] == [1.0, -2.0, 3.0] and res["gathered"] == [1.0, -2.0, 3.0]
    assert res["ddp_grad_diff"] == 0.0
    assert res["state_dict_keys"] == ["module.weight", "module.bias"]
    assert res["again"] == 1


def test_unknown_backend_and_no_group():
    import wgtorch.distributed as dist
    with pytest.raises(ValueError, match="Invalid backend"):
        dist.init_process_group(backend="tcp")
    with pytest.raises(ValueError, match="has not been initialized"):
        dist.all_reduce(wgtorch.ones(2))
    from wgtorch.nn.parallel import DistributedDataParallel
    with pytest.raises(ValueError, match="has not been initialized"):
        DistributedDataParallel(wgtorch.nn.Linear(2, 2))


# ---- faults ---------------------------------------------------------------------------
RAISES = """
import sys
import wgtorch
import wgtorch.distributed as dist
before = sys.argv[2] == "before"
if before and dist._launched_size() == 2 and __import__("os").environ["PMI_RANK"] == "1":
    raise ValueError("rank 1 fails on purpose")   # before init_process_group
dist.init_process_group("mpi")
if dist.get_rank() == 1:
    raise ValueError("rank 1 fails on purpose")
dist.all_reduce(wgtorch.ones(3))   # rank 0 waits here for a rank that is gone
print("rank", dist.get_rank(), "got past the collective")
"""


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_rank_that_raises_ends_the_job(tmp_path, when):
    r = mpirun(tmp_path, RAISES, when, timeout=30)  # a hang is a TimeoutExpired failure
    assert r.returncode != 0
    assert "ValueError: rank 1 fails on purpose" in r.stderr
    assert "got past" not in r.stdout


MISMATCH = """
import json, sys
import wgtorch
import wgtorch.distributed as dist
dist.init_process_group("mpi")
r = dist.get_rank()
calls = [
    lambda: dist.all_reduce(wgtorch.ones(2 + r)),                                  # shapes
    lambda: dist.broadcast(wgtorch.ones(2, dtype=wgtorch.float32 if r else wgtorch.int64)),   # dtypes
    lambda: dist.all_reduce(wgtorch.ones(2)) if r else dist.broadcast(wgtorch.ones(2)),   # collectives
    lambda: dist.all_reduce(wgtorch.ones(2), op=dist.ReduceOp.MAX if r else dist.ReduceOp.SUM),  # ops
]
said = []
for call in calls:
    try:
        call()
        said.append("no error")
    except RuntimeError as e:
        said.append(str(e))
t = wgtorch.ones(2)
dist.all_reduce(t)                      # still in step afterwards
said.append(t.tolist())
with open(f"{sys.argv[1]}/rank{r}.json", "w") as f:
    json.dump(said, f)
if len(sys.argv) > 2:
    dist.all_reduce(wgtorch.ones(2 + r))   # uncaught: the job must end with an error
"""


def test_mismatched_collectives_raise_on_every_rank(tmp_path):
    ok(mpirun(tmp_path, MISMATCH))
    for r in range(2):
        shapes, dtypes, kinds, ops, after = json.loads((tmp_path / f"rank{r}.json").read_text())
        assert "rank 0: ('all_reduce', ((2,), 'float32'), 'SUM'); rank 1: ('all_reduce', ((3,), 'float32'), " \
               "'SUM')" in shapes
        assert "rank 0: ('broadcast', ((2,), 'int64'), 0); rank 1: ('broadcast', ((2,), 'float32'), 0)" in dtypes
        assert "'broadcast'" in kinds and "'all_reduce'" in kinds
        assert "'SUM'); rank 1: ('all_reduce', ((2,), 'float32'), 'MAX')" in ops
        assert after == [2.0, 2.0]
    r = mpirun(tmp_path, MISMATCH, "uncaught", timeout=30)
    assert r.returncode != 0 and "the ranks' calls do not match" in r.stderr


# ---- seed 002's lines, verbatim, through the torch alias -----------------------------
SEED_002 = """
import json, sys
import wgtorch
wgtorch.install_as_torch()
import torch
assert sys.modules["torch"] is wgtorch
model = torch.nn.Linear(2, 1)

import torch.distributed as dist1   
from torch.nn.parallel import DistributedDataParallel  
dist1.init_process_group(backend='gloo')  
model = DistributedDataParallel(model)  

r = dist1.get_rank()
model(torch.tensor([[1.0, 2.0]]) * (r + 1)).sum().backward()
with open(f"{sys.argv[1]}/rank{r}.json", "w") as f:
    json.dump([dist1.get_world_size(), model.module.weight.tolist(), model.module.weight.grad.tolist()], f)
"""


@pytest.mark.parametrize("ranks", [1, 2])
def test_seed_002_snippet(tmp_path, ranks):
    ok(mpirun(tmp_path, SEED_002, n=ranks) if ranks > 1 else python(tmp_path, SEED_002))
    got = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(ranks)]
    expect = np.mean([[1.0 * (r + 1), 2.0 * (r + 1)] for r in range(ranks)], axis=0)  # d sum(x W^T + b) / dW
    for size, weight, grad in got:
        assert size == ranks and weight == got[0][1]
        np.testing.assert_allclose(grad, [expect], rtol=1e-6)


# ---- DistributedDataParallel ----------------------------------------------------------
DDP_JOB = """
import sys
import numpy as np
import wgtorch
import wgtorch.distributed as dist
from wgtorch.nn.parallel import DistributedDataParallel as DDP

out, device = sys.argv[1], sys.argv[2]
dist.init_process_group("gloo")
r = dist.get_rank()
calls = []
real_all_reduce = dist.all_reduce
def counting(t, *a, **k):
    calls.append(t.numel())
    return real_all_reduce(t, *a, **k)
dist.all_reduce = counting   # DDP calls it through the package: count its collectives

class Net(wgtorch.nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = wgtorch.nn.Linear(3, 3)
        self.l2 = wgtorch.nn.Linear(3, 3)
    def forward(self, x, use2=True):
        h = self.l1(x)
        return self.l2(h) if use2 else h

def X(step):   # the test rebuilds these inputs
    return wgtorch.from_numpy(np.arange(6, dtype=np.float32).reshape(2, 3) * (r + 1) + step).to(device)

res = {}
H = lambda t: t.detach().cpu().numpy().copy()   # a snapshot (cpu numpy() shares memory)
wgtorch.manual_seed(r)              # a different init on each rank: DDP broadcasts rank 0's
net = Net().to(device)
res["init_own"] = H(net.l1.weight)
ddp = DDP(net, device_ids=[r])
assert ddp.module is net
for name, p in net.named_parameters():
    res["init_" + name] = H(p)

# 1: one synchronised step: one all_reduce for the one bucket
(ddp(X(0)) ** 2).mean().backward()
res["calls_one_bucket"] = np.array(calls); calls.clear()
for name, p in net.named_parameters():
    res["grad1_" + name] = H(p.grad)

# 2: accumulate two micro-batches under no_sync, then a synchronised one
net.zero_grad()
with ddp.no_sync():
    (ddp(X(1)) ** 2).mean().backward()
    (ddp(X(2)) ** 2).mean().backward()
res["calls_no_sync"] = np.array(calls); calls.clear()
(ddp(X(3)) ** 2).mean().backward()
for name, p in net.named_parameters():
    res["grad2_" + name] = H(p.grad)

# 3: small buckets: one collective per bucket
small = DDP(net, bucket_cap_mb=40 / 2**20)   # 40 bytes: l2.bias+l2.weight don't fit together
calls.clear()
net.zero_grad()
(small(X(0)) ** 2).mean().backward()
res["calls_small_buckets"] = np.array(calls); calls.clear()
del small

# 4: l2 unused: without find_unused_parameters the next forward says so
net.zero_grad()
(ddp(X(0), use2=False) ** 2).mean().backward()
try:
    ddp(X(0))
    res["unused_error"] = np.array("no error")
except RuntimeError as e:
    res["unused_error"] = np.array(str(e))

# 5: with find_unused_parameters the unused gradients count as zeros
wgtorch.manual_seed(r)
net2 = Net().to(device)
ddp2 = DDP(net2, find_unused_parameters=True)
(ddp2(X(0), use2=(r == 0)) ** 2).mean().backward()
for name, p in net2.named_parameters():
    res["grad5_" + name] = H(p.grad)
np.savez(f"{out}/rank{r}.npz", **res)
dist.destroy_process_group()
"""


def _net_grads(params, xs, use2):
    """d mean(y**2) / d params for y = l2(l1(x)) (or l1(x)), NumPy float64."""
    W1, b1, W2, b2 = (params[k].astype(np.float64) for k in ("l1.weight", "l1.bias", "l2.weight", "l2.bias"))
    h = xs @ W1.T + b1
    y = h @ W2.T + b2 if use2 else h
    dy = 2 * y / y.size
    g = {}
    if use2:
        g["l2.weight"], g["l2.bias"] = dy.T @ h, dy.sum(0)
        dh = dy @ W2
    else:
        g["l2.weight"], g["l2.bias"] = np.zeros_like(W2), np.zeros_like(b2)
        dh = dy
    g["l1.weight"], g["l1.bias"] = dh.T @ xs, dh.sum(0)
    return g


@pytest.mark.parametrize("device", ["cpu", "wgpu"])
def test_ddp_two_ranks(tmp_path, device):
    need_gpu(device)
    ok(mpirun(tmp_path, DDP_JOB, device))
    got = [np.load(tmp_path / f"rank{r}.npz") for r in range(2)]
    names = ["l1.weight", "l1.bias", "l2.weight", "l2.bias"]
    init = {k: got[0]["init_" + k] for k in names}
    assert not np.array_equal(got[0]["init_own"], got[1]["init_own"])  # the ranks did start apart
    for k in names:
        np.testing.assert_array_equal(got[1]["init_" + k], init[k])     # rank 0's, broadcast

    def X(r, step):
        return np.arange(6, dtype=np.float64).reshape(2, 3) * (r + 1) + step

    def mean_over_ranks(fn):
        gs = [fn(r) for r in range(2)]
        return {k: (gs[0][k] + gs[1][k]) / 2 for k in names}

    one = mean_over_ranks(lambda r: _net_grads(init, X(r, 0), True))
    acc = mean_over_ranks(lambda r: {k: sum(_net_grads(init, X(r, s), True)[k] for s in (1, 2, 3))
                                     for k in names})
    unused = mean_over_ranks(lambda r: _net_grads(init, X(r, 0), r == 0))
    for r in range(2):
        g = got[r]
        for k in names:
            np.testing.assert_allclose(g["grad1_" + k], one[k], rtol=1e-5, atol=1e-6, err_msg=f"rank {r} {k}")
            np.testing.assert_allclose(g["grad2_" + k], acc[k], rtol=1e-5, atol=1e-6, err_msg=f"rank {r} {k}")
            np.testing.assert_allclose(g["grad5_" + k], unused[k], rtol=1e-5, atol=1e-6, err_msg=f"rank {r} {k}")
        assert g["calls_one_bucket"].tolist() == [24]          # all 24 gradients in one all_reduce
        assert g["calls_no_sync"].tolist() == []
        assert sorted(g["calls_small_buckets"].tolist()) == sorted([9, 3, 9, 3])  # one per bucket
        assert "find_unused_parameters=True" in str(g["unused_error"])


# ---- the example: DDP training equals single-process training -----------------------
@pytest.mark.parametrize("device", ["cpu", "wgpu"])
def test_example_ddp_train(tmp_path, device):
    need_gpu(device)
    saved = tmp_path / "final.npz"
    cmd = [_mpiexec(), "-n", "2", sys.executable, os.path.join(ROOT, "examples", "ddp_train.py"),
           "--device", device, "--save", str(saved)]
    r = ok(subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=_env(), check=False))
    # the example's own check: every rank retrained single-process on the global batches
    # (the ranks share stdout: their lines can interleave)
    diffs = [float(d) for d in re.findall(r"max \|DDP - single-process\| over the weights: (\S+?)(?=\[|\s|$)",
                                          r.stdout)]
    assert len(diffs) == 2 and max(diffs) <= 1e-5
    from conftest import _oracle_torch as torch
    if torch is None:
        return  # no real torch here: the example's own comparison above is the check
    # independently: real torch, one process, the same global batches (torch's own sampler)
    DataLoader, TensorDataset = torch.utils.data.DataLoader, torch.utils.data.TensorDataset
    DistributedSampler = torch.utils.data.DistributedSampler
    torch.manual_seed(123)
    model = torch.nn.Module()
    model.layers = torch.nn.Sequential(torch.nn.Linear(2, 30), torch.nn.ReLU(), torch.nn.Linear(30, 20),
                                       torch.nn.ReLU(), torch.nn.Linear(20, 2))
    ds = TensorDataset(torch.tensor([[-1.2, 3.1], [-0.9, 2.9], [-0.5, 2.6], [2.3, -1.1], [2.7, -1.5]]),
                       torch.tensor([0, 0, 0, 1, 1]))
    samplers = [DistributedSampler(ds, num_replicas=2, rank=r, shuffle=True, seed=0) for r in range(2)]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for epoch in range(3):
        for s in samplers:
            s.set_epoch(epoch)
        for batches in zip(*(DataLoader(ds, batch_size=2, sampler=s) for s in samplers)):
            x = torch.cat([b[0] for b in batches])
            y = torch.cat([b[1] for b in batches])
            loss = torch.nn.functional.cross_entropy(model.layers(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    got = np.load(saved)
    ref = {k: v.detach().numpy() for k, v in model.named_parameters()}
    assert set(got.files) == set(ref)
    for k, v in ref.items():
        np.testing.assert_allclose(got[k], v, atol=1e-5, rtol=0, err_msg=k)


# ---- PyTorch scripts as written: mp.spawn from plain `python script.py` ---------------
# The shape of Appendix A's DDP listing (section A.9.3 of the book the seeds come
# from), run through the `torch` alias: ranks started by mp.spawn, MASTER_ADDR /
# MASTER_PORT set, init_process_group with a gloo/nccl backend name,
# DDP(model, device_ids=[rank]), a DistributedSampler, destroy_process_group.
ALIAS = """
# the `torch` imports below load wgtorch's modules
import wgtorch
wgtorch.install_as_torch()
"""

APPENDIX_A_DDP = """
import json
import os
import sys

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, DataLoader
import torch.multiprocessing as mp
from torch.utils.data.distributed import DistributedSampler
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.distributed import init_process_group, destroy_process_group

assert torch.__name__ == "wgtorch" and sys.modules["torch"] is torch


def ddp_setup(rank, world_size):
    os.environ["MASTER_ADDR"] = "localhost"
    os.environ["MASTER_PORT"] = "12345"
    init_process_group(backend=BACKEND, rank=rank, world_size=world_size)
    if ON_GPU:
        torch.cuda.set_device(rank)


class ToyDataset(Dataset):
    def __init__(self, X, y):
        self.features = X
        self.labels = y

    def __getitem__(self, index):
        return self.features[index], self.labels[index]

    def __len__(self):
        return self.labels.shape[0]
""" + __import__("seed").NEURAL_NETWORK + """

def prepare_dataset():
    X_train = torch.tensor([[-1.2, 3.1], [-0.9, 2.9], [-0.5, 2.6], [2.3, -1.1], [2.7, -1.5]])
    y_train = torch.tensor([0, 0, 0, 1, 1])
    X_test = torch.tensor([[-0.8, 2.8], [2.6, -1.6]])
    y_test = torch.tensor([0, 1])
    train_ds = ToyDataset(X_train, y_train)
    test_ds = ToyDataset(X_test, y_test)
    train_loader = DataLoader(dataset=train_ds, batch_size=2, shuffle=False, pin_memory=True, drop_last=True,
                              sampler=DistributedSampler(train_ds))
    test_loader = DataLoader(dataset=test_ds, batch_size=2, shuffle=False)
    return train_loader, test_loader


def compute_accuracy(model, dataloader, device):
    model = model.eval()
    correct = 0.0
    total_examples = 0
    for features, labels in dataloader:
        features, labels = features.to(device), labels.to(device)
        with torch.no_grad():
            logits = model(features)
        predictions = torch.argmax(logits, dim=1)
        compare = labels == predictions
        correct += torch.sum(compare)
        total_examples += len(compare)
    return (correct / total_examples).item()


def main(rank, world_size, num_epochs):
    assert __name__ == "__mp_main__"
    ddp_setup(rank, world_size)
    device = rank if ON_GPU else "cpu"
    train_loader, test_loader = prepare_dataset()
    model = NeuralNetwork(num_inputs=2, num_outputs=2)
    model.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    model = DDP(model, device_ids=[rank])
    for epoch in range(num_epochs):
        train_loader.sampler.set_epoch(epoch)
        model.train()
        for features, labels in train_loader:
            features, labels = features.to(device), labels.to(device)
            logits = model(features)
            loss = F.cross_entropy(logits, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            print(f"[GPU{rank}] Epoch: {epoch+1:03d}/{num_epochs:03d} | Batchsize {labels.shape[0]:03d}"
                  f" | Train/Val Loss: {loss:.2f}")
    model.eval()
    train_acc = compute_accuracy(model, train_loader, device=device)
    test_acc = compute_accuracy(model, test_loader, device=device)
    print(f"[GPU{rank}] Training accuracy", train_acc)
    print(f"[GPU{rank}] Test accuracy", test_acc)
    weights = [p.detach().cpu().numpy().ravel().tolist() for p in model.module.parameters()]
    with open(os.path.join(sys.argv[1], f"rank{rank}.json"), "w") as f:
        json.dump({"world_size": world_size, "device": str(next(model.parameters()).device),
                   "test_acc": test_acc, "weights": weights}, f)
    destroy_process_group()


if __name__ == "__main__":
    print("Number of GPUs available:", torch.cuda.device_count())
    torch.manual_seed(123)
    num_epochs = 3
    world_size = WORLD_SIZE
    mp.spawn(main, args=(world_size, num_epochs), nprocs=world_size)
"""


@pytest.mark.parametrize("backend, on_gpu, world, how", [
    ("nccl", True, "torch.cuda.device_count()", "install_as_torch()"),
    ("gloo", False, "2", "install_as_torch()"),
    ("gloo", False, "2", "python -m wgtorch.run"),
])
def test_appendix_a_ddp_script_through_spawn(tmp_path, backend, on_gpu, world, how):
    if on_gpu:
        need_gpu("wgpu")
    code = APPENDIX_A_DDP.replace("BACKEND", repr(backend)).replace("ON_GPU", str(on_gpu)) \
                         .replace("WORLD_SIZE", world)
    if how == "install_as_torch()":
        ok(python(tmp_path, ALIAS + code))
    else:  # the ranks must get the alias from the parent (wgtorch.multiprocessing passes it on)
        cmd = [sys.executable, "-m", "wgtorch.run", _script(tmp_path, code), str(tmp_path)]
        ok(subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=_env(), check=False))
    ranks = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("rank*.json"))]
    n = ranks[0]["world_size"]
    assert len(ranks) == n >= (1 if on_gpu else 2)
    for r in ranks:
        assert r["device"] == ("wgpu:0" if on_gpu else "cpu")
        assert r["weights"] == ranks[0]["weights"]   # DDP kept the replicas identical
        assert r["test_acc"] == 1.0


SPAWN_FAILS = """
import sys
import wgtorch
import wgtorch.distributed as dist
import wgtorch.multiprocessing as mp

def main(rank, how):
    if rank == 1:
        if how == "raise":
            raise ValueError("rank 1 fails before joining")
        sys.exit(3)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    dist.all_reduce(wgtorch.ones(1))   # waits for rank 1, which is gone

if __name__ == "__main__":
    try:
        mp.spawn(main, args=(sys.argv[2],), nprocs=2)
    except mp.ProcessRaisedException as e:
        print("parent caught:", type(e).__name__, e.error_index)
        raise
    except mp.ProcessExitedException as e:
        print("parent caught:", type(e).__name__, e.exit_code != 0)
        raise
"""


def test_spawn_of_a_raising_rank_raises_its_traceback_in_the_parent(tmp_path):
    # as torch.multiprocessing.spawn: ProcessRaisedException, the rank's traceback in its message
    r = python(tmp_path, SPAWN_FAILS, "raise", timeout=30)
    assert r.returncode != 0
    assert "parent caught: ProcessRaisedException 1" in r.stdout
    assert "-- Process 1 terminated with the following error:" in r.stderr
    assert "ValueError: rank 1 fails before joining" in r.stderr


def test_spawn_of_an_exiting_rank_raises_process_exited_in_the_parent(tmp_path):
    r = python(tmp_path, SPAWN_FAILS, "exit", timeout=30)
    assert r.returncode != 0
    assert "parent caught: ProcessExitedException True" in r.stdout
