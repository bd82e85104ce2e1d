"""`install_as_torch()`: make `import torch` (and `torchvision`) give wgtorch's modules.

A finder at the front of `sys.meta_path` maps `torch.X` to `wgtorch.X` and
`torchvision.X` to `wgtorch.vision.X`. Each name is resolved when it is first
imported, as a real import would, and lands in `sys.modules` as the very
wgtorch module object (`torch.nn is wgtorch.nn`)."""
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys

# the most specific first: torch.cuda is a module here, its amp lives in wgtorch.amp
_PREFIXES = {"torch.cuda.amp": "wgtorch.amp.cuda_amp", "torch.cpu.amp": "wgtorch.amp.cpu_amp", "torch": "wgtorch"}
_VISION = ("torchvision", "wgtorch.vision")


def _target(fullname, prefixes):
    for alias, real in prefixes.items():
        if fullname == alias or fullname.startswith(alias + "."):
            return real + fullname[len(alias):]
    return None


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target):
        self.target = target

    def create_module(self, spec):
        module = importlib.import_module(self.target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module):
        # the import system stamps the alias spec on the module; wgtorch's own
        # relative imports need its real spec back (__package__ must match it)
        module.__spec__ = self._spec


class _AliasFinder(importlib.abc.MetaPathFinder):
    def __init__(self):
        self.prefixes = dict(_PREFIXES)

    def find_spec(self, fullname, path=None, target=None):
        real = _target(fullname, self.prefixes)
        if real is None:
            return None
        try:
            found = importlib.util.find_spec(real)
        except ModuleNotFoundError:  # a parent wgtorch package is missing
            found = None
        if found is None:
            raise ModuleNotFoundError(f"No module named '{real}' (wgtorch has no module for '{fullname}')",
                                      name=real)
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(real),
                                              is_package=found.submodule_search_locations is not None)


def _finder():
    return next((f for f in sys.meta_path if isinstance(f, _AliasFinder)), None)


def _is_alias(name):
    import wgtorch
    m = sys.modules.get(name)
    return m is None or m is wgtorch or getattr(m, "__name__", "").startswith("wgtorch")


def install_as_torch(vision=True):
    """Make `import torch` / `import torch.<sub>` give wgtorch's module objects, and
    (with `vision=True`) `import torchvision` give `wgtorch.vision`. Idempotent.

    Raises RuntimeError when real torch (or, with vision, torchvision) is already
    imported: its modules would mix with wgtorch's."""
    names = ["torch"] + (["torchvision"] if vision else [])
    for name in names:
        if not _is_alias(name):
            raise RuntimeError(f"install_as_torch(): the real '{name}' is already imported "
                               f"({getattr(sys.modules[name], '__file__', '?')}); call install_as_torch() "
                               "before anything imports it")
    f = _finder()
    if f is None:
        f = _AliasFinder()
        sys.meta_path.insert(0, f)
    if vision:
        f.prefixes[_VISION[0]] = _VISION[1]
    import wgtorch
    sys.modules["torch"] = wgtorch
    return wgtorch


def install_for_run(vision=True):
    """What `python -m wgtorch.run` (and each process it spawns) sets up: the alias (the run's
    device choice, WGTORCH_RUN_DEVICE, is read by torch.cuda and torch.backends.mps)."""
    install_as_torch(vision=vision)
    return True
