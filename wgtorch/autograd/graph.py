"""Graph nodes. A Node is the backward of one op application: it holds what
the backward needs and the edges to the nodes of its inputs."""
import weakref

from . import grad_mode

INFERENCE_VC = None  # set by tensor.py (import order): the version counter of inference tensors


class Node:
    """Subclasses define ``backward(self, *grads)`` returning one gradient (or None)
    per input, written in Tensor ops so that it runs on every device and can
    itself be differentiated."""
    n_out = 1
    user_defined = False  # a custom Function's backward: its gradients may alias user tensors
    # per-node state, as class defaults: a node sets only what it uses (node creation is on the hot path)
    next_functions = ()
    _saved = None
    _versions = None
    _freed = False
    _pre_hooks = None   # {output index: [hook]}
    _retained = None    # [(output index, weakref to tensor)]
    input_dtypes = None  # set when the inputs' dtypes differ: their gradients are cast back to them
    multi_view = None   # the op's name where the node's outputs are views of one input (unbind)

    def __init__(self, *saved, **attrs):
        """saved: tensors the backward needs (checked for in-place changes);
        attrs: anything else it needs, set as attributes. (Hot nodes define their own
        __init__ that sets its fields and calls save() directly: keywords cost a dict
        per op. They need not call this one, which only does that.)"""
        if saved:
            self.save(*saved)
        if attrs:
            self.__dict__.update(attrs)

    def name(self):
        return type(self).__name__

    def __repr__(self):
        return f"<{self.name()} object at {hex(id(self))}>"

    # -- saved tensors: checked against in-place changes, freed after backward
    def save(self, *tensors):
        versions = []
        for t in tensors:
            if t is None:
                versions.append(0)
                continue
            vc = t._vc
            if vc is INFERENCE_VC:
                raise RuntimeError("Inference tensors cannot be saved for backward. To work around you can make a "
                                   "clone to get a normal tensor and use it in autograd.")
            versions.append(vc[0])
        self._saved = tensors
        self._versions = versions

    @property
    def saved_tensors(self):
        if self._freed:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved tensors "
                "after they have already been freed). Saved intermediate values of the graph are freed "
                "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
                "backward through the graph a second time or if you need to access saved tensors after "
                "calling backward.")
        saved = self._saved or ()
        for t, v in zip(saved, self._versions or ()):
            if t is not None and t._vc[0] != v:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an "
                    f"inplace operation: [{t.type()} {list(t.shape)}], which is output {t._out_nr} of "
                    f"{t._grad_fn.name() if t._grad_fn else 'a leaf'}, is at version {t._vc[0]}; "
                    f"expected version {v} instead. Hint: the operation that failed was "
                    f"{self.name()}.")
        return saved

    def release(self):
        if self._saved is not None:
            self._saved = None
            self._freed = True

    def register_hook(self, fn):
        raise NotImplementedError("hooks on graph nodes are not supported; use Tensor.register_hook")

    def register_prehook(self, fn):
        raise NotImplementedError("hooks on graph nodes are not supported; use Tensor.register_hook")


class AccumulateGrad(Node):
    """The sink of a leaf tensor: sums the incoming gradient into ``leaf.grad``."""

    def __init__(self, leaf):
        self._leaf = weakref.ref(leaf)

    @property
    def variable(self):
        return self._leaf()

    def accumulate(self, g, create_graph, steal=False):
        t = self._leaf()
        if t is None:
            return
        if g._dtype is not t._dtype:
            g = g.to(t._dtype)
        if t._grad is None:
            # steal: the engine knows no one else can see g's storage; else copy it. A strided or
            # broadcast view (sum's and mean's gradients are expanded; an empty one may be read-only)
            # is copied too: .grad is dense and writable, as PyTorch's
            if create_graph:
                t._grad = g
            elif steal and g._be.is_contiguous(g._data) and 0 not in g._data.shape:
                t._grad = g.detach()
            else:
                t._grad = g.detach().clone()
        elif create_graph or t._grad._rg or t._grad._be is not g._be or t._grad.shape != g.shape:
            t._grad = t._grad + g
        else:
            t._grad._be.binary_("add", t._grad._data, g._data)
            t._grad._vc[0] += 1


def edge(t):
    """The (node, output index) that receives t's gradient; (None, 0) if none."""
    if not t._rg:
        return (None, 0)
    fn = t._grad_fn
    if fn is not None:
        return (fn, t._out_nr)
    acc = t._acc
    if acc is None or acc._leaf() is not t:
        acc = t._acc = AccumulateGrad(t)
    return (acc, 0)


def attach(node, inputs, outputs):
    """Connect node to the inputs' nodes and make it the grad_fn of outputs."""
    # (edge() inlined for inputs with a grad_fn: this is the per-op hot path)
    node.next_functions = tuple([(None, 0) if t is None else (t._grad_fn, t._out_nr) if t._grad_fn is not None
                                 else edge(t) for t in inputs])
    if len(inputs) == 2:  # (the common case, spelled out: this is the per-op hot path)
        a, b = inputs
        if a is not None and b is not None and a._dtype is not b._dtype:  # a mixed-dtype op (type promotion)
            node.input_dtypes = (a._dtype, b._dtype)
    elif len(inputs) > 2:
        dts = [t._dtype for t in inputs if t is not None]
        if dts and dts.count(dts[0]) != len(dts):
            node.input_dtypes = tuple([t._dtype if t is not None else None for t in inputs])
    if len(outputs) == 1 and outputs[0] is not None:
        o = outputs[0]
        o._grad_fn, o._out_nr, o._rg = node, 0, True
        return node
    for i, o in enumerate(outputs):
        if o is not None:
            o._grad_fn = node
            o._out_nr = i
            o._rg = True
    return node


def needs_grad(*tensors):
    if not grad_mode.enabled:
        return False
    for t in tensors:
        if t is not None and t._rg:
            return True
    return False
