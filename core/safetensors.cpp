#include "core/safetensors.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
#include <set>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "core/errors.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader and writer copy bytes as they are"
#endif

namespace strata {

namespace {

struct Dtype {
  const char* name;
  torch::ScalarType type;
  uint64_t size;
};

// In the reference's order of increasing alignment (its `Dtype` enum, without the types
// LibTorch lacks). The writer orders tensors by descending position in this table.
constexpr Dtype kDtypes[] = {
    {"BOOL", torch::kBool, 1},    {"U8", torch::kByte, 1},  {"I8", torch::kChar, 1},
    {"I16", torch::kShort, 2},    {"F16", torch::kHalf, 2}, {"BF16", torch::kBFloat16, 2},
    {"I32", torch::kInt, 4},      {"F32", torch::kFloat, 4}, {"F64", torch::kDouble, 8},
    {"I64", torch::kLong, 8},
};
constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference reader's limit

const Dtype* dtype_by_type(torch::ScalarType type) {
  for (const auto& d : kDtypes)
    if (d.type == type) return &d;
  return nullptr;
}

const Dtype* dtype_by_name(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

int dtype_rank(const Dtype* d) { return static_cast<int>(d - kDtypes); }

std::string known_dtypes() {
  std::string out;
  for (const auto& d : kDtypes) out += (out.empty() ? "" : " ") + std::string(d.name);
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

// A file descriptor closed on scope exit.
class File {
 public:
  explicit File(int fd) : fd_(fd) {}
  ~File() {
    if (fd_ >= 0) ::close(fd_);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

void write_all(int fd, const void* data, uint64_t size, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(size, 1u << 30));
    const ssize_t n = ::write(fd, p, chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(fmt::format("{}: write failed: {}", path, std::strerror(errno)));
    p += n;
    size -= static_cast<uint64_t>(n);
  }
}

// Reads exactly `size` bytes at `offset`; false when the file ends first.
bool read_all(int fd, void* data, uint64_t size, uint64_t offset) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(size, 1u << 30));
    const ssize_t n = ::pread(fd, p, chunk, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<uint64_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

uint64_t load_le64(const unsigned char* b) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}

void store_le64(uint64_t v, unsigned char* b) {
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
}

// One tensor as the header describes it.
struct Entry {
  std::string name;
  const Dtype* dtype = nullptr;
  std::vector<int64_t> shape;
  uint64_t nbytes = 0;  // numel * itemsize
  uint64_t begin = 0, end = 0;
};

// Parses and checks one header entry; `fail` throws.
template <typename Fail>
Entry parse_entry(const std::string& name, const nlohmann::json& info, Fail&& fail) {
  Entry e;
  e.name = name;
  const std::string where = fmt::format("tensor '{}'", name);
  if (!info.is_object()) fail(fmt::format("damaged header: {} is not a JSON object", where));
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!info.contains(key)) fail(fmt::format("damaged header: {} has no \"{}\"", where, key));

  const auto& dtype = info["dtype"];
  if (!dtype.is_string()) fail(fmt::format("damaged header: {} has a non-string dtype", where));
  e.dtype = dtype_by_name(dtype.get<std::string>());
  if (e.dtype == nullptr)
    fail(fmt::format("{} has unknown dtype '{}' (Strata reads {})", where,
                     dtype.get<std::string>(), known_dtypes()));

  const auto& shape = info["shape"];
  if (!shape.is_array()) fail(fmt::format("damaged header: {} has a shape that is not a list", where));
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
  if (numel > std::numeric_limits<uint64_t>::max() / e.dtype->size)
    fail(fmt::format("damaged header: {} has an impossibly large shape", where));
  e.nbytes = numel * e.dtype->size;

  const auto& offsets = info["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    fail(fmt::format("damaged header: {} needs data_offsets [begin, end] of two "
                     "non-negative integers",
                     where));
  e.begin = offsets[0].get<uint64_t>();
  e.end = offsets[1].get<uint64_t>();
  if (e.end < e.begin)
    fail(fmt::format("damaged header: {} ends (byte {}) before it begins (byte {})", where,
                     e.end, e.begin));
  return e;
}

}  // namespace

void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
  struct Item {
    const std::string* name;
    const Dtype* dtype;
    torch::Tensor data;  // contiguous, on the CPU
  };
  std::vector<Item> items;
  std::set<std::string> seen;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__")
      throw std::invalid_argument(path + ": \"__metadata__\" cannot name a tensor");
    if (!seen.insert(name).second)
      throw std::invalid_argument(fmt::format("{}: two tensors named '{}'", path, name));
    if (!tensor.defined())
      throw std::invalid_argument(fmt::format("{}: tensor '{}' is undefined", path, name));
    const Dtype* dtype = dtype_by_type(tensor.scalar_type());
    if (dtype == nullptr)
      throw std::invalid_argument(fmt::format("{}: tensor '{}' has dtype {}, which safetensors "
                                              "files here cannot hold (they hold {})",
                                              path, name, c10::toString(tensor.scalar_type()),
                                              known_dtypes()));
    items.push_back({&name, dtype, tensor.detach().to(torch::kCPU).contiguous()});
  }
  // The reference writer's order: descending alignment, then name. Each tensor then
  // starts at a multiple of its element size, since the header length is one of 8.
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    if (a.dtype != b.dtype) return dtype_rank(a.dtype) > dtype_rank(b.dtype);
    return *a.name < *b.name;
  });

  // ordered_json keeps insertion order: "__metadata__" first, then the data order.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& item : items) {
    const uint64_t nbytes = item.data.numel() * item.dtype->size;
    nlohmann::ordered_json info = nlohmann::ordered_json::object();
    info["dtype"] = item.dtype->name;
    info["shape"] = item.data.sizes().vec();
    info["data_offsets"] = {offset, offset + nbytes};
    header[*item.name] = std::move(info);
    offset += nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  File file(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (file.get() < 0)
    throw std::runtime_error(fmt::format("{}: cannot create: {}", path, std::strerror(errno)));
  unsigned char length[8];
  store_le64(text.size(), length);
  write_all(file.get(), length, sizeof length, path);
  write_all(file.get(), text.data(), text.size(), path);
  for (const auto& item : items)
    write_all(file.get(), item.data.data_ptr(), item.data.numel() * item.dtype->size, path);
  if (::close(file.release()) != 0)
    throw std::runtime_error(fmt::format("{}: write failed: {}", path, std::strerror(errno)));
}

SafetensorsFile read_safetensors(const std::string& path) {
  auto fail = [&](const std::string& what) {
    throw InputError(one_line(fmt::format("{}: {}", path, what)));
  };

  File file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.get() < 0) fail(errno == ENOENT ? "no such file" : std::strerror(errno));
  struct stat st {};
  if (::fstat(file.get(), &st) != 0) fail(std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail("not a regular file");
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);

  if (file_size < 8)
    fail(fmt::format("truncated: the file has {} bytes, fewer than the 8 of the header length",
                     file_size));
  unsigned char length[8];
  if (!read_all(file.get(), length, 8, 0)) fail("truncated while reading the header length");
  const uint64_t header_size = load_le64(length);
  if (header_size > file_size - 8)
    fail(fmt::format("truncated: the header length is {} bytes but the file has only {} after it",
                     header_size, file_size - 8));
  if (header_size > kMaxHeaderBytes)
    fail(fmt::format("damaged: header length {} exceeds the limit of {} bytes", header_size,
                     kMaxHeaderBytes));

  std::string text(header_size, '\0');
  if (!read_all(file.get(), text.data(), header_size, 8)) fail("truncated while reading the header");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    std::string why = e.what();
    if (auto p = why.find("] "); p != std::string::npos) why = why.substr(p + 2);
    fail("damaged header: invalid JSON: " + why);
  }
  if (!header.is_object()) fail("damaged header: the JSON is not an object");

  SafetensorsFile out;
  out.path = path;
  std::vector<Entry> entries;
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
    entries.push_back(parse_entry(key, value, fail));
  }

  // As the reference reader requires, the tensors tile the data section exactly.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
  });
  const uint64_t data_start = 8 + header_size;
  const uint64_t data_size = file_size - data_start;
  uint64_t expected = 0;
  for (const auto& e : entries) {
    if (e.end > data_size)
      fail(fmt::format("truncated: tensor '{}' ends at byte {} but the file has {}", e.name,
                       data_start + e.end, file_size));
    if (e.end - e.begin != e.nbytes)
      fail(fmt::format("damaged header: tensor '{}' has {} bytes but dtype {} and shape {} "
                       "need {}",
                       e.name, e.end - e.begin, e.dtype->name, shape_text(e.shape), e.nbytes));
    if (e.begin < expected)
      fail(fmt::format("damaged header: tensor '{}' overlaps the tensor before it", e.name));
    if (e.begin > expected)
      fail(fmt::format("damaged header: {} bytes before tensor '{}' belong to no tensor",
                       e.begin - expected, e.name));
    expected = e.end;
  }
  if (expected != data_size)
    fail(fmt::format("damaged: {} bytes after the last tensor belong to no tensor",
                     data_size - expected));

  // One read of the whole data section, then one copy into each tensor's own storage.
  std::unique_ptr<char[]> data(new char[std::max<uint64_t>(data_size, 1)]);
  if (!read_all(file.get(), data.get(), data_size, data_start))
    fail("truncated: the file ended while its data was read");
  out.tensors.reserve(entries.size());
  for (const auto& e : entries) {
    auto tensor = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype->type));
    if (e.nbytes > 0) std::memcpy(tensor.data_ptr(), data.get() + e.begin, e.nbytes);
    out.tensors.emplace_back(e.name, std::move(tensor));
  }
  return out;
}

torch::Tensor SafetensorsFile::get(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  throw InputError(one_line(fmt::format("{}: no tensor named '{}'",
                                        path.empty() ? "safetensors file" : path, name)));
}

}  // namespace strata
