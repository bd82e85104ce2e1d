"""Generating float32 normals on cpu: wgtorch (PyTorch's stream, bit for bit) against torch.

    python -m wgtorch.benchmarks.random_bench [n]"""
import sys
import time

import wgtorch


def _best(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def normals_vs_torch(n=10_000_000, repeat=3, verbose=True):
    """Best-of-`repeat` seconds for `randn(n)` (float32, cpu) in wgtorch and in torch (None when torch is
    not installed or is the alias), taken in turn, and wgtorch's time over torch's (None without torch)."""
    torch = None
    try:
        import torch
        torch = None if torch is wgtorch else torch
    except ImportError:
        pass
    wgtorch.manual_seed(0)
    if torch is not None:
        torch.manual_seed(0)
    ours = theirs = float("inf")
    for _ in range(repeat):  # (in turn: a burst of load on a shared machine falls on both)
        ours = min(ours, _best(lambda: wgtorch.randn(n), 1))
        if torch is not None:
            theirs = min(theirs, _best(lambda: torch.randn(n), 1))
    theirs = None if torch is None else theirs
    ratio = None if theirs is None else ours / theirs
    if verbose:
        line = f"randn({n:,}) float32 cpu: wgtorch {ours * 1e3:.0f} ms"
        if theirs is not None:
            line += f", torch {theirs * 1e3:.0f} ms, ratio {ratio:.2f}x (wgtorch / torch)"
        print(line)
    return {"wgtorch_s": ours, "torch_s": theirs, "ratio": ratio}


if __name__ == "__main__":
    normals_vs_torch(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000)
