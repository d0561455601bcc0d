#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ and runs each for SECONDS (default 20).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     targets: safetensors_layout config state_json
#                                             task_template
#
# The fuzz build is not part of the CMake build: each target is compiled with clang++
# (-fsanitize=fuzzer,address,undefined) from only the reader sources it tests, none of
# which needs LibTorch. Seeds come from tests/assets/ (and configs/ for the config target).
# Into $STRATA_FUZZ_DIR (default build-fuzz/): the binaries, corpus/<target>/ (inputs the
# fuzzer kept; reused by the next run), findings/<target>/ (crash-*, timeout-*, oom-*).
# Exit status 1 when any target found something; a finding reruns with
#   build-fuzz/<target> build-fuzz/findings/<target>/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${1:-20}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(safetensors_layout config state_json task_template)
OUT=${STRATA_FUZZ_DIR:-build-fuzz}
CXX=${STRATA_FUZZ_CXX:-clang++}
command -v "$CXX" >/dev/null || { echo "fuzz: $CXX not found (scripts/bootstrap.sh installs clang)"; exit 2; }
LAUNCHER=()
command -v ccache >/dev/null && LAUNCHER=(ccache)

FLAGS=(-std=c++20 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -I. -DFMT_SHARED)

# The sources each target compiles, its libraries, seeds and libFuzzer options.
declare -A SOURCES=(
  [safetensors_layout]="core/safetensors_layout.cpp core/json_input.cpp core/sniff.cpp"
  [config]="core/config.cpp core/sniff.cpp"
  [state_json]="core/json_input.cpp core/sniff.cpp core/trainer_state.cpp core/schedule.cpp core/config.cpp"
  [task_template]="tasks/template.cpp core/utf8.cpp core/config.cpp core/sniff.cpp"
)
declare -A LIBS=([safetensors_layout]="-lfmt" [config]="-lyaml-cpp -lfmt" [state_json]="-lyaml-cpp -lfmt"
                 [task_template]="-lyaml-cpp -lfmt -lutf8proc")
declare -A SEEDS=(
  [safetensors_layout]="tests/assets/*.safetensors"
  [config]="tests/assets/*.yaml configs/*/*.yaml"
  [state_json]="tests/assets/*.json"
  [task_template]="configs/tasks/*.yaml tests/assets/tasks/*.yaml"
)
# A header claims sizes up to 2^64: no single allocation may come near what one claims.
declare -A OPTIONS=(
  [safetensors_layout]="-malloc_limit_mb=64 -dict=fuzz/json.dict"
  [config]="-dict=fuzz/yaml.dict"
  [state_json]="-malloc_limit_mb=256 -dict=fuzz/json.dict"
  [task_template]="-malloc_limit_mb=512 -dict=fuzz/template.dict"
)

mkdir -p "$OUT/obj"
compile() {  # source -> object, compiled at most once per run
  local src=$1 obj="$OUT/obj/$(echo "$1" | tr / _).o"
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find core tasks fuzz -name '*.h' -newer "$obj" -print -quit)" ]; then
    "${LAUNCHER[@]}" "$CXX" "${FLAGS[@]}" -c "$src" -o "$obj"
  fi
  echo "$obj"
}

status=0
for t in "${TARGETS[@]}"; do
  [ -n "${SOURCES[$t]:-}" ] || { echo "fuzz: unknown target '$t'"; exit 2; }
  echo "fuzz: building $t"
  objs=()
  for src in fuzz/$t.cpp ${SOURCES[$t]}; do objs+=("$(compile "$src")"); done
  # shellcheck disable=SC2086
  "$CXX" "${FLAGS[@]}" "${objs[@]}" ${LIBS[$t]} -o "$OUT/$t"

  mkdir -p "$OUT/corpus/$t" "$OUT/seeds/$t" "$OUT/findings/$t"
  # shellcheck disable=SC2086
  for seed in ${SEEDS[$t]}; do [ -f "$seed" ] && cp "$seed" "$OUT/seeds/$t/"; done
  echo "fuzz: running $t for ${SECONDS_EACH}s"
  # shellcheck disable=SC2086
  if ! "$OUT/$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$OUT/findings/$t/" ${OPTIONS[$t]} \
      "$OUT/corpus/$t" "$OUT/seeds/$t" >"$OUT/$t.log" 2>&1; then
    status=1
    echo "fuzz: $t FOUND SOMETHING: $(grep -m1 -E 'ERROR|uncaught|deadly' "$OUT/$t.log" || true)"
    echo "      log: $OUT/$t.log; input: $(ls -t "$OUT/findings/$t" | head -1)"
  else
    echo "fuzz: $t: $(grep -E '^stat::number_of_executed_units' "$OUT/$t.log" | awk '{print $2}') inputs, nothing found"
  fi
done
exit $status
