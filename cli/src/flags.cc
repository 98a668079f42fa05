#include "edgetrain/cli/flags.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>

#include "edgetrain/file_util.h"

namespace edgetrain::cli {
namespace {

// Reads a finite number from `text`; else returns the message.
std::string ParseFinite(const std::string& text, double* v) {
  if (!CLI::detail::lexical_cast(text, *v) || std::isnan(*v))
    return "expected a number, got '" + text + "'";
  if (!std::isfinite(*v)) return "expected a finite number, got '" + text + "'";
  return "";
}

CLI::Validator NumberAtLeast(double bound, bool strict, const std::string& name) {
  return CLI::Validator(
      [bound, strict](std::string& text) -> std::string {
        double v;
        if (std::string error = ParseFinite(text, &v); !error.empty()) return error;
        if (strict ? !(v > bound) : !(v >= bound)) {
          return std::string("must be ") + (strict ? "> " : ">= ") + CLI::detail::to_string(bound) +
                 ", got " + text;
        }
        return "";
      },
      name);
}

// `path` without trailing slashes; its directory ("." for a bare name, "/" at the top).
std::string DirectoryOf(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// "" when `dir` is a directory this process may create files in, else why not.
std::string CheckWritableDirectory(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return "the directory '" + dir + "' does not exist";
    return "'" + dir + "': " + std::strerror(errno);
  }
  if (!S_ISDIR(st.st_mode)) return "'" + dir + "' is not a directory";
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    return "no write access to the directory '" + dir + "' (" + std::strerror(errno) + ")";
  return "";
}

}  // namespace

// config.cc: prints the config of the app or parsed subcommand given --print-config.
bool PrintConfigIfAsked(const CLI::App& app);

const CLI::Validator kNonNegative = NumberAtLeast(0.0, false, "NUMBER >= 0");
const CLI::Validator kPositive = NumberAtLeast(0.0, true, "NUMBER > 0");

CLI::Validator InRange(double lo, double hi, const std::string& unit) {
  std::string name =
      "NUMBER in [" + CLI::detail::to_string(lo) + ", " + CLI::detail::to_string(hi) + "]";
  if (!unit.empty()) name += " " + unit;
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        double v;
        if (std::string error = ParseFinite(text, &v); !error.empty()) return error;
        if (v < lo || v > hi) {
          return "must be in [" + CLI::detail::to_string(lo) + ", " + CLI::detail::to_string(hi) +
                 "], got " + text;
        }
        return "";
      },
      name);
}

const CLI::Validator kFinite(
    [](std::string& text) -> std::string {
      double v;
      return ParseFinite(text, &v);
    },
    "NUMBER");

Status CheckWritableFile(const std::string& option, const std::string& path, bool dash_is_stdout) {
  if (path.empty() || (dash_is_stdout && path == "-")) return Status::Ok();
  std::string why;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    why = "'" + path + "' is a directory, not a file";
  } else if (::stat(path.c_str(), &st) == 0 && ::access(path.c_str(), W_OK) != 0) {
    why = "cannot write '" + path + "': " + std::strerror(errno);
  } else if (std::string dir = CheckWritableDirectory(DirectoryOf(path)); !dir.empty()) {
    why = "cannot write '" + path + "': " + dir;
  }
  return why.empty() ? Status::Ok() : Status::InvalidArgument(option + ": " + why);
}

Status CheckCreatableDirectory(const std::string& option, const std::string& path) {
  if (path.empty()) return Status::Ok();
  std::string why;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      why = "'" + path + "' exists and is not a directory";
    } else if (std::string dir = CheckWritableDirectory(path); !dir.empty()) {
      why = dir;
    }
  } else if (errno != ENOENT) {
    why = "cannot use '" + path + "': " + std::strerror(errno);
  } else if (std::string dir = CheckWritableDirectory(DirectoryOf(path)); !dir.empty()) {
    why = "cannot create the directory '" + path + "': " + dir;
  }
  return why.empty() ? Status::Ok() : Status::InvalidArgument(option + ": " + why);
}

const char* SoftwareVersion() { return EDGETRAIN_VERSION; }

std::string VersionLine(const std::string& program) {
  const std::string commit = SourceCommit();
  return program + " " + SoftwareVersion() +
         (commit.empty() ? " (commit unknown: built from a source tree without git)"
                         : " (commit " + commit + ")");
}

int RunMain(const std::string& program, const char* journal_stream,
            const std::function<int(const Console&)>& body) {
  const Console console(journal_stream);
  try {
    return body(console);
  } catch (const std::exception& e) {  // none is expected; never let one out of main
    return console.Fail(program, Status::Internal(std::string("unexpected failure: ") + e.what()));
  }
}

int Parse(CLI::App& app, int argc, char** argv, const Console& console) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    return console.UsageError(app.get_name(), e.what());
  } catch (const std::exception& e) {  // e.g. from a --config callback: never out of main
    return console.UsageError(app.get_name(), e.what());
  }
  if (PrintConfigIfAsked(app)) return kExitOk;
  return -1;
}

Status WriteOutput(const std::string& path, std::string_view bytes) {
  if (path != "-") return WriteFileAtomically(path, bytes);
  if (std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size() ||
      std::fflush(stdout) != 0) {
    return Status::IoError("standard output: write failed");
  }
  return Status::Ok();
}

Result<ProblemSpec> ProblemFlags::ToSpec() const {
  ProblemSpec spec;
  std::optional<LossKind> kind = ParseLossName(loss);
  if (!kind) return Status::InvalidArgument("unknown loss '" + loss + "'");
  spec.loss = *kind;
  spec.reg.l1 = l1;
  spec.reg.l2 = l2;
  spec.reg.lower = nonneg ? std::max(0.0, lower) : lower;
  spec.reg.upper = upper;
  spec.intercept = intercept;
  EDGETRAIN_RETURN_IF_ERROR(spec.reg.Validate());
  return spec;
}

void AddProblemFlags(CLI::App* app, ProblemFlags* f) {
  const std::string group = "Problem";
  app->add_option("--loss", f->loss,
                  "Smooth loss: logistic, squared-hinge (classification) or squared (regression)")
      ->check(CLI::IsMember({"logistic", "squared", "squared-hinge"}))
      ->capture_default_str()
      ->group(group);
  app->add_option("--l1", f->l1,
                  "l1 penalty weight (lasso / L1-logistic); h(w) includes l1*||w||_1")
      ->check(kNonNegative)
      ->capture_default_str()
      ->group(group);
  app->add_option("--l2", f->l2, "l2 penalty weight (elastic net); f includes (l2/2)*||w||^2")
      ->check(kNonNegative)
      ->capture_default_str()
      ->group(group);
  app->add_option("--lower", f->lower,
                  "Box constraint: every weight >= this (write --lower=-2 for negatives)")
      ->capture_default_str()
      ->group(group);
  app->add_option("--upper", f->upper, "Box constraint: every weight <= this")
      ->capture_default_str()
      ->group(group);
  app->add_flag("--nonneg", f->nonneg, "Non-negative weights (same as --lower=0)")->group(group);
  app->add_flag("--intercept", f->intercept, "Fit an unregularised intercept")->group(group);
}

const CLI::Validator kDataSource(
    [](std::string& path) -> std::string {
      if (path == "-") return "";
      struct stat st;
      if (::stat(path.c_str(), &st) != 0) return "File does not exist: " + path;
      if (S_ISDIR(st.st_mode)) return "is a directory, expected a data file: " + path;
      return "";
    },
    "FILE|-");

ReadOptions DataFlags::ToReadOptions() const {
  ReadOptions r;
  r.task = task == "regression" ? Task::kRegression : Task::kClassification;
  r.label_column = label_column;
  r.feature_columns = features;
  if (!positive_label.empty()) r.positive_label = positive_label;
  r.format = ParseDataFormatName(format).value_or(DataFormat::kAuto);
  r.csv_delimiter = (delimiter == "tab" || delimiter == "\\t") ? '\t' : delimiter[0];
  r.missing = ParseMissingPolicyName(missing).value_or(MissingPolicy::kError);
  r.max_dim = max_dim;
  return r;
}

void AddInputFlags(CLI::App* app, DataFlags* f, const std::string& missing_help) {
  const std::string group = "Data";
  app->add_option("--format", f->format,
                  "Data format: auto (.csv/.csv.gz names CSV, else the first line decides: "
                  "index:value pairs are libsvm), csv or libsvm")
      ->check(CLI::IsMember({"auto", "csv", "libsvm"}))
      ->capture_default_str()
      ->group(group);
  app->add_option("--delimiter", f->delimiter,
                  "CSV field separator: ',' ';' '|' or tab (write tab or \\t)")
      ->check(CLI::IsMember({",", ";", "|", "tab", "\\t", "\t"}))
      ->capture_default_str()
      ->group(group);
  app->add_option("--missing", f->missing,
                  "CSV missing cells (empty, NA, N/A, NaN, nan, null, ?): error, skip (the row), "
                  "zero, or mean (of the column's other cells; stored in the model); " +
                      missing_help)
      ->check(CLI::IsMember({"error", "skip", "zero", "mean"}))
      ->capture_default_str()
      ->group(group);
  app->add_option("--max-dim", f->max_dim,
                  "Refuse libsvm indices (CSV feature columns) above this, naming the place; "
                  "run: also a coordinator's model with more features")
      ->check(CLI::Range(1, static_cast<int>(kMaxModelDimension)))
      ->capture_default_str()
      ->group(group);
}

CLI::Option* AddScaleFlag(CLI::App* app, std::string* scale, const std::string& help,
                          bool with_auto) {
  std::vector<std::string> kinds = {"none", "standard", "minmax", "maxabs"};
  if (with_auto) kinds.insert(kinds.begin(), "auto");
  return app->add_option("--scale", *scale, help)->check(CLI::IsMember(kinds))->group("Data");
}

void AddDataFlags(CLI::App* app, DataFlags* f) {
  const std::string group = "Data";
  app->add_option("--task", f->task, "classification (two labels, mapped to -1/+1) or regression")
      ->check(CLI::IsMember({"classification", "regression"}))
      ->capture_default_str()
      ->group(group);
  app->add_option("--label-column", f->label_column,
                  "CSV: name of the label column (required for .csv files)")
      ->group(group);
  app->add_option("--features", f->features,
                  "CSV: feature columns to use, comma separated (default: all others)")
      ->delimiter(',')
      ->group(group);
  app->add_option("--positive-label", f->positive_label,
                  "Which label becomes +1 (default: the larger of the two, numerically or by text)")
      ->group(group);
  AddInputFlags(app, f, "default error");
}

void AddStepFlags(CLI::App* app, StepOptions* s) {
  const std::string group = "Step size";
  app->add_option("--batch", s->batch, "Mini-batch size b (rows per inner step)")
      ->check(InRange(1, kMaxBatch))
      ->capture_default_str()
      ->group(group);
  app->add_option("--eta", s->eta, "Step size; 0 chooses step-scale / L(b) from the data")
      ->check(kNonNegative)
      ->capture_default_str()
      ->group(group);
  app->add_option("--step-scale", s->step_scale, "eta = step-scale / L(b) when --eta is 0")
      ->check(InRange(1e-6, 100))
      ->capture_default_str()
      ->group(group);
  app->add_option("--inner-steps", s->inner_steps,
                  "Inner steps m per epoch; 0 chooses epoch-passes * n / b")
      ->check(kNonNegative)
      ->capture_default_str()
      ->group(group);
  app->add_option("--epoch-passes", s->epoch_passes,
                  "Data passes of inner steps per epoch when --inner-steps is 0")
      ->check(InRange(0.01, 1000))
      ->capture_default_str()
      ->group(group);
}

void AddPolicyFlags(CLI::App* app, EpochPolicyOptions* policy, int64_t newton_limit) {
  AddStepFlags(app, &policy->steps);
  app->add_option("--newton-max-support", policy->newton_max_support,
                  "Largest working set of a proximal Newton epoch (0: inner loops only)")
      ->check(InRange(0, static_cast<double>(newton_limit)))
      ->capture_default_str()
      ->group("Step size");
  const std::string group = "Stopping";
  StopRule* stop = &policy->stop;
  app->add_option("--tol", stop->tolerance,
                  "Stop when the certified relative duality gap (P - D) / |P| of the best "
                  "snapshot is <= this (0: not used)")
      ->check(kNonNegative)
      ->capture_default_str()
      ->group(group);
  app->add_option("--kkt-tol", stop->kkt_tolerance,
                  "Stop when the best snapshot's KKT violation (inf-norm of the minimum-norm "
                  "subgradient) is <= this (0: not used)")
      ->check(kNonNegative)
      ->capture_default_str()
      ->group(group);
  app->add_option("--max-epochs", stop->max_epochs,
                  "Stop after this many epochs (inner loops or Newton steps)")
      ->check(kNonNegative)
      ->capture_default_str()
      ->group(group);
  app->add_option("--time-limit", stop->time_limit,
                  "Stop after this many seconds of training (0 = no limit)")
      ->check(kNonNegative)
      ->capture_default_str()
      ->group(group);
}

void AddFaultFlags(CLI::App* app, transport::FaultOptions* f, bool latency) {
  const std::string group = "Testing";
  app->add_option("--fault-drop", f->drop,
                  "Probability of dropping each message this program sends")
      ->check(InRange(0, 1))
      ->capture_default_str()
      ->group(group);
  app->add_option("--fault-duplicate", f->duplicate, "Probability of sending a message twice")
      ->check(InRange(0, 1))
      ->capture_default_str()
      ->group(group);
  app->add_option("--fault-delay", f->delay, "Probability of holding a message back 50 ms")
      ->check(InRange(0, 1))
      ->capture_default_str()
      ->group(group);
  if (latency) {
    app->add_option("--fault-latency", f->latency,
                    "Seconds of one-way latency added to every message sent and received (a "
                    "plant's network on loopback: the round trip grows by twice this)")
        ->check(InRange(0, 10))
        ->capture_default_str()
        ->group(group);
  }
  app->add_option("--fault-seed", f->seed, "Seed of the fault injection")
      ->capture_default_str()
      ->group(group);
}

}  // namespace edgetrain::cli
