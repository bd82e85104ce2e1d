"""wgtorch.distributed: PyTorch's torch.distributed on MPI (mpi4py; `pip install mpi4py mpich`).

    mpirun -n 2 python train.py        # or wgtorch.multiprocessing.spawn from plain `python`

init_process_group takes its rank and world size from MPI; the backend names "mpi",
"gloo" and "nccl" all run on MPI. Collectives work in place on cpu and wgpu tensors
(a wgpu tensor is read to the host, reduced through MPI and written back). Calls that
do not match across ranks (shapes, dtypes, ops, roots, or different collectives)
raise the same RuntimeError on every rank (see collectives.py).

Faults: in a job of more than one rank (this package imported under mpirun, or a
process group of several ranks), an uncaught exception on any rank prints its
traceback and calls MPI_Abort, so the whole job exits with an error instead of
hanging, even if the rank failed before init_process_group. (A rank that calls
sys.exit() with an error while the others wait in a collective is not caught: MPICH's
launcher waits for it; raise instead.)"""
# ruff: noqa: F401  (re-exports the public API)
from ._world import (Backend, GroupMember, Work, barrier, destroy_process_group, get_backend, get_rank,
                     get_world_size, group, init_process_group, is_available, is_gloo_available, is_initialized,
                     is_mpi_available, is_nccl_available, new_group)
from ._world import install_abort_hook as _install_abort_hook
from ._world import launched_size as _launched_size
from .collectives import (ReduceOp, all_gather, all_gather_into_tensor, all_gather_object, all_reduce, broadcast,
                          broadcast_object_list, gather, reduce, reduce_op, reduce_scatter, reduce_scatter_tensor,
                          scatter)

if _launched_size() > 1:  # imported in a job of several ranks: a failing rank must end it
    _install_abort_hook()
