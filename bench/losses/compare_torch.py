#!/usr/bin/python3
"""Side-by-side: unitsface (Eigen backend) against PyTorch on the same inputs, in one run.

Runs bench_losses_cli, which writes its seeded inputs and times one forward_backward of the
loss; then times the same loss in PyTorch (the official UniTSFace head formulation: USS-m
per-pair with the clamp, and CosFace), forward + backward, on the same data; checks that the
two losses agree and prints the ratio. Both sides single-threaded: torch.set_num_threads(1)
does not reach the BLAS library PyTorch's products may call (Debian's PyTorch uses the
system BLAS, OpenBLAS), so the thread counts of OpenBLAS, OpenMP and MKL are pinned to 1 in
the environment, before torch is imported, for this process and the unitsface one alike.

    /usr/bin/python3 bench/losses/compare_torch.py build/bench/losses/bench_losses_cli
"""
import json
import os
import subprocess
import sys
import tempfile
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402 (after the thread settings)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(1)


def torch_uss(x, y, memory, s=64.0, m=0.1, b=30.0):
    cos = F.linear(F.normalize(x, eps=1e-5), F.normalize(memory, eps=1e-5))
    one_hot = torch.zeros_like(cos, dtype=torch.bool)
    one_hot.scatter_(1, y.view(-1, 1), True)
    zp = (s * (cos - m) - b).clamp(-s, s)
    zn = (s * cos - b).clamp(-s, s)
    loss = torch.where(one_hot, F.softplus(-zp), F.softplus(zn))
    return loss.sum(dim=1).mean()


def torch_cosface(x, y, weight, s=64.0, m=0.4):
    cos = F.linear(F.normalize(x, eps=1e-5), F.normalize(weight, eps=1e-5))
    one_hot = torch.zeros_like(cos)
    one_hot.scatter_(1, y.view(-1, 1), 1.0)
    return F.cross_entropy(s * (cos - m * one_hot), y)


def main():
    cli = sys.argv[1] if len(sys.argv) > 1 else "build/bench/losses/bench_losses_cli"
    B, D, repeat = 256, 512, 5
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; B={B} D={D} float32")
    print(f"{'loss':8} {'C':>7} {'unitsface s':>12} {'torch s':>10} {'ratio':>7} {'|dloss|':>9}")
    for loss in ("uss", "cosface"):
        for C in (10000, 50000):
            with tempfile.TemporaryDirectory() as tmp:
                dump = os.path.join(tmp, "inputs.bin")
                out = subprocess.run([cli, "--loss", loss, "--B", str(B), "--C", str(C), "--D",
                                      str(D), "--repeat", str(repeat), "--dump", dump],
                                     check=True, capture_output=True, text=True).stdout
                ours = json.loads(out)
                raw = open(dump, "rb").read()
            nx, ny = B * D * 4, B * 8
            x = torch.from_numpy(np.frombuffer(raw[:nx], dtype=np.float32).reshape(B, D).copy())
            y = torch.from_numpy(np.frombuffer(raw[nx:nx + ny], dtype=np.int64).copy())
            r = torch.from_numpy(np.frombuffer(raw[nx + ny:], dtype=np.float32).reshape(C, D).copy())
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
            diff = abs(value.item() - ours["loss"]) / abs(value.item())
            print(f"{loss:8} {C:7d} {ours['median_s']:12.4f} {t_torch:10.4f} "
                  f"{t_torch / ours['median_s']:6.2f}x {diff:9.1e}")
            if diff > 1e-4:
                print("  losses disagree", file=sys.stderr)
                sys.exit(1)


if __name__ == "__main__":
    main()
