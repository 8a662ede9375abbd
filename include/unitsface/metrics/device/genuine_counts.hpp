// unitsface metrics on a Thrust system: the sort-free corner counts of a verification set
// whose genuine scores are few (IJB-C 1:1: 19,557 genuine against 15.6 M impostors), the
// device twin of metrics/genuine_buckets.hpp.
//
// Only the genuine scores are sorted (copy_if, sort, reduce_by_key: K distinct values with
// their counts); every impostor is then counted into one of 2K + 1 bins against them: above
// value k (strictly between values k - 1 and k: bin 2k), equal to value k (bin 2k + 1), below
// every value (bin 2K). Those integer counts are the corners of the ROC (the points of
// sorted_scores::walk_corners): AUC, partial AUC, EER and the at-most rule need nothing else.
// The counting is a histogram with integer counts only, so every system and thread count
// gives the same counts:
//   - on CUDA, a kernel of its own (detail::count_bins) with one histogram per block in shared
//     memory when the bins fit there (K up to about 29,000 on an H200), else
//     cub::DeviceHistogram::HistogramRange over the scores' order-preserving keys, with the
//     genuine keys (and each key + 1) as the bin boundaries;
//   - elsewhere (thrust_cpp, thrust_omp, the simulated device), the same bins found by a
//     binary search per impostor, counted per chunk of the scores into a row of its own (one
//     for_each_index over the chunks), then the rows summed per bin (one over the bins).
// The counts are read back in one copy (4K + 1 integers).
#pragma once

#include <thrust/copy.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>
#include <thrust/reduce.h>
#include <thrust/sort.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/config.hpp"
#include "unitsface/metrics/device/roc_points.hpp"
#include "unitsface/metrics/roc.hpp"

#if defined(__CUDACC__)
#include <cub/device/device_histogram.cuh>

#include "unitsface/backends/cuda.hpp"
#endif

namespace unitsface::metrics::device {

namespace detail {

template <class T, class L, class K>
struct genuine_key {
  vector_view<const T> scores;
  vector_view<const L> labels;
  UNITSFACE_HD K operator()(index_t i) const { return descending_key(scores[i]); }
};

template <class L>
struct is_genuine_at {
  vector_view<const L> labels;
  UNITSFACE_HD bool operator()(index_t i) const { return labels[i] == L(1); }
};

/// The bin of score i against the K distinct genuine keys `g` (ascending keys: descending
/// scores), or -1 for a genuine score.
template <class T, class L, class K>
struct impostor_bin {
  vector_view<const T> scores;
  vector_view<const L> labels;
  const K* g;
  index_t k;
  UNITSFACE_HD index_t operator()(index_t i) const {
    if (labels[i] == L(1)) return -1;
    const K key = descending_key(scores[i]);
    index_t lo = 0, hi = k;  // the first genuine key >= key
    while (lo < hi) {
      const index_t mid = lo + (hi - lo) / 2;
      if (g[mid] < key) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo < k && g[lo] == key ? 2 * lo + 1 : 2 * lo;
  }
};

struct fill_one {
  index_t* out;
  UNITSFACE_HD void operator()(index_t i) const { out[i] = 1; }
};

/// Chunk c's impostors counted into its own row of `bins` counts.
template <class Bin>
struct count_chunk {
  Bin bin;
  index_t n, chunk, bins;
  index_t* rows;
  UNITSFACE_HD void operator()(index_t c) const {
    index_t* row = rows + c * bins;
    const index_t end = (c + 1) * chunk < n ? (c + 1) * chunk : n;
    for (index_t i = c * chunk; i < end; ++i) {
      const index_t b = bin(i);
      if (b >= 0) ++row[b];
    }
  }
};

/// Bin b's total over the chunks' rows.
struct sum_rows {
  const index_t* rows;
  index_t chunks, bins;
  index_t* out;
  UNITSFACE_HD void operator()(index_t b) const {
    index_t s = 0;
    for (index_t c = 0; c < chunks; ++c) s += rows[c * bins + b];
    out[b] = s;
  }
};

/// The table read back: the K genuine keys (their bits), their counts, then the 2K + 1 bins.
template <class K, class Count>
struct pack_table {
  const K* keys;
  const index_t* genuine;
  const Count* bins;  // null: the bins are in place already
  index_t k;
  index_t* table;
  UNITSFACE_HD void operator()(index_t i) const {
    if (i < k) {
      table[i] = index_t(keys[i]);
      table[k + i] = genuine[i];
    }
    if (bins != nullptr) table[2 * k + i] = index_t(bins[i]);
  }
};

#if defined(__CUDACC__)
/// The histogram's samples: an impostor's key, or the highest key (outside every bin) for a
/// genuine score.
template <class T, class L, class K>
struct impostor_key {
  vector_view<const T> scores;
  vector_view<const L> labels;
  UNITSFACE_HD K operator()(index_t i) const {
    return labels[i] == L(1) ? std::numeric_limits<K>::max() : descending_key(scores[i]);
  }
};

/// Level 2j + 1 is genuine key j, level 2j + 2 that key + 1, level 0 the lowest key and
/// level 2K + 1 the highest (no finite score has it, so the genuine samples fall outside).
template <class K>
struct bin_levels {
  const K* g;
  index_t k;
  K* levels;
  UNITSFACE_HD void operator()(index_t j) const {
    if (j == 0) {
      levels[0] = K(0);
      levels[2 * k + 1] = std::numeric_limits<K>::max();
    }
    levels[2 * j + 1] = g[j];
    levels[2 * j + 2] = K(g[j] + 1);
  }
};

/// count_bins' block size: one block of 1024 threads per SM when the bins fill the shared
/// memory (IJB-C: 39,115 bins, 156 KB), so 32 warps hide the search's load latency.
inline constexpr int count_bins_threads = 1024;

/// The impostors counted into the 2K + 1 bins of impostor_bin (the numbering of bin_levels'
/// CUB bins too) against the K ascending genuine keys `g`, added to `hist` (zeroed).
///
/// Why not CUB's histogram: with 4K + 2 levels (IJB-C: K = 19.5k) it cannot privatise the bins
/// in shared memory and counts with global atomics, and the impostors are very skewed (IJB-C:
/// 53.6 % below every genuine value, one bin; 32.7 % between the lowest and the 8th-lowest
/// genuine value, a few bins): millions of atomics on a few addresses serialise (3.55 ms for
/// the whole summary on an H200). Here each block counts in its own 32-bit bins in dynamic
/// shared memory (2K + 1 counts, then the keys when they fit beside them), and:
///   - a sample below every genuine value (key > g[K - 1]) is counted in a register, the
///     warps' sums added once per warp to bin 2K: no search, no atomic for over half the set;
///   - any other impostor finds its bin by a binary search over the K keys (the first key >=
///     its key: bin 2j + 1 if equal, else 2j), and each warp adds one shared atomic per
///     distinct bin among its lanes (__match_any_sync; the leader adds the lanes' count);
///   - the block then adds its non-zero bins to `hist` (integer atomics: deterministic).
/// The grid-stride loop runs per warp (a warp's lanes take samples first + 0..31 and run the
/// same iterations), so every lane reaches the warp intrinsics; indices are 64-bit. A block
/// sees at most ceil(n / stride) * blockDim.x samples, which the caller keeps below 2^32.
template <class T, class L, class K>
__global__ void __launch_bounds__(count_bins_threads, 1)
    count_bins(vector_view<const T> scores, vector_view<const L> labels, const K* g, index_t k,
               bool keys_in_shared, unsigned long long* hist) {
  extern __shared__ __align__(16) unsigned char smem[];
  // The keys first (8-byte aligned for double's keys), when they fit, then the counts.
  K* shared_keys = reinterpret_cast<K*>(smem);
  unsigned* bin = reinterpret_cast<unsigned*>(smem + (keys_in_shared ? k * sizeof(K) : 0));
  const int bins = int(2 * k + 1);
  for (int b = int(threadIdx.x); b < bins; b += int(blockDim.x)) bin[b] = 0;
  if (keys_in_shared) {
    for (int j = int(threadIdx.x); j < int(k); j += int(blockDim.x)) shared_keys[j] = g[j];
  }
  const K* keys = keys_in_shared ? shared_keys : g;
  __syncthreads();

  constexpr unsigned all = 0xffffffffu;
  const K lowest = g[k - 1];  // the lowest genuine value's key (keys ascend as scores descend)
  const unsigned lane = threadIdx.x % 32;
  const index_t n = scores.size(), stride = index_t(gridDim.x) * blockDim.x;
  unsigned below = 0;  // this lane's samples below every genuine value
  for (index_t first = index_t(blockIdx.x) * blockDim.x + (threadIdx.x - lane); first < n;
       first += stride) {
    const index_t i = first + lane;
    int b = -1;  // the bin counted in shared memory, or none
    if (i < n && labels[i] != L(1)) {
      const K key = descending_key(scores[i]);
      if (key > lowest) {
        ++below;
      } else {
        // The first key >= key (branch-free, the same steps for every lane); it exists since
        // key <= g[K - 1].
        const K* base = keys;
        for (int len = int(k); len > 1;) {
          const int half = len / 2;
          base = base[half] < key ? base + half : base;
          len -= half;
        }
        const int j = int(base - keys) + (*base < key ? 1 : 0);
        b = keys[j] == key ? 2 * j + 1 : 2 * j;
      }
    }
    const unsigned peers = __match_any_sync(all, b);
    if (b >= 0 && lane == unsigned(__ffs(int(peers)) - 1))
      atomicAdd(&bin[b], unsigned(__popc(peers)));
  }
  for (int offset = 16; offset > 0; offset /= 2) below += __shfl_down_sync(all, below, offset);
  if (lane == 0 && below > 0) atomicAdd(&bin[bins - 1], below);
  __syncthreads();
  for (int b = int(threadIdx.x); b < bins; b += int(blockDim.x)) {
    if (const unsigned c = bin[b]; c > 0) atomicAdd(&hist[b], static_cast<unsigned long long>(c));
  }
}
#endif

}  // namespace detail

/// The corner counts of a verification set on a Thrust system, read back: the distinct
/// genuine values (highest first) with their genuine counts, and the impostors above, equal
/// to and below them.
template <class T>
struct genuine_counts {
  std::vector<double> values;    ///< distinct genuine scores, highest first
  std::vector<index_t> genuine;  ///< genuine scores equal to each
  std::vector<index_t> equal;    ///< impostor scores equal to each
  std::vector<index_t> above;    ///< K + 1: strictly between value k - 1 (or +inf) and k
  index_t genuine_total = 0, impostor_total = 0;

  /// visit(fp, tp, threshold, run) at the corners of the ROC, highest threshold first (the
  /// points of roc_points::walk_corners). The end of an impostor run (`run` >= 0: the bucket
  /// above value `run`, or below every value when run == K) gets threshold NaN: its lowest
  /// score is not counted here (the caller reads it from the points above a floor, when a
  /// rule needs it).
  template <class Visit>
  void walk_corners(Visit&& visit) const {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    index_t tp = 0, fp = 0;
    for (std::size_t k = 0; k < values.size(); ++k) {
      if (above[k] > 0) {
        fp += above[k];
        visit(fp, tp, nan, index_t(k));
      }
      tp += genuine[k];
      fp += equal[k];
      visit(fp, tp, values[k], index_t(-1));
    }
    const std::size_t last = values.size();
    if (above[last] > 0) visit(fp + above[last], tp, nan, index_t(last));
  }
};

/// Counts (see the file comment) of scores and labels already validated (`genuine` of them
/// genuine, detail::validate_scores).
template <thrust_system_policy Policy, class T, class L>
genuine_counts<T> count_against_genuine(const Policy& pol, vector_view<const T> s,
                                        vector_view<const L> l, index_t genuine) {
  using K = detail::score_key_t<T>;
  const index_t n = s.size();
  const thrust::counting_iterator<index_t> first(0);
  // The genuine keys, sorted (ascending keys: descending scores), distinct with counts.
  auto gkeys = backends::make_buffer<K>(pol, genuine);
  auto ones = backends::make_buffer<index_t>(pol, genuine);
  K* gk = backends::data_ptr(gkeys);
  index_t* go = backends::data_ptr(ones);
  thrust::copy_if(detail::exec(pol),
                  thrust::make_transform_iterator(first, detail::genuine_key<T, L, K>{s, l}),
                  thrust::make_transform_iterator(first + n, detail::genuine_key<T, L, K>{s, l}),
                  first, gk, detail::is_genuine_at<L>{l});
  backends::for_each_index(pol, genuine, detail::fill_one{go});
  thrust::sort_by_key(detail::exec(pol), gk, gk + genuine, go);
  auto ukeys = backends::make_buffer<K>(pol, genuine);
  auto ucount = backends::make_buffer<index_t>(pol, genuine);
  K* uk = backends::data_ptr(ukeys);
  index_t* uc = backends::data_ptr(ucount);
  const auto ends = thrust::reduce_by_key(detail::sync_exec(pol), gk, gk + genuine, go, uk, uc);
  const index_t k = index_t(ends.first - uk);
  const index_t bins = 2 * k + 1;

  auto table = backends::make_buffer<index_t>(pol, 4 * k + 1);
  index_t* tab = backends::data_ptr(table);
  bool counted = false;
#if defined(__CUDACC__)
  if constexpr (std::is_same_v<typename Policy::system, thrust::system::cuda::tag>) {
    using backends::cuda_detail::check;
    const cudaStream_t stream = pol.state.stream;
    int device = 0, sms = 0, shared_max = 0;
    check(cudaGetDevice(&device), "cudaGetDevice");
    check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device),
          "cudaDeviceGetAttribute");
    check(cudaDeviceGetAttribute(&shared_max, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
          "cudaDeviceGetAttribute");
    const auto count_bytes = std::size_t(bins) * sizeof(unsigned);
    const auto key_bytes = std::size_t(k) * sizeof(K);
    if (k > 0 && count_bytes <= std::size_t(shared_max)) {
      // The block-private bins (detail::count_bins), with the keys beside them if they fit
      // (not at IJB-C size on an H200: 156 + 78 KB > 227 KB; they are read through L1 then).
      const bool keys_in_shared = count_bytes + key_bytes <= std::size_t(shared_max);
      const std::size_t bytes = count_bytes + (keys_in_shared ? key_bytes : 0);
      const auto kernel = detail::count_bins<T, L, K>;
      constexpr int threads = detail::count_bins_threads;
      check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)),
            "cudaFuncSetAttribute");
      int per_sm = 0;
      check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, bytes),
            "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
      // One wave of resident blocks: each block zeroes and flushes all 2K + 1 bins, so more
      // blocks than fit at once would only add flushes.
      const index_t blocks =
          std::clamp<index_t>((n + threads - 1) / threads, 1, index_t(sms) * std::max(per_sm, 1));
      const index_t stride = blocks * threads;
      // A block's 32-bit counts hold its samples: at most ceil(n / stride) per thread.
      if ((n + stride - 1) / stride * threads <= index_t(std::numeric_limits<unsigned>::max())) {
        auto hist = backends::make_buffer<unsigned long long>(pol, bins);  // zeroed
        kernel<<<unsigned(blocks), threads, bytes, stream>>>(s, l, uk, k, keys_in_shared,
                                                             backends::data_ptr(hist));
        check(cudaGetLastError(), "count_bins");
        backends::for_each_index(
            pol, bins,
            detail::pack_table<K, unsigned long long>{uk, uc, backends::data_ptr(hist), k, tab});
        counted = true;
      }
    }
    // CUB's histogram counts in int: sets of 2^31 scores or more take the generic way.
    if (!counted && n < index_t(std::numeric_limits<int>::max())) {
      auto levels = backends::make_buffer<K>(pol, bins + 1);
      auto hist = backends::make_buffer<int>(pol, bins);
      K* lv = backends::data_ptr(levels);
      backends::for_each_index(pol, k, detail::bin_levels<K>{uk, k, lv});
      const auto samples =
          thrust::make_transform_iterator(first, detail::impostor_key<T, L, K>{s, l});
      std::size_t temp_bytes = 0;
      check(cub::DeviceHistogram::HistogramRange(nullptr, temp_bytes, samples,
                                                 backends::data_ptr(hist), int(bins + 1), lv,
                                                 int(n), stream),
            "cub::DeviceHistogram::HistogramRange");
      auto temp = backends::make_buffer<unsigned char>(pol, index_t(temp_bytes) + 1);
      check(cub::DeviceHistogram::HistogramRange(backends::data_ptr(temp), temp_bytes, samples,
                                                 backends::data_ptr(hist), int(bins + 1), lv,
                                                 int(n), stream),
            "cub::DeviceHistogram::HistogramRange");
      backends::for_each_index(
          pol, bins, detail::pack_table<K, int>{uk, uc, backends::data_ptr(hist), k, tab});
      counted = true;
    }
  }
#endif
  if (!counted) {
    // Chunks of at least 4 bins' worth of scores each, at most 64 (the rows' memory: 64 rows
    // of 2K + 1 counts, 20 MB at IJB-C size).
    const index_t chunks = std::clamp<index_t>(n / std::max<index_t>(4 * bins, 1), 1, 64);
    const index_t chunk = (n + chunks - 1) / chunks;
    auto rows = backends::make_buffer<index_t>(pol, chunks * bins);
    using bin_of = detail::impostor_bin<T, L, K>;
    backends::for_each_index(
        pol, chunks,
        detail::count_chunk<bin_of>{bin_of{s, l, uk, k}, n, chunk, bins, backends::data_ptr(rows)});
    backends::for_each_index(pol, bins,
                             detail::sum_rows{backends::data_ptr(rows), chunks, bins, tab + 2 * k});
    backends::for_each_index(pol, bins, detail::pack_table<K, index_t>{uk, uc, nullptr, k, tab});
  }
  std::vector<index_t> host(std::size_t(4 * k + 1));
  backends::copy_to_host(pol, tab, 4 * k + 1, host.data());

  genuine_counts<T> r;
  r.genuine_total = genuine;
  r.impostor_total = n - genuine;
  r.values.resize(std::size_t(k));
  r.genuine.assign(host.begin() + k, host.begin() + 2 * k);
  r.equal.resize(std::size_t(k));
  r.above.resize(std::size_t(k + 1));
  for (index_t j = 0; j < k; ++j) {
    r.values[std::size_t(j)] = detail::threshold_of<T>(K(host[std::size_t(j)]));
    r.above[std::size_t(j)] = host[std::size_t(2 * k + 2 * j)];
    r.equal[std::size_t(j)] = host[std::size_t(2 * k + 2 * j + 1)];
  }
  r.above[std::size_t(k)] = host[std::size_t(4 * k)];
  return r;
}

}  // namespace unitsface::metrics::device
