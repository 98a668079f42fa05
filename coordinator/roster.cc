#include "roster.h"

#include <algorithm>

#include "edgetrain/dataset.h"

namespace edgetrain::coordinator {

std::string Roster::CredentialOf(const Peer& peer) const {
  if (!options_.insecure) return "key:" + std::string(peer.key);
  // Without keys a device is known by its address; a connection without one (ipc) by the
  // transport alone.
  return peer.address.empty() ? "local" : "address:" + std::string(peer.address);
}

std::string Roster::InUseText(std::string_view agent_id, const Binding& b, const Peer& peer) const {
  const std::string holder = options_.insecure
                                 ? "the device at " + b.address
                                 : "key " + b.credential.substr(4) +
                                       (b.address.empty() ? "" : " (from " + b.address + ")");
  const std::string newcomer = options_.insecure
                                   ? "this device (" + std::string(peer.address) + ")"
                                   : "this device (key " + std::string(peer.key) + ")";
  return "agent id '" + std::string(agent_id) + "' belongs to " + holder + " in this run; " +
         newcomer + " needs its own --agent-id";
}

void Roster::Bind(std::string_view agent_id, const std::string& credential,
                  std::string_view address) {
  auto it = bindings_.find(agent_id);
  if (it != bindings_.end()) {
    lru_.erase(it->second.lru);
    lru_.push_front(std::string(agent_id));
    it->second.lru = lru_.begin();
    it->second.address = std::string(address);
    return;
  }
  // Full: forget the least recently used id that no connection holds.
  if (bindings_.size() >= kMaxBindings) {
    for (auto old = lru_.end(); old != lru_.begin();) {
      --old;
      if (connection_of_.count(*old) == 0) {
        bindings_.erase(*old);
        lru_.erase(old);
        break;
      }
    }
  }
  lru_.push_front(std::string(agent_id));
  bindings_.emplace(std::string(agent_id), Binding{credential, std::string(address), lru_.begin()});
}

Roster::Admission Roster::Admit(const Peer& peer, std::string_view agent_id, double now) {
  Admission a;
  const std::string credential = CredentialOf(peer);
  if (auto b = bindings_.find(agent_id);
      b != bindings_.end() && b->second.credential != credential) {
    a.reason = wire::RejectReason::kDuplicate;
    a.text = InUseText(agent_id, b->second, peer);
    return a;
  }
  Agent* current = Find(peer.identity);
  if (current != nullptr && current->agent_id != agent_id) {
    a.reason = wire::RejectReason::kDuplicate;
    a.text = "this connection already speaks for agent '" + current->agent_id + "'";
    return a;
  }
  if (current != nullptr && !current->welcomed()) {  // a repeated Hello while waiting
    current->last_heard = now;
    a.kind = Admission::Kind::kRetry;
    a.agent = current;
    return a;
  }
  // Welcomed, and nothing since on this connection (session messages start at seq 2): the
  // agent's Hello retry crossed our Welcome. Not a restart: a restarted agent has a new connection.
  if (current != nullptr && current->seq_in <= 1 && !current->round_pending) {
    current->last_heard = now;
    a.kind = Admission::Kind::kRewelcome;
    a.agent = current;
    return a;
  }
  // The same id from the same credential on another connection (or a second Hello after its
  // Welcome): a restarted agent; its earlier session ends.
  if (auto c = connection_of_.find(agent_id); c != connection_of_.end()) {
    a.replaced = Remove(c->second);
  }
  if (static_cast<int>(agents_.size()) >= options_.max_agents) {
    a.reason = wire::RejectReason::kNotWelcome;
    a.text = "the coordinator holds its maximum of " + std::to_string(options_.max_agents) +
             " agents (--max-agents); try again later";
    return a;
  }
  Bind(agent_id, credential, peer.address);
  auto agent = std::make_unique<Agent>();
  agent->identity = std::string(peer.identity);
  agent->agent_id = std::string(agent_id);
  agent->address = std::string(peer.address);
  agent->key = std::string(peer.key);
  agent->last_heard = now;
  a.kind = Admission::Kind::kNew;
  a.agent = agent.get();
  connection_of_[agent->agent_id] = agent->identity;
  agents_[agent->identity] = std::move(agent);
  return a;
}

Roster::Check Roster::Authenticate(std::string_view identity, const wire::Header& header,
                                   double now) {
  Check c;
  c.agent = Find(identity);
  if (c.agent == nullptr) return c;
  Agent& a = *c.agent;
  if (header.agent_id != a.agent_id || header.session != a.session || !a.welcomed()) {
    c.kind = Check::Kind::kWrongSession;
    return c;
  }
  a.last_heard = now;
  ++a.health.messages;
  if (header.seq <= a.seq_in) {
    c.kind = Check::Kind::kRepeat;
    return c;
  }
  a.seq_in = header.seq;
  c.kind = Check::Kind::kOk;
  return c;
}

Agent* Roster::Find(std::string_view identity) {
  auto it = agents_.find(identity);
  return it == agents_.end() ? nullptr : it->second.get();
}

std::optional<Agent> Roster::Remove(std::string_view identity) {
  auto it = agents_.find(identity);
  if (it == agents_.end()) return std::nullopt;
  Agent removed = std::move(*it->second);
  agents_.erase(it);
  if (auto c = connection_of_.find(removed.agent_id);
      c != connection_of_.end() && c->second == removed.identity) {
    connection_of_.erase(c);
  }
  return removed;
}

std::vector<std::string> Roster::Revoked(
    const std::function<bool(std::string_view key)>& allowed) const {
  std::vector<std::string> out;
  for (const auto& [identity, a] : agents_) {
    if (!allowed(a->key)) out.push_back(identity);
  }
  return out;
}

std::vector<std::string> Roster::Silent(double now, double patience) const {
  std::vector<std::string> out;
  for (const auto& [identity, a] : agents_) {
    if (now - a->last_heard > patience) out.push_back(identity);
  }
  return out;
}

std::vector<std::string> Roster::DistinctLabels(std::string_view except,
                                                const std::vector<std::string>& extra) const {
  std::vector<std::string> distinct;
  auto add = [&](const std::string& l) {
    if (std::none_of(distinct.begin(), distinct.end(),
                     [&](const std::string& d) { return SameLabel(d, l); })) {
      distinct.push_back(l);
    }
  };
  for (const auto& [identity, a] : agents_) {
    if (identity == except) continue;
    for (const std::string& l : a->labels) add(l);
  }
  for (const std::string& l : extra) add(l);
  return distinct;
}

void Roster::ForEach(const std::function<void(Agent&)>& f) {
  for (auto& [identity, a] : agents_) f(*a);
}

void Roster::ForEach(const std::function<void(const Agent&)>& f) const {
  for (const auto& [identity, a] : agents_) f(*a);
}

int Roster::welcomed() const {
  int n = 0;
  for (const auto& [identity, a] : agents_) n += a->welcomed();
  return n;
}

void Roster::CountRefusal(const std::string& sender, const std::string& reason) {
  ++refused_;
  ++by_reason_[reason];  // reasons are the driver's fixed words: bounded
  auto it = by_sender_.find(sender);
  if (it == by_sender_.end() && by_sender_.size() >= kMaxSenders) {
    ++by_sender_["(others)"];
    return;
  }
  ++by_sender_[sender];
}

}  // namespace edgetrain::coordinator
