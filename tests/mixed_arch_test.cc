// Mixed architectures, as a plant runs them: an x86-64 coordinator, an aarch64 agent under
// qemu-aarch64, an armv7 (32-bit) agent under qemu-arm and a native agent train one model over
// loopback and reach the serial optimum. Run by scripts/mixed-arch-test after the cross builds
// (scripts/cross-build); not part of the default ctest suite, which must not need them.
//
// Where the ARM programs are (environment, else the cross-build presets' output):
//   EDGETRAIN_ARM64_AGENT  (default <source>/build/arm64/edge_agent/edgetrain-agent)
//   EDGETRAIN_ARMHF_AGENT  (default <source>/build/armhf/edge_agent/edgetrain-agent)
//   EDGETRAIN_ARMHF_SYSROOT (default <source>/build/sysroot-armhf)
#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cluster.h"
#include "doctest/doctest.h"
#include "edgetrain/model.h"
#include "json_util.h"
#include "test_util.h"

namespace edgetrain {
namespace {

using testing::ChildProcess;

std::string Setting(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : testing::SourcePath(fallback);
}

bool IsFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// The ELF machine of a program, from its header (e_machine at offset 18).
int ElfMachine(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  unsigned char header[20] = {};
  f.read(reinterpret_cast<char*>(header), sizeof header);
  REQUIRE_MESSAGE(f.good(), "cannot read " << path);
  REQUIRE_MESSAGE((header[0] == 0x7f && header[1] == 'E'), path << " is not an ELF program");
  return header[18] | (header[19] << 8);
}

// Runs an x86-64 coordinator (with `coordinator_extra` arguments) and one agent per architecture
// on the bundled SpamAssassin shards; checks each joined, reports its architecture and stopped at
// the KKT tolerance, and that the model is the serial optimum. Returns the agents' outputs by id.
std::map<std::string, std::string> RunMixed(const std::vector<std::string>& coordinator_extra) {
  const std::string arm64 =
      Setting("EDGETRAIN_ARM64_AGENT", "build/arm64/edge_agent/edgetrain-agent");
  const std::string armhf =
      Setting("EDGETRAIN_ARMHF_AGENT", "build/armhf/edge_agent/edgetrain-agent");
  const std::string sysroot = Setting("EDGETRAIN_ARMHF_SYSROOT", "build/sysroot-armhf");
  REQUIRE_MESSAGE(IsFile(arm64), arm64 << " is missing: run scripts/cross-build first");
  REQUIRE_MESSAGE(IsFile(armhf), armhf << " is missing: run scripts/cross-build first");
  REQUIRE_MESSAGE(IsFile(sysroot + "/.edgetrain-sysroot"),
                  sysroot << " is not an armhf sysroot (scripts/make-armhf-sysroot)");
  CHECK(ElfMachine(arm64) == 183);  // EM_AARCH64
  CHECK(ElfMachine(armhf) == 40);   // EM_ARM
  const std::string native = testing::ProgramCommand("edge_agent/edgetrain-agent").back();
  CHECK(ElfMachine(native) == 62);  // EM_X86_64

  const std::string& data = testing::SpamTrainPath();
  testing::TempDir dir;
  std::vector<std::string> cmd = testing::ProgramCommand("coordinator/edgetrain-coordinator");
  for (const char* arg :
       {"--insecure", "--bind", "tcp://127.0.0.1:0", "--log-bind", "", "--min-agents", "3", "--l1",
        "1e-3", "--max-epochs", "100", "--heartbeat", "0.5", "--heartbeat-patience", "20"}) {
    cmd.push_back(arg);
  }
  for (const std::string& arg :
       {std::string("--endpoints-file"), dir.File("endpoints"), std::string("--model"),
        dir.File("model.etm"), std::string("--log-json"), dir.File("log.jsonl")}) {
    cmd.push_back(arg);
  }
  cmd.insert(cmd.end(), coordinator_extra.begin(), coordinator_extra.end());
  ChildProcess coordinator(cmd, dir.File("coordinator.out"));
  REQUIRE(testing::WaitForFile(dir.File("endpoints"), 10));
  const std::string endpoint = testing::ReadEndpoints(dir.File("endpoints"))["agents"];

  // One shard per architecture. The native agent is throttled to roughly the emulated agents'
  // speed, so that all three compute updates the staleness bound admits.
  struct Device {
    std::string id;
    std::vector<std::string> program;
    std::vector<std::string> extra;
    std::string arch;  // as the agent reports it in Hello
  };
  const std::vector<Device> devices = {
      {"pi-aarch64", {"qemu-aarch64", "-L", "/", arm64}, {}, "aarch64"},
      {"gateway-armv7", {"qemu-arm", "-L", sysroot, armhf}, {}, "armv7l"},
      {"ipc-x86-64", {native}, {"--throttle", "10"}, "x86_64"},
  };
  std::vector<std::unique_ptr<ChildProcess>> agents;
  for (size_t k = 0; k < devices.size(); ++k) {
    std::vector<std::string> a = devices[k].program;
    for (const std::string& arg :
         {std::string("run"), std::string("--coordinator"), endpoint, std::string("--data"), data,
          std::string("--shard"), std::to_string(k + 1) + "/3", std::string("--agent-id"),
          devices[k].id, std::string("--insecure")}) {
      a.push_back(arg);
    }
    a.insert(a.end(), devices[k].extra.begin(), devices[k].extra.end());
    agents.push_back(std::make_unique<ChildProcess>(a, dir.File(devices[k].id + ".out")));
  }
  REQUIRE_MESSAGE(coordinator.Wait(600) == 0, testing::ReadText(dir.File("coordinator.out")));
  for (auto& a : agents) CHECK_MESSAGE(a->Wait(60) == 0, testing::ReadText(a->output_path()));
  const std::string summary = testing::ReadText(dir.File("coordinator.out"));
  MESSAGE(summary.substr(summary.rfind("stopped:")));

  // Every architecture joined (as reported in its Hello) and stopped at the KKT tolerance.
  std::map<std::string, std::string> arch_of, outputs;
  std::istringstream log(testing::ReadText(dir.File("log.jsonl")));
  for (std::string line; std::getline(log, line);) {
    Result<testing::Json> e = testing::ParseJson(line);
    REQUIRE(e.ok());
    if (testing::Str((*e), "event") == "agent_joined")
      arch_of[testing::Str((*e), "agent")] = testing::Str((*e), "software_version");
  }
  for (const Device& d : devices) {
    INFO(d.id, " reported '", arch_of[d.id], "'");
    CHECK(arch_of[d.id].find(d.arch) != std::string::npos);
    const std::string out = testing::ReadText(dir.File(d.id + ".out"));
    const size_t last = out.rfind("stop:");
    MESSAGE(d.id, " (", arch_of[d.id],
            "): ", last == std::string::npos ? "no final line" : out.substr(last));
    INFO(out);  // the whole log, shown only if a check below fails
    CHECK(testing::StoppedConverged(out, "stop: "));
    outputs[d.id] = out;
  }

  // The model: the serial optimum to 1e-6 relative.
  Result<Model> model = ReadModelFile(dir.File("model.etm"));
  REQUIRE_MESSAGE(model.ok(), model.status().ToString());
  CHECK(model->summary.agents == 3);
  CHECK(model->summary.kkt_violation <= 1e-8);
  const double ours = testing::SpamObjective(model->ToVector());  // the data and l1 of SpamSpec()
  const double serial = testing::SpamSerialOptimum();
  INFO("mixed architectures ", ours, ", serial ", serial);
  CHECK(std::fabs(ours - serial) <= 1e-6 * serial);
  return outputs;
}

TEST_CASE(
    "x86-64 coordinator with aarch64, armv7 and native agents: inner loops reach the serial "
    "optimum") {
  // DAP-SVRG's inner loops alone: every architecture's updates are applied.
  for (const auto& [id, out] : RunMixed({"--newton-max-support", "0"})) {
    INFO(id, ": ", out);
    const size_t at = out.rfind(" updates sent, ");
    REQUIRE(at != std::string::npos);
    CHECK(std::atol(out.c_str() + at + 15) > 0);  // "..., N applied"
  }
}

TEST_CASE(
    "x86-64 coordinator with aarch64, armv7 and native agents: Newton epochs sum every "
    "architecture's blocks") {
  // The Hessian blocks computed on three architectures are added into one Newton system.
  for (const auto& [id, out] : RunMixed({})) {
    INFO(id, ": ", out);
    CHECK(out.find("curvature on ") != std::string::npos);
    CHECK(out.find("coordinates sent") != std::string::npos);
  }
}

}  // namespace
}  // namespace edgetrain
