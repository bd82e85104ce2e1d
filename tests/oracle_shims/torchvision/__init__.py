"""A stand-in for torchvision, used only when the real one is not installed, so that
real torch can run the seed's MNIST listing as the oracle: MNIST read from IDX files
as NumPy arrays, Compose and ToTensor. Values are torchvision's (ToTensor: uint8 / 255,
shape (1, H, W)); wgtorch itself never sees this package."""
from . import datasets, transforms  # noqa: F401
