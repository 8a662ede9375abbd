#!/usr/bin/env bash
# Prepares .gpu/, the folder the GPU check (bench/gpu/check.sh) needs on a machine without
# apt: Debian packages of the test and benchmark dependencies unpacked into .gpu/prefix (the
# conformance vectors travel with the working tree, in tests/data/vectors). Runs on a Debian
# machine with network access (apt-get download needs no root); .gpu/ is git-ignored, carry it to the GPU machine.
#
#   bench/gpu/prepare.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
out=$root/.gpu

# Header-only or small libraries: Catch2 2.13, nlohmann-json, Eigen (optional for the CUDA
# targets, found when present), Google Benchmark (its -dev package and its shared library).
packages=(catch2 nlohmann-json3-dev libeigen3-dev libbenchmark-dev libbenchmark1debian)

rm -rf "$out/debs" "$out/prefix" "$out/vectors"
mkdir -p "$out/debs" "$out/prefix"
(cd "$out/debs" && apt-get download "${packages[@]}")
for deb in "$out"/debs/*.deb; do
  dpkg -x "$deb" "$out/prefix"
done
# Documentation is not needed and weighs most of the prefix.
rm -rf "$out/prefix/usr/share/doc" "$out/prefix/usr/share/man"
rm -rf "$out/debs"

echo "prepared $out:"
du -sh "$out/prefix"
