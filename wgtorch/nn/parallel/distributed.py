"""DistributedDataParallel: one model replica per rank, gradients averaged over ranks.

How the averaging hooks into autograd. Each parameter gets a gradient hook (a
pre-hook on its AccumulateGrad node: the engine runs it once per backward with the
parameter's summed incoming gradient, then accumulates that into .grad). Forward arms
the hooks; each hook counts its parameter as ready, and the hook of the last expected
parameter reduces every bucket. By then the other parameters' .grad are final; the
last one's is its .grad plus the incoming gradient, which the hook adds itself and
hands the averaged result back to the engine (whose .grad it then becomes). So the
reduction runs exactly once per backward, inside it, after the last gradient is known,
without changes to the engine; it does not overlap the collectives with the rest of
backward, which on MPI over host memory would gain little anyway.

Buckets: parameters (in reverse registration order, roughly the order backward
produces their gradients) are grouped by device and dtype into buckets of about
bucket_cap_mb (25 MB). A bucket's gradients are concatenated on their device, averaged
with one all_reduce (one read-back and one upload on wgpu), and copied back.

Expected parameters: all that require grad; if one gets no gradient the reduction
never runs and the next forward raises PyTorch's error. With
find_unused_parameters=True, forward walks the graph of its outputs for the
parameters it reached; the others contribute zeros, and a parameter no rank used
keeps its .grad untouched (one extra small all_reduce of a used-mask per backward)."""
import contextlib
import weakref

import numpy as np

from ... import distributed as dist
from ...autograd import grad_mode
from ...autograd.graph import AccumulateGrad
from ...ops.creation import from_numpy, zeros_like
from ...ops.shape import cat
from ...tensor import Tensor
from ..modules.module import Module


def _buckets(tensors, cap_bytes):
    """Consecutive groups of tensors of one device and dtype, each about cap_bytes."""
    groups = {}
    for t in tensors:
        groups.setdefault((str(t.device), t.dtype), []).append(t)
    out = []
    for ts in groups.values():
        cur, size = [], 0
        for t in ts:
            if cur and size + t.numel() * t.element_size() > cap_bytes:
                out.append(cur)
                cur, size = [], 0
            cur.append(t)
            size += t.numel() * t.element_size()
        out.append(cur)
    return out


def _flat(tensors):
    return cat([t.detach().reshape(-1) for t in tensors])


def _unflatten_into(flat, tensors):
    """Copy consecutive slices of flat into tensors, in place."""
    start = 0
    for t in tensors:
        n = t.numel()
        t.copy_(flat[start:start + n].view(t.shape))
        start += n


def _broadcast_from_rank0(tensors, cap_bytes):
    with grad_mode.no_grad():
        for bucket in _buckets(tensors, cap_bytes):
            flat = _flat(bucket)
            dist.broadcast(flat, src=0)
            _unflatten_into(flat, bucket)


def _tensors_in(obj):
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            yield from _tensors_in(x)
    elif isinstance(obj, dict):
        for x in obj.values():
            yield from _tensors_in(x)


def _reached_leaves(outputs):
    """ids of the leaf tensors the graph of outputs reaches."""
    seen, leaves = set(), set()
    stack = [t.grad_fn for t in _tensors_in(outputs) if t.grad_fn is not None]
    stack += [t._acc for t in _tensors_in(outputs) if t.grad_fn is None and t._acc is not None]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if isinstance(node, AccumulateGrad):
            if node.variable is not None:
                leaves.add(id(node.variable))
            continue
        stack.extend(n for n, _ in node.next_functions)
    return leaves


class DistributedDataParallel(Module):
    """Wraps module (already on its rank's device): rank 0's parameters and buffers are
    broadcast now and its buffers before each forward; each backward averages the
    gradients over the ranks. dim, check_reduction, gradient_as_bucket_view and
    static_graph are accepted for PyTorch code and change nothing here."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 process_group=None, bucket_cap_mb=None, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False, **kwargs):
        super().__init__()
        dist.get_world_size(process_group)  # PyTorch's error when there is no process group
        self.module = module
        self.device_ids = device_ids  # accepted: a process drives one device, the one its module is on
        self.output_device = output_device
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.require_backward_grad_sync = True
        self._cap = int((25 if bucket_cap_mb is None else bucket_cap_mb) * 1024 * 1024)
        params = list({id(p): p for p in module.parameters() if p.requires_grad}.values())  # shared ones once
        if not params:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't have any parameter "
                               "that requires a gradient.")
        self._params = params
        self._buckets = _buckets(params[::-1], self._cap)
        self._pending = False    # armed by forward: the next backward reduces
        self._ready = set()      # ids of parameters whose gradient hook ran in this backward
        self._expected = {id(p) for p in params}

        shapes = [(tuple(p.shape), p.dtype.name) for p in params]
        everyone = [None] * dist.get_world_size()
        dist.all_gather_object(everyone, shapes)
        for r, s in enumerate(everyone):
            if s != shapes:
                raise RuntimeError(f"DistributedDataParallel: rank {r}'s model has parameters {s}, rank "
                                   f"{dist.get_rank()}'s has {shapes}: every rank must wrap the same model")
        _broadcast_from_rank0(list(module.parameters()) + list(module.buffers()), self._cap)

        me = weakref.ref(self)  # a hook must not keep a dropped wrapper alive
        self._handles = [p.register_hook(self._hook(me, p)) for p in params]

    @staticmethod
    def _hook(me, p):
        def hook(grad):
            self = me()
            if self is None or not self._pending:
                return None
            self._ready.add(id(p))
            if not self._expected <= self._ready:
                return None
            self._pending = False
            return self._reduce(p, grad)
        return hook

    def forward(self, *inputs, **kwargs):
        if self._pending and self._ready:
            raise RuntimeError(
                "Expected to have finished reduction in the prior iteration before starting a new one. This "
                "error indicates that your module has parameters that were not used in producing loss. You can "
                "enable unused parameter detection by passing the keyword argument "
                "`find_unused_parameters=True` to `torch.nn.parallel.DistributedDataParallel`. Parameters "
                "that received no gradient: "
                + ", ".join(n for n, p in self.module.named_parameters() if id(p) in self._expected - self._ready))
        if self.broadcast_buffers:
            buffers = list(self.module.buffers())
            if buffers:
                _broadcast_from_rank0(buffers, self._cap)
        out = self.module(*inputs, **kwargs)
        self._pending = grad_mode.is_grad_enabled() and self.require_backward_grad_sync
        self._ready = set()
        if self._pending and self.find_unused_parameters:
            reached = _reached_leaves(out)
            self._expected = {id(p) for p in self._params if id(p) in reached}
            if not self._expected:
                self._pending = False
                self._reduce(None, None)  # still meet the other ranks' collectives
        return out

    def _reduce(self, last, last_grad):
        """Average every bucket's gradients over the ranks. last, last_grad: the
        parameter whose hook is running and its incoming gradient; returns its averaged
        gradient for the engine to store (see the module doc)."""
        with grad_mode.no_grad():
            grads = {id(p): p.grad for p in self._params}
            if last is not None:
                g = last_grad.detach()
                grads[id(last)] = g if last.grad is None else last.grad + g
            used = self._used_anywhere() if self.find_unused_parameters else self._expected
            result = None
            for bucket in self._buckets:
                bucket = [p for p in bucket if id(p) in used]
                if not bucket:
                    continue
                gs = [grads[id(p)] if grads[id(p)] is not None else zeros_like(p) for p in bucket]
                flat = _flat(gs)
                dist.all_reduce(flat, op=dist.ReduceOp.AVG)
                start = 0
                for p in bucket:
                    avg = flat[start:start + p.numel()].view(p.shape)
                    start += p.numel()
                    if p is last:
                        result = avg.clone()
                    elif p.grad is None:
                        p.grad = avg.clone()
                    else:
                        p.grad.copy_(avg)
            if last is not None:
                last.grad = None  # the engine stores result as the new .grad
            return result

    def _used_anywhere(self):
        """ids of the parameters some rank's forward reached (a max-reduce of a used-mask)."""
        mask = from_numpy(np.array([id(p) in self._expected for p in self._params], dtype=np.int32))
        dist.all_reduce(mask, op=dist.ReduceOp.MAX)
        return {id(p) for p, m in zip(self._params, mask.tolist()) if m}

    @contextlib.contextmanager
    def no_sync(self):
        """Backward passes of forwards run inside this block only accumulate local
        gradients; the first synchronised backward after it averages the sums."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old
