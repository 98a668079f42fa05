// The three programs' options as an operator meets them: --version names the build, options that
// cannot work are refused at start (exit 2, one line naming the option) instead of breaking the
// run or failing when it ends, --log-json holds one run, and the monitor's own --config and keygen.
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <functional>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "doctest/doctest.h"
#include "test_util.h"

namespace edgetrain {
namespace {

std::vector<std::string> Command(const std::string& program, std::vector<std::string> args) {
  std::vector<std::string> cmd = testing::ProgramCommand(program);
  cmd.insert(cmd.end(), args.begin(), args.end());
  return cmd;
}

const char* const kAgent = "edge_agent/edgetrain-agent";
const char* const kCoordinator = "coordinator/edgetrain-coordinator";
const char* const kMonitor = "monitor/edgetrain-monitor";

size_t Lines(const std::string& s) {
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

TEST_CASE("--version names the program, the version and the commit it was built from") {
  // A build from a git checkout names the commit; one from a tree without git says so.
  const std::regex line(
      "(edgetrain-[a-z]+) [0-9]+\\.[0-9]+\\.[0-9]+ "
      "\\((commit [0-9a-f]{7}(-modified)?|commit unknown: built from a source tree without git)\\)"
      "\n");
  for (const auto& [program, name] :
       std::vector<std::pair<std::string, std::string>>{{kAgent, "edgetrain-agent"},
                                                        {kCoordinator, "edgetrain-coordinator"},
                                                        {kMonitor, "edgetrain-monitor"}}) {
    const testing::CommandResult r = testing::Run(Command(program, {"--version"}));
    INFO(r.out);
    CHECK(r.exit_code == 0);
    std::smatch m;
    REQUIRE(std::regex_match(r.out, m, line));
    CHECK(m[1] == name);
  }
}

struct Refusal {
  const char* program;
  std::vector<std::string> args;
  std::string expected;  // part of the one error line, naming the option
};

TEST_CASE("options that cannot work are refused at start: exit 2, one line naming the option") {
  testing::TempDir dir;
  testing::WriteText(dir.File("file"), "");
  const std::string heart = testing::SourcePath("data/heart_scale.svm");
  const std::string missing_dir = dir.File("absent") + "/model.etm";
  const std::string under_file = dir.File("file") + "/model.etm";
  const std::vector<std::string> train = {"train-local", "--data", heart, "--model",
                                          dir.File("m.etm")};
  const auto local = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = train;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  const std::vector<Refusal> refusals = {
      // Paths the run will write, checked now instead of when the run ends.
      {kCoordinator, {"--insecure", "--model", missing_dir}, "--model: cannot write"},
      {kCoordinator, {"--insecure", "--model", under_file}, "--model: cannot write"},
      {kCoordinator,
       {"--insecure", "--model", dir.path()},
       "--model: '" + dir.path() + "' is a directory"},
      {kCoordinator,
       {"--insecure", "--checkpoint-dir", dir.File("file") + "/ckpt"},
       "--checkpoint-dir"},
      {kCoordinator, {"--insecure", "--checkpoint-dir", dir.File("file")}, "--checkpoint-dir"},
      {kCoordinator,
       {"--insecure", "--checkpoint-dir", dir.File("a/b/c")},
       "--checkpoint-dir: cannot create"},
      {kCoordinator, {"--insecure", "--log-json", missing_dir}, "--log-json"},
      {kCoordinator, {"--insecure", "--endpoints-file", missing_dir}, "--endpoints-file"},
      {kAgent, {"train-local", "--data", heart, "--model", missing_dir}, "--model: cannot write"},
      {kAgent, local({"--liblinear-model", under_file}), "--liblinear-model"},
      {kAgent, {"predict", "--model", heart, "--data", heart, "--output", missing_dir}, "--output"},
      {kMonitor, {"--chart", missing_dir}, "--chart"},
      {kMonitor, {"--csv", dir.path()}, "--csv"},
      // Numbers that would break the run.
      {kCoordinator, {"--insecure", "--heartbeat", "1e-7"}, "--heartbeat: must be in [0.01, 3600]"},
      {kCoordinator, {"--insecure", "--heartbeat", "1e5"}, "--heartbeat"},
      {kCoordinator, {"--insecure", "--heartbeat-patience", "1"}, "--heartbeat-patience"},
      {kCoordinator,
       {"--insecure", "--max-message-mb", "1e30"},
       "--max-message-mb: must be in [1, 2048]"},
      {kCoordinator, {"--insecure", "--max-message-mb", "0.001"}, "--max-message-mb"},
      {kCoordinator,
       {"--insecure", "--gradient-timeout", "inf"},
       "--gradient-timeout: expected a finite number"},
      {kCoordinator, {"--insecure", "--stall-timeout", "0"}, "--stall-timeout"},
      {kCoordinator, {"--insecure", "--checkpoint-interval", "0.001"}, "--checkpoint-interval"},
      {kCoordinator, {"--insecure", "--min-agents", "0"}, "--min-agents"},
      {kCoordinator, {"--insecure", "--newton-max-support", "100000"}, "--newton-max-support"},
      {kCoordinator, {"--insecure", "--l1", "inf"}, "--l1"},
      {kCoordinator, {"--insecure", "--l2", "nan"}, "--l2"},
      {kCoordinator, {"--insecure", "--time-limit", "1e999"}, "--time-limit"},
      {kCoordinator, {"--insecure", "--kkt-tol", "-1"}, "--kkt-tol"},
      {kCoordinator, {"--insecure", "--reference-objective", "inf"}, "--reference-objective"},
      {kCoordinator, {"--insecure", "--fault-drop", "nan"}, "--fault-drop"},
      {kCoordinator, {"--insecure", "--lower", "2", "--upper", "1"}, "lower <= upper"},
      {kAgent, local({"--batch", "0"}), "--batch"},
      {kAgent, local({"--batch", "2000000"}), "--batch"},
      {kAgent, local({"--epoch-passes", "1e300"}), "--epoch-passes"},
      {kAgent, local({"--step-scale", "1e9"}), "--step-scale"},
      {kAgent, local({"--eta", "inf"}), "--eta"},
      {kAgent, local({"--newton-max-support", "1e6"}), "--newton-max-support"},
      {kAgent, {"run", "--insecure", "--data", heart, "--throttle", "nan"}, "--throttle"},
      {kAgent,
       {"run", "--insecure", "--data", heart, "--hello-retry-max", "0"},
       "--hello-retry-max"},
      {kAgent,
       {"run", "--insecure", "--data", heart, "--heartbeat-patience", "1e9"},
       "--heartbeat-patience"},
      {kAgent, {"run", "--insecure", "--data", heart, "--shard", "1/2x"}, "--shard"},
      {kMonitor, {"--timeout", "inf"}, "--timeout"},
      // Keys that cannot work together.
      {kCoordinator,
       {"--key", "k.key", "--allow", "a", "--log-secure"},
       "--log-secure needs --key and --log-allow"},
      {kCoordinator,
       {"--insecure", "--log-secure", "--log-allow", "a"},
       "--log-secure needs --key"},
      {kCoordinator,
       {"--insecure", "--log-allow", "a"},
       "--log-allow is used only with --log-secure"},
      {kMonitor, {"--key", "m.key"}, "--key and --server-key go together"},
      // --config naming a directory (std::ifstream opens one and throws when reading).
      {kCoordinator, {"--config", dir.path()}, "--config: '" + dir.path() + "' is a directory"},
      {kAgent, {"run", "--config", dir.path()}, "is a directory"},
      {kMonitor, {"--config", dir.path()}, "is a directory"},
  };
  for (const Refusal& refusal : refusals) {
    const testing::CommandResult r = testing::Run(Command(refusal.program, refusal.args));
    INFO(refusal.program << " " << refusal.args.back() << ": " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(Lines(r.err) == 1);
    CHECK(r.err.find("error: ") != std::string::npos);
    CHECK(r.err.find(refusal.expected) != std::string::npos);
    CHECK(r.out.empty());
  }
  // Nothing was created on the way.
  CHECK(::access(dir.File("a").c_str(), F_OK) != 0);
}

TEST_CASE("the ranges are in --help") {
  const testing::CommandResult r = testing::Run(Command(kCoordinator, {"--help"}));
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("--heartbeat FLOAT:NUMBER in [0.01, 3600] seconds=1") != std::string::npos);
  CHECK(r.out.find("--max-message-mb FLOAT:NUMBER in [1, 2048] MB=256") != std::string::npos);
  CHECK(r.out.find("--model FILE") != std::string::npos);
  CHECK(r.out.find("--checkpoint-dir DIR") != std::string::npos);
}

size_t Count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// Starts the coordinator (waiting for agents, it writes `insecure` into --log-json first), waits
// until the file's text satisfies `done`, stops it with SIGTERM. False when `done` never held.
bool RunAndStop(const testing::TempDir& dir, std::vector<std::string> extra,
                const std::function<bool(const std::string&)>& done) {
  std::vector<std::string> args = {"--insecure", "--bind",     "tcp://127.0.0.1:0",   "--log-bind",
                                   "",           "--log-json", dir.File("log.jsonl"), "--quiet"};
  args.insert(args.end(), extra.begin(), extra.end());
  testing::ChildProcess coordinator(Command(kCoordinator, args), dir.File("out.txt"));
  const bool held =
      testing::WaitUntil([&] { return done(testing::ReadText(dir.File("log.jsonl"))); }, 20);
  coordinator.Signal(SIGTERM);
  CHECK(coordinator.Wait(20) >= 0);
  return held;
}

TEST_CASE("--log-json holds one run: emptied at start, --resume included") {
  testing::TempDir dir;
  const std::string old_run = "{\"event\":\"from_an_old_run\"}\n";
  const std::string insecure = "\"event\":\"insecure\"";
  const auto events = [&](size_t old_events, size_t new_events) {
    return [=](const std::string& text) {
      return Count(text, "from_an_old_run") == old_events && Count(text, insecure) == new_events;
    };
  };
  testing::WriteText(dir.File("log.jsonl"), old_run);
  CHECK(RunAndStop(dir, {}, events(0, 1)));
  testing::WriteText(dir.File("log.jsonl"), testing::ReadText(dir.File("log.jsonl")) + old_run);
  CHECK(RunAndStop(dir, {"--resume", "--checkpoint-dir", dir.File("ckpt")}, events(0, 1)));
}

TEST_CASE("the monitor reads --config, prints it back, and makes subscriber keys with keygen") {
  testing::TempDir dir;
  testing::WriteText(dir.File("monitor.toml"),
                     "connect = \"tcp://10.0.0.5:5556\"\ntimeout = 30\ncsv = \"run.csv\"\n");
  testing::CommandResult r =
      testing::Run(Command(kMonitor, {"--config", dir.File("monitor.toml"), "--print-config"}));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.out.find("connect = \"tcp://10.0.0.5:5556\"\n") != std::string::npos);
  CHECK(r.out.find("timeout = 30\n") != std::string::npos);
  CHECK(r.out.find("csv = \"run.csv\"\n") != std::string::npos);
  CHECK(r.out.find("\nkey = \"\"\n") != std::string::npos);  // listed, not set
  testing::WriteText(dir.File("bad.toml"), "connect = \"tcp://h:1\"\nallow = \"x\"\n");
  r = testing::Run(Command(kMonitor, {"--config", dir.File("bad.toml")}));
  CHECK(r.exit_code == 2);
  CHECK(r.err.find(dir.File("bad.toml") + ":2: unknown key 'allow'") != std::string::npos);

  r = testing::Run(Command(kMonitor, {"keygen", "--out", dir.File("monitor")}));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.out.find("wrote " + dir.File("monitor") + ".key") != std::string::npos);
  CHECK(r.out.find("--log-allow") != std::string::npos);
  CHECK(testing::ReadText(dir.File("monitor.pub")).find("public-key = \"") != std::string::npos);
  r = testing::Run(Command(kMonitor, {"keygen", "--out", dir.File("monitor")}));
  CHECK(r.exit_code == 1);  // never overwrites a key
}

// The packaged completion script (packaging/bash-completion/edgetrain) against the built programs
// (run by name from PATH, so not in a cross build, whose programs need the emulator).
TEST_CASE("bash completion offers what the programs' --help defines" *
          doctest::skip(std::string(EDGETRAIN_TEST_EMULATOR).size() > 0)) {
  std::string path;
  for (const char* program : {kAgent, kCoordinator, kMonitor}) {
    const std::string file = testing::ProgramCommand(program).back();
    path += file.substr(0, file.rfind('/')) + ":";
  }
  const std::string script =
      "source '" + testing::SourcePath("packaging/bash-completion/edgetrain") +
      "'\n"
      "c() { COMP_WORDS=(\"$@\"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=();\n"
      "      _edgetrain; echo \"${COMPREPLY[*]}\"; }\n"
      "c edgetrain-agent ''\n"
      "c edgetrain-agent run --s\n"
      "c edgetrain-agent train-local --loss sq\n"
      "c edgetrain-agent train-local --data '" +
      testing::SourcePath("data/heart_sc") +
      "'\n"
      "c edgetrain-agent train-local --l1 ''\n"
      "c edgetrain-coordinator --log-\n"
      "c edgetrain-coordinator --checkpoint-dir '" +
      testing::SourcePath("dat") +
      "'\n"
      "c edgetrain-monitor --json k\n";
  const testing::CommandResult r =
      testing::Run({"bash", "-c", "PATH='" + path + "'$PATH\n" + script});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  std::vector<std::string> lines;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  REQUIRE(lines.size() == 8);
  CHECK(lines[0] == "run train-local predict inspect score show-model export keygen");
  CHECK(lines[1] == "--shard --sampling --server-key --scale");
  CHECK(lines[2] == "squared squared-hinge");
  CHECK(lines[3] == testing::SourcePath("data/heart_scale.svm"));
  CHECK(lines[4].empty());  // a number: nothing to offer
  CHECK(lines[5] == "--log-secure --log-allow --log-bind --log-json");
  CHECK(lines[6] == testing::SourcePath("data"));
  CHECK(lines[7] == "keygen");
}

}  // namespace
}  // namespace edgetrain
