#!/usr/bin/python3
"""Side-by-side timing of scikit-learn and unitsface on the same IJB-C-sized scores.

Run with Debian's python3 (python3-sklearn, python3-numpy), after building the benchmarks:

    /usr/bin/python3 bench/metrics/compare_sklearn.py --bin-dir build/bench/metrics

1. bench_metrics_dump writes the seeded synthetic scores (19,557 genuine, 15,638,932 impostor
   float32 scores; see ijbc_scores.hpp) to a binary file;
2. this script loads them and times scikit-learn's pipeline: roc_curve (full curve, as the
   at-most rule needs every point) + auc + TAR@FAR at 1e-6 ... 1e-1 (at-most rule: largest
   TPR with FPR <= target, ties to the highest threshold), and its peak extra memory
   (ru_maxrss after minus before, the input already loaded);
3. bench_metrics_run times unitsface's sort + AUC + TAR@FAR on the same file in the same run
   and reports its peak extra memory (VmHWM after minus after loading);
4. the results are compared (AUC within 1e-9, TAR / threshold / FAR exactly) and the ratio
   printed, for the sorted path and for the sort-free one (metrics/genuine_buckets.hpp: only the
   genuine scores sorted, the impostors counted; its EER is compared with the sorted path's). Single-threaded on both sides (OMP/BLAS threads are pinned to 1).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from sklearn.metrics import auc as sk_auc  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

TARGETS = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]


def load(path):
    with open(path, "rb") as f:
        n = int(np.frombuffer(f.read(8), dtype=np.int64)[0])
        scores = np.frombuffer(f.read(4 * n), dtype=np.float32).copy()
        labels = np.frombuffer(f.read(n), dtype=np.uint8).copy()
    return scores, labels


def sklearn_pipeline(scores, labels):
    fpr, tpr, thr = roc_curve(labels, scores, drop_intermediate=False)
    area = sk_auc(fpr, tpr)
    out = []
    for t in TARGETS:
        k = np.searchsorted(fpr, t, side="right") - 1  # last point with FPR <= t
        j = np.searchsorted(tpr[: k + 1], tpr[k], side="left")  # first point with that TPR
        out.append({"target": t, "tar": float(tpr[j]), "threshold": float(thr[j]),
                    "far": float(fpr[j])})
    return area, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin-dir", default="build/bench/metrics",
                    help="folder holding bench_metrics_dump and bench_metrics_run")
    ap.add_argument("--repeats", type=int, default=3, help="unitsface repeats (best is kept)")
    args = ap.parse_args()
    dump = os.path.join(args.bin_dir, "bench_metrics_dump")
    run = os.path.join(args.bin_dir, "bench_metrics_run")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ijbc_scores.bin")
        subprocess.run([dump, path], check=True)
        scores, labels = load(path)
        print(f"scores: {int(labels.sum())} genuine, {int((labels == 0).sum())} impostor, "
              f"input {scores.nbytes + labels.nbytes} bytes")

        base_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        sk_area, sk_tars = sklearn_pipeline(scores, labels)
        sk_seconds = time.perf_counter() - t0
        sk_peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_kib) * 1024

        res = subprocess.run([run, path, str(args.repeats)], check=True, capture_output=True,
                             text=True)
        uf = json.loads(res.stdout)

    ok = abs(uf["auc"] - sk_area) <= 1e-9
    print(f"{'target':>8} {'TAR sklearn':>12} {'TAR unitsface':>14} {'threshold':>12} {'FAR':>12}")
    for a, b in zip(sk_tars, uf["tar_at_far"]):
        same = a["tar"] == b["tar"] and a["threshold"] == b["threshold"] and a["far"] == b["far"]
        ok = ok and same
        print(f"{a['target']:>8.0e} {a['tar']:>12.6f} {b['tar']:>14.6f} {b['threshold']:>12.6f} "
              f"{b['far']:>12.3e} {'' if same else ' <-- differs'}")
    print(f"AUC: sklearn {sk_area:.12f}  unitsface {uf['auc']:.12f}  "
          f"(|diff| {abs(sk_area - uf['auc']):.2e})")
    mib = 1024.0 * 1024.0
    print(f"scikit-learn roc_curve + auc + TAR@FAR: {sk_seconds:8.3f} s, "
          f"peak extra {sk_peak / mib:8.1f} MiB")
    print(f"unitsface sort + AUC + TAR@FAR       : {uf['seconds']:8.3f} s "
          f"(sort {uf['seconds_sort']:.3f} s), peak extra {uf['peak_extra_bytes'] / mib:8.1f} MiB"
          f" (counted {uf['counted_peak_bytes'] / mib:.1f} MiB; input {uf['input_bytes'] / mib:.1f}"
          f" MiB)")
    print(f"unitsface full summary (AUC, pAUC, EER, 3 rules): {uf['seconds_full_summary']:.3f} s")
    same_buckets = abs(uf["buckets_auc"] - sk_area) <= 1e-9 and abs(uf["buckets_eer"] - uf["eer"]) <= 1e-12
    for a, b in zip(sk_tars, uf["buckets_tar_at_far"]):
        same_buckets = same_buckets and a["tar"] == b["tar"] and a["threshold"] == b["threshold"] \
            and a["far"] == b["far"]
    ok = ok and same_buckets
    print(f"unitsface sort-free (genuine sorted, impostors counted; AUC, EER, TAR@FAR): "
          f"{uf['seconds_buckets'] * 1e3:.1f} ms = {sk_seconds / uf['seconds_buckets']:.0f}x scikit-learn,"
          f" results agree: {'yes' if same_buckets else 'NO'}")
    print(f"speed-up: {sk_seconds / uf['seconds']:.1f}x   results agree: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
