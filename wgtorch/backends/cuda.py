"""torch.backends.cuda's flags, accepted so that PyTorch scripts run.

wgtorch's float32 matmul always computes in float32 (WebGPU has no TF32), so
`matmul.allow_tf32` and `set_float32_matmul_precision` are recorded and read
back as PyTorch does (the two are linked), but change no arithmetic."""

_precision = ["highest"]  # torch.get_float32_matmul_precision()


class _MatmulFlags:
    allow_fp16_reduced_precision_reduction = True
    allow_bf16_reduced_precision_reduction = True

    @property
    def allow_tf32(self):
        return _precision[0] != "highest"

    @allow_tf32.setter
    def allow_tf32(self, value):
        _precision[0] = "high" if value else "highest"


matmul = _MatmulFlags()


def is_built():
    """True: the wgpu backend answers for "cuda" (see wgtorch.cuda)."""
    return True
