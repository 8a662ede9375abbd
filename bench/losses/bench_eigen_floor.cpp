// bench_eigen_floor: one forward_backward on the Eigen backend (eigen_par) next to the
// product floor it cannot beat, measured in the same run: USS-m (memory references, fixed
// bias) against its two products, CosFace with its weight gradient against its three; float32,
// B = D = 512, median of REPS calls. Prints the OpenBLAS build and kernel in use.
//
//   bench_eigen_floor [C=85742] [REPS=5]     (ONLY_USS=1, ONLY_COSFACE=1: that call alone, for
//                                             perf; CACHE=bytes: CosFace's cosine_cache_bytes;
//                                             WS=1: scratch from a workspace kept across calls;
//                                             MIRROR=1: USS-m over a feature_memory's mirror)
#include <cblas.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>
#include "unitsface/backends/eigen.hpp"
#include "unitsface/losses.hpp"
extern "C" char* openblas_get_corename();
extern "C" char* openblas_get_config();
using namespace unitsface;
using namespace unitsface::losses;
template <class F>
double median_time(int n, F f) {
  std::vector<double> t;
  for (int r = 0; r < n; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}
int main(int argc, char** argv) {
  const index_t B = 512, D = 512, C = argc > 1 ? std::atol(argv[1]) : 85742;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 5;
  std::printf("openblas: %s | core %s\n", openblas_get_config(), openblas_get_corename());
  std::mt19937 rng(1);
  std::normal_distribution<float> n01;
  std::vector<float> x(B * D), w(C * D), gx(B * D), gw(C * D), cosb(B * C);
  std::vector<index_t> y(B);
  for (auto& v : x) v = n01(rng);
  for (auto& v : w) v = n01(rng);
  for (index_t i = 0; i < B; ++i) y[i] = (i * 7919) % C;
  matrix_view<const float> xv(x.data(), B, D), wv(w.data(), C, D);
  vector_view<const index_t> yv(y.data(), B);
  binary_options<float> uo;
  uo.init = bias_init::fixed;
  uss_loss<float> uss(uo);
  uss.set_bias(30.f);
  auto cfo = cosface_options<float>();
  if (getenv("CACHE")) cfo.cosine_cache_bytes = std::size_t(atoll(getenv("CACHE")));
  cosface_loss<float> cf(cfo);
  // WS=1: the calls draw their scratch from a workspace kept across them, as a training loop
  // would keep it (core/workspace.hpp); the first call fills it, the timed medians reuse it.
  workspace ws;
  const auto pooled = with_workspace(eigen_par, ws);
  const bool use_ws = getenv("WS") != nullptr;
  // MIRROR=1: USS-m's memory is a feature_memory holding w, whose normalised mirror the
  // calls use (memory_options::keep_normalized), as a training loop's memory would be.
  const bool mirror = getenv("MIRROR") != nullptr;
  feature_memory<float, eigen_policy> fm(mirror ? C : 1, D);
  if (mirror) fm.load(w, std::vector<unsigned char>(std::size_t(C), 1));
  const references<float> memory = mirror ? fm.as_references() : references<float>::memory(wv);
  auto uss_call = [&](const auto& pol, const gradients<float>& g) {
    uss.forward_backward(pol, xv, yv, memory, g);
  };
  auto cf_call = [&](const auto& pol, const gradients<float>& g) {
    cf.forward_backward(pol, xv, yv, references<float>::weights(wv), g);
  };
  const gradients<float> gu(matrix_view<float>(gx.data(), B, D));
  const gradients<float> gc(matrix_view<float>(gx.data(), B, D),
                            matrix_view<float>(gw.data(), C, D));
  if (getenv("ONLY_COSFACE")) {
    std::printf("CosFace %.3f s\n",
                median_time(reps, [&] { use_ws ? cf_call(pooled, gc) : cf_call(eigen_par, gc); }));
    return 0;
  }
  const double t_uss =
      median_time(reps, [&] { use_ws ? uss_call(pooled, gu) : uss_call(eigen_par, gu); });
  if (getenv("ONLY_USS")) {
    std::printf("USS-m %.3f s\n", t_uss);
    return 0;
  }
  const double t_cf =
      median_time(reps, [&] { use_ws ? cf_call(pooled, gc) : cf_call(eigen_par, gc); });
  // The floor: B x C = X W^T, then G W (B x D), then G^T X (C x D).
  auto p1 = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, C, D, 1.f, x.data(), D, w.data(), D,
                0.f, cosb.data(), C);
  };
  auto p2 = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, D, C, 1.f, cosb.data(), C, w.data(),
                D, 0.f, gx.data(), D);
  };
  auto p3 = [&] {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, D, B, 1.f, cosb.data(), C, x.data(), D,
                0.f, gw.data(), D);
  };
  const double f2 = median_time(reps, [&] {
    p1();
    p2();
  });
  const double f3 = median_time(reps, [&] {
    p1();
    p2();
    p3();
  });
  std::printf(
      "C=%ld  USS-m %.3f s = %.2fx floor2 (%.3f s) | CosFace %.3f s = %.2fx floor3 (%.3f s)\n",
      long(C), t_uss, t_uss / f2, f2, t_cf, t_cf / f3, f3);
}
