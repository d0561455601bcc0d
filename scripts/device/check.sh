#!/usr/bin/env bash
# The one prepared script for a lent GPU machine (docs/building.md, "GPU machines").
#
#   scripts/device/check.sh OUT_DIR [--cpu]
#
# On the GPU machine: run scripts/device/deps.sh here first, then through the device tool,
#   scripts/device/check.sh "$OUT"      with carry: [".deps"]
# It builds strata, strata_tests and bench_gpt_train against that machine's own torch
# (python3, 2.11+cu130), with the Debian -dev packages unpacked in .deps/, and saves the
# build log in OUT_DIR beside one results file (check.json); then runs the [cuda] tests, and
# bench/gpt_train at GPT-2 124M shape (V=50257, T=1024, L=12, H=12, C=768, batch 16, bf16) on
# random token shards, against PyTorch eager and torch.compile on the same GPU.
# Budget: about 5 minutes (build ~3 on 16 cores, tests <1, bench ~1-2).
#
# --cpu: the same steps on a machine without a GPU, at a debug shape, with this checkout's
# .venv (its CUDA wheel) and the system's packages: the way to try the script before a GPU
# machine is spent on it. The [cuda] tests then skip themselves.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:?usage: scripts/device/check.sh OUT_DIR [--cpu]}
MODE=${2:-gpu}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
START=$(date +%s)
RESULTS="$OUT/check.json"
declare -A STEP_STATUS STEP_SECONDS

step() {  # step NAME LOG COMMAND... : runs it, logs to $OUT/LOG, records status and time
  local name=$1 log=$2
  shift 2
  local t0=$(date +%s)
  echo "== $name ($(date +%T)): $*" | tee -a "$OUT/check.log"
  "$@" >"$OUT/$log" 2>&1
  local rc=$?
  STEP_STATUS[$name]=$rc
  STEP_SECONDS[$name]=$(( $(date +%s) - t0 ))
  echo "   -> exit $rc after ${STEP_SECONDS[$name]} s (log: $log)" | tee -a "$OUT/check.log"
  tail -3 "$OUT/$log" | sed 's/^/   | /' | tee -a "$OUT/check.log"
  return $rc
}

BUILD_DIR=build-device
if [ "$MODE" = "--cpu" ]; then
  PY=.venv/bin/python
  SHAPE=(4096 128 2 2 128 8 "$(nproc)" 8)
  BENCH_FLAGS=(--device cpu --dtype bfloat16 --random-shards)
  CMAKE_EXTRA=()
else
  PY=$(command -v python3)
  SHAPE=(50257 1024 12 12 768 16 "$(nproc)" 30)
  BENCH_FLAGS=(--device cuda --dtype bfloat16 --random-shards)
  DEPS=$PWD/.deps
  [ -d "$DEPS/usr/include" ] || { echo "check: no .deps/ (run scripts/device/deps.sh here and carry .deps)"; exit 2; }
  export LD_LIBRARY_PATH="$DEPS/usr/lib/x86_64-linux-gnu:$DEPS/lib/x86_64-linux-gnu:$DEPS/usr/lib/x86_64-linux-gnu/blas${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PKG_CONFIG_SYSROOT_DIR=$DEPS
  export PKG_CONFIG_LIBDIR="$DEPS/usr/lib/x86_64-linux-gnu/pkgconfig:$DEPS/usr/share/pkgconfig"
  CMAKE_EXTRA=(-DCMAKE_PREFIX_PATH="$DEPS/usr" -DCMAKE_CXX_FLAGS="-isystem $DEPS/usr/include"
               -DCMAKE_LIBRARY_PATH="$DEPS/usr/lib/x86_64-linux-gnu;$DEPS/lib/x86_64-linux-gnu")
fi
export STRATA_PYTHON=$PY
{
  echo "date: $(date -Is)"; nvidia-smi -L 2>&1 || echo "no nvidia-smi"
  "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())'
  lscpu | grep -E 'Model name|^CPU\(s\)|Flags' | sed 's/Flags:.*\(amx_bf16\|avx512_bf16\).*/Flags: has \1/'
} > "$OUT/machine.txt" 2>&1

step configure build.log cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DSTRATA_PYTHON="$PY" "${CMAKE_EXTRA[@]}"
[ "${STEP_STATUS[configure]}" -eq 0 ] &&
  step build build-ninja.log cmake --build "$BUILD_DIR" -j "$(nproc)" --target strata strata_tests bench_gpt_train
BUILT=${STEP_STATUS[build]:-1}
if [ "$BUILT" -eq 0 ]; then
  step binary binary.log bash scripts/check_binary.sh "$BUILD_DIR/strata"
  step cuda_tests cuda-tests.log "$BUILD_DIR/tests/strata_tests" "[cuda]" --reporter compact --success
  STRATA_BENCH_ROUNDS=1 step bench_gpt_train bench-gpt-train.log \
    "$BUILD_DIR/bench/bench_gpt_train" "${SHAPE[@]}" "${BENCH_FLAGS[@]}"
fi

num() { grep -oE "$1 [0-9.]+" "$OUT/bench-gpt-train.log" 2>/dev/null | tail -1 | awk '{print $NF}'; }
"$PY" - "$RESULTS" <<PY
import json, sys
def f(x):
    try: return float(x)
    except Exception: return None
steps = {}
for kv in """$(for k in "${!STEP_STATUS[@]}"; do echo "$k ${STEP_STATUS[$k]} ${STEP_SECONDS[$k]}"; done)""".split("\n"):
    if kv.strip():
        k, rc, s = kv.split(); steps[k] = {"exit": int(rc), "seconds": int(s)}
json.dump({"mode": "$MODE", "shape": "${SHAPE[*]}", "bench_flags": "${BENCH_FLAGS[*]}",
           "steps": steps, "seconds": $(( $(date +%s) - START )),
           "strata_tokens_per_s": f("$(num 'strata train tokens/s')"),
           "eager_tokens_per_s": f("$(num 'py eager tokens/s')"),
           "compile_tokens_per_s": f("$(num 'py compile tokens/s')"),
           "ratio_eager": f("$(num 'ratio strata train/eager')"),
           "ratio_compile": f("$(num 'ratio strata train/compile')")},
          open(sys.argv[1], "w"), indent=2)
PY
cat "$RESULTS"
for k in "${!STEP_STATUS[@]}"; do [ "${STEP_STATUS[$k]}" -eq 0 ] || exit 1; done
[ "$BUILT" -eq 0 ]
