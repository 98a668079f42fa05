// The subcommands of edgetrain-agent. Each registers its options on the app and runs when
// selected; Run() writes its lines to the console (cli/log.h) and returns the process exit code.
#ifndef EDGETRAIN_EDGE_AGENT_COMMANDS_H_
#define EDGETRAIN_EDGE_AGENT_COMMANDS_H_

#include <CLI/CLI.hpp>
#include <memory>

#include "edgetrain/cli/log.h"

namespace edgetrain::agent {

class Command {
 public:
  virtual ~Command() = default;
  // True when this subcommand was selected on the command line.
  virtual bool Selected() const = 0;
  virtual int Run(const cli::Console& console) = 0;
};

std::unique_ptr<Command> RegisterTrainLocal(CLI::App* app);
std::unique_ptr<Command> RegisterPredict(CLI::App* app);
std::unique_ptr<Command> RegisterInspect(CLI::App* app);
std::unique_ptr<Command> RegisterRun(CLI::App* app);
std::unique_ptr<Command> RegisterKeygen(CLI::App* app);
std::unique_ptr<Command> RegisterScore(CLI::App* app);
std::unique_ptr<Command> RegisterShowModel(CLI::App* app);
std::unique_ptr<Command> RegisterExport(CLI::App* app);

}  // namespace edgetrain::agent

#endif  // EDGETRAIN_EDGE_AGENT_COMMANDS_H_
