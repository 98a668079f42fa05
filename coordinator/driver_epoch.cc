// The driver's run: the start of training and every epoch's phases.
#include <algorithm>
#include <cmath>
#include <utility>

#include "driver.h"
#include "edgetrain/crc32c.h"
#include "edgetrain/rng.h"
#include "edgetrain/support_newton.h"

namespace edgetrain::coordinator {

bool Driver::ReadyToStart(std::string* why) const {
  // Agents told RoundBegin are awaited (until round_deadline_); the others have said Hello.
  int ready = 0, pending = 0;
  roster_.ForEach([&](const Agent& a) {
    if (a.round_pending) {
      ++pending;
    } else if (!a.welcomed()) {
      ++ready;
    }
  });
  if (ready < options_.min_agents) {
    *why = "waiting for agents";
    return false;
  }
  if (pending > 0 && clock_->Now() < round_deadline_) {
    *why = "waiting for the Hellos of round " + std::to_string(round_) + " (" +
           std::to_string(ready) + " of " + std::to_string(ready + pending) + ")";
    return false;
  }
  if (options_.task == Task::kClassification && !labels_ &&
      roster_.DistinctLabels("", {}).size() < 2) {
    *why = "waiting for an agent whose data holds the second label";
    return false;
  }
  return true;
}

void Driver::StartTraining() {
  dimension_ = resume_ ? resume_->dimension : options_.dimension;
  if (resume_) labels_ = resume_->labels;
  if (!resume_ && published_) dimension_ = std::max(dimension_, published_->dim);
  roster_.ForEach([&](const Agent& a) { dimension_ = std::max(dimension_, a.dimension); });
  // Shards without a single feature (a Hello may say 0) still fit the intercept, but a model
  // has at least one feature: a Welcome of dimension 0 is refused by every agent's decoder.
  dimension_ = std::max(dimension_, 1);
  if (options_.task == Task::kClassification && !labels_) {
    const std::vector<std::string> distinct = roster_.DistinctLabels("", {});
    Result<LabelMap> map = ChooseLabelMap(distinct[0], distinct[1], options_.positive_label);
    if (!map.ok()) {
      Fail(map.status());
      return;
    }
    labels_ = *map;
  }
  if (Status st = ChooseScaling(); !st.ok()) {
    Fail(st);
    return;
  }
  // The model is allocated only now, for the dimension the agents present actually have. It is
  // held in the preconditioner's coordinates (the spec carries the scales).
  ProblemSpec spec = options_.problem;
  spec.scales = scales_;
  state_ = std::make_unique<CoordinatorState>(spec, dimension_);
  EpochPolicyOptions policy = options_.policy;
  policy.newton_max_support = std::min(policy.newton_max_support, wire::kMaxNewtonSupport);
  policy_ = std::make_unique<EpochPolicy>(spec, policy);
  answerer_ = std::make_unique<UpdateAnswerer>(state_->model_size());
  decoder_.set_model_size(state_->model_size());
  start_time_ = clock_->Now();
  if (resume_) {
    // Checkpoints hold the user's model (SaveCheckpoint): into this run's coordinates.
    state_->Restore(ModelToSolver(spec, resume_->x), resume_->version, resume_->epoch);
    policy_->RestoreStepFactor(resume_->step_factor);
    next_session_ = std::max(next_session_, resume_->next_session);
    summary_.updates_applied = resume_->updates_applied;
    summary_.resumed = true;
    summary_.resumed_epoch = resume_->epoch;
    events_->Emit(RunResumed{resume_->epoch, resume_->version, resume_->updates_applied,
                             static_cast<int64_t>(resume_->roster.size()), resume_->step_factor});
  } else {
    WarmStart();
  }
  events_->Emit(RunStarted{roster_.size(), dimension_, options_.problem, options_.policy.stop,
                           options_.insecure, options_.secure_log, options_.reference_objective,
                           labels_});
  roster_.ForEach([&](Agent& a) {
    if (!a.welcomed()) Welcome(a);  // not those still between rounds (their Hello is late)
  });
  run_ = Run::kRunning;
  StartEpoch();
}

Status Driver::ChooseScaling() {
  const ScalerKind kind = RunScale("").value_or(ScalerKind::kNone);
  // The merged statistics of every agent present (the union of their shards), over the model's
  // dimension (a feature no present shard has gets no cells).
  const auto d = static_cast<size_t>(dimension_);
  ColumnStats merged;
  merged.nonzeros.assign(d, 0);
  merged.sum.assign(d, 0.0);
  merged.sum_squares = merged.min = merged.max = merged.sum;
  std::string missing;
  roster_.ForEach([&](Agent& a) {
    if (!a.column_stats) {
      missing = a.agent_id;
      return;
    }
    merged.Merge(*a.column_stats);
    a.column_stats.reset();  // merged once
  });
  scaler_ = Scaler();
  scales_ = ColumnScales();
  if (!missing.empty()) {
    if (kind != ScalerKind::kNone) {
      return Status::InvalidArgument(std::string("--scale ") + ScalerName(kind) +
                                     " needs every agent's column statistics, and agent '" +
                                     missing + "' sent none in its Hello");
    }
    return Status::Ok();  // no preconditioner without the whole picture
  }
  if (kind != ScalerKind::kNone) {
    scaler_ = Scaler::FromStats(merged, kind);
    merged = scaler_.ApplyToStats(merged);
  }
  if (options_.precondition) scales_ = ColumnScales::FromStats(merged, options_.problem.intercept);
  return Status::Ok();
}

void Driver::StartEpoch() {
  if (roster_.welcomed() == 0) {
    run_ = Run::kWaiting;
    waiting_why_ = "no agents left";
    events_->Emit(WaitingForAgents{0, 1, waiting_why_});
    EmitStatus(clock_->Now());
    return;
  }
  const double now = clock_->Now();
  state_->BeginEpoch();
  SaveCheckpoint();
  const VectorView snapshot = VectorView::Dense(state_->snapshot().data(), state_->model_size());
  roster_.ForEach([&](Agent& a) {
    a.participant = false;
    if (!a.welcomed()) return;
    a.role = Role::kAwaiting;
    a.phase_sent = now;
    a.answered_to = state_->version();  // the agent's copy is x~: answers continue from here
    Send(a, encoder_.Encode(a.NextHeader(),
                            wire::EpochBeginMsg{state_->epoch(), state_->version(), snapshot}));
  });
  smoothness_.clear();
  epoch_refused_.clear();
  phase_start_ = now;
  // After the time limit only one last evaluation is waited for, briefly.
  phase_deadline_ =
      now + (policy_->stop_requested() ? std::min(options_.gradient_timeout, kFinalEvaluation)
                                       : options_.gradient_timeout);
}

bool Driver::PhaseComplete() const {
  bool complete = true;
  roster_.ForEach([&](const Agent& a) { complete &= a.role != Role::kAwaiting; });
  return complete;
}

void Driver::CountRefusedUpdate(Agent* a, const char* reason) {
  ++updates_refused_;
  ++epoch_refused_[reason];
  ++a->health.updates_refused;
  ++a->health.refused_by_reason[reason];
}

void Driver::OnGradSum(Agent& a, const wire::GradSumMsg& m) {
  if (state_->phase() != CoordinatorState::Phase::kGradient || a.role != Role::kAwaiting ||
      m.epoch != state_->epoch()) {
    CountRefusedUpdate(&a, "late_gradient");
    return;
  }
  // Counts are checked against what the agent declared: a sum over other rows than its Hello
  // promised would set mu~ and the inner-loop length from a number nobody can check.
  if (m.smoothness.rows != a.rows) {
    RemoveAgent(a.identity, "its gradient sum claims " + std::to_string(m.smoothness.rows) +
                                " rows, its Hello " + std::to_string(a.rows));
    return;
  }
  GradientPart part;
  part.grad = m.grad;
  part.loss_sum = m.loss_sum;
  part.rows = m.smoothness.rows;
  part.dual = m.dual;
  part.aux = m.aux;
  part.certified = m.certified;
  part.diverged = m.diverged;
  state_->AddGradSum(part);
  smoothness_.push_back(m.smoothness);
  a.role = Role::kAnswered;
  a.participant = true;
  a.gradient_timeouts_in_a_row = 0;
  if (PhaseComplete()) FinishGradientPhase();
}

void Driver::FinishGradientPhase() {
  const double now = clock_->Now();
  if (state_->gradient_rows() == 0) {  // nobody answered: try again with whoever is there
    if (policy_->stop_requested()) {
      Finish("time-limit");
    } else {
      StartEpoch();
    }
    return;
  }
  SnapshotReport report = state_->FinishGradientPhase();
  // Which rows: the participants and their row counts (a rejoined agent has a new session but the
  // same rows, so the id and the count identify them).
  roster_.ForEach([&](const Agent& a) {
    if (!a.participant) return;
    const uint64_t h = Crc32c(a.agent_id.data(), a.agent_id.size(), static_cast<uint32_t>(a.rows));
    report.row_set += DeriveSeed(h, static_cast<uint64_t>(a.rows));  // order-free
  });
  EpochContext context;
  context.seconds = now - start_time_;
  context.smoothness = CombineSmoothness(smoothness_);
  roster_.ForEach([&](const Agent& a) {
    if (a.participant && !a.newton) context.newton_capable = false;
  });
  Result<EpochDecision> decided = policy_->Decide(report, context);
  if (!decided.ok()) {
    Fail(decided.status());
    return;
  }
  Decided(report, *decided, now);
}

void Driver::Decided(const SnapshotReport& report, const EpochDecision& d, double now) {
  using Action = EpochDecision::Action;
  if (d.keep_as_best) state_->KeepSnapshotAsBest();
  if (d.action == Action::kNewton || d.action == Action::kInner) plan_ = d.plan;
  int64_t participants = 0;
  roster_.ForEach([&](const Agent& a) { participants += a.participant; });
  if (d.verdict == EpochDecision::Verdict::kBaseline) eta_.Reset();  // another function now
  if (d.keep_as_best) {
    const bool gap = std::isfinite(report.relative_gap) && options_.policy.stop.tolerance > 0;
    eta_.Add(now - start_time_, gap ? report.relative_gap : report.kkt,
             gap ? options_.policy.stop.tolerance : options_.policy.stop.kkt_tolerance);
  }
  if (d.action == Action::kTrialPoint || d.action == Action::kNewtonRejected) {
    events_->Emit(NewtonTrial{d.action == Action::kNewtonRejected, report.epoch - 1,
                              report.objective, policy_->best_objective(), now - start_time_,
                              policy_->line_search_alpha()});
  } else {
    events_->Emit(EpochBegan{report, d, participants, state_->version(), now - start_time_,
                             options_.reference_objective, last_rate_});
  }
  if (d.action != Action::kStop) EmitStatus(now);
  switch (d.action) {
    case Action::kStop:
      if (d.failed) {
        Fail(Status::Internal(policy_->DivergedMessage()));
      } else {
        Finish(d.stop_reason);
      }
      return;
    case Action::kRollBack:
    case Action::kNewtonRejected:
      state_->RevertToBest();
      StartEpoch();
      return;
    case Action::kTrialPoint:
      state_->JumpTo(policy_->trial_point());
      StartEpoch();
      return;
    case Action::kNewton:
      BeginCurvaturePhase(now, d.working_set, d.reuse_curvature);
      return;
    case Action::kInner:
      BeginInnerPhase(now);
      return;
  }
}

void Driver::BeginCurvaturePhase(double now, int64_t working_set, bool reuse) {
  // The working set grows with the model, as in working-set l1 solvers (celer, blitz): small
  // blocks early keep the first steps (from x = 0, where every useful weight violates) cheap.
  NewtonSupport support = ChooseNewtonSupport(state_->spec(), state_->mu().data(),
                                              state_->snapshot().data(), dimension_, working_set);
  if (support.size() == 0) {  // no weight to move (x~ = 0 and optimal): nothing to ask for
    policy_->NewtonDeclined();
    BeginInnerPhase(now);
    return;
  }
  curvature_declined_ = false;
  phase_start_ = now;
  if (reuse && state_->ReuseCurvature(support)) {  // a chord step: the agents go on at once
    FinishCurvaturePhase(true);
    return;
  }
  state_->BeginCurvaturePhase(std::move(support));
  const wire::CurvatureRequestMsg request{state_->epoch(), state_->version(),
                                          state_->newton_support().index};
  roster_.ForEach([&](Agent& a) {
    if (!a.participant) return;
    a.role = Role::kAwaiting;
    a.phase_sent = now;
    Send(a, encoder_.Encode(a.NextHeader(), request));
  });
  phase_deadline_ = now + options_.gradient_timeout;
}

void Driver::OnCurvature(Agent& a, const wire::CurvatureMsg& m) {
  if (state_->phase() != CoordinatorState::Phase::kCurvature || a.role != Role::kAwaiting ||
      m.epoch != state_->epoch() || m.support_size != state_->newton_support().size()) {
    CountRefusedUpdate(&a, "late_curvature");
    return;
  }
  a.role = Role::kAnswered;
  if (m.declined) {
    curvature_declined_ = true;
  } else if (m.rows != a.rows) {
    RemoveAgent(a.identity, "its curvature claims " + std::to_string(m.rows) + " rows, its Hello " +
                                std::to_string(a.rows));
    return;
  } else {
    state_->AddCurvature(m.hessian.data(), m.rows);
  }
  if (PhaseComplete()) FinishCurvaturePhase();
}

void Driver::FinishCurvaturePhase(bool reused) {
  const double now = clock_->Now();
  // Every row behind mu~ must be in H too (an agent that left or timed out, or one that declined,
  // leaves a Hessian that does not match the gradient): then the epoch runs an inner loop instead.
  std::vector<double> direction;
  double decrease = 0.0;
  int sweeps = 0;
  const int64_t rows = state_->curvature_rows();
  const bool solved =
      state_->NewtonDirection(&direction, &decrease, &sweeps) && !curvature_declined_;
  events_->Emit(NewtonSolved{state_->epoch() - 1, state_->newton_support().size(), rows, sweeps,
                             reused ? 0 : state_->hessian_bytes(), curvature_declined_, solved,
                             decrease, clock_->Now() - now, now - phase_start_, now - start_time_,
                             reused});
  roster_.ForEach([&](Agent& a) {
    if (a.role == Role::kAwaiting) a.role = Role::kIdle;
  });
  if (!solved) {
    policy_->NewtonDeclined();
    BeginInnerPhase(now);
    return;
  }
  state_->JumpTo(policy_->BeginLineSearch(state_->newton_support(), std::move(direction), decrease,
                                          state_->snapshot()));
  StartEpoch();
}

void Driver::BeginInnerPhase(double now) {
  state_->BeginInnerPhase(plan_.inner_steps);
  answerer_->set_eta_lf(options_.damping ? plan_.eta * CombineSmoothness(smoothness_).l_full : 0);
  const wire::InnerLoopMsg loop = InnerLoop();
  roster_.ForEach([&](Agent& a) {
    if (!a.participant) return;
    a.role = Role::kInner;
    a.phase_sent = now;
    a.epoch_updates = 0;
    Send(a, encoder_.Encode(a.NextHeader(), loop));
  });
  phase_start_ = now;
  next_progress_ = now + kProgressInterval;
  phase_deadline_ = now + options_.stall_timeout;
  epoch_bytes_in_ = bytes_in_;
  epoch_bytes_out_ = bytes_out_;
  guarded_refused_mark_ = state_->guarded_refused();
  guarded_clipped_mark_ = state_->guarded_clipped();
}

wire::InnerLoopMsg Driver::InnerLoop() const {
  int32_t participants = 0;
  roster_.ForEach([&](const Agent& a) { participants += a.participant; });
  return wire::InnerLoopMsg{state_->epoch(),
                            state_->snapshot_version(),
                            VectorView::Dense(state_->mu().data(), state_->model_size()),
                            plan_.eta,
                            plan_.inner_steps,
                            plan_.batch,
                            std::max(participants, 1)};
}

void Driver::OnUpdate(Agent& a, const wire::Header& h, const wire::UpdateMsg& m) {
  if (state_->phase() != CoordinatorState::Phase::kInner || m.epoch != state_->epoch()) {
    CountRefusedUpdate(&a, "late_update");  // in flight when the epoch ended: expected
    return;
  }
  if (a.role != Role::kInner) {
    CountRefusedUpdate(&a, "not_participant");
    return;
  }
  ++a.epoch_updates;
  if (m.rtt_us > 0) a.health.rtt_us = m.rtt_us;
  const int64_t staleness = state_->ForeignVersions(m.base_version, a.session);
  const UpdateSender sender{a.NextHeader(), h.seq,         a.incremental,
                            a.session,      a.answered_to, a.session_applied};
  const UpdateAnswer answer =
      answerer_->AnswerUpdate(state_.get(), m, sender, max_staleness_, &encoder_);
  a.answered_to = answer.version;
  Send(a, answer.bytes);
  if (answer.verdict == UpdateVerdict::kApplied) {
    ++a.session_applied;
    ++a.health.updates_applied;
    a.health.staleness_sum += staleness;
    ++summary_.updates_applied;
    phase_deadline_ = clock_->Now() + options_.stall_timeout;
  } else {
    CountRefusedUpdate(&a, UpdateVerdictName(answer.verdict));
  }
  if (answer.inner_done) {
    EndInnerPhase(false);
    StartEpoch();
  }
}

void Driver::OnRepeatedUpdate(Agent& a, const wire::Header& h, const wire::Message& m) {
  if (!std::holds_alternative<wire::UpdateMsg>(m.body) || !state_ ||
      state_->phase() != CoordinatorState::Phase::kInner || a.role != Role::kInner) {
    return;
  }
  Send(a, UpdateAnswerer::AnswerRepeat(*state_,
                                       UpdateSender{a.NextHeader(), h.seq, a.incremental, a.session,
                                                    a.answered_to, a.session_applied},
                                       a.seq_in, &encoder_));
  a.answered_to = state_->version();
}

void Driver::EndInnerPhase(bool stalled) {
  const double now = clock_->Now();
  const double seconds = std::max(1e-9, now - phase_start_);
  last_rate_ = static_cast<double>(state_->updates_in_epoch()) / seconds;
  const auto& hist = state_->staleness_histogram();
  EpochEnded e;
  e.epoch = state_->epoch() - 1;
  e.updates_applied = state_->updates_in_epoch();
  e.steps_applied = state_->applied_in_epoch();
  e.inner_steps = state_->inner_steps();
  e.version = state_->version();
  e.updates_per_second = last_rate_;
  e.inner_seconds = seconds;
  e.seconds = now - start_time_;
  e.staleness_histogram.assign(hist.begin(), hist.end());
  e.refused = epoch_refused_;
  e.guarded_refused = state_->guarded_refused() - guarded_refused_mark_;
  e.guarded_clipped = state_->guarded_clipped() - guarded_clipped_mark_;
  e.bytes_in = bytes_in_ - epoch_bytes_in_;
  e.bytes_out = bytes_out_ - epoch_bytes_out_;
  e.stalled = stalled;
  events_->Emit(e);
}

}  // namespace edgetrain::coordinator
