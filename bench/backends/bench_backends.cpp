// Backends benchmark (CPU): one forward_backward of USS and CosFace per CPU backend built, B =
// 256, next to their product floors (bench_backends.hpp).
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
  const std::vector<bench::shape> small{{256, 10000}}, both{{256, 10000}, {256, 100000}};
  bench::register_backend(host_policy{}, "host", small);
#if defined(UNITSFACE_WITH_EIGEN)
  bench::register_backend(eigen_policy{}, "eigen", both);
#endif
#if defined(UNITSFACE_WITH_XTENSOR)
  bench::register_backend(xtensor_policy{}, "xtensor", both);
#endif
#if defined(UNITSFACE_WITH_THRUST_CPP)
  bench::register_backend(thrust_cpp_policy{}, "thrust_cpp", small);
#endif
#if defined(UNITSFACE_WITH_THRUST_OMP)
  bench::register_backend(thrust_omp_policy{}, "thrust_omp", small);
#endif
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
