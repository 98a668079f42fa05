// The DAP-SVRG pieces: the worker step against its formula, the coordinator state's bookkeeping,
// the sampler's distribution, step-size planning, and no allocation in the steady-state loop.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <vector>

#include "doctest/doctest.h"
#include "edgetrain/coordinator_state.h"
#include "edgetrain/local_trainer.h"
#include "edgetrain/readers.h"
#include "edgetrain/row_sampler.h"
#include "edgetrain/step_size.h"
#include "edgetrain/svrg_worker.h"
#include "test_util.h"

namespace edgetrain {
namespace {

// One-row shards hold one class, so the label mapping is given (as an agent's shard may).
Dataset Make(const std::string& text) {
  ReadOptions o;
  o.labels = LabelMap{"-1", "1"};
  Result<Dataset> r = ParseLibsvm(text, "inline", o);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return std::move(r).value();
}

// Both parts of an update as one map (a coordinate is in at most one part).
std::map<int32_t, double> AsMap(const ModelUpdate& u) {
  std::map<int32_t, double> m;
  for (const SparseVector* v : {&u.delta, &u.guarded}) {
    for (int64_t k = 0; k < v->nnz(); ++k) {
      CHECK(m.count(v->index()[k]) == 0);  // no duplicates
      m[v->index()[k]] = v->value()[k];
    }
  }
  return m;
}

VectorView None() { return VectorView{}; }

// A fresh state's first epoch, past a gradient phase at x = 0, in an inner phase of `steps`.
void StartInnerPhase(CoordinatorState* state, int64_t steps) {
  state->BeginEpoch();
  const std::vector<double> g(static_cast<size_t>(state->model_size()), 0.0);
  state->AddGradSum(VectorView::Dense(g.data(), state->model_size()), 1.0, 1);
  state->FinishGradientPhase();
  state->BeginInnerPhase(steps);
}

// With a one-row shard the mini-batch is known, so Delta can be computed from the formula
//   Delta = prox_{eta (h + l2/2 |.|^2)}(x^ - eta (q (phi'(a.x^) - phi'(a.x~)) [a;1] + mu)) - x^
// (q = 1; the l2 part in the prox).
TEST_CASE("worker step equals the DAP-SVRG formula, with sparse and dense model views") {
  const Dataset one = Make("1 1:0.5 3:-2 5:1\n");
  ProblemSpec spec;
  spec.loss = LossKind::kLogistic;
  spec.reg.l1 = 0.1;
  spec.reg.l2 = 0.05;
  spec.reg.lower = -0.8;
  spec.intercept = true;
  const int64_t p = spec.ModelSize(one.dim());  // 6
  SvrgWorker worker(&one, spec, 42);
  const std::vector<double> x_tilde = {0.2, 0, 0, 0.1, 0, 0.3};
  std::vector<double> g(p);
  double loss_sum;
  worker.ComputeSnapshot(x_tilde.data(), g.data(), &loss_sum);
  const std::vector<double> mu = {0.3, -0.5, 0.05,
                                  0.0, 0.2,  -0.1};  // as if other agents contributed
  const double eta = 0.7;
  worker.BeginEpoch(mu.data(), eta, 1);

  const std::vector<double> x_hat = {0.4, 0.0, -0.3, 0.0, 0.0, 0.25};
  const std::vector<int32_t> support = {0, 2, 5};
  auto z_of = [&](const std::vector<double>& x) { return 0.5 * x[0] - 2 * x[2] + x[4] + x[5]; };
  const double c = LogisticLoss::Deriv(z_of(x_hat), 1) - LogisticLoss::Deriv(z_of(x_tilde), 1);
  const std::vector<double> a = {0.5, 0, -2, 0, 1, 1};  // the row plus the intercept's 1
  std::map<int32_t, double> expected;
  for (int64_t j = 0; j < p; ++j) {
    double next;
    if (j < one.dim()) {
      next = spec.reg.ProxWithL2(x_hat[j] - eta * (c * a[j] + mu[j]), eta);
    } else {
      next = x_hat[j] - eta * (c * a[j] + mu[j]);
    }
    if (next != x_hat[j]) expected[static_cast<int32_t>(j)] = next - x_hat[j];
  }
  ModelUpdate update;
  update.Reset(p);
  worker.Step(ModelView{x_hat.data(), p, support.data(), 3, false}, &update);
  const auto sparse = AsMap(update);
  // Entries that land exactly on zero are the guarded part; the others the delta part.
  for (int64_t k = 0; k < update.guarded.nnz(); ++k) {
    const int32_t j = update.guarded.index()[k];
    CHECK(x_hat[j] + update.guarded.value()[k] == 0.0);
  }
  for (int64_t k = 0; k < update.delta.nnz(); ++k) {
    const int32_t j = update.delta.index()[k];
    CHECK(x_hat[j] + update.delta.value()[k] != 0.0);
  }
  worker.Step(ModelView{x_hat.data(), p, nullptr, 0, true}, &update);
  const auto dense = AsMap(update);
  REQUIRE(sparse.size() == expected.size());
  for (const auto& [j, v] : expected) {
    INFO("j=", j);
    CHECK(sparse.at(j) == doctest::Approx(v).epsilon(1e-14));
    CHECK(dense.at(j) == doctest::Approx(v).epsilon(1e-14));
  }
  // Coordinate 1 is at zero, untouched by the row and |mu_1| = 0.5 > l1: it drifts.
  CHECK(expected.count(1) == 1);
  // Coordinate 3 is at zero, untouched and |mu_3| = 0 <= l1: it stays, and is not sent.
  CHECK(expected.count(3) == 0);
}

TEST_CASE("snapshot gradient sums over shards add up to the full gradient") {
  const Dataset data = testing::LoadLibsvm(testing::SourcePath("data/heart_scale.svm"));
  ProblemSpec spec;
  spec.intercept = true;
  const int64_t p = spec.ModelSize(data.dim());
  std::vector<double> x(p, 0.01), full(p), part(p), sum(p, 0.0);
  double full_loss, part_loss, loss_total = 0;
  LossGradientSum(data, spec, x.data(), full.data(), &full_loss, nullptr);
  std::vector<Dataset> shards;
  for (int k = 0; k < 3; ++k) shards.push_back(data.Shard(k, 3));
  for (const Dataset& s : shards) {
    SvrgWorker w(&s, spec, 1);
    w.ComputeSnapshot(x.data(), part.data(), &part_loss);
    for (int64_t j = 0; j < p; ++j) sum[j] += part[j];
    loss_total += part_loss;
  }
  for (int64_t j = 0; j < p; ++j) CHECK(sum[j] == doctest::Approx(full[j]).epsilon(1e-12));
  CHECK(loss_total == doctest::Approx(full_loss).epsilon(1e-12));
}

TEST_CASE("coordinator state: x += Delta, versions, refusals, support") {
  ProblemSpec spec;
  spec.reg.l1 = 0.1;
  CoordinatorState state(spec, 5);
  CHECK(state.version() == 0);
  const std::vector<double> zeros(5);
  CHECK(state.ApplyUpdate(VectorView::Dense(zeros.data(), 5), None(), 0, 0, 10) ==
        UpdateVerdict::kWrongPhase);
  state.BeginEpoch();
  CHECK(state.epoch() == 1);
  std::vector<double> g = {0.5, 0, 0, -0.5, 0};
  state.AddGradSum(VectorView::Dense(g.data(), 5), 2.0, 2);
  const SnapshotReport snap = state.FinishGradientPhase();
  state.BeginInnerPhase(3);
  CHECK(snap.objective == doctest::Approx(1.0));   // loss 2.0 over 2 rows, x = 0
  CHECK(snap.kkt == doctest::Approx(0.25 - 0.1));  // mu = 0.25 at zero, minus l1
  CHECK(state.mu()[0] == doctest::Approx(0.25));

  const std::vector<int32_t> idx = {1, 3};
  const std::vector<double> val = {0.5, -2.0};
  const VectorView delta{idx.data(), val.data(), 2, 5};
  CHECK(state.ApplyUpdate(delta, None(), 1, 0, 4) == UpdateVerdict::kApplied);
  CHECK(state.version() == 1);
  CHECK(state.x()[1] == 0.5);
  CHECK(state.x()[3] == -2.0);
  CHECK(std::set<int32_t>(state.support().begin(), state.support().end()) ==
        std::set<int32_t>{1, 3});
  CHECK(state.ApplyUpdate(delta, None(), 2, 1, 4) == UpdateVerdict::kWrongEpoch);
  CHECK(state.ApplyUpdate(delta, None(), 1, 5, 4) == UpdateVerdict::kFutureVersion);
  CHECK(state.ApplyUpdate(VectorView{idx.data(), val.data(), 2, 6}, None(), 1, 1, 4) ==
        UpdateVerdict::kWrongDimension);
  // Staleness 1 is within a bound of 0? No: refused.
  CHECK(state.ApplyUpdate(delta, None(), 1, 0, 0) == UpdateVerdict::kTooStale);
  CHECK(state.version() == 1);
  // A negating update removes coordinates from the support.
  const std::vector<double> neg = {-0.5, 2.0};
  CHECK(state.ApplyUpdate(VectorView{idx.data(), neg.data(), 2, 5}, None(), 1, 1, 4) ==
        UpdateVerdict::kApplied);
  CHECK(state.support().empty());
  CHECK(state.applied_in_epoch() == 2);
  CHECK(!state.InnerPhaseDone());
  CHECK(state.ApplyUpdate(delta, None(), 1, 0, 4) == UpdateVerdict::kApplied);  // staleness 2
  CHECK(state.InnerPhaseDone());
  CHECK(state.ApplyUpdate(delta, None(), 1, 3, 4) == UpdateVerdict::kWrongPhase);  // m reached
  const auto& hist = state.staleness_histogram();
  CHECK(hist[0] == 2);
  CHECK(hist[2] == 1);
}

TEST_CASE("stale updates: guarded zeroing never overshoots, entries stop at zero") {
  ProblemSpec spec;
  spec.reg.l1 = 0.1;
  CoordinatorState state(spec, 3);
  StartInnerPhase(&state, 100);
  auto apply = [&](std::vector<int32_t> di, std::vector<double> dv, std::vector<int32_t> gi,
                   std::vector<double> gv, int64_t base) {
    return state.ApplyUpdate(VectorView{di.data(), dv.data(), static_cast<int64_t>(di.size()), 3},
                             VectorView{gi.data(), gv.data(), static_cast<int64_t>(gi.size()), 3},
                             state.epoch(), base, 10);
  };
  REQUIRE(apply({0, 1}, {0.5, -0.2}, {}, {}, 0) ==
          UpdateVerdict::kApplied);  // x = (0.5, -0.2, 0), version 1
  // Three agents read version 1 and each "zero" coordinate 0 (Delta = -0.5): a plain add would
  // leave -1.0; guarded, the first lands on zero and the others find nothing to do.
  for (int k = 0; k < 3; ++k) REQUIRE(apply({}, {}, {0}, {-0.5}, 1) == UpdateVerdict::kApplied);
  CHECK(state.x()[0] == 0.0);
  CHECK(state.guarded_refused() == 2);
  // A guarded move smaller than the coordinate just moves it.
  REQUIRE(apply({0}, {0.3}, {}, {}, 4) == UpdateVerdict::kApplied);
  REQUIRE(apply({}, {}, {0}, {-0.1}, 5) == UpdateVerdict::kApplied);
  CHECK(state.x()[0] == doctest::Approx(0.2));
  // A stale delta entry that would carry coordinate 1 across zero stops at zero...
  REQUIRE(apply({1}, {0.5}, {}, {}, 5) == UpdateVerdict::kApplied);
  CHECK(state.x()[1] == 0.0);
  CHECK(state.crossings_stopped() == 1);
  // ...while a fresh one crosses (exact ProxSVRG).
  REQUIRE(apply({1}, {0.5}, {}, {}, state.version()) == UpdateVerdict::kApplied);
  CHECK(state.x()[1] == 0.5);
  REQUIRE(apply({1}, {-0.7}, {}, {}, state.version()) == UpdateVerdict::kApplied);
  CHECK(state.x()[1] == doctest::Approx(-0.2));
}

TEST_CASE("state: RevertToBest returns x to the snapshot kept as the best, as a new version") {
  ProblemSpec spec;
  CoordinatorState state(spec, 2);
  state.BeginEpoch();
  std::vector<double> g = {0, 0};
  state.AddGradSum(VectorView::Dense(g.data(), 2), 1.0, 1);
  state.FinishGradientPhase();
  state.KeepSnapshotAsBest();
  state.BeginInnerPhase(1);
  const std::vector<int32_t> idx = {0};
  const std::vector<double> val = {3.0};
  REQUIRE(state.ApplyUpdate(VectorView{idx.data(), val.data(), 1, 2}, None(), state.epoch(),
                            state.version(), 0) == UpdateVerdict::kApplied);
  CHECK(state.x()[0] == 3.0);
  const int64_t version = state.version();
  state.RevertToBest();
  CHECK(state.x()[0] == 0.0);
  CHECK(state.support().empty());
  CHECK(state.version() == version + 1);
  std::vector<int32_t> changes;
  CHECK_FALSE(state.ChangesSince(version, -1, &changes));  // replaced wholesale: send it all
}

TEST_CASE("state: an update that would make x non-finite is refused whole") {
  ProblemSpec spec;
  spec.reg.l1 = 1e-3;
  CoordinatorState state(spec, 3);
  StartInnerPhase(&state, 10);
  const std::vector<int32_t> idx = {0, 2};
  const std::vector<double> big = {1.7e308, 1.0};
  const VectorView delta{idx.data(), big.data(), 2, 3};
  REQUIRE(state.ApplyUpdate(delta, None(), state.epoch(), state.version(), 4) ==
          UpdateVerdict::kApplied);
  CHECK(state.ApplyUpdate(delta, None(), state.epoch(), state.version(), 4) ==
        UpdateVerdict::kNonFinite);
  CHECK(state.x()[0] == 1.7e308);
  CHECK(state.x()[2] == 1.0);  // nothing of the refused update was applied
  CHECK(state.applied_in_epoch() == 1);
}

TEST_CASE("state: a dense update in one pass: damped, stopped at zero when stale, refused whole") {
  ProblemSpec spec;
  spec.reg.l1 = 1e-3;
  CoordinatorState state(spec, 4);
  StartInnerPhase(&state, 100);
  auto apply = [&](std::vector<double> v, int64_t base, double scale = 1.0) {
    return state.ApplyUpdate(VectorView::Dense(v.data(), 4), None(), state.epoch(), base, 10, 0, 1,
                             scale);
  };
  REQUIRE(apply({1.0, -2.0, 0.5, 3.0}, 0) == UpdateVerdict::kApplied);  // fresh: exact adds
  CHECK(state.x() == std::vector<double>{1.0, -2.0, 0.5, 3.0});
  CHECK(state.last_update_exact());
  CHECK(state.support().size() == 4);
  // Damped by half (UpdateAnswerer::Weight), fresh.
  REQUIRE(apply({2.0, 2.0, -1.0, 0.0}, state.version(), 0.5) == UpdateVerdict::kApplied);
  CHECK(state.x() == std::vector<double>{2.0, -1.0, 0.0, 3.0});
  CHECK_FALSE(state.last_update_exact());
  CHECK(state.support().size() == 3);  // coordinate 2 reached zero: the list was rebuilt
  // Stale (base 1, one version behind): coordinate 1 would cross zero and stops there; 3 lands on
  // zero exactly, which is no crossing.
  const int64_t crossings = state.crossings_stopped();
  REQUIRE(apply({-1.0, 1.5, 0.25, -3.0}, 1) == UpdateVerdict::kApplied);
  CHECK(state.x() == std::vector<double>{1.0, 0.0, 0.25, 0.0});
  CHECK(state.crossings_stopped() == crossings + 1);
  CHECK_FALSE(state.last_update_exact());
  std::vector<int32_t> support = state.support();
  std::sort(support.begin(), support.end());
  CHECK(support == std::vector<int32_t>{0, 2});
  // A sum that overflows: nothing of it is applied, the version stays.
  REQUIRE(apply({1.7e308, 0.0, 0.0, 0.0}, state.version()) == UpdateVerdict::kApplied);
  const std::vector<double> before = state.x();
  const int64_t version = state.version();
  CHECK(apply({1.7e308, 1.0, 1.0, 1.0}, state.version()) == UpdateVerdict::kNonFinite);
  CHECK(state.x() == before);
  CHECK(state.version() == version);
}

TEST_CASE("importance sampler: frequencies follow p_i and weights are 1/(n p_i)") {
  std::vector<double> l = {1, 1, 1, 1, 100, 1, 1, 1};
  const RowSampler s = RowSampler::Importance(l);
  const double total = 107;
  Rng rng(9);
  std::vector<int> count(l.size(), 0);
  const int draws = 400000;
  for (int t = 0; t < draws; ++t) ++count[s.Sample(rng)];
  for (size_t i = 0; i < l.size(); ++i) {
    const double p = 0.5 / l.size() + 0.5 * l[i] / total;
    INFO("row ", i);
    CHECK(count[i] / static_cast<double>(draws) == doctest::Approx(p).epsilon(0.02));
    CHECK(s.Weight(i) * l.size() * p == doctest::Approx(1.0).epsilon(1e-6));
  }
  CHECK(s.l_q() <= 2 * total / l.size() + 1e-9);
  CHECK(RowSampler::Choose(l).importance());
  CHECK_FALSE(RowSampler::Choose({1, 1, 1}).importance());
}

TEST_CASE("step plan: eta = scale / L(b), m = passes n / b, overrides win") {
  Smoothness s;
  s.rows = 1000;
  s.l_max = 4;
  s.l_q = 2;
  s.l_full = 0.5;
  StepOptions o;
  o.step_scale = 1;
  o.batch = 4;
  Result<StepPlan> plan = PlanSteps(s, 0.1, o);
  REQUIRE(plan.ok());
  CHECK(plan->l_batch == doctest::Approx(0.75 * 0.5 + 2.0 / 4 + 0.1));
  CHECK(plan->eta == doctest::Approx(1 / plan->l_batch));
  CHECK(plan->inner_steps == 500);
  o.eta = 0.01;
  o.inner_steps = 7;
  plan = PlanSteps(s, 0.1, o);
  CHECK(plan->eta == 0.01);
  CHECK(plan->inner_steps == 7);
  o.batch = 0;
  CHECK_FALSE(PlanSteps(s, 0, o).ok());
  const Smoothness c = CombineSmoothness({s, Smoothness{3000, 8, 1, 1, 1, false}});
  CHECK(c.rows == 4000);
  CHECK(c.l_max == 8);
  CHECK(c.l_q == 2);
  CHECK(c.l_full == doctest::Approx((0.5 * 1000 + 1 * 3000) / 4000.0));
}

TEST_CASE("the steady-state loop of worker and coordinator state does not allocate") {
  const Dataset raw = testing::LoadLibsvm(testing::SourcePath("data/spam/train.svm"));
  for (bool preconditioned : {false, true}) {
    CAPTURE(preconditioned);
    Dataset data = raw;
    ProblemSpec spec;
    spec.reg.l1 = 1e-3;
    spec.reg.l2 = preconditioned ? 1e-4 : 0.0;
    if (preconditioned) {  // per-coordinate penalties in every step
      std::vector<double> s(static_cast<size_t>(data.dim()));
      for (int32_t j = 0; j < data.dim(); ++j) s[j] = std::ldexp(1.0, j % 5 - 2);
      spec.scales = ColumnScales::FromValues(s).value();
      ApplyColumnScales(&data, spec.scales);
    }
    SvrgWorker worker(&data, spec, 3);
    CoordinatorState state(spec, data.dim());
    const int64_t p = state.model_size();
    std::vector<double> g(p);
    ModelUpdate update;
    update.Reset(p);
    double loss;
    for (int epoch = 0; epoch < 3; ++epoch) {
      state.BeginEpoch();
      worker.ComputeSnapshot(state.snapshot().data(), g.data(), &loss);
      state.AddGradSum(VectorView::Dense(g.data(), p), loss, data.rows());
      state.FinishGradientPhase();
      state.BeginInnerPhase(2000);
      worker.BeginEpoch(state.mu().data(), 4.0, 2);
      const long before = testing::AllocationCount();
      for (int t = 0; t < 2000; ++t) {
        worker.Step(state.View(), &update);
        REQUIRE(state.ApplyUpdate(update.delta.View(), update.guarded.View(), state.epoch(),
                                  state.version(), 0) == UpdateVerdict::kApplied);
      }
      CHECK(testing::AllocationCount() == before);
    }
  }
}

TEST_CASE("lazy l1 steps: the closed form equals k applications of the prox") {
  const double xs[] = {-3.0, -0.7, -0.05, 0.0, 0.04, 0.3, 2.5, 1e-12};
  const double as[] = {-0.4, -0.1, -0.03, 0.0, 0.03, 0.1, 0.4};
  const double ts[] = {0.0, 0.05, 0.1};
  for (double x0 : xs) {
    for (double a : as) {
      for (double t : ts) {
        double x = x0;
        for (int64_t k = 0; k <= 40; ++k) {
          CHECK_MESSAGE(LazyL1Steps(x0, k, a, t) == doctest::Approx(x).epsilon(1e-12).scale(1.0),
                        "x0 " << x0 << " a " << a << " t " << t << " k " << k);
          const double v = x - a;
          x = v > t ? v - t : (v < -t ? v + t : 0.0);
        }
      }
    }
  }
}

TEST_CASE(
    "lazy updates give the eager iterates (serial mode, with and without intercept, with "
    "per-coordinate thresholds)") {
  const Dataset raw = testing::LoadLibsvm(testing::SourcePath("data/spam/train.svm"));
  // Preconditioned: scales 2^-6 .. 2^6, every coordinate its own l1 weight and threshold.
  std::vector<double> s(static_cast<size_t>(raw.dim()));
  for (int32_t j = 0; j < raw.dim(); ++j) s[j] = std::ldexp(1.0, j % 13 - 6);
  for (bool scaled : {false, true}) {
    Dataset data = raw;
    ProblemSpec spec;
    spec.reg.l1 = 1e-3;
    if (scaled) {
      spec.scales = ColumnScales::FromValues(s).value();
      ApplyColumnScales(&data, spec.scales);
    }
    for (bool intercept : {false, true}) {
      spec.intercept = intercept;
      TrainOptions options;
      options.precondition = false;
      options.policy.newton_max_support = 0;
      options.policy.stop.max_epochs = 6;
      options.policy.stop.kkt_tolerance = 0;
      options.policy.stop.tolerance = 0;
      std::vector<double> objectives[2];
      for (bool lazy : {false, true}) {
        options.lazy = lazy;
        Result<TrainResult> r = TrainLocal(data, spec, options, [&](const EpochReport& e) {
          objectives[lazy].push_back(e.objective);
        });
        REQUIRE(r.ok());
      }
      CAPTURE(scaled);
      CAPTURE(intercept);
      REQUIRE(objectives[0].size() == objectives[1].size());
      for (size_t e = 0; e < objectives[0].size(); ++e) {
        CHECK(objectives[1][e] == doctest::Approx(objectives[0][e]).epsilon(1e-9));
      }
      CHECK(objectives[0].back() < 0.99 * objectives[0].front());  // it did train
    }
  }
}

// An agent does not know how many of an epoch's steps will be its own: its lazy worker brings
// every coordinate up to date every `flush_every` steps (SvrgWorker::kUnknownSteps). At each flush
// the model equals the eager worker's after the same steps, and between flushes the updates touch
// only the rows' non-zeros (and the intercept).
TEST_CASE("lazy updates with periodic flushes: the eager model at every flush, sparse between") {
  const Dataset data = testing::LoadLibsvm(testing::SourcePath("data/spam/train.svm"));
  for (bool intercept : {false, true}) {
    CAPTURE(intercept);
    ProblemSpec spec;
    spec.reg.l1 = 1e-3;
    spec.intercept = intercept;
    constexpr int64_t kFlush = 97, kSteps = 5 * kFlush;
    CoordinatorState states[2] = {CoordinatorState(spec, data.dim()),
                                  CoordinatorState(spec, data.dim())};
    const int64_t p = states[0].model_size();
    std::vector<double> g(p);
    double loss = 0;
    int64_t largest_between = 0;
    std::vector<std::vector<double>> at_flush[2];
    for (bool lazy : {false, true}) {
      CoordinatorState& state = states[lazy];
      SvrgWorker worker(&data, spec, 5);
      worker.set_lazy(lazy);
      ModelUpdate update;
      update.Reset(p);
      for (int epoch = 0; epoch < 2; ++epoch) {  // the second from a model with a support
        state.BeginEpoch();
        worker.ComputeSnapshot(state.snapshot().data(), g.data(), &loss);
        state.AddGradSum(VectorView::Dense(g.data(), p), loss, data.rows());
        state.FinishGradientPhase();
        state.BeginInnerPhase(kSteps);
        worker.BeginEpoch(state.mu().data(), 2.0, 1, lazy ? SvrgWorker::kUnknownSteps : 0,
                          lazy ? kFlush : 0);
        for (int64_t t = 1; t <= kSteps; ++t) {
          worker.Step(state.View(), &update);
          if (lazy && t % kFlush != 0) {
            largest_between =
                std::max(largest_between, update.delta.View().count + update.guarded.View().count);
          }
          REQUIRE(state.ApplyUpdate(update.delta.View(), update.guarded.View(), state.epoch(),
                                    state.version(), 0) == UpdateVerdict::kApplied);
          if (t % kFlush == 0) at_flush[lazy].push_back(state.x());
        }
      }
    }
    REQUIRE(at_flush[0].size() == at_flush[1].size());
    for (size_t f = 0; f < at_flush[0].size(); ++f) {
      for (int64_t j = 0; j < p; ++j) {
        REQUIRE(at_flush[1][f][j] == doctest::Approx(at_flush[0][f][j]).epsilon(1e-9));
      }
    }
    // Between flushes a step's update is at most one row's non-zeros and the intercept.
    int32_t widest_row = 0;
    for (int64_t i = 0; i < data.rows(); ++i) widest_row = std::max(widest_row, data.Row(i).nnz);
    CHECK(largest_between <= widest_row + (intercept ? 1 : 0));
    CHECK(largest_between > 0);
  }
}

TEST_CASE("proximal Newton epochs: the same optimum, certified, in fewer epochs") {
  const Dataset data = testing::LoadLibsvm(testing::SourcePath("data/spam/train.svm"));
  ProblemSpec spec;
  spec.reg.l1 = 1e-3;
  TrainOptions options;
  options.policy.stop.max_epochs = 300;
  options.policy.stop.kkt_tolerance = 1e-10;
  options.policy.stop.tolerance = 0;  // stop on the KKT violation alone
  Result<TrainResult> with = TrainLocal(data, spec, options, nullptr);
  options.policy.newton_max_support = 0;
  Result<TrainResult> without = TrainLocal(data, spec, options, nullptr);
  REQUIRE(with.ok());
  REQUIRE(without.ok());
  CHECK(with->stop_reason == "kkt");
  CHECK(with->last.kkt <= 1e-10);
  CHECK(with->newton_steps > 0);
  CHECK(without->newton_steps == 0);
  CHECK(with->last.objective == doctest::Approx(without->last.objective).epsilon(1e-9));
  CHECK(with->last.epoch < without->last.epoch);
}

}  // namespace
}  // namespace edgetrain
