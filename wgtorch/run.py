"""Run an unchanged PyTorch program on wgtorch.

    python -m wgtorch.run [--device cpu|wgpu] [--no-vision] script.py [args...]
    python -m wgtorch.run [--device cpu|wgpu] [--no-vision] -m package.module [args...]

`import torch` (and `torchvision`) in the program give wgtorch's modules
(`wgtorch.install_as_torch()`), and the program runs as `python script.py` /
`python -m package.module` would run it: the same `sys.argv`, `__name__ ==
"__main__"`, `__file__`, `sys.path[0]`, relative imports, exit status, and
tracebacks that start at the program's own lines.

`--device cpu` makes `torch.cuda.is_available()` and
`torch.backends.mps.is_available()` answer False, so the program runs on the
CPU; `--device wgpu` makes them answer True (the program's "cuda" / "mps"
tensors live on the WebGPU adapter, software adapters included). Without the
flag they answer as `wgtorch.cuda` documents. Processes the program starts with
multiprocessing's "spawn" or "forkserver" methods (DataLoader workers,
`torch.multiprocessing`) get the alias and the device choice too."""
import builtins
import importlib.machinery
import io
import os
import runpy
import sys
import types

USAGE = ("usage: python -m wgtorch.run [--device cpu|wgpu] [--no-vision] script.py [args...]\n"
         "       python -m wgtorch.run [--device cpu|wgpu] [--no-vision] -m package.module [args...]")


def _parse(argv):
    """(device, vision, module or None, script or None, program args) from our argv."""
    device, vision, i = None, True, 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            print(USAGE + "\n\n" + __doc__.split("\n\n", 2)[2])
            sys.exit(0)
        if a == "--no-vision":
            vision = False
        elif a == "--device" or a.startswith("--device="):
            if a == "--device":
                i += 1
                if i == len(argv):
                    _usage_error("--device needs a value (cpu or wgpu)")
                a = argv[i]
            else:
                a = a.partition("=")[2]
            if a not in ("cpu", "wgpu"):
                _usage_error(f"--device must be cpu or wgpu, not {a!r}")
            device = a
        elif a == "-m":
            if i + 1 == len(argv):
                _usage_error("-m needs a module name")
            return device, vision, argv[i + 1], None, argv[i + 2:]
        elif a.startswith("-") and a != "-":
            _usage_error(f"unknown option {a}")
        else:
            return device, vision, None, a, argv[i + 1:]
        i += 1
    _usage_error("no program to run")


def _usage_error(msg):
    print(f"{USAGE}\nwgtorch.run: error: {msg}", file=sys.stderr)
    sys.exit(2)


class _InstallInChild:
    """Pickled into the data multiprocessing sends a spawned child; unpickling it there
    (before the child re-imports the program's __main__) installs the alias."""

    def __init__(self, vision):
        self.vision = vision

    def __reduce__(self):
        from wgtorch._alias import install_for_run  # importable by name in the child (we are __main__)
        return (install_for_run, (self.vision,))


def _carry_to_spawned_children(vision):
    from multiprocessing import forkserver, spawn
    original = spawn.get_preparation_data
    # the fork server must not import the program before the alias (its default preload does)
    forkserver.set_forkserver_preload(["wgtorch"])

    def get_preparation_data(name):
        data = original(name)
        data["wgtorch_install_as_torch"] = _InstallInChild(vision)
        return data

    spawn.get_preparation_data = get_preparation_data


def _user_traceback(tb):
    """The traceback from the program's first frame on: ours and runpy's are left out."""
    ours = {__file__, runpy.run_path.__code__.co_filename, getattr(runpy, "__file__", "")}
    while tb is not None and tb.tb_frame.f_code.co_filename in ours:
        tb = tb.tb_next
    return tb


def _run_script(path):
    """Execute the file as `python path` does: a fresh __main__ module whose __file__ is the
    absolute path (runpy.run_path would also put the absolute path in sys.argv[0])."""
    with io.open_code(path) as f:
        code = compile(f.read(), path, "exec", dont_inherit=True)
    main = types.ModuleType("__main__")
    main.__dict__.update(__file__=path, __cached__=None, __builtins__=builtins,
                         __loader__=importlib.machinery.SourceFileLoader("__main__", path))
    sys.modules["__main__"] = main  # pickle and multiprocessing find the program's classes here
    exec(code, main.__dict__)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    device, vision, module, script, args = _parse(argv)
    if device is not None:
        os.environ["WGTORCH_RUN_DEVICE"] = device  # inherited by every child process
    from wgtorch._alias import install_for_run
    install_for_run(vision)
    import wgtorch
    if device == "wgpu" and not wgtorch.wgpu.is_available():
        from wgtorch.backends.wgpu import context
        print(f"wgtorch.run: --device wgpu: {context.no_adapter_message()}", file=sys.stderr)
        sys.exit(1)
    _carry_to_spawned_children(vision)
    try:
        if module is not None:
            sys.argv = [module] + args  # run_module puts the module's file in argv[0]
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        else:
            path = os.path.abspath(script)
            if not os.path.exists(path):
                print(f"{sys.executable}: can't open file {path!r}: [Errno 2] No such file or directory",
                      file=sys.stderr)
                sys.exit(2)
            sys.argv = [script] + args
            sys.path[0] = os.path.dirname(path)  # as `python script.py`: the script's folder, not ours
            _run_script(path)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as e:
        tb = _user_traceback(e.__traceback__)
        sys.excepthook(type(e), e.with_traceback(tb), tb)
        sys.exit(1)


if __name__ == "__main__":
    main()
