// JsonEventSink: renders run events as the log stream's JSON objects (docs/log-stream.md), one
// object per event: {"event": name, "time": unix seconds, "run_id": id, "round": the training
// round (when a round source is set), ...fields}, numbers that
// are not finite as null, every string valid UTF-8. The lines go to a LineWriter (the loop's PUB
// socket and --log-json file; a vector in tests).
//
// Thread-safety: one thread. Ownership: borrows the clock and the writer.
#ifndef EDGETRAIN_COORDINATOR_JSON_SINK_H_
#define EDGETRAIN_COORDINATOR_JSON_SINK_H_

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "edgetrain/clock.h"
#include "events.h"

namespace edgetrain::coordinator {

class LineWriter {
 public:
  virtual ~LineWriter() = default;
  virtual void Write(std::string_view topic, std::string_view line) = 0;
};

// The fields of an event (without "event", "time" and "run_id").
nlohmann::ordered_json EventFields(const Event& e);

class JsonEventSink : public EventSink {
 public:
  JsonEventSink(const Clock* clock, std::string run_id, LineWriter* out)
      : clock_(clock), run_id_(std::move(run_id)), out_(out) {}
  void Emit(const Event& e) override;
  // The line Emit would write for e (also what the log stream's last-value cache keeps).
  std::string Render(const Event& e) const;
  const std::string& run_id() const { return run_id_; }
  // Every line carries the round this returns (the driver's current round).
  void set_round_source(std::function<int64_t()> round) { round_ = std::move(round); }

 private:
  std::function<int64_t()> round_;
  const Clock* clock_;
  std::string run_id_;
  LineWriter* out_;
};

}  // namespace edgetrain::coordinator

#endif  // EDGETRAIN_COORDINATOR_JSON_SINK_H_
