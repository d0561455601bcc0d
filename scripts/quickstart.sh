#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job on built-in data: the design
# notes' five stages on one problem, a small spam ladder on the real SpamAssassin messages
# (configs/ladder/spam-quick.yaml; its pre-trained GPT is made by the same run), then its
# report (runs/ladder/spam-quick/report.md, with plots). About 5 minutes after the build on
# 2 cores. Extra arguments are key=value overrides of the ladder, e.g. `seeds=3`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/build.sh strata
BUILD_DIR=${STRATA_BUILD_DIR:-build}
"$BUILD_DIR/strata" ladder configs/ladder/spam-quick.yaml "$@"
"$BUILD_DIR/strata" report runs/ladder/spam-quick
"$BUILD_DIR/strata" recommend --data limited --time moderate --task specific \
  --ladder runs/ladder/spam-quick
