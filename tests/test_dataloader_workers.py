"""DataLoader worker processes (fork and spawn): batch order and per-worker seeding
as torch's, the wire format, errors re-raised with the worker's traceback, killed
workers, timeouts, early break, persistent workers, IterableDataset sharding, and
workers kept off the GPU. Kept few and fast: a fork costs milliseconds, a spawned
worker about a second (one spawn test)."""
import functools
import gc
import multiprocessing
import os
import random
import signal
import sys
import threading
import time

import numpy as np
import pytest

import wgtorch
from wgtorch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info
from wgtorch.utils.data import _worker


def _lib(name):
    if name == "wgtorch":
        return wgtorch
    import torch  # the oracle, in a worker of an oracle loader
    return torch


class Report(Dataset):
    """Sample i reports what the worker drew: its index, a draw of each RNG, and its WorkerInfo."""

    def __init__(self, n, lib="wgtorch", fail_at=None):
        self.n, self.lib, self.fail_at, self.tag = n, lib, fail_at, "main"

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.fail_at:
            raise ValueError(f"bad sample {i}")
        lib = _lib(self.lib)
        info = lib.utils.data.get_worker_info()
        who = (info.id, info.num_workers, info.seed, info.dataset.tag) if info else None
        return i, lib.rand(1).item(), int(np.random.randint(2 ** 31)), random.random(), who


def tag_worker(lib, worker_id):
    _lib(lib).utils.data.get_worker_info().dataset.tag = f"init {worker_id}"


def _plain(x):
    """A batch as Python data (tensors of either library as lists)."""
    if hasattr(x, "tolist"):
        return x.tolist()
    return [_plain(v) for v in x] if isinstance(x, (list, tuple)) else x


def _epochs(lib, loader_kw, epochs=2, break_at=None, n=23):
    lib.manual_seed(7)
    loader = lib.utils.data.DataLoader(Report(n, lib.__name__), worker_init_fn=functools.partial(
        tag_worker, lib.__name__), **loader_kw)
    out = []
    for e in range(epochs):
        batches = []
        for k, b in enumerate(loader):
            batches.append(_plain(b))
            if break_at == (e, k):
                break
        out.append(batches)
    return out


def test_fork_workers_are_torchs(oracle):
    """Two forked workers, prefetch 3: the same batches as torch's loader (indices,
    worker ids, seeds, and each worker's torch/NumPy/random draws), and the same
    index order as num_workers=0."""
    kw = dict(batch_size=4, shuffle=True, num_workers=2, prefetch_factor=3, multiprocessing_context="fork")
    ours = _epochs(wgtorch, kw)
    assert ours == _epochs(oracle, kw)
    wgtorch.manual_seed(7)
    loader = DataLoader(range(23), batch_size=4, shuffle=True)
    single = [[b.tolist() for b in loader] for _ in range(2)]
    assert [[b[0] for b in e] for e in ours] == single
    assert ours[0][0][4][:2] == [[0] * 4, [2] * 4] and ours[0][1][4][0] == [1] * 4  # round robin
    assert ours[0][0][4][3] == ["init 0"] * 4 and ours[0][1][4][2][0] == ours[0][0][4][2][0] + 1  # seeds
    assert ours[0] != ours[1]


def test_persistent_workers_are_torchs(oracle):
    """The same worker processes every epoch; an epoch cut short by break leaves
    nothing behind for the next; the order is torch's."""
    kw = dict(batch_size=3, shuffle=True, num_workers=2, persistent_workers=True, multiprocessing_context="fork")
    ours = _epochs(wgtorch, kw, epochs=3, break_at=(1, 1), n=14)
    assert ours == _epochs(oracle, kw, epochs=3, break_at=(1, 1), n=14)
    assert [len(e) for e in ours] == [5, 2, 5]
    loader = DataLoader(Pids(), batch_size=2, num_workers=2, persistent_workers=True)
    pids = [{p for b in loader for p in b.tolist()} for _ in range(2)]
    assert pids[0] == pids[1] and len(pids[0]) == 2


class Pids(Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        return os.getpid()


def test_batches_cross_as_numpy_buffers():
    """A batch is a small pickle plus its raw array buffers (not Python lists), and
    arrives as writable tensors of the same dtypes, shapes and values."""
    big = wgtorch.randn(500, 100)
    batch = {"x": big, "t": big[:, :3].t(), "i": wgtorch.arange(7), "b": wgtorch.tensor([True, False]),
             "h": wgtorch.ones(3, dtype=wgtorch.bfloat16) / 3, "d": wgtorch.ones(2, dtype=wgtorch.float64),
             "g": wgtorch.ones(2, requires_grad=True), "s": ["a", "b"], "n": np.arange(5.0), "z": wgtorch.tensor(3)}
    head, raws = _worker.encode((0, batch))
    assert len(head) < 1500 and sum(r.nbytes for r in raws) >= big.numel() * 4
    r, w = multiprocessing.Pipe(duplex=False)
    sender = threading.Thread(target=_worker.send, args=(w, (head, raws)))
    sender.start()
    idx, got = _worker.recv(r)
    sender.join()
    assert idx == 0 and got["s"] == ["a", "b"] and got["z"].shape == () and got["z"].item() == 3
    for k in ("x", "t", "i", "b", "h", "d", "g"):
        assert got[k].dtype == batch[k].dtype and got[k].shape == batch[k].shape, k
        assert got[k].tolist() == batch[k].tolist(), k
    assert got["g"].requires_grad and not got["x"].requires_grad
    np.testing.assert_array_equal(got["n"], np.arange(5.0))
    got["x"] += 1  # writable: received into fresh arrays
    np.testing.assert_allclose(got["x"].numpy(), big.numpy() + 1)


def _no_children():
    gc.collect()  # an iterator whose error is still referenced by its traceback shuts down when collected
    deadline = time.monotonic() + 5
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.02)
    return multiprocessing.active_children() == []


class Faulty(Dataset):
    """Misbehaves at index `at`: raises, is killed, or sleeps; returns big samples if asked."""

    def __init__(self, how, at, size=1):
        self.how, self.at, self.size = how, at, size

    def __len__(self):
        return 12

    def __getitem__(self, i):
        if i == self.at:
            if self.how == "raise":
                raise KeyError(f"no sample {i}")
            if self.how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            if self.how == "sleep":
                time.sleep(3)
        return np.full(self.size, i, np.float32)


def test_worker_exception_is_reraised_with_its_traceback():
    it = iter(DataLoader(Faulty("raise", 5), batch_size=2, num_workers=2, multiprocessing_context="fork"))
    got = [next(it)[:, 0].tolist(), next(it)[:, 0].tolist()]
    with pytest.raises(KeyError) as e:
        next(it)
    text = str(e.value)
    assert text.startswith("Caught KeyError in DataLoader worker process 0.\nOriginal Traceback (most recent call")
    assert "in __getitem__" in text and "no sample 5" in text and __file__ in text
    got += [b[:, 0].tolist() for b in it]  # the iterator goes on with the next batches
    assert got == [[0, 1], [2, 3], [6, 7], [8, 9], [10, 11]]
    with pytest.raises(ZeroDivisionError, match="(?s)Caught ZeroDivisionError in DataLoader worker process.*"
                                                "worker_init_fn"):
        list(DataLoader(Faulty("", -1), num_workers=1, worker_init_fn=lambda i: 1 / 0))
    assert _no_children()


def test_killed_worker_and_timeout_raise_without_hanging():
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid \d+\) was killed by signal SIGKILL"):
        list(DataLoader(Faulty("kill", 3), batch_size=2, num_workers=2))
    t = time.monotonic()
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.3 seconds"):
        list(DataLoader(Faulty("sleep", 4), batch_size=2, num_workers=2, timeout=0.3))
    assert time.monotonic() - t < 2.5  # the worker sleeping 3 s was not waited for
    assert _no_children()
    # a timeout longer than the loading time changes nothing
    assert len(list(DataLoader(Faulty("", -1), batch_size=2, num_workers=2, timeout=5))) == 6


def test_early_break_shuts_workers_down():
    """Breaking out leaves no worker process, even with 8 MB batches in flight
    (workers blocked writing them are drained, not killed)."""
    loader = DataLoader(Faulty("", -1, size=1 << 20), batch_size=2, num_workers=2, prefetch_factor=2)
    for k, b in enumerate(loader):
        assert b.shape == (2, 1 << 20) and b[1, 0].item() == 2 * k + 1
        if k == 1:
            break
    it = iter(loader)
    procs = list(it._workers)
    next(it)
    del it
    assert all(p.exitcode == 0 for p in procs)  # they exited by themselves, not terminated after the grace time
    assert _no_children()


def _shards(base, worker_info):
    class Shards(base):
        """range(n) split unevenly between the workers by get_worker_info() (or whole in each)."""

        def __init__(self, n, shard=True):
            self.n, self.shard = n, shard

        def __iter__(self):
            info = worker_info()
            if info is None or not self.shard:
                return iter(range(self.n))
            size = lambda k: -(-self.n // info.num_workers) + k  # noqa: E731  (worker 0 ends first)
            start = sum(size(k) for k in range(info.id))
            return iter(range(start, min(start + size(info.id), self.n)))
    return Shards


Shards = _shards(IterableDataset, get_worker_info)


def test_iterable_dataset_sharding_is_torchs(oracle):
    """Workers' streams interleave batch by batch until each ends, as in torch."""
    TorchShards = _shards(oracle.utils.data.IterableDataset, oracle.utils.data.get_worker_info)
    for shard, kw in ((True, dict(batch_size=2)), (True, dict(batch_size=2, drop_last=True)),
                      (False, dict(batch_size=3)), (True, dict(batch_size=None))):
        kw.update(num_workers=2, multiprocessing_context="fork")
        ours = _plain(list(DataLoader(Shards(11, shard), **kw)))
        assert ours == _plain(list(oracle.utils.data.DataLoader(TorchShards(11, shard), **kw))), (shard, kw)
        if shard and not kw.get("drop_last"):
            assert sorted(x for b in ours for x in (b if isinstance(b, list) else [b])) == list(range(11))
    loader = DataLoader(Shards(11), batch_size=2, num_workers=2, persistent_workers=True)
    first = _plain(list(loader))
    assert first == _plain(list(loader)) and len(first) == 6  # each epoch restarts the streams


class SpawnProbe(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 5:
            raise ValueError("five")
        info = get_worker_info()
        return i, info.id, wgtorch.wgpu.is_available(), "wgpu" in sys.modules, os.getpid()


def test_spawn_workers():
    """Spawned workers (macOS's default): the order of num_workers=0, no wgpu in the
    worker (the library is not even imported), errors re-raised, persistent across epochs."""
    wgtorch.manual_seed(3)
    loader = DataLoader(SpawnProbe(), batch_size=2, shuffle=True, num_workers=2, persistent_workers=True,
                        multiprocessing_context="spawn")
    epochs = []
    for _ in range(2):
        got, it = [], iter(loader)
        while True:
            try:
                got.append(_plain(next(it)))
            except ValueError as e:
                assert "Caught ValueError in DataLoader worker process" in str(e) and "five" in str(e)
                got.append("error")
            except StopIteration:
                break
        epochs.append(got)
    wgtorch.manual_seed(3)
    single = [b.tolist() for b in DataLoader(range(8), batch_size=2, shuffle=True)]
    assert [g if g == "error" else g[0] for g in epochs[0]] == ["error" if 5 in o else o for o in single]
    ok = [g for e in epochs for g in e if g != "error"]
    second = [i for g in epochs[1] if g != "error" for i in g[0]]
    assert len(epochs[1]) == 4 and epochs[1].count("error") == 1 and len(set(second)) == 6 and 5 not in second
    assert {w for g in ok for w in g[1]} == {0, 1}
    assert not any(v for g in ok for v in g[2] + g[3])  # no adapter, no wgpu module in the workers
    pids = {p for g in ok for p in g[4]}
    assert len(pids) == 2 and os.getpid() not in pids  # the same two processes both epochs


class OnDevice(Dataset):
    def __init__(self, t):
        self.t = t

    def __len__(self):
        return len(self.t)

    def __getitem__(self, i):
        return self.t[i]


def test_workers_never_touch_the_gpu(device):
    """A forked worker refuses its parent's device tensors (and making new ones); cpu
    batches are moved to the device in the main process."""
    x = wgtorch.arange(8.0).reshape(4, 2)
    for xb, k in zip(DataLoader(OnDevice(x), batch_size=2, num_workers=2), (0, 2)):
        xb = xb.to(device)
        assert xb.device.type == device and xb.cpu().tolist() == x[k:k + 2].tolist()
    on_device = x.to(device)
    loader = DataLoader(OnDevice(on_device), batch_size=2, num_workers=1)
    if device == "cpu":
        assert [b.tolist() for b in loader] == [[[0, 1], [2, 3]], [[4, 5], [6, 7]]]
    else:
        with pytest.raises(RuntimeError, match="DataLoader worker processes never use the GPU"):
            list(loader)
        with pytest.raises(RuntimeError, match="DataLoader worker processes never use the GPU"):
            list(DataLoader(OnDevice(x), batch_size=2, num_workers=1, collate_fn=lambda b: wgtorch.ones(1).cuda()))
        assert on_device.sum().item() == 28.0  # the main process's device is fine
