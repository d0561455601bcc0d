#include "core/sniff.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <filesystem>

#include "core/errors.h"

namespace strata {

namespace {

constexpr size_t kHeadBytes = 512;

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

// `head` past a UTF-8 byte order mark and ASCII whitespace: where a markup page starts.
std::string_view past_blanks(std::string_view head) {
  if (head.starts_with("\xEF\xBB\xBF")) head.remove_prefix(3);
  while (!head.empty() && std::isspace(static_cast<unsigned char>(head.front()))) {
    head.remove_prefix(1);
  }
  return head;
}

// "<html" followed by a space or '>' (so "<htmlfoo" is not taken for a page).
bool tag_at(std::string_view s, std::string_view tag) {
  if (!starts_with_nocase(s, tag)) return false;
  if (s.size() == tag.size()) return true;
  const char next = s[tag.size()];
  return next == '>' || std::isspace(static_cast<unsigned char>(next));
}

}  // namespace

std::string describe_pointer(std::string_view head) {
  // The first line of every pointer file the Git LFS specification allows.
  if (head.starts_with("version https://git-lfs.github.com/spec/")) {
    return "a Git LFS pointer, not the file itself; run `git lfs pull`";
  }
  // An unlocked git-annex file holds the path of its object ("/annex/objects/SHA256E-...").
  if (head.starts_with("/annex/objects/")) {
    return "a git-annex pointer, not the file itself; run `git annex get`";
  }
  return "";
}

std::string describe_impostor(std::string_view head, const std::string& expected) {
  if (head.empty()) return "an empty file, not " + expected;
  if (std::string pointer = describe_pointer(head); !pointer.empty()) return pointer;
  if (head.starts_with("PK\x03\x04")) return "a zip archive, not " + expected;
  const std::string_view markup = past_blanks(head);
  if (tag_at(markup, "<!doctype html") || tag_at(markup, "<html") || tag_at(markup, "<head") ||
      tag_at(markup, "<body")) {
    return "an HTML page, not " + expected;
  }
  if (markup.starts_with("<?xml")) return "an XML document, not " + expected;
  return "";
}

std::string describe_impostor_file(const std::string& path, const std::string& expected) {
  namespace fs = std::filesystem;
  std::error_code ec;
  // A locked git-annex file is a symbolic link into .git/annex/objects, dangling until
  // `git annex get` fetches the object.
  if (fs::is_symlink(path, ec) && !fs::exists(path, ec)) {
    const std::string target = fs::read_symlink(path, ec).string();
    if (!ec && target.find("annex/objects/") != std::string::npos) {
      return "a git-annex pointer, not the file itself; run `git annex get`";
    }
    return "";
  }
  if (!fs::is_regular_file(path, ec)) return "";  // a directory or a pipe: not ours to name
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  char buf[kHeadBytes];
  size_t got = 0;
  while (got < sizeof buf) {
    const ssize_t n = ::read(fd, buf + got, sizeof buf - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  return describe_impostor(std::string_view(buf, got), expected);
}

void refuse_impostor(const std::string& path, const std::string& expected) {
  const std::string what = describe_impostor_file(path, expected);
  if (!what.empty()) throw InputError(path + ": " + what);
}

}  // namespace strata
