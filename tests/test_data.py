"""wgtorch.utils.data in the main process: datasets, samplers, collation and the
DataLoader with num_workers=0, compared with real torch (the same random draws,
bit for bit, on cpu) and NumPy. Worker processes: test_dataloader_workers.py."""
import collections
import subprocess
import sys

import numpy as np
import pytest

import wgtorch
from wgtorch.utils.data import (BatchSampler, ChainDataset, ConcatDataset, DataLoader, Dataset, DistributedSampler,
                                IterableDataset, RandomSampler, SequentialSampler, Subset, SubsetRandomSampler,
                                TensorDataset, WeightedRandomSampler, default_collate, default_convert,
                                get_worker_info, random_split)


class Indices(Dataset):
    """Sample i is i: the loader's batches show its order."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i


def _order(lib, seed, n, epochs=3, generator_seed=None, **kw):
    """The batches of `epochs` epochs of lib's DataLoader over Indices(n) after manual_seed(seed)."""
    data = lib.utils.data
    lib.manual_seed(seed)
    g = lib.Generator().manual_seed(generator_seed) if generator_seed is not None else None

    class Ds(data.Dataset):
        __len__ = lambda self: n  # noqa: E731
        __getitem__ = lambda self, i: i  # noqa: E731
    loader = data.DataLoader(Ds(), generator=g, **kw)
    return [[b.tolist() if hasattr(b, "tolist") else b for b in loader] for _ in range(epochs)]


@pytest.mark.parametrize("seed,n,kw", [
    (123, 5, dict(batch_size=2, shuffle=True)),
    (0, 37, dict(batch_size=4, shuffle=True, drop_last=True)),
    (2 ** 40 + 7, 100, dict(batch_size=8, shuffle=True)),
    (7, 10, dict(batch_size=3, sampler=None, shuffle=False)),
    (9, 20, dict(batch_size=None, shuffle=True)),
])
def test_shuffled_order_is_torchs(oracle, seed, n, kw):
    """manual_seed(s) then iterating DataLoader(shuffle=True) visits torch's order,
    different every epoch; a later draw from the default generator agrees too."""
    ours = _order(wgtorch, seed, n, **kw)
    assert ours == _order(oracle, seed, n, **kw)
    if kw["shuffle"]:
        assert ours[0] != ours[1]
    assert wgtorch.rand(3).tolist() == oracle.rand(3).tolist()


def test_loader_generator_is_torchs(oracle):
    ours = _order(wgtorch, 1, 30, generator_seed=42, batch_size=5, shuffle=True)
    assert ours == _order(oracle, 1, 30, generator_seed=42, batch_size=5, shuffle=True)
    # the generator alone decides: another global seed, the same order
    assert ours == _order(wgtorch, 2, 30, generator_seed=42, batch_size=5, shuffle=True)


def test_int64_seed_draw_is_torchs(oracle):
    for s in range(40):
        wgtorch.manual_seed(s)
        oracle.manual_seed(s)
        assert wgtorch.empty((), dtype=wgtorch.int64).random_().item() == \
            oracle.empty((), dtype=oracle.int64).random_().item()


@pytest.mark.parametrize("lengths", [[3, 7], [0.3, 0.3, 0.4], [0.5, 0.5], [0.33, 0.33, 0.34], [1.0, 0.0]])
def test_random_split_is_torchs(oracle, lengths):
    for gen in (False, True):
        wgtorch.manual_seed(5)
        oracle.manual_seed(5)
        kw = lambda lib: {"generator": lib.Generator().manual_seed(42)} if gen else {}  # noqa: E731
        with pytest.warns(UserWarning) if 0 in lengths else _nothing():
            ours = random_split(range(10), lengths, **kw(wgtorch))
        with pytest.warns(UserWarning) if 0 in lengths else _nothing():
            theirs = oracle.utils.data.random_split(range(10), lengths, **kw(oracle))
        assert [list(s) for s in ours] == [list(s) for s in theirs]
        assert sorted(i for s in ours for i in s) == list(range(10))


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_random_split_errors():
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        random_split(range(10), [3, 3])
    with pytest.raises(ValueError, match="Fraction at index 0 is not between 0 and 1"):
        random_split(range(10), [-0.5, 1.5])


def _samplers(lib, n=13):
    d = lib.utils.data
    g = lambda: lib.Generator().manual_seed(3)  # noqa: E731
    return {
        "sequential": d.SequentialSampler(range(n)),
        "random": d.RandomSampler(range(n)),
        "random generator": d.RandomSampler(range(n), generator=g()),
        "random num_samples > n": d.RandomSampler(range(n), num_samples=30),
        "random replacement": d.RandomSampler(range(n), replacement=True, num_samples=70),
        "random replacement large n": d.RandomSampler(range(1 << 33), replacement=True, num_samples=5),
        "subset random": d.SubsetRandomSampler([5, 9, 2, 11, 0], generator=g()),
        "weighted replacement": d.WeightedRandomSampler([0.1, 0.9, 0.4, 0.7, 3.0, 0.6], 50, replacement=True),
        "weighted replacement zeros": d.WeightedRandomSampler([0, 2, 0, 1, 0, 0, 5], 40, generator=g()),
        "weighted one sample": d.WeightedRandomSampler([1.0, 2.0, 3.0, 4.0], 1),
        "weighted no replacement": d.WeightedRandomSampler([0.9, 0.4, 0.05, 0.2, 0.3, 0.1], 5, replacement=False),
        "batch": d.BatchSampler(d.RandomSampler(range(n)), 4, drop_last=False),
        "batch drop_last": d.BatchSampler(d.SequentialSampler(range(n)), 4, drop_last=True),
    }


def test_samplers_are_torchs(oracle):
    for seed in (0, 11):
        wgtorch.manual_seed(seed)
        oracle.manual_seed(seed)
        ours, theirs = _samplers(wgtorch), _samplers(oracle)
        for name in ours:
            for _ in range(2):  # twice: the second pass continues the streams
                assert list(ours[name]) == list(theirs[name]), name
            assert len(ours[name]) == len(theirs[name]), name
        assert wgtorch.rand(2).tolist() == oracle.rand(2).tolist()


def test_weighted_multinomial_is_torchs_for_many_draws(oracle):
    w = np.random.default_rng(0).random(50) ** 3
    g, tg = wgtorch.Generator().manual_seed(8), oracle.Generator().manual_seed(8)
    for replacement, n in ((True, 5000), (False, 50), (False, 7), (True, 1)):
        assert wgtorch.multinomial(wgtorch.tensor(w), n, replacement, generator=g).tolist() == \
            oracle.multinomial(oracle.tensor(w), n, replacement, generator=tg).tolist()


def test_sampler_errors():
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(TypeError, match="replacement should be a boolean value"):
        RandomSampler(range(3), replacement=1)
    with pytest.raises(ValueError, match="weights should be a 1d sequence"):
        WeightedRandomSampler([[1.0, 2.0]], 2)
    with pytest.raises(RuntimeError, match="cannot sample n_sample > prob_dist.size"):
        list(WeightedRandomSampler([1.0, 2.0], 3, replacement=False))
    with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
        BatchSampler(range(3), 0, False)


@pytest.mark.parametrize("n,replicas,shuffle,drop_last", [(10, 3, True, False), (10, 3, False, False),
                                                         (10, 3, True, True), (2, 4, True, False),
                                                         (12, 4, True, True)])
def test_distributed_sampler_is_torchs(oracle, n, replicas, shuffle, drop_last):
    seen = []
    for rank in range(replicas):
        ours = DistributedSampler(range(n), replicas, rank, shuffle=shuffle, seed=7, drop_last=drop_last)
        theirs = oracle.utils.data.DistributedSampler(range(n), replicas, rank, shuffle=shuffle, seed=7,
                                                      drop_last=drop_last)
        for epoch in (0, 3):
            ours.set_epoch(epoch)
            theirs.set_epoch(epoch)
            assert list(ours) == list(theirs)
            assert len(ours) == len(theirs) == len(list(ours))
        seen += list(ours)
    if not drop_last:
        assert set(seen) == set(range(n))
    with pytest.raises(ValueError, match="Invalid rank 3"):
        DistributedSampler(range(n), 3, 3)


Point = collections.namedtuple("Point", "x y")


def _samples(lib):
    """Per-type sample lists for default_collate, in lib's tensors."""
    rng = np.random.default_rng(1)
    arrs = [rng.standard_normal((2, 3)).astype(np.float32) for _ in range(3)]
    return {
        "tensors": [lib.tensor(a) for a in arrs],
        "numpy": arrs,
        "numpy int": [np.arange(4, dtype=np.int16) + i for i in range(3)],
        "floats": [0.5, 1.25, -3.0],
        "ints": [1, 2, 3],
        "bools": [True, False, True],
        "strings": ["a", "b", "c"],
        "numpy scalars": [np.float32(1.5), np.float32(2.5)],
        "numpy int64 scalars": [np.int64(4), np.int64(5)],
        "dicts": [{"x": lib.tensor([i, i]), "name": str(i), "w": float(i)} for i in range(3)],
        "namedtuples": [Point(lib.tensor([i]), i) for i in range(3)],
        "tuples": [(lib.tensor([1.0, i]), i) for i in range(3)],
        "lists": [[np.float64(i), [i, 2 * i]] for i in range(3)],
    }


def _plain(x):
    """A collated result as comparable Python data (type name, dtype, values)."""
    if hasattr(x, "dtype") and hasattr(x, "shape") and not isinstance(x, np.ndarray):
        return ("tensor", str(x.dtype), tuple(x.shape), x.tolist())
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return (type(x).__name__,) + tuple(_plain(v) for v in x)
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, [_plain(v) for v in x])
    return x


def test_default_collate_is_torchs(oracle):
    ours, theirs = _samples(wgtorch), _samples(oracle)
    for name in ours:
        a = default_collate(ours[name])
        b = oracle.utils.data.default_collate(theirs[name])
        assert _plain(a) == _plain(b), name
    assert isinstance(default_collate(ours["namedtuples"]), Point)


def test_default_convert_is_torchs(oracle):
    cases = lambda lib: [np.arange(3), np.float32(2.0), {"a": np.ones(2)}, Point(np.zeros(1), 3),  # noqa: E731
                         (np.ones(1), "s"), [np.arange(2), 5], "text", lib.ones(2), np.array(["x", "y"])]
    for a, b in zip(cases(wgtorch), cases(oracle)):
        ra, rb = default_convert(a), oracle.utils.data.default_convert(b)
        if isinstance(rb, np.ndarray):  # string arrays stay arrays
            assert isinstance(ra, np.ndarray) and (ra == rb).all()
        else:
            assert _plain(ra) == _plain(rb)


def test_default_collate_errors():
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors, numpy arrays, numbers"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        default_collate([np.array(["a"]), np.array(["b"])])


def test_datasets():
    x, y = wgtorch.arange(10.0).reshape(5, 2), wgtorch.arange(5)
    ds = TensorDataset(x, y)
    assert len(ds) == 5 and ds[2][0].tolist() == [4.0, 5.0] and ds[2][1].item() == 2
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        TensorDataset(x, wgtorch.arange(4))
    cat = ds + TensorDataset(x[:2] + 100, y[:2] + 100)
    assert isinstance(cat, ConcatDataset) and len(cat) == 7 and cat.cumulative_sizes == [5, 7]
    assert cat[5][1].item() == 100 and cat[-1][1].item() == 101 and cat[4][1].item() == 4
    with pytest.raises(ValueError, match="absolute value of index should not exceed dataset length"):
        cat[-8]
    sub = Subset(cat, [6, 0, 3])
    assert len(sub) == 3 and [s[1].item() for s in sub.__getitems__([0, 2])] == [101, 3]
    assert sub[0][1].item() == 101

    class Stream(IterableDataset):
        def __init__(self, a, b):
            self.a, self.b = a, b

        def __iter__(self):
            return iter(range(self.a, self.b))

        def __len__(self):
            return self.b - self.a
    chain = Stream(0, 3) + Stream(10, 12)
    assert isinstance(chain, ChainDataset) and list(chain) == [0, 1, 2, 10, 11] and len(chain) == 5
    with pytest.raises(AssertionError, match="ConcatDataset does not support IterableDataset"):
        ConcatDataset([ds, chain])
    with pytest.raises(NotImplementedError):
        Dataset()[0]
    assert get_worker_info() is None  # the main process


def test_iterable_dataset_in_the_loader():
    class Stream(IterableDataset):
        def __iter__(self):
            return iter(range(7))

        def __len__(self):
            return 7
    assert [b.tolist() for b in DataLoader(Stream(), batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6]]
    loader = DataLoader(Stream(), batch_size=3, drop_last=True)
    assert [b.tolist() for b in loader] == [[0, 1, 2], [3, 4, 5]] and len(loader) == 2
    assert len(DataLoader(Stream(), batch_size=3)) == 3
    assert list(DataLoader(Stream(), batch_size=None)) == list(range(7))
    for bad in (dict(shuffle=True), dict(sampler=[0]), dict(batch_sampler=[[0]])):
        with pytest.raises(ValueError, match="DataLoader with IterableDataset: expected unspecified"):
            DataLoader(Stream(), **bad)


def test_loader_options():
    ds = Indices(10)
    assert len(DataLoader(ds, batch_size=3)) == 4 and len(DataLoader(ds, batch_size=3, drop_last=True)) == 3
    bs = BatchSampler(SequentialSampler(ds), 4, False)
    assert [b.tolist() for b in DataLoader(ds, batch_sampler=bs)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [b.tolist() for b in DataLoader(ds, batch_size=5, sampler=SubsetRandomSampler([9, 8, 7]))][0] != []
    assert list(DataLoader(ds, batch_size=4, collate_fn=lambda b: [x * 10 for x in b])) == \
        [[0, 10, 20, 30], [40, 50, 60, 70], [80, 90]]
    assert list(DataLoader(ds, batch_size=None))[3] == 3  # default_convert leaves numbers alone
    assert [b.tolist() for b in DataLoader(ds, batch_size=5, pin_memory=True)] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    errors = [(dict(num_workers=-1), "num_workers option should be non-negative"),
              (dict(timeout=-1), "timeout option should be non-negative"),
              (dict(prefetch_factor=2), "prefetch_factor option could only be specified in multiprocessing"),
              (dict(persistent_workers=True), "persistent_workers option needs num_workers > 0"),
              (dict(sampler=[0], shuffle=True), "sampler option is mutually exclusive with shuffle"),
              (dict(batch_sampler=bs, batch_size=2), "batch_sampler option is mutually exclusive"),
              (dict(batch_size=None, drop_last=True), "batch_size=None option disables auto-batching"),
              (dict(multiprocessing_context="fork"), "multiprocessing_context can only be used")]
    for kw, msg in errors:
        with pytest.raises(ValueError, match=msg):
            DataLoader(ds, **kw)


def test_batches_on_the_device(device):
    """A dataset of device tensors is batched on the device (num_workers=0); cpu
    batches moved with .to(device) in the main process give the same values."""
    x = np.random.default_rng(2).standard_normal((9, 3)).astype(np.float32)
    y = np.arange(9)
    on_device = DataLoader(TensorDataset(wgtorch.tensor(x, device=device), wgtorch.tensor(y, device=device)),
                           batch_size=4)
    on_cpu = DataLoader(TensorDataset(wgtorch.tensor(x), wgtorch.tensor(y)), batch_size=4)
    for (xb, yb), (xc, yc), k in zip(on_device, on_cpu, range(0, 9, 4)):
        assert xb.device.type == device and yb.dtype == wgtorch.int64
        xc, yc = xc.to(device), yc.to(device)
        assert xc.device.type == device
        np.testing.assert_array_equal(xb.cpu().numpy(), x[k:k + 4])
        np.testing.assert_array_equal(xc.cpu().numpy(), x[k:k + 4])
        assert yb.cpu().tolist() == yc.cpu().tolist() == y[k:k + 4].tolist()
    batch = default_collate([{"a": wgtorch.ones(2, device=device) * i} for i in range(3)])
    assert batch["a"].device.type == device and batch["a"].cpu().tolist() == [[0, 0], [1, 1], [2, 2]]


def test_import_is_lazy_and_torch_shaped():
    """`import wgtorch` leaves the data and vision modules unloaded (import time);
    the torch spellings import them."""
    code = ("import sys, wgtorch; print(any(m.startswith(('wgtorch.utils.data', 'wgtorch.vision')) "
            "for m in sys.modules)); loader = wgtorch.utils.data.DataLoader; "
            "from wgtorch.utils.data import DataLoader; import wgtorch.utils.data as d; "
            "from wgtorch.vision import datasets, transforms; "
            "print(d.DataLoader is DataLoader is loader, wgtorch.utils.data is d)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True", "True"]


def test_shuffling_ignores_the_default_device(device):
    """The samplers draw on cpu (PyTorch's stream) whatever the default device is."""
    wgtorch.manual_seed(4)
    expected = [b.tolist() for b in DataLoader(Indices(10), batch_size=4, shuffle=True)]
    expected += [list(random_split(range(6), [0.5, 0.5])[0]), list(WeightedRandomSampler([1, 2, 3], 4))]
    wgtorch.set_default_device(device)
    try:
        wgtorch.manual_seed(4)
        got = [b.tolist() for b in DataLoader(Indices(10), batch_size=4, shuffle=True)]
        got += [list(random_split(range(6), [0.5, 0.5])[0]), list(WeightedRandomSampler([1, 2, 3], 4))]
    finally:
        wgtorch.set_default_device("cpu")
    assert got == expected
