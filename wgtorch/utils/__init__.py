"""wgtorch.utils: helpers under torch.utils' names (safetensors files; data loading lives in utils/data)."""


def __getattr__(name):  # `wgtorch.utils.data` on first use, as after `import torch`
    if name in ("data", "checkpoint"):
        import importlib
        return importlib.import_module("." + name, __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
