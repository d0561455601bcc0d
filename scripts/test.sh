#!/usr/bin/env bash
# Installs what is missing, builds, and runs every Catch2 test through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/build.sh strata strata_tests
BUILD_DIR=${STRATA_BUILD_DIR:-build}
cd "$BUILD_DIR"
ctest --output-on-failure -j "${STRATA_TEST_JOBS:-2}" --timeout 900 "$@"
