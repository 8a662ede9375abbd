// Determinism: every loss, run twice on the same inputs in the suite's backend, gives
// bit-identical losses, gradients and biases; on the OpenMP backend this holds with two
// threads, and one and two threads give the same bits.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "loss_cases.hpp"

#if defined(UNITSFACE_TEST_BACKEND_THRUST_OMP) && defined(_OPENMP)
#include <omp.h>
#endif

using namespace unitsface;
using namespace unitsface::test;

namespace determinism_test {

/// Everything a loss call gives back: the loss, d/dx, d/dW (class weights), d/db, and the
/// bias it was evaluated with (set by the data-dependent initialisation in some runs).
template <class T>
struct result {
  T loss = T(0);
  std::vector<T> gx, gw, gb, bias;
};

template <class T>
struct named_loss {
  std::string name;
  std::function<result<T>(const problem<T>&)> run;
};

template <class T>
result<T> from_outcome(const outcome<T>& o, std::vector<T> bias) {
  return result<T>{o.loss, o.gx, o.gw, o.gb, std::move(bias)};
}

/// Every loss of the library with all its gradients (forward_backward): the cases of
/// loss_cases.hpp at a fixed bias, the official defaults with their data-dependent bias
/// initialisation (which adds a statistics pass and a reduction), a tiled head, and two
/// steps of the embedded loss.
template <class T>
std::vector<named_loss<T>> every_loss() {
  std::vector<named_loss<T>> v;
  for (const loss_case<T>& c : all_loss_cases<T>()) {
    v.push_back({c.name, [c](const problem<T>& p) {
                   const std::vector<T> bias = bias_for(c, p.C, T(3));
                   return from_outcome(c.run(p, bias, true), bias);
                 }});
  }
  v.push_back({"uss official defaults", [](const problem<T>& p) {
                 uss_loss<T> L;
                 const outcome<T> o = run_loss(L, p, refs_mode::memory, true);
                 return from_outcome(o, L.biases());
               }});
  v.push_back({"ss_bce official defaults", [](const problem<T>& p) {
                 ss_bce_loss<T> L(p.C);
                 const outcome<T> o = run_loss(L, p, refs_mode::masked, true);
                 return from_outcome(o, L.biases());
               }});
  v.push_back({"bce head official defaults", [](const problem<T>& p) {
                 bce_head<T> L(p.C);
                 const outcome<T> o = run_loss(L, p, refs_mode::weights, true);
                 return from_outcome(o, L.biases());
               }});
  v.push_back({"uce head official defaults", [](const problem<T>& p) {
                 uce_head<T> L(p.C);
                 const outcome<T> o = run_loss(L, p, refs_mode::weights, true);
                 return from_outcome(o, L.biases());
               }});
  v.push_back({"arcface tiled", [](const problem<T>& p) {
                 auto o = arcface_options<T>(T(0.5));
                 o.tile_columns = 5;  // several tiles, walked in alternating directions
                 arcface_loss<T> L(o);
                 return from_outcome(run_loss(L, p, refs_mode::weights, true), {});
               }});
  v.push_back({"embedded cosface + uss", [](const problem<T>& p) {
                 const auto& pol = policy();
                 embedded_loss<T> E;  // official defaults, data-dependent USS bias
                 losses::feature_memory<T, policy_type> mem(p.C, p.D, {}, pol);
                 const device_problem<T> d(p);
                 auto gx = backends::make_buffer<T>(pol, p.B * p.D);
                 auto gw = backends::make_buffer<T>(pol, p.C * p.D);
                 const gradients<T> g(matrix_view<T>(backends::data_ptr(gx), p.B, p.D),
                                      matrix_view<T>(backends::data_ptr(gw), p.C, p.D));
                 E.step(pol, d.input(), d.labels(), d.rows(), g, mem, 0);  // warm-up
                 const loss_result<T> r = E.step(pol, d.input(), d.labels(), d.rows(), g, mem, 1);
                 result<T> out;
                 out.loss = r.loss;
                 out.gx = download<T>(backends::data_ptr(gx), p.B * p.D);
                 out.gw = download<T>(backends::data_ptr(gw), p.C * p.D);
                 out.gb = r.grad_bias;
                 out.bias = r.bias_used;
                 return out;
               }});
  return v;
}

/// Small, and large enough that the bias gradient's column sums take their two-level path
/// (N >= 256) and the parallel loops get many rows per thread.
template <class T>
std::vector<problem<T>> problems() {
  return {make_problem<T>(6, 7, 5, 71), make_problem<T>(48, 260, 32, 72)};
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

template <class T>
bool same_bits(const result<T>& a, const result<T>& b) {
  return std::memcmp(&a.loss, &b.loss, sizeof(T)) == 0 && same_bits(a.gx, b.gx) &&
         same_bits(a.gw, b.gw) && same_bits(a.gb, b.gb) && same_bits(a.bias, b.bias);
}

/// The largest difference between two results, relative to the largest element of each
/// field of b (the vectors' README measure), over the loss and every field.
template <class T>
double max_rel_diff(const result<T>& a, const result<T>& b) {
  double d = rel_diff(std::vector<T>{a.loss}, std::vector<T>{b.loss});
  for (double e :
       {rel_diff(a.gx, b.gx), rel_diff(a.gw, b.gw), rel_diff(a.gb, b.gb), rel_diff(a.bias, b.bias)})
    d = std::max(d, e);
  return d;
}

/// Every loss on every problem, in order.
template <class T>
std::vector<result<T>> run_all(const std::vector<named_loss<T>>& losses,
                               const std::vector<problem<T>>& ps) {
  std::vector<result<T>> out;
  for (const problem<T>& p : ps)
    for (const named_loss<T>& l : losses) out.push_back(l.run(p));
  return out;
}

#if defined(UNITSFACE_TEST_BACKEND_THRUST_OMP) && defined(_OPENMP)
/// Sets the OpenMP thread count for a scope (the calling thread's, which the backend's
/// parallel regions use), restoring the previous one afterwards.
struct omp_threads {
  int saved;
  explicit omp_threads(int n) : saved(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~omp_threads() { omp_set_num_threads(saved); }
  omp_threads(const omp_threads&) = delete;
  omp_threads& operator=(const omp_threads&) = delete;
};

/// Records the size of the team that runs each index of a backend loop.
struct record_team_size {
  int* out;
  void operator()(index_t i) const { out[i] = omp_get_num_threads(); }
};

/// The number of threads the backend's loops run on now.
inline int backend_team_size() {
  std::vector<int> seen(64, 0);  // thrust_omp works on host memory
  backends::for_each_index(policy(), 64, record_team_size{seen.data()});
  return *std::max_element(seen.begin(), seen.end());
}
#endif

#if defined(UNITSFACE_USE_CBLAS)
/// OpenBLAS's threading: 0 sequential, 1 its own pthreads, 2 OpenMP.
extern "C" int openblas_get_parallel();
#endif

}  // namespace determinism_test

TEMPLATE_TEST_CASE("determinism: two runs of every loss give bit-identical results",
                   "[losses][determinism]", float, double) {
  using T = TestType;
  namespace X = determinism_test;
#if defined(UNITSFACE_TEST_BACKEND_THRUST_OMP) && defined(_OPENMP)
  // Two threads explicitly, whatever OMP_NUM_THREADS or the machine would give.
  const X::omp_threads two(2);
  REQUIRE(omp_get_max_threads() == 2);
  REQUIRE(X::backend_team_size() == 2);
#endif
  const auto losses = X::every_loss<T>();
  const auto ps = X::problems<T>();
  const auto first = X::run_all(losses, ps);
  const auto second = X::run_all(losses, ps);
  REQUIRE(first.size() == second.size());
  for (std::size_t k = 0; k < first.size(); ++k) {
    INFO(losses[k % losses.size()].name << " on problem " << k / losses.size());
    CHECK(X::same_bits(first[k], second[k]));
  }
}

#if defined(UNITSFACE_TEST_BACKEND_THRUST_OMP) && defined(_OPENMP)
TEMPLATE_TEST_CASE("determinism: one and two OpenMP threads give bit-identical results",
                   "[losses][determinism][openmp]", float, double) {
  // Measured difference: exactly 0 for every loss and problem. Each parallel loop of the
  // backend writes every output element from one thread in a fixed order, and its sums run
  // over a fixed number of blocks added in order, so the thread count never changes an
  // operation's operands or their order.
  //
  // The matrix products are the BLAS's. OpenBLAS's OpenMP build (which the backend targets
  // link where installed) follows the OpenMP thread count, whatever openblas_set_num_threads
  // says, and its partition of a product changes the product's last bits (relative
  // differences of 3e-7 to 8e-7 in float measured): with that build the two runs are compared
  // within 64 epsilons instead. Two runs at one thread count stay bit-identical with any BLAS
  // (the previous test case).
  using T = TestType;
  namespace X = determinism_test;
  bool blas_follows_openmp = false;
#if defined(UNITSFACE_USE_CBLAS)
  blas_follows_openmp = X::openblas_get_parallel() == 2;
#endif
  const auto losses = X::every_loss<T>();
  const auto ps = X::problems<T>();
  std::vector<X::result<T>> one, two;
  {
    const X::omp_threads t(1);
    REQUIRE(X::backend_team_size() == 1);
    one = X::run_all(losses, ps);
  }
  {
    const X::omp_threads t(2);
    REQUIRE(X::backend_team_size() == 2);
    two = X::run_all(losses, ps);
  }
  REQUIRE(one.size() == two.size());
  for (std::size_t k = 0; k < one.size(); ++k) {
    INFO(losses[k % losses.size()].name << " on problem " << k / losses.size()
                                        << ": largest relative difference "
                                        << X::max_rel_diff(one[k], two[k]));
    if (blas_follows_openmp) {
      CHECK(X::max_rel_diff(one[k], two[k]) <= 64 * double(std::numeric_limits<T>::epsilon()));
    } else {
      CHECK(X::same_bits(one[k], two[k]));
    }
  }
}
#endif
