// CRC32C (Castagnoli polynomial 0x1EDC6F41, reflected 0x82F63B78): the checksum of model files and
// checkpoints. Software slicing-by-8 (about 1-2 GB/s), identical on every architecture.
//
// Thread-safety: pure function (the table is a constant built at compile time).
#ifndef EDGETRAIN_CRC32C_H_
#define EDGETRAIN_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace edgetrain {

// Extends `crc` (0 to start) with n bytes.
uint32_t Crc32c(const void* data, size_t n, uint32_t crc = 0);

}  // namespace edgetrain

#endif  // EDGETRAIN_CRC32C_H_
