"""Activation checkpointing (torch.utils.checkpoint): run a function without keeping its
intermediate results, and run it again in backward to get its gradients.

One autograd Function does both variants: its forward calls fn under no_grad and keeps only
fn's inputs; its backward restores the random state fn started with (so dropout draws the
same mask) and autocast state, calls fn again with grad enabled, and backpropagates through
that second graph.
Tensors fn uses besides its inputs (a module's parameters) receive their gradients into
``.grad`` during that inner backward, as with PyTorch's reentrant variant; so, as there,
``autograd.grad`` cannot reach them.

``use_reentrant=False`` also accepts keyword arguments, and lets parameters inside fn get
gradients when no input requires grad (its output then requires grad whenever grad mode is on)."""
import warnings

from ..amp import autocast_mode as _amp
from ..autograd import backward as _backward
from ..autograd import enable_grad, grad_mode
from ..autograd.function import Function
from ..ops.creation import zeros
from ..random import default_generator
from ..tensor import Tensor

__all__ = ["checkpoint", "checkpoint_sequential"]


class CheckpointFunction(Function):
    @staticmethod
    def forward(ctx, run_function, preserve_rng_state, kwargs, _anchor, *args):
        ctx.run_function, ctx.kwargs = run_function, kwargs
        ctx.anchored = _anchor is not None
        ctx.rng = default_generator._snapshot() if preserve_rng_state else None
        ctx.autocast = _amp.snapshot()  # the recompute runs in the forward's autocast state
        ctx.is_tensor = [isinstance(a, Tensor) for a in args]
        ctx.others = [None if t else a for a, t in zip(args, ctx.is_tensor)]
        ctx.save_for_backward(*(a for a, t in zip(args, ctx.is_tensor) if t))
        return run_function(*args, **kwargs)  # (Function.apply runs this under no_grad)

    @staticmethod
    def backward(ctx, *grads):
        saved = iter(ctx.saved_tensors)
        args = []
        for t, other in zip(ctx.is_tensor, ctx.others):
            if t:
                a = next(saved)
                d = a.detach()
                d.requires_grad_(a.requires_grad)
                args.append(d)
            else:
                args.append(other)
        now = default_generator._snapshot()
        if ctx.rng is not None:
            default_generator._restore(ctx.rng)  # fn draws what it drew in forward
        try:
            with enable_grad(), _amp.replay(ctx.autocast):
                outputs = ctx.run_function(*args, **ctx.kwargs)
        finally:
            default_generator._restore(now)
        if not isinstance(outputs, tuple):
            outputs = (outputs,)
        pairs = [(o, g) for o, g in zip(outputs, grads) if isinstance(o, Tensor) and o.requires_grad and g is not None]
        if pairs:
            _backward([o for o, _ in pairs], [g for _, g in pairs])
        elif not ctx.anchored:
            raise RuntimeError("none of output has requires_grad=True, this checkpoint() is not necessary")
        return (None, None, None, None) + tuple(a.grad if isinstance(a, Tensor) else None for a in args)


def checkpoint(function, *args, use_reentrant=None, context_fn=None, determinism_check="default", debug=False,
               preserve_rng_state=True, **kwargs):
    """function(*args, **kwargs), its intermediate results dropped and recomputed in backward."""
    if use_reentrant is None:
        warnings.warn("torch.utils.checkpoint: the use_reentrant parameter should be passed explicitly. "
                      "use_reentrant=False is recommended, but if you need to preserve the current default "
                      "behavior, you can pass use_reentrant=True.", stacklevel=2)
        use_reentrant = True
    if context_fn is not None and use_reentrant:
        raise ValueError("Passing `context_fn` or `debug` is only supported when use_reentrant=False.")
    anchor = None
    if use_reentrant:
        if kwargs:
            raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
        if grad_mode.enabled and not any(isinstance(a, Tensor) and a.requires_grad for a in args):
            warnings.warn("None of the inputs have requires_grad=True. Gradients will be None", stacklevel=2)
    elif grad_mode.enabled:
        # a tensor that requires grad, so that backward reaches fn even when only its parameters need it
        anchor = zeros((), requires_grad=True)
    if context_fn is not None:  # forward and recompute each run under their own context manager
        contexts = iter(context_fn())
        inner = function

        def function(*a, **k):
            with next(contexts):
                return inner(*a, **k)
    return CheckpointFunction.apply(function, preserve_rng_state, kwargs, anchor, *args)


def checkpoint_sequential(functions, segments, input, use_reentrant=None, **kwargs):
    """Run a Sequential (or list of modules) in `segments` checkpointed chunks; the last chunk runs
    normally, as PyTorch does."""
    if isinstance(functions, dict) or hasattr(functions, "children") and not isinstance(functions, (list, tuple)):
        functions = list(functions.children())
    functions = list(functions)

    def run(start, end):
        def forward(x):
            for j in range(start, end + 1):
                x = functions[j](x)
            return x
        return forward
    size = len(functions) // segments
    end = -1
    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        input = checkpoint(run(start, end), input, use_reentrant=use_reentrant, **kwargs)
    return run(end + 1, len(functions) - 1)(input)
