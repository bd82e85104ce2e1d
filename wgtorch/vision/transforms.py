"""Image transforms under torchvision.transforms' names: Compose, ToTensor, Normalize,
Lambda, RandomHorizontalFlip, RandomCrop.

Images are tensors (..., C, H, W) on any device, NumPy arrays (H, W) or (H, W, C)
(what datasets.MNIST returns without Pillow), or PIL images. The random ones draw
from wgtorch's default generator exactly as torchvision draws from torch's, so a
seeded pipeline flips and crops the same images at the same places."""
import numbers

import numpy as np

from ..dtypes import get_default_dtype
from ..ops.creation import from_numpy, rand, randint, tensor
from ..tensor import Tensor

__all__ = ["Compose", "Lambda", "Normalize", "RandomCrop", "RandomHorizontalFlip", "ToTensor"]


class Compose:
    """Apply the transforms one after the other."""

    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        return f"{type(self).__name__}(" + "".join(f"\n    {t}" for t in self.transforms) + "\n)"


class ToTensor:
    """A PIL image or an (H, W[, C]) array as a (C, H, W) tensor; uint8 is scaled to [0, 1]
    in the default float dtype, other dtypes keep their values (as torchvision)."""

    def __call__(self, pic):
        if isinstance(pic, Tensor) or not (_is_pil(pic) or isinstance(pic, np.ndarray)):
            raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
        a = np.asarray(pic)
        if a.ndim == 2:
            a = a[:, :, None]
        if a.ndim != 3:
            raise ValueError(f"pic should be 2/3 dimensional. Got {a.ndim} dimensions.")
        if a.dtype == np.bool_:  # PIL mode "1"
            a = a.astype(np.uint8) * 255
        t = from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))
        return t.to(get_default_dtype()).div(255) if a.dtype == np.uint8 else t

    def __repr__(self):
        return "ToTensor()"


class Normalize:
    """(x - mean[c]) / std[c] for each channel c of a float tensor (..., C, H, W)."""

    def __init__(self, mean, std, inplace=False):
        self.mean, self.std, self.inplace = mean, std, inplace

    def __call__(self, x):
        if not isinstance(x, Tensor):
            raise TypeError(f"img should be Tensor Image. Got {type(x)}")
        if not x.is_floating_point():
            raise TypeError(f"Input tensor should be a float tensor. Got {x.dtype}.")
        if x.ndim < 3:
            raise ValueError(f"Expected tensor to be a tensor image of size (..., C, H, W). Got tensor.size() = "
                             f"{tuple(x.shape)}")
        mean = tensor(self.mean, dtype=x.dtype, device=x.device)
        std = tensor(self.std, dtype=x.dtype, device=x.device)
        if (std == 0).any().item():
            raise ValueError(f"std evaluated to zero after conversion to {x.dtype}, leading to division by zero.")
        mean, std = mean.reshape(-1, 1, 1), std.reshape(-1, 1, 1)
        return x.sub_(mean).div_(std) if self.inplace else (x - mean) / std

    def __repr__(self):
        return f"{type(self).__name__}(mean={self.mean}, std={self.std})"


class Lambda:
    """A user function as a transform."""

    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {repr(type(lambd).__name__)}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)

    def __repr__(self):
        return f"{type(self).__name__}()"


class RandomHorizontalFlip:
    """Mirror the image left-right with probability p (one draw of rand(1) per call)."""

    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, img):
        if rand(1).item() < self.p:
            if isinstance(img, Tensor):
                return img.flip(-1)
            a, back = _array(img)
            return back(np.ascontiguousarray(a[:, ::-1]))
        return img

    def __repr__(self):
        return f"{type(self).__name__}(p={self.p})"


class RandomCrop:
    """A size (h, w) window at a random place, after optional padding
    (padding_mode "constant" with `fill`, "edge", "reflect" or "symmetric")."""

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant"):
        self.size = (size, size) if isinstance(size, numbers.Number) else tuple(size)
        if len(self.size) == 1:
            self.size = (self.size[0], self.size[0])
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
        self.padding, self.pad_if_needed, self.fill, self.padding_mode = padding, pad_if_needed, fill, padding_mode

    @staticmethod
    def get_params(img, output_size):
        """(top, left, height, width) of a random crop, drawn as torchvision draws it."""
        h, w = _hw(img)
        th, tw = output_size
        if h < th or w < tw:
            raise ValueError(f"Required crop size {(th, tw)} is larger than input image size {(h, w)}")
        if w == tw and h == th:
            return 0, 0, h, w
        i = randint(0, h - th + 1, size=(1,)).item()
        j = randint(0, w - tw + 1, size=(1,)).item()
        return i, j, th, tw

    def __call__(self, img):
        if self.padding is not None:
            img = self._pad(img, self.padding)
        h, w = _hw(img)
        if self.pad_if_needed and w < self.size[1]:
            img = self._pad(img, [self.size[1] - w, 0])
        if self.pad_if_needed and h < self.size[0]:
            img = self._pad(img, [0, self.size[0] - h])
        i, j, th, tw = self.get_params(img, self.size)
        if isinstance(img, Tensor):
            return img[..., i:i + th, j:j + tw]
        a, back = _array(img)
        return back(a[i:i + th, j:j + tw])

    def _pad(self, img, padding):
        """torchvision's padding: one int (all sides), (left/right, top/bottom) or (left, top, right, bottom)."""
        p = [padding] if isinstance(padding, numbers.Number) else list(padding)
        p = p * 4 if len(p) == 1 else p * 2 if len(p) == 2 else p
        if len(p) != 4:
            raise ValueError(f"Padding must be an int or a 1, 2, or 4 element tuple, not a {len(p)} element tuple")
        left, top, right, bottom = p
        mode = self.padding_mode
        if isinstance(img, Tensor):
            if mode == "constant":
                from ..nn.functional import pad
                return pad(img, (left, right, top, bottom), value=float(self.fill))
            # the other modes as index lists (NumPy's pad of the positions) picked on the device
            rows = np.pad(np.arange(img.shape[-2]), (top, bottom), mode=mode)
            cols = np.pad(np.arange(img.shape[-1]), (left, right), mode=mode)
            idx = lambda v: tensor(v, device=img.device)  # noqa: E731
            return img.index_select(-2, idx(rows)).index_select(-1, idx(cols))
        a, back = _array(img)
        widths = [(top, bottom), (left, right)] + [(0, 0)] * (a.ndim - 2)
        kw = {"constant_values": self.fill} if mode == "constant" else {}
        return back(np.pad(a, widths, mode=mode, **kw))

    def __repr__(self):
        return f"{type(self).__name__}(size={self.size}, padding={self.padding})"


# ---- images that are not tensors -------------------------------------------------------------
def _is_pil(img):
    return type(img).__module__.startswith("PIL.")


def _array(img):
    """(an (H, W[, C]) array of img, a function that turns such an array back into img's kind)."""
    if _is_pil(img):
        from PIL import Image
        return np.asarray(img), lambda a: Image.fromarray(np.ascontiguousarray(a))
    return img, lambda a: a


def _hw(img):
    if isinstance(img, Tensor):
        return img.shape[-2], img.shape[-1]
    return _array(img)[0].shape[:2]
