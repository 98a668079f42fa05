// edgetrain-agent show-model: what a model file holds, for people (a table) or programs (--json).
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "commands.h"
#include "edgetrain/cli/flags.h"
#include "edgetrain/loss.h"
#include "edgetrain/model.h"
#include "edgetrain/text.h"
#include "model_json.h"

namespace edgetrain::agent {
namespace {

class ShowModelCommand : public Command {
 public:
  explicit ShowModelCommand(CLI::App* app) {
    sub_ = app->add_subcommand(
        "show-model",
        "Show a model file: weights with feature names (largest first), scaler, labels, label "
        "column, loss and penalties, missing-value policy, training summary");
    sub_->add_option("model", path_, "Model file (train-local's or the coordinator's)")
        ->required()
        ->check(CLI::ExistingFile);
    sub_->add_flag("--json", json_,
                   "One JSON document with every field (numbers read back exactly; an infinite "
                   "box bound is null)");
    sub_->add_flag("--all", all_, "Every weight, zeros included (default: the non-zero ones)");
  }

  bool Selected() const override { return sub_->parsed(); }

  int Run(const cli::Console& console) override {
    Result<Model> model = ReadModelFile(path_);
    if (!model.ok()) return console.Fail("edgetrain-agent show-model", model.status());
    const Model& m = *model;
    if (json_) {
      std::printf("%s\n", ModelJson(m, all_, /*by_magnitude=*/true).dump(2).c_str());
      return cli::kExitOk;
    }
    std::printf("model %s\n", Printable(path_).c_str());
    std::printf("task %s, loss %s, l1 %.17g, l2 %.17g", TaskName(m.task), LossName(m.spec.loss),
                m.spec.reg.l1, m.spec.reg.l2);
    if (std::isfinite(m.spec.reg.lower) || std::isfinite(m.spec.reg.upper)) {
      std::printf(", box [%.17g, %.17g]", m.spec.reg.lower, m.spec.reg.upper);
    }
    std::printf("\nintercept %s %.17g\n", m.spec.intercept ? "fitted" : "not fitted", m.intercept);
    if (m.labels) {
      std::printf("labels '%s' -> -1, '%s' -> +1\n", Printable(m.labels->negative).c_str(),
                  Printable(m.labels->positive).c_str());
    }
    if (!m.label_column.empty())
      std::printf("label column '%s'\n", Printable(m.label_column).c_str());
    std::printf("features %d, non-zero weights %" PRId64 "\n", m.dim, m.NonZeros());
    std::printf("scaler %s\n", ScalerName(m.scaler.kind));
    std::printf("missing values %s\n", MissingPolicyName(m.missing));
    const TrainingSummary& s = m.summary;
    char when[64] = "unknown";
    const std::time_t t = static_cast<std::time_t>(s.created_unix);
    if (s.created_unix > 0)
      std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&t));
    std::printf("training %s, %d agent(s), %" PRId64 " rows, %" PRId64 " epochs, %" PRId64
                " updates, %.3f s, stopped: %s\n",
                s.mode.c_str(), s.agents, s.rows, s.epochs, s.updates, s.seconds,
                Printable(s.stop_reason).c_str());
    std::printf("objective %.17g, KKT violation %.3e, step %.4g, inner steps %" PRId64
                ", batch %d\n",
                s.objective, s.kkt_violation, s.step_size, s.inner_steps, s.batch_size);
    std::printf("created %s by edgetrain %s\n", when, Printable(s.software_version).c_str());
    if (s.round > 0) {  // published by a coordinator's training round (model_dir.h)
      std::string rows;
      for (const auto& [agent, n] : s.agent_rows)
        rows += (rows.empty() ? "" : ", ") + Printable(agent) + " " + std::to_string(n);
      std::printf("round %" PRId64 ", relative duality gap %.3e, rows per agent: %s\n", s.round,
                  s.relative_gap, rows.empty() ? "(none)" : rows.c_str());
    }
    const nlohmann::json weights = ModelJson(m, all_, true)["weights"];
    std::printf("weights (%s, largest magnitude first):\n",
                all_ ? "all" : "non-zero; --all for every one");
    const bool scaled = m.scaler.kind != ScalerKind::kNone;
    std::printf("  %8s  %-24s  %24s%s\n", "index", "feature", "weight",
                scaled ? "  (scaler offset, factor)" : "");
    for (const auto& w : weights) {
      const int32_t j = w["index"].get<int32_t>();
      const std::string name =
          m.feature_names.empty() ? std::to_string(j + 1) : Printable(m.feature_names[j], 24);
      std::printf("  %8d  %-24s  %24.17g", j + 1, name.c_str(), w["value"].get<double>());
      if (scaled) std::printf("  (%.6g, %.6g)", m.scaler.offset[j], m.scaler.factor[j]);
      std::printf("\n");
    }
    return cli::kExitOk;
  }

 private:
  CLI::App* sub_;
  std::string path_;
  bool json_ = false, all_ = false;
};

}  // namespace

std::unique_ptr<Command> RegisterShowModel(CLI::App* app) {
  return std::make_unique<ShowModelCommand>(app);
}

}  // namespace edgetrain::agent
