// edgetrain-agent predict: apply a model file to data; report quality when the rows carry labels,
// optionally write one prediction per row (to a file or standard output).
#include <cinttypes>
#include <string>

#include "commands.h"
#include "edgetrain/cli/flags.h"
#include "edgetrain/cli/report.h"
#include "edgetrain/model.h"
#include "edgetrain/readers.h"
#include "edgetrain/scorer.h"
#include "edgetrain/text.h"

namespace edgetrain::agent {
namespace {

class PredictCommand : public Command {
 public:
  explicit PredictCommand(CLI::App* app) {
    sub_ = app->add_subcommand(
        "predict",
        "Apply a model to a data file: predictions per row, and accuracy, AUC, log-loss or RMSE, "
        "R^2 when the rows carry labels");
    sub_->add_option("--model", model_path_, "Model file written by train-local or the coordinator")
        ->required()
        ->check(CLI::ExistingFile);
    sub_->add_option("--data", data_path_,
                     "Data to predict: libsvm (rows with or without a label) or CSV with the "
                     "model's feature columns (with or without the label column); gzip read too; "
                     "- for standard input")
        ->required()
        ->check(cli::kDataSource);
    sub_->add_option("--output", output_path_,
                     "Write one line per row (- for standard output): the id columns, then the "
                     "predicted label, decision value and (logistic) probability; for regression "
                     "the prediction")
        ->type_name("FILE");
    sub_->add_option("--label-column", data_.label_column,
                     "CSV: name of the label column (default: the one the model was trained with)");
    sub_->add_option("--id-column", id_columns_,
                     "CSV: columns copied to the output before the prediction, e.g. an id or a "
                     "timestamp (repeat, or a comma list)")
        ->delimiter(',');
    data_.missing.clear();  // the model's policy unless given
    cli::AddInputFlags(
        sub_, &data_, "default: the model's policy and fill values (skip, zero, mean override it)");
  }

  bool Selected() const override { return sub_->parsed(); }

  int Run(const cli::Console& console) override {
    const char* prog = "edgetrain-agent predict";
    if (Status st = cli::CheckWritableFile("--output", output_path_, /*dash_is_stdout=*/true);
        !st.ok()) {
      return console.UsageError(prog, st.message());
    }
    Result<Model> model = ReadModelFile(model_path_);
    if (!model.ok()) return console.Fail(prog, model.status());
    auto shared = std::make_shared<const Model>(std::move(model).value());
    ReadOptions base = data_.ToReadOptions();
    if (data_.missing.empty()) base.missing = MissingPolicy::kError;  // the model's
    base.id_columns = id_columns_;
    const ReadOptions read = ScoringReadOptions(*shared, base);
    if (read.missing == MissingPolicy::kMean && read.fill_values.empty() && shared->dim > 0) {
      return console.UsageError(prog,
                                "--missing mean needs the means the model was trained with; this "
                                "model has none (train with --missing mean)");
    }
    Result<Dataset> data = ReadDataFile(data_path_, read);
    if (!data.ok()) return console.Fail(prog, data.status());
    // With the predictions on standard output, everything else goes to standard error.
    const cli::LineSink& info = output_path_ == "-" ? console.err() : console.out();
    const std::string name = data_path_ == "-" ? "stdin" : data_path_;
    if (data->labeled()) {
      cli::PrintMetrics(info, "data " + name, *shared, *data);
    } else {
      info.Write(cli::Priority::kNotice,
                 StringPrintf("data %s: %" PRId64 " rows without labels (no quality figures)",
                              name.c_str(), data->rows()));
    }
    if (data->missing().skipped_rows > 0) {
      info.Write(cli::Priority::kNotice,
                 StringPrintf("%" PRId64 " rows with missing values skipped (--missing skip)",
                              data->missing().skipped_rows));
    }
    if (output_path_.empty()) return cli::kExitOk;

    const Scorer scorer(shared);
    std::string out = scorer.Header(id_columns_);
    out.reserve(out.size() + static_cast<size_t>(data->rows()) * 48);
    const bool tags = !data->row_tags().empty();
    for (int64_t i = 0; i < data->rows(); ++i) {
      scorer.AppendLine(scorer.Decision(data->Row(i)), tags ? data->row_tags()[i] : "", &out);
    }
    if (Status st = cli::WriteOutput(output_path_, out); !st.ok()) return console.Fail(prog, st);
    if (output_path_ != "-")
      info.Write(cli::Priority::kNotice, "predictions written to " + output_path_);
    return cli::kExitOk;
  }

 private:
  CLI::App* sub_;
  std::string model_path_, data_path_, output_path_;
  std::vector<std::string> id_columns_;
  cli::DataFlags data_;
};

}  // namespace

std::unique_ptr<Command> RegisterPredict(CLI::App* app) {
  return std::make_unique<PredictCommand>(app);
}

}  // namespace edgetrain::agent
