#!/usr/bin/env bash
# The GPU check: on a machine with an NVIDIA GPU, builds the CUDA targets for its
# architecture, runs the CUDA conformance runners (losses, metrics) and test suites (the
# agreement suite also under compute-sanitizer when it is installed), runs the GPU benchmarks
# (losses against the cuBLAS product floor at C = 85,742 and 2,000,000, in FP32, TF32 and BF16;
# IJB-C-size metrics; all-pairs verification of ALL_PAIRS_N embeddings), and prints a short
# table — all within a budget of 8 minutes (CHECK_BUDGET_S).
#
#   bench/gpu/prepare.sh      # once, on a machine with apt (fills .gpu/)
#   bench/gpu/check.sh        # on the GPU machine, from a checkout that carries .gpu/
#
# Needs CUDA (nvcc, nvidia-smi), CMake >= 3.25 and a C++20 host compiler; everything else
# comes from .gpu/prefix. Logs and results go to $OUT (when set) or build-gpu/results.
# Exit status: 0 every step passed; 1 a step failed or timed out; 3 no CUDA device was usable,
# so the device steps were skipped (the script then checks the build only).
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
start=$SECONDS
budget=${CHECK_BUDGET_S:-480}
build=$root/build-gpu
results=${OUT:-$build/results}
mkdir -p "$results"
jobs=$(nproc 2>/dev/null || echo 4)

if [[ ! -d $root/.gpu/prefix ]]; then
  echo "check.sh: .gpu/ is missing or incomplete: run bench/gpu/prepare.sh first" >&2
  exit 2
fi
export PATH=/usr/local/cuda/bin:$PATH
prefix=$root/.gpu/prefix/usr
# The CUDA runtime and cuBLAS: CMake leaves nvcc's own library folders out of the
# executables' RPATH (they are implicit link directories), and not every machine lists them
# for the dynamic loader.
cuda_root=$(dirname "$(dirname "$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)")")
cuda_libs=$cuda_root/lib64
for d in "$cuda_root"/targets/*/lib; do [[ -d $d ]] && cuda_libs+=:$d; done
export LD_LIBRARY_PATH=$prefix/lib/x86_64-linux-gnu:$cuda_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

# The GPU's architecture (sm_90 on H100/H200), from nvidia-smi; 90 when it cannot say.
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '. ')
arch=${arch:-90}
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)

rows=()  # "step|status|seconds"
# step NAME LIMIT_S CMD...: runs CMD with a time limit (capped by what is left of the
# budget), logs to $results/NAME.log, records the outcome. CHECK_ONLY (a list of step names)
# leaves the others out.
step() {
  local name=$1 limit=$2
  shift 2
  # CHECK_ONLY="name ...": run only the steps named (configure and build always run)
  if [[ -n ${CHECK_ONLY:-} && $name != configure && $name != build &&
    " $CHECK_ONLY " != *" $name "* ]]; then
    rows+=("$name|not selected (CHECK_ONLY)|0")
    return 0
  fi
  local left=$((budget - (SECONDS - start) - 5))
  if ((left < 10)); then
    rows+=("$name|not run (budget spent)|0")
    return 1
  fi
  ((limit > left)) && limit=$left
  local t0=$SECONDS rc status
  timeout --kill-after=5 "$limit" "$@" >"$results/$name.log" 2>&1
  rc=$?
  case $rc in
    0) status=ok ;;
    77) status=skipped ;;
    124 | 137) status="timeout (${limit}s)" ;;
    *) status="FAILED (rc $rc)" ;;
  esac
  rows+=("$name|$status|$((SECONDS - t0))")
  return $rc
}

# CHECK_STAGE=build (on a machine without a GPU, from the same tree): configure and build only,
# then copy the executables into .gpu/prebuilt with the tree's checksums and the folder they
# were built in (their conformance runners read the vectors from there). CHECK_PREBUILT=1 (on
# the GPU machine): use those executables instead of building, when they load there and the
# tree is unchanged (else build as usual). The loss unit alone takes nvcc over two minutes,
# which a time-limited GPU lease then spends on the tests instead.
stage=${CHECK_STAGE:-all}
prebuilt_dir=$root/.gpu/prebuilt
exes=(cuda/losses_cuda cuda/metrics_cuda cuda/bench_metrics_cuda cuda/bench_all_pairs_cuda
  bench/backends/bench_backends_cuda)
use_prebuilt() {
  [[ ${CHECK_PREBUILT:-0} == 1 && -f $prebuilt_dir/SOURCE_ROOT ]] || return 1
  local src e
  src=$(cat "$prebuilt_dir/SOURCE_ROOT")
  if ! (cd "$root" && sha1sum --quiet -c "$prebuilt_dir/SOURCES.sha1" >/dev/null 2>&1); then
    echo "check.sh: the tree differs from the prebuilt executables' tree: building" >&2
    return 1
  fi
  for e in "${exes[@]}"; do
    if [[ ! -x $prebuilt_dir/$e ]] || ldd "$prebuilt_dir/$e" | grep -q 'not found'; then
      echo "check.sh: $e is missing or does not load here: building" >&2
      ldd "$prebuilt_dir/$e" 2>&1 | grep 'not found' >&2
      return 1
    fi
  done
  # The conformance runners read the vectors from the folder they were built in.
  if [[ $src != "$root" && ! -e $src ]]; then
    mkdir -p "$(dirname "$src")" && ln -s "$root" "$src" || return 1
  fi
  [[ -d $src/tests/data/vectors ]] || return 1
  build=$prebuilt_dir
}

# The CPU suites' MPI tests stay out (UNITSFACE_TEST_MPI=OFF: they require MPI, which the GPU
# machine need not have; the check builds CUDA targets only, and distributed_nccl finds MPI
# by itself where there is one).
# Ninja builds the named targets in parallel (Makefiles one after another).
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
targets=(losses_cuda bench_backends_cuda metrics_cuda bench_metrics_cuda bench_all_pairs_cuda)
# The sharded losses through NCCL need MPI (to hand out the NCCL id) and its launcher.
mpirun_=$(command -v mpirun || true)
[[ -n $mpirun_ && $stage != build ]] && targets+=(distributed_nccl)
if use_prebuilt; then
  rows+=("build|prebuilt (.gpu/prebuilt)|0")
else
step configure 120 cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CUDA_ARCHITECTURES="$arch" -DCMAKE_PREFIX_PATH="$prefix" \
  -DUNITSFACE_BUILD_EXAMPLES=OFF -DUNITSFACE_BUILD_BENCHMARKS=ON -DUNITSFACE_ENABLE_CUDA=ON \
  -DUNITSFACE_TEST_MPI=OFF
step build "${CHECK_BUILD_LIMIT_S:-300}" cmake --build "$build" -j"$jobs" --target "${targets[@]}"
fi
if [[ $stage == build ]]; then
  rm -rf "$prebuilt_dir"
  for e in "${exes[@]}"; do
    mkdir -p "$prebuilt_dir/$(dirname "$e")" && cp "$build/$e" "$prebuilt_dir/$e" || exit 1
  done
  echo "$root" >"$prebuilt_dir/SOURCE_ROOT"
  (cd "$root" && git ls-files -z CMakeLists.txt cmake include cuda bench tests ':!bench/gpu' |
    xargs -0 sha1sum >"$prebuilt_dir/SOURCES.sha1") || exit 1
  echo "check.sh: executables in $prebuilt_dir ($(du -sh "$prebuilt_dir" | cut -f1))"
  exit 0
fi

# losses_cuda holds the loss module's CUDA tests in one unit (cuda/loss_tests_cuda.cu),
# selected by tag: the conformance runner, the agreement suite, and the other suites.
step conformance 90 "$build/cuda/losses_cuda" "[conformance]"
step metrics_conformance 60 "$build/cuda/metrics_cuda" "[conformance]"
step metrics_suite 60 "$build/cuda/metrics_cuda" "~[conformance]~[protocols]"
# The benchmark protocols (IJB-C 1:1, 1:N, MegaFace, all-pairs) with cuBLAS similarity tiles.
step protocols_conformance 60 "$build/cuda/metrics_cuda" "[protocols]"
step agreement 60 "$build/cuda/losses_cuda" "[agreement]"
step loss_suites 120 "$build/cuda/losses_cuda" "~[conformance]~[agreement]"
# Every loss over class shards, the ranks exchanging device buffers through NCCL, against
# one process on the device: 1 rank; 2 ranks where there are two devices (NCCL refuses two
# ranks on one device, and the program reports itself skipped).
if [[ -n $mpirun_ && -x $build/cuda/distributed_nccl ]]; then
  for np in 1 2; do
    step "nccl_np$np" 120 env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
      OMPI_MCA_btl_vader_single_copy_mechanism=none \
      "$mpirun_" -np "$np" --oversubscribe "$build/cuda/distributed_nccl"
  done
else
  rows+=("nccl_np1|not run (no mpirun)|0")
fi
# USS-m and CosFace against their cuBLAS floors (B = 512, C = 85,742 and 2,000,000: issue 9's
# table; the TF32 and BF16 rows with their error against FP32).
step bench 150 "$build/bench/backends/bench_backends_cuda" --benchmark_min_time=0.2 \
  --benchmark_out="$results/bench_cuda.json" --benchmark_out_format=json
# IJB-C-size verification summary on the device (15.7 M scores; a few seconds).
step metrics_bench 60 "$build/cuda/bench_metrics_cuda" --benchmark_min_time=0.5 \
  --benchmark_out="$results/bench_metrics_cuda.json" --benchmark_out_format=json
# The official heads in PyTorch on the same GPU (bench/gpu/torch_cuda.py), where the machine
# has a PyTorch with CUDA; nothing is installed for it.
py=$(command -v python3 || true)
if [[ -n $py ]] &&
  "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  step torch_cuda 120 "$py" "$root/bench/gpu/torch_cuda.py"
else
  rows+=("torch_cuda|not run (no PyTorch with CUDA)|0")
fi
# All-pairs verification of ALL_PAIRS_N synthetic embeddings (D = 512, 10 per identity):
# cuBLAS tiles counted on the device (protocols/all_pairs_device.hpp), then the same tiles'
# products alone. 100,000 (5e9 pairs) by default; 1,000,000 (5e11 pairs) is estimated at
# 11-13 s for all_pairs on an H200 plus as much for the products alone and the host's
# synthetic set (docs/protocols.md).
step all_pairs 120 "$build/cuda/bench_all_pairs_cuda" "${ALL_PAIRS_N:-100000}"

# The sanitizers last: they are slow, and the benchmarks above matter more within a budget.
sanitizer=$(command -v compute-sanitizer || true)
if [[ -z $sanitizer && -x $cuda_root/compute-sanitizer/compute-sanitizer ]]; then
  sanitizer=$cuda_root/compute-sanitizer/compute-sanitizer
fi
if [[ -n $sanitizer ]]; then
  # The agreement suite is small (B = 12, D = 24): every loss, float and double, on device.
  # memcheck: out-of-bounds and misaligned accesses, leaks; racecheck: shared-memory hazards
  # between the threads of a block (the row reductions).
  step memcheck 120 "$sanitizer" --tool memcheck --leak-check full --error-exitcode 1 \
    "$build/cuda/losses_cuda" "[agreement]"
  step racecheck 120 "$sanitizer" --tool racecheck --error-exitcode 1 "$build/cuda/losses_cuda" \
    "[agreement]"
  # The metrics' and protocols' device code (the summary's histogram, all-pairs' counting
  # kernel with its block reductions and integer atomics): every CUDA metrics test (40 s on an
  # H200).
  step memcheck_metrics 120 "$sanitizer" --tool memcheck --leak-check full --error-exitcode 1 \
    "$build/cuda/metrics_cuda"
  # racecheck over the whole suite outlasts 120 s (Thrust's sorts): only the block-private
  # histogram (count_bins, shared-memory atomics between barriers), over the sort-free cases.
  step racecheck_metrics 90 "$sanitizer" --tool racecheck --kernel-name kns=count_bins \
    --error-exitcode 1 "$build/cuda/metrics_cuda" "[sort_free]"
else
  rows+=("memcheck|not run (no compute-sanitizer)|0" "racecheck|not run (no compute-sanitizer)|0")
  rows+=("memcheck_metrics|not run (no compute-sanitizer)|0")
fi
# All-pairs at a larger N (ALL_PAIRS_LARGE_N, e.g. 1000000: 5e11 pairs), with what is left of
# the budget, after everything else.
if [[ -n ${ALL_PAIRS_LARGE_N:-} ]]; then
  step all_pairs_large "${ALL_PAIRS_LARGE_LIMIT_S:-300}" "$build/cuda/bench_all_pairs_cuda" \
    "$ALL_PAIRS_LARGE_N"
fi

echo
echo "GPU check on ${gpu:-an unknown GPU} (sm_$arch), $((SECONDS - start)) s"
printf '%-20s %-32s %6s\n' step result seconds
for r in "${rows[@]}"; do
  IFS='|' read -r n s t <<<"$r"
  printf '%-20s %-32s %6s\n' "$n" "$s" "$t"
done
echo
echo "CUDA conformance (summary; failures listed):"
grep -E '^FAIL|passed, .* failed' "$results/conformance.log" 2>/dev/null | tail -20
echo
echo "CUDA metrics conformance (summary; failures listed):"
grep -E '^FAIL|passed, .* failed' "$results/metrics_conformance.log" 2>/dev/null | tail -20
echo
echo "CUDA protocols conformance (summary; failures listed):"
grep -E '^FAIL|passed, .* failed' "$results/protocols_conformance.log" 2>/dev/null | tail -20
echo
echo "Losses against their cuBLAS floors (float, D = 512; floor_ratio, TF32/BF16 error vs FP32):"
grep -E '^(uss|cosface|floor)' "$results/bench.log" 2>/dev/null
grep -E '^(PyTorch|torch/)' "$results/torch_cuda.log" 2>/dev/null
echo
echo "Metrics benchmark (IJB-C size, float, wall time):"
grep -E '^cuda/' "$results/metrics_bench.log" 2>/dev/null
echo
echo "All-pairs verification:"
grep -E 'all_pairs/|TAR' "$results"/all_pairs*.log 2>/dev/null
# The end of each failed step's log, so that one run's output is enough to start a fix.
failed=0 skipped=0
for r in "${rows[@]}"; do
  IFS='|' read -r n s t <<<"$r"
  if [[ $s == FAILED* || $s == timeout* ]]; then
    failed=1
    echo
    echo "--- $n: $s; the last 25 lines of $n.log:"
    tail -n 25 "$results/$n.log" 2>/dev/null
  fi
  [[ $s == skipped ]] && skipped=1
done
# 1: a step failed or timed out; 3: the build passed but the executables found no CUDA device
# (each exits with 77), as on a machine without a GPU, where the script is a build check.
((failed)) && exit 1
if ((skipped)); then
  echo "check.sh: no CUDA device was usable; the device steps were skipped" >&2
  exit 3
fi
exit 0
