import gzip
import os

import numpy as np


def _idx(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    ndim = data[3]
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


class MNIST:
    def __init__(self, root, train=True, download=False, transform=None, target_transform=None):
        raw = os.path.join(root, "MNIST", "raw")
        prefix = "train" if train else "t10k"
        self.data = _idx(os.path.join(raw, f"{prefix}-images-idx3-ubyte"))
        self.targets = _idx(os.path.join(raw, f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
        self.transform = transform

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        img = self.data[i]
        return (self.transform(img) if self.transform else img), int(self.targets[i])
