// edgetrain-agent export: a model (train-local's or the coordinator's) in another form.
//   liblinear  liblinear's text model (the same exporter as train-local --liblinear-model)
//   json       every field of the model (show-model --json --all, weights by index)
//   sklearn    what scripts/edgetrain_model.py needs to build a scikit-learn estimator
#include "commands.h"
#include "edgetrain/cli/flags.h"
#include "edgetrain/model.h"
#include "model_json.h"

namespace edgetrain::agent {
namespace {

class ExportCommand : public Command {
 public:
  explicit ExportCommand(CLI::App* app) {
    sub_ = app->add_subcommand("export",
                               "Write a model in liblinear's format, as JSON, or for scikit-learn");
    sub_->add_option("model", path_, "Model file (train-local's or the coordinator's)")
        ->required()
        ->check(CLI::ExistingFile);
    sub_->add_option("--format", format_,
                     "liblinear (for liblinear's predict; the scaler folded in), json (every "
                     "field), sklearn (for scripts/edgetrain_model.py)")
        ->required()
        ->check(CLI::IsMember({"liblinear", "json", "sklearn"}));
    sub_->add_option("--output", output_, "Where to write (- for standard output)")
        ->type_name("FILE")
        ->required();
  }

  bool Selected() const override { return sub_->parsed(); }

  int Run(const cli::Console& console) override {
    const char* prog = "edgetrain-agent export";
    if (Status st = cli::CheckWritableFile("--output", output_, /*dash_is_stdout=*/true); !st.ok())
      return console.UsageError(prog, st.message());
    Result<Model> model = ReadModelFile(path_);
    if (!model.ok()) return console.Fail(prog, model.status());
    std::string text;
    if (format_ == "liblinear") {
      text = ToLiblinearText(*model);
    } else if (format_ == "json") {
      text = ModelJson(*model, /*all=*/true, /*by_magnitude=*/false).dump(1) + "\n";
    } else {
      text = SklearnJson(*model).dump(1) + "\n";
    }
    if (Status s = cli::WriteOutput(output_, text); !s.ok()) return console.Fail(prog, s);
    return cli::kExitOk;
  }

 private:
  CLI::App* sub_;
  std::string path_, format_, output_;
};

}  // namespace

std::unique_ptr<Command> RegisterExport(CLI::App* app) {
  return std::make_unique<ExportCommand>(app);
}

}  // namespace edgetrain::agent
