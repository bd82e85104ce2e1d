"""Memory: long training loops on wgpu hold a constant amount of device memory, a
DataLoader with workers leaks no process, descriptor or shared-memory segment, and
an allocation past the cap raises OutOfMemoryError after which the library keeps working.

WGTORCH_SOAK_LONG=1 (or WGTORCH_FUZZ_LONG=1) runs 20,000 steps instead of 2,000."""
import multiprocessing
import os

import numpy as np
import pytest

import wgtorch
from wgtorch import nn
from wgtorch.utils.data import DataLoader, Dataset

LONG = os.environ.get("WGTORCH_SOAK_LONG") == "1" or os.environ.get("WGTORCH_FUZZ_LONG") == "1"
STEPS = 20_000 if LONG else 2_000
WARMUP = 20  # steps after which the optimizer state and every pool bucket exist


@pytest.fixture
def gpu():
    if not wgtorch.wgpu.is_available():
        if os.environ.get("WGTORCH_REQUIRE_GPU") == "1":
            pytest.fail("no WebGPU adapter")
        pytest.skip("no WebGPU adapter")
    return "wgpu"


def _mlp(device):
    wgtorch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)).to(device)


def test_training_soak_memory_is_flat(gpu):
    model = _mlp(gpu)
    opt = wgtorch.optim.Adam(model.parameters(), lr=1e-2)
    x = wgtorch.randn(16, 4).to(gpu)
    y = x.sum(1, keepdim=True) * 0.5
    allocated, reserved, losses = [], [], []
    for step in range(STEPS):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        if step % 500 == 0 or step == STEPS - 1:
            losses.append(loss.item())  # a sync point now and then, as a real loop has
        del loss
        allocated.append(wgtorch.wgpu.memory_allocated())
        reserved.append(wgtorch.wgpu.memory_reserved())
    # after warm-up every step ends at exactly the same allocated level ...
    assert set(allocated[WARMUP:]) == {allocated[WARMUP]}, sorted(set(allocated[WARMUP:]))
    # ... and the pool stops growing
    assert max(reserved[WARMUP:]) == reserved[WARMUP], (reserved[WARMUP], max(reserved[WARMUP:]))
    # the held memory is the model, its grads and Adam's two moments plus a few temporaries
    n_params = sum(p.numel() for p in model.parameters())
    assert allocated[WARMUP] >= 4 * 4 * n_params
    # and it actually trained (a linear target: the loss falls by orders of magnitude)
    assert np.isfinite(losses).all() and losses[-1] < losses[0] / 100, losses


class _Squares(Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, i):
        x = np.full(4, i / 64.0, np.float32)
        return wgtorch.from_numpy(x), wgtorch.tensor([float(x.sum())])


def _shm():
    try:
        return set(os.listdir("/dev/shm"))
    except FileNotFoundError:  # no /dev/shm (macOS): nothing to leak there
        return set()


def _fds():
    try:
        return len(os.listdir(f"/proc/{os.getpid()}/fd"))
    except FileNotFoundError:
        return 0


def test_dataloader_workers_soak(gpu):
    model = _mlp(gpu)
    opt = wgtorch.optim.SGD(model.parameters(), lr=0.05)
    loader = DataLoader(_Squares(), batch_size=8, shuffle=True, num_workers=2)
    epochs = 100 if LONG else 12
    shm0, fds0 = _shm(), None
    allocated = []
    for epoch in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            loss = ((model(xb.to(gpu)) - yb.to(gpu)) ** 2).mean()
            loss.backward()
            opt.step()
            del loss
        allocated.append(wgtorch.wgpu.memory_allocated())
        # every epoch's workers are gone when its iterator is exhausted
        assert multiprocessing.active_children() == []
        if epoch == 1:
            fds0 = _fds()
    # a per-epoch leak (each epoch opens pipes for 2 workers) would grow by dozens; allow
    # a few descriptors the driver or the garbage collector's timing may hold
    import gc
    gc.collect()
    assert _fds() <= fds0 + 4, "file descriptors leak per epoch"
    assert set(allocated[1:]) == {allocated[1]}
    assert _shm() - shm0 == set(), "shared-memory segments leaked"
    assert loss_value(model, gpu) < 0.05


def loss_value(model, device):
    x = wgtorch.from_numpy(np.repeat(np.arange(64, dtype=np.float32)[:, None] / 64, 4, 1)).to(device)
    with wgtorch.no_grad():
        return (((model(x) - x.sum(1, keepdim=True)) ** 2).mean()).item()


def test_dataloader_early_break_soak(gpu):
    """Leaving epochs early (break) many times leaks no worker either."""
    loader = DataLoader(_Squares(), batch_size=4, num_workers=2)
    shm0 = _shm()
    for _ in range(10):
        for k, (xb, _) in enumerate(loader):
            assert xb.shape == (4, 4)
            if k == 2:
                break
    import gc
    gc.collect()
    assert multiprocessing.active_children() == []
    assert _shm() - shm0 == set()


@pytest.fixture
def capped(gpu):
    """A cap of 64 MiB (plus room for small temporaries) above what is already held (restored afterwards)."""
    alloc = wgtorch.backends.wgpu.backend(0)._init().alloc
    old = alloc.limit
    wgtorch.wgpu.empty_cache()
    alloc.limit = alloc.reserved + (64 << 20) + (64 << 10)
    yield alloc
    alloc.limit = old


def test_out_of_memory_is_a_clear_error_and_recoverable(capped):
    held = []
    with pytest.raises(wgtorch.OutOfMemoryError) as info:
        for _ in range(10):
            held.append(wgtorch.empty(4 << 20, device="wgpu"))  # 16 MiB each
    e = info.value
    assert isinstance(e, RuntimeError)
    msg = str(e)
    # the request, the limit and the current usage, in bytes
    assert str(16 << 20) in msg and str(capped.limit) in msg and str(capped.allocated) in msg, msg
    assert len(held) == 4  # exactly what fits under the cap
    # the library keeps working: compute with what is held, free, empty the cache, allocate again
    held[0].fill_(2.0)
    assert held[0][:3].cpu().numpy().tolist() == [2.0, 2.0, 2.0]
    held.clear()
    wgtorch.wgpu.empty_cache()
    assert wgtorch.wgpu.memory_reserved() + (64 << 20) <= capped.limit + (1 << 20)
    again = [wgtorch.ones(4 << 20, device="wgpu") for _ in range(4)]
    assert float(again[3].sum()) == float(4 << 20)


def test_cache_is_freed_before_out_of_memory(capped):
    # pooled (freed) buffers of another size do not cause an OutOfMemoryError:
    # the allocator empties its cache first
    for _ in range(3):
        t = wgtorch.empty(3 << 20, device="wgpu")  # 12 MiB buckets
    del t
    big = [wgtorch.empty(7 << 20, device="wgpu") for _ in range(2)]  # 56 MiB: only fits without the pool
    assert sum(b.numel() for b in big) == 14 << 20


def test_larger_than_the_device_allows(gpu):
    limit = wgtorch.wgpu.get_device_properties().limits["max-buffer-size"]
    n = limit // 4 + (1 << 20)
    with pytest.raises(wgtorch.OutOfMemoryError) as info:
        wgtorch.empty(n, device="wgpu")
    msg = str(info.value)
    assert str(limit) in msg and str(4 * n) in msg and f"{wgtorch.wgpu.memory_allocated()} bytes allocated" in msg, msg
    assert wgtorch.ones(3, device="wgpu").sum().item() == 3.0
