#include "edgetrain/cli/keygen.h"

#include "edgetrain/cli/flags.h"
#include "edgetrain/transport/curve.h"

namespace edgetrain::cli {

KeygenCommand::KeygenCommand(CLI::App* app, std::string role, const std::string& example,
                             std::string next_step)
    : role_(std::move(role)), next_step_(std::move(next_step)) {
  sub_ = app->add_subcommand(
      "keygen", "Write a CURVE key pair: PREFIX.key (secret, mode 0600) and PREFIX.pub");
  sub_->add_option("--out", prefix_, "Path prefix of the key files, e.g. " + example)
      ->type_name("PREFIX")
      ->required();
}

int KeygenCommand::Run(const Console& console) const {
  const std::string program = CLI::detail::join(
      std::vector<std::string>{sub_->get_parent()->get_name(), sub_->get_name()}, " ");
  Result<transport::CurveKeyPair> keys = transport::GenerateKeyFiles(prefix_, role_);
  if (!keys.ok()) return console.Fail(program, keys.status());
  console.Write(Priority::kNotice,
                "wrote " + prefix_ + ".key (secret, mode 0600) and " + prefix_ + ".pub");
  console.Write(Priority::kNotice, "public key " + keys->public_key + " (" + next_step_ + ")");
  return kExitOk;
}

}  // namespace edgetrain::cli
