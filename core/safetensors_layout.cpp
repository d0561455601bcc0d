#include "core/safetensors_layout.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>
#include <string_view>
#include <tuple>

#include "core/errors.h"
#include "core/json_input.h"
#include "core/sniff.h"

namespace strata {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference reader's limit

const std::pair<std::string, uint64_t>* dtype_by_name(const std::string& name) {
  for (const auto& d : safetensors_dtypes())
    if (d.first == name) return &d;
  return nullptr;
}

std::string known_dtypes() {
  std::string out;
  for (const auto& d : safetensors_dtypes()) out += (out.empty() ? "" : " ") + d.first;
  return out;
}

// Error messages are one line: a name or a JSON excerpt from a damaged file may hold
// control characters.
std::string one_line(std::string s) {
  for (auto& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  return s;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  return "[" + fmt::format("{}", fmt::join(shape, ", ")) + "]";
}

uint64_t load_le64(const unsigned char* b) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}

// Parses and checks one header entry; `fail` throws.
template <typename Fail>
SafetensorsEntry parse_entry(const std::string& name, const nlohmann::json& info, Fail&& fail) {
  SafetensorsEntry e;
  e.name = name;
  const std::string where = fmt::format("tensor '{}'", name);
  if (!info.is_object()) fail(fmt::format("damaged header: {} is not a JSON object", where));
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!info.contains(key)) fail(fmt::format("damaged header: {} has no \"{}\"", where, key));

  const auto& dtype = info["dtype"];
  if (!dtype.is_string()) fail(fmt::format("damaged header: {} has a non-string dtype", where));
  const auto* known = dtype_by_name(dtype.get<std::string>());
  if (known == nullptr)
    fail(fmt::format("{} has unknown dtype '{}' (Strata reads {})", where, dtype.get<std::string>(),
                     known_dtypes()));
  e.dtype = known->first;
  e.item_size = known->second;

  const auto& shape = info["shape"];
  if (!shape.is_array())
    fail(fmt::format("damaged header: {} has a shape that is not a list", where));
  uint64_t numel = 1;
  for (const auto& dim : shape) {
    if (dim.is_number_integer() && !dim.is_number_unsigned())
      fail(fmt::format("{} has a negative dimension {} in its shape", where, dim.get<int64_t>()));
    if (!dim.is_number_unsigned())
      fail(fmt::format("damaged header: {} has a shape entry that is not an integer", where));
    const uint64_t d = dim.get<uint64_t>();
    if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        (d != 0 && numel > std::numeric_limits<uint64_t>::max() / d))
      fail(fmt::format("damaged header: {} has an impossibly large shape", where));
    numel *= d;
    e.shape.push_back(static_cast<int64_t>(d));
  }
  if (numel > std::numeric_limits<uint64_t>::max() / e.item_size)
    fail(fmt::format("damaged header: {} has an impossibly large shape", where));
  e.nbytes = numel * e.item_size;

  const auto& offsets = info["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    fail(
        fmt::format("damaged header: {} needs data_offsets [begin, end] of two "
                    "non-negative integers",
                    where));
  e.begin = offsets[0].get<uint64_t>();
  e.end = offsets[1].get<uint64_t>();
  if (e.end < e.begin)
    fail(fmt::format("damaged header: {} ends (byte {}) before it begins (byte {})", where, e.end,
                     e.begin));
  return e;
}

}  // namespace

const std::vector<std::pair<std::string, uint64_t>>& safetensors_dtypes() {
  static const std::vector<std::pair<std::string, uint64_t>> dtypes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"I16", 2}, {"F16", 2},
      {"BF16", 2}, {"I32", 4}, {"F32", 4}, {"F64", 8}, {"I64", 8},
  };
  return dtypes;
}

SafetensorsLayout read_safetensors_layout(const std::string& path, uint64_t file_size,
                                          const ReadAt& read_at) {
  auto fail = [&](const std::string& what) {
    throw InputError(one_line(fmt::format("{}: {}", path, what)));
  };

  // A stand-in is named for what it is; a real file's first 8 bytes are a length of at
  // most 100 MB, which no stand-in's text can spell.
  char head[512];
  const uint64_t head_size = std::min<uint64_t>(file_size, sizeof head);
  if (!read_at(0, head_size, head)) fail("truncated while reading the header length");
  const std::string impostor =
      describe_impostor(std::string_view(head, head_size), "a safetensors file");
  if (!impostor.empty()) fail(impostor);

  if (file_size < 8)
    fail(fmt::format("truncated: the file has {} bytes, fewer than the 8 of the header length",
                     file_size));
  const uint64_t header_size = load_le64(reinterpret_cast<const unsigned char*>(head));
  if (header_size > file_size - 8)
    fail(fmt::format("truncated: the header length is {} bytes but the file has only {} after it",
                     header_size, file_size - 8));
  if (header_size > kMaxHeaderBytes)
    fail(fmt::format("damaged: header length {} exceeds the limit of {} bytes", header_size,
                     kMaxHeaderBytes));

  // Allocated only now: header_size is at most the file's own size and 100 MB.
  std::string text(header_size, '\0');
  if (!read_at(8, header_size, text.data())) fail("truncated while reading the header");
  const nlohmann::json header = parse_json_input(text, path + ": damaged header");
  if (!header.is_object()) fail("damaged header: the JSON is not an object");

  SafetensorsLayout out;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) fail("damaged header: \"__metadata__\" is not a JSON object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string())
          fail(fmt::format("damaged header: \"__metadata__\" value '{}' is not a string", mk));
        out.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    out.entries.push_back(parse_entry(key, value, fail));
  }

  // As the reference reader requires, the tensors tile the data section exactly.
  std::sort(out.entries.begin(), out.entries.end(),
            [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
              return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
            });
  out.data_start = 8 + header_size;
  out.data_size = file_size - out.data_start;
  uint64_t expected = 0;
  for (const auto& e : out.entries) {
    if (e.end > out.data_size)
      fail(fmt::format("truncated: tensor '{}' ends at byte {} but the file has {}", e.name,
                       out.data_start + e.end, file_size));
    if (e.end - e.begin != e.nbytes)
      fail(
          fmt::format("damaged header: tensor '{}' has {} bytes but dtype {} and shape {} "
                      "need {}",
                      e.name, e.end - e.begin, e.dtype, shape_text(e.shape), e.nbytes));
    if (e.begin < expected)
      fail(fmt::format("damaged header: tensor '{}' overlaps the tensor before it", e.name));
    if (e.begin > expected)
      fail(fmt::format("damaged header: {} bytes before tensor '{}' belong to no tensor",
                       e.begin - expected, e.name));
    expected = e.end;
  }
  if (expected != out.data_size)
    fail(fmt::format("damaged: {} bytes after the last tensor belong to no tensor",
                     out.data_size - expected));
  return out;
}

}  // namespace strata
