"""Collectives on tensors of either device, in place as in PyTorch, through MPI.

Mismatch policy: before moving data, every collective gathers each rank's signature
of the call (which collective, shapes, dtype, op, root) with one small allgather. If
the ranks disagree, every rank raises the same RuntimeError naming each rank's call,
instead of MPI reading the wrong number of bytes or waiting forever. The check costs
one small-message round trip per call (tens of microseconds on one machine), which is
noise next to a gradient bucket; DistributedDataParallel makes one call per bucket."""
import enum

import numpy as np

from ._host import check_tensor, empty_host, host, signature, write_back
from ._world import Work, world


class ReduceOp(enum.Enum):
    SUM = "SUM"
    AVG = "AVG"
    PRODUCT = "PRODUCT"
    MIN = "MIN"
    MAX = "MAX"
    BAND = "BAND"
    BOR = "BOR"
    BXOR = "BXOR"


reduce_op = ReduceOp  # PyTorch's deprecated spelling


def _mpi_op(w, op, t):
    if not isinstance(op, ReduceOp):
        raise TypeError(f"op must be a wgtorch.distributed.ReduceOp, not {op!r}")
    if op is ReduceOp.AVG and not t.dtype.is_floating_point:
        raise TypeError(f"ReduceOp.AVG needs a floating-point tensor, got {t.dtype}")
    if t.dtype.name == "bool":  # carried as uint8: sum/max are "any", product/min are "all"
        op = {ReduceOp.SUM: ReduceOp.MAX, ReduceOp.PRODUCT: ReduceOp.MIN}.get(op, op)
    if op in (ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR) and t.dtype.is_floating_point:
        raise TypeError(f"ReduceOp.{op.value} needs an integer or bool tensor, got {t.dtype}")
    name = {"AVG": "SUM", "PRODUCT": "PROD"}.get(op.value, op.value)
    return getattr(w.MPI, name)


def _finish(w, a, op):
    if op is ReduceOp.AVG:
        a /= w.size


def _agree(w, *call):
    """Raise on every rank unless every rank makes this same call (see the module doc)."""
    calls = w.comm.allgather(call)
    if any(c != calls[0] for c in calls):
        detail = "; ".join(f"rank {r}: {c}" for r, c in enumerate(calls))
        raise RuntimeError(f"{call[0]}: the ranks' calls do not match (shapes, dtypes, ops and roots must "
                           f"agree): {detail}")


def _check_list(lst, ref, name, arg, n):
    if lst is None or len(lst) != n:
        raise ValueError(f"{name}(): {arg} must hold world_size ({n}) tensors, got "
                         f"{'None' if lst is None else len(lst)}")
    for x in lst:
        check_tensor(x, name, arg)
        if signature(x) != signature(ref):
            raise ValueError(f"{name}(): every tensor of {arg} must have the shape and dtype of the "
                             f"tensor ({signature(ref)}), got {signature(x)}")


def _root(w, r, name):
    if not 0 <= r < w.size:
        raise ValueError(f"{name}(): rank {r} is not in this group of {w.size} rank(s)")
    return r


def _done(async_op):
    return Work() if async_op else None


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce tensor over every rank; each rank's tensor holds the result."""
    check_tensor(tensor, "all_reduce")
    w = world(group)
    mpi_op = _mpi_op(w, op, tensor)
    _agree(w, "all_reduce", signature(tensor), op.value)
    a, shared = host(tensor)
    w.comm.Allreduce(w.MPI.IN_PLACE, a, op=mpi_op)
    _finish(w, a, op)
    write_back(tensor, a, shared)
    return _done(async_op)


def reduce(tensor, dst=0, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce tensor over every rank into dst's tensor (the others' are unchanged)."""
    check_tensor(tensor, "reduce")
    w = world(group)
    mpi_op = _mpi_op(w, op, tensor)
    _agree(w, "reduce", signature(tensor), op.value, _root(w, dst, "reduce"))
    a, shared = host(tensor)
    if w.rank == dst:
        w.comm.Reduce(w.MPI.IN_PLACE, a, op=mpi_op, root=dst)
        _finish(w, a, op)
        write_back(tensor, a, shared)
    else:
        w.comm.Reduce(a, None, op=mpi_op, root=dst)
    return _done(async_op)


def broadcast(tensor, src=0, group=None, async_op=False):
    """Every rank's tensor takes src's values."""
    check_tensor(tensor, "broadcast")
    w = world(group)
    _agree(w, "broadcast", signature(tensor), _root(w, src, "broadcast"))
    a, shared = host(tensor)
    w.comm.Bcast(a, root=src)
    if w.rank != src:
        write_back(tensor, a, shared)
    return _done(async_op)


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """tensor_list[r] takes rank r's tensor, on every rank."""
    check_tensor(tensor, "all_gather")
    w = world(group)
    _check_list(tensor_list, tensor, "all_gather", "tensor_list", w.size)
    _agree(w, "all_gather", signature(tensor))
    out = empty_host(tensor, (w.size,))
    w.comm.Allgather(host(tensor)[0], out)
    for t, a in zip(tensor_list, out):
        write_back(t, a)
    return _done(async_op)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """output_tensor (world_size times input's elements, stacked or concatenated along
    dim 0) takes every rank's input_tensor in rank order."""
    check_tensor(input_tensor, "all_gather_into_tensor")
    w = world(group)
    if output_tensor.numel() != w.size * input_tensor.numel() or output_tensor.dtype != input_tensor.dtype:
        raise ValueError(f"all_gather_into_tensor(): output must have world_size ({w.size}) times the input's "
                         f"elements and its dtype, got {signature(output_tensor)} for input "
                         f"{signature(input_tensor)}")
    _agree(w, "all_gather_into_tensor", signature(input_tensor))
    out, shared = host(output_tensor)
    w.comm.Allgather(host(input_tensor)[0], out)
    write_back(output_tensor, out, shared)
    return _done(async_op)


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """Rank r's output takes the reduction over ranks of their input_list[r]."""
    check_tensor(output, "reduce_scatter", "output")
    w = world(group)
    _check_list(input_list, output, "reduce_scatter", "input_list", w.size)
    mpi_op = _mpi_op(w, op, output)
    _agree(w, "reduce_scatter", signature(output), op.value)
    send = np.stack([host(x)[0] for x in input_list])
    a, shared = host(output)
    w.comm.Reduce_scatter_block(send, a, op=mpi_op)
    _finish(w, a, op)
    write_back(output, a, shared)
    return _done(async_op)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """As reduce_scatter, with the inputs as one tensor of world_size chunks along dim 0."""
    check_tensor(output, "reduce_scatter_tensor", "output")
    w = world(group)
    if input.numel() != w.size * output.numel() or output.dtype != input.dtype:
        raise ValueError(f"reduce_scatter_tensor(): input must have world_size ({w.size}) times the output's "
                         f"elements and its dtype, got {signature(input)} for output {signature(output)}")
    mpi_op = _mpi_op(w, op, output)
    _agree(w, "reduce_scatter_tensor", signature(output), op.value)
    a, shared = host(output)
    w.comm.Reduce_scatter_block(host(input)[0], a, op=mpi_op)
    _finish(w, a, op)
    write_back(output, a, shared)
    return _done(async_op)


def gather(tensor, gather_list=None, dst=0, group=None, async_op=False):
    """dst's gather_list[r] takes rank r's tensor; other ranks pass no list."""
    check_tensor(tensor, "gather")
    w = world(group)
    _root(w, dst, "gather")
    if w.rank == dst:
        _check_list(gather_list, tensor, "gather", "gather_list", w.size)
    elif gather_list:
        raise ValueError("gather(): gather_list must be None (or empty) on non-destination ranks")
    _agree(w, "gather", signature(tensor), dst)
    out = empty_host(tensor, (w.size,)) if w.rank == dst else None
    w.comm.Gather(host(tensor)[0], out, root=dst)
    if out is not None:
        for t, a in zip(gather_list, out):
            write_back(t, a)
    return _done(async_op)


def scatter(tensor, scatter_list=None, src=0, group=None, async_op=False):
    """Rank r's tensor takes src's scatter_list[r]; other ranks pass no list."""
    check_tensor(tensor, "scatter")
    w = world(group)
    _root(w, src, "scatter")
    if w.rank == src:
        _check_list(scatter_list, tensor, "scatter", "scatter_list", w.size)
    elif scatter_list:
        raise ValueError("scatter(): scatter_list must be None (or empty) on non-source ranks")
    _agree(w, "scatter", signature(tensor), src)
    send = np.stack([host(x)[0] for x in scatter_list]) if w.rank == src else None
    a, shared = host(tensor)
    w.comm.Scatter(send, a, root=src)
    write_back(tensor, a, shared)
    return _done(async_op)


def all_gather_object(object_list, obj, group=None):
    """object_list[r] takes rank r's (picklable) obj."""
    w = world(group)
    if len(object_list) != w.size:
        raise ValueError(f"all_gather_object(): object_list must have world_size ({w.size}) entries")
    object_list[:] = w.comm.allgather(obj)


def broadcast_object_list(object_list, src=0, group=None, device=None):
    """Every rank's object_list takes src's (picklable) objects."""
    w = world(group)
    object_list[:] = w.comm.bcast(list(object_list), root=_root(w, src, "broadcast_object_list"))
