// The wire codec: builds and checks the FlatBuffers messages of schemas/wire.fbs.
//
// Encoder: one reusable FlatBufferBuilder per sender, so steady-state messages do not allocate.
// Vectors are written sparse (indices + values) when that is smaller than dense.
// Decoder: every inbound buffer goes through (1) alignment (a misaligned buffer, as ZeroMQ hands
// out on 32-bit ARM, is copied into aligned scratch), (2) the FlatBuffers verifier with tight
// depth/table limits and the file identifier, (3) the protocol version, and (4) semantic checks
// of the payload: every vector has the model's dimension, indices in range, every double finite,
// required fields present. Epoch/version/session checks need the receiver's state and are made
// by the receiver.
//
// Thread-safety: one Encoder/Decoder per thread. Ownership: a DecodedMessage points into the
// decoder's scratch or the caller's buffer; it is valid until the next Decode or until that
// buffer is released.
#ifndef EDGETRAIN_WIRE_H_
#define EDGETRAIN_WIRE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "edgetrain/dataset.h"
#include "edgetrain/fb/wire_generated.h"
#include "edgetrain/problem.h"
#include "edgetrain/sparse_vector.h"
#include "edgetrain/status.h"
#include "edgetrain/step_size.h"

namespace edgetrain::wire {

namespace fb = ::edgetrain::fb::wire;  // the generated tables

constexpr uint16_t kProtocolVersion = 1;
// Largest Newton support S a Snapshot may name (a Curvature then carries |S|(|S|+1)/2 doubles:
// 33.6 MB at 2 900).
constexpr int64_t kMaxNewtonSupport = 2900;

struct Header {
  std::string_view agent_id;
  uint64_t session = 0;
  uint64_t seq = 0;
};

// A model vector to send: values plus (optionally) where they are non-zero.
struct DenseWithSupport {
  const double* value = nullptr;
  int64_t dim = 0;
  const int32_t* support = nullptr;  // null: unknown (the encoder counts non-zeros itself)
  int64_t support_size = 0;
};

struct HelloInfo {
  int64_t rows = 0;
  int32_t dimension = 0;
  Task task = Task::kClassification;
  std::vector<std::string> labels;
  double row_norm_sq_max = 0;
  double row_norm_sq_mean = 0;
  uint64_t data_fingerprint = 0;
  std::string software_version;
  bool incremental_models = false;  // understands Model answers with since >= 0 (docs/protocol.md)
  bool newton = false;              // answers a Snapshot with newton_support by a Curvature
};

struct WelcomeInfo {
  ProblemSpec problem;
  int32_t dimension = 0;
  std::string label_negative, label_positive;
  uint32_t heartbeat_ms = 0;
  int64_t epoch = 0;
  int64_t version = 0;
  uint64_t seed = 0;
};

class Encoder {
 public:
  Encoder() : fbb_(1 << 16) {}

  // Each returns the finished buffer, valid until the next call on this encoder.
  std::string_view Hello(const Header& h, const HelloInfo& info);
  std::string_view Welcome(const Header& h, const WelcomeInfo& info, const DenseWithSupport& model);
  std::string_view Reject(const Header& h, fb::RejectReason reason, std::string_view text);
  std::string_view EpochBegin(const Header& h, int64_t epoch, int64_t version,
                              const DenseWithSupport& snapshot);
  std::string_view GradSum(const Header& h, int64_t epoch, const DenseWithSupport& grad,
                           double loss_sum, int64_t rows, const Smoothness& smoothness);
  // newton_support non-empty: a Newton epoch (schemas/wire.fbs), the agents answer with a
  // Curvature.
  std::string_view Snapshot(const Header& h, int64_t epoch, int64_t version,
                            const DenseWithSupport& mu, double eta, int64_t inner_steps,
                            int32_t batch, const std::vector<int32_t>& newton_support = {});
  // packed: the lower triangle of the |S| x |S| block, |S|(|S|+1)/2 doubles (none when declined).
  std::string_view Curvature(const Header& h, int64_t epoch, int64_t support_size,
                             const double* packed, int64_t rows, bool declined);
  // The same, with the block written in place: fill gets the message's own |S|(|S|+1)/2 doubles,
  // zeroed, and adds the block into them (no separate copy of the block exists). Not called when
  // declined.
  std::string_view Curvature(const Header& h, int64_t epoch, int64_t support_size, int64_t rows,
                             bool declined, const std::function<void(double* packed)>& fill);
  std::string_view Update(const Header& h, int64_t epoch, int64_t base_version,
                          const ModelUpdate& update);
  // since = -1: x is the whole model; since >= 0: x.support lists the coordinates that changed
  // after version `since` (an incremental answer, see schemas/wire.fbs), sent sparse or, when that
  // is not smaller, as the whole model.
  std::string_view Model(const Header& h, int64_t epoch, int64_t version, const DenseWithSupport& x,
                         bool applied, bool inner_done, int64_t since = -1, bool own_exact = false,
                         uint64_t update_seq = 0);
  std::string_view Heartbeat(const Header& h, int64_t epoch, int64_t version);
  std::string_view Bye(const Header& h, std::string_view text);
  std::string_view Stop(const Header& h, std::string_view reason, int64_t epoch, double objective);

  // Bytes a vector of this shape takes on the wire, sparse and dense (for the choice and tests).
  static int64_t SparseBytes(int64_t nnz) { return nnz * 12; }
  static int64_t DenseBytes(int64_t dim) { return dim * 8; }

 private:
  flatbuffers::Offset<fb::Vector> BuildVector(const DenseWithSupport& v);
  flatbuffers::Offset<fb::Vector> BuildVector(const SparseVector& v);
  std::string_view Finish(const Header& h, fb::Message type, flatbuffers::Offset<void> message);

  flatbuffers::FlatBufferBuilder fbb_;
  std::vector<int32_t> scratch_index_;  // non-zeros found when the support is unknown
};

struct DecodedMessage {
  fb::Message type = fb::Message::NONE;
  std::string_view agent_id;
  uint64_t session = 0;
  uint64_t seq = 0;
  const fb::Envelope* envelope = nullptr;

  template <typename T>
  const T* As() const {
    return envelope->message_as<T>();
  }
};

// Non-owning view of a verified wire vector (an empty view for an absent optional vector).
VectorView ViewOf(const fb::Vector* v);

class Decoder {
 public:
  // Largest message accepted (bytes); also set as ZMQ_MAXMSGSIZE by the transport.
  explicit Decoder(size_t max_message_bytes = 256u << 20) : max_bytes_(max_message_bytes) {}

  // The model size p vectors must have (0 until known: then any dimension up to the cap passes
  // the structural checks and the receiver checks it later).
  void set_model_size(int64_t p) { model_size_ = p; }
  int64_t model_size() const { return model_size_; }

  // Runs all checks; on failure the Status says which (for the refusal log).
  Result<DecodedMessage> Decode(const void* data, size_t size);

 private:
  Status CheckPayload(const DecodedMessage& m) const;
  Status CheckVector(const fb::Vector* v, const char* field, bool required) const;

  size_t max_bytes_;
  int64_t model_size_ = 0;
  std::vector<uint64_t> aligned_;  // scratch for misaligned input
};

// Names for logs: "Hello", "Update", ...
const char* MessageName(fb::Message type);

}  // namespace edgetrain::wire

#endif  // EDGETRAIN_WIRE_H_
