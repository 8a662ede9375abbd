#!/usr/bin/env bash
# Prints one of the two set-up commands of README.md: `example` (its first ```sh block) or
# `test` (its second). .ci/run runs the test command from here, so that CI runs exactly what
# README.md tells a new user to run, and the two cannot drift apart.
#
#   scripts/readme-command.sh example|test [README]
set -euo pipefail
which=${1:-}
readme=${2:-"$(dirname "$0")/../README.md"}
case $which in
  example) n=1 ;;
  test) n=2 ;;
  *)
    echo "usage: $0 example|test [README]" >&2
    exit 2
    ;;
esac
# The n-th ```sh block; each must hold exactly one line, the command.
block=$(awk -v n="$n" '
  /^```sh[[:space:]]*$/ { k++; inside = (k == n); next }
  /^```/ { if (inside) exit; next }
  inside { print }
' "$readme")
lines=$(printf '%s' "$block" | grep -c . || true)
if [[ $lines -ne 1 ]]; then
  echo "$0: README.md's sh block $n ($which command) must be one line, found $lines" >&2
  exit 1
fi
printf '%s\n' "$block"
