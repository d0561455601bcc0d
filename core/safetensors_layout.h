#pragma once
// The checking half of the safetensors reader (core/safetensors.h), without LibTorch: the
// 8-byte header length and the JSON header, checked against the file's size.
//
// Every length the file claims is checked against the file's real size before anything
// of that length is allocated or read, so a damaged or hostile header costs no memory.
// read_safetensors() makes its tensors from what this returns; the fuzz target
// fuzz/safetensors_layout.cpp calls it on arbitrary bytes.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace strata {

// One tensor as the header describes it.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;            // one of safetensors_dtypes()
  uint64_t item_size = 0;       // bytes per element
  std::vector<int64_t> shape;   // every dimension >= 0
  uint64_t nbytes = 0;          // product of shape times item_size
  uint64_t begin = 0, end = 0;  // byte range in the data section; end - begin == nbytes
};

struct SafetensorsLayout {
  uint64_t data_start = 0;                // 8 + header length: where the data section starts
  uint64_t data_size = 0;                 // file size - data_start, tiled exactly by the entries
  std::vector<SafetensorsEntry> entries;  // in offset order
  std::map<std::string, std::string> metadata;
};

// The dtype names Strata reads and writes, with their sizes in bytes, in the reference's
// order of increasing alignment: BOOL U8 I8 I16 F16 BF16 I32 F32 F64 I64.
const std::vector<std::pair<std::string, uint64_t>>& safetensors_dtypes();

// Fills `size` bytes at `offset` of the file into `out`; false when the file ends first.
using ReadAt = std::function<bool(uint64_t offset, uint64_t size, void* out)>;

// Reads and checks the header of the safetensors file `path` of `file_size` bytes: a
// stand-in (core/sniff.h), the header length against the file size and a 100 MB limit,
// the JSON (strictly: no key twice), each tensor's dtype, shape and offsets, and that the
// tensors tile the data section exactly. Problems are InputErrors "<path>: ..." of one line.
SafetensorsLayout read_safetensors_layout(const std::string& path, uint64_t file_size,
                                          const ReadAt& read_at);

}  // namespace strata
