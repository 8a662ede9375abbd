#!/usr/bin/env bash
# Proves that .ci/run stops, with a non-zero status, at whichever of its commands fails.
#
#   tests/ci/ci_selftest.sh [--script FILE]     (FILE: the CI script to check; default .ci/run)
#
# In a scratch git repository holding .ci/run, README.md and scripts/readme-command.sh, the
# commands that do the work (scripts/install-deps.sh, cmake, ctest, clang++, the fuzz script)
# are replaced by one stand-in that counts its calls and fails on call number FAIL_AT. The
# script must
#   - exit 0 when nothing fails (FAIL_AT = 0), after N stand-in calls, README.md's test
#     command among them;
#   - for every k in 1..N, exit non-zero when call k fails, and make no call after it.
# git, mktemp and bash are the real ones, so the fresh-clone step runs as it does in CI.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
script=$root/.ci/run
if [[ ${1:-} == --script ]]; then
  script=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/repo/.ci" "$tmp/repo/scripts"

cat >"$tmp/bin/standin" <<'EOF'
#!/usr/bin/env bash
n=$(($(cat "$STANDIN_DIR/count") + 1))
echo "$n" >"$STANDIN_DIR/count"
echo "$n $(basename "$0") $*" >>"$STANDIN_DIR/log"
if [[ $n -eq $STANDIN_FAIL_AT ]]; then exit 3; fi
exit 0
EOF
chmod +x "$tmp/bin/standin"
for tool in cmake ctest clang++; do ln -s standin "$tmp/bin/$tool"; done

cp "$script" "$tmp/repo/.ci/run"
cp "$root/README.md" "$tmp/repo/README.md"
cp "$root/scripts/readme-command.sh" "$tmp/repo/scripts/readme-command.sh"
cp "$tmp/bin/standin" "$tmp/repo/scripts/install-deps.sh"
mkdir -p "$tmp/repo/tools/eval/fuzz"
cp "$tmp/bin/standin" "$tmp/repo/tools/eval/fuzz/run.sh"
git -C "$tmp/repo" init --quiet
git -C "$tmp/repo" add -A
git -C "$tmp/repo" -c user.name=ci -c user.email=ci@localhost commit --quiet -m scratch

# run FAIL_AT: runs the scratch .ci/run, sets rc and calls.
run() {
  rm -rf "$tmp/state" "$tmp/repo/build-asan"
  mkdir -p "$tmp/state"
  echo 0 >"$tmp/state/count"
  rc=0
  PATH="$tmp/bin:$PATH" STANDIN_DIR="$tmp/state" STANDIN_FAIL_AT=$1 \
    bash "$tmp/repo/.ci/run" >"$tmp/state/out" 2>&1 </dev/null || rc=$?
  calls=$(cat "$tmp/state/count")
}

failures=0
run 0
n=$calls
if [[ $rc -ne 0 ]]; then
  echo "FAIL: with every command passing the script exited $rc"
  cat "$tmp/state/out"
  exit 1
fi
# Every command of README.md's test command must be among the calls, as README.md writes it.
test_command=$("$root/scripts/readme-command.sh" test "$root/README.md")
called=$(cut -d' ' -f2- "$tmp/state/log" | sed 's/ *$//')
while IFS= read -r part; do
  part=$(echo "$part" | sed 's/^ *//; s/ *$//')
  first=${part%% *}
  rest=${part#"$first"}
  expect=$(basename "$first")$rest
  if ! grep -Fxq -- "$expect" <<<"$called"; then
    echo "FAIL: README.md's test command part '$part' was not run"
    failures=$((failures + 1))
  fi
done < <(sed 's/ && /\n/g' <<<"$test_command")
echo "all commands passing: exit 0 after $n calls"
sed 's/^/  /' "$tmp/state/log"

for ((k = 1; k <= n; k++)); do
  run "$k"
  what=$(sed -n "${k}p" "$tmp/state/log" | cut -d' ' -f2-)
  if [[ $rc -eq 0 || $calls -ne $k ]]; then
    echo "FAIL: call $k ($what) failed, yet the script exited $rc after $calls calls"
    failures=$((failures + 1))
  else
    echo "ok: call $k ($what) failed: exit $rc, nothing ran after it"
  fi
done
if [[ $n -lt 2 ]]; then
  echo "FAIL: only $n calls: the stand-ins did not replace the script's commands"
  failures=$((failures + 1))
fi
echo "$((n + 1 - failures)) passed, $failures failed"
[[ $failures -eq 0 ]]
