"""How much of PyTorch's public API wgtorch has: `python -m wgtorch.compat` (needs torch).

Lists, per group, PyTorch's public names and marks those wgtorch has ("+") or
lacks ("-"), then a percentage per group. `--summary` prints the figures only,
`--missing` only the names wgtorch lacks. "Has" means the name exists with the
same spelling in the same place; that it behaves as PyTorch's is the tests' job.

Groups: `torch` functions (`torch.__all__`'s callables that are not classes,
without the backend-internal kernels no script calls: cudnn_*, miopen_*,
mkldnn_*, fbgemm_*, quantized_*, ...), `Tensor` methods and attributes, `nn`
modules, `nn.functional` functions, and `optim` (optimizers and lr schedulers).
This module imports real torch; wgtorch itself never does."""
import sys

# torch functions that are internal kernels of one backend or of quantization
_INTERNAL_PREFIXES = ("cudnn_", "miopen_", "mkldnn_", "fbgemm_", "quantized_", "q_", "native_", "sym_",
                      "_")


def _public_callables(module, names):
    out = []
    for n in names:
        v = getattr(module, n, None)
        if callable(v) and not isinstance(v, type) and not n.startswith("_"):
            out.append(n)
    return out


def groups(torch):
    """[(group name, torch's names, where wgtorch should have them)]: wgtorch places as
    dotted names relative to the wgtorch package ('' is wgtorch itself)."""
    fns = [n for n in _public_callables(torch, torch.__all__) if not n.startswith(_INTERNAL_PREFIXES)]
    tensor = [n for n in dir(torch.Tensor) if not n.startswith("_")]
    nn_modules = [n for n in dir(torch.nn) if not n.startswith("_") and isinstance(getattr(torch.nn, n), type)
                  and issubclass(getattr(torch.nn, n), torch.nn.Module)]
    F = torch.nn.functional
    functional = [n for n in _public_callables(F, dir(F))
                  if getattr(getattr(F, n), "__module__", "").startswith("torch")
                  and getattr(getattr(F, n), "__module__", "") not in ("torch.overrides", "torch._jit_internal")
                  and n != "boolean_dispatch"]
    optim = [n for n in torch.optim.__all__ if isinstance(getattr(torch.optim, n), type)]
    sched = [n for n in torch.optim.lr_scheduler.__all__]
    return [("torch functions", sorted(fns), [""]),
            ("Tensor methods", sorted(tensor), ["Tensor"]),
            ("nn modules", sorted(nn_modules), ["nn"]),
            ("nn.functional", sorted(functional), ["nn.functional"]),
            ("optim", sorted(optim) + ["lr_scheduler." + n for n in sorted(sched)], ["optim"])]


def _resolve(path):
    import wgtorch
    obj = wgtorch
    for part in path.split(".") if path else []:
        obj = getattr(obj, part)
    return obj


def _has(where, name):
    import wgtorch  # noqa: F401
    try:
        obj = _resolve(where)
        for part in name.split("."):
            obj = getattr(obj, part)
        return True
    except AttributeError:
        return False


def report(torch):
    """[(group, [(name, has)], have, total)] for every group."""
    out = []
    for title, names, (where,) in groups(torch):
        marks = [(n, _has(where, n)) for n in names]
        out.append((title, marks, sum(h for _, h in marks), len(marks)))
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        import torch
    except ImportError:
        print("wgtorch.compat compares with PyTorch: install torch to run it", file=sys.stderr)
        return 2
    import wgtorch
    if torch is wgtorch:
        print("wgtorch.compat needs the real torch, not the install_as_torch() alias", file=sys.stderr)
        return 2
    rows = report(torch)
    summary_only, missing_only = "--summary" in argv, "--missing" in argv
    if not summary_only:
        for title, marks, have, total in rows:
            shown = [(n, h) for n, h in marks if not (missing_only and h)]
            print(f"== {title} ({have}/{total}) ==")
            for n, h in shown:
                print(f"  {'+' if h else '-'} {n}")
            print()
    print(f"wgtorch {wgtorch.__version__} against torch {torch.__version__}:")
    for title, _, have, total in rows:
        print(f"  {title:<16} {have:>4} / {total:<4} {100 * have / total:5.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
