#!/usr/bin/env python3
"""The official UniTSFace heads in PyTorch on the GPU, next to PyTorch's own product floor, for
the GPU check's table (bench/gpu/check.sh; unitsface's side is bench_backends_cuda):

    python3 bench/gpu/torch_cuda.py [--sizes 512x85742x512,512x2000000x512] [--repeat 5]

USS-m (per pair over the memory at a fixed bias, official clamp) and CosFace (learnable
weights), forward + backward, float32 with TF32 off (as unitsface's fp32 rows) and on (as its
tf32 rows); the floor is the 2 (USS-m) or 3 (CosFace) torch.mm products of the same shapes.
Median of `repeat` timed calls after one warm-up, each ended by torch.cuda.synchronize(); the
peak memory PyTorch's allocator held during the calls beyond the inputs. Exits with 77 when
PyTorch sees no CUDA device.
"""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "losses"))
from torch_heads import torch_cosface, torch_uss  # noqa: E402


def timed(fn, repeat, sync):
    fn()
    sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="512x85742x512,512x2000000x512")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--device", default="cuda", help="cpu: a rehearsal of the script itself")
    args = ap.parse_args()
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        print("torch_cuda.py: PyTorch sees no CUDA device: skipped")
        return 77
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    print(f"PyTorch {torch.__version__} on {torch.cuda.get_device_name(0) if cuda else 'the CPU'}")
    for size in args.sizes.split(","):
        B, C, D = (int(v) for v in size.split("x"))
        gen = torch.Generator(device=dev).manual_seed(7)
        x = torch.randn(B, D, device=dev, generator=gen)
        w = torch.randn(C, D, device=dev, generator=gen)
        y = (torch.arange(B, device=dev) * 7919) % C
        for tf32 in (False, True):
            torch.backends.cuda.matmul.allow_tf32 = tf32
            mode = "tf32" if tf32 else "fp32"
            for loss in ("uss", "cosface"):
                xg = x.clone().requires_grad_(True)
                wg = w.clone().requires_grad_(loss == "cosface")

                def call():
                    xg.grad = None
                    wg.grad = None
                    head = torch_uss if loss == "uss" else torch_cosface
                    head(xg, y, wg).backward()

                def floor():
                    cos = x @ w.t()
                    gx = cos @ w
                    if loss == "cosface":
                        gw = cos.t() @ x
                        return gx, gw
                    return gx

                if cuda:
                    torch.cuda.reset_peak_memory_stats()
                base = torch.cuda.memory_allocated() if cuda else 0
                t = timed(call, args.repeat, sync)
                peak = torch.cuda.max_memory_allocated() - base if cuda else 0
                f = timed(floor, args.repeat, sync)
                print(f"torch/{loss}/{mode}/B:{B}/C:{C}/D:{D}  official {t * 1e3:.2f} ms  "
                      f"floor {f * 1e3:.2f} ms  ratio {t / f:.2f}  peak extra {peak / 2**30:.2f} GiB")
                del xg, wg
                if cuda:
                    torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
