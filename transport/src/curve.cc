#include "edgetrain/transport/curve.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "edgetrain/file_util.h"

namespace edgetrain::transport {
namespace {

constexpr size_t kZ85KeyLength = 40;

bool ValidZ85Key(const std::string& key) {
  if (key.size() != kZ85KeyLength) return false;
  uint8_t decoded[32];
  return zmq_z85_decode(decoded, key.c_str()) != nullptr;
}

// Finds `name = "value"` on a line; returns false if the line is not such an assignment.
bool Assignment(const std::string& line, const std::string& name, std::string* value) {
  const size_t at = line.find(name);
  if (at == std::string::npos) return false;
  const size_t open = line.find('"', at + name.size());
  const size_t close = open == std::string::npos ? open : line.find('"', open + 1);
  if (close == std::string::npos) return false;
  *value = line.substr(open + 1, close - open - 1);
  return true;
}

Status WriteNew(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    return Status::IoError(path + ": cannot create" +
                           (errno == EEXIST ? " (it exists; not overwriting a key)" : "") + ": " +
                           std::strerror(errno));
  }
  ::fchmod(fd, mode);  // regardless of the umask
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return Status::IoError(path + ": write failed");
  return Status::Ok();
}

}  // namespace

Result<CurveKeyPair> GenerateKeyFiles(const std::string& prefix, const std::string& comment) {
  char pub[41], sec[41];
  if (zmq_curve_keypair(pub, sec) != 0)
    return Status::Internal("zmq_curve_keypair failed (libzmq without CURVE?)");
  CurveKeyPair keys{pub, sec};
  const std::string header = "# edgetrain CURVE key pair: " + comment + "\n";
  EDGETRAIN_RETURN_IF_ERROR(
      WriteNew(prefix + ".key",
               header + "# SECRET: keep this file private (mode 0600)\npublic-key = \"" +
                   keys.public_key + "\"\nsecret-key = \"" + keys.secret_key + "\"\n",
               0600));
  EDGETRAIN_RETURN_IF_ERROR(
      WriteNew(prefix + ".pub", header + "public-key = \"" + keys.public_key + "\"\n", 0644));
  return keys;
}

Result<CurveKeyPair> ReadSecretKeyFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return Status::NotFound(path + ": cannot read the key file: " + std::strerror(errno));
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 0777));
    return Status::InvalidArgument(path + ": the secret key file has mode " + std::string(mode) +
                                   " (readable by others); run 'chmod 600 " + path + "'");
  }
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  CurveKeyPair keys;
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::string v;
    if (Assignment(line, "secret-key", &v))
      keys.secret_key = v;
    else if (Assignment(line, "public-key", &v))
      keys.public_key = v;
  }
  if (!ValidZ85Key(keys.secret_key))
    return Status::InvalidArgument(path + ": no valid secret-key = \"...\" line");
  char pub[41];
  if (zmq_curve_public(pub, keys.secret_key.c_str()) != 0)
    return Status::InvalidArgument(path + ": bad secret key");
  if (!keys.public_key.empty() && keys.public_key != pub) {
    return Status::InvalidArgument(path + ": public-key does not belong to secret-key");
  }
  keys.public_key = pub;
  return keys;
}

Result<std::string> ReadPublicKeyFile(const std::string& path) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    std::string v;
    if (!line.empty() && line[0] != '#' && Assignment(line, "public-key", &v)) {
      if (!ValidZ85Key(v))
        return Status::InvalidArgument(path + ": public-key is not a 40-character Z85 key");
      return v;
    }
  }
  return Status::InvalidArgument(path + ": no public-key = \"...\" line");
}

Status AllowList::Load(const std::string& path) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  std::map<std::string, std::string> keys;
  std::istringstream in(*text);
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    // (Z85 uses '#', so a comment can only start a line or follow the key.)
    const size_t start = line.find_first_not_of(" \t\r");
    if (start == std::string::npos || line[start] == '#') continue;  // blank or comment-only
    std::string key, name;
    if (Assignment(line, "public-key", &key)) {
      name = line.substr(line.rfind('"') + 1);
    } else {
      std::istringstream words(line);
      words >> key;
      std::getline(words, name);
    }
    const size_t hash = name.find('#');
    if (hash != std::string::npos) name.erase(hash, 1);  // "KEY # name" and "KEY name" alike
    if (!ValidZ85Key(key)) {
      return Status::InvalidArgument(path + ":" + std::to_string(line_no) + ": found '" + key +
                                     "', expected a 40-character Z85 public key");
    }
    const size_t b = name.find_first_not_of(" \t"), e = name.find_last_not_of(" \t\r");
    keys[key] = b == std::string::npos ? "" : name.substr(b, e - b + 1);
  }
  keys_ = std::move(keys);
  path_ = path;
  return Status::Ok();
}

std::string AllowList::NameOf(const std::string& z85) const {
  auto it = keys_.find(z85);
  return it == keys_.end() ? "" : it->second;
}

bool AllowList::Includes(const AllowList& other) const {
  for (const auto& [key, name] : other.keys_) {
    if (keys_.count(key) == 0) return false;
  }
  return true;
}

void ApplyCurve(zmq::socket_t& socket, const CurveConfig& c) {
  switch (c.mode) {
    case CurveConfig::Mode::kNone:
      return;
    case CurveConfig::Mode::kServer:
      socket.set(zmq::sockopt::curve_server, 1);
      socket.set(zmq::sockopt::curve_secretkey, c.keys.secret_key);
      socket.set(zmq::sockopt::zap_domain, c.zap_domain);
      return;
    case CurveConfig::Mode::kClient:
      socket.set(zmq::sockopt::curve_serverkey, c.server_public);
      socket.set(zmq::sockopt::curve_publickey, c.keys.public_key);
      socket.set(zmq::sockopt::curve_secretkey, c.keys.secret_key);
      return;
  }
}

ZapHandler::ZapHandler(zmq::context_t* context) : socket_(*context, zmq::socket_type::rep) {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.bind("inproc://zeromq.zap.01");
}

void ZapHandler::HandleRequest() {
  std::vector<zmq::message_t> frames;
  while (true) {
    zmq::message_t frame;
    if (!socket_.recv(frame, zmq::recv_flags::dontwait)) return;
    const bool more = frame.more();
    frames.push_back(std::move(frame));
    if (!more) break;
  }
  // version, request id, domain, address, identity, mechanism, credentials...
  if (frames.size() < 6) return;
  const std::string domain = frames[2].to_string();
  const std::string address = frames[3].to_string();
  const std::string mechanism = frames[5].to_string();
  std::string key;
  if (mechanism == "CURVE" && frames.size() >= 7 && frames[6].size() == 32) {
    char z85[41];
    zmq_z85_encode(z85, static_cast<const uint8_t*>(frames[6].data()), 32);
    key = z85;
  }
  auto list = lists_.find(domain);
  const bool guarded = list != lists_.end() && list->second != nullptr;
  // With a handler in the context libzmq also asks about plain (NULL) connections; those pass on
  // domains without an allow-list (a plain log stream) and nowhere else.
  const bool allowed =
      guarded ? (!key.empty() && list->second->Contains(key)) : mechanism == "NULL";
  if (on_decision_) on_decision_(domain, address, key, allowed);
  const std::string status = allowed ? "200" : "400";
  const std::string text = allowed ? "OK" : "key not on the allow-list";
  socket_.send(zmq::buffer(std::string("1.0")), zmq::send_flags::sndmore);
  socket_.send(frames[1], zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(status), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(text), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(allowed ? key : std::string()), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(std::string()), zmq::send_flags::none);
}

}  // namespace edgetrain::transport
