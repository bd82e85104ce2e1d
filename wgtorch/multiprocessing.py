"""wgtorch.multiprocessing: torch.multiprocessing's names.

spawn(fn, args, nprocs) starts nprocs ranks with MPI's own launcher (mpiexec), so a
PyTorch-style script run as plain `python script.py` becomes an MPI job: each rank
loads the script as `__mp_main__` (as the standard library's spawn start method does,
so its `if __name__ == "__main__":` block does not run again) and calls
fn(rank, *args). MASTER_ADDR / MASTER_PORT are not needed (MPI does the rendezvous)
and are ignored. Everything else (Process, Queue, set_start_method, ...) is the
standard library's multiprocessing."""
# ruff: noqa: F401  (re-exports the standard library's names, as torch.multiprocessing does)
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from multiprocessing import (Array, Barrier, Condition, Event, JoinableQueue, Lock, Manager, Pipe, Pool, Process,
                             Queue, RLock, Semaphore, SimpleQueue, Value, active_children, cpu_count,
                             current_process, get_all_start_methods, get_context, get_start_method,
                             set_start_method)


class ProcessException(Exception):
    def __init__(self, msg, error_index=-1, pid=None):
        super().__init__(msg)
        self.msg, self.error_index, self.pid = msg, error_index, pid


class ProcessRaisedException(ProcessException):
    pass


class ProcessExitedException(ProcessException):
    def __init__(self, msg, error_index=-1, error_pid=None, exit_code=None, signal_name=None):
        super().__init__(msg, error_index, error_pid)
        self.exit_code, self.signal_name = exit_code, signal_name


def _mpiexec():
    """MPI's launcher: the one installed beside this Python (pip's mpich), else PATH's."""
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = here if os.access(here, os.X_OK) else shutil.which("mpiexec") or shutil.which("mpirun")
    if not found:
        raise RuntimeError("wgtorch.multiprocessing.spawn starts ranks with MPI's mpiexec, which was not "
                           "found: pip install mpi4py mpich (or wgtorch[distributed])")
    return found


def _main_reference():
    """How a rank finds the parent's __main__: its file, or its module name under -m."""
    main = sys.modules["__main__"]
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name not in ("__main__", None):
        return {"main_name": spec.name}
    path = getattr(main, "__file__", None)
    return {"main_path": os.path.abspath(path)} if path else {}


class SpawnContext:
    """The running job (what spawn(join=False) returns)."""

    def __init__(self, popen, tmpdir):
        self._popen, self._tmpdir = popen, tmpdir

    def pids(self):
        return [self._popen.pid]

    def join(self, timeout=None):
        """True once the job has ended well, False while it runs (after timeout seconds).
        A rank that raised gives ProcessRaisedException with its traceback (the first
        rank to fail); a job that ended badly otherwise gives ProcessExitedException."""
        try:
            code = self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        raised = self._first_error()
        self._tmpdir.cleanup()
        if raised is not None:
            rank, trace = raised
            raise ProcessRaisedException(f"\n\n-- Process {rank} terminated with the following error:\n{trace}",
                                         error_index=rank, pid=self._popen.pid)
        if code != 0:
            raise ProcessExitedException(
                f"process(es) of the spawned job exited with code {code} (a rank's message, if any, is "
                "printed above)", exit_code=code)
        return True

    def _first_error(self):
        """(rank, traceback) of the first rank whose exception the worker wrote down."""
        found = []
        for name in os.listdir(self._tmpdir.name):
            if name.startswith("error-") and name.endswith(".txt"):
                path = os.path.join(self._tmpdir.name, name)
                found.append((os.path.getmtime(path), int(name[6:-4]), path))
        if not found:
            return None
        _, rank, path = min(found)
        with open(path) as f:
            return rank, f.read()


def start_processes(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    if nprocs < 1:
        raise ValueError(f"spawn(): nprocs must be at least 1, got {nprocs}")
    job = dict(_main_reference(), sys_path=list(sys.path), argv=list(sys.argv), cwd=os.getcwd())
    # a program run with `import torch` giving wgtorch (python -m wgtorch.run): its ranks too
    job["torch_alias"] = "torch" in sys.modules and sys.modules["torch"] is sys.modules.get("wgtorch")
    if getattr(fn, "__module__", None) == "__main__" and not job.get("main_path") and not job.get("main_name"):
        raise ValueError("spawn(): fn is defined in an interactive __main__ that the ranks cannot load; "
                         "define it in a script or module")
    try:
        job["call"] = pickle.dumps((fn, tuple(args)))
    except Exception as e:
        raise ValueError(f"spawn(): fn and args must be picklable to reach the ranks: {e}") from e
    tmpdir = tempfile.TemporaryDirectory(prefix="wgtorch-spawn-")
    path = os.path.join(tmpdir.name, "job.pkl")
    with open(path, "wb") as f:
        pickle.dump(job, f)
    env = dict(os.environ)
    # the ranks must import this wgtorch, installed or not
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.setdefault("MPIR_CVAR_ENABLE_HEAVY_YIELD", "1")  # see distributed/_world.py
    cmd = [_mpiexec(), "-n", str(nprocs), sys.executable, "-m", "wgtorch.distributed._spawn_worker", path]
    ctx = SpawnContext(subprocess.Popen(cmd, env=env), tmpdir)
    if not join:
        return ctx
    ctx.join()
    return None


def spawn(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """Run fn(rank, *args) in nprocs MPI ranks; with join=True wait for them and raise
    ProcessRaisedException / ProcessExitedException if one failed, else return a
    SpawnContext to join() later.
    daemon and start_method are accepted for PyTorch code (the ranks are MPI's)."""
    return start_processes(fn, args, nprocs, join, daemon, start_method)
