#!/usr/bin/env bash
# Builds unitsface-eval's fuzzers (one per input reader) with clang's libFuzzer, ASan and UBSan,
# and runs each from its seed corpus for a short time. Exits non-zero on any finding (a crash,
# a sanitizer report, a leak or a timeout) or when the fuzzers cannot be built.
#   tools/eval/fuzz/run.sh [seconds per fuzzer, default 20] [build folder, default build-fuzz]
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
cmake --build "$build" --target fuzz_eval_csv fuzz_eval_npy -j "$(nproc)"
status=0
for reader in csv npy; do
  # A scratch copy of the corpus: new inputs the run finds must not land in the repository.
  corpus=$(mktemp -d)
  cp "$root/tools/eval/fuzz/corpus/$reader/"* "$corpus/"
  echo "== fuzz_eval_$reader: $seconds s"
  if ! (cd "$build" && "$build/tools/eval/fuzz_eval_$reader" -max_total_time="$seconds" \
          -max_len=4096 -timeout=10 -print_final_stats=1 "$corpus"); then
    echo "fuzz_eval_$reader: finding (reproducer: the crash-*/leak-*/timeout-* file in $build)" >&2
    status=1
  fi
  rm -rf "$corpus"
done
exit $status
