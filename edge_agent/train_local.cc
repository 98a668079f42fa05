// edgetrain-agent train-local: ProxSVRG on one device (TrainLocal from the runtime).
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "commands.h"
#include "edgetrain/cli/flags.h"
#include "edgetrain/cli/report.h"
#include "edgetrain/local_trainer.h"
#include "edgetrain/metrics.h"
#include "edgetrain/model.h"
#include "edgetrain/readers.h"
#include "edgetrain/scaler.h"
#include "edgetrain/text.h"

namespace edgetrain::agent {
namespace {

// The largest --newton-max-support: a working set of 16384 coordinates has a 1 GiB Hessian block.
constexpr int64_t kMaxNewtonSupport = 16384;

class TrainLocalCommand : public Command {
 public:
  explicit TrainLocalCommand(CLI::App* app) {
    sub_ = app->add_subcommand(
        "train-local", "Train on local data alone (serial ProxSVRG) and write a model file");
    sub_->add_option("--data", data_path_,
                     "Training data: libsvm/svmlight or CSV with a header (gzip read too), or - "
                     "for standard input")
        ->required()
        ->check(cli::kDataSource);
    sub_->add_option("--test", test_path_, "Test data to evaluate the final model on (same format)")
        ->check(cli::kDataSource);
    sub_->add_option("--model", model_path_, "Where to write the model file (written atomically)")
        ->type_name("FILE")
        ->required();
    sub_->add_option(
            "--liblinear-model", liblinear_path_,
            "Also write the weights in liblinear's model format (the same as export --format "
            "liblinear)")
        ->type_name("FILE");
    cli::AddProblemFlags(sub_, &problem_);
    cli::AddDataFlags(sub_, &data_);
    cli::AddScaleFlag(sub_, &scale_,
                      "Feature scaling fitted on the training data: none, standard, minmax, maxabs")
        ->capture_default_str();
    cli::AddPolicyFlags(sub_, &options_.policy, kMaxNewtonSupport);
    sub_->add_flag("--no-precondition", no_precondition_,
                   "Train on the columns as they are, without the solver's per-column scaling "
                   "(docs/algorithm.md, the preconditioner; for comparisons)");
    sub_->add_option("--seed", options_.seed, "Seed of the mini-batch sampler")
        ->capture_default_str();
    sub_->add_option("--reference-objective", reference_,
                     "Known optimal objective P*; adds a relative-suboptimality column (P-P*)/|P*|")
        ->check(cli::kFinite);
    sub_->add_flag("--quiet", quiet_, "Print only the summary, not one line per epoch");
    cli::AddConfigFlags(sub_);
  }

  bool Selected() const override { return sub_->parsed(); }

  int Run(const cli::Console& console) override {
    const char* prog = "edgetrain-agent train-local";
    Result<ProblemSpec> spec = problem_.ToSpec();
    if (!spec.ok()) return console.UsageError(prog, spec.status().message());
    for (const auto& [option, path] :
         {std::pair<const char*, const std::string&>{"--model", model_path_},
          {"--liblinear-model", liblinear_path_}}) {
      if (Status st = cli::CheckWritableFile(option, path); !st.ok())
        return console.UsageError(prog, st.message());
    }
    ReadOptions read = data_.ToReadOptions();
    const auto t0 = std::chrono::steady_clock::now();
    Result<Dataset> data = ReadDataFile(data_path_, read);
    if (!data.ok()) return console.Fail(prog, data.status());
    const double load_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (Status st = spec->Validate(data->task()); !st.ok()) return console.Fail(prog, st);
    if (data->missing().cells > 0 || data->missing().skipped_rows > 0) {
      console.Write(
          cli::Priority::kNotice,
          StringPrintf("missing values: %" PRId64 " cells filled (%s), %" PRId64 " rows skipped",
                       data->missing().cells, MissingPolicyName(read.missing),
                       data->missing().skipped_rows));
    }
    console.Write(cli::Priority::kInfo,
                  StringPrintf("data %s: %" PRId64 " rows, %d features, %" PRId64
                               " non-zeros (%.3g%%), loaded in %.2f s",
                               data_path_.c_str(), data->rows(), data->dim(), data->nnz(),
                               100.0 * static_cast<double>(data->nnz()) /
                                   (static_cast<double>(data->rows()) * std::max(1, data->dim())),
                               load_seconds));
    Scaler scaler;
    const Dataset* train = &*data;
    Dataset scaled;
    if (scale_ != "none") {
      scaler = Scaler::Fit(*data, *ParseScalerName(scale_));
      scaled = scaler.Apply(*data);
      train = &scaled;
    }

    cli::EpochTable table(console.out(), reference_);
    if (!quiet_) table.PrintHeader();
    options_.precondition = !no_precondition_;
    Result<TrainResult> result = TrainLocal(*train, *spec, options_, [&](const EpochReport& r) {
      if (!quiet_) table.PrintRow(r);
    });
    if (!result.ok()) return console.Fail(prog, result.status());

    Model model = Model::FromVector(result->x, train->dim(), train->task(), *spec);
    model.labels = train->labels();
    model.scaler = scaler;
    model.feature_names = train->feature_names();
    if (!model.feature_names.empty()) model.label_column = read.label_column;
    model.missing = read.missing;
    model.fill_values = data->missing().fill_values;
    TrainingSummary& s = model.summary;
    s.mode = "local";
    s.epochs = result->last.epoch;
    s.updates = result->last.updates;
    s.rows = train->rows();
    s.agents = 1;
    s.objective = result->last.objective;
    s.kkt_violation = result->last.kkt;
    s.seconds = result->last.seconds;
    s.step_size = result->plan.eta;
    s.inner_steps = result->plan.inner_steps;
    s.batch_size = result->plan.batch;
    s.stop_reason = result->stop_reason;
    s.created_unix = static_cast<int64_t>(std::time(nullptr));
    s.software_version = cli::SoftwareVersion();
    if (Status st = WriteModelFile(model_path_, model); !st.ok()) return console.Fail(prog, st);
    if (!liblinear_path_.empty()) {
      if (Status st = WriteLiblinearModelFile(liblinear_path_, model); !st.ok())
        return console.Fail(prog, st);
    }
    console.Write(
        cli::Priority::kNotice,
        StringPrintf("stopped: %s after %" PRId64
                     " epochs, %.2f s; objective %.15g, KKT violation %.3e, %" PRId64
                     " non-zero weights of %d (eta %.4g, m %" PRId64
                     ", batch %d, L_max %.4g, L_f %.4g)",
                     result->stop_reason.c_str(), result->last.epoch, result->last.seconds,
                     result->last.objective, result->last.kkt, model.NonZeros(), model.dim,
                     result->plan.eta, result->plan.inner_steps, result->plan.batch,
                     result->smoothness.l_max, result->smoothness.l_full));
    console.Write(cli::Priority::kNotice, "model written to " + model_path_);

    if (!test_path_.empty()) {
      ReadOptions test_read = read;
      test_read.labels = model.labels;
      test_read.min_dim = model.dim;
      if (!model.feature_names.empty()) test_read.feature_columns = model.feature_names;
      test_read.fill_values = model.fill_values;
      Result<Dataset> test = ReadDataFile(test_path_, test_read);
      if (!test.ok()) return console.Fail(prog, test.status());
      cli::PrintMetrics(console.out(), "test", model, *test);
    }
    return cli::kExitOk;
  }

 private:
  CLI::App* sub_;
  std::string data_path_, test_path_, model_path_, liblinear_path_;
  std::string scale_ = "none";
  cli::ProblemFlags problem_;
  cli::DataFlags data_;
  TrainOptions options_;
  bool no_precondition_ = false;
  double reference_ = std::nan("");
  bool quiet_ = false;
};

}  // namespace

std::unique_ptr<Command> RegisterTrainLocal(CLI::App* app) {
  return std::make_unique<TrainLocalCommand>(app);
}

}  // namespace edgetrain::agent
