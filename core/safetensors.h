#pragma once
// The safetensors file format, written and read by Strata itself.
//
// Layout (https://github.com/huggingface/safetensors): an 8-byte little-endian header
// length N, N bytes of JSON mapping each tensor name to {dtype, shape, data_offsets} (plus
// an optional "__metadata__" map of strings), then the raw little-endian tensor bytes.
// The reader checks the header, every offset against the file size, the dtype names and
// that byte counts match shapes, and refuses a truncated or damaged file with an
// InputError that names the file (core/safetensors_layout.h holds those checks). A stand-in
// saved under the name, such as a Git LFS pointer or an HTML page, is named as such.

#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace strata {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Supports F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL. Tensors may live on any
// device and be non-contiguous; they are written as contiguous CPU data. The bytes match
// the reference writer's (huggingface/safetensors `serialize`): compact JSON with
// "__metadata__" first, the header padded with spaces to a multiple of 8 bytes, and the
// data ordered by descending dtype alignment, then by name, so every tensor starts
// aligned to its element size. Writing does not fsync; the Checkpointer does that.
void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata = {});

struct SafetensorsFile {
  NamedTensors tensors;  // in file (offset) order, on CPU
  std::map<std::string, std::string> metadata;
  std::string path;  // the file read, for error messages
  torch::Tensor get(const std::string& name) const;  // InputError when absent
};

SafetensorsFile read_safetensors(const std::string& path);

}  // namespace strata
