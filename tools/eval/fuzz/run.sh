#!/usr/bin/env bash
# Builds unitsface-eval's fuzzers (one per input reader) with clang's libFuzzer, ASan and UBSan,
# and runs each from its seed corpus for a short time. Exits non-zero on any finding (a crash,
# a sanitizer report, a leak or a timeout) or when the fuzzers cannot be built.
#   tools/eval/fuzz/run.sh [seconds per fuzzer, default 20] [build folder, default build-fuzz]
# A campaign: UNITSFACE_FUZZ_RUNS=10000000 runs that many inputs per fuzzer instead of a time
# limit; UNITSFACE_FUZZ_KEEP=1 then merges what the run found into the seed corpus (libFuzzer's
# -merge=1 keeps only the inputs that add coverage).
set -euo pipefail
seconds=${1:-20}
root=$(cd "$(dirname "$0")/../../.." && pwd)
build=${2:-$root/build-fuzz}
cxx=${CXX_FUZZ:-clang++}
cmake -S "$root" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DUNITSFACE_BUILD_TESTS=OFF -DUNITSFACE_BUILD_BENCHMARKS=OFF -DUNITSFACE_BUILD_EXAMPLES=OFF \
  -DUNITSFACE_ENABLE_CUDA=OFF -DUNITSFACE_BUILD_TOOLS=ON >/dev/null
if ! grep -q '^UNITSFACE_HAVE_LIBFUZZER:INTERNAL=1' "$build/CMakeCache.txt"; then
  echo "run.sh: $cxx cannot link -fsanitize=fuzzer (Debian: apt-get install libclang-rt-14-dev)" >&2
  exit 1
fi
cmake --build "$build" --target fuzz_eval_csv fuzz_eval_npy fuzz_eval_pairs -j "$(nproc)"
status=0
for reader in csv npy pairs; do
  # A scratch copy of the corpus: new inputs the run finds land in the repository only when
  # UNITSFACE_FUZZ_KEEP=1 merges them.
  corpus=$(mktemp -d)
  cp "$root/tools/eval/fuzz/corpus/$reader/"* "$corpus/"
  limit=(-max_total_time="$seconds")
  if [ -n "${UNITSFACE_FUZZ_RUNS:-}" ]; then limit=(-runs="$UNITSFACE_FUZZ_RUNS"); fi
  echo "== fuzz_eval_$reader: ${limit[*]}"
  if ! (cd "$build" && "$build/tools/eval/fuzz_eval_$reader" "${limit[@]}" \
          -max_len=4096 -timeout=10 -print_final_stats=1 "$corpus"); then
    echo "fuzz_eval_$reader: finding (reproducer: the crash-*/leak-*/timeout-* file in $build)" >&2
    status=1
  fi
  if [ "${UNITSFACE_FUZZ_KEEP:-0}" = 1 ] && [ $status = 0 ]; then
    "$build/tools/eval/fuzz_eval_$reader" -merge=1 -max_len=4096 \
      "$root/tools/eval/fuzz/corpus/$reader" "$corpus"
  fi
  rm -rf "$corpus"
done
exit $status
