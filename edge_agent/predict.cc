// edgetrain-agent predict: apply a model file to data; report quality, optionally write
// per-row predictions.
#include <cmath>
#include <cstdio>
#include <string>

#include "commands.h"
#include "edgetrain/cli/flags.h"
#include "edgetrain/cli/report.h"
#include "edgetrain/file_util.h"
#include "edgetrain/metrics.h"
#include "edgetrain/model.h"
#include "edgetrain/readers.h"

namespace edgetrain::agent {
namespace {

class PredictCommand : public Command {
 public:
  explicit PredictCommand(CLI::App* app) {
    sub_ = app->add_subcommand(
        "predict", "Apply a model to a data file: accuracy, AUC, log-loss or RMSE, R^2");
    sub_->add_option("--model", model_path_, "Model file written by train-local or the coordinator")
        ->required()
        ->check(CLI::ExistingFile);
    sub_->add_option("--data", data_path_,
                     "Data to predict (libsvm, or CSV with the model's feature columns)")
        ->required()
        ->check(CLI::ExistingFile);
    sub_->add_option(
        "--output", output_path_,
        "Write one line per row: predicted label, decision value and (logistic) probability; "
        "for regression the prediction");
    sub_->add_option("--label-column", label_column_, "CSV: name of the label column");
  }

  bool Selected() const override { return sub_->parsed(); }

  int Run() override {
    const char* prog = "edgetrain-agent predict";
    Result<Model> model = ReadModelFile(model_path_);
    if (!model.ok()) return cli::Fail(prog, model.status());
    ReadOptions read;
    read.task = model->task;
    read.labels = model->labels;
    read.min_dim = model->dim;
    read.label_column = label_column_;
    read.feature_columns = model->feature_names;
    Result<Dataset> data = ReadDataFile(data_path_, read);
    if (!data.ok()) return cli::Fail(prog, data.status());
    cli::PrintMetrics("data " + data_path_, *model, *data);
    if (output_path_.empty()) return cli::kExitOk;

    const std::vector<double> z = Decisions(*model, *data);
    std::string out;
    char line[128];
    if (model->task == Task::kClassification) {
      out = model->spec.loss == LossKind::kLogistic ? "label\tdecision\tprobability\n"
                                                    : "label\tdecision\n";
      for (double v : z) {
        const std::string& label = v > 0 ? model->labels->positive : model->labels->negative;
        if (model->spec.loss == LossKind::kLogistic) {
          std::snprintf(line, sizeof line, "\t%.17g\t%.17g\n", v, 1.0 / (1.0 + std::exp(-v)));
        } else {
          std::snprintf(line, sizeof line, "\t%.17g\n", v);
        }
        out += label;
        out += line;
      }
    } else {
      out = "prediction\n";
      for (double v : z) {
        std::snprintf(line, sizeof line, "%.17g\n", v);
        out += line;
      }
    }
    if (Status st = WriteFileAtomically(output_path_, out); !st.ok()) return cli::Fail(prog, st);
    std::printf("predictions written to %s\n", output_path_.c_str());
    return cli::kExitOk;
  }

 private:
  CLI::App* sub_;
  std::string model_path_, data_path_, output_path_, label_column_;
};

}  // namespace

std::unique_ptr<Command> RegisterPredict(CLI::App* app) {
  return std::make_unique<PredictCommand>(app);
}

}  // namespace edgetrain::agent
