"""wgtorch.vision: a small torchvision (datasets.MNIST / FashionMNIST, transforms)."""
from . import datasets, transforms  # noqa: F401
