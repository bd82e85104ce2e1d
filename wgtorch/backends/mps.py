"""torch.backends.mps's question, answered for wgtorch: is there a Metal GPU?"""


def is_available():
    from .wgpu import context
    a = context.adapter()
    return a is not None and a.info.get("backend_type") == "Metal"


def is_built():
    return True
