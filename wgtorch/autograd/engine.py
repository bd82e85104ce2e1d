"""The backward pass: a topological walk of the graph from the outputs."""
from . import grad_mode
from .graph import AccumulateGrad, edge


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _hooks_and_retained(node, grads, create_graph, handed):
    if node._pre_hooks:
        for i, hooks in node._pre_hooks.items():
            for h in hooks:
                if grads[i] is not None:
                    r = h(grads[i])
                    if r is not None:
                        grads[i] = r
                        root = r._base if r._base is not None else r  # a tensor the hook's owner may keep
                        handed[id(root)] = root
    if node._retained:
        for i, ref in node._retained:
            t = ref()
            if t is not None and grads[i] is not None:
                g = grads[i] if create_graph else grads[i].detach().clone()
                t._grad = g if t._grad is None else t._grad + g


def _dependencies(roots):
    """How many edges from the nodes that will run point at each node. One dict and no
    visited set: a node is walked when it is first counted. The roots are counted
    too (and uncounted after), so a root that another root reaches is walked once."""
    deps = {}
    stack = []
    for n in roots:
        if n in deps:
            deps[n] += 1
        else:
            deps[n] = 1
            stack.append(n)
    while stack:
        for m, _ in stack.pop().next_functions:
            if m is not None:
                if m in deps:
                    deps[m] += 1
                else:
                    deps[m] = 1
                    stack.append(m)
    for n in roots:
        deps[n] -= 1
    return deps


def run_backward(outputs, grad_outputs, retain_graph, create_graph, inputs=None, allow_unused=False):
    """Propagate grad_outputs from outputs. With ``inputs`` (autograd.grad), return
    their gradients instead of accumulating into leaves' ``.grad``."""
    roots = []
    for t, g in zip(outputs, grad_outputs):
        if not t._rg:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        roots.append((edge(t), g))

    capture = None
    if inputs is not None:
        capture = {}
        for i, t in enumerate(inputs):
            if not t._rg:
                raise RuntimeError("One of the differentiated Tensors does not require grad")
            capture.setdefault(edge(t), []).append(i)

    deps = _dependencies([n for (n, _), _ in roots if n is not None])

    # storages already given to a leaf in this pass (and the caller's own
    # grad_outputs): a leaf may keep a gradient without copying it only if no
    # other leaf or caller can see the same storage
    # (by id, holding the objects: a freed tensor's id could come back as a fresh gradient's)
    handed = {}
    buffers = {}
    for (n, i), g in roots:
        r = g._base if g._base is not None else g
        handed[id(r)] = r
        if n is not None:
            buf = buffers.setdefault(n, [None] * n.n_out)
            buf[i] = _add(buf[i], g)
    ready = [n for n in buffers if deps[n] == 0]
    results = [None] * len(inputs) if inputs is not None else None

    prev = grad_mode.enabled
    grad_mode.enabled = create_graph
    try:
        while ready:
            node = ready.pop()
            grads = buffers.pop(node)
            if node._pre_hooks or node._retained:
                _hooks_and_retained(node, grads, create_graph, handed)
            if capture is not None:
                for i in range(node.n_out):
                    for pos in capture.get((node, i), ()):
                        results[pos] = grads[i]
            if node.__class__ is AccumulateGrad:
                g = grads[0]
                if capture is None and g is not None:
                    root = g._base if g._base is not None else g
                    node.accumulate(g, create_graph, steal=id(root) not in handed)
                    handed[id(root)] = root
                continue
            nexts = node.next_functions
            if grads.count(None) == len(grads):
                in_grads = (None,) * len(nexts)
            else:
                in_grads = node.backward(*grads)
                if in_grads.__class__ is not tuple:
                    in_grads = (in_grads,)
                if node.user_defined:
                    handed.update((id(r), r) for r in (g._base if g._base is not None else g
                                                       for g in in_grads if g is not None))
            if not retain_graph:
                node.release()
            dts = node.input_dtypes
            if dts is not None:  # a mixed-dtype op: each gradient goes back in its input's dtype, as PyTorch
                in_grads = tuple(g if g is None or dt is None or g._dtype is dt else g.to(dt)
                                 for g, dt in zip(in_grads, dts))
            for (m, i), g in zip(nexts, in_grads):
                if m is None:
                    continue
                buf = buffers.get(m)
                if buf is None:
                    buf = buffers[m] = [None] * m.n_out
                if g is not None:
                    old = buf[i]
                    buf[i] = g if old is None else old + g
                left = deps[m] - 1
                deps[m] = left
                if left == 0:
                    ready.append(m)
    finally:
        grad_mode.enabled = prev

    if inputs is not None:
        for pos, r in enumerate(results):
            if r is None and not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been used in the "
                                   "graph. Set allow_unused=True if this is the desired behavior.")
        return tuple(results)
    return None
