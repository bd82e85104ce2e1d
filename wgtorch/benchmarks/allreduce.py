"""All-reduce bandwidth between 2 MPI ranks on this machine.

    python -m wgtorch.benchmarks.allreduce [--sizes 1 64] [--device cpu|wgpu]

allreduce_bandwidth() starts the ranks with mpiexec and times wgtorch.distributed.all_reduce
(SUM) of a float32 tensor of each size: the best of `repeat` calls after a warm-up,
ranks lined up by a barrier before each call. Bandwidth is the tensor's bytes over
that time (GB/s, 1e9 bytes). The figure includes everything a user's call pays: the
cross-rank shape check, and for wgpu tensors the read-back and upload."""
import argparse
import json
import os
import subprocess
import sys
import time

_MARK = "ALLREDUCE_RESULT "


def allreduce_bandwidth(sizes_mb=(1, 64), device="cpu", repeat=5, nprocs=2, verbose=True):
    """{size in MB: GB/s} of all_reduce between nprocs ranks; prints a table if verbose."""
    from ..multiprocessing import _mpiexec
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in [root, os.environ.get("PYTHONPATH")] if p))
    cmd = [_mpiexec(), "-n", str(nprocs), sys.executable, "-m", "wgtorch.benchmarks.allreduce", "--worker",
           "--device", device, "--repeat", str(repeat), "--sizes", *map(str, sizes_mb)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith(_MARK)]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"all-reduce benchmark failed (exit {out.returncode}):\n{out.stdout}\n{out.stderr}")
    result = {float(k) if "." in k else int(k): v for k, v in json.loads(lines[0][len(_MARK):]).items()}
    if verbose:
        print(f"all-reduce between {nprocs} ranks (MPI, {device}):")
        for mb, gbs in result.items():
            print(f"  {mb:>6} MB  {gbs:8.2f} GB/s")
    return result


def _worker(sizes_mb, device, repeat):
    import wgtorch
    import wgtorch.distributed as dist
    dist.init_process_group("mpi")
    result = {}
    for mb in sizes_mb:
        t = wgtorch.ones(int(mb * 1024 * 1024) // 4, device=device)
        best = float("inf")
        for i in range(repeat + 1):  # the first call warms up
            dist.barrier()
            t0 = time.perf_counter()
            dist.all_reduce(t)
            if i:
                best = min(best, time.perf_counter() - t0)
        result[str(mb)] = t.numel() * 4 / best / 1e9
    if dist.get_rank() == 0:
        print(_MARK + json.dumps(result), flush=True)
    dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 64], help="tensor sizes in MB")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(s) if float(s).is_integer() else s for s in args.sizes]
    if args.worker:
        _worker(sizes, args.device, args.repeat)
    else:
        allreduce_bandwidth(sizes, args.device, args.repeat)


if __name__ == "__main__":
    main()
