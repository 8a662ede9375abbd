// Backends benchmark (CUDA): USS-m and CosFace forward_backward on the device, float, D = 512,
// each next to its cuBLAS product floor (bench_backends.hpp): B = 256 at C = 10,000 and
// 100,000; B = 512 at C = 85,742 (the official large setting) and 2,000,000 (a WebFace42M-size
// head), there also with the products in TF32 and BF16 on tensor cores (cuda_tf32, cuda_bf16:
// their loss and input gradient against FP32's as counters). Each call ends with the loss read
// back, so the time covers the whole device work. Exits with 77 when no CUDA device is present.
#include "../cuda_device.hpp"
#include "bench_backends.hpp"
#include "unitsface/backends/cuda.hpp"

int main(int argc, char** argv) {
  using namespace unitsface;
  if (!bench::cuda_device_present("bench_backends_cuda")) return 77;
  static const cuda_policy fp32{};
  const std::vector<bench::shape> large{{512, 85742}, {512, 2000000}};
  bench::register_backend(fp32, "cuda",
                          {{256, 10000}, {256, 100000}, {512, 85742}, {512, 2000000}});
  bench::register_backend(cuda_policy({nullptr, product_precision::tf32}), "cuda_tf32", large,
                          &fp32);
  bench::register_backend(cuda_policy({nullptr, product_precision::bf16}), "cuda_bf16", large,
                          &fp32);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
