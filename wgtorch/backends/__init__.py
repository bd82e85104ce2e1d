"""Backends implement one closed primitive set (see backends/cpu.py for the list).
The wgpu backend is loaded on first use so that ``import wgtorch`` never touches a GPU."""
from . import cpu, mps  # noqa: F401  (torch.backends.mps.is_available())

# The closed primitive set every backend implements (ops compose everything else).
PRIMITIVES = (
    # creation and transfer
    "from_numpy", "to_numpy", "empty", "full", "arange", "eye",
    # views: metadata only
    "view_reshape", "view_permute", "view_expand", "view_index", "view_strided", "strides", "is_contiguous",
    "storage_offset", "data_ptr",
    # copies and casts
    "contiguous", "clone", "cast", "copy_", "fill_",
    # elementwise
    "unary", "unary_pred", "binary", "binary_", "where", "clamp",
    # reductions, arg-reductions, scans
    "reduce", "argreduce", "scan",
    # linear algebra
    "matmul",
    # indexing
    "gather", "scatter_", "index", "index_put_", "nonzero", "sort", "unique",
    # random numbers (cpu: PyTorch's Mersenne Twister; wgpu: Philox)
    "random",
    # fused kernels and their backward, fused optimizer steps (in place)
    "gelu_grad", "layer_norm", "layer_norm_grad", "attention", "softmax", "log_softmax", "softmax_grad", "log_softmax_grad", "nll_loss", "nll_loss_grad", "sgd_", "adam_",
    "rmsprop_", "adagrad_",
)

_by_device = {}


def for_device(dev):
    """The backend module/object serving a wgtorch.device."""
    be = _by_device.get(dev)
    if be is None:
        if dev.type == "cpu":
            be = cpu
        elif dev.type == "wgpu":
            from . import wgpu
            if dev.index != 0:
                raise RuntimeError(f"wgpu device index {dev.index} is out of range: wgtorch uses one adapter "
                                   "(wgpu:0)")
            be = wgpu.backend(dev.index)
        else:
            raise RuntimeError(f"no backend for device {dev}")
        _by_device[dev] = be
    return be


from . import cuda, cudnn  # noqa: E402,F401  (torch.backends.cuda / cudnn flags, accepted)
