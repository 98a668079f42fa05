// Rng: xoshiro256++ with splitmix64 seeding and Lemire's unbiased bounded integers.
//
// Small, fast and identical on every architecture (x86-64, aarch64, armv7), so a seeded run
// draws the same mini-batches everywhere. Each agent derives its own stream from (seed, agent
// id, session): the authors' research code gave every worker the same seed, which correlates
// the workers' mini-batches; DeriveSeed avoids that.
//
// Thread-safety: none; one Rng per thread. Not for cryptography.
#ifndef EDGETRAIN_RNG_H_
#define EDGETRAIN_RNG_H_

#include <cstdint>

namespace edgetrain {

inline uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Mixes several identifiers into one well-spread seed.
inline uint64_t DeriveSeed(uint64_t seed, uint64_t a, uint64_t b = 0) {
  uint64_t s = seed;
  uint64_t h = SplitMix64(&s);
  s ^= a * 0xD6E8FEB86659FD93ull;
  h ^= SplitMix64(&s);
  s ^= b * 0xA0761D6478BD642Full;
  h ^= SplitMix64(&s);
  return h;
}

class Rng {
 public:
  explicit Rng(uint64_t seed = 1) { Seed(seed); }

  void Seed(uint64_t seed) {
    for (uint64_t& word : s_) word = SplitMix64(&seed);
  }

  uint64_t Next() {
    const uint64_t result = Rotl(s_[0] + s_[3], 23) + s_[0];
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, bound). REQUIRES: bound > 0. Lemire, "Fast random integer generation in an
  // interval", ACM TOMACS 2019 (32-bit form, so it needs no 128-bit type on armv7): unbiased,
  // usually without a division.
  uint64_t Uniform(uint64_t bound) {
    if (bound <= 0xFFFFFFFFull) {
      const uint32_t b = static_cast<uint32_t>(bound);
      uint64_t m = (Next() >> 32) * b;
      uint32_t low = static_cast<uint32_t>(m);
      if (low < b) {
        const uint32_t threshold = (0u - b) % b;
        while (low < threshold) {
          m = (Next() >> 32) * b;
          low = static_cast<uint32_t>(m);
        }
      }
      return m >> 32;
    }
    const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;  // rejection for huge bounds
    uint64_t r;
    do {
      r = Next();
    } while (r >= limit);
    return r % bound;
  }

  // Uniform in [0, 1).
  double UniformDouble() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace edgetrain

#endif  // EDGETRAIN_RNG_H_
