"""MNIST and Fashion-MNIST under torchvision.datasets' names, read from the standard
IDX files (raw or .gz).

The files are looked for in ``root/<ClassName>/raw/`` (torchvision's layout, where
``download=True`` puts them) and then in ``root`` itself. On Debian,
``apt-get install dataset-fashion-mnist`` puts the real Fashion-MNIST (the four
.gz files) in /usr/share/datasets/fashion-mnist, so
``FashionMNIST("/usr/share/datasets/fashion-mnist", train=True)`` reads it as it
is (the package is not installed on the project's own machines).

Samples are (image, label): the image is a PIL image (mode "L") when Pillow is
installed, as torchvision's, and otherwise a uint8 NumPy array (28, 28);
transforms.ToTensor() turns either into a (1, 28, 28) float tensor in [0, 1]."""
import gzip
import os
import urllib.request

import numpy as np

from ..ops.creation import from_numpy
from ..utils.data import Dataset

# IDX type codes: the third byte of the magic number
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """The array in an IDX file (gzip-compressed or not)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in _IDX_DTYPES:
        raise RuntimeError(f"{path} is not an IDX file (bad magic number {data[:4].hex()})")
    ndim = data[3]
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    dt = np.dtype(_IDX_DTYPES[data[2]])
    start = 4 + 4 * ndim
    if len(data) - start != int(np.prod(shape)) * dt.itemsize:
        raise RuntimeError(f"{path}: {len(data) - start} bytes of data for an array of shape {shape} "
                           f"({dt.name}): the file is truncated or corrupt")
    return np.frombuffer(data, dt, offset=start).astype(dt.newbyteorder("="), copy=True).reshape(shape)


class MNIST(Dataset):
    """The MNIST handwritten digits: 60,000 training and 10,000 test images of 28x28."""

    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"]
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
               "8 - eight", "9 - nine"]
    files = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        self.root = os.path.expanduser(str(root))
        self.train, self.transform, self.target_transform = train, transform, target_transform
        if download and self._find_all() is None:
            self.download()
        paths = self._find_all()
        if paths is None:
            raise RuntimeError(f"Dataset not found: {type(self).__name__} needs "
                               f"{' and '.join(self.files[train])} (each raw or .gz) in {self.raw_folder} or in "
                               f"{self.root}. Use download=True to download them, or copy them there.")
        images, labels = read_idx(paths[0]), read_idx(paths[1])
        if images.ndim != 3 or labels.shape != images.shape[:1]:
            raise RuntimeError(f"{paths[0]} and {paths[1]} do not hold {len(labels)} images and their labels")
        self._images, self._labels = images, labels.astype(np.int64)  # NumPy: fast to index per sample
        self.data, self.targets = from_numpy(self._images), from_numpy(self._labels)  # sharing their memory

    @property
    def raw_folder(self):
        return os.path.join(self.root, type(self).__name__, "raw")

    @property
    def class_to_idx(self):
        return {c: i for i, c in enumerate(self.classes)}

    def _find(self, name):
        for folder in (self.raw_folder, self.root):
            for f in (name, name + ".gz"):
                if os.path.isfile(os.path.join(folder, f)):
                    return os.path.join(folder, f)
        return None

    def _find_all(self):
        paths = [self._find(n) for n in self.files[self.train]]
        return None if None in paths else paths

    def download(self):
        """Fetch the four .gz files into raw_folder, trying each mirror in turn."""
        os.makedirs(self.raw_folder, exist_ok=True)
        for name in self.files[True] + self.files[False]:
            if self._find(name):
                continue
            errors = []
            for mirror in self.mirrors:
                url = f"{mirror}{name}.gz"
                try:
                    with urllib.request.urlopen(url, timeout=30) as r:
                        blob = r.read()
                    break
                except OSError as e:  # URLError, HTTPError, timeouts
                    errors.append(f"{url}: {e}")
            else:
                raise RuntimeError(f"Could not download {name}.gz ({'; '.join(errors)}). Offline, put the files "
                                   f"{', '.join(f + '.gz' for f in self.files[True] + self.files[False])} "
                                   f"(raw or .gz) in {self.raw_folder} or in {self.root}.")
            tmp = os.path.join(self.raw_folder, name + ".gz.part")
            with open(tmp, "wb") as f:
                f.write(blob)
            os.replace(tmp, os.path.join(self.raw_folder, name + ".gz"))

    def __len__(self):
        return len(self._images)

    def __getitem__(self, index):
        img, target = _image(self._images[index]), int(self._labels[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __repr__(self):
        lines = [f"Dataset {type(self).__name__}", f"    Number of datapoints: {len(self)}",
                 f"    Root location: {self.root}", f"    Split: {'Train' if self.train else 'Test'}"]
        if self.transform is not None:
            lines.append("    Transform: " + repr(self.transform).replace("\n", "\n    "))
        return "\n".join(lines)


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: the same format and sizes as MNIST, ten kinds of clothing."""

    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]


def _image(a):
    global _pil
    if _pil is None:
        try:
            from PIL import Image as _pil
        except ImportError:
            _pil = False
    return _pil.fromarray(a) if _pil else a


_pil = None  # PIL.Image once looked up, False without Pillow
