#include "round_scheduler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace edgetrain::coordinator {

void RoundScheduler::Restore(int64_t round, double ended_at, std::map<std::string, int64_t> rows,
                             int64_t numbered) {
  round_ = std::max(round, numbered);
  restored_ = round > 0;
  ended_ = restored_;
  ended_at_ = ended_at;
  rows_ = std::move(rows);
}

int64_t RoundScheduler::Begin(int64_t round) {
  ++begun_;
  requested_ = false;
  round_ = round > 0 ? round : round_ + 1;
  return round_;
}

void RoundScheduler::Ended(double now, std::map<std::string, int64_t> rows) {
  ended_ = true;
  ended_at_ = now;
  rows_ = std::move(rows);
  requested_ = false;
}

int64_t RoundScheduler::NewRows(const std::map<std::string, int64_t>& rows_now) const {
  int64_t sum = 0;
  for (const auto& [id, rows] : rows_now) {
    auto it = rows_.find(id);
    sum += std::max<int64_t>(0, rows - (it == rows_.end() ? 0 : it->second));
  }
  return sum;
}

double RoundScheduler::NextDeadline() const {
  if (!ended_ || options_.every <= 0) return std::numeric_limits<double>::infinity();
  return ended_at_ + options_.every;
}

std::string RoundScheduler::Due(double now, int64_t new_rows) const {
  if (!More()) return "";
  if (requested_) return "request";
  if (options_.new_rows > 0 && new_rows >= options_.new_rows) return "new rows";
  if (now >= NextDeadline()) return "schedule";
  return "";
}

std::string RoundScheduler::Describe(double now, int64_t new_rows) const {
  if (!More()) return "no more rounds (--rounds " + std::to_string(options_.rounds) + ")";
  std::string out = "next round";
  if (options_.every > 0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, " in %.0f s", std::max(0.0, std::ceil(NextDeadline() - now)));
    out += buf;
  }
  if (options_.new_rows > 0) {
    out += (options_.every > 0 ? ", " : " ") + std::string("after ") +
           std::to_string(options_.new_rows) + " new rows (" + std::to_string(new_rows) +
           " so far)";
  }
  return out + (options_.every > 0 || options_.new_rows > 0 ? " or" : "") +
         " on request (edgetrain-coordinator trigger)";
}

}  // namespace edgetrain::coordinator
