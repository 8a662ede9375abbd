// Times unitsface's ROC summary on scores read from a binary file (see ijbc_scores.hpp) and
// prints the timing, the peak extra memory and the results as JSON, for compare_sklearn.py:
//   bench_metrics_run IN.bin [REPEATS]
// Pipeline timed: sort + AUC + TAR@FAR (at-most rule, 1e-6 ... 1e-1), as the scikit-learn
// side (roc_curve + auc + TAR@FAR); and the sort-free path (genuine_buckets: the genuine
// scores sorted, the impostors counted; AUC, EER, TAR@FAR at most). Peak extra memory = VmHWM after
// the first run minus VmHWM after loading the input (the input is resident from then on).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "ijbc_scores.hpp"
#include "unitsface/metrics.hpp"
#include "unitsface/metrics/genuine_buckets.hpp"

namespace um = unitsface::metrics;
using unitsface::index_t;

namespace {

long status_kib(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string key = std::string(field) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::stol(line.substr(key.size()));
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_metrics_run IN.bin [REPEATS]\n");
    return 2;
  }
  const int repeats = argc > 2 ? std::max(1, std::atoi(argv[2])) : 3;
  std::vector<float> s;
  std::vector<std::uint8_t> l;
  if (!ijbc::read(argv[1], s, l)) {
    std::fprintf(stderr, "cannot read %s\n", argv[1]);
    return 1;
  }
  const unitsface::vector_view<const float> sv(s.data(), index_t(s.size()));
  const unitsface::vector_view<const std::uint8_t> lv(l.data(), index_t(l.size()));
  const long hwm_loaded = status_kib("VmHWM");
  const auto targets = um::standard_far_targets();
  double best = 1e300, best_sort = 1e300;
  std::vector<um::tar_at_far_result> tars;
  double auc = 0, eer = 0;
  long hwm_after = 0;
  std::size_t counted_peak = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    const um::sorted_scores<float> ss(sv, lv);
    const auto t1 = std::chrono::steady_clock::now();
    tars = um::tar_at_far(ss, targets, um::far_rule::at_most);
    auc = um::roc_auc(ss);
    const auto t2 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double>(t2 - t0).count());
    best_sort = std::min(best_sort, std::chrono::duration<double>(t1 - t0).count());
    if (r == 0) {
      hwm_after = status_kib("VmHWM");
      counted_peak = ss.peak_bytes();
      eer = um::equal_error_rate(ss).eer;  // reported, not timed
    }
  }
  // The sort-free path (metrics/genuine_buckets.hpp): only the genuine scores sorted, every
  // impostor counted into their buckets; AUC, EER and the at-most rule from the corners.
  double best_buckets = 1e300;
  um::corner_summary corners;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    corners = um::summarize_corners(um::genuine_buckets::from_scores(sv, lv), targets);
    const auto t1 = std::chrono::steady_clock::now();
    best_buckets = std::min(best_buckets, std::chrono::duration<double>(t1 - t0).count());
  }
  // Full summary (three rules, EER, partial AUC) timed separately.
  const auto t3 = std::chrono::steady_clock::now();
  const auto sum = um::summarize_verification(sv, lv);
  const auto t4 = std::chrono::steady_clock::now();
  std::printf("{\n  \"n\": %zu,\n  \"input_bytes\": %zu,\n", s.size(), s.size() * 5);
  std::printf("  \"seconds\": %.6f,\n  \"seconds_sort\": %.6f,\n", best, best_sort);
  std::printf("  \"seconds_full_summary\": %.6f,\n",
              std::chrono::duration<double>(t4 - t3).count());
  std::printf("  \"peak_extra_bytes\": %ld,\n  \"counted_peak_bytes\": %zu,\n",
              (hwm_after - hwm_loaded) * 1024, counted_peak);
  std::printf("  \"auc\": %.17g,\n  \"eer\": %.17g,\n  \"summary_auc\": %.17g,\n", auc, eer,
              sum.auc);
  std::printf("  \"seconds_buckets\": %.6f,\n  \"buckets_auc\": %.17g,\n", best_buckets,
              corners.auc);
  std::printf("  \"buckets_eer\": %.17g,\n  \"buckets_tar_at_far\": [\n", corners.eer.eer);
  for (std::size_t i = 0; i < corners.at_most.size(); ++i) {
    const auto& t = corners.at_most[i];
    std::printf("    {\"target\": %.17g, \"tar\": %.17g, \"threshold\": %.17g, \"far\": %.17g}%s\n",
                t.target, t.tar, t.threshold, t.far, i + 1 < corners.at_most.size() ? "," : "");
  }
  std::printf("  ],\n");
  std::printf("  \"tar_at_far\": [\n");
  for (std::size_t i = 0; i < tars.size(); ++i) {
    std::printf("    {\"target\": %.17g, \"tar\": %.17g, \"threshold\": %.17g, \"far\": %.17g}%s\n",
                tars[i].target, tars[i].tar, tars[i].threshold, tars[i].far,
                i + 1 < tars.size() ? "," : "");
  }
  std::printf("  ]\n}\n");
  return 0;
}
