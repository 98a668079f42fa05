// Command-line plumbing shared by edgetrain-agent, edgetrain-coordinator and edgetrain-monitor:
// CLI11 option groups for the problem, the data and the step size, and one error convention.
//
// Convention: --help documents every option with its default; a bad option prints one line,
// "<program>: error: <what>; run '<program> --help'", and exits with kExitUsage (2). Runtime
// failures (unreadable file, corrupt model) exit with kExitFailure (1).
//
// Thread-safety: call from main only. Ownership: flag structs are owned by the caller and must
// outlive the CLI::App they are bound to.
#ifndef EDGETRAIN_CLI_FLAGS_H_
#define EDGETRAIN_CLI_FLAGS_H_

#include <CLI/CLI.hpp>
#include <limits>
#include <string>
#include <vector>

#include "edgetrain/epoch_policy.h"
#include "edgetrain/problem.h"
#include "edgetrain/readers.h"
#include "edgetrain/scaler.h"
#include "edgetrain/status.h"
#include "edgetrain/step_size.h"
#include "edgetrain/transport/channel.h"

namespace edgetrain::cli {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// Validators with short messages ("must be >= 0, got -1").
extern const CLI::Validator kNonNegative;
extern const CLI::Validator kPositive;

// The software version compiled in from CMake's project version.
const char* SoftwareVersion();

// Parses argv. Returns -1 when the program should go on, else the exit code to return (0 after
// --help/--version/--print-config, kExitUsage after a bad option or a bad config file, with the
// one-line message printed).
int Parse(CLI::App& app, int argc, char** argv);

// --config FILE and --print-config on `app` (the main app or a subcommand; group "Configuration").
// The file is TOML: "key = value" lines whose keys are the long option names of `app` without the
// dashes ("l1 = 1e-3", "insecure = true", "features = [\"a\", \"b\"]"). Options given on the
// command line override the file; an unknown key, a section or a bad value is a usage error naming
// the file, the line and the key. --print-config (handled by Parse) prints the effective values in
// the same format, with the help texts as comments.
void AddConfigFlags(CLI::App* app);

// Writes `bytes` to standard output when path is "-", else to the file, atomically.
Status WriteOutput(const std::string& path, std::string_view bytes);

// Prints "<program>: error: <status message>" to stderr and returns kExitFailure.
int Fail(const std::string& program, const Status& status);

struct ProblemFlags {
  std::string loss = "logistic";
  double l1 = 0.0;
  double l2 = 0.0;
  double lower = -std::numeric_limits<double>::infinity();
  double upper = std::numeric_limits<double>::infinity();
  bool nonneg = false;
  bool intercept = false;

  Result<ProblemSpec> ToSpec() const;
};
void AddProblemFlags(CLI::App* app, ProblemFlags* flags);

struct DataFlags {
  std::string task = "classification";
  std::string label_column;
  std::vector<std::string> features;
  std::string positive_label;
  // How the source is read (AddInputFlags).
  std::string format = "auto";
  std::string delimiter = ",";
  std::string missing = "error";  // predict and score set "": the model's policy
  int32_t max_dim = kMaxModelDimension;

  ReadOptions ToReadOptions() const;
};
// --task, --label-column, --features, --positive-label and the AddInputFlags options.
void AddDataFlags(CLI::App* app, DataFlags* flags);
// --format, --delimiter, --missing, --max-dim (group "Data"). `missing_help` says what the
// default of --missing is for this command.
void AddInputFlags(CLI::App* app, DataFlags* flags, const std::string& missing_help);

// Accepts "-" (standard input), an existing file or a named FIFO; refuses a directory.
extern const CLI::Validator kDataSource;

void AddStepFlags(CLI::App* app, StepOptions* steps);

// The epoch policy's options (epoch_policy.h), one definition for train-local and the
// coordinator: the step flags, --newton-max-support (the largest working set of a proximal Newton
// epoch, 0: inner loops only; docs/algorithm.md) and the stop rule (--tol, --kkt-tol,
// --max-epochs, --time-limit).
void AddPolicyFlags(CLI::App* app, EpochPolicyOptions* policy);

// --fault-drop/--fault-duplicate/--fault-delay/--fault-seed: inject faults into this program's
// sends (group "Testing"; for the reliability tests and soak runs, off by default).
void AddFaultFlags(CLI::App* app, transport::FaultOptions* faults);

}  // namespace edgetrain::cli

#endif  // EDGETRAIN_CLI_FLAGS_H_
