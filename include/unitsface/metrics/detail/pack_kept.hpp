// unitsface metrics: packing the kept entries of a block to its front (a stream compaction of
// a few hundred entries), the step between a vectorised pass that decides which scores need a
// scalar look and the loop that gives it (genuine_buckets: the impostor scores that are not
// below every genuine value, about half of them at IJB-C size, few at MegaFace's).
//
// Written as a loop, a compaction is a chain through its write position (k += keep[j]): about
// two cycles an entry. On x86 with g++ or clang the packing is chosen once per process from
// the CPU, so that a build for baseline x86-64 (the tests, the command-line tool) uses the
// wider units too:
// - AVX-512: vpcompressd / vpcompresspd into a register, then a plain store, 16 entries an
//   instruction. Not the compressing store (_mm512_mask_compressstoreu_*): on AMD Zen 4 that
//   one is microcoded; the IJB-C blocks' cells and packing took 34-37 ms with it, 15-19 ms
//   with the loop and 6-9 ms with the register form (2-core EPYC, g++ 12).
// - Otherwise (other CPUs and compilers, nvcc's device pass, or UNITSFACE_NO_ISA_DISPATCH
//   defined), the loop. An AVX2 variant (a 32-entry mask from vmovmskps, then its set bits)
//   measured no faster than the loop, so there is none.
// Both skip a group of 16 that keeps nothing after one test (MegaFace-like streams, almost all
// below the genuine scores: 11.5 ms per 33.5 M scores against 23 ms without the test).
// Every path gives the same output; tests/metrics/test_pack_kept.cpp runs each one the CPU
// has against a reference.
#pragma once

#include <bit>
#include <cstdint>
#include <type_traits>

#include "unitsface/core/config.hpp"

#if !defined(UNITSFACE_NO_ISA_DISPATCH) && (defined(__x86_64__) || defined(__i386__)) && \
    (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDA_ARCH__)
#define UNITSFACE_ISA_DISPATCH 1
#include <immintrin.h>
#else
#define UNITSFACE_ISA_DISPATCH 0
#endif

namespace unitsface::metrics::detail {

/// The instruction sets pack_kept can use, widest last.
enum class pack_isa { generic, avx512 };

/// Moves the entries j < m with keep[j] != 0 of `cell` and `score` to the front of
/// `cell_out` and `score_out`, in order, and returns their number. The outputs hold m entries
/// and do not overlap the inputs; what lies past the returned count is unspecified.
template <class S>
index_t pack_kept_generic(const std::int32_t* keep, const std::int32_t* cell, const S* score,
                          index_t m, std::int32_t* cell_out, S* score_out) {
  // In groups of 16: a group that keeps nothing (most of them where the kept entries are few:
  // MegaFace's and all-pairs' impostors above the lowest genuine score) costs one vectorised
  // test.
  constexpr index_t group = 16;
  index_t k = 0;
  for (index_t g = 0; g < m; g += group) {
    const index_t end = g + group < m ? g + group : m;
    std::int32_t any = 0;
    for (index_t j = g; j < end; ++j) any |= keep[j];
    if (any == 0) continue;
    for (index_t j = g; j < end; ++j) {  // written at k <= j whether kept or not: no branch
      cell_out[k] = cell[j];
      score_out[k] = score[j];
      k += keep[j] != 0;
    }
  }
  return k;
}

#if UNITSFACE_ISA_DISPATCH

// Stores whole registers at k <= j, so they end by entry j + 15 < m: within the outputs.
template <class S>
__attribute__((target("avx512f"))) index_t pack_kept_avx512(const std::int32_t* keep,
                                                            const std::int32_t* cell,
                                                            const S* score, index_t m,
                                                            std::int32_t* cell_out, S* score_out) {
  index_t k = 0, j = 0;
  for (; j + 16 <= m; j += 16) {
    const __m512i kv = _mm512_loadu_si512(keep + j);
    const __mmask16 mask = _mm512_test_epi32_mask(kv, kv);
    if (mask == 0) continue;
    _mm512_storeu_si512(cell_out + k,
                        _mm512_maskz_compress_epi32(mask, _mm512_loadu_si512(cell + j)));
    if constexpr (std::is_same_v<S, float>) {
      _mm512_storeu_ps(score_out + k, _mm512_maskz_compress_ps(mask, _mm512_loadu_ps(score + j)));
      k += std::popcount(unsigned(mask));
    } else {  // 8 doubles a register: the mask's halves
      const auto low = __mmask8(mask & 0xffu), high = __mmask8(mask >> 8);
      _mm512_storeu_pd(score_out + k, _mm512_maskz_compress_pd(low, _mm512_loadu_pd(score + j)));
      k += std::popcount(unsigned(low));
      _mm512_storeu_pd(score_out + k,
                       _mm512_maskz_compress_pd(high, _mm512_loadu_pd(score + j + 8)));
      k += std::popcount(unsigned(high));
    }
  }
  return k + pack_kept_generic(keep + j, cell + j, score + j, m - j, cell_out + k, score_out + k);
}

#endif  // UNITSFACE_ISA_DISPATCH

/// Whether this CPU (and build) can run pack_kept's path for `isa`.
inline bool pack_isa_available(pack_isa isa) {
#if UNITSFACE_ISA_DISPATCH
  switch (isa) {
    case pack_isa::avx512:
      return __builtin_cpu_supports("avx512f");
    case pack_isa::generic:
      return true;
  }
  return false;
#else
  return isa == pack_isa::generic;
#endif
}

/// The widest path this CPU can run, found once.
inline pack_isa pack_isa_in_use() {
  static const pack_isa isa =
      pack_isa_available(pack_isa::avx512) ? pack_isa::avx512 : pack_isa::generic;
  return isa;
}

/// pack_kept_generic's result, through the path `isa` (which must be available); scores are
/// float or double.
template <class S>
index_t pack_kept(pack_isa isa, const std::int32_t* keep, const std::int32_t* cell, const S* score,
                  index_t m, std::int32_t* cell_out, S* score_out) {
#if UNITSFACE_ISA_DISPATCH
  if (isa == pack_isa::avx512) return pack_kept_avx512(keep, cell, score, m, cell_out, score_out);
#endif
  (void)isa;
  return pack_kept_generic(keep, cell, score, m, cell_out, score_out);
}

}  // namespace unitsface::metrics::detail
