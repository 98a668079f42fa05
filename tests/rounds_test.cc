// Training rounds and published models at the driver's level: a Driver and real AgentSessions on
// a manual clock (sim_cluster.h), the triggers (new rows, schedule, request), the publish rule,
// warm starts, restarts between rounds; and the model directory under a kill at every step.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "cluster.h"
#include "doctest/doctest.h"
#include "edgetrain/column_scales.h"
#include "edgetrain/local_trainer.h"
#include "edgetrain/model_dir.h"
#include "edgetrain/readers.h"
#include "round_scheduler.h"
#include "sim_cluster.h"
#include "test_util.h"

namespace edgetrain {
namespace {

using coordinator::RoundBegan;
using coordinator::RoundEnded;
using coordinator::RunStatus;
using testing::SimCluster;
using testing::TempDir;

// Rows [begin, end) of the bundled SpamAssassin file, read as an agent reads them.
Dataset SpamRows(int64_t begin, int64_t end) {
  static const Dataset all = testing::SpamShard(0, 1);
  std::vector<int64_t> rows;
  for (int64_t i = begin; i < end; ++i) rows.push_back(i);
  return all.SelectRows(rows);
}

coordinator::CoordinatorOptions RoundOptions(const std::string& model_dir, int64_t rounds) {
  coordinator::CoordinatorOptions o = testing::DriverRig::DefaultOptions();
  o.min_agents = 2;
  o.problem = testing::SpamSpec();
  o.heartbeat_interval = 0.1;
  o.rounds.rounds = rounds;
  o.rounds.model_dir = model_dir;
  return o;
}

template <typename T>
size_t Count(SimCluster& sim) {
  return sim.events().Of<T>().size();
}

TEST_CASE("round scheduler: new rows, the schedule and requests, and what it says it waits for") {
  coordinator::RoundOptions o;
  o.rounds = 3;
  o.every = 60;
  o.new_rows = 100;
  coordinator::RoundScheduler s(o);
  CHECK(s.rounds_mode());
  CHECK(!s.WaitFirst());
  CHECK(std::isinf(s.NextDeadline()));  // nothing ended yet
  CHECK(s.Begin() == 1);
  s.Ended(1000, {{"a", 500}, {"b", 300}});
  CHECK(s.NextDeadline() == 1060);
  // An agent's rows beyond its last round's count; a new agent counts whole; none shrink below.
  CHECK(s.NewRows({{"a", 540}, {"b", 290}, {"c", 20}}) == 60);
  CHECK(s.Due(1030, 60).empty());
  CHECK(s.Due(1030, 100) == "new rows");
  CHECK(s.Due(1060, 0) == "schedule");
  CHECK(s.Describe(1030, 60) ==
        "next round in 30 s, after 100 new rows (60 so far) or on request "
        "(edgetrain-coordinator trigger)");
  s.Request();
  CHECK(s.Due(1001, 0) == "request");
  CHECK(s.Begin() == 2);
  CHECK(s.Due(1001, 0).empty());  // the request was taken by round 2
  CHECK(s.Begin() == 3);
  CHECK(!s.More());
  CHECK(s.Due(5000, 1000).empty());

  // A restart between rounds: the numbering goes on from the directory, the first round waits.
  coordinator::RoundScheduler restarted(o);
  restarted.Restore(4, 900, {{"a", 10}}, 6);
  CHECK(restarted.WaitFirst());
  CHECK(restarted.NextDeadline() == 960);
  CHECK(restarted.Begin() == 7);
  coordinator::RoundOptions once;
  coordinator::RoundScheduler one_shot(once);
  one_shot.Restore(4, 900, {}, 4);
  CHECK(!one_shot.WaitFirst());  // a one-shot run starts at once, from the published model
}

TEST_CASE("rounds: grown data starts warm rounds, every agent holds every published model") {
  TempDir dir;
  coordinator::CoordinatorOptions o = RoundOptions(dir.File("models"), 3);
  o.rounds.new_rows = 100;
  o.rounds.keep_models = 2;
  SimCluster sim(o, {});
  sim.AddAgent(SpamRows(0, 720), "press-1");
  sim.AddAgent(SpamRows(800, 1520), "press-2");
  auto holding = [&](int64_t round) {
    return [&sim, round] {
      return sim.driver().idle() && sim.saved_rounds(0).size() > 0 &&
             sim.saved_rounds(0).back() == round && sim.saved_rounds(1).size() > 0 &&
             sim.saved_rounds(1).back() == round;
    };
  };
  REQUIRE(sim.RunUntil(holding(1), 60));
  const RoundEnded first = sim.events().Of<RoundEnded>().at(0);
  CHECK(first.round == 1);
  CHECK(first.published);
  Result<Model> latest = ReadLatestModel(dir.File("models"));
  REQUIRE(latest.ok());
  CHECK(latest->summary.round == 1);
  CHECK(latest->summary.agent_rows ==
        std::vector<std::pair<std::string, int64_t>>{{"press-1", 720}, {"press-2", 720}});
  CHECK((latest->summary.stop_reason == "tol" || latest->summary.stop_reason == "kkt"));
  CHECK(sim.saved_model(0).weights == latest->weights);  // the agents hold the published model
  const RunStatus idle = sim.events().Of<RunStatus>().back();
  CHECK(idle.state == "idle");
  CHECK(idle.why == "idle between rounds");
  CHECK(idle.next_round.find("after 100 new rows (0 so far)") != std::string::npos);

  // 80 new rows on one device are not enough; 80 more on the other are.
  sim.GrowData(0, SpamRows(720, 800));
  sim.RunUntil([] { return false; }, 3);
  CHECK(Count<RoundBegan>(sim) == 1);
  CHECK(sim.events().Of<RunStatus>().back().next_round.find("(80 so far)") != std::string::npos);
  sim.GrowData(1, SpamRows(1520, 1600));
  REQUIRE(sim.RunUntil(holding(2), 60));
  const RoundBegan second = sim.events().Of<RoundBegan>().at(1);
  CHECK(second.trigger == "new rows");
  CHECK(second.new_rows == 160);
  CHECK(second.warm_start_round == 1);
  latest = ReadLatestModel(dir.File("models"));
  REQUIRE(latest.ok());
  CHECK(latest->summary.round == 2);
  CHECK(latest->summary.agent_rows ==
        std::vector<std::pair<std::string, int64_t>>{{"press-1", 800}, {"press-2", 800}});
  // Warm: the second round needs fewer epochs than the cold first one, and reaches the optimum of
  // all 1 600 rows. Spam's tf-idf columns are preconditioned (scales, nothing centred), so each
  // agent put its values as read back before appending rows and scaled them all again from there
  // at the Welcome (agent_session.h): a mix of units would miss the optimum.
  REQUIRE(o.precondition);
  const ColumnScales scales = ColumnScales::FromStats(ColumnStats::Compute(SpamRows(0, 1600)));
  CHECK(scales.scaled_columns() > 0);
  CHECK_FALSE(scales.centred());
  const auto runs = sim.events().Of<coordinator::RunFinished>();
  REQUIRE(runs.size() == 2);
  CHECK(runs[1].epoch < runs[0].epoch);
  CHECK(std::fabs(runs[1].objective - testing::SpamSerialOptimum()) <=
        1e-6 * std::fabs(testing::SpamSerialOptimum()));

  // On request: the last of three rounds, then the agents are stopped.
  sim.driver().TriggerRound();
  REQUIRE(sim.Run(60));
  CHECK(sim.events().Of<RoundBegan>().at(2).trigger == "request");
  CHECK(sim.driver().summary().published);
  CHECK(sim.saved_rounds(0) == std::vector<int64_t>{1, 2, 3});
  CHECK(sim.saved_rounds(1) == std::vector<int64_t>{1, 2, 3});
  CHECK(*ListModelRounds(dir.File("models")) == std::vector<int64_t>{2, 3});  // --keep-models 2
  for (const auto& d : sim.events().Of<coordinator::ModelDelivered>()) {
    CHECK(d.seconds < 0.1);  // a heartbeat's worth of simulated time at most
  }
}

TEST_CASE(
    "rounds: a restart between rounds waits for the trigger, a failed round keeps the model") {
  TempDir dir;
  const std::string models = dir.File("models");
  // What an earlier process published as round 4, 10 s before this one started (the simulation's
  // clock starts where a default ManualClock does).
  const int32_t d = 10445;
  Model earlier = Model::FromVector(std::vector<double>(testing::SpamSpec().ModelSize(d), 0.0), d,
                                    Task::kClassification, testing::SpamSpec());
  earlier.weights[7] = 0.25;
  earlier.labels = LabelMap{"-1", "+1"};
  earlier.summary.round = 4;
  earlier.summary.agent_rows = {{"press-1", 800}, {"press-2", 800}};
  coordinator::CoordinatorOptions o = RoundOptions(models, 0);
  o.rounds.every = 30;
  o.policy.stop.max_epochs = 1;  // every round stops before the tolerance: none is published
  o.policy.stop.tolerance = 1e-12;
  o.policy.stop.kkt_tolerance = 1e-14;
  earlier.summary.created_unix = static_cast<int64_t>(ManualClock().WallTime()) - 10;
  SimCluster sim(o, {}, 1, [&](coordinator::Driver& driver) {
    driver.RestorePublished(earlier, 5);  // model-000005 was written and then rolled back
  });
  // The model file of round 4 is the directory's latest.
  REQUIRE(PublishModel(models, 4, earlier, 0).ok());
  sim.AddAgent(SpamRows(0, 800), "press-1");
  sim.AddAgent(SpamRows(800, 1600), "press-2");
  // Admitted between rounds: no training, and each agent gets the model in service.
  REQUIRE(sim.RunUntil(
      [&] { return sim.saved_rounds(0).size() == 1 && sim.saved_rounds(1).size() == 1; }, 5));
  CHECK(sim.driver().idle());
  CHECK(Count<RoundBegan>(sim) == 0);
  CHECK(sim.saved_model(1).weights[7] == 0.25);
  // 30 s after the model was made, the schedule starts a round.
  REQUIRE(sim.RunUntil([&] { return Count<RoundEnded>(sim) == 1; }, 60));
  CHECK(sim.clock().Now() >= ManualClock().Now() + 19.9);
  const RoundBegan began = sim.events().Of<RoundBegan>().at(0);
  CHECK(began.round == 6);
  CHECK(began.trigger == "schedule");
  CHECK(began.warm_start_round == 4);
  const RoundEnded ended = sim.events().Of<RoundEnded>().at(0);
  CHECK(!ended.published);
  CHECK(ended.detail.find("max-epochs") != std::string::npos);
  CHECK(ended.model_round == 4);
  REQUIRE(sim.driver().published() != nullptr);
  CHECK(sim.driver().published()->summary.round == 4);
  CHECK(ReadLatestModel(models)->summary.round == 4);
  CHECK(*ListModelRounds(models) == std::vector<int64_t>{4});
  CHECK(sim.driver().idle());
  // The next round comes 30 s after this one ended, not before.
  const double ended_at = sim.clock().Now();
  REQUIRE(sim.RunUntil([&] { return Count<RoundBegan>(sim) == 2; }, 60));
  CHECK(sim.clock().Now() - ended_at >= 29.9);
  CHECK(sim.clock().Now() - ended_at <= 30.5);
}

// A round warm-starts from the published model, which is in the user's units, while the driver
// works in the preconditioner's: on raw wdbc (columns from 1e-3 to 1e3) the first snapshot of a
// round started from the optimum is the optimum, and the round stops there at once.
TEST_CASE("rounds: the warm start is the published model, in the user's units") {
  ReadOptions read;
  read.label_column = "diagnosis";
  Result<Dataset> wdbc = ReadCsvFile(testing::SourcePath("data/wdbc.csv"), read);
  REQUIRE(wdbc.ok());
  coordinator::CoordinatorOptions o = testing::DriverRig::DefaultOptions();
  o.min_agents = 2;
  o.problem = ProblemSpec{};
  o.problem.loss = LossKind::kLogistic;
  o.problem.reg.l1 = 1e-3;
  o.problem.intercept = true;
  TrainOptions serial;
  serial.policy.stop.tolerance = 1e-10;
  Result<TrainResult> optimum = TrainLocal(*wdbc, o.problem, serial, nullptr);
  REQUIRE(optimum.ok());
  REQUIRE(!optimum->scales.empty());  // the preconditioner is at work on these columns
  Model published = Model::FromVector(optimum->x, wdbc->dim(), Task::kClassification, o.problem);
  published.labels = wdbc->labels();
  ReadOptions deferred = read;
  deferred.defer_label_map = true;
  Result<Dataset> rows = ReadCsvFile(testing::SourcePath("data/wdbc.csv"), deferred);
  REQUIRE(rows.ok());
  SimCluster sim(o, testing::LinkFaults{}, 1,
                 [&](coordinator::Driver& d) { d.RestorePublished(published, 1); });
  for (int k = 0; k < 2; ++k) sim.AddAgent(rows->Shard(k, 2), "wdbc-" + std::to_string(k));
  REQUIRE(sim.Run(60));
  const auto& began = sim.events().Of<coordinator::EpochBegan>();
  REQUIRE(!began.empty());
  CHECK(began.front().report.objective == doctest::Approx(optimum->last.objective).epsilon(1e-9));
  CHECK(sim.driver().summary().stop_reason == "tol");
  CHECK(sim.driver().summary().epochs <= 1);
}

TEST_CASE("rounds: a checkpoint of a published round is history, of an unfinished round resumed") {
  for (const int64_t checkpoint_round : {2, 3}) {
    CAPTURE(checkpoint_round);
    coordinator::CoordinatorOptions o = testing::DriverRig::DefaultOptions();
    o.rounds.rounds = 0;
    o.rounds.model_dir = "/nonexistent";  // nothing is published in this test
    Checkpoint c;
    c.dimension = 3;
    c.labels = LabelMap{"-1", "+1"};
    c.epoch = 5;
    c.x = {0.5, 0, 0};
    c.round = checkpoint_round;
    ManualClock clock;
    testing::ScriptedOutbox outbox;
    testing::CollectingSink events;
    coordinator::Driver d(o, &clock, &outbox, &events, nullptr, c);
    Model published = Model::FromVector({0.1, 0, 0}, 3, Task::kClassification, o.problem);
    published.summary.round = 2;
    published.summary.created_unix = static_cast<int64_t>(clock.WallTime());
    d.RestorePublished(published, 2);
    d.Begin();
    if (checkpoint_round == 2) {
      CHECK(d.idle());  // round 2 was published: wait for round 3's trigger
      CHECK(d.round() == 2);
      CHECK(events.Of<RoundBegan>().empty());
    } else {
      CHECK(!d.idle());  // round 3 was under way: resumed at once
      REQUIRE(events.Of<RoundBegan>().size() == 1);
      CHECK(events.Of<RoundBegan>()[0].round == 3);
      CHECK(events.Of<RoundBegan>()[0].trigger == "resumed");
    }
  }
}

// PublishModel, killed (SIGKILL, in a child process) after each of its durable steps: the
// directory's `latest` is always a complete model that loads, the previous one or the new one.
TEST_CASE("model directory: a publish killed at any step leaves a loadable latest") {
  Model before = Model::FromVector({1, 2, 3}, 3, Task::kRegression, ProblemSpec{});
  before.summary.round = 1;
  Model after = before;
  after.weights = {4, 5, 6};
  after.summary.round = 2;
  for (const std::string step : {"model written", "link made", "latest re-pointed", "pruned"}) {
    CAPTURE(step);
    TempDir dir;
    const std::string models = dir.File("models");
    REQUIRE(PublishModel(models, 1, before, 1).ok());
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      PublishOptions o;
      o.keep = 1;
      o.after_step = [step](std::string_view at) {
        if (at == step) ::kill(::getpid(), SIGKILL);
      };
      (void)PublishModel(models, 2, after, o);
      ::_exit(0);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
    Result<Model> latest = ReadLatestModel(models);
    REQUIRE_MESSAGE(latest.ok(), latest.status().ToString());
    const bool repointed = step == "latest re-pointed" || step == "pruned";
    CHECK(latest->weights == (repointed ? after.weights : before.weights));
    // The interrupted publish is finished by the next one (a temporary link left behind is not
    // in the way).
    after.summary.round = 3;
    REQUIRE(PublishModel(models, 3, after, 1).ok());
    CHECK(ReadLatestModel(models)->summary.round == 3);
    after.summary.round = 2;
    CHECK(*ListModelRounds(models) == std::vector<int64_t>{3});
  }
}

}  // namespace
}  // namespace edgetrain
