// The `keygen` subcommand that edgetrain-agent, edgetrain-coordinator and edgetrain-monitor share:
// `PROGRAM keygen --out PREFIX` writes a new CURVE key pair, PREFIX.key (secret, mode 0600) and
// PREFIX.pub (transport/curve.h), never overwriting a key, and says where the public key goes.
//
// Thread-safety: call from main only. Ownership: the subcommand belongs to the app; the
// KeygenCommand must outlive the parse.
#ifndef EDGETRAIN_CLI_KEYGEN_H_
#define EDGETRAIN_CLI_KEYGEN_H_

#include <CLI/CLI.hpp>
#include <string>

#include "edgetrain/cli/log.h"

namespace edgetrain::cli {

class KeygenCommand {
 public:
  // `role` names the key in its files ("edgetrain agent"); `example` is a prefix for the help
  // text ("/etc/edgetrain/keys/agent"); `next_step` tells what to do with the public key ("add
  // it to the coordinator's --allow file").
  KeygenCommand(CLI::App* app, std::string role, const std::string& example, std::string next_step);

  bool Selected() const { return sub_->parsed(); }
  // Writes the key pair; returns the exit code.
  int Run(const Console& console) const;

 private:
  CLI::App* sub_;
  std::string role_;
  std::string next_step_;
  std::string prefix_;
};

}  // namespace edgetrain::cli

#endif  // EDGETRAIN_CLI_KEYGEN_H_
