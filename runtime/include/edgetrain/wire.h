// The wire codec: the messages of schemas/wire.fbs as plain structs, and nothing else.
//
// Every message is a plain struct (HelloMsg ... CurvatureRequestMsg) of numbers, enums,
// std::string_view, VectorView and small spans; no generated FlatBuffers type is visible here.
// Encoder::Encode(header, message) writes one; Decoder::Decode returns a Message: the envelope's
// Header and the body as a std::variant of those structs. Each message's decode sits next to its
// encode in wire.cc, and each field is checked once, there.
//
// Encoder: one reusable FlatBufferBuilder per sender, so steady-state messages do not allocate.
// Vectors are written sparse (indices + values) when that is smaller than dense.
// Decoder: every inbound buffer goes through (1) the size limit, (2) alignment (a misaligned
// buffer, as ZeroMQ hands out on 32-bit ARM, is copied into aligned scratch), (3) the FlatBuffers
// verifier with tight depth/table limits and the file identifier, (4) the envelope: protocol
// version, agent id, a message in the union, and (5) the payload: every vector has the model's
// dimension, indices in range and none twice, every number finite and in its range, every string
// valid UTF-8 within its length limit, counts consistent (a Curvature's block matches its support,
// a CurvatureRequest's support is increasing and within kMaxNewtonSupport). A refusal names the
// message and the field ("Update.delta: index 7 appears twice"). Epoch/version/session checks need
// the receiver's state and are made by the receiver (docs/protocol.md lists every check).
//
// Versions: the envelope, the Hello/Welcome/Reject union slots and the Reject table are stable
// across protocol versions (schemas/wire.fbs). A message of another version decodes to
// OtherProtocolMsg (only the header is read; Header::protocol says which version), except a
// Reject, which decodes as usual. Encoders write Header::protocol, so the coordinator can answer a
// Hello of another version with a Reject that agent can read.
//
// Thread-safety: one Encoder/Decoder per thread. Ownership: an encoded buffer lives in the encoder
// until its next call; a decoded Message points into the decoder's scratch or the caller's buffer
// and is valid until the next Decode or until that buffer is released.
#ifndef EDGETRAIN_WIRE_H_
#define EDGETRAIN_WIRE_H_

#include <flatbuffers/flatbuffers.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

#include "edgetrain/dataset.h"
#include "edgetrain/duality.h"
#include "edgetrain/problem.h"
#include "edgetrain/scaler.h"
#include "edgetrain/sparse_vector.h"
#include "edgetrain/status.h"
#include "edgetrain/step_size.h"

namespace edgetrain::wire {

// 2: shared Loss/Task enums, InnerLoop and CurvatureRequest instead of Snapshot, strict strings
// and sparse vectors (schemas/wire.fbs).
constexpr uint16_t kProtocolVersion = 2;
// Largest Newton support S a CurvatureRequest may name (a Curvature then carries |S|(|S|+1)/2
// doubles: 33.6 MB at 2 900).
constexpr int64_t kMaxNewtonSupport = 2900;
// Length limits of the strings (bytes of UTF-8).
constexpr size_t kMaxAgentIdBytes = 128;  // Envelope.agent_id (at least 1 byte)
constexpr size_t kMaxVersionBytes = 256;  // Hello.software_version
constexpr size_t kMaxLabelBytes = 256;    // Hello.labels, Welcome.label_negative/positive
constexpr size_t kMaxTextBytes = 4096;    // Reject.text, Bye.text, Stop.reason
// Largest Welcome.heartbeat_ms (an hour).
constexpr uint32_t kMaxHeartbeatMs = 3'600'000;
// Most inner steps one Update may sum (an agent sends far fewer; the bound keeps a hostile count
// from ending an epoch at once).
constexpr int64_t kMaxStepsPerUpdate = 1 << 20;

struct Header {
  std::string_view agent_id;  // the sender of agent messages, the addressee of coordinator ones
  uint64_t session = 0;       // 0 in Hello
  uint64_t seq = 0;           // per sender and session, from 1
  uint16_t protocol = kProtocolVersion;  // written as given; decoded from the envelope
};

enum class RejectReason : uint8_t {
  kBadMessage = 0,
  kProtocolMismatch,  // the schema's ProtocolVersion
  kTaskMismatch,
  kDimensionTooLarge,
  kLabelsConflict,
  kDuplicate,
  kShuttingDown,
  kNotWelcome,
};
// "ProtocolVersion", ...; "Unknown" for a value a newer peer may send.
const char* RejectReasonName(RejectReason reason);

// ---- The messages (schemas/wire.fbs has the meaning of every field) ---------------------------
// Vector fields are VectorViews: decoded, a sparse or a dense view of what arrived (an absent
// optional vector is an empty view of the model's dimension); to send, a sparse view (written
// sparse, or dense when that is smaller) or a dense one (written sparse when its non-zeros, which
// the encoder then counts, make that smaller).

// A shard's ColumnStats (scaler.h) as the wire carries them: `dimension` entries each, or all
// empty (not sent). Decoded: views into the message.
struct ColumnStatsView {
  std::span<const int64_t> nonzeros;
  std::span<const double> sum, sum_squares, min, max;
  bool empty() const { return sum.empty(); }
  static ColumnStatsView Of(const ColumnStats& s);  // views into s
  ColumnStats ToStats(int64_t rows) const;          // a copy
};

// The run's scaler (scaler.h): kind kNone and empty vectors, or `dimension` entries each.
struct ScalerView {
  ScalerKind kind = ScalerKind::kNone;
  std::span<const double> offset, factor;
  static ScalerView Of(const Scaler& s);  // views into s
  Scaler ToScaler() const;                // a copy
};

struct HelloMsg {
  int64_t rows = 0;
  int32_t dimension = 0;
  Task task = Task::kClassification;
  std::span<const std::string_view> labels;  // 0-2 raw class labels present in the shard
  double row_norm_sq_max = 0;
  double row_norm_sq_mean = 0;
  uint64_t data_fingerprint = 0;
  std::string_view software_version;
  bool incremental_models = false;  // understands Model answers with since >= 0
  bool newton = false;              // answers a CurvatureRequest with a Curvature
  ColumnStatsView column_stats;     // the shard's statistics as read (empty: not sent)
  int8_t scale = -1;                // the ScalerKind the agent was asked for; -1: no request
};

struct WelcomeMsg {
  ProblemSpec problem;
  int32_t dimension = 0;  // d; the model has problem.ModelSize(d) entries
  std::string_view label_negative, label_positive;
  uint32_t heartbeat_ms = 0;
  int64_t epoch = 0;
  int64_t version = 0;
  VectorView model;
  uint64_t seed = 0;
  ScalerView scaler;                       // the run's scaler (kNone: none)
  std::span<const double> column_scales;   // the preconditioner: powers of two, <= d entries
  std::span<const double> column_offsets;  // empty, or as many as column_scales
};

struct RejectMsg {
  RejectReason reason = RejectReason::kBadMessage;
  std::string_view text;
};

struct EpochBeginMsg {
  int64_t epoch = 0;
  int64_t version = 0;  // of the snapshot x~
  VectorView snapshot;
};

struct GradSumMsg {
  int64_t epoch = 0;
  VectorView grad;
  double loss_sum = 0;
  Smoothness smoothness;   // smoothness.rows: the rows summed (importance is not sent)
  bool certified = false;  // dual (and aux, with an intercept) carry the certificate's sums
  DualScalars dual;
  VectorView aux;         // empty unless the problem has an intercept
  bool diverged = false;  // the pass was not finite: grad empty, loss_sum 0
};

struct InnerLoopMsg {
  int64_t epoch = 0;
  int64_t version = 0;
  VectorView mu;
  double eta = 0;
  int64_t inner_steps = 0;
  int32_t batch = 1;
  int32_t participants = 1;  // agents in this inner phase
};

struct CurvatureRequestMsg {
  int64_t epoch = 0;
  int64_t version = 0;
  std::span<const int32_t> support;  // S: increasing coordinates < p, 1..kMaxNewtonSupport of them
};

struct CurvatureMsg {
  int64_t epoch = 0;
  int64_t support_size = 0;
  std::span<const double>
      hessian;  // |S|(|S|+1)/2 doubles, packed lower triangle; empty if declined
  int64_t rows = 0;
  bool declined = false;
};

struct UpdateMsg {
  int64_t epoch = 0;
  int64_t base_version = 0;
  VectorView delta;
  VectorView guarded;   // disjoint from delta
  int64_t steps = 1;    // inner steps summed into it (1 to kMaxStepsPerUpdate)
  uint32_t rtt_us = 0;  // the agent's smoothed round trip (health reporting; 0: unknown)
};

struct ModelMsg {
  int64_t epoch = 0;
  int64_t version = 0;
  VectorView x;  // since >= 0: changes to add; since = -1: the whole model (schemas/wire.fbs)
  bool applied = false;
  bool inner_done = false;
  int64_t since = -1;
  uint64_t update_seq = 0;
  uint64_t processed_seq = 0;  // whole answers: the newest Update of the session processed
  int64_t applied_count = 0;   // Updates of the session applied so far
};

struct HeartbeatMsg {
  int64_t epoch = 0;
  int64_t version = 0;
  uint32_t rtt_us = 0;      // as in UpdateMsg
  int64_t rows = 0;         // agent, between rounds: the rows its data holds now (0: not said)
  int64_t model_round = 0;  // agent: the newest published round whose model it saved (0: none)
};

struct ByeMsg {
  std::string_view text;
};

struct StopMsg {
  std::string_view reason;
  int64_t epoch = 0;
  double objective = 0;
  int64_t applied_count = 0;  // the addressee's Updates applied in its session
};

struct RoundEndMsg {
  int64_t round = 0;        // the round that ended (0: none yet)
  int64_t model_round = 0;  // the round of the model carried (0: none)
  std::string_view model;   // a model file's bytes (empty when model_round is 0)
  std::string_view text;
  uint32_t heartbeat_ms = 1000;  // 1 to kMaxHeartbeatMs
};

struct RoundBeginMsg {
  int64_t round = 0;  // >= 1
};

// A message of another protocol version (Header::protocol): only the envelope was read. `hello`:
// it is a Hello (whose union slot every version keeps), to be answered with
// Reject(ProtocolVersion) in an envelope of that version.
struct OtherProtocolMsg {
  bool hello = false;
};

using Body = std::variant<HelloMsg, WelcomeMsg, RejectMsg, EpochBeginMsg, GradSumMsg, InnerLoopMsg,
                          CurvatureRequestMsg, CurvatureMsg, UpdateMsg, ModelMsg, HeartbeatMsg,
                          ByeMsg, StopMsg, RoundEndMsg, RoundBeginMsg, OtherProtocolMsg>;

struct Message {
  Header header;
  Body body;
};

// Names for logs: "Hello", "Update", ... ("another protocol version" for OtherProtocolMsg).
const char* MessageName(const Body& body);

// ---- Encoder ----------------------------------------------------------------------------------

class Encoder {
 public:
  Encoder() : fbb_(1 << 16) {}

  // Each returns the finished buffer, valid until the next call on this encoder. The envelope
  // carries h.protocol (kProtocolVersion unless the caller answers another version).
  std::string_view Encode(const Header& h, const HelloMsg& m);
  std::string_view Encode(const Header& h, const WelcomeMsg& m);
  std::string_view Encode(const Header& h, const RejectMsg& m);
  std::string_view Encode(const Header& h, const EpochBeginMsg& m);
  std::string_view Encode(const Header& h, const GradSumMsg& m);
  std::string_view Encode(const Header& h, const InnerLoopMsg& m);
  std::string_view Encode(const Header& h, const CurvatureRequestMsg& m);
  // REQUIRES: m.declined or m.hessian.size() == support_size * (support_size + 1) / 2.
  std::string_view Encode(const Header& h, const CurvatureMsg& m);
  std::string_view Encode(const Header& h, const UpdateMsg& m);
  std::string_view Encode(const Header& h, const ModelMsg& m);
  std::string_view Encode(const Header& h, const HeartbeatMsg& m);
  std::string_view Encode(const Header& h, const ByeMsg& m);
  std::string_view Encode(const Header& h, const StopMsg& m);
  std::string_view Encode(const Header& h, const RoundEndMsg& m);
  std::string_view Encode(const Header& h, const RoundBeginMsg& m);

  // The model vector (m.model, m.x) given dense, of which only the coordinates in `entries` are
  // sent (any order, none twice): the non-zeros of the model, or an incremental answer's changed
  // coordinates (zeros included). Written sparse, or dense when that is not larger: O(|entries|)
  // unless dense. REQUIRES: the vector is a dense view; every entry < its dim.
  std::string_view Encode(const Header& h, const WelcomeMsg& m, std::span<const int32_t> entries);
  std::string_view Encode(const Header& h, const ModelMsg& m, std::span<const int32_t> entries);
  // A Curvature whose block is written in place: `fill` gets the message's own
  // |S|(|S|+1)/2 doubles, zeroed, and adds the block into them (no separate copy of the block
  // exists; m.hessian is ignored). Not called when m.declined.
  std::string_view Encode(const Header& h, const CurvatureMsg& m,
                          const std::function<void(double* packed)>& fill);

  // Bytes a vector of this shape takes on the wire, sparse and dense (for the choice and tests).
  static int64_t SparseBytes(int64_t nnz) { return nnz * 12; }
  static int64_t DenseBytes(int64_t dim) { return dim * 8; }

 private:
  // The finished envelope around `body` (an offset into fbb_ of the union member `type`).
  std::string_view Finish(const Header& h, uint8_t type, flatbuffers::Offset<void> body);
  flatbuffers::Offset<void> Vector(const VectorView& v);
  flatbuffers::Offset<void> Vector(const double* dense, int64_t dim,
                                   std::span<const int32_t> entries);

  flatbuffers::FlatBufferBuilder fbb_;
  std::vector<int32_t> scratch_index_;  // the non-zeros of a dense view
};

// ---- Decoder ----------------------------------------------------------------------------------

class Decoder {
 public:
  // Largest message accepted (bytes); also set as ZMQ_MAXMSGSIZE by the transport.
  explicit Decoder(size_t max_message_bytes = 256u << 20) : max_bytes_(max_message_bytes) {}

  // The model size p every vector must have, and the bound of a CurvatureRequest's support.
  // Allocates the stamps that find repeated indices in O(nnz) (p entries, once). 0 until known:
  // then vectors may have any dimension up to the cap (the receiver checks it later) and repeats
  // are found by sorting a copy of the indices.
  void set_model_size(int64_t p);
  int64_t model_size() const { return model_size_; }

  // Runs all checks; on failure the Status names the message and the field (for the refusal log).
  Result<Message> Decode(const void* data, size_t size);

 private:
  friend class PayloadReader;  // wire.cc: what the per-message decoders share

  size_t max_bytes_;
  int64_t model_size_ = 0;
  std::vector<uint64_t> aligned_;           // scratch for misaligned input
  std::vector<uint32_t> stamp_;             // p entries: the index set that last held a coordinate
  uint32_t stamp_now_ = 0;                  // the current index set
  std::vector<int32_t> sorted_;             // finds repeats while the model size is unknown
  std::array<std::string_view, 2> labels_;  // a Hello's labels (HelloMsg::labels points here)
};

}  // namespace edgetrain::wire

#endif  // EDGETRAIN_WIRE_H_
