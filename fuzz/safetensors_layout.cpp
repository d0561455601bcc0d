// libFuzzer target: the safetensors reader's checks (core/safetensors_layout.h) on
// arbitrary bytes taken as a whole file.
//
// Contract: read_safetensors_layout either throws InputError or returns a layout whose
// tensors lie inside the file and tile its data section, and it allocates nothing a
// header claims before checking the claim against the file size (scripts/fuzz.sh runs
// this target with -malloc_limit_mb far below what a hostile header can claim).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "core/errors.h"
#include "core/safetensors_layout.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto read_at = [&](uint64_t offset, uint64_t n, void* out) {
    if (offset > size || n > size - offset) return false;
    if (n > 0) std::memcpy(out, data + offset, n);
    return true;
  };
  strata::SafetensorsLayout layout;
  try {
    layout = strata::read_safetensors_layout("fuzz.safetensors", size, read_at);
  } catch (const strata::InputError&) {
    return 0;
  }
  // What read_safetensors relies on when it copies each tensor out of the data section.
  if (layout.data_start > size || layout.data_start + layout.data_size != size) __builtin_trap();
  uint64_t expected = 0;
  for (const auto& e : layout.entries) {
    if (e.begin != expected || e.end < e.begin || e.end > layout.data_size) __builtin_trap();
    if (e.end - e.begin != e.nbytes) __builtin_trap();
    uint64_t numel = 1;
    for (int64_t d : e.shape) {
      if (d < 0) __builtin_trap();
      if (d != 0 && numel > std::numeric_limits<uint64_t>::max() / uint64_t(d)) __builtin_trap();
      numel *= uint64_t(d);
    }
    if (numel * e.item_size != e.nbytes) __builtin_trap();
    expected = e.end;
  }
  if (expected != layout.data_size) __builtin_trap();
  return 0;
}
