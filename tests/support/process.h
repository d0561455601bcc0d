#pragma once
// Running the real `strata` program from tests: exit status, output, and kills.

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace strata::testing {

inline std::string source_dir() { return STRATA_SOURCE_DIR; }
inline std::string strata_binary() { return STRATA_BINARY; }

struct ProcessResult {
  int status = -1;  // exit status, or 128 + signal
  std::string output;  // stdout and stderr together
};

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs `strata args...` to completion from the source directory.
inline ProcessResult run_strata(const std::vector<std::string>& args) {
  std::string cmd = "cd " + shell_quote(source_dir()) + " && " + shell_quote(strata_binary());
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += " 2>&1";
  ProcessResult r;
  FILE* pipe = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) r.output.append(buf, n);
  int st = pclose(pipe);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

// Starts `strata args...` in the background (output to `log`); returns its pid.
// `env` is prepended as shell assignments ("RANK=1 WORLD_SIZE=2").
inline pid_t spawn_strata(const std::vector<std::string>& args, const std::string& log,
                          const std::string& env = "") {
  std::vector<std::string> all = {"/bin/sh", "-c", ""};
  std::string cmd = "cd " + shell_quote(source_dir()) + " && exec env " + env + " " +
                    shell_quote(strata_binary());
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += " >" + shell_quote(log) + " 2>&1";
  all[2] = cmd;
  std::vector<char*> argv;
  for (auto& s : all) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv.data(), environ);
  return pid;
}

inline int wait_for(pid_t pid) {
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

// A fresh, empty directory under the system temp dir.
inline std::string temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("strata-test-" + name + "-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace strata::testing
