"""torch.backends.mps's question, answered for wgtorch: is there a Metal GPU?"""


def is_available():
    from ..cuda import is_available as gpu_available, run_device
    if run_device() is not None:  # `python -m wgtorch.run --device cpu|wgpu` decides, as for torch.cuda
        return gpu_available()
    from .wgpu import context
    a = context.adapter()
    return a is not None and a.info.get("backend_type") == "Metal"


def is_built():
    return True
