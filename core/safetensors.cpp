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
#include <memory>
#include <set>
#include <stdexcept>
#include <utility>

#include "core/errors.h"
#include "core/safetensors_layout.h"
#include "core/sniff.h"

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
// LibTorch lacks). The writer orders tensors by descending position in this table. The
// reader's checks (core/safetensors_layout.cpp) hold the same names and sizes.
constexpr Dtype kDtypes[] = {
    {"BOOL", torch::kBool, 1},    {"U8", torch::kByte, 1},  {"I8", torch::kChar, 1},
    {"I16", torch::kShort, 2},    {"F16", torch::kHalf, 2}, {"BF16", torch::kBFloat16, 2},
    {"I32", torch::kInt, 4},      {"F32", torch::kFloat, 4}, {"F64", torch::kDouble, 8},
    {"I64", torch::kLong, 8},
};

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

// Error messages are one line: a name from a damaged file may hold control characters.
std::string one_line(std::string s) {
  for (auto& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  return s;
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

void store_le64(uint64_t v, unsigned char* b) {
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
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
  if (file.get() < 0) {
    const int err = errno;
    // A dangling link into git-annex's store is a pointer to a file not fetched yet.
    if (err == ENOENT) refuse_impostor(path, "a safetensors file");
    fail(err == ENOENT ? "no such file" : std::strerror(err));
  }
  struct stat st {};
  if (::fstat(file.get(), &st) != 0) fail(std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail("not a regular file");
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);

  const SafetensorsLayout layout =
      read_safetensors_layout(path, file_size, [&](uint64_t offset, uint64_t size, void* out) {
        return read_all(file.get(), out, size, offset);
      });

  SafetensorsFile out;
  out.path = path;
  out.metadata = layout.metadata;
  // One read of the whole data section (its size is the file's, checked above), then one
  // copy into each tensor's own storage.
  std::unique_ptr<char[]> data(new char[std::max<uint64_t>(layout.data_size, 1)]);
  if (!read_all(file.get(), data.get(), layout.data_size, layout.data_start))
    fail("truncated: the file ended while its data was read");
  out.tensors.reserve(layout.entries.size());
  for (const auto& e : layout.entries) {
    const Dtype* dtype = dtype_by_name(e.dtype);
    if (dtype == nullptr || dtype->size != e.item_size)
      throw std::logic_error("safetensors: dtype tables disagree on " + e.dtype);
    auto tensor = torch::empty(e.shape, torch::TensorOptions().dtype(dtype->type));
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
