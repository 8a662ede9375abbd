// A user's translation unit on one backend, built against its CMake target alone
// (unitsface::<backend>): the backend's header and its dependencies must come with the target.
#include <cmath>
#include <cstdio>
#include <vector>

#include "unitsface/losses.hpp"
#if defined(CONSUMER_BACKEND_EIGEN)
#include "unitsface/backends/eigen.hpp"
static const auto policy = unitsface::eigen_par;
#elif defined(CONSUMER_BACKEND_XTENSOR)
#include "unitsface/backends/xtensor.hpp"
static const auto policy = unitsface::xtensor_par;
#elif defined(CONSUMER_BACKEND_THRUST_CPP)
#include "unitsface/backends/thrust.hpp"
static const unitsface::thrust_cpp_policy policy{};
#elif defined(CONSUMER_BACKEND_THRUST_OMP)
#include "unitsface/backends/thrust.hpp"
static const unitsface::thrust_omp_policy policy{};
#else
#error "CONSUMER_BACKEND_<NAME> is not set"
#endif

int main() {
  namespace uf = unitsface;
  std::vector<double> x{1, 0, 0, 1, 1, 1}, w{1, 0, 0, 1, -1, 0}, gx(6), g0(6);
  std::vector<uf::index_t> y{0, 1, 2};
  uf::losses::cosface_loss<double> loss;
  const auto refs =
      uf::losses::references<double>::weights(uf::make_matrix_view<const double>(w.data(), 3, 2));
  const auto xv = uf::make_matrix_view<const double>(x.data(), 3, 2);
  const auto yv = uf::make_vector_view<const uf::index_t>(y.data(), 3);
  const auto r =
      loss.forward_backward(policy, xv, yv, refs, {uf::make_matrix_view(gx.data(), 3, 2)});
  const auto h =
      loss.forward_backward(uf::seq, xv, yv, refs, {uf::make_matrix_view(g0.data(), 3, 2)});
  if (!(std::fabs(r.loss - h.loss) <= 1e-12 * std::fabs(h.loss))) return 1;
  std::printf("consumer ok: backend loss %.12f, host %.12f\n", r.loss, h.loss);
  return 0;
}
