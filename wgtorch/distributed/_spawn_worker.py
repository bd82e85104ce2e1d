"""One rank of a job started by wgtorch.multiprocessing.spawn (under mpiexec):

    python -m wgtorch.distributed._spawn_worker JOB_FILE

loads the parent's main script as `__mp_main__` (its functions then unpickle, and
its `if __name__ == "__main__":` block does not run again), then calls
fn(rank, *args). Anything that escapes (an exception, a non-zero sys.exit) aborts
every rank, so the job ends with an error instead of hanging. An exception's
traceback is written beside the job file (error-RANK.txt) for the parent to raise:
what a rank prints through mpiexec can be lost when the abort kills the job."""
import os
import pickle
import runpy
import sys
import traceback
import types


def _load_main(job):
    if "main_name" in job:
        ns = runpy.run_module(job["main_name"], run_name="__mp_main__", alter_sys=False)
    elif "main_path" in job:
        ns = runpy.run_path(job["main_path"], run_name="__mp_main__")
    else:
        return
    main = types.ModuleType("__mp_main__")
    main.__dict__.update(ns)
    # pickle names the parent's functions "__main__.fn": make that this module
    sys.modules["__main__"] = sys.modules["__mp_main__"] = main


def _install_torch_alias():
    """The parent's `import torch` gave wgtorch (python -m wgtorch.run): so must the
    script's imports here, before they run."""
    try:
        from .._alias import install_for_run
    except ImportError:  # a wgtorch without the alias: the script aliased torch itself
        return
    install_for_run()


def _run(job_file):
    with open(job_file, "rb") as f:
        job = pickle.load(f)
    sys.path[:] = job["sys_path"]
    sys.argv[:] = job["argv"]  # the parent's, as the standard library's spawn does
    os.chdir(job["cwd"])
    if job.get("torch_alias"):
        _install_torch_alias()
    _load_main(job)
    fn, args = pickle.loads(job["call"])
    from ._world import mpi
    fn(mpi().COMM_WORLD.rank, *args)


def main():
    job_file = sys.argv[1]  # _run replaces sys.argv with the parent's
    try:
        _run(job_file)
    except SystemExit as e:
        if e.code in (None, 0):
            return
        print(f"rank exited with {e.code!r}", file=sys.stderr)
        _abort()
    except BaseException:  # noqa: BLE001  (anything that escapes fn must end the whole job)
        _report(job_file, traceback.format_exc())
        _abort()


def _rank():
    try:
        from ._world import mpi
        return mpi().COMM_WORLD.rank
    except Exception:  # noqa: BLE001  (MPI itself failed: the launcher's variable)
        return int(os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", 0)))


def _report(job_file, text):
    """The traceback for the parent (spawn raises it), or on stderr if it cannot be written."""
    path = os.path.join(os.path.dirname(job_file), f"error-{_rank()}.txt")
    try:
        with open(path + ".part", "w") as f:
            f.write(text)
        os.replace(path + ".part", path)
    except OSError:
        print(text, file=sys.stderr)


def _abort():
    sys.stdout.flush()
    sys.stderr.flush()
    from ._world import mpi
    mpi().COMM_WORLD.Abort(1)


if __name__ == "__main__":
    main()
