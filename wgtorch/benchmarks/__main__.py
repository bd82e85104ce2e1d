"""python -m wgtorch.benchmarks [--quick]

Per-op overhead on tiny tensors and a training step of a 784-128-64-10 MLP
(batch 64, SGD, cross-entropy), for wgtorch's cpu device, NumPy and PyTorch."""
import argparse
import time

import numpy as np

import wgtorch


def _best_of(fn, number, repeat=5):
    """Best per-call time in seconds over `repeat` runs of `number` calls."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def _torch():
    try:
        import torch
    except ImportError:
        return None
    if torch is wgtorch:  # running under the alias: there is no real torch to compare with
        return None
    return torch


def tiny_ops(lib, number):
    a = lib.ones(4, 4)
    b = lib.ones(4, 4)
    x = lib.ones(4, 4, requires_grad=True)
    return {
        "a + b": _best_of(lambda: a + b, number),
        "a * 2.0": _best_of(lambda: a * 2.0, number),
        "a.sum()": _best_of(lambda: a.sum(), number),
        "a[1:3]": _best_of(lambda: a[1:3], number),
        "a @ b": _best_of(lambda: a @ b, number),
        "x * x (grad)": _best_of(lambda: x * x, number),
        "(x*x).sum().backward()": _best_of(lambda: (x * x).sum().backward(), number // 4),
    }


def numpy_tiny(number):
    a = np.ones((4, 4), np.float32)
    b = np.ones((4, 4), np.float32)
    return {"a + b": _best_of(lambda: a + b, number), "a * 2.0": _best_of(lambda: a * 2.0, number),
            "a.sum()": _best_of(lambda: a.sum(), number), "a[1:3]": _best_of(lambda: a[1:3], number),
            "a @ b": _best_of(lambda: a @ b, number)}


def mlp_step(lib, steps):
    """One SGD step of a 784-128-64-10 MLP on a batch of 64, written with
    the tensor API only so the same code runs on wgtorch and torch."""
    lib.manual_seed(0)
    sizes = [784, 128, 64, 10]
    params = []
    for i, o in zip(sizes, sizes[1:]):
        params.append((lib.randn(o, i) * (1.0 / i ** 0.5)).requires_grad_())
        params.append(lib.zeros(o, requires_grad=True))
    x = lib.randn(64, 784)
    y = lib.randint(0, 10, (64,))

    def step():
        h = x
        for k in range(0, len(params), 2):
            h = lib.addmm(params[k + 1], h, params[k].t())
            if k < len(params) - 2:
                h = h.relu()
        loss = -h.log_softmax(1).gather(1, y.unsqueeze(1)).mean()
        loss.backward()
        with lib.no_grad():
            for p in params:
                p.sub_(p.grad, alpha=0.01)
                p.grad = None
        return loss
    step()
    return _best_of(step, steps, repeat=10)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--smoke", action="store_true", help="a few repetitions: checks that it runs")
    args = ap.parse_args()
    number = 40 if args.smoke else 2000 if args.quick else 20000
    torch = _torch()
    print(f"wgtorch {wgtorch.__version__}, NumPy {np.__version__}" +
          (f", torch {torch.__version__}" if torch else ", torch not installed"))
    if torch:
        torch.set_num_threads(2)

    print("\nPer-op time on 4x4 float32 tensors (µs; lower is better)")
    w = tiny_ops(wgtorch, number)
    n = numpy_tiny(number)
    t = tiny_ops(torch, number) if torch else {}
    print(f"{'op':26s} {'wgtorch':>9s} {'numpy':>9s} {'torch':>9s} {'wgtorch/torch':>14s}")
    for k, v in w.items():
        tv = t.get(k)
        nv = n.get(k)
        print(f"{k:26s} {v * 1e6:9.2f} {nv * 1e6 if nv else float('nan'):9.2f} "
              f"{tv * 1e6 if tv else float('nan'):9.2f} {v / tv if tv else float('nan'):14.2f}")

    print("\nMLP 784-128-64-10 training step, batch 64, SGD (ms; lower is better)")
    steps = 2 if args.smoke else 10 if args.quick else 30
    wm = mlp_step(wgtorch, steps)
    line = f"wgtorch cpu {wm * 1e3:8.3f}"
    if torch:
        tm = mlp_step(torch, steps)
        line += f"   torch cpu {tm * 1e3:8.3f}   wgtorch/torch {wm / tm:5.2f}"
    print(line)


if __name__ == "__main__":
    main()
