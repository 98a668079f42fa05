// The coordinator fuzzer's input format: a program for one run of the coordinator's Driver.
//
// Every byte string is a valid program (missing bytes read as zero), so libFuzzer's mutations
// always mean something. Layout:
//   kOptionBytes bytes of run options (FeedCoordinator, coordinator_checks.cc, decodes them:
//   task, loss, penalties, intercept, box, Newton, security, --min-agents, --max-agents,
//   staleness, time limit, stop rule, --max-dim, --dim), then steps until the input ends:
//   one byte Op (modulo kOpCount), one byte slot (which fake agent connection, modulo kSlots),
//   then the op's own bytes (listed below).
// After the last step the run is interrupted and ticked until it must be done.
//
// Used by tests/fuzz/coordinator_checks.cc (the reader) and tests/fuzz/make_coordinator_seeds.cc
// (the seed corpus, written as programs).
//
// Thread-safety: constants only.
#ifndef EDGETRAIN_TESTS_FUZZ_COORDINATOR_PROGRAM_H_
#define EDGETRAIN_TESTS_FUZZ_COORDINATOR_PROGRAM_H_

#include <cstddef>
#include <cstdint>

namespace edgetrain::fuzz::program {

constexpr size_t kOptionBytes = 8;
// Fake agent connections (each with an address and a key; slots 0 and 2 share a key: one device).
constexpr int kSlots = 4;

enum Op : uint8_t {
  // variant byte: bit 0-1 agent id (0: the slot's own, else a table with control characters,
  // non-ASCII and 128-byte ids), bit 2-4 which field to falsify (0-1: none), bit 5-7 the
  // falsehood; then 4 bytes for the falsified number.
  kHello = 0,
  // perturbation byte (below 160: an honest answer; else which field to break), then 8 bytes
  // for the broken value. The slot reads everything the driver sent it, as an agent does, and
  // answers the last phase message with a message computed by runtime code (SvrgWorker,
  // AccumulateSupportHessian, AdoptAnswer).
  kAnswer,
  // message kind byte, then the fields: numbers and vectors read from the input.
  kCraft,
  // length byte, then that many raw bytes.
  kGarbage,
  // count byte, then (2-byte offset, byte) pairs written over the slot's last message.
  kMutate,
  // the slot's last message again (a retransmission).
  kRepeat,
  // version byte: a Hello (even) or a Heartbeat (odd) of protocol version byte / 2.
  kOtherVersion,
  // 8-byte session, 8-byte sequence number: a Heartbeat in someone else's session.
  kWrongSession,
  kHeartbeat,
  kBye,
  // the slot's device reconnects: a new connection, state forgotten.
  kReconnect,
  // amount byte: the clock advances (0.01 s .. 1000 s) and the driver ticks.
  kTick,
  // rounds byte, step byte: every slot answers honestly, the clock advances, the driver ticks.
  kAutopilot,
  // the slot's key is removed from (or put back on) the allow-list; the driver revokes.
  kRevoke,
  // the operator interrupts the run (SIGINT).
  kStop,
  kOpCount
};

// kAnswer perturbation bytes below this are honest answers.
constexpr uint8_t kHonest = 160;

// kCraft message kinds (byte modulo kCraftKinds).
enum Craft : uint8_t {
  kCraftGradSum = 0,
  kCraftUpdate,
  kCraftCurvature,
  kCraftHeartbeat,
  kCraftCoordinatorMessage,  // a Welcome, EpochBegin, Model, Stop... sent by an agent
  kCraftKinds
};

}  // namespace edgetrain::fuzz::program

#endif  // EDGETRAIN_TESTS_FUZZ_COORDINATOR_PROGRAM_H_
