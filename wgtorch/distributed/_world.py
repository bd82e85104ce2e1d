"""The default process group: MPI's COMM_WORLD (through mpi4py), its rank and size,
and the rule that a rank which raises ends the whole job.

Every backend name ("mpi", "gloo", "nccl") runs on MPI: the transport is MPI's,
never our own. mpi4py is imported (and MPI initialised) only by
init_process_group, so `import wgtorch.distributed` stays cheap."""
import importlib.util
import os
import sys
import time

BACKENDS = ("mpi", "gloo", "nccl")


class Backend(str):
    """PyTorch's backend names; all of them run on MPI here."""
    MPI = "mpi"
    GLOO = "gloo"
    NCCL = "nccl"
    UNDEFINED = "undefined"


class _WorldGroup:
    """The default group, the only one there is (group=None means the same)."""

    def __repr__(self):
        return "<wgtorch.distributed WORLD group>"


WORLD = _WorldGroup()


class group:  # torch.distributed.group.WORLD: a lower-case class, as PyTorch
    WORLD = WORLD


GroupMember = group


class _State:
    comm = None      # mpi4py's COMM_WORLD while a process group exists
    MPI = None       # the mpi4py.MPI module
    backend = None   # the name the caller asked for
    rank = 0
    size = 1
    prev_hook = None  # sys.excepthook before ours


_state = _State()


def is_available():
    """True when mpi4py (and so an MPI library) can be imported."""
    return importlib.util.find_spec("mpi4py") is not None


is_mpi_available = is_gloo_available = is_nccl_available = is_available


def mpi():
    """The mpi4py.MPI module, initialising MPI on first call."""
    # A waiting rank yields its core instead of spinning: ranks often outnumber free
    # cores (a laptop, CI's two cores), and a spinning rank slows the one computing.
    # Set MPIR_CVAR_ENABLE_HEAVY_YIELD=0 to spin (lower latency on idle cores).
    os.environ.setdefault("MPIR_CVAR_ENABLE_HEAVY_YIELD", "1")
    try:
        from mpi4py import MPI
    except ImportError:
        raise RuntimeError("wgtorch.distributed runs on MPI through mpi4py, which is not installed: "
                           "pip install mpi4py mpich (or wgtorch[distributed])") from None
    return MPI


def _check_backend(backend):
    if backend is None:
        return "mpi"
    name = str(backend).lower()
    # "cpu:gloo,cuda:nccl" names a backend per device type: every part must be one of ours
    parts = [p.split(":")[-1] for p in name.split(",")]
    if not all(p in BACKENDS for p in parts):
        raise ValueError(f"Invalid backend: '{backend}' (wgtorch.distributed runs 'mpi', 'gloo' and 'nccl' "
                         "alike, on MPI)")
    return name


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1, store=None,
                       group_name="", pg_options=None, device_id=None):
    """Join the job's ranks. Under mpirun (or multiprocessing.spawn) rank and world size
    come from MPI; explicit ones must agree with it. Without mpirun this process is a job
    of one (world_size=1). init_method, timeout and store are accepted and unused: MPI's
    launcher does the rendezvous (MASTER_ADDR / MASTER_PORT are not needed either)."""
    backend = _check_backend(backend)
    if _state.comm is not None:
        raise ValueError("trying to initialize the default process group twice!")
    MPI = mpi()
    comm = MPI.COMM_WORLD
    if world_size is not None and world_size != -1 and world_size != comm.size:
        raise ValueError(
            f"init_process_group(world_size={world_size}), but this process is one of {comm.size} MPI "
            f"rank(s): start the job with `mpirun -n {world_size} python ...` or "
            f"wgtorch.multiprocessing.spawn(fn, nprocs={world_size})")
    if rank is not None and rank != -1 and rank != comm.rank:
        raise ValueError(f"init_process_group(rank={rank}), but MPI started this process as rank {comm.rank}")
    _state.comm, _state.MPI, _state.backend = comm, MPI, backend
    _state.rank, _state.size = comm.rank, comm.size
    if comm.size > 1:
        install_abort_hook()


def _abort_on_exception(exc_type, exc, tb):
    """An uncaught exception on one rank: print it, then MPI_Abort, which ends every
    rank (they would otherwise wait forever in their next collective; MPICH's launcher
    does not end a job when one rank merely exits with an error)."""
    (_state.prev_hook or sys.__excepthook__)(exc_type, exc, tb)
    sys.stdout.flush()
    sys.stderr.flush()
    time.sleep(0.5)  # the launcher forwards our output through a pipe: an abort at once can cut it short
    mpi().COMM_WORLD.Abort(1)  # initialises MPI first if this rank failed before init_process_group


def install_abort_hook():
    if sys.excepthook is not _abort_on_exception:
        _state.prev_hook = sys.excepthook
        sys.excepthook = _abort_on_exception


def launched_size():
    """The number of ranks an MPI launcher started (MPICH's or Open MPI's), else 1."""
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 1


def destroy_process_group(group=None):
    """Forget the process group. MPI itself stays initialised (mpi4py finalises it at
    exit), so init_process_group may be called again."""
    _check_group(group)
    if _state.comm is None:
        raise ValueError("Default process group has not been initialized, please make sure to call "
                         "init_process_group.")
    # the abort hook stays: the other ranks of the job may still wait on this one
    _state.comm = _state.backend = None
    _state.rank, _state.size = 0, 1


def is_initialized():
    return _state.comm is not None


def _check_group(group):
    if group is not None and group is not WORLD:
        raise NotImplementedError("wgtorch.distributed has only the default group (WORLD)")


def world(group=None):
    """The state of the default group, or PyTorch's error when there is none."""
    _check_group(group)
    if _state.comm is None:
        raise ValueError("Default process group has not been initialized, please make sure to call "
                         "init_process_group.")
    return _state


def get_rank(group=None):
    return world(group).rank


def get_world_size(group=None):
    return world(group).size


def get_backend(group=None):
    return world(group).backend


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization=False):
    """Only the group of all ranks exists here."""
    size = get_world_size()
    if ranks is not None and sorted(ranks) != list(range(size)):
        raise NotImplementedError("wgtorch.distributed has only the default group (WORLD): new_group() "
                                  f"of ranks {list(ranks)} is not supported")
    return WORLD


def barrier(group=None, async_op=False, device_ids=None):
    world(group).comm.Barrier()
    return Work() if async_op else None


class Work:
    """What async_op=True returns. Collectives here complete before they return."""

    def wait(self, timeout=None):
        return True

    def is_completed(self):
        return True

    def is_success(self):
        return True
