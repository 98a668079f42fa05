#include "test_util.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>

#include "doctest/doctest.h"
#include "edgetrain/readers.h"

extern char** environ;

namespace edgetrain::testing {

std::string SourcePath(const std::string& relative) {
  return std::string(EDGETRAIN_SOURCE_DIR) + "/" + relative;
}

std::vector<std::string> ProgramCommand(const std::string& name) {
  std::vector<std::string> cmd;
  std::istringstream emulator(EDGETRAIN_TEST_EMULATOR);
  for (std::string word; emulator >> word;) cmd.push_back(word);
  cmd.push_back(std::string(EDGETRAIN_BINARY_DIR) + "/" + name);
  return cmd;
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/edgetrain-test-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  const std::string cmd = "rm -rf '" + path_ + "'";
  if (std::system(cmd.c_str()) != 0) {
    // Leaving a temp directory behind is harmless; do not throw from a destructor.
  }
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  REQUIRE_MESSAGE(f.good(), "cannot write " << path);
}

std::string ReadText(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

bool StoppedConverged(const std::string& out, const std::string& prefix) {
  return out.find(prefix + "kkt") != std::string::npos ||
         out.find(prefix + "tol") != std::string::npos;
}

int RunToFiles(const std::vector<std::string>& argv, const std::string& out_path,
               const std::string& err_path, const std::vector<std::string>& extra_env) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> env;  // environ without the names extra_env sets, then extra_env
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const auto same_name = [&](const std::string& x) {
      return entry.substr(0, entry.find('=') + 1) == x.substr(0, x.find('=') + 1);
    };
    if (std::none_of(extra_env.begin(), extra_env.end(), same_name)) env.push_back(*e);
  }
  for (const std::string& e : extra_env) env.push_back(const_cast<char*>(e.c_str()));
  env.push_back(nullptr);
  pid_t pid;
  const int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE_MESSAGE(rc == 0, "cannot start " << argv[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

CommandResult Run(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env) {
  TempDir dir;
  CommandResult result;
  result.exit_code = RunToFiles(argv, dir.File("out"), dir.File("err"), extra_env);
  result.out = ReadText(dir.File("out"));
  result.err = ReadText(dir.File("err"));
  return result;
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::string& output_path,
                           const std::string& error_path)
    : output_path_(output_path) {
  const int fd = ::open(output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fd, 1);
  if (error_path.empty()) {
    posix_spawn_file_actions_adddup2(&actions, fd, 2);
  } else {
    posix_spawn_file_actions_addopen(&actions, 2, error_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  const int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fd);
  REQUIRE_MESSAGE(rc == 0, "cannot start " << argv[0]);
  pid_ = pid;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && exit_code_ < 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

int ChildProcess::Wait(double seconds) {
  if (exit_code_ >= 0) return exit_code_;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (true) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return exit_code_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void ChildProcess::Signal(int signal) {
  if (exit_code_ < 0) ::kill(pid_, signal);
}

std::map<std::string, std::string> ReadEndpoints(const std::string& path) {
  std::map<std::string, std::string> out;
  std::istringstream in(ReadText(path));
  for (std::string line; std::getline(in, line);) {
    const size_t eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

bool WaitUntil(const std::function<bool()>& done, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

bool WaitForFile(const std::string& path, double seconds) {
  return WaitUntil(
      [&] {
        struct stat st;
        return ::stat(path.c_str(), &st) == 0 && st.st_size > 0;
      },
      seconds);
}

bool WaitForText(const std::string& path, const std::string& part, double seconds) {
  return WaitUntil([&] { return ReadText(path).find(part) != std::string::npos; }, seconds);
}

LiblinearModel ReadLiblinearModel(const std::string& path) {
  std::ifstream f(path);
  REQUIRE_MESSAGE(f.good(), "cannot open " << path);
  LiblinearModel m;
  std::string key;
  while (f >> key) {
    if (key == "label") {
      std::string line;
      std::getline(f, line);
      std::istringstream s(line);
      for (std::string l; s >> l;) m.labels.push_back(l);
    } else if (key == "nr_feature") {
      f >> m.nr_feature;
    } else if (key == "bias") {
      f >> m.bias;
    } else if (key == "w") {
      for (double v; f >> v;) m.w.push_back(v);
    } else {
      std::string rest;
      std::getline(f, rest);
    }
  }
  return m;
}

Dataset LoadLibsvm(const std::string& path, Task task) {
  ReadOptions options;
  options.task = task;
  Result<Dataset> data = ReadLibsvmFile(path, options);
  REQUIRE_MESSAGE(data.ok(), data.status().ToString());
  return std::move(data).value();
}

double ObjectiveOf(const Dataset& data, const ProblemSpec& spec, std::vector<double> w) {
  w.resize(spec.ModelSize(data.dim()), 0.0);
  return Objective(data, spec, w.data());
}

}  // namespace edgetrain::testing
