#!/usr/bin/python3
"""Side-by-side: unitsface (Eigen backend) against PyTorch on the same inputs, in one run.

Runs bench_losses_cli, which writes its seeded inputs and times one forward_backward of the
loss; then times the same loss in PyTorch (the official UniTSFace head formulation: USS-m
per-pair with the clamp, and CosFace), forward + backward, on the same data; checks that the
two losses agree and prints the ratio. Both sides single-threaded: torch.set_num_threads(1)
does not reach the BLAS library PyTorch's products may call (Debian's PyTorch uses the
system BLAS, OpenBLAS), so the thread counts of OpenBLAS, OpenMP and MKL are pinned to 1 in
the environment, before torch is imported, for this process and the unitsface one alike.

    /usr/bin/python3 bench/losses/compare_torch.py build/bench/losses/bench_losses_cli \
        [build/bench/losses/bench_losses_cli_blas]

With several programs (bench_losses_cli_blas: the Eigen backend with its products sent to
OpenBLAS through EIGEN_USE_BLAS), each is timed on the same inputs and gets a ratio column.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import torch  # noqa: E402 (after the thread settings)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_heads import load_inputs, torch_cosface, torch_uss  # noqa: E402

torch.set_num_threads(1)


def run_cli(cli, loss, B, C, D, repeat, dump=None):
    args = [cli, "--loss", loss, "--B", str(B), "--C", str(C), "--D", str(D),
            "--repeat", str(repeat)] + (["--dump", dump] if dump else [])
    return json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)


def main():
    clis = sys.argv[1:] or ["build/bench/losses/bench_losses_cli"]
    B, D, repeat = 256, 512, 5
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; B={B} D={D} float32")
    names = [os.path.basename(c) for c in clis]
    print(f"{'loss':8} {'C':>7} {'torch s':>9} " +
          " ".join(f"{n + ' s':>22} {'ratio':>6}" for n in names) + f" {'|dloss|':>9}")
    for loss in ("uss", "cosface"):
        for C in (10000, 50000):
            with tempfile.TemporaryDirectory() as tmp:
                dump = os.path.join(tmp, "inputs.bin")
                # Every program writes the same seeded inputs; the first one's are read back.
                ours = [run_cli(c, loss, B, C, D, repeat, dump if i == 0 else None)
                        for i, c in enumerate(clis)]
                x, y, r = load_inputs(dump, B, C, D)
            times = []
            for _ in range(repeat):
                xt = x.clone().requires_grad_(True)
                rt = r.clone().requires_grad_(loss == "cosface")
                t0 = time.perf_counter()
                value = torch_uss(xt, y, rt) if loss == "uss" else torch_cosface(xt, y, rt)
                value.backward()
                times.append(time.perf_counter() - t0)
            times.sort()
            t_torch = times[len(times) // 2]
            diff = max(abs(value.item() - o["loss"]) / abs(value.item()) for o in ours)
            print(f"{loss:8} {C:7d} {t_torch:9.4f} " +
                  " ".join(f"{o['median_s']:22.4f} {t_torch / o['median_s']:5.2f}x" for o in ours) +
                  f" {diff:9.1e}")
            if diff > 1e-4:
                print("  losses disagree", file=sys.stderr)
                sys.exit(1)


if __name__ == "__main__":
    main()
