"""wgtorch.vision: the MNIST / FashionMNIST reader on small IDX files written here
(raw and .gz, torchvision's folder layout and a flat one), download's offline error,
and the transforms against NumPy (and torch's random draws for the random ones)."""
import gzip
import struct

import numpy as np
import pytest

import wgtorch
from wgtorch.utils.data import DataLoader
from wgtorch.vision import datasets, transforms
from wgtorch.vision.datasets import read_idx

FILES = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def write_idx(path, a, gz):
    codes = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}
    blob = struct.pack(">BBBB", 0, 0, codes[a.dtype.type], a.ndim) + struct.pack(f">{a.ndim}I", *a.shape) + \
        a.astype(a.dtype.newbyteorder(">")).tobytes()
    with (gzip.open if gz else open)(str(path) + (".gz" if gz else ""), "wb") as f:
        f.write(blob)


def make_mnist(folder, n_train=12, n_test=5, gz=True, seed=0):
    """Tiny MNIST-format files: random 28x28 uint8 images and labels 0-9."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for train, n in ((True, n_train), (False, n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        write_idx(folder / FILES[train][0], images, gz)
        write_idx(folder / FILES[train][1], labels, not gz)  # one raw, one compressed
        out[train] = (images, labels)
    return out


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_reads_torchvisions_layout(tmp_path, gz):
    data = make_mnist(tmp_path / "MNIST" / "raw", gz=gz)
    for train in (True, False):
        ds = datasets.MNIST(tmp_path, train=train)
        images, labels = data[train]
        assert len(ds) == len(labels)
        assert ds.data.dtype == wgtorch.uint8 and ds.data.shape == images.shape
        assert ds.targets.dtype == wgtorch.int64 and ds.targets.tolist() == labels.tolist()
        img, target = ds[3]
        assert type(target) is int and target == labels[3]
        np.testing.assert_array_equal(np.asarray(img), images[3])
    assert ds.classes[7] == "7 - seven" and ds.class_to_idx["7 - seven"] == 7
    assert repr(ds).splitlines()[:2] == ["Dataset MNIST", "    Number of datapoints: 5"]


def test_fashion_mnist_reads_a_flat_folder_with_transforms(tmp_path):
    """Debian's dataset-fashion-mnist layout: the .gz files right in root."""
    images, labels = make_mnist(tmp_path, seed=1)[True]
    ds = datasets.FashionMNIST(tmp_path, train=True, transform=transforms.ToTensor(),
                               target_transform=lambda y: y + 100)
    x, y = ds[5]
    assert x.shape == (1, 28, 28) and x.dtype == wgtorch.float32 and y == labels[5] + 100
    np.testing.assert_array_equal(x.numpy()[0], images[5].astype(np.float32) / np.float32(255))
    assert ds.classes[9] == "Ankle boot" and ds.classes[5] == "Sandal" and len(ds.classes) == 10
    wgtorch.manual_seed(0)
    batches = list(DataLoader(ds, batch_size=5, shuffle=True))
    assert [tuple(b[0].shape) for b in batches] == [(5, 1, 28, 28), (5, 1, 28, 28), (2, 1, 28, 28)]
    assert sorted(v for b in batches for v in b[1].tolist()) == sorted((labels + 100).tolist())


def test_idx_reader(tmp_path):
    for a in (np.arange(24, dtype=np.int16).reshape(2, 3, 4) - 5, np.linspace(0, 1, 7).astype(np.float32),
              np.array([[1.5, -2.0]], np.float64), np.arange(-3, 3, dtype=np.int32)):
        write_idx(tmp_path / "a", a, gz=True)
        b = read_idx(str(tmp_path / "a.gz"))
        assert b.dtype == a.dtype and b.dtype.isnative and b.flags.writeable
        np.testing.assert_array_equal(b, a)
    (tmp_path / "bad").write_bytes(b"\x00\x01\x08\x01\x00\x00\x00\x02ab")
    with pytest.raises(RuntimeError, match="is not an IDX file"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05ab")
    with pytest.raises(RuntimeError, match="truncated or corrupt"):
        read_idx(tmp_path / "short")


def test_missing_files_and_offline_download_name_what_to_put_where(tmp_path, monkeypatch):
    with pytest.raises(RuntimeError, match="(?s)train-images-idx3-ubyte and train-labels-idx1-ubyte.*"
                                           "download=True"):
        datasets.MNIST(tmp_path, train=True)
    monkeypatch.setattr(datasets.FashionMNIST, "mirrors", ["http://127.0.0.1:9/", "http://127.0.0.1:9/x/"])
    with pytest.raises(RuntimeError) as e:
        datasets.FashionMNIST(tmp_path / "data", download=True)
    msg = str(e.value)
    assert "Could not download train-images-idx3-ubyte.gz" in msg and "http://127.0.0.1:9/x/" in msg
    for name in FILES[True] + FILES[False]:
        assert name + ".gz" in msg
    assert str(tmp_path / "data" / "FashionMNIST" / "raw") in msg and str(tmp_path / "data") in msg
    make_mnist(tmp_path / "data" / "FashionMNIST" / "raw")  # present: download=True fetches nothing
    assert len(datasets.FashionMNIST(tmp_path / "data", train=False, download=True)) == 5


def test_to_tensor():
    rng = np.random.default_rng(3)
    hwc = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    t = transforms.ToTensor()(hwc)
    assert t.shape == (3, 4, 5) and t.dtype == wgtorch.float32
    np.testing.assert_array_equal(t.numpy(), hwc.transpose(2, 0, 1).astype(np.float32) / np.float32(255))
    f = rng.standard_normal((4, 5)).astype(np.float64)
    t = transforms.ToTensor()(f)  # not uint8: values and dtype kept, as torchvision
    assert t.dtype == wgtorch.float64 and t.shape == (1, 4, 5) and (t.numpy()[0] == f).all()
    with pytest.raises(TypeError, match="pic should be PIL Image or ndarray"):
        transforms.ToTensor()(wgtorch.ones(1, 2, 2))
    with pytest.raises(ValueError, match="pic should be 2/3 dimensional"):
        transforms.ToTensor()(np.zeros(3, np.uint8))


def test_normalize_compose_lambda(device):
    rng = np.random.default_rng(4)
    x = rng.random((2, 3, 4, 4), dtype=np.float32)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    pipeline = transforms.Compose([transforms.Normalize(mean, std), transforms.Lambda(lambda t: t * 2)])
    out = pipeline(wgtorch.tensor(x, device=device))
    assert out.device.type == device
    m, s = np.float32(mean).reshape(3, 1, 1), np.float32(std).reshape(3, 1, 1)
    np.testing.assert_allclose(out.cpu().numpy(), (x - m) / s * 2, rtol=1e-6, atol=1e-6)
    t = wgtorch.tensor(x[0], device=device)
    assert transforms.Normalize(mean, std, inplace=True)(t) is t
    np.testing.assert_allclose(t.cpu().numpy(), (x[0] - m) / s, rtol=1e-6, atol=1e-6)
    assert repr(pipeline) == "Compose(\n    Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))\n" \
                             "    Lambda()\n)"
    with pytest.raises(ValueError, match="std evaluated to zero"):
        transforms.Normalize((0.0,), (0.0,))(wgtorch.ones(1, 2, 2, device=device))
    with pytest.raises(TypeError, match="Input tensor should be a float tensor"):
        transforms.Normalize((0.0,), (1.0,))(wgtorch.ones(1, 2, 2, dtype=wgtorch.int32, device=device))
    with pytest.raises(TypeError, match="Argument lambd should be callable"):
        transforms.Lambda(3)


def test_random_horizontal_flip_draws_as_torchvision(device, oracle):
    """One rand(1) per call from the default generator: torch's draws decide the flips."""
    img = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    flip = transforms.RandomHorizontalFlip(p=0.5)
    wgtorch.manual_seed(11)
    oracle.manual_seed(11)
    for _ in range(12):
        flipped = oracle.rand(1).item() < 0.5
        out = flip(wgtorch.tensor(img, device=device))
        assert out.device.type == device
        np.testing.assert_array_equal(out.cpu().numpy(), img[..., ::-1] if flipped else img)
    np.testing.assert_array_equal(transforms.RandomHorizontalFlip(1.0)(img[0]), img[0][:, ::-1])
    np.testing.assert_array_equal(transforms.RandomHorizontalFlip(0.0)(img[0]), img[0])


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_random_crop_draws_as_torchvision(device, oracle, mode):
    """Padding as NumPy's pad, then the window torchvision picks: randint(0, h - th + 1)
    for the top, then for the left, from the default generator."""
    img = np.arange(5 * 6, dtype=np.float32).reshape(1, 5, 6) + 1
    crop = transforms.RandomCrop((4, 3), padding=(2, 1), fill=-1, padding_mode=mode)
    padded = np.pad(img, [(0, 0), (1, 1), (2, 2)], mode=mode, **({"constant_values": -1} if mode == "constant"
                                                                   else {}))
    wgtorch.manual_seed(5)
    oracle.manual_seed(5)
    for _ in range(6):
        i = oracle.randint(0, padded.shape[1] - 4 + 1, size=(1,)).item()
        j = oracle.randint(0, padded.shape[2] - 3 + 1, size=(1,)).item()
        out = crop(wgtorch.tensor(img, device=device))
        assert out.shape == (1, 4, 3) and out.device.type == device
        np.testing.assert_array_equal(out.cpu().numpy(), padded[:, i:i + 4, j:j + 3])
        hw = crop(img[0])  # an (H, W) array, as MNIST gives without Pillow: the same draws
        i = oracle.randint(0, padded.shape[1] - 4 + 1, size=(1,)).item()
        j = oracle.randint(0, padded.shape[2] - 3 + 1, size=(1,)).item()
        np.testing.assert_array_equal(hw, padded[0, i:i + 4, j:j + 3])


def test_random_crop_sizes():
    img = np.ones((3, 4), np.uint8)
    assert transforms.RandomCrop(3)(img).shape == (3, 3)
    assert transforms.RandomCrop((3, 4))(img).shape == (3, 4)  # the whole image: no draw
    assert transforms.RandomCrop(6, pad_if_needed=True)(img).shape == (6, 6)
    with pytest.raises(ValueError, match=r"Required crop size \(5, 5\) is larger than input image size \(3, 4\)"):
        transforms.RandomCrop(5)(img)
