// The verification summary at IJB-C size on the Thrust CPU systems built (thrust_cpp,
// thrust_omp): see bench_metrics_device.hpp; bench_metrics times the host path on the same
// scores. Run: build/bench/metrics/bench_metrics_device (OMP_NUM_THREADS sets the threads).
#include "bench_metrics_device.hpp"

int main(int argc, char** argv) {
#if defined(UNITSFACE_WITH_THRUST_CPP)
  unitsface::bench::register_metrics_backend(unitsface::thrust_cpp);
#endif
#if defined(UNITSFACE_WITH_THRUST_OMP)
  unitsface::bench::register_metrics_backend(unitsface::thrust_omp);
#endif
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
