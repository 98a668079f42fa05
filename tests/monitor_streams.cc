#include "monitor_streams.h"

#include <cmath>
#include <sstream>

#include "doctest/doctest.h"
#include "event_json.h"

namespace edgetrain::testing {

using monitor::Json;
using monitor::RunRecord;

Stream RunWithReference() {
  const double t0 = 1714560000.0;  // 2024-05-01 10:40:00 UTC
  auto begin = [&](int epoch, double objective, double kkt, double rel_subopt, int nnz, int agents,
                   double seconds, bool best, bool final_snapshot) {
    const Json e = {{"event", "epoch_begin"},
                    {"time", t0 + seconds},
                    {"epoch", epoch},
                    {"objective", objective},
                    {"kkt", kkt},
                    {"gap_bound", nullptr},  // how the coordinator writes an infinite bound
                    {"nnz", nnz},
                    {"rows", 1600},
                    {"agents", agents},
                    {"version", epoch * 3200},
                    {"eta", 7.9998333129931432},
                    {"inner_steps", 3200},
                    {"batch", 1},
                    {"seconds", seconds},
                    {"best", best},
                    {"rolled_back", false},
                    {"final", final_snapshot},
                    {"rel_subopt", rel_subopt}};
    return std::make_pair(std::string("epoch"), e.dump());
  };
  auto end = [&](int epoch, double rate, double seconds) {
    const Json e = {{"event", "epoch_end"},
                    {"time", t0 + seconds},
                    {"epoch", epoch},
                    {"updates_applied", 3200},
                    {"inner_steps", 3200},
                    {"updates_per_second", rate},
                    {"inner_seconds", 3200 / rate},
                    {"staleness_histogram", {273, 2662, 258, 7, 0, 0, 0, 0}},
                    {"refused", {{"late_update", 1}}},
                    {"guarded_refused", 12},
                    {"guarded_clipped", 3},
                    {"bytes_in", 75838176},
                    {"bytes_out", 73160072},
                    {"version", (epoch + 1) * 3200},
                    {"seconds", seconds}};
    return std::make_pair(std::string("epoch"), e.dump());
  };
  std::vector<std::pair<std::string, std::string>> events = {
      {"agent",
       R"({"event":"agent_joined","time":1714559999.5,"agent":"line-1","peer":"10.0.0.11","rows":800,)"
       R"("dimension":57,"row_norm_sq_max":1.0000167,"software_version":"0.1.0","agents":1})"},
      {"agent",
       R"({"event":"agent_joined","time":1714559999.75,"agent":"line-2","peer":"10.0.0.12","rows":800,)"
       R"("dimension":57,"row_norm_sq_max":1.0000208,"software_version":"0.1.0","agents":2})"},
      {"run",
       R"({"event":"run_started","time":1714560000,"agents":2,"dimension":57,"loss":"logistic","l1":0.001,)"
       R"("l2":0,"intercept":false,"max_epochs":30,"kkt_tolerance":1e-08,"reference_objective":0.38,)"
       R"("label_negative":"-1","label_positive":"1"})"},
      begin(0, 0.6931471805599453, 0.011, 0.824, 0, 2, 0.003, true, false),
      {"epoch",
       R"({"event":"progress","time":1714560000.2,"epoch":0,"updates_applied":1600,"inner_steps":3200,)"
       R"("updates_per_second":8000,"agents":2,"seconds":0.203})"},
      end(0, 8021.5, 0.4),
      begin(1, 0.8136, 0.0019, 1.141, 1788, 2, 0.41, false, false),
      end(1, 13032.8, 0.65),
      {"agent",
       R"({"event":"agent_left","time":1714560000.7,"agent":"line-2","reason":"silent for 15.0 s","agents":1})"},
      {"agent",
       R"({"event":"message_refused","time":1714560000.71,"agent":"an unknown connection","peer":"10.0.0.99",)"
       R"("reason":"malformed","detail":"not a FlatBuffer"})"},
      begin(2, 0.4054, 4.5e-05, 0.067, 36, 1, 0.66, true, false),
      end(2, 12361.7, 0.9),
      begin(3, 0.37999999999723, 6.4e-09, -7.29e-12, 29, 1, 0.91, true, true),
      {"run",
       R"({"event":"run_finished","time":1714560001,"reason":"kkt","epoch":3,"objective":0.37999999999723,)"
       R"("kkt":6.4e-09,"nnz":29,"updates_applied":9600,"updates_refused":3,"messages_refused":1,)"
       R"("agents_joined":2,"seconds":0.91,"bytes_in":1,"bytes_out":2,"model":"/tmp/m.etm","refused":{},)"
       R"("rel_subopt":-7.29e-12})"},
  };
  return events;
}

std::vector<std::string> MidRunWithoutReference() {
  return {
      R"({"event":"progress","time":1714560100.0,"epoch":4,"updates_applied":2000,"inner_steps":3200,)"
      R"("updates_per_second":9000,"agents":3,"seconds":5.0})",
      R"({"event":"epoch_end","time":1714560100.1,"epoch":4,"updates_applied":3200,"inner_steps":3200,)"
      R"("updates_per_second":9100,"inner_seconds":0.35,"seconds":5.1})",
      R"({"event":"epoch_begin","time":1714560100.3,"epoch":5,"objective":0.5,"kkt":1e-3,"gap_bound":null,)"
      R"("nnz":40,"rows":2400,"agents":3,"version":16000,"eta":2.5,"inner_steps":3200,"batch":1,"seconds":5.3,)"
      R"("best":true,"rolled_back":false,"final":false})",
      R"({"event":"epoch_end","time":1714560100.6,"epoch":5,"updates_applied":3200,"inner_steps":3200,)"
      R"("updates_per_second":10000,"inner_seconds":0.32,"seconds":5.6})",
      R"({"event":"epoch_begin","time":1714560100.8,"epoch":6,"objective":0.45,"kkt":1e-5,"gap_bound":null,)"
      R"("nnz":31,"rows":2400,"agents":3,"version":19200,"eta":2.5,"inner_steps":3200,"batch":1,"seconds":5.8,)"
      R"("best":true,"rolled_back":false,"final":false})",
      R"({"event":"epoch_end","time":1714560101.1,"epoch":6,"updates_applied":3200,"inner_steps":3200,)"
      R"("updates_per_second":11000,"inner_seconds":0.29,"seconds":6.1})",
      R"({"event":"epoch_begin","time":1714560101.3,"epoch":7,"objective":0.4,"kkt":1e-7,"gap_bound":null,)"
      R"("nnz":30,"rows":2400,"agents":3,"version":22400,"eta":2.5,"inner_steps":3200,"batch":1,"seconds":6.3,)"
      R"("best":true,"rolled_back":false,"final":true})",
      R"({"event":"run_finished","time":1714560101.4,"reason":"max-epochs","epoch":7,"objective":0.4,"kkt":1e-7,)"
      R"("nnz":30,"updates_applied":22400,"updates_refused":0,"messages_refused":0,"agents_joined":3,)"
      R"("seconds":6.3,"bytes_in":1,"bytes_out":2,"model":"m.etm","refused":{}})",
  };
}

RunRecord Fold(const Stream& events) {
  RunRecord record;
  for (const auto& [topic, body] : events) {
    INFO(body);
    REQUIRE(record.Consume(body).ok());
  }
  return record;
}

RunRecord Fold(const std::vector<std::string>& events) {
  RunRecord record;
  for (const std::string& body : events) {
    INFO(body);
    REQUIRE(record.Consume(body).ok());
  }
  return record;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

namespace {

constexpr double kT0 = 1714560000.0;  // 2024-05-01 10:40:00 UTC

std::pair<std::string, std::string> Event(const char* topic, const char* name, double seconds,
                                          Json fields) {
  Json e = {{"event", name}, {"time", kT0 + seconds}, {"run_id", kOperatorsRunId}};
  e.update(fields);
  return {topic, e.dump()};
}

Json Agent(const std::string& id, const char* role, int rows, int applied, int refused,
           double staleness, double heard, int timeouts) {
  return {{"agent", id},
          {"address", "10.0.0." + std::to_string(rows / 100)},
          {"software_version", "0.1.0 x86_64"},
          {"arch", "x86_64"},
          {"role", role},
          {"rows", rows},
          {"updates_applied", applied},
          {"updates_refused", refused},
          {"refused_by_reason", refused > 0 ? Json{{"too_stale", refused}} : Json::object()},
          {"gradient_timeouts", timeouts},
          {"messages", applied + refused + 3},
          {"mean_staleness", std::isfinite(staleness) ? Json(staleness) : Json(nullptr)},
          {"rtt_seconds", applied > 0 ? Json(0.0042) : Json(nullptr)},
          {"seconds_since_heard", heard},
          {"last_message", applied > 0 ? "Update" : "Hello"}};
}

Json Status(const char* state, const char* why, const char* phase, int epoch, double seconds,
            int agents, Json agent_status, Json best = nullptr, double epoch_eta = NAN,
            double run_eta = NAN, int steps_applied = 0, int steps = 0) {
  const auto number = [](double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); };
  return {{"state", state},
          {"why", why},
          {"phase", phase},
          {"epoch", epoch},
          {"agents", agents},
          {"agents_needed", 2},
          {"rows", best.is_null() ? 0 : best.value("rows", 0)},
          {"steps_applied", steps_applied},
          {"inner_steps", steps},
          {"seconds", seconds},
          {"evaluated", !best.is_null()},
          {"objective", best.is_null() ? Json(nullptr) : best["objective"]},
          {"kkt", best.is_null() ? Json(nullptr) : best["kkt"]},
          {"rel_gap", best.is_null() ? Json(nullptr) : best["rel_gap"]},
          {"tolerance", 1e-6},
          {"epoch_eta_seconds", number(epoch_eta)},
          {"run_eta_seconds", number(run_eta)},
          {"agent_status", agent_status}};
}

Json Begin(int epoch, double seconds, double objective, double kkt, double rel_gap, int rows,
           int agents, const char* verdict, const char* action, bool final_snapshot = false) {
  return {{"epoch", epoch},
          {"objective", objective},
          {"kkt", kkt},
          {"gap_bound", rel_gap * objective},
          {"rel_gap", rel_gap},
          {"nnz", 30 + epoch},
          {"rows", rows},
          {"agents", agents},
          {"version", epoch * 3200},
          {"eta", 2.5},
          {"inner_steps", 3200},
          {"batch", 1},
          {"seconds", seconds},
          {"best", std::string(verdict) == "best" || std::string(verdict) == "baseline"},
          {"verdict", verdict},
          {"action", action},
          {"step_factor", 1},
          {"rolled_back", std::string(verdict) == "rolled-back"},
          {"final", final_snapshot}};
}

Json Best(double objective, double kkt, double rel_gap, int rows) {
  return {{"objective", objective}, {"kkt", kkt}, {"rel_gap", rel_gap}, {"rows", rows}};
}

}  // namespace

Stream OperatorsRun() {
  const std::string hostile = kHostileAgent;
  const Json joined1 = {{"agent", "line-1"},
                        {"peer", "10.0.0.8"},
                        {"key", "(insecure)"},
                        {"key_name", ""},
                        {"rows", 800},
                        {"dimension", 57},
                        {"row_norm_sq_max", 1.0},
                        {"software_version", "0.1.0 x86_64"}};
  Json joined2 = joined1;
  joined2["agent"] = hostile;
  joined2["peer"] = "10.0.0.9";
  Json again = joined1;
  again["agents"] = 2;
  joined2["agents"] = 2;
  Json first = joined1;
  first["agents"] = 1;
  return {
      // 0, 1: the last-value cache: status first, then run_started
      Event("status", "status", 0,
            Status("waiting", "waiting for agents", "", 0, 0, 0, Json::array())),
      Event("run", "run_started", -5,
            {{"agents", 0},
             {"dimension", 57},
             {"loss", "logistic"},
             {"l1", 0.001},
             {"l2", 0},
             {"intercept", false},
             {"max_epochs", 30},
             {"kkt_tolerance", 1e-8},
             {"tolerance", 1e-6},
             {"insecure", true},
             {"secure_log", false},
             {"reference_objective", nullptr},
             {"label_negative", "-1"},
             {"label_positive", "1"}}),
      // 2-4
      Event("agent", "agent_joined", 0.1, first),
      Event("status", "status", 0.2,
            Status("waiting", "waiting for agents", "", 0, 0, 1,
                   {Agent("line-1", "pending", 800, 0, 0, NAN, 0.1, 0)})),
      Event("agent", "agent_joined", 0.3, joined2),
      // 5-9: epoch 0
      Event("status", "status", 0.4,
            Status("running", "", "gradient", 0, 0.05, 2,
                   {Agent("line-1", "gradient", 800, 0, 0, NAN, 0.1, 0),
                    Agent(hostile, "gradient", 800, 0, 0, NAN, 0.1, 0)})),
      Event("epoch", "epoch_begin", 0.5,
            Begin(0, 0.1, 0.6931, 0.011, 0.9, 1600, 2, "baseline", "inner")),
      Event("epoch", "progress", 0.7,
            {{"epoch", 0},
             {"updates_applied", 1600},
             {"steps_applied", 1600},
             {"inner_steps", 3200},
             {"updates_per_second", 8000},
             {"agents", 2},
             {"seconds", 0.3}}),
      Event("status", "status", 0.75,
            Status("running", "", "inner", 0, 0.35, 2,
                   {Agent("line-1", "inner", 800, 800, 1, 0.5, 0.01, 0),
                    Agent(hostile, "inner", 800, 800, 0, 0.75, 0.02, 0)},
                   Best(0.6931, 0.011, 0.9, 1600), 0.2, NAN, 1600, 3200)),
      Event("epoch", "epoch_end", 0.9,
            {{"epoch", 0},
             {"updates_applied", 3200},
             {"steps_applied", 3200},
             {"inner_steps", 3200},
             {"updates_per_second", 8000},
             {"inner_seconds", 0.4},
             {"refused", {{"late_update", 1}, {"too_stale", 2}}},
             {"seconds", 0.5}}),
      // 10-12: epochs 1 and 2 (a Newton step, then the Newton point)
      Event("epoch", "epoch_begin", 1.0, Begin(1, 0.6, 0.45, 2e-3, 0.1, 1600, 2, "best", "newton")),
      Event("epoch", "newton", 1.1,
            {{"epoch", 1},
             {"support", 36},
             {"rows", 1600},
             {"declined", false},
             {"taken", true},
             {"decrease", -0.05},
             {"sweeps", 12},
             {"solve_seconds", 0.01},
             {"curvature_seconds", 0.05},
             {"bytes", 5184},
             {"seconds", 0.7}}),
      [&] {
        Json b = Begin(2, 0.8, 0.40, 4e-4, 0.01, 1600, 2, "best", "inner");
        b["newton_alpha"] = 1;
        return Event("epoch", "epoch_begin", 1.2, b);
      }(),
      // 13-15: line-1 leaves
      Event("agent", "agent_left", 1.3,
            {{"agent", "line-1"}, {"reason", "silent for 15.0 s"}, {"agents", 1}}),
      Event("status", "status", 1.4,
            Status("running", "", "inner", 2, 1.1, 1,
                   {Agent(hostile, "inner", 800, 1500, 0, 0.7, 0.05, 1)},
                   Best(0.40, 4e-4, 0.01, 1600), 0.4, 3.5, 1200, 3200)),
      Event("epoch", "epoch_end", 1.5,
            {{"epoch", 2},
             {"updates_applied", 3200},
             {"steps_applied", 3200},
             {"inner_steps", 3200},
             {"updates_per_second", 9000},
             {"inner_seconds", 0.35},
             {"refused", {{"late_update", 2}}},
             {"seconds", 1.2}}),
      // 16, 17: a new baseline over 800 rows, then a roll-back
      Event("epoch", "epoch_begin", 1.6,
            Begin(3, 1.3, 0.50, 1e-3, 0.05, 800, 1, "baseline", "inner")),
      Event("epoch", "epoch_begin", 1.8,
            Begin(4, 1.5, 0.52, 2e-3, 0.06, 800, 1, "rolled-back", "roll-back")),
      // 18, 19: line-1 back, a new session
      Event("agent", "agent_joined", 1.9, again),
      Event("status", "status", 2.0,
            Status("running", "", "gradient", 4, 1.7, 2,
                   {Agent(hostile, "gradient", 800, 1700, 0, 0.7, 0.01, 1),
                    Agent("line-1", "gradient", 800, 100, 0, 0.2, 0.01, 0)},
                   Best(0.50, 1e-3, 0.05, 800), NAN, 2.0)),
      // 20-23: a new baseline over 1600 rows that meets --tol; the end
      Event("epoch", "epoch_begin", 2.1,
            Begin(5, 1.8, 0.39, 1e-8, 5e-7, 1600, 2, "baseline", "stop", true)),
      Event("status", "status", 2.2,
            Status("stopping", "tol", "", 5, 1.9, 2,
                   {Agent(hostile, "idle", 800, 1700, 0, 0.7, 0.01, 1),
                    Agent("line-1", "idle", 800, 100, 0, 0.2, 0.01, 0)},
                   Best(0.39, 1e-8, 5e-7, 1600))),
      Event("run", "run_finished", 2.3,
            {{"reason", "tol"},
             {"evaluated", true},
             {"epoch", 5},
             {"objective", 0.39},
             {"kkt", 1e-8},
             {"rel_gap", 5e-7},
             {"nnz", 35},
             {"updates_applied", 2700},
             {"updates_refused", 3},
             {"messages_refused", 1},
             {"agents_joined", 3},
             {"seconds", 2.0},
             {"bytes_in", 1},
             {"bytes_out", 2},
             {"model", "/var/lib/m.etm"},
             {"refused", {{"late_update", 3}, {"too_stale", 2}, {"malformed", 1}}},
             {"refused_by_sender", Json::object()},
             {"duplicates", 0},
             {"repeats", 0},
             {"newton_steps", 1},
             {"newton_rejected", 0}}),
      Event("status", "status", 2.4,
            Status("finished", "tol", "", 5, 2.0, 0, Json::array(), Best(0.39, 1e-8, 5e-7, 1600))),
  };
}

Stream RunWithoutEpochs() {
  return {
      Event("status", "status", 0,
            Status("waiting", "waiting for agents", "", 0, 0, 0, Json::array())),
      [] {
        auto started = OperatorsRun()[1];  // the same run's settings, before any agent
        started.second = [&] {
          Json e = Json::parse(started.second);
          e["time"] = kT0;
          e["dimension"] = 0;
          return e.dump();
        }();
        return started;
      }(),
      Event("run", "run_finished", 3,
            {{"reason", "interrupted"},
             {"evaluated", false},
             {"epoch", 0},
             {"objective", nullptr},
             {"kkt", nullptr},
             {"rel_gap", nullptr},
             {"nnz", 0},
             {"updates_applied", 0},
             {"updates_refused", 0},
             {"messages_refused", 0},
             {"agents_joined", 0},
             {"seconds", 3.0},
             {"model", ""},
             {"refused", Json::object()}}),
  };
}

}  // namespace edgetrain::testing
