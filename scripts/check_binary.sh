#!/usr/bin/env bash
# Checks what the built `strata` program links (docs/building.md, "LibTorch"):
# - built against a CUDA wheel, libtorch_cuda.so is among its NEEDED libraries, so the
#   CUDA path is really in the binary;
# - libcuda.so.1 is not: the driver library comes with a GPU's driver, and a binary that
#   names it (linked through the toolkit's stub libcuda.so) will not start without one;
# - one OpenMP runtime: the wheel's libgomp, as `ldd` resolves it.
# Usage: scripts/check_binary.sh [PROGRAM] (default build/strata).
set -euo pipefail
cd "$(dirname "$0")/.."
program=${1:-${STRATA_BUILD_DIR:-build}/strata}
[ -x "$program" ] || { echo "check_binary: $program not found (build it first)" >&2; exit 2; }
needed=$(readelf -d "$program" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
cuda=$(.venv/bin/python -c "import torch; print(torch.version.cuda or '')" 2>/dev/null || true)
status=0
if [ -n "$cuda" ]; then
  if grep -qx 'libtorch_cuda.so' <<<"$needed"; then
    echo "check_binary: libtorch_cuda.so is NEEDED (CUDA $cuda wheel)"
  else
    echo "check_binary: FAIL: built against a CUDA $cuda wheel but libtorch_cuda.so is not NEEDED" >&2
    status=1
  fi
fi
if grep -q '^libcuda\.so' <<<"$needed"; then
  echo "check_binary: FAIL: libcuda.so.1 is NEEDED; the program would not start without a driver" >&2
  status=1
else
  echo "check_binary: no libcuda.so.1 among the NEEDED libraries"
fi
gomp=$(ldd "$program" | grep -c 'libgomp' || true)
where=$(ldd "$program" | sed -n 's/.*libgomp[^ ]* => \([^ ]*\).*/\1/p' | sort -u)
if [ "$gomp" -eq 1 ] && [[ "$where" == *torch/lib/* ]]; then
  echo "check_binary: one OpenMP runtime, the wheel's ($where)"
else
  echo "check_binary: FAIL: OpenMP runtimes resolved: ${where:-none}" >&2
  status=1
fi
"$program" --help >/dev/null || { echo "check_binary: FAIL: $program does not start" >&2; status=1; }
exit $status
