// CurveZMQ keys, allow-lists and the ZAP handler that enforces them.
//
// Key files (written by `keygen`, Z85 text as ZeroMQ's own zcert files):
//   NAME.key  public-key = "..." and secret-key = "..."; mode 0600, and refused when group- or
//             world-readable (a leaked secret key lets anyone pose as that device);
//   NAME.pub  public-key = "..."; safe to copy around.
// An allow-list file holds one public key per line: a bare 40-character Z85 key or a
// `public-key = "..."` line (so `cat device.pub >> allowed` works), optionally followed by a
// name; `#` starts a comment.
//
// ZapHandler answers ZeroMQ's authentication requests (RFC 27, inproc://zeromq.zap.01) for CURVE
// server sockets of the same context: a client key on the domain's allow-list is accepted and
// becomes the connection's User-Id; anything else is refused with 400. Plain (NULL mechanism)
// connections, which libzmq also submits once a handler exists, pass only on domains without an
// allow-list. It is polled from the owner's event loop (no thread of its own).
//
// Thread-safety: none; the coordinator's event loop owns the handler. Ownership: borrows the
// context.
#ifndef EDGETRAIN_TRANSPORT_CURVE_H_
#define EDGETRAIN_TRANSPORT_CURVE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <zmq.hpp>

#include "edgetrain/status.h"

namespace edgetrain::transport {

struct CurveKeyPair {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;  // Z85, 40 characters
};

// Writes PREFIX.key (0600) and PREFIX.pub (0644) with a new key pair; refuses to overwrite.
Result<CurveKeyPair> GenerateKeyFiles(const std::string& prefix, const std::string& comment);
// Reads a secret key file; refuses one that group or others can read.
Result<CurveKeyPair> ReadSecretKeyFile(const std::string& path);
// Reads the public key from a .pub or .key file.
Result<std::string> ReadPublicKeyFile(const std::string& path);

class AllowList {
 public:
  Status Load(const std::string& path);
  bool Contains(const std::string& z85) const { return keys_.count(z85) > 0; }
  // The name written after the key, or "".
  std::string NameOf(const std::string& z85) const;
  size_t size() const { return keys_.size(); }
  // True if every key of `other` is on this list too.
  bool Includes(const AllowList& other) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::map<std::string, std::string> keys_;  // key -> name
};

// How a channel authenticates. kNone is plain text (allowed only with --insecure).
struct CurveConfig {
  enum class Mode { kNone, kServer, kClient } mode = Mode::kNone;
  CurveKeyPair keys;          // this side's keys
  std::string server_public;  // kClient: the pinned server key
  std::string zap_domain;     // kServer: the allow-list the ZapHandler applies
};

// Sets the CURVE socket options. REQUIRES: before bind/connect.
void ApplyCurve(zmq::socket_t& socket, const CurveConfig& config);

class ZapHandler {
 public:
  // (domain, peer address, client key, allowed)
  using DecisionCallback =
      std::function<void(const std::string&, const std::string&, const std::string&, bool)>;

  // Binds inproc://zeromq.zap.01 in `context`. REQUIRES: before any CURVE server socket binds.
  explicit ZapHandler(zmq::context_t* context);

  // Guards a domain with a list (a null list leaves the domain open).
  void SetAllowList(const std::string& domain, const AllowList* list) { lists_[domain] = list; }
  void OnDecision(DecisionCallback callback) { on_decision_ = std::move(callback); }
  zmq::socket_t& socket() { return socket_; }
  // Answers one pending request (call when the socket is readable).
  void HandleRequest();

 private:
  zmq::socket_t socket_;
  std::map<std::string, const AllowList*> lists_;
  DecisionCallback on_decision_;
};

}  // namespace edgetrain::transport

#endif  // EDGETRAIN_TRANSPORT_CURVE_H_
