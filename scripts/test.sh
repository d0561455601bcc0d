#!/usr/bin/env bash
# Installs what is missing, builds, and runs every Catch2 test through ctest.
# The [cuda] tests (named "cuda: ...") run only where a GPU answers nvidia-smi.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/build.sh strata strata_tests
BUILD_DIR=${STRATA_BUILD_DIR:-build}
cd "$BUILD_DIR"
filter=()
if ! nvidia-smi -L >/dev/null 2>&1; then
  echo "test: no GPU here, so the [cuda] tests are left out"
  filter=(-E '^cuda: ')
fi
ctest --output-on-failure -j "${STRATA_TEST_JOBS:-2}" --timeout 900 "${filter[@]}" "$@"
