#!/usr/bin/env bash
# A rehearsal of the GPU check on this machine, without a GPU: runs bench/gpu/check.sh in a
# minimal Debian bookworm root that has what the GPU machine has (CUDA, CMake, a C++ compiler)
# and nothing else: no Catch2, Eigen, Google Benchmark or nlohmann-json, no ../shared and no
# loader entry for the CUDA libraries. Everything the check needs must then come from .gpu/,
# as on the GPU machine. The build is the real one (sm_90); each device step must report
# "skipped" (exit 77, no device) and the script must end with status 3.
#
#   bench/gpu/prepare.sh && sudo bench/gpu/dry_run.sh [ROOTFS]
#
# Needs root (debootstrap, chroot, bind mounts), debootstrap and Debian's mirror; ROOTFS
# (default ${TMPDIR:-/tmp}/unitsface-gpu-root, about 400 MB) is made once and reused. The
# working tree as it is (tracked and untracked files that git does not ignore) and .gpu/ are
# copied into ROOTFS/work/repo. Takes about 6 minutes on 2 cores (2 for debootstrap, the
# rest nvcc).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
rootfs=${1:-${TMPDIR:-/tmp}/unitsface-gpu-root}
cuda=$(readlink -f "${CUDA_ROOT:-/usr/local/cuda}")

if [[ $EUID -ne 0 ]]; then
  echo "dry_run.sh: needs root (debootstrap, chroot, mount)" >&2
  exit 2
fi
if [[ ! -d $root/.gpu/prefix ]]; then
  echo "dry_run.sh: .gpu/ is missing: run bench/gpu/prepare.sh first" >&2
  exit 2
fi
if [[ ! -x $cuda/bin/nvcc ]]; then
  echo "dry_run.sh: no CUDA toolkit at $cuda (set CUDA_ROOT)" >&2
  exit 2
fi
if [[ ! -x $rootfs/usr/bin/cmake ]]; then
  command -v debootstrap >/dev/null || {
    echo "dry_run.sh: debootstrap is not installed (apt-get install debootstrap)" >&2
    exit 2
  }
  debootstrap --variant=minbase --include=g++,cmake,make,procps bookworm "$rootfs" \
    http://deb.debian.org/debian
fi

mounts=()
cleanup() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount "${mounts[i]}" || true; done
}
trap cleanup EXIT
bind() {  # bind SRC DST: DST inside the root
  mkdir -p "$rootfs$2"
  mount --bind "$1" "$rootfs$2"
  mounts+=("$rootfs$2")
}
# The toolkit at the path the check looks in first; /dev for nvcc's temporary files.
bind "$cuda" /usr/local/cuda
bind /dev /dev
mount -t proc proc "$rootfs/proc"
mounts+=("$rootfs/proc")

repo=$rootfs/work/repo
rm -rf "$repo" "$rootfs/work/out"
mkdir -p "$repo"
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$repo"
cp -r "$root/.gpu" "$repo/.gpu"

# No time limit that a 2-core machine would miss; the GPU machine keeps the defaults.
set +e
chroot "$rootfs" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root CHECK_BUDGET_S=3600 \
  CHECK_BUILD_LIMIT_S=3000 OUT=/work/out bash /work/repo/bench/gpu/check.sh
rc=$?
set -e
echo "check.sh exited with $rc; logs in $rootfs/work/out"
if [[ $rc -ne 3 ]]; then
  echo "dry_run.sh: expected status 3 (built, every device step skipped)" >&2
  exit 1
fi
echo "dry run passed: the check builds from .gpu/ alone and skips cleanly without a device"
