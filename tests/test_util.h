// Helpers shared by the test suites: paths to bundled data and built programs, temporary
// directories, running a program and capturing its output, reading liblinear model files.
#ifndef EDGETRAIN_TESTS_TEST_UTIL_H_
#define EDGETRAIN_TESTS_TEST_UTIL_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "edgetrain/dataset.h"
#include "edgetrain/problem.h"

namespace edgetrain::testing {

// A file under the source tree (data/spam/train.svm, ...).
std::string SourcePath(const std::string& relative);
// A built program (edgetrain-agent, ...): its path, prefixed by the cross-compiling emulator
// when there is one.
std::vector<std::string> ProgramCommand(const std::string& name);

// A fresh directory under /tmp, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void WriteText(const std::string& path, const std::string& text);
std::string ReadText(const std::string& path);
// Whether a program's output says it stopped by a convergence rule: `prefix` ("stop: ",
// "stopped: ") followed by "tol" (the certified gap) or "kkt" (the KKT violation); which of the
// two holds first depends on the last step, not on whether the run converged.
bool StoppedConverged(const std::string& out, const std::string& prefix);

struct CommandResult {
  int exit_code = -1;  // 128 + signal when killed
  std::string out;
  std::string err;
};
// Runs argv[0] with arguments (and `extra_env`, "NAME=value" entries, in its environment), waits,
// and captures stdout and stderr.
CommandResult Run(const std::vector<std::string>& argv,
                  const std::vector<std::string>& extra_env = {});
// Like Run, with stdout and stderr appended to the files given (created when missing); returns
// the exit code (128 + signal when killed).
int RunToFiles(const std::vector<std::string>& argv, const std::string& out_path,
               const std::string& err_path, const std::vector<std::string>& extra_env = {});

// A program started in the background with stdout (and stderr, unless error_path is given) going
// to a file; killed if still running when destroyed.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::string& output_path,
               const std::string& error_path = "");
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  int pid() const { return pid_; }
  // Waits up to `seconds`; returns the exit code (128 + signal when killed), or -1 on timeout.
  int Wait(double seconds);
  void Signal(int signal);
  const std::string& output_path() const { return output_path_; }

 private:
  int pid_ = -1;
  int exit_code_ = -1;
  std::string output_path_;
};

// Polls `done` every 20 ms until it returns true; false after `seconds`.
bool WaitUntil(const std::function<bool()>& done, double seconds);
// Waits until `path` exists and is non-empty; false after `seconds`.
bool WaitForFile(const std::string& path, double seconds);
// Waits until the file `path` contains `part`; false after `seconds`.
bool WaitForText(const std::string& path, const std::string& part, double seconds);

// The key=value lines of a coordinator's --endpoints-file (agents=..., log=...).
std::map<std::string, std::string> ReadEndpoints(const std::string& path);

// Weights (d entries, plus the bias weight when bias > 0) and labels from liblinear's model file.
struct LiblinearModel {
  std::vector<double> w;
  double bias = -1;
  std::vector<std::string> labels;
  int nr_feature = 0;
};
LiblinearModel ReadLiblinearModel(const std::string& path);

// Loads a libsvm file, failing the test on error.
Dataset LoadLibsvm(const std::string& path, Task task = Task::kClassification);

// P(w) for weights over the data's features; `positive_first` flips signs when the liblinear
// model's first label is the dataset's negative class.
double ObjectiveOf(const Dataset& data, const ProblemSpec& spec, std::vector<double> w);

// Number of operator-new calls in this process so far (tests link a counting operator new).
long AllocationCount();

}  // namespace edgetrain::testing

#endif  // EDGETRAIN_TESTS_TEST_UTIL_H_
