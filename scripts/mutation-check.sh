#!/usr/bin/env bash
# Mutation check: does the test suite notice small, realistic bugs in the library's headers?
#
# Each mutation (tests/mutations/mutations.txt, format in tests/mutations/README.md) replaces
# one exact piece of text in one header. The script works on a scratch copy of the committed
# tree (git archive HEAD), never on the working tree:
#   1. extracts HEAD into a scratch folder under /tmp and configures one build there (Release,
#      no CUDA, no benchmarks or examples, test backends host and thrust_omp only);
#   2. builds every target the selected mutations name, once, and checks that the unmutated
#      tests their regexes select pass (a failing baseline would make every verdict meaningless);
#   3. for each mutation: applies it, rebuilds only its targets, runs only its CTest regex under
#      a time limit, and records KILLED (a test failed or timed out, or the build failed) or
#      SURVIVED; then puts the original header back;
#   4. prints a table (Markdown) and a summary line.
# A mutation whose text is missing or ambiguous in the header gets no verdict: a header that
# drifted away from the list must not make a mutation silently apply nowhere.
#
# Usage: scripts/mutation-check.sh [--only ID[,ID...]] [--list FILE] [--keep] [--jobs N]
#                                  [--timeout SECONDS] [--build-timeout SECONDS] [--repo DIR]
# Exit status: 0 every selected mutation has a verdict (KILLED or SURVIVED); 1 some mutation has
# none (text missing or ambiguous, bad line); 2 usage error, or the build or the unmutated tests
# failed.
set -euo pipefail
# Bash 5.2 expands `&` in the replacement of ${var/pattern/replacement}; the replacement is
# quoted below, which already keeps it literal, and this makes sure of it on any 5.2 setting.
shopt -u patsub_replacement 2>/dev/null || true

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)
list=""
only=""
keep=0
jobs=$(nproc 2>/dev/null || echo 2)
test_timeout=300
build_timeout=1800

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

while (($# > 0)); do
  case $1 in
    --only) only=${2:?--only needs an id}; shift 2 ;;
    --list) list=${2:?--list needs a file}; shift 2 ;;
    --keep) keep=1; shift ;;
    --jobs) jobs=${2:?--jobs needs a number}; shift 2 ;;
    --timeout) test_timeout=${2:?--timeout needs seconds}; shift 2 ;;
    --build-timeout) build_timeout=${2:?--build-timeout needs seconds}; shift 2 ;;
    --repo) repo=$(cd "${2:?--repo needs a folder}" && pwd); shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "mutation-check: unknown argument '$1' (--help lists them)" >&2; exit 2 ;;
  esac
done
# The list is read from the working tree (so that a new mutation can be tried before it is
# committed); the headers it mutates come from HEAD.
list=${list:-$repo/tests/mutations/mutations.txt}
[[ -f $list ]] || { echo "mutation-check: no mutation list at $list" >&2; exit 2; }
for n in "$jobs" "$test_timeout" "$build_timeout"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "mutation-check: '$n' is not a positive number" >&2; exit 2; }
done
git -C "$repo" rev-parse --verify -q HEAD >/dev/null ||
  { echo "mutation-check: $repo is not a git repository with a commit" >&2; exit 2; }

# ---- the list ------------------------------------------------------------------------------
# Fields are separated by " | " (space, bar, space); C++'s `||` and `|` without both spaces stay
# inside a field.
ids=() headers=() originals=() replacements=() regexes=() targets=() descriptions=()
bad_lines=()
split_fields() {  # fills the array `fields`
  local rest=$1
  fields=()
  while [[ $rest == *" | "* ]]; do
    fields+=("${rest%%" | "*}")
    rest=${rest#*" | "}
  done
  fields+=("$rest")
}
lineno=0
while IFS= read -r line || [[ -n $line ]]; do
  lineno=$((lineno + 1))
  line=${line%$'\r'}
  [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
  split_fields "$line"
  if ((${#fields[@]} != 7)); then
    bad_lines+=("$list:$lineno: ${#fields[@]} fields, 7 expected")
    continue
  fi
  id=${fields[0]}
  if [[ ! $id =~ ^[A-Za-z0-9._-]+$ ]]; then
    bad_lines+=("$list:$lineno: bad id '$id'")
    continue
  fi
  if [[ -n $only && ",$only," != *",$id,"* ]]; then
    continue
  fi
  for known in "${ids[@]}"; do
    [[ $known == "$id" ]] && bad_lines+=("$list:$lineno: id '$id' used twice")
  done
  if [[ -z ${fields[2]} || ${fields[2]} == "${fields[3]}" || -z ${fields[4]} || -z ${fields[5]} ]]; then
    bad_lines+=("$list:$lineno: '$id' needs an original text, a different replacement, a regex and targets")
    continue
  fi
  ids+=("$id")
  headers+=("${fields[1]}")
  originals+=("${fields[2]}")
  replacements+=("${fields[3]}")
  regexes+=("${fields[4]}")
  targets+=("${fields[5]}")
  descriptions+=("${fields[6]}")
done <"$list"
if [[ -n $only ]]; then
  IFS=, read -r -a wanted <<<"$only"
  for w in "${wanted[@]}"; do
    found=0
    for id in "${ids[@]}"; do [[ $id == "$w" ]] && found=1; done
    ((found)) || bad_lines+=("--only: no mutation '$w' in $list")
  done
fi
for b in "${bad_lines[@]}"; do echo "mutation-check: $b" >&2; done
if ((${#ids[@]} == 0)); then
  echo "mutation-check: no mutation selected" >&2
  exit $((${#bad_lines[@]} > 0 ? 1 : 2))
fi

# ---- the scratch copy of HEAD --------------------------------------------------------------
scratch=$(mktemp -d /tmp/unitsface-mutation.XXXXXX)
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  if ((keep)); then
    echo "mutation-check: scratch folder kept: $scratch"
  else
    rm -rf -- "$scratch"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
src=$scratch/src
build=$scratch/build
logs=$scratch/logs
mkdir -p "$src" "$logs"
commit=$(git -C "$repo" rev-parse HEAD)
git -C "$repo" archive HEAD | tar -x -C "$src"
echo "mutation-check: HEAD $commit extracted to $src"

count_occurrences() {  # count_occurrences TEXT NEEDLE: non-overlapping occurrences
  local hay=$1 n=0
  while [[ $hay == *"$2"* ]]; do
    hay=${hay#*"$2"}
    n=$((n + 1))
  done
  echo "$n"
}
read_file() {  # read_file FILE VAR: the exact contents, trailing newlines included
  local content
  content=$(cat -- "$1" && printf x)
  printf -v "$2" '%s' "${content%x}"
}

# Every mutation's text is checked before anything is built, so that a drifted list fails in
# seconds.
n=${#ids[@]}
results=() killers=()
text=""
for ((i = 0; i < n; i++)); do
  results[i]=""
  killers[i]=""
  h=$src/${headers[i]}
  if [[ ! -f $h ]]; then
    results[i]="NO VERDICT"
    killers[i]="header not in HEAD"
    continue
  fi
  read_file "$h" text
  c=$(count_occurrences "$text" "${originals[i]}")
  if ((c != 1)); then
    results[i]="NO VERDICT"
    if ((c == 0)); then killers[i]="original text not found"; else killers[i]="original text found $c times"; fi
  fi
done

# ---- one build -----------------------------------------------------------------------------
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
echo "mutation-check: configuring $build"
# Not the MPI suites: their tests match the regexes (losses.host.conformance_ranks3) but their
# programs are not among any mutation's targets, so they would fail unbuilt.
if ! cmake -S "$src" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DUNITSFACE_ENABLE_CUDA=OFF -DUNITSFACE_BUILD_BENCHMARKS=OFF -DUNITSFACE_BUILD_EXAMPLES=OFF \
  -DUNITSFACE_TEST_MPI=OFF "-DUNITSFACE_TEST_BACKENDS_FILTER=host;thrust_omp" \
  >"$logs/configure.log" 2>&1; then
  tail -n 30 "$logs/configure.log" >&2
  echo "mutation-check: configure failed" >&2
  exit 2
fi

all_targets=() all_regex=""
for ((i = 0; i < n; i++)); do
  [[ -n ${results[i]} ]] && continue
  read -r -a ts <<<"${targets[i]}"
  for t in "${ts[@]}"; do
    [[ " ${all_targets[*]} " == *" $t "* ]] || all_targets+=("$t")
  done
  # Joined by a bare `|`: alternation is associative, and CMake's regular expressions allow
  # only 10 groups, so the regexes cannot each be put in parentheses.
  [[ "|$all_regex|" == *"|${regexes[i]}|"* ]] || all_regex+="${all_regex:+|}${regexes[i]}"
done

build_targets() {  # build_targets LOG TARGET...: nice'd, time-limited
  local log=$1
  shift
  timeout --kill-after=30 "$build_timeout" \
    nice -n 10 cmake --build "$build" -j "$jobs" --target "$@" >"$log" 2>&1
}
run_tests() {  # run_tests LOG REGEX: stops at the first failure, each test and the run limited
  timeout --kill-after=30 $((test_timeout + 60)) \
    ctest --test-dir "$build" -R "$2" --no-tests=error --stop-on-failure -j "$jobs" \
    --timeout "$test_timeout" >"$1" 2>&1
}
failed_tests() {  # the names CTest lists under "The following tests FAILED", with the reason
  sed -n '/The following tests FAILED/,$p' "$1" |
    sed -n 's/^[[:space:]]*[0-9]* - \(.*\) (\([A-Za-z_ ]*\))[[:space:]]*.*$/\1 (\2)/p'
}
test_programs() {  # test_programs REGEX: the programs (file names) of the tests it selects
  ctest --test-dir "$build" -N -R "$1" --show-only=json-v1 |
    awk '/"command" :[ \t]*$/ { grab = 1; next }
         grab && /"/ { sub(/^[ \t]*"/, ""); sub(/",?[ \t]*$/, ""); n = split($0, p, "/"); print p[n]; grab = 0 }' |
    sort -u
}

if ((${#all_targets[@]} > 0)); then
  echo "mutation-check: building ${all_targets[*]}"
  start=$SECONDS
  if ! build_targets "$logs/baseline-build.log" "${all_targets[@]}"; then
    grep -m 5 -E 'error|Error' "$logs/baseline-build.log" >&2 || tail -n 30 "$logs/baseline-build.log" >&2
    echo "mutation-check: the unmutated build failed" >&2
    exit 2
  fi
  echo "mutation-check: built in $((SECONDS - start)) s"
  # Each mutation's regex must select tests, and only tests of programs its own targets build:
  # a program built earlier for another mutation would still hold that mutation, and its
  # failure would be a false kill. (The project's test programs are named as their targets.)
  for ((i = 0; i < n; i++)); do
    [[ -n ${results[i]} ]] && continue
    mapfile -t programs < <(test_programs "${regexes[i]}")
    if ((${#programs[@]} == 0)); then
      results[i]="NO VERDICT"
      killers[i]="regex selects no test"
      continue
    fi
    for p in "${programs[@]}"; do
      if [[ " ${targets[i]} " != *" $p "* ]]; then
        results[i]="NO VERDICT"
        killers[i]="regex selects tests of $p, which is not among its targets"
      fi
    done
  done
  start=$SECONDS
  if ! run_tests "$logs/baseline-tests.log" "$all_regex"; then
    failed_tests "$logs/baseline-tests.log" >&2
    tail -n 5 "$logs/baseline-tests.log" >&2
    echo "mutation-check: the unmutated tests fail: no mutation can be judged" >&2
    exit 2
  fi
  echo "mutation-check: unmutated tests pass ($(sed -n 's/^.*tests passed, //p' "$logs/baseline-tests.log"); $((SECONDS - start)) s)"
fi

# ---- the mutations -------------------------------------------------------------------------
for ((i = 0; i < n; i++)); do
  [[ -n ${results[i]} ]] && continue
  id=${ids[i]}
  h=$src/${headers[i]}
  cp -- "$h" "$scratch/original"
  read_file "$h" text
  printf '%s' "${text/"${originals[i]}"/"${replacements[i]}"}" >"$h"
  start=$SECONDS
  read -r -a ts <<<"${targets[i]}"
  if ! build_targets "$logs/$id-build.log" "${ts[@]}"; then
    results[i]="KILLED"
    err=$(grep -m 1 -E 'error:' "$logs/$id-build.log" || true)
    if [[ -z $err ]] && grep -q 'Terminated\|Killed' "$logs/$id-build.log"; then err="build time limit"; fi
    err=${err#"$src/"}
    killers[i]="build failed: ${err:0:120}"
  elif run_tests "$logs/$id-tests.log" "${regexes[i]}"; then
    results[i]="SURVIVED"
    killers[i]="-"
  else
    results[i]="KILLED"
    mapfile -t failed < <(failed_tests "$logs/$id-tests.log")
    if ((${#failed[@]} == 0)); then
      killers[i]="ctest stopped (time limit of ${test_timeout} s per test, $((test_timeout + 60)) s in all)"
    else
      killers[i]=${failed[0]}
      ((${#failed[@]} > 1)) && killers[i]+=" and $((${#failed[@]} - 1)) more"
    fi
  fi
  # A copy, not a move: the restored header is newer than what the mutated build produced, so
  # any target that depends on it is rebuilt before it is used again.
  cp -- "$scratch/original" "$h"
  printf 'mutation-check: %-28s %-8s %4d s  %s\n' "$id" "${results[i]}" $((SECONDS - start)) "${killers[i]}"
done

# ---- report --------------------------------------------------------------------------------
cell() {  # a Markdown table cell: bars escaped
  local s=${1//|/\\|}
  printf '%s' "$s"
}
killed=0 survived=0 none=0
echo
echo "| id | header | what it breaks | result | killed by |"
echo "|---|---|---|---|---|"
for ((i = 0; i < n; i++)); do
  case ${results[i]} in
    KILLED) killed=$((killed + 1)) ;;
    SURVIVED) survived=$((survived + 1)) ;;
    *) none=$((none + 1)) ;;
  esac
  printf '| %s | %s | %s | %s | %s |\n' "$(cell "${ids[i]}")" "$(cell "${headers[i]#include/unitsface/}")" \
    "$(cell "${descriptions[i]}")" "${results[i]}" "$(cell "${killers[i]}")"
done
echo
summary="$n mutation(s) of $commit: $killed killed, $survived survived, $none without verdict"
((${#bad_lines[@]} > 0)) && summary+="; ${#bad_lines[@]} bad line(s) in the list (above)"
echo "mutation-check: $summary"
if ((none > 0 || ${#bad_lines[@]} > 0)); then
  exit 1
fi
exit 0
