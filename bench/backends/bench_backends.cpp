// Backends benchmark (CPU): one forward_backward of USS and CosFace per CPU backend built.
//   bench_backends [--benchmark_filter=REGEX] [--benchmark_min_time=SECONDS]
// Backends whose products are plain loops (host, thrust_cpp, thrust_omp) are registered at
// C = 10,000 only: at C = 100,000 one call takes minutes there.
#include "bench_backends.hpp"
#include "unitsface/core/policy.hpp"
#if defined(UNITSFACE_WITH_EIGEN)
#include "unitsface/backends/eigen.hpp"
#endif
#if defined(UNITSFACE_WITH_XTENSOR)
#include "unitsface/backends/xtensor.hpp"
#endif
#if defined(UNITSFACE_WITH_THRUST_CPP) || defined(UNITSFACE_WITH_THRUST_OMP)
#include "unitsface/backends/thrust.hpp"
#endif

int main(int argc, char** argv) {
  using namespace unitsface;
  const std::vector<index_t> small{10000}, both{10000, 100000};
  bench::register_backend(host_policy{}, small);
#if defined(UNITSFACE_WITH_EIGEN)
  bench::register_backend(eigen_policy{}, both);
#endif
#if defined(UNITSFACE_WITH_XTENSOR)
  bench::register_backend(xtensor_policy{}, both);
#endif
#if defined(UNITSFACE_WITH_THRUST_CPP)
  bench::register_backend(thrust_cpp_policy{}, small);
#endif
#if defined(UNITSFACE_WITH_THRUST_OMP)
  bench::register_backend(thrust_omp_policy{}, small);
#endif
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
