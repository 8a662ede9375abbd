#!/usr/bin/python3
"""unitsface against the official UniTSFace head in PyTorch, side by side in one run.

For each loss (USS-m over the memory at a fixed bias, CosFace with its weight gradient) and
size, bench_losses_cli_par writes its seeded inputs and times forward_backward on eigen_par
(OpenBLAS products, OpenMP passes) with a workspace kept across calls and USS-m's memory a
feature_memory with its normalised mirror, as a training loop keeps them; then PyTorch computes the same loss the official way (bench/losses/torch_heads.py),
forward + backward, on the same data: once with glibc's allocator and once with jemalloc
keeping its pages (LD_PRELOAD, MALLOC_CONF; the allocator tuning that makes PyTorch's
temporaries cheap), and also the product floor in PyTorch (the 2 or 3 matrix products the loss
cannot avoid). Every side runs in its own process with the same thread count (OMP, OpenBLAS,
torch.set_num_threads), and the losses must agree. Prints medians, the ratios and the memory
each side took beyond its inputs and outputs (peak resident set during the calls less the
resident set before them).

    /usr/bin/python3 bench/compare_pytorch.py [--cli build/bench/losses/bench_losses_cli_par]
        [--threads 2[,1]] [--repeat 5] [--sizes 512x85742x512,512x10572x512]

jemalloc: Debian's libjemalloc2 (`apt-get install libjemalloc2`); without it that column is
left out. Unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE when you measure (the unitsface program
prints the OpenBLAS kernel it runs on).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"


def thread_env(threads, allocator="glibc"):
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    env.pop("LD_PRELOAD", None)
    if allocator == "jemalloc":
        env["LD_PRELOAD"] = JEMALLOC
        # keep freed pages (no purging): the next step's temporaries reuse them
        env["MALLOC_CONF"] = "retain:true,dirty_decay_ms:-1,muzzy_decay_ms:-1"
    return env


def rss_now():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def worker(args):
    """One PyTorch measurement in this process: prints a JSON line."""
    import resource

    import torch

    sys.path.insert(0, os.path.join(HERE, "losses"))
    from torch_heads import load_inputs, torch_cosface, torch_uss

    torch.set_num_threads(args.threads)
    x, y, r = load_inputs(args.inputs, args.B, args.C, args.D)
    xt = x.clone().requires_grad_(True)
    rt = r.clone().requires_grad_(args.loss == "cosface")
    def head():
        xt.grad = None
        rt.grad = None
        value = torch_uss(xt, y, rt) if args.loss == "uss" else torch_cosface(xt, y, rt)
        value.backward()
        return value.item()

    def floor():
        # the products the loss cannot avoid: X R^T, then G R (and G^T X for CosFace)
        with torch.no_grad():
            cos = x @ r.t()
            gx = cos @ r
            gw = cos.t() @ x if args.loss == "cosface" else None
        return gx, gw

    rss0 = rss_now()
    times, value = [], 0.0
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        value = head() if args.what == "head" else (floor(), 0.0)[1]
        times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    times.sort()
    print(json.dumps({"median_s": times[len(times) // 2], "loss": value,
                      "extra_bytes": max(0, peak - rss0), "torch": torch.__version__}))


def run_json(cmd, env):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cli", default="build/bench/losses/bench_losses_cli_par")
    ap.add_argument("--threads", default="2")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--sizes", default="512x85742x512,512x10572x512")
    ap.add_argument("--losses", default="uss,cosface")
    # worker mode (internal)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--what", default="head", help=argparse.SUPPRESS)
    ap.add_argument("--inputs", help=argparse.SUPPRESS)
    ap.add_argument("--loss", help=argparse.SUPPRESS)
    ap.add_argument("--B", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--C", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--D", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--threads-worker", type=int, dest="threads_worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.threads = args.threads_worker
        worker(args)
        return
    if not os.access(args.cli, os.X_OK):
        sys.exit(f"{args.cli}: not built (cmake -DUNITSFACE_BUILD_BENCHMARKS=ON, target "
                 "bench_losses_cli_par)")
    allocators = ["glibc"] + (["jemalloc"] if os.path.exists(JEMALLOC) else [])
    mib = 1024.0 * 1024.0
    print(f"{'loss':8} {'B':>4} {'C':>7} {'D':>4} {'thr':>3} {'unitsface':>10} {'extra':>8} "
          + " ".join(f"{'torch ' + a:>15} {'ratio':>6} {'extra':>8}" for a in allocators)
          + f" {'torch floor':>11} {'ours/floor':>10} {'|dloss|':>8}")
    printed_blas = False
    for size in args.sizes.split(","):
        B, C, D = (int(v) for v in size.split("x"))
        for loss in args.losses.split(","):
            for threads in (int(t) for t in args.threads.split(",")):
                with tempfile.TemporaryDirectory() as tmp:
                    dump = os.path.join(tmp, "inputs.bin")
                    ours = run_json([args.cli, "--loss", loss, "--B", str(B), "--C", str(C),
                                     "--D", str(D), "--repeat", str(args.repeat), "--dump", dump,
                                     "--workspace", "1", "--mirror", "1"], thread_env(threads))
                    common = [sys.executable, os.path.abspath(__file__), "--worker",
                              "--inputs", dump, "--loss", loss, "--B", str(B), "--C", str(C),
                              "--D", str(D), "--repeat", str(args.repeat),
                              "--threads-worker", str(threads)]
                    theirs = [run_json(common + ["--what", "head"], thread_env(threads, a))
                              for a in allocators]
                    fl = run_json(common + ["--what", "floor"], thread_env(threads, "jemalloc"
                                                                          if len(allocators) > 1
                                                                          else "glibc"))
                if not printed_blas:
                    print(f"unitsface: OpenBLAS {ours['openblas']}; torch {theirs[0]['torch']}",
                          flush=True)
                    printed_blas = True
                diff = max(abs(t["loss"] - ours["loss"]) / abs(t["loss"]) for t in theirs)
                cols = " ".join(f"{t['median_s']:14.3f}s {t['median_s'] / ours['median_s']:5.2f}x "
                                f"{t['extra_bytes'] / mib:7.0f}M" for t in theirs)
                print(f"{loss:8} {B:4d} {C:7d} {D:4d} {threads:3d} {ours['median_s']:9.3f}s "
                      f"{ours['extra_bytes'] / mib:7.0f}M {cols} {fl['median_s']:10.3f}s "
                      f"{ours['median_s'] / fl['median_s']:9.2f}x {diff:8.1e}", flush=True)
                if diff > 1e-4:
                    sys.exit(f"{loss} B={B} C={C}: the losses disagree ({diff:.1e})")


if __name__ == "__main__":
    main()
