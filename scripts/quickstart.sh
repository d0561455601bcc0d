#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job on built-in data: the design
# notes' CNN trained on Fashion-MNIST (configs/cnn/fashion.yaml). Extra arguments are
# key=value overrides, e.g. `scripts/quickstart.sh trainer.epochs=1`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/build.sh strata
BUILD_DIR=${STRATA_BUILD_DIR:-build}
"$BUILD_DIR/strata" summary configs/cnn/fashion.yaml
"$BUILD_DIR/strata" train configs/cnn/fashion.yaml overwrite=true "$@"
