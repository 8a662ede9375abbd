// The verification metrics on a Thrust system at IJB-C 1:1 size (19,557 genuine and
// 15,638,932 impostor float scores, ijbc_scores.hpp), the scores and labels already in the
// policy's memory. Shared by the CPU benchmark (bench_metrics_device.cpp: thrust_cpp,
// thrust_omp) and the CUDA one (cuda/bench_metrics_cuda.cu).
//   <backend>/summary : device::summarize_verification (validation, sort, ROC points,
//                       corners and the read-back prefix, AUC, pAUC, EER, three rules)
//   <backend>/summary_corners : device::summarize_corners (validation, the genuine scores
//                       sorted, the impostors counted; AUC, EER, at-most TAR@FAR)
//   <backend>/points  : device::roc_points construction alone (validation, sort, points)
// Wall-clock time: the OpenMP threads and the GPU work are not the main thread's CPU time.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ijbc_scores.hpp"
#include "unitsface/backends/primitives.hpp"
#include "unitsface/metrics/device/verification.hpp"

namespace unitsface::bench {

/// The IJB-C-size scores and labels in the policy's memory, generated once per policy.
template <class Policy>
struct ijbc_on {
  using score_buffer = decltype(backends::make_buffer<float>(std::declval<const Policy&>(), 0));
  using label_buffer =
      decltype(backends::make_buffer<std::uint8_t>(std::declval<const Policy&>(), 0));
  score_buffer s;
  label_buffer l;
  index_t n = 0;
  explicit ijbc_on(const Policy& pol)
      : s(backends::make_buffer<float>(pol, 0)), l(backends::make_buffer<std::uint8_t>(pol, 0)) {
    std::vector<float> hs;
    std::vector<std::uint8_t> hl;
    ijbc::make(hs, hl);
    n = index_t(hs.size());
    s = backends::make_buffer<float>(pol, n);
    l = backends::make_buffer<std::uint8_t>(pol, n);
    backends::copy_from_host(pol, hs.data(), n, backends::data_ptr(s));
    backends::copy_from_host(pol, hl.data(), n, backends::data_ptr(l));
  }
  vector_view<const float> scores() const { return {backends::data_ptr(s), n}; }
  vector_view<const std::uint8_t> labels() const { return {backends::data_ptr(l), n}; }
};

template <class Policy>
const ijbc_on<Policy>& ijbc_data(const Policy& pol) {
  static const ijbc_on<Policy> d(pol);
  return d;
}

template <class Policy>
void register_metrics_backend(const Policy& pol) {
  namespace umd = unitsface::metrics::device;
  const std::string name = Policy::name;
  // summary: the automatic path (sort-free at IJB-C size); summary_full_sort: every score
  // sorted; summary_host_walk: the host rules walking roc_points (the device summary before
  // the sparse walk and the sort-free path), for comparison in the same run.
  const auto summary = [pol](umd::summary_path path) {
    return [pol, path](benchmark::State& state) {
      const auto& d = ijbc_data(pol);
      for (auto _ : state) {
        const auto r = umd::summarize_verification(pol, d.scores(), d.labels(), {}, path);
        benchmark::DoNotOptimize(r.auc);
      }
      state.SetItemsProcessed(state.iterations() * d.n);
    };
  };
  for (const auto& [suffix, path] :
       {std::pair{"/summary", umd::summary_path::automatic},
        std::pair{"/summary_full_sort", umd::summary_path::full_sort}}) {
    benchmark::RegisterBenchmark((name + suffix).c_str(), summary(path))
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->MinTime(1.0);
  }
  // summary_corners: AUC, EER and the at-most TAR@FAR from the corners alone
  // (device::summarize_corners; the IJB-C summary), no impostor sorted.
  benchmark::RegisterBenchmark((name + "/summary_corners").c_str(),
                               [pol](benchmark::State& state) {
                                 const auto& d = ijbc_data(pol);
                                 for (auto _ : state) {
                                   const auto r =
                                       umd::summarize_corners(pol, d.scores(), d.labels());
                                   benchmark::DoNotOptimize(r.auc);
                                 }
                                 state.SetItemsProcessed(state.iterations() * d.n);
                               })
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(1.0);
  benchmark::RegisterBenchmark((name + "/summary_host_walk").c_str(),
                               [pol](benchmark::State& state) {
                                 const auto& d = ijbc_data(pol);
                                 for (auto _ : state) {
                                   const umd::roc_points points(pol, d.scores(), d.labels());
                                   const auto r =
                                       unitsface::metrics::summarize_verification(points);
                                   benchmark::DoNotOptimize(r.auc);
                                 }
                                 state.SetItemsProcessed(state.iterations() * d.n);
                               })
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(1.0);
  benchmark::RegisterBenchmark((name + "/points").c_str(),
                               [pol](benchmark::State& state) {
                                 const auto& d = ijbc_data(pol);
                                 for (auto _ : state) {
                                   const umd::roc_points points(pol, d.scores(), d.labels());
                                   benchmark::DoNotOptimize(points.size());
                                 }
                                 state.SetItemsProcessed(state.iterations() * d.n);
                               })
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(1.0);
}

}  // namespace unitsface::bench
