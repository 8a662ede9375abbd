// Google Benchmark of the verification metrics at IJB-C 1:1 size (19,557 genuine and
// 15,638,932 impostor float scores), single-threaded.
//   summary       : sort + AUC + partial AUC + EER + TAR@FAR (three rules, six targets)
//   sort          : sorted_scores construction alone (validation + radix sort)
//   walk          : the one-walk summary on already sorted scores
//   tar_at_most   : sort + TAR@FAR at-most only (the scikit-learn comparison's pipeline)
//   full_roc      : sort + the full ROC curve (an output the caller asks for: ~375 MB here)
//   histogram_add : streaming accumulation into a 65536-bin histogram
#include <benchmark/benchmark.h>

#include "ijbc_scores.hpp"
#include "unitsface/metrics.hpp"

namespace um = unitsface::metrics;
using unitsface::index_t;
using unitsface::vector_view;

namespace {

struct data {
  std::vector<float> s;
  std::vector<std::uint8_t> l;
  data() { ijbc::make(s, l); }
  vector_view<const float> scores() const { return {s.data(), index_t(s.size())}; }
  vector_view<const std::uint8_t> labels() const { return {l.data(), index_t(l.size())}; }
};

const data& ijbc_data() {
  static const data d;
  return d;
}

void set_counters(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations() * (ijbc::genuine + ijbc::impostor));
}

void BM_summary(benchmark::State& state) {
  const auto& d = ijbc_data();
  for (auto _ : state) {
    const auto r = um::summarize_verification(d.scores(), d.labels());
    benchmark::DoNotOptimize(r.auc);
  }
  set_counters(state);
}

void BM_sort(benchmark::State& state) {
  const auto& d = ijbc_data();
  for (auto _ : state) {
    const um::sorted_scores<float> s(d.scores(), d.labels());
    benchmark::DoNotOptimize(s.genuine_keys().data());
  }
  set_counters(state);
}

void BM_walk(benchmark::State& state) {
  const auto& d = ijbc_data();
  const um::sorted_scores<float> s(d.scores(), d.labels());
  for (auto _ : state) {
    const auto r = um::summarize_verification(s);
    benchmark::DoNotOptimize(r.auc);
  }
  set_counters(state);
}

void BM_tar_at_most(benchmark::State& state) {
  const auto& d = ijbc_data();
  for (auto _ : state) {
    const um::sorted_scores<float> s(d.scores(), d.labels());
    const auto r = um::tar_at_far(s, um::standard_far_targets());
    const double a = um::roc_auc(s);
    benchmark::DoNotOptimize(r.data());
    benchmark::DoNotOptimize(a);
  }
  set_counters(state);
}

void BM_full_roc(benchmark::State& state) {
  const auto& d = ijbc_data();
  for (auto _ : state) {
    const auto r = um::compute_roc(d.scores(), d.labels());
    benchmark::DoNotOptimize(r.fpr.data());
  }
  set_counters(state);
}

void BM_histogram_add(benchmark::State& state) {
  const auto& d = ijbc_data();
  for (auto _ : state) {
    um::score_histogram h;
    h.add(d.scores(), d.labels());
    benchmark::DoNotOptimize(h.genuine_counts().data());
  }
  set_counters(state);
}

}  // namespace

BENCHMARK(BM_summary)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_sort)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_walk)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_tar_at_most)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_full_roc)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_histogram_add)->Unit(benchmark::kMillisecond)->MinTime(1.0);

BENCHMARK_MAIN();
