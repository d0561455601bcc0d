#include "core/data/listing.h"

#include <algorithm>

#include "core/errors.h"

namespace fs = std::filesystem;

namespace strata::data {

namespace {

[[noreturn]] void unreadable(const std::string& what, const fs::path& dir,
                             const std::error_code& ec) {
  throw InputError(what + " " + dir.string() + " cannot be read: " + ec.message());
}

}  // namespace

bool is_hidden(const fs::path& p) {
  const std::string name = p.filename().string();
  return !name.empty() && name.front() == '.';
}

std::vector<fs::path> list_entries(const fs::path& dir, Entries kind, const std::string& what) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::end(it); it.increment(ec)) {
    if (is_hidden(it->path())) continue;
    std::error_code type_ec;  // a dangling link is neither kind: skipped
    const bool wanted =
        kind == Entries::kFiles ? it->is_regular_file(type_ec) : it->is_directory(type_ec);
    if (wanted) out.push_back(it->path());
  }
  if (ec) unreadable(what, dir, ec);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<fs::path> files_below(const fs::path& dir, const std::string& what) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (is_hidden(it->path())) {
      // Not entered: everything inside a hidden folder is hidden with it.
      if (it->is_directory(ec)) it.disable_recursion_pending();
      ec.clear();
      continue;
    }
    std::error_code type_ec;
    if (it->is_regular_file(type_ec)) out.push_back(it->path());
  }
  if (ec) unreadable(what, dir, ec);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace strata::data
