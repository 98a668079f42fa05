// Config files (--config FILE, --print-config) of edgetrain-coordinator, edgetrain-agent run and
// train-local, through the real programs: a file sets values, a flag overrides it, unknown keys and
// bad values are usage errors naming the file, line and key, and the printed config reads back.
#include <algorithm>
#include <string>
#include <vector>

#include "doctest/doctest.h"
#include "test_util.h"

namespace edgetrain {
namespace {

testing::CommandResult Program(const std::string& name, std::vector<std::string> args) {
  std::vector<std::string> cmd = testing::ProgramCommand(name);
  cmd.insert(cmd.end(), args.begin(), args.end());
  return testing::Run(cmd);
}
testing::CommandResult Coordinator(std::vector<std::string> args) {
  return Program("coordinator/edgetrain-coordinator", std::move(args));
}
testing::CommandResult Agent(std::vector<std::string> args) {
  return Program("edge_agent/edgetrain-agent", std::move(args));
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}
size_t Lines(const std::string& s) {
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

// A usage error: exit code 2 and one line on stderr that contains every part.
void CheckUsageError(const testing::CommandResult& r, const std::vector<std::string>& parts) {
  INFO(r.err);
  CHECK(r.exit_code == 2);
  CHECK(Lines(r.err) == 1);
  CHECK(r.out.empty());
  for (const std::string& part : parts) CHECK(Has(r.err, part));
}

TEST_CASE("a config file sets the coordinator's options and a flag overrides it") {
  testing::TempDir dir;
  const std::string file = dir.File("coordinator.toml");
  testing::WriteText(file,
                     "# a comment\n"
                     "bind = \"tcp://127.0.0.1:6001\"\n"
                     "l1 = 2.5e-3   # trailing comment\n"
                     "min-agents = 3\n"
                     "insecure = true\n"
                     "checkpoint-dir = \"/var/lib/edgetrain/checkpoints\"\n"
                     "resume\n");
  testing::CommandResult r = Coordinator({"--config", file, "--print-config"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(Has(r.out, "bind = \"tcp://127.0.0.1:6001\"\n"));
  CHECK(Has(r.out, "l1 = 2.5e-3\n"));
  CHECK(Has(r.out, "min-agents = 3\n"));
  CHECK(Has(r.out, "insecure = true\n"));
  CHECK(Has(r.out, "resume = true\n"));
  CHECK(Has(r.out, "checkpoint-dir = \"/var/lib/edgetrain/checkpoints\"\n"));
  CHECK(Has(r.out, "max-epochs = 100\n"));  // a default
  CHECK(Has(r.out,
            "# Stop after this many epochs (inner loops or Newton steps)\n"));  // help texts become
                                                                                // comments
  CHECK(!Has(r.out, "config = "));
  CHECK(!Has(r.out, "print-config = "));

  // The command line wins over the file, whichever comes first.
  r = Coordinator({"--l1", "0.5", "--config", file, "--min-agents=4", "--print-config"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(Has(r.out, "l1 = 0.5\n"));
  CHECK(Has(r.out, "min-agents = 4\n"));
  CHECK(Has(r.out, "bind = \"tcp://127.0.0.1:6001\"\n"));
}

TEST_CASE("agent run takes its options, even the required --data, from a config file") {
  testing::TempDir dir;
  const std::string file = dir.File("agent.toml");
  const std::string data = testing::SourcePath("data/spam/train.svm");
  testing::WriteText(file,
                     "coordinator = \"tcp://10.1.2.3:5555\"\n"
                     "data = \"" +
                         data +
                         "\"\n"
                         "agent-id = \"line-7\"\n"
                         "insecure = true\n"
                         "features = [\"age\", \"bmi\"]\n"
                         "throttle = 2\n");
  testing::CommandResult r = Agent({"run", "--config", file, "--print-config"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(Has(r.out, "coordinator = \"tcp://10.1.2.3:5555\"\n"));
  CHECK(Has(r.out, "data = \"" + data + "\"\n"));
  CHECK(Has(r.out, "agent-id = \"line-7\"\n"));
  CHECK(Has(r.out, "features = [\"age\", \"bmi\"]\n"));
  CHECK(Has(r.out, "throttle = 2\n"));
  CHECK(Has(r.out, "sampling = \"auto\"\n"));

  r = Agent({"run", "--config", file, "--agent-id", "line-8", "--print-config"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(Has(r.out, "agent-id = \"line-8\"\n"));

  // --help lists both options on the subcommand.
  r = Agent({"run", "--help"});
  CHECK(r.exit_code == 0);
  CHECK(Has(r.out, "--config"));
  CHECK(Has(r.out, "--print-config"));
}

TEST_CASE("unknown keys, sections, bad values and missing files exit 2 naming file, line and key") {
  testing::TempDir dir;
  auto write = [&](const std::string& name, const std::string& text) {
    testing::WriteText(dir.File(name), text);
    return dir.File(name);
  };
  std::string f = write("unknown.toml", "insecure = true\n\nl3 = 1\n");
  CheckUsageError(Coordinator({"--config", f}),
                  {"edgetrain-coordinator: error: ", f + ":3: ", "unknown key 'l3'"});

  // min-agents is a coordinator key.
  f = write("agent-unknown.toml",
            "data = \"" + testing::SourcePath("data/heart_scale.svm") + "\"\nmin-agents = 2\n");
  CheckUsageError(Agent({"run", "--config", f}),
                  {f + ":2: ", "unknown key 'min-agents'", "edgetrain-agent run"});

  f = write("section.toml", "insecure = true\n[run]\nl1 = 1\n");
  CheckUsageError(Coordinator({"--config", f}), {f + ":2: ", "[run]"});

  f = write("negative.toml", "l1 = -1\n");
  CheckUsageError(Coordinator({"--config", f}),
                  {f + ":1: ", "bad value for key 'l1'", "must be >= 0, got -1"});

  f = write("not-a-number.toml", "# epochs\nmax-epochs = many\n");
  CheckUsageError(Coordinator({"--config", f}),
                  {f + ":2: ", "bad value for key 'max-epochs'", "many"});

  f = write("member.toml", "loss = \"hinge\"\n");
  CheckUsageError(Agent({"train-local", "--config", f, "--data",
                         testing::SourcePath("data/heart_scale.svm"), "--model", dir.File("m")}),
                  {f + ":1: ", "bad value for key 'loss'", "hinge"});

  f = write("flag.toml", "insecure = maybe\n");
  CheckUsageError(Coordinator({"--config", f}), {f + ":1: ", "bad value for key 'insecure'"});

  f = write("twice.toml", "l1 = 1\nl2 = 1\nl1 = 2\n");
  CheckUsageError(Coordinator({"--config", f}), {f, "key 'l1' is set twice"});

  f = write("config.toml", "config = \"other.toml\"\n");
  CheckUsageError(Coordinator({"--config", f}),
                  {f + ":1: ", "'config' cannot be set in a config file"});

  CheckUsageError(Coordinator({"--config", dir.File("absent.toml")}),
                  {dir.File("absent.toml"), "cannot read"});
}

TEST_CASE("the printed config reads back to the same config") {
  testing::TempDir dir;
  testing::CommandResult first =
      Coordinator({"--insecure", "--l1", "1e-3", "--l2", "0.25", "--nonneg", "--labels", "ham,spam",
                   "--max-epochs", "7", "--checkpoint-dir", "/var/lib/edgetrain/checkpoints",
                   "--reference-objective", "0.125", "--print-config"});
  REQUIRE_MESSAGE(first.exit_code == 0, first.err);
  CHECK(Has(first.out, "lower = -inf\n"));
  CHECK(Has(first.out, "upper = inf\n"));
  testing::WriteText(dir.File("saved.toml"), first.out);
  testing::CommandResult second =
      Coordinator({"--config", dir.File("saved.toml"), "--print-config"});
  REQUIRE_MESSAGE(second.exit_code == 0, second.err);
  CHECK(second.out == first.out);

  const std::string data = testing::SourcePath("data/spam/train.svm");
  first = Agent({"run", "--data", data, "--insecure", "--shard", "2/4", "--features", "a,bb",
                 "--positive-label", "1", "--print-config"});
  REQUIRE_MESSAGE(first.exit_code == 0, first.err);
  testing::WriteText(dir.File("agent.toml"), first.out);
  second = Agent({"run", "--config", dir.File("agent.toml"), "--print-config"});
  REQUIRE_MESSAGE(second.exit_code == 0, second.err);
  CHECK(second.out == first.out);
}

TEST_CASE("train-local trains with the options of a config file") {
  testing::TempDir dir;
  testing::WriteText(dir.File("local.toml"),
                     "data = \"" + testing::SourcePath("data/heart_scale.svm") + "\"\nmodel = \"" +
                         dir.File("heart.etm") + "\"\nl1 = 0.01\nmax-epochs = 3\nquiet = true\n");
  const testing::CommandResult r = Agent({"train-local", "--config", dir.File("local.toml")});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(Has(r.out, "model written to " + dir.File("heart.etm")));
  CHECK(!Has(r.out, "epoch  objective"));  // quiet
  CHECK(Has(r.out, "after 3 epochs"));
}

}  // namespace
}  // namespace edgetrain
