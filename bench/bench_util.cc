#include "bench_util.h"

#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace edgetrain::bench {

double ThreadCpuSeconds(pthread_t thread) {
  clockid_t id;
  if (pthread_getcpuclockid(thread, &id) != 0) return 0;
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double NamedThreadsCpuSeconds(const std::string& prefix) {
  double total = 0;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return 0;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const std::string base = std::string("/proc/self/task/") + e->d_name;
    std::ifstream comm(base + "/comm");
    std::string name;
    std::getline(comm, name);
    if (name.rfind(prefix, 0) != 0) continue;
    std::ifstream stat(base + "/stat");
    std::string line;
    std::getline(stat, line);
    const size_t close =
        line.rfind(')');  // fields after "(comm)": state is field 3, utime 14, stime 15
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int k = 3; k <= 15 && rest >> field; ++k) {
      if (k == 14) utime = std::stod(field);
      if (k == 15) stime = std::stod(field);
    }
    total += (utime + stime) / tick;
  }
  closedir(dir);
  return total;
}

std::string MachineDescription() {
  std::ifstream cpu("/proc/cpuinfo");
  std::string line, model = "unknown CPU";
  while (std::getline(cpu, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  return model + ", " + std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + " cores";
}

std::string LoadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

std::string UtcNow() {
  const time_t t = time(nullptr);
  tm utc{};
  gmtime_r(&t, &utc);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &utc);
  return buf;
}

int64_t FindUnique(std::string_view buf, uint64_t pattern) {
  int64_t at = -1;
  for (size_t k = 0; k + 8 <= buf.size(); ++k) {
    if (std::memcmp(buf.data() + k, &pattern, 8) == 0) {
      if (at >= 0) return -1;
      at = static_cast<int64_t>(k);
    }
  }
  return at;
}

bool Flags::Next(std::string* name) {
  if (++at_ >= argc_) return false;
  *name = argv_[at_];
  command_ += " " + *name;
  return true;
}

std::string Flags::Value() {
  if (at_ + 1 >= argc_) {
    std::fprintf(stderr, "%s needs a value\n", argv_[at_]);
    std::exit(2);
  }
  command_ += std::string(" ") + argv_[++at_];
  return argv_[at_];
}

std::vector<double> ParseDoubles(const std::string& list) {
  std::vector<double> v;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) v.push_back(std::stod(item));
  return v;
}

std::vector<int64_t> ParseInts(const std::string& list) {
  std::vector<int64_t> v;
  for (double x : ParseDoubles(list)) v.push_back(static_cast<int64_t>(x));
  return v;
}

std::string Thousands(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0f", v);
  std::string s = buf, out;
  const size_t start = (s[0] == '-') ? 1 : 0;
  for (size_t k = 0; k < s.size(); ++k) {
    if (k > start && (s.size() - k) % 3 == 0) out += ' ';
    out += s[k];
  }
  return out;
}

std::string Bytes(double b) {
  char buf[64];
  if (b >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2f MB", b / 1e6);
  } else if (b >= 1e4) {
    std::snprintf(buf, sizeof buf, "%.1f kB", b / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f B", b);
  }
  return buf;
}

void WriteBarChartSvg(const std::string& path, const std::string& title, const std::string& unit,
                      const std::vector<std::string>& series, const std::vector<BarGroup>& groups) {
  static const char* kColors[] = {"#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377"};
  double lo = 1e300, hi = 0;
  for (const BarGroup& g : groups) {
    for (double v : g.values) {
      if (v > 0) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    }
  }
  if (hi <= 0) return;
  const double log_lo = std::floor(std::log10(lo)), log_hi = std::ceil(std::log10(hi));
  const int left = 190, width = 520, bar = 12, gap = 10;
  const int top = 40;
  const int group_h = static_cast<int>(series.size()) * bar + gap;
  const int height =
      top + static_cast<int>(groups.size()) * group_h + 40 + 18 * static_cast<int>(series.size());
  auto xpos = [&](double v) {
    return left + width * (std::log10(std::max(v, std::pow(10.0, log_lo))) - log_lo) /
                      std::max(1.0, log_hi - log_lo);
  };
  std::ofstream f(path);
  f << "<svg xmlns='http://www.w3.org/2000/svg' width='" << left + width + 30 << "' height='"
    << height << "' font-family='sans-serif' font-size='11'>\n";
  f << "<text x='10' y='18' font-size='13' font-weight='bold'>" << title << "</text>\n";
  for (double e = log_lo; e <= log_hi; e += 1) {
    const double x = xpos(std::pow(10.0, e));
    f << "<line x1='" << x << "' y1='" << top - 5 << "' x2='" << x << "' y2='"
      << top + static_cast<int>(groups.size()) * group_h << "' stroke='#ddd'/>\n";
    f << "<text x='" << x << "' y='" << top - 8 << "' text-anchor='middle'>1e"
      << static_cast<int>(e) << "</text>\n";
  }
  int y = top;
  for (const BarGroup& g : groups) {
    f << "<text x='" << left - 6 << "' y='" << y + group_h / 2 << "' text-anchor='end'>" << g.label
      << "</text>\n";
    for (size_t s = 0; s < g.values.size(); ++s) {
      const double v = g.values[s];
      f << "<rect x='" << left << "' y='" << y + static_cast<int>(s) * bar << "' width='"
        << std::max(1.0, xpos(v) - left) << "' height='" << bar - 2 << "' fill='" << kColors[s % 6]
        << "'/>\n";
    }
    y += group_h;
  }
  f << "<text x='" << left + width / 2 << "' y='" << y + 14 << "' text-anchor='middle'>" << unit
    << " (log scale)</text>\n";
  y += 30;
  for (size_t s = 0; s < series.size(); ++s) {
    f << "<rect x='" << left << "' y='" << y - 9 << "' width='10' height='10' fill='"
      << kColors[s % 6] << "'/>";
    f << "<text x='" << left + 16 << "' y='" << y << "'>" << series[s] << "</text>\n";
    y += 18;
  }
  f << "</svg>\n";
}

void BeginEndlessInnerPhase(CoordinatorState* state, const std::vector<double>& g) {
  state->BeginEpoch();
  state->AddGradSum(VectorView::Dense(g.data(), static_cast<int64_t>(g.size())), 0, 1);
  state->FinishGradientPhase();
  state->BeginInnerPhase(int64_t{1} << 50);
}

}  // namespace edgetrain::bench
