// Command-line plumbing shared by edgetrain-agent, edgetrain-coordinator and edgetrain-monitor:
// CLI11 option groups for the problem, the data and the step size, and one error convention.
//
// Convention: --help documents every option with its default; a bad option prints one line,
// "<program>: error: <what>; run '<program> --help'", and exits with kExitUsage (2). Runtime
// failures (unreadable file, corrupt model) exit with kExitFailure (1). Every number an option
// takes has a validated range, and paths the program will write are checked when it starts, so
// that an option that cannot work is refused at once, not when the run ends.
//
// Thread-safety: call from main only. Ownership: flag structs are owned by the caller and must
// outlive the CLI::App they are bound to.
#ifndef EDGETRAIN_CLI_FLAGS_H_
#define EDGETRAIN_CLI_FLAGS_H_

#include <CLI/CLI.hpp>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "edgetrain/cli/log.h"
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

// Validators with short messages ("must be >= 0, got -1"). Every number must be finite.
extern const CLI::Validator kNonNegative;
extern const CLI::Validator kPositive;
// A finite number in [lo, hi] ("must be in [0.01, 3600], got 1e-07"); `unit` ("seconds", "MB")
// goes into the help text's type name.
CLI::Validator InRange(double lo, double hi, const std::string& unit = "");
// Any finite number.
extern const CLI::Validator kFinite;

// Start-up checks of the paths a program will write, made after --print-config (which must work
// before the service's directories exist) and before any work, so that a run cannot fail at its
// end for a path it could never write. Each error names the option ("--model: cannot write ...").
//
// A file the program will create or replace: its directory exists, is a directory and is writable
// (by this user, on a writable file system); the path is not a directory; an existing file is
// writable. "" passes (options whose empty value means "none"); so does "-" with dash_is_stdout.
Status CheckWritableFile(const std::string& option, const std::string& path,
                         bool dash_is_stdout = false);
// A directory the program will write into: it exists and is writable, or it can be created (its
// parent directory exists and is writable). "" passes.
Status CheckCreatableDirectory(const std::string& option, const std::string& path);

// The software version compiled in from CMake's project version ("0.1.0").
const char* SoftwareVersion();
// The git commit the program was built from ("31068ef", "31068ef-modified" when the tree had
// local changes), or "" when the source tree had no git (generated at build time:
// cli/cmake/build_info.cmake).
const char* SourceCommit();
// --version's line: "edgetrain-agent 0.1.0 (commit 31068ef)", or "... (commit unknown: built from
// a source tree without git)".
std::string VersionLine(const std::string& program);

// A program's main: runs `body` with the console of the standard streams (`journal_stream` is the
// value of $JOURNAL_STREAM, which only main reads; cli/log.h) and returns its exit code; an
// exception that escapes `body` becomes "<program>: error: unexpected failure: ..." and exit 1.
int RunMain(const std::string& program, const char* journal_stream,
            const std::function<int(const Console&)>& body);

// Parses argv. Returns -1 when the program should go on, else the exit code to return (0 after
// --help/--version/--print-config, kExitUsage after a bad option or a bad config file, with the
// one-line message written to console.err()).
int Parse(CLI::App& app, int argc, char** argv, const Console& console);

// --config FILE and --print-config on `app` (the main app or a subcommand; group "Configuration").
// The file is TOML: "key = value" lines whose keys are the long option names of `app` without the
// dashes ("l1 = 1e-3", "insecure = true", "features = [\"a\", \"b\"]"). Options given on the
// command line override the file; an unknown key, a section or a bad value is a usage error naming
// the file, the line and the key. --print-config (handled by Parse) prints the effective values in
// the same format, with the help texts as comments.
void AddConfigFlags(CLI::App* app);

// Writes `bytes` to standard output when path is "-", else to the file, atomically.
Status WriteOutput(const std::string& path, std::string_view bytes);

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
  int32_t max_dim = kDefaultMaxDimension;

  ReadOptions ToReadOptions() const;
};
// --task, --label-column, --features, --positive-label and the AddInputFlags options.
void AddDataFlags(CLI::App* app, DataFlags* flags);
// --format, --delimiter, --missing, --max-dim (group "Data"). `missing_help` says what the
// default of --missing is for this command.
void AddInputFlags(CLI::App* app, DataFlags* flags, const std::string& missing_help);

// --scale none|standard|minmax|maxabs (group "Data"), with this help text; `with_auto` also
// accepts "auto".
CLI::Option* AddScaleFlag(CLI::App* app, std::string* scale, const std::string& help,
                          bool with_auto = false);

// Accepts "-" (standard input), an existing file or a named FIFO; refuses a directory.
extern const CLI::Validator kDataSource;

// --batch (1 to kMaxBatch), --eta, --step-scale, --inner-steps, --epoch-passes.
constexpr int kMaxBatch = 1000000;
void AddStepFlags(CLI::App* app, StepOptions* steps);

// The epoch policy's options (epoch_policy.h), one definition for train-local and the
// coordinator: the step flags, --newton-max-support (the largest working set of a proximal Newton
// epoch, 0: inner loops only; docs/algorithm.md) and the stop rule (--tol, --kkt-tol,
// --max-epochs, --time-limit). --newton-max-support is at most `newton_limit` (the Hessian block
// has limit^2/2 entries; the coordinator's is the wire's, wire::kMaxNewtonSupport).
void AddPolicyFlags(CLI::App* app, EpochPolicyOptions* policy, int64_t newton_limit);

// --fault-drop/--fault-duplicate/--fault-delay/--fault-seed: inject faults into this program's
// sends (group "Testing"; for the reliability tests and soak runs, off by default); with
// `latency` (agents) also --fault-latency, a constant one-way latency on every message.
void AddFaultFlags(CLI::App* app, transport::FaultOptions* f, bool latency = false);

}  // namespace edgetrain::cli

#endif  // EDGETRAIN_CLI_FLAGS_H_
