// edgetrain-monitor: the event accumulator on hand-written log-stream sequences
// (docs/log-stream.md), the CSV and SVG writers, the terminal text, and the program end to end
// against a real ZeroMQ PUB socket.
#include <signal.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>
#include <zmq.hpp>

#include "doctest/doctest.h"
#include "edgetrain/clock.h"
#include "event_json.h"
#include "events.h"
#include "json_sink.h"
#include "monitor_streams.h"
#include "report_files.h"
#include "run_record.h"
#include "terminal_view.h"
#include "test_util.h"

namespace edgetrain {
namespace {

using monitor::Json;
using monitor::RunRecord;
using testing::Fold;
using testing::Lines;
using testing::MidRunWithoutReference;
using testing::RunWithReference;

// ---- a small XML reader: well-formedness (the subset an SVG writer emits) and a tree ------------

struct XmlElement {
  std::string name;
  std::map<std::string, std::string> attributes;
  std::vector<std::unique_ptr<XmlElement>> children;
  std::string text;
};

class XmlReader {
 public:
  explicit XmlReader(const std::string& xml) : s_(xml) {}

  // Returns the root, or null with error() set.
  std::unique_ptr<XmlElement> Read() {
    if (s_.compare(0, 5, "<?xml") == 0) {
      const size_t end = s_.find("?>");
      if (end == std::string::npos) return Fail("unterminated XML declaration");
      pos_ = end + 2;
    }
    SkipMisc();
    if (pos_ >= s_.size() || s_[pos_] != '<') return Fail("no root element");
    std::unique_ptr<XmlElement> root = Element();
    if (!root) return nullptr;
    SkipMisc();
    if (pos_ != s_.size()) return Fail("content after the root element");
    return root;
  }
  const std::string& error() const { return error_; }

 private:
  std::unique_ptr<XmlElement> Fail(const std::string& what) {
    if (error_.empty()) error_ = what + " at offset " + std::to_string(pos_);
    return nullptr;
  }
  void SkipSpace() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  void SkipMisc() {
    for (;;) {
      SkipSpace();
      if (s_.compare(pos_, 4, "<!--") != 0) return;
      const size_t end = s_.find("-->", pos_);
      pos_ = end == std::string::npos ? s_.size() : end + 3;
    }
  }
  static bool NameChar(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':' || c == '-' ||
           c == '.';
  }
  std::string Name() {
    const size_t start = pos_;
    while (pos_ < s_.size() && NameChar(s_[pos_])) ++pos_;
    return s_.substr(start, pos_ - start);
  }
  // Checks character data: no '<', and every '&' starts a known entity.
  bool CheckText(const std::string& text) {
    static const char* const kEntities[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '<') return false;
      if (text[i] != '&') continue;
      bool known = false;
      for (const char* e : kEntities) known = known || text.compare(i, std::strlen(e), e) == 0;
      if (!known) return false;
    }
    return true;
  }
  std::unique_ptr<XmlElement> Element() {
    ++pos_;  // '<'
    auto element = std::make_unique<XmlElement>();
    element->name = Name();
    if (element->name.empty()) return Fail("element without a name");
    for (;;) {
      SkipSpace();
      if (pos_ >= s_.size()) return Fail("unterminated start tag <" + element->name);
      if (s_.compare(pos_, 2, "/>") == 0) {
        pos_ += 2;
        return element;
      }
      if (s_[pos_] == '>') {
        ++pos_;
        break;
      }
      const std::string attribute = Name();
      if (attribute.empty()) return Fail("bad attribute in <" + element->name);
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != '=')
        return Fail("attribute " + attribute + " without '='");
      ++pos_;
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != '"')
        return Fail("attribute " + attribute + " not in double quotes");
      const size_t end = s_.find('"', pos_ + 1);
      if (end == std::string::npos) return Fail("unterminated attribute value");
      const std::string value = s_.substr(pos_ + 1, end - pos_ - 1);
      if (!CheckText(value)) return Fail("bad character in attribute " + attribute);
      if (!element->attributes.emplace(attribute, value).second)
        return Fail("duplicate attribute " + attribute);
      pos_ = end + 1;
    }
    for (;;) {  // content
      const size_t lt = s_.find('<', pos_);
      if (lt == std::string::npos) return Fail("unclosed element <" + element->name + ">");
      const std::string text = s_.substr(pos_, lt - pos_);
      if (!CheckText(text)) return Fail("bad character data in <" + element->name + ">");
      element->text += text;
      pos_ = lt;
      if (s_.compare(pos_, 4, "<!--") == 0) {
        SkipMisc();
        continue;
      }
      if (s_.compare(pos_, 2, "</") == 0) {
        pos_ += 2;
        const std::string name = Name();
        SkipSpace();
        if (name != element->name || pos_ >= s_.size() || s_[pos_] != '>') {
          return Fail("</" + name + "> closes <" + element->name + ">");
        }
        ++pos_;
        return element;
      }
      std::unique_ptr<XmlElement> child = Element();
      if (!child) return nullptr;
      element->children.push_back(std::move(child));
    }
  }

  const std::string& s_;
  size_t pos_ = 0;
  std::string error_;
};

void Collect(const XmlElement& e, const std::string& name, std::vector<const XmlElement*>* out) {
  if (e.name == name) out->push_back(&e);
  for (const auto& child : e.children) Collect(*child, name, out);
}

std::string AllText(const XmlElement& e) {
  std::string text = e.text;
  for (const auto& child : e.children) text += AllText(*child);
  return text;
}

struct PanelPoints {
  std::string id;
  size_t kkt = 0, subopt = 0;  // points of each series (over its polylines); 0 when absent
  size_t kkt_lines = 0, subopt_lines = 0;  // polylines of each series (one per segment)
  size_t baselines = 0;                    // <g class="baseline"> marks
  bool has_kkt = false, has_subopt = false;
};

// Parses the chart and returns its panels (the <g class="panel"> elements).
std::vector<PanelPoints> Panels(const std::string& svg, std::string* all_text = nullptr) {
  XmlReader reader(svg);
  std::unique_ptr<XmlElement> root = reader.Read();
  REQUIRE_MESSAGE(root != nullptr, reader.error());
  CHECK(root->name == "svg");
  CHECK(root->attributes["xmlns"] == "http://www.w3.org/2000/svg");
  if (all_text != nullptr) *all_text = AllText(*root);
  std::vector<const XmlElement*> groups;
  Collect(*root, "g", &groups);
  std::vector<PanelPoints> panels;
  for (const XmlElement* g : groups) {
    auto cls = g->attributes.find("class");
    if (cls == g->attributes.end() || cls->second != "panel") continue;
    PanelPoints p;
    p.id = g->attributes.at("id");
    std::vector<const XmlElement*> lines;
    Collect(*g, "polyline", &lines);
    for (const XmlElement* line : lines) {
      std::istringstream points(line->attributes.at("points"));
      size_t n = 0;
      for (std::string xy; points >> xy;) {
        CHECK(xy.find(',') != std::string::npos);
        ++n;
      }
      if (line->attributes.at("class") == "series kkt") {
        p.has_kkt = true;
        p.kkt += n;
        ++p.kkt_lines;
      } else if (line->attributes.at("class") == "series subopt") {
        p.has_subopt = true;
        p.subopt += n;
        ++p.subopt_lines;
      }
    }
    std::vector<const XmlElement*> inner;
    Collect(*g, "g", &inner);
    for (const XmlElement* mark : inner) {
      auto c = mark->attributes.find("class");
      p.baselines += c != mark->attributes.end() && c->second == "baseline";
    }
    panels.push_back(p);
  }
  return panels;
}

// ---- the record ---------------------------------------------------------------------------------

TEST_CASE("the record folds a run with a reference objective") {
  const RunRecord record = Fold(RunWithReference());
  REQUIRE(record.run().has_value());
  CHECK(record.run()->loss == "logistic");
  CHECK(record.run()->l1 == doctest::Approx(0.001));
  CHECK(record.run()->dimension == 57);
  CHECK(record.run()->agents == 2);
  CHECK(record.run()->reference_objective == 0.38);
  CHECK(record.run()->label_positive == "1");
  REQUIRE(record.epochs().size() == 4);
  const auto& e = record.epochs();
  CHECK(e[0].epoch == 0);
  CHECK(e[0].objective == 0.6931471805599453);
  CHECK(std::isnan(e[0].gap_bound));  // infinity was written as null
  CHECK(e[0].rel_subopt == 0.824);
  CHECK(e[0].best);
  CHECK(e[0].ended);
  CHECK(e[0].updates_per_second == 8021.5);
  CHECK(e[1].nnz == 1788);
  CHECK_FALSE(e[1].best);
  CHECK(e[1].updates_per_second == 13032.8);
  CHECK(e[2].agents == 1);
  CHECK(e[3].final);
  CHECK_FALSE(e[3].ended);  // no inner phase after the final snapshot
  CHECK(std::isnan(e[3].updates_per_second));
  CHECK(record.agents_connected() == 1);  // agent_left after run_started
  CHECK(record.update_rate() == 12361.7);
  CHECK_FALSE(record.progress().active);
  REQUIRE(record.finished());
  CHECK(record.finish()->reason == "kkt");
  CHECK(record.finish()->epoch == 3);
  CHECK(record.finish()->model == "/tmp/m.etm");
  CHECK(record.HasReferenceObjective());
  CHECK(record.Suboptimality(e[2]) == 0.067);
  CHECK(record.Suboptimality(e[3]) < 0);
}

TEST_CASE("the record follows the inner phase with progress and epoch_end") {
  auto events = RunWithReference();
  RunRecord record;
  for (size_t i = 0; i < 4; ++i)
    REQUIRE(record.Consume(events[i].second).ok());  // up to epoch_begin 0
  CHECK(record.progress().active);
  CHECK(record.progress().epoch == 0);
  CHECK(record.progress().inner_steps == 3200);
  CHECK(record.progress().updates_applied == 0);
  REQUIRE(record.Consume(events[4].second).ok());  // progress
  CHECK(record.progress().updates_applied == 1600);
  CHECK(record.progress().steps_applied == 1600);  // no steps_applied: one step per Update
  CHECK(record.update_rate() == 8000);
  REQUIRE(record.Consume(events[5].second).ok());  // epoch_end
  CHECK_FALSE(record.progress().active);
  CHECK(record.progress().updates_applied == 3200);
  CHECK(record.progress().steps_applied == 3200);
  CHECK(record.update_rate() == 8021.5);
}

TEST_CASE("pipelined agents: the inner phase's progress counts steps, not Updates") {
  // Since the pipelined agents an Update may carry several inner steps: progress and epoch_end
  // carry both counts, status only steps_applied; the phase ends when the steps reach inner_steps.
  auto events = RunWithReference();
  RunRecord record;
  for (size_t i = 0; i < 4; ++i) REQUIRE(record.Consume(events[i].second).ok());
  REQUIRE(record
              .Consume(R"({"event":"progress","time":1714560000.2,"epoch":0,)"
                       R"("updates_applied":400,"steps_applied":2400,"inner_steps":3200,)"
                       R"("updates_per_second":2000,"agents":2,"seconds":0.2})")
              .ok());
  CHECK(record.progress().updates_applied == 400);
  CHECK(record.progress().steps_applied == 2400);
  monitor::LiveViewOptions options;
  options.width = 100;
  options.unicode = false;
  std::vector<std::string> view = monitor::RenderLiveView(record, options);
  CHECK(view[1].find("75%  2400/3200 steps") != std::string::npos);
  REQUIRE(record
              .Consume(R"({"event":"status","time":1714560000.3,"state":"running","phase":)"
                       R"("inner","epoch":0,"agents":2,"agents_needed":2,"steps_applied":800,)"
                       R"("inner_steps":3200,"seconds":0.3,"epoch_eta_seconds":0.9})")
              .ok());
  CHECK(record.status()->steps_applied == 800);
  CHECK(record.progress().steps_applied == 800);
  view = monitor::RenderLiveView(record, options);
  CHECK(view[1].find("25%  800/3200 steps") != std::string::npos);
  CHECK(record.epoch_eta_seconds() == 0.9);
}

TEST_CASE("the record reads the fields the coordinator's JSON sink writes") {
  // The coordinator's own renderer (coordinator/json_sink.cc), not a copy of its field names: a
  // field renamed there and not here fails this case.
  ManualClock clock(10, 1714560000 - 10);
  coordinator::JsonEventSink sink(&clock, "0123456789abcdef", nullptr);
  // Set field by field (std::tie): aggregate initialisation would stop compiling, or warn, when
  // the coordinator's structs gain a field.
  coordinator::AgentStatus press1;
  std::tie(press1.agent, press1.address, press1.software_version, press1.role) =
      std::make_tuple("press-1", "10.0.0.7", "0.1.0 aarch64", "inner");
  std::tie(press1.rows, press1.updates_applied, press1.updates_refused, press1.gradient_timeouts,
           press1.messages) = std::make_tuple(800, 150, 4, 1, 170);
  std::tie(press1.mean_staleness, press1.seconds_since_heard) = std::make_tuple(1.5, 0.75);
  std::tie(press1.arch, press1.last_message, press1.rtt_seconds) =
      std::make_tuple("aarch64", "Update", 0.0042);
  press1.refused_by_reason = {{"too_stale", 3}, {"late_update", 1}};
  coordinator::AgentStatus press2 = press1;
  press2.agent = "press-2";
  press2.mean_staleness = std::numeric_limits<double>::quiet_NaN();  // none applied yet: null
  coordinator::RunStatus s;
  std::tie(s.state, s.phase) = std::make_tuple("running", "inner");
  std::tie(s.epoch, s.agents, s.agents_needed, s.rows, s.steps_applied, s.inner_steps) =
      std::make_tuple(7, 2, 3, 1600, 2400, 3200);
  s.evaluated = true;
  std::tie(s.seconds, s.objective, s.kkt, s.relative_gap, s.tolerance, s.epoch_eta_seconds,
           s.run_eta_seconds) = std::make_tuple(12.5, 0.38, 2e-6, 3e-4, 1e-6, 0.25, 42.0);
  s.agent_status = {press1, press2};
  std::tie(s.insecure, s.secure_log) = std::make_tuple(true, false);

  RunRecord record;
  REQUIRE(record.Consume(sink.Render(s)).ok());
  CHECK(record.run_id() == "0123456789abcdef");
  CHECK(record.state() == monitor::RunState::kRunning);
  CHECK(std::make_tuple(record.phase(), record.epoch(), record.agents_connected(),
                        record.agents_needed()) ==
        std::tie(s.phase, s.epoch, s.agents, s.agents_needed));
  REQUIRE(record.status().has_value());
  const monitor::RunStatus& r = *record.status();
  CHECK(r.time == 1714560000);
  CHECK(std::tie(r.steps_applied, r.inner_steps, r.seconds, r.evaluated, r.objective, r.kkt,
                 r.rel_gap, r.rows,
                 r.tolerance) == std::tie(s.steps_applied, s.inner_steps, s.seconds, s.evaluated,
                                          s.objective, s.kkt, s.relative_gap, s.rows, s.tolerance));
  CHECK(record.epoch_eta_seconds() == 0.25);
  CHECK(record.run_eta_seconds() == 42);
  CHECK(record.progress().steps_applied == 2400);
  REQUIRE(r.agents_health.size() == 2);
  const monitor::AgentHealth& h = r.agents_health[0];
  CHECK(std::tie(h.agent, h.address, h.software_version, h.role, h.rows, h.updates_applied,
                 h.updates_refused, h.gradient_timeouts, h.messages, h.mean_staleness,
                 h.seconds_since_heard) ==
        std::tie(press1.agent, press1.address, press1.software_version, press1.role, press1.rows,
                 press1.updates_applied, press1.updates_refused, press1.gradient_timeouts,
                 press1.messages, press1.mean_staleness, press1.seconds_since_heard));
  CHECK(std::tie(h.arch, h.last_message, h.rtt_seconds, h.refused_by_reason) ==
        std::tie(press1.arch, press1.last_message, press1.rtt_seconds, press1.refused_by_reason));
  CHECK(record.insecure() == true);
  CHECK(r.secure_log == false);
  CHECK(r.agents_health[1].agent == "press-2");
  CHECK(std::isnan(r.agents_health[1].mean_staleness));
  CHECK(record.updates_applied_total() == 300);
  CHECK(record.updates_refused_total() == 8);

  // progress during the inner phase, epoch_end at its end: the Updates applied and the steps they
  // carried (the bar), the rate, the training time (never back to the older status's).
  coordinator::Progress progress;
  std::tie(progress.epoch, progress.updates_applied, progress.steps_applied, progress.inner_steps,
           progress.agents) = std::make_tuple(7, 600, 2800, 3200, 2);
  std::tie(progress.updates_per_second, progress.seconds) = std::make_tuple(480.0, 13.0);
  coordinator::EpochEnded end;
  std::tie(end.epoch, end.updates_applied, end.steps_applied, end.inner_steps) =
      std::make_tuple(7, 700, 3200, 3200);
  std::tie(end.updates_per_second, end.seconds) = std::make_tuple(470.0, 13.5);
  REQUIRE(record.Consume(sink.Render(progress)).ok());
  CHECK(record.progress().active);
  CHECK(std::make_tuple(record.progress().updates_applied, record.progress().steps_applied,
                        record.progress().inner_steps, record.update_rate(),
                        record.TrainingSeconds()) ==
        std::tie(progress.updates_applied, progress.steps_applied, progress.inner_steps,
                 progress.updates_per_second, progress.seconds));
  REQUIRE(record.Consume(sink.Render(end)).ok());
  CHECK_FALSE(record.progress().active);
  CHECK(std::make_tuple(record.progress().updates_applied, record.progress().steps_applied,
                        record.update_rate(), record.TrainingSeconds()) ==
        std::tie(end.updates_applied, end.steps_applied, end.updates_per_second, end.seconds));

  // The run stops and the agents say goodbye: the last status lists none, and the final view
  // keeps each agent's last numbers, marked as gone.
  s.state = "finished";
  s.agents = 0;
  s.agent_status.clear();
  REQUIRE(record.Consume(sink.Render(s)).ok());
  REQUIRE(record.status()->agents_health.size() == 2);
  CHECK(record.status()->agents_health[0].role == "left");
  CHECK(record.status()->agents_health[0].updates_applied == press1.updates_applied);
}

TEST_CASE("the record copes with a monitor that joined mid-run and a run without a reference") {
  const RunRecord record = Fold(MidRunWithoutReference());
  CHECK_FALSE(record.run().has_value());
  REQUIRE(record.epochs().size() == 3);
  CHECK(record.epochs()[0].epoch == 5);
  CHECK(record.epochs()[0].updates_per_second == 10000);
  CHECK(record.epochs()[1].updates_per_second == 11000);
  CHECK(std::isnan(record.epochs()[2].updates_per_second));
  CHECK(record.agents_connected() == 3);
  CHECK_FALSE(record.HasReferenceObjective());
  CHECK(record.FinalObjective() == 0.4);
  CHECK(record.Suboptimality(record.epochs()[0]) == doctest::Approx(0.25));
  CHECK(record.Suboptimality(record.epochs()[2]) == 0);
  CHECK(record.first_event_time() == 1714560100.0);
}

TEST_CASE("without run_finished the suboptimality is measured against the best objective seen") {
  std::vector<std::string> events = MidRunWithoutReference();
  events.pop_back();
  const RunRecord record = Fold(events);
  CHECK_FALSE(record.finished());
  CHECK(record.FinalObjective() == 0.4);
}

TEST_CASE("the record refuses what is not an event and ignores unknown events") {
  RunRecord record;
  CHECK_FALSE(record.Consume("{\"event\":").ok());
  CHECK_FALSE(record.Consume("[1,2]").ok());
  CHECK_FALSE(record.Consume("{\"time\":1}").ok());
  CHECK_FALSE(record.Consume("{\"event\":3}").ok());
  CHECK(record.events_seen() == 0);
  CHECK(record.Consume(R"({"event":"something_new","time":1,"x":[1,{"y":null}]})").ok());
  CHECK(record.Consume(R"({"event":"gradient_timeout","time":2,"agent":"a","rows":5,"epoch":1})")
            .ok());
  CHECK(record.events_seen() == 2);
  CHECK(record.epochs().empty());
  CHECK(record.agents_connected() == -1);
}

TEST_CASE("a second run_started starts a new record") {
  RunRecord record = Fold(MidRunWithoutReference());
  REQUIRE(record.Consume(RunWithReference()[2].second).ok());
  CHECK(record.epochs().empty());
  CHECK_FALSE(record.finished());
  CHECK(record.run().has_value());
}

TEST_CASE("events are parsed strictly: anything but one strict JSON object is refused") {
  const std::vector<std::string> bad = {
      R"({"event":"x","v":NaN})",
      R"({"event":"x","v":Infinity})",
      R"({"event":"x","v":-inf})",
      R"({"event":"x","v":.5})",
      R"({"event":"x","v":01})",
      R"({"event":"x","v":1e400})",
      "{\"event\":\"x\",\"s\":\"a\tb\"}",          // raw tab in a string
      "{\"event\":\"x\",\"s\":\"a\nb\"}",          // raw newline in a string
      "{\"event\":\"x\",\"s\":\"\xff\"}",          // not UTF-8
      "{\"event\":\"x\",\"s\":\"\xc0\xaf\"}",      // overlong
      "{\"event\":\"x\",\"s\":\"\xed\xa0\x80\"}",  // a surrogate in UTF-8
      R"({"event":"x","s":"\ud800"})",             // a lone surrogate escape
      R"({"event":"x","event":"y"})",              // duplicate key
      R"({"event":"x","o":{"a":1,"a":2}})",        // duplicate key, nested
      R"({"event":"x"} {"event":"y"})",            // two objects
      R"({"event":"x",})",                         // trailing comma
      R"({"event":"x" /* note */})",               // comment
      "\xEF\xBB\xBF{\"event\":\"x\"}",             // byte-order mark
      R"({'event':'x'})",
      R"(["event","x"])",
      R"({"event":3})",
      R"({"time":1})",
      "",
  };
  for (const std::string& text : bad) {
    INFO(text);
    const Result<Json> parsed = monitor::ParseEvent(text);
    CHECK_FALSE(parsed.ok());
    RunRecord record;
    CHECK_FALSE(record.Consume(text).ok());
    CHECK(record.events_seen() == 0);
  }
  // The place is named.
  CHECK(monitor::ParseEvent(R"({"event":"x","v":NaN})").status().message().find("column") !=
        std::string::npos);
  CHECK(monitor::ParseEvent(R"({"event":"x","event":"y"})").status().message().find("\"event\"") !=
        std::string::npos);
  for (const std::string& good :
       {std::string(
            R"({"event":"x","v":-0.5e-3,"n":null,"s":"caf\u00e9 \"q\"","a":[1,{"b":true}]})"),
        std::string("{\"event\":\"x\",\"s\":\"caf\xc3\xa9\"}\n"),
        std::string(R"( {"event":"x","big":18446744073709551615} )")}) {
    INFO(good);
    CHECK(monitor::ParseEvent(good).ok());
  }
  // Field reads never throw: wrong types read as the fallback.
  const Json e = *monitor::ParseEvent(
      R"({"event":"x","n":"7","i":2.6,"b":1,"s":5,"o":[1],"huge":1e300,"u":18446744073709551615})");
  CHECK(std::isnan(monitor::NumberField(e, "n")));
  CHECK(monitor::IntField(e, "i") == 3);
  CHECK(monitor::IntField(e, "huge", -1) == -1);
  CHECK(monitor::IntField(e, "u") == std::numeric_limits<int64_t>::max());
  CHECK_FALSE(monitor::BoolField(e, "b"));
  CHECK(monitor::StringField(e, "s", "?") == "?");
  CHECK(monitor::ObjectField(e, "o") == nullptr);
}

TEST_CASE("the record takes the run's state from the first status, before run_started") {
  const testing::Stream events = testing::OperatorsRun();
  RunRecord record;
  REQUIRE(record.Consume(events[0].second).ok());  // status: waiting, no agents
  CHECK(record.run_id() == testing::kOperatorsRunId);
  CHECK(record.state() == monitor::RunState::kWaiting);
  CHECK(record.agents_connected() == 0);
  CHECK(record.agents_needed() == 2);
  CHECK(record.status_news());
  CHECK(monitor::StateSummary(record) == "waiting for agents (0 of 2 connected)");
  REQUIRE(record.Consume(events[1].second).ok());  // run_started of the same run: kept
  CHECK(record.status().has_value());
  CHECK(record.state() == monitor::RunState::kWaiting);
  REQUIRE(record.run().has_value());
  CHECK(record.run()->tolerance == 1e-6);
  CHECK(record.run()->insecure);
  for (size_t i = 2; i <= 8; ++i) REQUIRE(record.Consume(events[i].second).ok());
  CHECK(record.state() == monitor::RunState::kRunning);
  CHECK(record.phase() == "inner");
  CHECK(record.epoch() == 0);
  CHECK(record.progress().active);
  CHECK(record.progress().steps_applied == 1600);
  REQUIRE(record.status().has_value());
  CHECK(record.status()->epoch_eta_seconds == 0.2);
  CHECK(std::isnan(record.status()->run_eta_seconds));
  REQUIRE(record.status()->agents_health.size() == 2);
  const monitor::AgentHealth& a = record.status()->agents_health[1];
  CHECK(a.agent == testing::kHostileAgent);
  CHECK(a.role == "inner");
  CHECK(a.updates_applied == 800);
  CHECK(a.mean_staleness == 0.75);
  CHECK(a.seconds_since_heard == 0.02);
  CHECK(a.arch == "x86_64");
  CHECK(a.rtt_seconds == 0.0042);
  CHECK(a.last_message == "Update");
  CHECK(a.refused_by_reason.empty());
  CHECK(record.status()->agents_health[0].refused_by_reason ==
        std::map<std::string, int64_t>{{"too_stale", 1}});
  CHECK(std::isnan(RunRecord().training_start_time()));
  // From the first running status: 0.05 s at 0.4.
  CHECK(record.training_start_time() - 1714560000.0 == doctest::Approx(0.35));
  CHECK(StateSummary(record) == "running epoch 0 (inner phase)");
}

TEST_CASE("a replay from the last-value cache is news only to a record without one") {
  // The log stream replays its latest status and run_started ("replay": true) to every
  // subscriber whenever one connects: an old status must not take back the progress after it.
  const testing::Stream events = testing::OperatorsRun();
  const auto replay = [&](size_t i) {
    Json e = Json::parse(events[i].second);
    e["replay"] = true;
    return e.dump();
  };
  RunRecord record;
  for (size_t i = 0; i <= 8; ++i) REQUIRE(record.Consume(events[i].second).ok());
  REQUIRE(monitor::EventName(Json::parse(events[8].second)) == "status");
  REQUIRE(record
              .Consume(R"({"event":"progress","time":1714560000.8,"run_id":")" +
                       std::string(testing::kOperatorsRunId) +
                       R"(","epoch":0,"updates_applied":600,"steps_applied":2400,)"
                       R"("inner_steps":3200,"updates_per_second":800,"agents":2,"seconds":0.4})")
              .ok());
  CHECK_FALSE(record.repeated());
  const int64_t seen = record.events_seen();
  REQUIRE(record.Consume(replay(8)).ok());  // the status at 1600 steps
  CHECK(record.repeated());
  CHECK(record.progress().steps_applied == 2400);
  CHECK(record.events_seen() == seen + 1);
  REQUIRE(record.Consume(replay(1)).ok());  // run_started
  CHECK(record.repeated());
  REQUIRE(record.Consume(events[9].second).ok());  // epoch_end: not a replay
  CHECK_FALSE(record.repeated());

  // A monitor that just connected: the replays are all it knows.
  RunRecord joined;
  REQUIRE(monitor::EventName(Json::parse(events[1].second)) == "run_started");
  REQUIRE(joined.Consume(replay(8)).ok());
  CHECK_FALSE(joined.repeated());
  CHECK(joined.state() == monitor::RunState::kRunning);
  CHECK(joined.progress().steps_applied == 1600);
  REQUIRE(joined.Consume(replay(1)).ok());
  CHECK_FALSE(joined.repeated());
  CHECK(joined.run().has_value());
}

TEST_CASE("an event of another run starts a new record, the same run's repeats refresh it") {
  const testing::Stream events = testing::OperatorsRun();
  RunRecord record = testing::Fold(events);
  REQUIRE(record.finished());
  REQUIRE(record.epochs().size() == 6);
  // The coordinator repeats run_started and status to a new subscriber: nothing is lost.
  REQUIRE(record.Consume(events[1].second).ok());
  CHECK(record.epochs().size() == 6);
  CHECK(record.finished());
  // A restarted coordinator: a new run id.
  Json next = *monitor::ParseEvent(events[0].second);
  next["run_id"] = "1111222233334444";
  REQUIRE(record.ConsumeEvent(next).ok());
  CHECK(record.run_id() == "1111222233334444");
  CHECK(record.epochs().empty());
  CHECK_FALSE(record.finished());
  CHECK_FALSE(record.run().has_value());
  CHECK(record.state() == monitor::RunState::kWaiting);
  CHECK(record.events_seen() == 1);
  CHECK(record.updates_applied_total() == 0);
}

TEST_CASE("a change of rows starts a new segment: no comparison across it") {
  const RunRecord record = testing::Fold(testing::OperatorsRun());
  const auto& e = record.epochs();
  REQUIRE(e.size() == 6);
  const std::vector<int> segments = {0, 0, 0, 1, 1, 2};
  for (size_t i = 0; i < e.size(); ++i) CHECK(e[i].segment == segments[i]);
  CHECK(e[2].newton_alpha == 1);
  CHECK(e[4].rolled_back);
  CHECK(e[4].action == "roll-back");
  // Each segment is measured against its own lowest objective (the last one against the final).
  CHECK(record.ReferenceObjective(0) == 0.40);
  CHECK(record.ReferenceObjective(1) == 0.50);
  CHECK(record.ReferenceObjective(2) == 0.39);
  CHECK(record.Suboptimality(e[0]) == doctest::Approx((0.6931 - 0.40) / 0.40));
  CHECK(record.Suboptimality(e[4]) == doctest::Approx(0.04));
  CHECK(record.Suboptimality(e[5]) == 0);
  // Markers: joined x3, left, the Newton point, baselines at 3 and 5, the roll-back at 4.
  std::vector<std::string> kinds;
  for (const monitor::Marker& m : record.markers()) kinds.push_back(MarkerKindName(m.kind));
  CHECK(kinds == std::vector<std::string>{"agent_joined", "agent_joined", "newton", "agent_left",
                                          "baseline", "rolled_back", "agent_joined", "baseline"});
  CHECK(record.markers()[4].detail == "800 rows from 1 agent");
  // Training started at 0.35 (the first running status: 0.05 s at 0.4).
  CHECK(record.SecondsAt(record.markers()[3].time) == doctest::Approx(0.95));
  CHECK(record.SecondsAt(record.markers()[0].time) == 0);  // before training: at its start
  // The plain lines say so instead of comparing.
  RunRecord replay;
  std::vector<std::string> lines;
  for (const auto& [topic, body] : testing::OperatorsRun()) {
    const Json event = *monitor::ParseEvent(body);
    REQUIRE(replay.ConsumeEvent(event).ok());
    if (auto line = monitor::DescribeEvent(event, replay)) lines.push_back(*line);
  }
  const auto line_of = [&](const std::string& start) {
    for (const std::string& l : lines)
      if (l.rfind(start, 0) == 0) return l;
    return std::string();
  };
  CHECK(line_of("epoch   3").find("new baseline: 800 rows, not compared") != std::string::npos);
  CHECK(line_of("epoch   3").find("(+") == std::string::npos);  // no change from epoch 2
  CHECK(line_of("epoch   3").find("best") == std::string::npos);
  CHECK(line_of("epoch   4").find("(+2.00e-02)") != std::string::npos);
  CHECK(line_of("epoch   4").find("rolled back") != std::string::npos);
  CHECK(line_of("epoch   2").find("Newton point (alpha 1)") != std::string::npos);
  CHECK(line_of("epoch   2").find("rel_gap 1.000e-02") != std::string::npos);
  // The chart: one polyline per segment and series, a dashed mark at each new baseline.
  const std::vector<PanelPoints> panels = Panels(monitor::RenderSvgChart(record));
  REQUIRE(panels.size() == 2);
  for (const PanelPoints& p : panels) {
    CHECK(p.kkt == 6);
    CHECK(p.kkt_lines == 3);
    CHECK(p.subopt == 3);  // each segment's best is 0 there: not on a log axis
    CHECK(p.baselines == 2);
  }
}

TEST_CASE("run totals add every agent session's counts and never decrease") {
  const testing::Stream events = testing::OperatorsRun();
  RunRecord record;
  const auto upto = [&](size_t last) {
    for (size_t i = static_cast<size_t>(record.events_seen()); i <= last; ++i)
      REQUIRE(record.Consume(events[i].second).ok());
  };
  upto(8);
  CHECK(record.updates_applied_total() == 1600);
  CHECK(record.updates_refused_total() == 1);
  upto(14);  // line-1 left (its 800 stay counted); the other agent at 1500
  CHECK(record.updates_applied_total() == 2300);
  upto(testing::kOperatorsAgentsBack);  // line-1 back: a new session at 100
  CHECK(record.updates_applied_total() == 800 + 100 + 1700);
  CHECK(record.updates_refused_total() == 1);
  CHECK(record.refused_by_reason() ==
        std::map<std::string, int64_t>{{"late_update", 3}, {"too_stale", 2}});
  upto(events.size() - 1);  // run_finished's totals
  CHECK(record.updates_applied_total() == 2700);
  CHECK(record.updates_refused_total() == 3);
  CHECK(record.refused_by_reason() ==
        std::map<std::string, int64_t>{{"late_update", 3}, {"malformed", 1}, {"too_stale", 2}});
}

TEST_CASE("a run that stopped before any epoch says so everywhere") {
  const testing::Stream events = testing::RunWithoutEpochs();
  RunRecord record;
  std::vector<std::string> lines;
  for (const auto& [topic, body] : events) {
    const Json event = *monitor::ParseEvent(body);
    REQUIRE(record.ConsumeEvent(event).ok());
    if (auto line = monitor::DescribeEvent(event, record)) lines.push_back(*line);
  }
  REQUIRE(record.finished());
  CHECK_FALSE(record.finish()->evaluated);
  REQUIRE(lines.size() == 3);
  CHECK(lines[2] ==
        "run finished (interrupted) before any epoch was evaluated: no model; 0 agents joined, "
        "3.00 s");
  CHECK(lines[2].find("objective") == std::string::npos);
  CHECK(monitor::StateSummary(record) ==
        "finished (interrupted) before any epoch was evaluated: no model");
  monitor::LiveViewOptions options;
  options.width = 120;
  const std::vector<std::string> view = monitor::RenderLiveView(record, options);
  CHECK(view[1] == "finished (interrupted) before any epoch was evaluated: no model");
  CHECK(view[2] == "objective -");
  std::string text;
  Panels(monitor::RenderSvgChart(record), &text);
  CHECK(text.find("stopped (interrupted) before any epoch was evaluated: no model") !=
        std::string::npos);
  CHECK(text.find("objective 0") == std::string::npos);
  CHECK(Lines(monitor::RenderCsv(record)).size() == 1);
}

TEST_CASE("the live view shows the run id, the state, the ETAs and the agents' table") {
  const testing::Stream events = testing::OperatorsRun();
  RunRecord record;
  for (size_t i = 0; i <= 14; ++i) REQUIRE(record.Consume(events[i].second).ok());
  monitor::LiveViewOptions options;
  options.width = 140;
  options.unicode = false;
  options.endpoint = "tcp://10.0.0.1:5556";
  const std::vector<std::string> view = monitor::RenderLiveView(record, options);
  std::string shown;
  for (const std::string& line : view) shown += line + "\n";
  INFO(shown);
  REQUIRE(view.size() == 7);  // 5 lines, the table's header and one agent
  CHECK(view[0] ==
        "tcp://10.0.0.1:5556 | run 00c0ffee00c0ffee | logistic, l1 0.001, l2 0, d 57 | "
        "tol 1e-06 | INSECURE (no CURVE)");
  CHECK(view[1].find("epoch 2 [") == 0);
  CHECK(view[1].find("1200/3200 steps") != std::string::npos);
  CHECK(view[2].find("objective 0.4 ") == 0);
  CHECK(view[3].find("rel_gap   1.000e-02") == 0);
  CHECK(view[3].find("down 10x") != std::string::npos);
  CHECK(view[3].find("(tol 1e-06)") != std::string::npos);
  CHECK(view[4].find("agents 1 of 2 needed") == 0);
  CHECK(view[4].find("epoch ETA 0.40 s") != std::string::npos);
  CHECK(view[4].find("run ETA 3.5 s") != std::string::npos);
  CHECK(view[5] ==
        "agent                 address   version       role   last    rows  applied  refused  "
        "stale     "
        "rtt  heard  timeouts");
  // The hostile id is escaped: no escape character reaches the terminal.
  CHECK(
      view[6].find("press\\x1b[2J<b>&\"7\\\\  10.0.0.8  0.1.0 x86_64  inner  Update   800     1500"
                   "        0   0.70  4.2 ms  0.1 s         1") == 0);
  for (const std::string& line : view) {
    CHECK(line.find('\x1b') == std::string::npos);
    CHECK(line.size() <= 140);
  }
  // Narrow terminals cut every line; many agents are summarised.
  options.width = 40;
  options.max_agent_rows = 0;
  const std::vector<std::string> narrow = monitor::RenderLiveView(record, options);
  REQUIRE(narrow.size() == 7);
  CHECK(narrow[6] == "... and 1 more agent");
  for (const std::string& line : narrow) CHECK(line.size() <= 40);
  // Waiting, from the first status alone: no "settings not seen".
  RunRecord joined;
  REQUIRE(joined.Consume(events[0].second).ok());
  const std::vector<std::string> waiting = monitor::RenderLiveView(joined, options);
  REQUIRE(waiting.size() == 5);
  CHECK(waiting[0] == "tcp://10.0.0.1:5556 | run 00c0ffee00c0ff");  // (cut to 40 columns)
  CHECK(waiting[1] == "waiting for agents (0 of 2 connected)");
}

TEST_CASE("plain output: a status makes a line only when the state changes") {
  RunRecord record;
  std::vector<std::string> lines;
  for (const auto& [topic, body] : testing::OperatorsRun()) {
    const Json event = *monitor::ParseEvent(body);
    REQUIRE(record.ConsumeEvent(event).ok());
    if (monitor::EventName(event) != "status") continue;
    if (auto line = monitor::DescribeEvent(event, record)) lines.push_back(*line);
  }
  // waiting (first), running, stopping; between them only phases and counts change; after
  // run_finished nothing.
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == "run 00c0ffee00c0ffee: waiting for agents (0 of 2 connected)");
  CHECK(lines[1] == "run 00c0ffee00c0ffee: running epoch 0 (gradient phase), 2 agents");
  CHECK(lines[2] == "run 00c0ffee00c0ffee: stopping (tol): waiting for the agents' goodbyes");
}

// ---- CSV and SVG ------------------------------------------------------------------------------

TEST_CASE("the CSV has one row per epoch with epoch_end's throughput") {
  const std::vector<std::string> rows = Lines(monitor::RenderCsv(Fold(RunWithReference())));
  REQUIRE(rows.size() == 5);
  CHECK(rows[0] ==
        "epoch,seconds,objective,kkt,gap_bound,rel_subopt,nnz,agents,eta,updates_per_second");
  CHECK(rows[1] == "0,0.003,0.6931471805599453,0.011,,0.824,0,2,7.999833312993143,8021.5");
  CHECK(rows[2] == "1,0.41,0.8136,0.0019,,1.141,1788,2,7.999833312993143,13032.8");
  CHECK(rows[4] == "3,0.91,0.37999999999723,6.4e-09,,-7.29e-12,29,1,7.999833312993143,");
  const std::vector<std::string> mid = Lines(monitor::RenderCsv(Fold(MidRunWithoutReference())));
  REQUIRE(mid.size() == 4);
  CHECK(mid[1] == "5,5.3,0.5,0.001,,,40,3,2.5,10000");
  CHECK(Lines(monitor::RenderCsv(RunRecord())).size() == 1);
}

TEST_CASE("the SVG is well-formed XML with two panels and the plottable points") {
  std::string text;
  const std::vector<PanelPoints> panels =
      Panels(monitor::RenderSvgChart(Fold(RunWithReference())), &text);
  REQUIRE(panels.size() == 2);
  CHECK(panels[0].id == "panel-epoch");
  CHECK(panels[1].id == "panel-time");
  for (const PanelPoints& p : panels) {
    INFO(p.id);
    CHECK(p.kkt == 4);
    CHECK(p.subopt == 3);  // the final rel_subopt is negative: not on a log scale
  }
  // title: the run's settings and date; axes; legend
  CHECK(text.find("logistic loss") != std::string::npos);
  CHECK(text.find("l1 = 0.001") != std::string::npos);
  CHECK(text.find("2 agents") != std::string::npos);
  CHECK(text.find("dimension 57") != std::string::npos);
  CHECK(text.find("2024-05-01 10:40:00 UTC") != std::string::npos);
  CHECK(text.find("stopped (kkt)") != std::string::npos);
  CHECK(text.find("epoch") != std::string::npos);
  CHECK(text.find("seconds since training started") != std::string::npos);
  CHECK(text.find("KKT violation") != std::string::npos);
  CHECK(text.find("(P - P*)/|P*|") != std::string::npos);
}

TEST_CASE("the SVG of a mid-run monitor uses the final objective and has no run details") {
  std::string text;
  const std::vector<PanelPoints> panels =
      Panels(monitor::RenderSvgChart(Fold(MidRunWithoutReference())), &text);
  REQUIRE(panels.size() == 2);
  for (const PanelPoints& p : panels) {
    CHECK(p.kkt == 3);
    CHECK(p.subopt == 2);  // the final snapshot is P_final itself: 0 is left out
  }
  CHECK(text.find("settings did not reach this monitor") != std::string::npos);
  CHECK(text.find("P_final") != std::string::npos);
  CHECK(text.find("2024-05-01") != std::string::npos);  // the first event's date
}

TEST_CASE("the SVG of an empty record is still well-formed") {
  std::string text;
  const std::vector<PanelPoints> panels = Panels(monitor::RenderSvgChart(RunRecord()), &text);
  REQUIRE(panels.size() == 2);
  CHECK_FALSE(panels[0].has_kkt);
  CHECK_FALSE(panels[0].has_subopt);
  CHECK(text.find("no epochs") != std::string::npos);
}

TEST_CASE("strings from the stream are escaped in the SVG") {
  RunRecord record;
  REQUIRE(
      record
          .Consume(
              R"({"event":"run_started","time":1714560000,"agents":1,"dimension":3,"loss":"a<b&\"c\"",)"
              R"("l1":0,"l2":0,"intercept":true,"max_epochs":1,"kkt_tolerance":0})")
          .ok());
  REQUIRE(
      record
          .Consume(R"({"event":"run_finished","time":1714560001,"reason":"error: <&>","epoch":0,)"
                   R"("objective":1,"kkt":1,"nnz":0,"seconds":1})")
          .ok());
  std::string text;
  Panels(monitor::RenderSvgChart(record), &text);
  CHECK(text.find("a&lt;b&amp;&quot;c&quot;") != std::string::npos);
}

// ---- terminal text ------------------------------------------------------------------------------

TEST_CASE("strings from the stream are escaped in the plain lines") {
  RunRecord record;
  const auto line = [&](const std::string& json) {
    Result<Json> e = monitor::ParseEvent(json);
    REQUIRE(e.ok());
    REQUIRE(record.ConsumeEvent(*e).ok());
    return monitor::DescribeEvent(*e, record);
  };
  // An agent id that would forge a second line, clear the screen and set the window title.
  const std::optional<std::string> joined = line(
      R"({"event":"agent_joined","time":1,"agent":"x\nagent press-7 left: said goodbye\u001b[2J\u001b]0;owned\u0007",)"
      R"("peer":"10.0.0.1","rows":5,"dimension":3,"software_version":"0.1\r","agents":1})");
  REQUIRE(joined.has_value());
  CHECK(joined->find('\n') == std::string::npos);
  CHECK(joined->find('\x1b') == std::string::npos);
  CHECK(joined->find('\x07') == std::string::npos);
  CHECK(joined->find('\r') == std::string::npos);
  CHECK(joined->find(
            "agent x\\nagent press-7 left: said goodbye\\x1b[2J\\x1b]0;owned\\x07 joined") == 0);
}

TEST_CASE("plain lines for epochs and agent events, none for progress") {
  const auto events = RunWithReference();
  RunRecord record;
  std::vector<std::string> lines;
  for (const auto& [topic, body] : events) {
    Result<Json> value = monitor::ParseEvent(body);
    REQUIRE(value.ok());
    REQUIRE(record.ConsumeEvent(*value).ok());
    if (auto line = monitor::DescribeEvent(*value, record)) lines.push_back(*line);
  }
  // 2 joined + run_started + 4 epochs + left + refused + run_finished; no progress, no epoch_end
  REQUIRE(lines.size() == 10);
  CHECK(lines[0].find("agent line-1 joined from 10.0.0.11") != std::string::npos);
  CHECK(lines[2].find("run started: logistic loss") != std::string::npos);  // (no run id)
  CHECK(lines[3].find("epoch   0") == 0);
  CHECK(lines[4].find("epoch   1") == 0);
  CHECK(lines[4].find("(down 5.79x)") != std::string::npos);  // KKT 0.011 -> 0.0019
  CHECK(lines[5].find("agent line-2 left: silent for 15.0 s; 1 connected") != std::string::npos);
  CHECK(lines[6].find("refused: malformed") != std::string::npos);
  CHECK(lines[8].find("final") != std::string::npos);
  CHECK(lines[9].find("run finished (kkt)") != std::string::npos);
  for (const std::string& line : lines) CHECK(line.find('\n') == std::string::npos);
}

TEST_CASE("the live view shows the progress bar, trends, agents and the update rate") {
  const auto events = RunWithReference();
  RunRecord record;
  for (size_t i = 0; i < 5; ++i)
    REQUIRE(record.Consume(events[i].second).ok());  // ... progress 1600/3200
  monitor::LiveViewOptions options;
  options.width = 100;
  options.unicode = false;
  options.endpoint = "tcp://127.0.0.1:5556";
  const std::vector<std::string> view = monitor::RenderLiveView(record, options);
  REQUIRE(view.size() == 5);
  CHECK(view[0].find("tcp://127.0.0.1:5556") != std::string::npos);
  CHECK(view[1].find("epoch 0 [") == 0);
  CHECK(view[1].find("50%") != std::string::npos);
  CHECK(view[1].find("1600/3200 steps") != std::string::npos);
  CHECK(view[1].find("#####") != std::string::npos);
  CHECK(view[2].find("objective 0.6931471806") == 0);
  CHECK(view[3].find("KKT") == 0);
  CHECK(view[4].find("agents 2") == 0);
  CHECK(view[4].find("8000 updates/s") != std::string::npos);
  for (const std::string& line : view) CHECK(line.size() <= 100);

  options.unicode = true;
  options.width = 30;
  for (const std::string& line : monitor::RenderLiveView(Fold(events), options)) {
    int columns = 0;
    for (unsigned char c : line) columns += (c & 0xC0) != 0x80;
    CHECK(columns <= 30);
  }
  CHECK(monitor::RenderLiveView(RunRecord(), options).size() == 5);
}

TEST_CASE("sparklines scale between the values' extremes") {
  CHECK(monitor::Sparkline({1, 2, 3}, false, false) == "_=#");
  CHECK(monitor::Sparkline({1e-1, 1e-4, 1e-8, -1}, true, false) == "#=_ ");
  CHECK(monitor::Sparkline({}, true, true).empty());
}

// ---- the program ------------------------------------------------------------------------------

std::vector<std::string> MonitorCommand(const std::vector<std::string>& args) {
  std::vector<std::string> cmd = testing::ProgramCommand("monitor/edgetrain-monitor");
  cmd.insert(cmd.end(), args.begin(), args.end());
  return cmd;
}

// Counts the connections a PUB socket accepts.
class AcceptWatch : public zmq::monitor_t {
 public:
  void on_event_accepted(const zmq_event_t&, const char*) override { ++accepted; }
  int accepted = 0;
};

// A PUB socket on an ephemeral port, standing in for the coordinator's log stream.
struct Publisher {
  zmq::context_t context{1};
  zmq::socket_t socket{context, zmq::socket_type::pub};
  AcceptWatch watch;
  std::string endpoint;

  Publisher() {
    socket.set(zmq::sockopt::linger, 0);
    socket.bind("tcp://127.0.0.1:*");
    endpoint = socket.get(zmq::sockopt::last_endpoint);
    watch.init(socket, "inproc://monitor-test-pub-events", ZMQ_EVENT_ACCEPTED);
  }
  // Waits for `count` subscribers' connections, then lets the subscriptions arrive (slow joiner).
  void WaitForSubscriber(int count = 1) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (watch.accepted < count && std::chrono::steady_clock::now() < deadline)
      watch.check_event(50);
    REQUIRE_MESSAGE(watch.accepted >= count, "the monitor did not connect to " << endpoint);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  void Publish(const std::string& topic, const std::string& body) {
    socket.send(zmq::buffer(topic), zmq::send_flags::sndmore);
    socket.send(zmq::buffer(body), zmq::send_flags::none);
  }
};

TEST_CASE("--help documents every option with its default") {
  const testing::CommandResult help = testing::Run(MonitorCommand({"--help"}));
  CHECK(help.exit_code == 0);
  for (const char* option : {"--connect", "--json", "--chart", "--csv", "--timeout", "--http",
                             "--key", "--server-key", "--config", "--print-config", "keygen"}) {
    INFO(option);
    CHECK(help.out.find(option) != std::string::npos);
  }
  CHECK(help.out.find("--connect TEXT=tcp://127.0.0.1:5556") != std::string::npos);
  CHECK(help.out.find("--timeout FLOAT:NUMBER >= 0=0") != std::string::npos);
  CHECK(help.out.find("--key FILE") != std::string::npos);
  CHECK(help.out.find("--http [ADDR:]PORT") != std::string::npos);
  CHECK(testing::Run(MonitorCommand({"--version"})).exit_code == 0);
}

TEST_CASE("bad options give a one-line error and exit code 2") {
  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {"--bogus"}, {"--timeout", "-1"}, {"--timeout", "soon"}, {"--connect", "nowhere"}}) {
    const testing::CommandResult r = testing::Run(MonitorCommand(bad));
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.err.find("error:") != std::string::npos);
  }
}

TEST_CASE(
    "end to end: the monitor follows a PUB stream, passes the JSON through and writes the files") {
  testing::TempDir dir;
  Publisher pub;
  testing::ChildProcess monitor(
      MonitorCommand({"--connect", pub.endpoint, "--json", "--csv", dir.File("run.csv"), "--chart",
                      dir.File("run.svg"), "--timeout", "30"}),
      dir.File("out.txt"), dir.File("err.txt"));
  pub.WaitForSubscriber();
  const auto events = RunWithReference();
  for (const auto& [topic, body] : events) pub.Publish(topic, body);
  const int rc = monitor.Wait(30);
  INFO(testing::ReadText(dir.File("err.txt")));
  REQUIRE(rc == 0);
  // --json: exactly the objects received, one per line
  const std::vector<std::string> out = Lines(testing::ReadText(dir.File("out.txt")));
  REQUIRE(out.size() == events.size());
  for (size_t i = 0; i < out.size(); ++i) CHECK(out[i] == events[i].second);
  CHECK(testing::ReadText(dir.File("run.csv")) == monitor::RenderCsv(Fold(events)));
  const std::vector<PanelPoints> panels = Panels(testing::ReadText(dir.File("run.svg")));
  REQUIRE(panels.size() == 2);
  CHECK(panels[0].kkt == 4);
  CHECK(panels[1].subopt == 3);
}

TEST_CASE("end to end: a replay from the last-value cache is passed through but not shown again") {
  testing::TempDir dir;
  Publisher pub;
  const auto run = [&](std::vector<std::string> args, const std::string& out) {
    args.insert(args.end(), {"--connect", pub.endpoint, "--timeout", "30"});
    return std::make_unique<testing::ChildProcess>(MonitorCommand(args), dir.File(out),
                                                   dir.File(out + ".err"));
  };
  auto plain = run({}, "plain.txt");
  auto json = run({"--json"}, "json.txt");
  pub.WaitForSubscriber(2);
  const testing::Stream events = testing::OperatorsRun();
  size_t sent = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    pub.Publish(events[i].first, events[i].second);
    ++sent;
    if (i != 8) continue;  // after the first inner-phase status: another subscriber connected
    for (size_t replayed : {size_t{8}, size_t{1}}) {
      Json e = Json::parse(events[replayed].second);
      e["replay"] = true;
      pub.Publish(events[replayed].first, e.dump());
      ++sent;
    }
  }
  REQUIRE(plain->Wait(30) == 0);
  REQUIRE(json->Wait(30) == 0);
  const std::string shown = testing::ReadText(dir.File("plain.txt"));
  INFO(shown);
  size_t started = 0;
  for (const std::string& line : Lines(shown)) started += line.find(" started: ") != line.npos;
  CHECK(started == 1);
  // --json passes every object through as it came, replays included.
  CHECK(Lines(testing::ReadText(dir.File("json.txt"))).size() == sent - 1);  // up to run_finished
}

TEST_CASE("end to end: SIGTERM before the run ends writes what the monitor has and exits 0") {
  testing::TempDir dir;
  Publisher pub;
  testing::ChildProcess monitor(
      MonitorCommand({"--connect", pub.endpoint, "--csv", dir.File("run.csv"), "--chart",
                      dir.File("run.svg"), "--timeout", "30"}),
      dir.File("out.txt"), dir.File("err.txt"));
  pub.WaitForSubscriber();
  const auto events = MidRunWithoutReference();
  for (size_t i = 0; i < 5; ++i) pub.Publish("epoch", events[i]);  // up to epoch_begin 6
  // plain output: one line per epoch_begin; wait until both are printed
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (Lines(testing::ReadText(dir.File("out.txt"))).size() < 2 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  monitor.Signal(SIGTERM);
  const int rc = monitor.Wait(20);
  INFO(testing::ReadText(dir.File("err.txt")));
  CHECK(rc == 0);
  const std::vector<std::string> out = Lines(testing::ReadText(dir.File("out.txt")));
  REQUIRE(out.size() == 2);
  CHECK(out[0].find("epoch   5") == 0);
  CHECK(out[1].find("epoch   6") == 0);
  const std::vector<std::string> csv = Lines(testing::ReadText(dir.File("run.csv")));
  REQUIRE(csv.size() == 3);
  CHECK(csv[1] == "5,5.3,0.5,0.001,,,40,3,2.5,10000");
  const std::vector<PanelPoints> panels = Panels(testing::ReadText(dir.File("run.svg")));
  REQUIRE(panels.size() == 2);
  CHECK(panels[0].kkt == 2);
  CHECK(panels[0].subopt == 1);  // against the best objective seen (epoch 6 is the best itself)
}

TEST_CASE("end to end: --timeout exits 1 when nothing arrives") {
  testing::TempDir dir;
  Publisher pub;
  const auto start = std::chrono::steady_clock::now();
  const testing::CommandResult r = testing::Run(MonitorCommand(
      {"--connect", pub.endpoint, "--timeout", "0.5", "--csv", dir.File("run.csv")}));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("--timeout") != std::string::npos);
  CHECK(seconds < 10);
  CHECK(Lines(testing::ReadText(dir.File("run.csv"))).size() == 1);  // the header: nothing seen
}

TEST_CASE(
    "end to end: --log-secure serves the monitors on --log-allow, the others exit 2 saying why") {
  testing::TempDir dir;
  const auto program = [](const std::string& name, std::vector<std::string> args) {
    std::vector<std::string> cmd = testing::ProgramCommand(name);
    cmd.insert(cmd.end(), args.begin(), args.end());
    return cmd;
  };
  const std::string coordinator_bin = "coordinator/edgetrain-coordinator";
  const std::string agent_bin = "edge_agent/edgetrain-agent";
  for (const auto& [bin, prefix] : std::vector<std::pair<std::string, std::string>>{
           {coordinator_bin, "coordinator"},
           {agent_bin, "agent"},
           {"monitor/edgetrain-monitor", "operator"},
           {"monitor/edgetrain-monitor", "stranger"}}) {
    const testing::CommandResult r =
        testing::Run(program(bin, {"keygen", "--out", dir.File(prefix)}));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  }
  testing::WriteText(dir.File("agents.allow"), testing::ReadText(dir.File("agent.pub")));
  // The subscribers' list holds the operator's key only (the agent's key is no subscriber's).
  testing::WriteText(dir.File("subscribers.allow"), testing::ReadText(dir.File("operator.pub")));
  testing::ChildProcess coordinator(program(coordinator_bin, {"--key",
                                                              dir.File("coordinator.key"),
                                                              "--allow",
                                                              dir.File("agents.allow"),
                                                              "--log-secure",
                                                              "--log-allow",
                                                              dir.File("subscribers.allow"),
                                                              "--bind",
                                                              "tcp://127.0.0.1:0",
                                                              "--log-bind",
                                                              "tcp://127.0.0.1:0",
                                                              "--endpoints-file",
                                                              dir.File("endpoints"),
                                                              "--min-agents",
                                                              "1",
                                                              "--l1",
                                                              "0.01",
                                                              "--max-epochs",
                                                              "3",
                                                              "--quiet"}),
                                    dir.File("coordinator.out"));
  REQUIRE_MESSAGE(testing::WaitForFile(dir.File("endpoints"), 20),
                  testing::ReadText(dir.File("coordinator.out")));
  std::map<std::string, std::string> endpoints = testing::ReadEndpoints(dir.File("endpoints"));
  const std::string log = endpoints["log"];

  testing::ChildProcess operator_monitor(
      MonitorCommand({"--connect", log, "--key", dir.File("operator.key"), "--server-key",
                      dir.File("coordinator.pub"), "--json", "--timeout", "60"}),
      dir.File("operator.out"), dir.File("operator.err"));
  // Three monitors that can never be let in: each exits 2 with the reason, by itself.
  const std::vector<std::pair<std::vector<std::string>, std::string>> refused = {
      {{"--key", dir.File("stranger.key"), "--server-key", dir.File("coordinator.pub")},
       "the coordinator refused this monitor's key (ZAP status 400): is its public key on the "
       "coordinator's --log-allow list?"},
      // (as a mechanism mismatch or as closes, depending on timing)
      {{}, ""},
      {{"--key", dir.File("operator.key"), "--server-key", dir.File("agent.pub")},
       "the coordinator closed the connection during the handshake "}};
  const std::vector<std::string> why = {
      "", "the log stream requires CURVE keys (the coordinator runs with --log-secure)",
      "--server-key is not the coordinator's public key"};
  for (size_t k = 0; k < refused.size(); ++k) {
    const auto& [keys, reason] = refused[k];
    std::vector<std::string> args = {"--connect", log, "--json", "--timeout", "60"};
    args.insert(args.end(), keys.begin(), keys.end());
    testing::ChildProcess monitor(MonitorCommand(args), dir.File("refused.out"),
                                  dir.File("refused.err"));
    CHECK(monitor.Wait(30) == 2);
    const std::string err = testing::ReadText(dir.File("refused.err"));
    INFO(err);
    CHECK(err.find("edgetrain-monitor: error: no events from " + log + ": " + reason) !=
          std::string::npos);
    CHECK(err.find(why[k]) != std::string::npos);
    CHECK(std::count(err.begin(), err.end(), '\n') == 1);
    CHECK(testing::ReadText(dir.File("refused.out")).empty());
  }

  testing::ChildProcess agent(
      program(agent_bin,
              {"run", "--key", dir.File("agent.key"), "--server-key", dir.File("coordinator.pub"),
               "--coordinator", endpoints["agents"], "--data",
               testing::SourcePath("data/heart_scale.svm"), "--agent-id", "line-1", "--quiet"}),
      dir.File("agent.out"));
  REQUIRE_MESSAGE(coordinator.Wait(60) == 0, testing::ReadText(dir.File("coordinator.out")));
  CHECK(agent.Wait(20) == 0);
  REQUIRE_MESSAGE(operator_monitor.Wait(20) == 0, testing::ReadText(dir.File("operator.err")));
  const std::string seen = testing::ReadText(dir.File("operator.out"));
  CHECK(seen.find("\"event\":\"run_finished\"") != std::string::npos);
  CHECK(seen.find("\"secure_log\":true") != std::string::npos);
}

}  // namespace
}  // namespace edgetrain
