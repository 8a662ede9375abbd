#!/usr/bin/env bash
# Installs what unitsface's tests, benchmarks and examples need from Debian (bookworm)
# packages (Open MPI for the sharded losses' multi-process tests and example; OpenBLAS's OpenMP
# build, which the CMake targets prefer where installed, cmake/unitsfaceBackendTargets.cmake,
# without changing the system's default BLAS; Ninja, with which CI builds several named targets
# in parallel). The library itself needs none of them; the CUDA toolkit, where present, comes
# from /usr/local/cuda and is not installed here. Run as root, or with sudo available.
set -euo pipefail
pkgs=(cmake g++ make libeigen3-dev catch2 nlohmann-json3-dev libbenchmark-dev
      xtensor-dev libxtensor-blas-dev libopenblas-dev libomp-dev libcli11-dev libdlpack-dev
      doxygen pkgconf zlib1g-dev libopenmpi-dev openmpi-bin libopenblas0-openmp ninja-build)
# The side-by-side benchmark scripts compare against scikit-learn and PyTorch; they run
# with /usr/bin/python3, for which Debian packages them.
if [ "${UNITSFACE_WITH_PYTHON:-0}" = 1 ]; then pkgs+=(python3-sklearn python3-torch libtorch-dev); fi
# CI's ThreadSanitizer pass builds with clang and LLVM's libomp (libomp-dev, above); its fuzz
# step links clang's libFuzzer, which is in the compiler-rt package.
if [ "${UNITSFACE_WITH_CLANG:-0}" = 1 ]; then pkgs+=(clang libclang-rt-14-dev); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_="sudo"
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
