// dap_vs_tap: coordinator CPU per update with an expensive regulariser (group lasso, many
// groups), in DAP-SVRG (the agent does the prox and sends Delta; the coordinator only adds) and in
// TAP, the classic asynchronous proximal parameter server (the agent sends its variance-reduced
// gradient; the coordinator does x = prox_{eta h}(x - eta v) itself).
//
// This is a bench-only coordinator loop, not the production coordinator (which has no TAP mode):
// it reuses the runtime and the real transport -- RouterChannel/ZeroMQ over tcp://127.0.0.1,
// wire::Decoder (every check), CoordinatorState::ApplyUpdate for DAP, GroupLasso::Prox for TAP --
// and answers every update with a Heartbeat (epoch, version) in both modes, so the difference is
// the arithmetic alone (what each agent needs back, the changed model, is the same order in both:
// the coordinates that moved). TAP is given its best case on the wire: the server holds mu~, so the
// agent sends only the sparse stochastic part grad f_I(x) - grad f_I(x~) of v (1 % of d), and the
// server forms x - eta (v_I + mu~) and applies the prox: O(d) per update whatever v's sparsity.
// DAP's Delta is dense within the groups the prox leaves active (10 % of them by default).
//
// Output: a markdown fragment (--out, bench/out/55-dap-vs-tap.md).
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "bench_util.h"
#include "edgetrain/coordinator_state.h"
#include "edgetrain/group_lasso.h"
#include "edgetrain/transport/channel.h"
#include "edgetrain/wire.h"

namespace edgetrain::bench {
namespace {

enum class Mode { kDap, kTap };
constexpr int kServerThreadPrefix = 6;  // the server context's I/O threads: "6/ZMQbg/..."

struct Options {
  std::vector<int64_t> dims = {100000, 1000000};
  int32_t group_size = 10;
  std::vector<double> active_groups = {
      0.1, 0.01};                  // DAP: fractions of groups the agent's prox leaves non-zero
  double active = 0.1;             // of the case being run
  double gradient_density = 0.01;  // TAP: non-zeros of the stochastic part of v
  int agents = 2;
  double seconds = 2.0;
  std::string out;
  std::string command;
};

struct Result1 {
  Mode mode = Mode::kDap;
  int64_t d = 0;
  double active = 0;  // DAP: fraction of active groups
  int64_t message_bytes = 0;
  int64_t nnz = 0;
  double rate = 0;     // updates/s
  double cpu_us = 0;   // server thread CPU per update
  double io_us = 0;    // its I/O threads' CPU per update
  double work_us = 0;  // the arithmetic alone, in-process: ApplyUpdate or the prox step
};

// The server: receive, decode, apply (DAP) or prox step (TAP), answer.
class Server {
 public:
  Server(Mode mode, int64_t d, const Options& o, zmq::context_t* context)
      : mode_(mode),
        d_(d),
        router_(context, transport::ChannelOptions{}),
        h_{1e-3, o.group_size},
        state_(ProblemSpec{}, static_cast<int32_t>(d)),
        mu_(d),
        x_(d, 0.0) {
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<double> u(-1e-3, 1e-3);
    for (double& m : mu_) m = u(rng);
    decoder_.set_model_size(d);
    BeginEndlessInnerPhase(&state_, mu_);
  }
  std::string Bind() { return *router_.Bind("tcp://127.0.0.1:0"); }

  // One update's arithmetic (also timed in-process on its own).
  void Apply(const VectorView& v) {
    if (mode_ == Mode::kDap) {
      state_.ApplyUpdate(v, VectorView{}, state_.epoch(), state_.version(), 0);
      return;
    }
    // TAP: x <- prox_{eta h}(x - eta (v_I + mu~)).
    for (int64_t k = 0; k < v.count; ++k) x_[v.index[k]] -= kEta * v.value[k];
    for (int64_t j = 0; j < d_; ++j) x_[j] -= kEta * mu_[j];
    h_.Prox(x_.data(), d_, kEta, x_.data());
    ++version_;
  }

  void Run(const std::atomic<bool>* stop) {
    thread_ = pthread_self();
    started_ = true;
    transport::Inbound in;
    while (!stop->load()) {
      if (!router_.Receive(50, &in)) continue;
      Result<wire::Message> m = decoder_.Decode(in.payload.data(), in.payload.size());
      if (!m.ok()) continue;
      const auto* u = std::get_if<wire::UpdateMsg>(&m->body);
      if (u == nullptr) continue;
      Apply(u->delta);
      const int64_t version = mode_ == Mode::kDap ? state_.version() : version_;
      router_.Send(in.identity, encoder_.Encode(m->header, wire::HeartbeatMsg{1, version}));
    }
  }
  pthread_t thread() const { return thread_; }
  bool started() const { return started_; }

 private:
  static constexpr double kEta = 0.5;
  Mode mode_;
  int64_t d_;
  transport::RouterChannel router_;
  GroupLasso h_;
  CoordinatorState state_;
  std::vector<double> mu_, x_;
  int64_t version_ = 0;
  wire::Decoder decoder_;
  wire::Encoder encoder_;
  pthread_t thread_{};
  std::atomic<bool> started_{false};
};

// The message each mode's agent sends: DAP Delta over the active groups, TAP the sparse part of v.
SparseVector MakeVector(Mode mode, int64_t d, const Options& o, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1e-4, 1e-4);
  SparseVector v(d);
  if (mode == Mode::kDap) {
    const int64_t groups = (d + o.group_size - 1) / o.group_size;
    const int64_t stride = std::max<int64_t>(1, static_cast<int64_t>(1.0 / o.active + 0.5));
    for (int64_t g = 0; g < groups; g += stride) {
      for (int64_t j = g * o.group_size; j < std::min<int64_t>(d, (g + 1) * o.group_size); ++j) {
        v.Push(static_cast<int32_t>(j), u(rng));
      }
    }
    return v;
  }
  const int64_t nnz =
      std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(d) * o.gradient_density));
  std::vector<int32_t> idx;
  std::uniform_int_distribution<int64_t> pick(0, d - 1);
  std::vector<char> seen(d, 0);
  while (static_cast<int64_t>(idx.size()) < nnz) {
    const int64_t j = pick(rng);
    if (!seen[j]) {
      seen[j] = 1;
      idx.push_back(static_cast<int32_t>(j));
    }
  }
  std::sort(idx.begin(), idx.end());
  for (int32_t j : idx) v.Push(j, u(rng));
  return v;
}

Result1 RunCase(Mode mode, int64_t d, const Options& o) {
  Result1 r;
  r.mode = mode;
  r.d = d;
  r.active = o.active;
  ModelUpdate update;
  update.Reset(d);
  update.delta = MakeVector(mode, d, o, 9);
  r.nnz = update.delta.nnz();
  wire::Encoder enc;
  const std::string message(enc.Encode(
      {"load", 1, 1}, wire::UpdateMsg{1, 0, update.delta.View(), update.guarded.View()}));
  r.message_bytes = static_cast<int64_t>(message.size());

  zmq::context_t server_context;
  zmq_ctx_set(server_context.handle(), ZMQ_THREAD_NAME_PREFIX, kServerThreadPrefix);
  Server server(mode, d, o, &server_context);
  // The arithmetic alone, in the same run.
  r.work_us = 1e6 * TimePerCall([&] { server.Apply(update.delta.View()); }, 0.3);
  const std::string endpoint = server.Bind();
  std::atomic<bool> stop{false};
  std::thread th([&] { server.Run(&stop); });
  while (!server.started()) std::this_thread::yield();

  zmq::context_t load_context;
  std::vector<zmq::socket_t> sockets;
  std::vector<std::string> buffers(o.agents,
                                   message);  // one per agent: each sent zero-copy, one in flight
  for (int k = 0; k < o.agents; ++k) {
    sockets.emplace_back(load_context, zmq::socket_type::dealer);
    sockets.back().set(zmq::sockopt::linger, 0);
    sockets.back().connect(endpoint);
  }
  std::vector<zmq::pollitem_t> items;
  for (auto& s : sockets) items.push_back({s.handle(), 0, ZMQ_POLLIN, 0});
  auto send = [&](int k) {
    zmq::message_t m(buffers[k].data(), buffers[k].size(), NoFree, nullptr);
    sockets[k].send(m, zmq::send_flags::none);
  };
  for (int k = 0; k < o.agents; ++k) send(k);
  const double warmup = 0.3;
  const auto start = std::chrono::steady_clock::now();
  auto seconds_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  bool measuring = false;
  int64_t answers = 0;
  double cpu0 = 0, io0 = 0;
  std::chrono::steady_clock::time_point t0;
  zmq::message_t reply;
  const std::string io_prefix = std::to_string(kServerThreadPrefix) + "/";
  for (;;) {
    zmq::poll(items.data(), items.size(), std::chrono::milliseconds(100));
    for (int k = 0; k < o.agents; ++k) {
      if (!(items[k].revents & ZMQ_POLLIN)) continue;
      while (sockets[k].recv(reply, zmq::recv_flags::dontwait)) {
        answers += measuring;
        send(k);
      }
    }
    if (!measuring && seconds_since(start) >= warmup) {
      measuring = true;
      t0 = std::chrono::steady_clock::now();
      cpu0 = ThreadCpuSeconds(server.thread());
      io0 = NamedThreadsCpuSeconds(io_prefix);
    } else if (measuring && seconds_since(t0) >= o.seconds) {
      const double wall = seconds_since(t0);
      const double cpu = ThreadCpuSeconds(server.thread()) - cpu0;
      const double io = NamedThreadsCpuSeconds(io_prefix) - io0;
      r.rate = static_cast<double>(answers) / wall;
      r.cpu_us = answers > 0 ? 1e6 * cpu / static_cast<double>(answers) : 0;
      r.io_us = answers > 0 ? 1e6 * io / static_cast<double>(answers) : 0;
      break;
    }
  }
  stop = true;
  th.join();
  return r;
}

int Main(int argc, char** argv) {
  Options o;
  Flags flags(argc, argv, "dap_vs_tap");
  std::string a;
  while (flags.Next(&a)) {
    auto next = [&] { return flags.Value(); };
    if (a == "--dims") {
      o.dims = ParseInts(next());
    } else if (a == "--group-size") {
      o.group_size = std::stoi(next());
    } else if (a == "--active-groups") {
      o.active_groups = ParseDoubles(next());
    } else if (a == "--agents") {
      o.agents = std::stoi(next());
    } else if (a == "--seconds") {
      o.seconds = std::stod(next());
    } else if (a == "--out") {
      o.out = next();
    } else {
      std::fprintf(stderr,
                   "usage: dap_vs_tap [--dims 100000,1000000] [--group-size G] [--active-groups F] "
                   "[--agents K]\n"
                   "       [--seconds S] [--out FRAGMENT.md]   (--active-groups takes a list, e.g. "
                   "0.1,0.01)\n");
      return 2;
    }
  }
  o.command = flags.command();
  const std::string load_before = LoadAverage();
  std::vector<std::pair<Result1, Result1>> rows;
  for (int64_t d : o.dims) {
    Result1 tap = RunCase(Mode::kTap, d, o);
    for (double active : o.active_groups) {
      o.active = active;
      Result1 dap = RunCase(Mode::kDap, d, o);
      for (const Result1* r : {&dap, &tap}) {
        std::printf("d=%-8" PRId64 " %s  message %s (%" PRId64
                    " entries)  %s upd/s  server thread CPU %.1f us/update "
                    "(I/O threads %.1f us), arithmetic alone %.1f us\n",
                    d, r->mode == Mode::kDap ? "DAP" : "TAP",
                    Bytes(static_cast<double>(r->message_bytes)).c_str(), r->nnz,
                    Thousands(r->rate).c_str(), r->cpu_us, r->io_us, r->work_us);
      }
      std::fflush(stdout);
      rows.emplace_back(dap, tap);
    }
  }
  const std::string load_after = LoadAverage();
  std::ostringstream md;
  char buf[2000];
  md << "## DAP vs. TAP: coordinator CPU per update with group lasso\n\n";
  std::snprintf(
      buf, sizeof buf,
      "Group lasso with groups of %d (d/%d groups), %d agents each keeping one update in flight "
      "over "
      "ZeroMQ tcp on loopback. **DAP**: the agent does the prox and sends Delta (dense within the "
      "groups "
      "the prox leaves active, the fraction in the table); the coordinator only adds "
      "(`CoordinatorState::ApplyUpdate`): its cost follows nnz(Delta). **TAP**: the classic "
      "asynchronous proximal parameter server; the agent sends the sparse part of its "
      "variance-reduced gradient (%.0f %% of d; the server holds mu~, TAP's best case on the wire) "
      "and "
      "the coordinator computes x = prox_{eta h}(x - eta v), O(d) per update. A bench-only "
      "coordinator "
      "loop (`bench/dap_vs_tap.cc`; the production coordinator has no TAP mode) with the real "
      "transport "
      "and decoder, answering every update with a Heartbeat in both modes.\n\n",
      o.group_size, o.group_size, o.agents, o.gradient_density * 100);
  md << buf;
  md << "| d | groups | mode | message | updates/s | coordinator thread CPU / update | its I/O "
        "thread CPU / update | "
        "arithmetic alone (in-process) | TAP / DAP coordinator CPU "
        "|\n|---:|---:|---|---:|---:|---:|---:|---:|---:|\n";
  for (size_t k = 0; k < rows.size(); ++k) {
    const auto& [dap, tap] = rows[k];
    const bool last_of_d = k + 1 == rows.size() || rows[k + 1].first.d != dap.d;
    std::vector<const Result1*> show = {&dap};
    if (last_of_d) show.push_back(&tap);
    for (const Result1* r : show) {
      std::string mode = "TAP (coordinator does the prox)";
      std::string ratio;
      if (r->mode == Mode::kDap) {
        std::snprintf(buf, sizeof buf, "DAP (agent does the prox), %g %% of groups active",
                      r->active * 100);
        mode = buf;
        std::snprintf(buf, sizeof buf, "%.0fx", tap.cpu_us / std::max(1e-9, dap.cpu_us));
        ratio = buf;
      }
      std::snprintf(
          buf, sizeof buf, "| %s | %s | %s | %s | %s | %.1f µs | %.1f µs | %.1f µs | %s |\n",
          Thousands(static_cast<double>(r->d)).c_str(),
          Thousands(static_cast<double>((r->d + o.group_size - 1) / o.group_size)).c_str(),
          mode.c_str(), Bytes(static_cast<double>(r->message_bytes)).c_str(),
          Thousands(r->rate).c_str(), r->cpu_us, r->io_us, r->work_us, ratio.c_str());
      md << buf;
    }
  }
  md << "\nMachine: " << MachineDescription() << "; " << UtcNow() << "; load average before "
     << load_before << ", after " << load_after << ".\n\n";
  md << "Reproduce: `scripts/bench throughput` or `bench/throughput.sh` (runs `build/release/bench/"
     << o.command << "`).\n";
  std::printf("\n%s", md.str().c_str());
  if (!o.out.empty()) {
    std::ofstream f(o.out);
    f << md.str();
  }
  return 0;
}

}  // namespace
}  // namespace edgetrain::bench

int main(int argc, char** argv) { return edgetrain::bench::Main(argc, argv); }
