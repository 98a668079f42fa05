// edgetrain-agent: the program that runs on a device.
//   run          join a coordinator and train on this device's data (DAP-SVRG)
//   train-local  ProxSVRG on this device's data alone (single-device mode)
//   predict      apply a model file to a data file and report its quality
//   inspect      check a data file and report what it holds
//   score        predictions for rows as they arrive, on the newest published model
//   show-model   a model's weights (with feature names), scaler, labels, summary
//   export       a model in liblinear's, JSON or scikit-learn form
//   keygen       write this device's CURVE key pair
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <memory>
#include <vector>

#include "commands.h"
#include "edgetrain/cli/flags.h"

namespace {

int Main(int argc, char** argv, const edgetrain::cli::Console& console) {
  CLI::App app{"edgetrain-agent: trains a sparse linear model on this device's data",
               "edgetrain-agent"};
  app.set_version_flag("--version", edgetrain::cli::VersionLine("edgetrain-agent"));
  app.require_subcommand(1);
  std::vector<std::unique_ptr<edgetrain::agent::Command>> commands;
  commands.push_back(edgetrain::agent::RegisterRun(&app));
  commands.push_back(edgetrain::agent::RegisterTrainLocal(&app));
  commands.push_back(edgetrain::agent::RegisterPredict(&app));
  commands.push_back(edgetrain::agent::RegisterInspect(&app));
  commands.push_back(edgetrain::agent::RegisterScore(&app));
  commands.push_back(edgetrain::agent::RegisterShowModel(&app));
  commands.push_back(edgetrain::agent::RegisterExport(&app));
  commands.push_back(edgetrain::agent::RegisterKeygen(&app));
  if (int rc = edgetrain::cli::Parse(app, argc, argv, console); rc >= 0) return rc;
  for (auto& command : commands) {
    if (command->Selected()) return command->Run(console);
  }
  return edgetrain::cli::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  // The only place that reads the environment: is stdout or stderr the journal (cli/log.h)?
  return edgetrain::cli::RunMain(
      "edgetrain-agent", std::getenv("JOURNAL_STREAM"),
      [&](const edgetrain::cli::Console& console) { return Main(argc, argv, console); });
}
