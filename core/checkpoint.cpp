#include "core/checkpoint.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <vector>

#include "core/errors.h"
#include "core/json_input.h"

namespace strata {

namespace fs = std::filesystem;

namespace {

constexpr const char* kCheckpointsDir = "checkpoints";
constexpr const char* kLatestFile = "latest";
constexpr const char* kStateFile = "state.json";
// Names in checkpoints/ that only a save in progress (or one killed mid-way) leaves:
// a directory being written, a checkpoint being replaced, `latest` being replaced.
constexpr const char* kTmpPrefix = ".tmp-";
constexpr const char* kOldPrefix = ".old-";

[[noreturn]] void throw_errno(const std::string& what, const fs::path& path) {
  throw std::runtime_error(fmt::format("{}: {}: {}", path.string(), what, std::strerror(errno)));
}

// Writes `text` to `path` and fsyncs it.
void write_synced(const fs::path& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw_errno("cannot create", path);
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      errno = err;
      throw_errno("write failed", path);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    errno = err;
    throw_errno("fsync failed", path);
  }
  if (::close(fd) != 0) throw_errno("write failed", path);
}

// fsync of a file or a directory (the latter makes renames and new entries durable).
void sync_path(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_errno("cannot open to fsync", path);
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    errno = err;
    throw_errno("fsync failed", path);
  }
  ::close(fd);
}

// Every file and directory under `dir`, then `dir` itself.
void sync_tree(const fs::path& dir) {
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file() || entry.is_directory()) sync_path(entry.path());
  sync_path(dir);
}

void rename_or_throw(const fs::path& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    throw_errno(fmt::format("cannot rename to {}", to.string()), from);
}

// The step of a "step-NNNNNNN" name; nothing for any other name.
std::optional<int64_t> step_of(const std::string& name) {
  const std::string prefix = "step-";
  if (!name.starts_with(prefix) || name.size() == prefix.size() || name.size() > prefix.size() + 18)
    return std::nullopt;
  int64_t step = 0;
  for (size_t i = prefix.size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    step = step * 10 + (name[i] - '0');
  }
  return step;
}

// Only a finished save renames a directory to step-*, and state.json is always in it.
bool is_complete(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(dir, ec) && fs::is_regular_file(dir / kStateFile, ec);
}

// The step-* directories of a checkpoints/ directory, by ascending step.
std::vector<std::pair<int64_t, fs::path>> step_dirs(const fs::path& ckdir) {
  std::vector<std::pair<int64_t, fs::path>> out;
  std::error_code ec;
  if (!fs::is_directory(ckdir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(ckdir, ec)) {
    auto step = step_of(entry.path().filename().string());
    if (step && entry.is_directory(ec)) out.emplace_back(*step, entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot read: {}", path.string(), std::strerror(errno)));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw InputError(fmt::format("{}: cannot read", path.string()));
  return ss.str();
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

// The newest complete checkpoint in a checkpoints/ directory: the one `latest` names, or
// when `latest` is missing or names no complete checkpoint, the highest complete step.
std::string latest_in(const fs::path& ckdir) {
  std::error_code ec;
  if (fs::is_regular_file(ckdir / kLatestFile, ec)) {
    std::ifstream in(ckdir / kLatestFile);
    std::string name;
    std::getline(in, name);
    name = trim(name);
    if (step_of(name) && is_complete(ckdir / name)) return (ckdir / name).string();
  }
  auto steps = step_dirs(ckdir);
  for (auto it = steps.rbegin(); it != steps.rend(); ++it)
    if (is_complete(it->second)) return it->second.string();
  return "";
}

// Removes what a killed save left behind. A checkpoint moved aside to be replaced
// (".old-step-N-PID") whose replacement never arrived is moved back instead.
void clean_leftovers(const fs::path& ckdir) {
  std::vector<std::string> names;  // listed first: the loop below changes the directory
  for (const auto& entry : fs::directory_iterator(ckdir))
    names.push_back(entry.path().filename().string());
  for (const auto& name : names) {
    const fs::path path = ckdir / name;
    if (name.starts_with(kOldPrefix)) {
      const std::string rest = name.substr(std::strlen(kOldPrefix));
      const std::string original = rest.substr(0, rest.rfind('-'));
      if (step_of(original) && !fs::exists(ckdir / original) && is_complete(path)) {
        rename_or_throw(path, ckdir / original);
        continue;
      }
      fs::remove_all(path);
    } else if (name.starts_with(kTmpPrefix)) {
      fs::remove_all(path);
    }
  }
}

// Keeps the newest keep_last checkpoints up to `step`, the one just saved. Checkpoints
// past it are left alone: they belong to a run that was resumed from an earlier one, and
// nothing saved is deleted except by being older than what replaced it.
void prune(const fs::path& ckdir, int64_t step, int64_t keep_last) {
  if (keep_last <= 0) return;
  std::vector<fs::path> older;
  for (const auto& [s, dir] : step_dirs(ckdir))
    if (s < step) older.push_back(dir);
  const auto keep_older = static_cast<size_t>(keep_last - 1);
  if (older.size() <= keep_older) return;
  for (size_t i = 0; i + keep_older < older.size(); ++i) fs::remove_all(older[i]);
}

}  // namespace

std::string checkpoint_name(int64_t step) { return fmt::format("step-{:07d}", step); }

Checkpointer::Checkpointer(std::string out_dir, int64_t keep_last)
    : out_dir_(std::move(out_dir)), keep_last_(keep_last) {}

std::string Checkpointer::save(int64_t step, const CheckpointContents& contents) {
  if (step < 0) throw std::invalid_argument(fmt::format("checkpoint step {} is negative", step));
  if (!contents.state.is_null() && !contents.state.is_object())
    throw std::invalid_argument("checkpoint state must be a JSON object");

  const fs::path ckdir = fs::path(out_dir_) / kCheckpointsDir;
  fs::create_directories(ckdir);
  clean_leftovers(ckdir);

  const std::string name = checkpoint_name(step);
  const std::string pid = std::to_string(::getpid());
  const fs::path tmp = ckdir / (kTmpPrefix + name + "-" + pid);
  fs::create_directory(tmp);
  try {
    if (!contents.model.empty())
      write_safetensors((tmp / "model.safetensors").string(), contents.model);
    if (!contents.optimizer.empty())
      write_safetensors((tmp / "optimizer.safetensors").string(), contents.optimizer);
    const auto& state = contents.state.is_null() ? nlohmann::json::object() : contents.state;
    write_synced(tmp / kStateFile, state.dump(2) + "\n");
    write_synced(tmp / "config.yaml", contents.config_yaml);
    if (contents.write_extra) contents.write_extra(tmp.string());
    sync_tree(tmp);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }

  const fs::path target = ckdir / name;
  if (fs::exists(target)) {
    // Saving a step again after a resume: move the old one aside, the new one in, and
    // only then delete the old one. A reader in between falls back to an older step.
    const fs::path old = ckdir / (kOldPrefix + name + "-" + pid);
    rename_or_throw(target, old);
    rename_or_throw(tmp, target);
    sync_path(ckdir);
    fs::remove_all(old);
  } else {
    rename_or_throw(tmp, target);
  }
  sync_path(ckdir);

  write_file_atomic((ckdir / kLatestFile).string(), name + "\n");
  prune(ckdir, step, keep_last_);
  return target.string();
}

std::string Checkpointer::latest() const { return latest_checkpoint(out_dir_); }

bool has_checkpoints(const std::string& out_dir) {
  return !step_dirs(fs::path(out_dir) / kCheckpointsDir).empty();
}

std::string latest_checkpoint(const std::string& out_dir) {
  return latest_in(fs::path(out_dir) / kCheckpointsDir);
}

std::string resolve_checkpoint(const std::string& path) {
  const fs::path p(path);
  std::error_code ec;
  if (!fs::exists(p, ec))
    throw InputError(fmt::format("{}: no such checkpoint or run directory", path));
  if (!fs::is_directory(p, ec))
    throw InputError(fmt::format("{}: not a directory; expected a checkpoint or run directory", path));
  if (fs::is_regular_file(p / kStateFile, ec)) return path;

  // A run directory, or its checkpoints/ directory.
  fs::path ckdir;
  if (fs::is_directory(p / kCheckpointsDir, ec))
    ckdir = p / kCheckpointsDir;
  else if (fs::exists(p / kLatestFile, ec) || !step_dirs(p).empty())
    ckdir = p;
  else
    throw InputError(fmt::format(
        "{}: not a Strata checkpoint (no state.json) nor a run directory (no checkpoints/)", path));
  std::string latest = latest_in(ckdir);
  if (latest.empty())
    throw InputError(fmt::format("{}: holds no complete checkpoint", ckdir.string()));
  return latest;
}

CheckpointContents load_checkpoint(const std::string& dir) {
  const fs::path d(dir);
  std::error_code ec;
  if (!fs::exists(d, ec)) throw InputError(fmt::format("{}: no such checkpoint directory", dir));
  if (!fs::is_directory(d, ec)) throw InputError(fmt::format("{}: not a checkpoint directory", dir));
  const fs::path state_path = d / kStateFile;
  if (!fs::exists(state_path, ec))
    throw InputError(fmt::format("{}: not a Strata checkpoint (no {})", dir, kStateFile));

  CheckpointContents out;
  out.state = parse_json_input(read_text(state_path), state_path.string(), "a JSON file");
  if (!out.state.is_object())
    throw InputError(fmt::format("{}: damaged: not a JSON object", state_path.string()));

  if (fs::exists(d / "model.safetensors", ec))
    out.model = read_safetensors((d / "model.safetensors").string()).tensors;
  if (fs::exists(d / "optimizer.safetensors", ec))
    out.optimizer = read_safetensors((d / "optimizer.safetensors").string()).tensors;
  if (fs::exists(d / "config.yaml", ec)) out.config_yaml = read_text(d / "config.yaml");
  return out;
}

void write_file_atomic(const std::string& path, const std::string& text) {
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  // The ".tmp-" prefix lets a later save in checkpoints/ clean up after a kill.
  const fs::path tmp =
      dir / (kTmpPrefix + target.filename().string() + "-" + std::to_string(::getpid()));
  try {
    write_synced(tmp, text);
    rename_or_throw(tmp, target);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
  sync_path(dir);
}

void write_safetensors_atomic(const std::string& path, const NamedTensors& tensors,
                              const std::map<std::string, std::string>& metadata) {
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const fs::path tmp =
      dir / (kTmpPrefix + target.filename().string() + "-" + std::to_string(::getpid()));
  try {
    write_safetensors(tmp.string(), tensors, metadata);
    sync_path(tmp);
    rename_or_throw(tmp, target);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
  sync_path(dir);
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(path + ": cannot be read");
  auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw InputError(path + ": not valid JSON");
  return j;
}

}  // namespace strata
