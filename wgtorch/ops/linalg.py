"""matmul with PyTorch's 1-D/2-D/batched rules, mm, bmm, dot, outer, addmm, einsum."""
from .. import dtypes
from ..amp import autocast_mode as _amp
from ..autograd import grad_mode
from .core import Node, Tensor, _make, attach, broadcast_shapes, device_mismatch, sum_to
from .elementwise import binary


def _check(fn, a, b):
    if a.__class__ is Tensor and b.__class__ is Tensor and a._be is b._be and a._dtype is b._dtype \
            and a._dtype is not dtypes.bool_:
        return
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError(f"{fn}(): argument must be Tensor, not "
                        f"{type(b if isinstance(a, Tensor) else a).__name__}")
    if a._be is not b._be:
        device_mismatch(a, b)
    if a._dtype is not b._dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {a._dtype} != {b._dtype}")
    if a._dtype is dtypes.bool_:
        raise NotImplementedError(f"\"{fn}\" not implemented for 'Bool'")


def _transposed(m):
    """m is a contiguous matrix's .t() (nn.Linear passes weight.t()): its gradient is best made in
    the weight's own layout, so that the weight's .grad is contiguous without a copy."""
    return m._be.strides(m._data) == (1, m._data.shape[0])


class MatmulBackward(Node):
    def __init__(self, a, b):
        self.save(a, b)

    def backward(self, g):
        a, b = self.saved_tensors
        ga = sum_to(g.matmul(b.mT), a.shape) if a._rg else None
        gb = None
        if b._rg and b.ndim == 2:  # (a weight shared by a batch: one GEMM over all rows)
            a2 = a.reshape(-1, a.shape[-1]) if a.ndim > 2 else a
            g2 = g.reshape(-1, g.shape[-1]) if g.ndim > 2 else g
            gb = g2.mT.matmul(a2).mT if _transposed(b) else a2.mT.matmul(g2)
        elif b._rg:
            gb = sum_to(a.mT.matmul(g), b.shape)
        return ga, gb


class MmBackward0(MatmulBackward):
    pass


class BmmBackward0(MatmulBackward):
    pass


def _mm_nd(a, b, name):
    """a @ b for a, b with >= 2 dims (batch dims broadcast)."""
    ash, bsh = a._data.shape, b._data.shape
    if ash[-1] != bsh[-2]:
        if a.ndim == 2 and b.ndim == 2:
            raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({a.shape[0]}x{a.shape[1]} and "
                               f"{b.shape[0]}x{b.shape[1]})")
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{b.shape[:-2] and b.shape[0] or 1}, {a.shape[-1]}] but got: "
                           f"[{b.shape[:-2] and b.shape[0] or 1}, {b.shape[-2]}].")
    if len(ash) > 2 or len(bsh) > 2:
        broadcast_shapes(ash[:-2], bsh[:-2])
    r = _make(a._be.matmul(a._data, b._data), a._dtype, a._be)
    if grad_mode.enabled and (a._rg or b._rg):
        attach((MmBackward0 if name == "mm" else BmmBackward0)(a, b), (a, b), (r,))
    return r


def matmul(a, b, out=None):
    if _amp.active:
        a, b = _amp.cast("matmul", a, b)
    _check("matmul", a, b)
    ash, bsh = a._data.shape, b._data.shape
    an, bn = len(ash), len(bsh)
    if an == 2 and bn == 2 and ash[1] == bsh[0]:  # (_mm_nd's common case inlined: the per-op hot path)
        r = _make(a._be.matmul(a._data, b._data), a._dtype, a._be)
        if grad_mode.enabled and (a._rg or b._rg):
            attach(MmBackward0(a, b), (a, b), (r,))
        return r
    if an >= 2 and bn >= 2:
        return _mm_nd(a, b, "mm" if an == 2 and bn == 2 else "bmm")
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and "
                           f"{b.ndim}D")
    if a.ndim == 1 and b.ndim == 1:
        return dot(a, b)
    if a.ndim == 1:
        if a.shape[0] != b.shape[-2]:
            raise RuntimeError(f"size mismatch, got input ({a.shape[0]}), mat ({b.shape[-2]}x{b.shape[-1]}), "
                               f"vec ({a.shape[0]})")
        return _mm_nd(a.unsqueeze(0), b, "mm" if b.ndim == 2 else "bmm").squeeze(-2)
    if b.ndim == 1:
        if a.shape[-1] != b.shape[0]:
            raise RuntimeError(f"size mismatch, got input ({a.shape[-2]}), mat ({a.shape[-2]}x{a.shape[-1]}), "
                               f"vec ({b.shape[0]})")
        return _mm_nd(a, b.unsqueeze(-1), "mm" if a.ndim == 2 else "bmm").squeeze(-1)
    return _mm_nd(a, b, "mm" if a.ndim == 2 and b.ndim == 2 else "bmm")


def rmatmul(a, b):
    return matmul(b, a)


def mm(a, b):
    if _amp.active:
        a, b = _amp.cast("mm", a, b)
    _check("mm", a, b)
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"{'self' if a.ndim != 2 else 'mat2'} must be a matrix")
    return _mm_nd(a, b, "mm")


def bmm(a, b):
    if _amp.active:
        a, b = _amp.cast("bmm", a, b)
    _check("bmm", a, b)
    if a.ndim != 3 or b.ndim != 3:
        raise RuntimeError(f"batch{1 if a.ndim != 3 else 2} must be a 3D tensor")
    if a.shape[0] != b.shape[0]:
        raise RuntimeError(f"batch1 and batch2 must have same number of batches, got {a.shape[0]} and "
                           f"{b.shape[0]}")
    return _mm_nd(a, b, "bmm")


def mv(a, v):
    if _amp.active:
        a, v = _amp.cast("mv", a, v)
    if a.ndim == 0:  # PyTorch checks the ranks before the dtypes
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    if a.ndim != 2 or v.ndim != 1:
        raise RuntimeError("vector + matrix @ vector expected, got " + f"1, {a.ndim}, {v.ndim}")
    _check("mv", a, v)
    return matmul(a, v)


class DotBackward0(Node):
    def backward(self, g):
        a, b = self.saved_tensors
        return (g * b if a._rg else None), (g * a if b._rg else None)


def dot(a, b):
    if _amp.active:
        a, b = _amp.cast("dot", a, b)
    _check("dot", a, b)
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    if a.shape[0] != b.shape[0]:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src [{b.shape[0]}] "
                           "to have the same number of elements, but got "
                           f"{a.shape[0]} and {b.shape[0]} elements respectively")
    be = a._be
    r = _make(be.view_reshape(be.matmul(be.view_reshape(a._data, (1, a.shape[0])),
                                        be.view_reshape(b._data, (b.shape[0], 1))), ()), a._dtype, be)
    if grad_mode.enabled and (a._rg or b._rg):
        attach(DotBackward0(a, b), (a, b), (r,))
    return r


inner = dot


def outer(a, b):
    return a.unsqueeze(1) * b.unsqueeze(0)


ger = outer


class AddmmBackward0(Node):
    def __init__(self, inp, m1, m2, beta, alpha):
        self.save(m1, m2)
        self.ishape, self.beta, self.alpha = inp._data.shape, beta, alpha

    def backward(self, g):
        m1, m2 = self.saved_tensors
        gi = sum_to(g if self.beta == 1 else g * self.beta, self.ishape)
        gs = g if self.alpha == 1 else g * self.alpha
        be, T = gs._be, (1, 0)
        weight_t = m2._rg and _transposed(m2)
        if grad_mode.enabled or gs._dtype is not m1._dtype:  # create_graph: recorded Tensor ops
            g1 = gs.mm(m2.t()) if m1._rg else None
            g2 = None
            if m2._rg:
                g2 = gs.t().mm(m1).t() if weight_t else m1.t().mm(gs)
            return gi, g1, g2
        # no graph to record (the usual backward): one backend GEMM per gradient
        gd, dt = gs._data, gs._dtype
        g1 = _make(be.matmul(gd, be.view_permute(m2._data, T)), dt, be) if m1._rg else None
        g2 = None
        if weight_t:
            g2 = _make(be.view_permute(be.matmul(be.view_permute(gd, T), m1._data), T), dt, be)
        elif m2._rg:
            g2 = _make(be.matmul(be.view_permute(m1._data, T), gd), dt, be)
        return gi, g1, g2


def addmm(inp, m1, m2, *, beta=1, alpha=1):
    """beta * inp + alpha * (m1 @ m2): nn.Linear's op (grad_fn AddmmBackward0)."""
    if _amp.active:
        inp, m1, m2 = _amp.cast("addmm", inp, m1, m2)
    _check("addmm", m1, m2)
    s1, s2 = m1._data.shape, m2._data.shape
    if len(s1) != 2 or len(s2) != 2:
        raise RuntimeError("mat1 must be a matrix, got " + f"{m1.ndim}-D tensor")
    if s1[1] != s2[0]:
        _mm_nd(m1, m2, "mm")  # raises the shape error
    be = m1._be
    r = _make(be.matmul(m1._data, m2._data), m1._dtype, be)
    if alpha == 1 and beta == 1 and be.name == "cpu" and isinstance(inp, Tensor) and inp._be is be \
            and inp._dtype is r._dtype and inp._data.shape == (s2[1],):
        # nn.Linear's bias added into the fresh product: no second array (cpu only: the wgpu
        # backend's in-place op is an op and a copy)
        be.binary_("add", r._data, inp._data)
    else:
        if alpha != 1:
            r = binary("mul", r, alpha)
        if beta != 0:
            r = binary("add", r, inp if beta == 1 else binary("mul", inp, beta))
    if r._data.shape != (s1[0], s2[1]):
        raise RuntimeError(f"The expanded size of the tensor ({m2.shape[1]}) must match the existing size "
                           f"({inp.shape[-1]})")
    if grad_mode.enabled and (inp._rg or m1._rg or m2._rg):
        attach(AddmmBackward0(inp, m1, m2, beta, alpha), (inp, m1, m2), (r,))
    return r


def baddbmm(inp, b1, b2, *, beta=1, alpha=1):
    if _amp.active:
        inp, b1, b2 = _amp.cast("baddbmm", inp, b1, b2)
    r = bmm(b1, b2)
    return (r * alpha if alpha != 1 else r) + (inp * beta if beta != 1 else inp) if beta != 0 else r * alpha


def einsum(equation, *operands):
    """Composed from permute / diagonal / broadcasting multiply / sum (matmul
    where two operands contract one index set: the common case)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if _amp.active:
        operands = _amp.cast("einsum", *operands)
    eq = equation.replace(" ", "")
    if "->" in eq:
        lhs, out = eq.split("->")
    else:
        lhs, out = eq, None
    ins = lhs.split(",")
    if len(ins) != len(operands):
        raise RuntimeError("einsum(): more operands were provided than specified in the equation"
                           if len(operands) > len(ins) else
                           "einsum(): fewer operands were provided than specified in the equation")
    # expand '...' into fresh upper-case letters
    ell_n = 0
    for s, t in zip(ins, operands):
        if "..." in s:
            ell_n = max(ell_n, t.ndim - (len(s) - 3))
    ell = "".join(chr(ord("A") + i) for i in range(ell_n))
    subs = []
    for s, t in zip(ins, operands):
        if "..." in s:
            k = t.ndim - (len(s) - 3)
            s = s.replace("...", ell[ell_n - k:])
        if len(s) != t.ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(s)}) does not match "
                               f"the number of dimensions ({t.ndim}) for operand {len(subs)}"
                               " and no ellipsis was given")
        subs.append(s)
    if out is None:
        counts = {}
        for s in subs:
            for c in s:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
    # take diagonals for letters repeated within one operand
    ts = []
    for s, t in zip(subs, operands):
        while True:
            rep = next((c for c in s if s.count(c) > 1), None)
            if rep is None:
                break
            i = s.index(rep)
            j = s.index(rep, i + 1)
            t = t.diagonal(0, i, j)
            s = s[:i] + s[i + 1:j] + s[j + 1:] + rep
        ts.append((s, t))
    letters = []
    for s, _ in ts:
        for c in s:
            if c not in letters:
                letters.append(c)
    for c in out:
        if c not in letters:
            raise RuntimeError(f"einsum(): output subscript {c} does not appear in the equation for any input "
                               "operand")
    full = [c for c in letters if c not in out] + list(out)  # contracted first, then output order
    acc = None
    for s, t in ts:
        perm = sorted(range(len(s)), key=lambda i: full.index(s[i]))
        t = t.permute(perm)
        ss = "".join(s[i] for i in perm)
        shape = [t.shape[ss.index(c)] if c in ss else 1 for c in full]
        t = t.reshape(shape)
        acc = t if acc is None else acc * t
    nsum = len(full) - len(out)
    if nsum:
        acc = acc.sum(tuple(range(nsum)))
    return acc
