// A finished FlatBuffer nested, with its CRC32C, inside an envelope buffer: the model file
// (schemas/model.fbs, ModelFile) and the checkpoint (schemas/checkpoint.fbs, CheckpointFile) both
// wrap their content this way, because the verifier alone cannot see a flipped bit inside a double.
// Internal to the runtime library.
#ifndef EDGETRAIN_RUNTIME_CHECKSUMMED_NEST_H_
#define EDGETRAIN_RUNTIME_CHECKSUMMED_NEST_H_

#include <flatbuffers/flatbuffers.h>

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "edgetrain/crc32c.h"

namespace edgetrain {

// Writes `inner`'s finished buffer into `outer` as a [ubyte] vector placed at an 8-byte boundary
// (its doubles are read in place); *crc receives its CRC32C for the envelope's checksum field.
inline flatbuffers::Offset<flatbuffers::Vector<uint8_t>> NestBuffer(
    flatbuffers::FlatBufferBuilder* outer, const flatbuffers::FlatBufferBuilder& inner,
    uint32_t* crc) {
  outer->ForceVectorAlignment(inner.GetSize(), sizeof(uint8_t), 8);
  *crc = Crc32c(inner.GetBufferPointer(), inner.GetSize());
  return outer->CreateVector(inner.GetBufferPointer(), inner.GetSize());
}

// `bytes` copied into 8-byte aligned *storage (FlatBuffers reads scalars in place).
inline const uint8_t* AlignedCopy(std::string_view bytes, std::vector<uint64_t>* storage) {
  storage->assign(bytes.size() / 8 + (bytes.size() % 8 != 0), 0);  // no (size + 7) to wrap around
  if (!bytes.empty()) std::memcpy(storage->data(), bytes.data(), bytes.size());
  return reinterpret_cast<const uint8_t*>(storage->data());
}

// The nested buffer of a verified envelope when its CRC32C is `crc` (nullptr otherwise), at an
// 8-byte aligned address: in place when NestBuffer wrote it, else copied into *storage (a valid
// envelope need not align a [ubyte] vector beyond 4 bytes). REQUIRES: nested != nullptr.
inline const uint8_t* ChecksummedNested(const flatbuffers::Vector<uint8_t>* nested, uint32_t crc,
                                        std::vector<uint64_t>* storage) {
  if (Crc32c(nested->data(), nested->size()) != crc) return nullptr;
  const uint8_t* data = nested->data();
  if (reinterpret_cast<uintptr_t>(data) % alignof(double) == 0) return data;
  return AlignedCopy(std::string_view(reinterpret_cast<const char*>(data), nested->size()),
                     storage);
}

}  // namespace edgetrain

#endif  // EDGETRAIN_RUNTIME_CHECKSUMMED_NEST_H_
