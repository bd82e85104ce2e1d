"""A finite-difference gradient checker for wgtorch tests.

``gradcheck(fn, inputs)`` builds float64 cpu leaves from ``inputs`` (NumPy
arrays), runs ``fn`` on them, and compares autograd's gradients of
``sum(out * v)`` (``v`` a fixed random cotangent per output) with central
differences of the same scalar, computed by perturbing each element of each
input in float64.

``check_grad(fn, inputs, device)`` is what op tests call: on the cpu it is
``gradcheck``; on another device it runs ``fn`` on float32 copies there and
compares the device's gradients with the cpu float64 autograd gradients (which
are themselves checked against finite differences first).

Only float inputs are differentiated; anything that is not a float NumPy array
(ints, index tensors, Python scalars) is passed to ``fn`` unchanged.
"""
import numpy as np

import wgtorch


def _as_tuple(out):
    if isinstance(out, (tuple, list)):
        return tuple(out)
    return (out,)


def _is_float_array(a):
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _cotangents(outs, seed):
    rng = np.random.default_rng(seed)
    vs = []
    for o in outs:
        if isinstance(o, wgtorch.Tensor) and o.dtype.is_floating_point:
            vs.append(rng.standard_normal(tuple(o.shape)))
        else:
            vs.append(None)
    return vs


def _scalar_np(outs, vs):
    """sum(out * v) over the float outputs, evaluated in float64 NumPy."""
    total = 0.0
    for o, v in zip(outs, vs):
        if v is not None:
            total += float(np.sum(o.detach().cpu().numpy().astype(np.float64) * v))
    return total


def _leaves(inputs, device, dtype):
    xs, diff_idx = [], []
    for i, a in enumerate(inputs):
        if _is_float_array(a):
            t = wgtorch.tensor(a, dtype=dtype, device=device, requires_grad=True)
            xs.append(t)
            diff_idx.append(i)
        else:
            xs.append(a)
    return xs, diff_idx


def analytic_grads(fn, inputs, device="cpu", dtype=None, seed=0):
    """Autograd gradients of sum(fn(*inputs) * v) w.r.t. the float inputs (NumPy, float64)."""
    dtype = wgtorch.float64 if dtype is None else dtype
    xs, diff_idx = _leaves(inputs, device, dtype)
    outs = _as_tuple(fn(*xs))
    vs = _cotangents(outs, seed)
    loss = None
    for o, v in zip(outs, vs):
        if v is None:
            continue
        term = (o * wgtorch.tensor(v, dtype=o.dtype, device=o.device)).sum()
        loss = term if loss is None else loss + term
    assert loss is not None, "fn produced no float output"
    leaves = [xs[i] for i in diff_idx]
    grads = wgtorch.autograd.grad(loss, leaves, allow_unused=True)
    res = []
    for g, i in zip(grads, diff_idx):
        if g is None:
            res.append(np.zeros(inputs[i].shape))
        else:
            assert tuple(g.shape) == tuple(inputs[i].shape), (
                f"grad of input {i} has shape {tuple(g.shape)}, input has {inputs[i].shape}")
            res.append(g.detach().cpu().numpy().astype(np.float64))
    return res, diff_idx, vs


def numeric_grads(fn, inputs, vs, eps=1e-6):
    """Central differences of sum(fn(*inputs) * v), each input element perturbed in float64."""
    res = []
    arrays = [np.array(a, dtype=np.float64, copy=True) if _is_float_array(a) else a for a in inputs]

    def f():
        with wgtorch.no_grad():
            xs = [wgtorch.tensor(a, dtype=wgtorch.float64) if _is_float_array(a) else a
                  for a in arrays]
            return _scalar_np(_as_tuple(fn(*xs)), vs)

    for i, a in enumerate(arrays):
        if not _is_float_array(a):
            continue
        g = np.zeros(a.shape)
        flat = a.reshape(-1)  # a view: writes go into arrays[i]
        for j in range(flat.size):
            old = flat[j]
            flat[j] = old + eps
            fp = f()
            flat[j] = old - eps
            fm = f()
            flat[j] = old
            g.reshape(-1)[j] = (fp - fm) / (2 * eps)
        res.append(g)
    return res


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4, seed=0):
    """Assert that autograd's float64 cpu gradients of fn match central differences."""
    inputs = [np.asarray(a, dtype=np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
              for a in inputs]
    ana, diff_idx, vs = analytic_grads(fn, inputs, "cpu", wgtorch.float64, seed)
    num = numeric_grads(fn, inputs, vs, eps)
    for k, (ga, gn) in enumerate(zip(ana, num)):
        np.testing.assert_allclose(
            ga, gn, rtol=rtol, atol=atol,
            err_msg=f"gradient of input {diff_idx[k]}: autograd vs finite differences")
    return ana


def check_grad(fn, inputs, device="cpu", eps=1e-6, atol=1e-5, rtol=1e-4, seed=0,
               device_rtol=2e-3, device_atol=2e-4):
    """gradcheck on the cpu; on any other device, float32 gradients there vs cpu float64."""
    ref = gradcheck(fn, inputs, eps=eps, atol=atol, rtol=rtol, seed=seed)
    if str(device) == "cpu":
        return ref
    got, diff_idx, _ = analytic_grads(fn, inputs, device, wgtorch.float32, seed)
    for k, (g, r) in enumerate(zip(got, ref)):
        scale = max(1.0, float(np.max(np.abs(r)))) if r.size else 1.0
        np.testing.assert_allclose(
            g, r, rtol=device_rtol, atol=device_atol * scale,
            err_msg=f"gradient of input {diff_idx[k]} on {device} vs cpu float64")
    return got
