"""python -m wgtorch.benchmarks [--quick | --smoke]

wgtorch (cpu and wgpu) against NumPy and PyTorch (when installed), in one run:
per-op overhead on tiny tensors, the wgpu per-op figure (amortised time per op
of a long chain of tiny dependent ops plus one read-back; measured with
LP_NUM_THREADS=0 on Mesa's lavapipe), a training step of a 784-128-64-10 MLP
(batch 64, SGD, cross-entropy), training steps of a GPT and a CNN (models.py; also
with both libraries on one core), matmul GFLOP/s, elementwise GB/s, the DataLoader's
worker speed-up, 10M normal random numbers, and all-reduce bandwidth between 2 MPI ranks.
The libraries' runs of one comparison alternate, each keeping its best: a burst of load on a
shared machine then does not fall on one library's figure only."""
import argparse
import os
import subprocess
import sys
import time

import numpy as np

import wgtorch
from wgtorch.benchmarks.models import model_step


def _best_of(fn, number, repeat=5):
    """Best per-call time in seconds over `repeat` runs of `number` calls."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def _alternating(runs, rounds):
    """Each library's measurement (a number, or a dict of numbers) taken in turn, `rounds`
    times, keeping each one's best: a burst of load on a shared machine then does not fall
    on one library's figures only."""
    best = {}
    for _ in range(rounds):
        for name, run in runs.items():
            r = run()
            if isinstance(r, dict):
                old = best.setdefault(name, {})
                best[name] = {k: min(v, old.get(k, v)) for k, v in r.items()}
            elif r is not None:
                best[name] = min(r, best.get(name, r))
    return best


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return None if torch is wgtorch else torch  # under the alias there is no real torch


def _gpu():
    return wgtorch.wgpu.is_available()


def _ratio(a, b):
    return f"{a / b:8.2f}" if a and b else "       -"


# ---- per-op overhead -----------------------------------------------------------------
def tiny_cases(lib):
    """The tiny ops, as calls on lib's tensors (lib: wgtorch, torch or NumPy; NumPy has no autograd)."""
    if lib is np:
        a, b = np.ones((4, 4), np.float32), np.ones((4, 4), np.float32)
        return {"a + b": lambda: a + b, "a * 2.0": lambda: a * 2.0, "a.sum()": lambda: a.sum(),
                "a[1:3]": lambda: a[1:3], "a @ b": lambda: a @ b}
    a, b = lib.ones(4, 4), lib.ones(4, 4)
    x = lib.ones(4, 4, requires_grad=True)
    return {"a + b": lambda: a + b, "a * 2.0": lambda: a * 2.0, "a.sum()": lambda: a.sum(),
            "a[1:3]": lambda: a[1:3], "a @ b": lambda: a @ b, "x * x (grad)": lambda: x * x,
            "(x*x).sum().backward()": lambda: (x * x).sum().backward()}


def _interleaved(fns, number, rounds, warm=0):
    """Best seconds per call of each of fns (name -> function): samples of `number` calls taken in
    turn, one function after the other, `rounds` times, so that a burst of load on a shared machine
    falls on all of them alike. `warm` untimed calls before each sample wake the library's thread
    pool (idle while the others ran)."""
    best = {}
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(warm):
                fn()
            t = _best_of(fn, number, repeat=1)
            best[name] = min(t, best.get(name, t))
    return best


def tiny_ops(libs, number, rounds):
    """{library name: {tiny op: best seconds per call}} for libs (name -> wgtorch, torch or NumPy)."""
    cases = {name: tiny_cases(lib) for name, lib in libs.items()}
    best = {name: {} for name in libs}
    for op in cases[next(iter(libs))]:
        times = _interleaved({name: ops[op] for name, ops in cases.items() if op in ops},
                             number // 4 if "backward" in op else number, rounds)
        for name, t in times.items():
            best[name][op] = t
    return best


def chain_per_op(lib, device, n_ops):
    """Amortised seconds per op of a chain of tiny dependent ops and one read-back."""
    x = lib.ones(4, 4, device=device)

    def run():
        y = x
        for _ in range(n_ops):
            y = y * 1.0001 + 0.5
        y.sum().item()
    for _ in range(5):  # steady state: on wgpu the chain's groups are fused from their fourth run on
        run()
    return _best_of(run, 1, repeat=10) / (2 * n_ops + 1)


# ---- the MLP training step ----------------------------------------------------------
def mlp_step_fn(lib, device="cpu", modules=True):
    """One SGD training step of a 784-128-64-10 MLP on a batch of 64, the same code for
    wgtorch and torch: as users write it (nn.Sequential, F.cross_entropy, optim.SGD),
    or with the tensor API only (modules=False); the returned function runs one step and waits for it."""
    lib.manual_seed(0)
    x = lib.randn(64, 784).to(device)
    y = lib.randint(0, 10, (64,)).to(device)
    if modules:
        nn = lib.nn
        model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                              nn.Linear(64, 10)).to(device)
        opt = lib.optim.SGD(model.parameters(), lr=0.01)

        def step():
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
    else:
        sizes = [784, 128, 64, 10]
        params = []
        for i, o in zip(sizes, sizes[1:]):
            params.append((lib.randn(o, i) * (1.0 / i ** 0.5)).to(device).requires_grad_())
            params.append(lib.zeros(o, device=device, requires_grad=True))

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

    def synced_step():
        step().item()
    synced_step()
    return synced_step


def mlp_step(lib, steps, device="cpu", modules=True):
    """Best seconds of one MLP step (see mlp_step_fn)."""
    return _best_of(mlp_step_fn(lib, device, modules), steps, repeat=10 if device == "cpu" else 3)


def _warm_step(lib, name, device):
    """A models.py model's training step, run once (kernels compile on wgpu); None where a layer is missing."""
    try:
        step = model_step(lib, name, device)
        step()
    except (AttributeError, NotImplementedError):
        return None
    return step


def _model_ms(lib, name, device, steps):
    """Best milliseconds of one training step of a models.py model; None where a layer is missing."""
    step = _warm_step(lib, name, device)
    return _best_of(step, 1, steps) * 1e3 if step else None


def one_core_steps(name, steps):
    """Prints the best CPU milliseconds of a model step on wgtorch cpu and torch, each on one core
    (run in a child started with OPENBLAS_NUM_THREADS=1: NumPy's elementwise work is
    single-threaded, so this is the like-for-like comparison)."""
    def best(step):
        step()
        times = []
        for _ in range(steps):
            t0 = time.process_time()
            step()
            times.append(time.process_time() - t0)
        return min(times) * 1e3
    w = best(model_step(wgtorch, name))
    torch = _torch()
    if torch:
        torch.set_num_threads(1)
    print(w, best(model_step(torch, name)) if torch else 0.0)


def _one_core(name, steps):
    code = f"from wgtorch.benchmarks.__main__ import one_core_steps; one_core_steps({name!r}, {steps})"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900,
                       env=dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1"))
    if r.returncode:
        return None, None
    w, t = (float(v) for v in r.stdout.split()[-2:])
    return w, t or None


# ---- throughput ----------------------------------------------------------------------
def matmul_gflops(n, runs):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    flop = 2 * n ** 3
    out = {}
    ta, tb = wgtorch.tensor(a), wgtorch.tensor(b)
    if _gpu():  # first: the CPU libraries' thread pools keep spinning a while after their runs
        ga, gb = ta.to("wgpu"), tb.to("wgpu")
        (ga @ gb).sum().item()  # compile and warm up

        def run():
            (ga @ gb)[0, 0].item()
        out["wgtorch wgpu"] = flop / _best_of(run, 1, runs) / 1e9
    out["numpy"] = flop / _best_of(lambda: a @ b, 1, runs) / 1e9
    out["wgtorch cpu"] = flop / _best_of(lambda: ta @ tb, 1, runs) / 1e9
    torch = _torch()
    if torch:
        xa, xb = torch.tensor(a), torch.tensor(b)
        out["torch"] = flop / _best_of(lambda: xa @ xb, 1, runs) / 1e9
    return out


def add_gbs(n, runs):
    a = np.ones(n, np.float32)
    b = np.ones(n, np.float32)
    nbytes = 3 * 4 * n
    out = {}
    ta, tb = wgtorch.tensor(a), wgtorch.tensor(b)
    if _gpu():  # first, as in matmul_gflops
        # adds of distinct operands whose results are kept: wgpu fuses runs of elementwise ops,
        # and would otherwise skip results nobody holds or read shared operands once
        pairs = [(ta.to("wgpu"), tb.to("wgpu")) for _ in range(5)]

        def run():
            sums = [x + y for x, y in pairs]
            wgtorch.wgpu.synchronize()
            return sums
        run()
        out["wgtorch wgpu"] = nbytes / (_best_of(run, 1, runs) / len(pairs)) / 1e9
    out["numpy"] = nbytes / _best_of(lambda: a + b, 1, runs) / 1e9
    out["wgtorch cpu"] = nbytes / _best_of(lambda: ta + tb, 1, runs) / 1e9
    torch = _torch()
    if torch:
        xa, xb = torch.tensor(a), torch.tensor(b)
        out["torch"] = nbytes / _best_of(lambda: xa + xb, 1, runs) / 1e9
    return out


def _per_op_subprocess(n_ops, turns=3):
    """The wgpu per-op figure and wgtorch cpu's, taken in turn in one child with LP_NUM_THREADS=0
    (lavapipe's thread wake-up would otherwise dominate tiny dispatches; set before the driver
    loads): the host's speed swings for seconds at a time, and the ratio of two figures measured
    apart would carry a swing. Returns {"g": wgpu, "w": cpu} (the best of each), or None."""
    code = (f"import wgtorch; from wgtorch.benchmarks.__main__ import chain_per_op; "
            f"t = [chain_per_op(wgtorch, d, {n_ops}) for _ in range({turns}) for d in ('wgpu', 'cpu')]; "
            f"print(min(t[0::2]), min(t[1::2]))")
    env = dict(os.environ, LP_NUM_THREADS="0")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        return None
    g, w = map(float, r.stdout.strip().splitlines()[-1].split())
    return {"g": g, "w": w}


# ---- the DataLoader ------------------------------------------------------------------
class _CostlySamples:
    """Samples that each cost ~5 ms before returning a small float32 image: of CPU (`work`
    turns of a Python loop, like decoding an image) or of waiting (`work` = 0: a sleep,
    like reading a file)."""

    def __init__(self, n, work, ms):
        self.n, self.work, self.ms = n, work, ms

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self.work:
            s = 0
            for k in range(self.work):
                s += k * k
        else:
            time.sleep(self.ms / 1e3)
        return np.full((3, 32, 32), i % 255, np.float32), i


def loader_epochs(n, ms=5.0, workers=2):
    """Seconds of one DataLoader epoch (batch 10, worker start-up included) with
    num_workers=0 and =workers over n samples of ~ms each, of CPU work and of waiting;
    printed as lines "kind t0 t_workers" (main() runs this in a child process)."""
    from wgtorch.utils.data import DataLoader
    # CPU work: turns of the loop that take ms, calibrated here
    work = int(100000 * ms / 1e3 / _best_of(lambda: _CostlySamples(1, 100000, ms)[0], 1, 3))
    for kind, w in (("CPU-work", work), ("waiting", 0)):
        times = []
        for nw in (0, workers):
            t0 = time.perf_counter()
            for _ in DataLoader(_CostlySamples(n, w, ms), batch_size=10, num_workers=nw):
                pass
            times.append(time.perf_counter() - t0)
        print(kind, *times, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions and sizes")
    ap.add_argument("--smoke", action="store_true", help="a few repetitions: checks that it runs")
    args = ap.parse_args()
    number = 40 if args.smoke else 2000 if args.quick else 20000
    torch = _torch()
    gpu = _gpu()
    print(f"wgtorch {wgtorch.__version__}, NumPy {np.__version__}" +
          (f", torch {torch.__version__}" if torch else ", torch not installed"))
    print("wgpu adapter: " + (f"{wgtorch.wgpu.get_device_name()} ({wgtorch.wgpu.get_device_properties()['backend']})"
                              if gpu else "none"))
    if torch:
        torch.set_num_threads(os.cpu_count() or 1)
    code = "import time; t = time.perf_counter(); import wgtorch; print(time.perf_counter() - t)"
    # with bytecode caching on, as an installed wheel has it (pip compiles the .pyc files):
    # PYTHONDONTWRITEBYTECODE=1 would recompile every module on each import
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    imports = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env).stdout
                     or "nan") for _ in range(4)][1:]  # the first may write the cache
    print(f"import wgtorch: {min(imports) * 1e3:.0f} ms (best of 3, in a fresh process, bytecode cached)")

    print("\nPer-op time on 4x4 float32 tensors (µs; lower is better)")
    rounds = 1 if args.smoke else 3
    libs = {"w": wgtorch, "n": np, **({"t": torch} if torch else {})}
    best = tiny_ops(libs, number // 5 if args.smoke else 500, 2 if args.smoke else number // 100)
    w, n, t = best["w"], best["n"], best.get("t", {})
    print(f"{'op':26s} {'wgtorch':>9s} {'numpy':>9s} {'torch':>9s} {'wgtorch/torch':>14s}")
    for k, v in w.items():
        tv, nv = t.get(k), n.get(k)
        print(f"{k:26s} {v * 1e6:9.2f} {nv * 1e6 if nv else float('nan'):9.2f} "
              f"{tv * 1e6 if tv else float('nan'):9.2f} {_ratio(v, tv):>14s}")

    n_ops = 20 if args.smoke else 300
    # (wgtorch's two figures from one child, in turn; torch's in this process, between them)
    best = _alternating({"p": lambda: (_per_op_subprocess(n_ops) if gpu else None) or
                         {"w": chain_per_op(wgtorch, "cpu", n_ops)},
                         "t": lambda: chain_per_op(torch, "cpu", n_ops) if torch else None}, rounds)
    cpu_op, torch_op, gpu_op = best["p"]["w"], best.get("t"), best["p"].get("g")
    line = f"\nPer-op figure (chain of {2 * n_ops} tiny ops + 1 read-back, µs/op): wgtorch cpu {cpu_op * 1e6:.2f}"
    if torch_op:
        line += f", torch {torch_op * 1e6:.2f}"
    if gpu_op:
        line += f", wgtorch wgpu {gpu_op * 1e6:.2f} (LP_NUM_THREADS=0; wgpu/cpu {gpu_op / cpu_op:.2f})"
    print(line)

    print("\nMLP 784-128-64-10 training step, batch 64, SGD (ms; lower is better)")
    steps = 2 if args.smoke else 10 if args.quick else 30
    for modules, title in ((True, "nn + F.cross_entropy + optim.SGD"), (False, "tensor ops only")):
        fns = {"w": mlp_step_fn(wgtorch, modules=modules)}
        if torch:
            fns["t"] = mlp_step_fn(torch, modules=modules)
        best = _interleaved(fns, max(steps // 5, 1), 50 if steps > 2 else 2)
        wm = best["w"]
        line = f"{title:34s} wgtorch cpu {wm * 1e3:7.3f}"
        if torch:
            tm = best["t"]
            line += f"   torch cpu {tm * 1e3:7.3f}   wgtorch/torch {wm / tm:5.2f}"
        if gpu:
            line += f"   wgtorch wgpu {mlp_step(wgtorch, max(steps // 5, 1), 'wgpu', modules) * 1e3:8.3f}"
        print(line)

    print("\nModel training steps with AdamW (ms; lower is better): GPT 4x256, context 128, batch 8; "
          "CNN on 28x28, batch 64")
    for name in ("gpt", "cnn"):
        line = f"{name:4s}"
        model_steps = {"w": _warm_step(wgtorch, name, "cpu"), "t": _warm_step(torch, name, "cpu") if torch else None}
        rounds = 1 if args.smoke else {"gpt": 5, "cnn": 20}[name]  # (a CNN step is ~10x shorter and swings more)
        best = _interleaved({k: f for k, f in model_steps.items() if f}, 1, rounds, warm=1)
        w, t = (best[k] * 1e3 if k in best else None for k in "wt")
        line += f"   wgtorch cpu {w:9.1f}" if w else "   wgtorch cpu: its layers are not there yet"
        if torch:
            line += f"   torch cpu {t:9.1f}" + (f"   wgtorch/torch {w / t:5.2f}" if w else "")
        if gpu and not args.smoke:
            g = _model_ms(wgtorch, name, "wgpu", 1)
            line += f"   wgtorch wgpu {g:9.1f}" if g else ""
        print(line, flush=True)
        w1, t1 = _one_core(name, 1 if args.smoke else 3)
        if w1:
            print(f"{'':4s}   one core each (CPU time): wgtorch cpu {w1:9.1f}" +
                  (f"   torch cpu {t1:9.1f}   wgtorch/torch {w1 / t1:5.2f}" if t1 else ""), flush=True)

    print("\nNormal random numbers on cpu, PyTorch's stream bit for bit (lower is better)")
    from wgtorch.benchmarks.random_bench import normals_vs_torch
    normals_vs_torch(100_000 if args.smoke else 10_000_000, repeat=1 if args.smoke else 3)

    sizes = [64] if args.smoke else [256, 512, 1024] if args.quick else [256, 512, 1024, 2048]
    runs = 1 if args.smoke else 3
    print("\nMatmul float32 (GFLOP/s; higher is better)")
    cols = ["numpy", "torch", "wgtorch cpu", "wgtorch wgpu"]
    print(f"{'n':>6s} " + " ".join(f"{c:>13s}" for c in cols))
    for s in sizes:
        r = matmul_gflops(s, runs)
        print(f"{s:6d} " + " ".join(f"{r[c]:13.1f}" if c in r else f"{'-':>13s}" for c in cols))

    print("\nElementwise add of float32 vectors (GB/s moved; higher is better)")
    print(f"{'n':>9s} " + " ".join(f"{c:>13s}" for c in cols))
    for s in ([1 << 16] if args.smoke else [1 << 20, 1 << 22]):
        r = add_gbs(s, runs)
        print(f"{s:9d} " + " ".join(f"{r[c]:13.2f}" if c in r else f"{'-':>13s}" for c in cols))

    n = 40 if args.smoke else 100 if args.quick else 200
    print(f"\nDataLoader epoch of {n} samples costing ~5 ms each, batch 10 (s; worker start-up included)")
    # in a child that imports only wgtorch: torch's and lavapipe's idle threads here would take the workers' CPU
    code = f"from wgtorch.benchmarks.__main__ import loader_epochs; loader_epochs({n})"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    if r.returncode:
        print("failed:", r.stderr.strip()[-300:])
    for line in r.stdout.splitlines() if not r.returncode else []:
        kind, t0, t2 = line.split()
        t0, t2 = float(t0), float(t2)
        print(f"{kind:9s} num_workers=0 {t0:7.3f}   num_workers=2 {t2:7.3f}   speed-up {t0 / t2:5.2f}x "
              f"({os.cpu_count()} cores)")

    print("\nAll-reduce of float32 between 2 MPI ranks (GB/s; higher is better)")
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        print("mpi4py is not installed: pip install -e \".[distributed]\"")
    else:
        from wgtorch.benchmarks.allreduce import allreduce_bandwidth
        try:
            allreduce_bandwidth((1,) if args.smoke else (1, 64), repeat=2 if args.smoke else 5)
        except RuntimeError as e:
            print("failed:", str(e)[-300:])


if __name__ == "__main__":
    main()
