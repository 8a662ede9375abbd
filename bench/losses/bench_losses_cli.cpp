// bench_losses_cli: times forward_backward of one loss on seeded inputs and prints JSON; with
// --dump FILE it first writes the inputs (raw little-endian: x float32 B*D, labels int64 B,
// references float32 C*D) so that another framework can be timed on the same data.
// --workspace 1 draws the calls' scratch from a workspace kept across them (core/workspace.hpp),
// as a training loop would. The JSON also gives the memory the calls took beyond the inputs
// and outputs: the peak resident set during them less the resident set before the first.
//
//   bench_losses_cli --loss uss|cosface --B 256 --C 10000 --D 512 --repeat 5 [--dump FILE]
//                    [--workspace 0|1] [--mirror 0|1]
// --mirror 1: USS-m's memory is a feature_memory holding the references (loaded), whose
// normalised mirror the calls use (memory_options::keep_normalized).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <sys/resource.h>

#include "common.hpp"

#if defined(UNITSFACE_BENCH_OPENBLAS)
extern "C" char* openblas_get_corename();
extern "C" char* openblas_get_config();
#endif

namespace {
// The resident set now (VmRSS) and at its peak so far (ru_maxrss), in bytes.
double rss_now() {
  std::ifstream f("/proc/self/status");
  std::string key;
  while (f >> key) {
    if (key == "VmRSS:") {
      double kib = 0;
      f >> kib;
      return kib * 1024.0;
    }
    std::getline(f, key);
  }
  return 0.0;
}
double rss_peak() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) * 1024.0;
}
}  // namespace

int main(int argc, char** argv) {
  using namespace unitsface;
  std::string loss = "uss", dump;
  index_t B = 256, C = 10000, D = 512;
  int repeat = 5;
  bool use_workspace = false, mirror = false;
  float bias = 30.f;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--loss")
      loss = v;
    else if (k == "--B")
      B = std::atoll(v.c_str());
    else if (k == "--C")
      C = std::atoll(v.c_str());
    else if (k == "--D")
      D = std::atoll(v.c_str());
    else if (k == "--repeat")
      repeat = std::atoi(v.c_str());
    else if (k == "--bias")
      bias = std::strtof(v.c_str(), nullptr);
    else if (k == "--dump")
      dump = v;
    else if (k == "--workspace")
      use_workspace = v == "1";
    else if (k == "--mirror")
      mirror = v == "1";
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (loss != "uss" && loss != "cosface") {
    std::fprintf(stderr, "--loss must be uss or cosface\n");
    return 2;
  }
  bench::inputs in = bench::make_inputs(B, C, D, 1);
  if (!dump.empty()) {
    std::ofstream f(dump, std::ios::binary);
    f.write(reinterpret_cast<const char*>(in.x.data()), std::streamsize(in.x.size() * 4));
    f.write(reinterpret_cast<const char*>(in.y.data()), std::streamsize(in.y.size() * 8));
    f.write(reinterpret_cast<const char*>(in.refs.data()), std::streamsize(in.refs.size() * 4));
  }
  std::vector<double> times;
  float value = 0.f;
  workspace ws;
  const auto pooled = with_workspace(eigen_par, ws);
  // The memory (and its mirror) is state a training loop holds, made before the timed calls.
  losses::feature_memory<float, eigen_policy> fm(mirror ? C : 1, D);
  if (mirror) {
    fm.load(in.refs, std::vector<unsigned char>(std::size_t(C), 1));
  }
  const losses::references<float> fm_refs = fm.as_references();
  const losses::references<float>* memory = mirror ? &fm_refs : nullptr;
  const double rss0 = rss_now();
  for (int r = 0; r < repeat; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    value = use_workspace ? bench::run_loss(pooled, loss, in, bias, memory)
                          : bench::run_loss(eigen_par, loss, in, bias, memory);
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  std::string openblas = "none";  // the OpenBLAS build and the kernel it chose, if linked
#if defined(UNITSFACE_BENCH_OPENBLAS)
  openblas = std::string(openblas_get_config()) + " | core " + openblas_get_corename();
#endif
  double gx2 = 0.0;
  for (float g : in.grad_x) gx2 += double(g) * g;
  std::printf(
      "{\"loss\": %.9g, \"grad_x_norm\": %.9g, \"median_s\": %.6f, \"min_s\": %.6f, "
      "\"extra_bytes\": %.0f, \"workspace_bytes\": %zu, \"openblas\": \"%s\"}\n",
      double(value), std::sqrt(gx2), times[times.size() / 2], times.front(),
      std::max(0.0, rss_peak() - rss0), ws.bytes_held(), openblas.c_str());
  return 0;
}
