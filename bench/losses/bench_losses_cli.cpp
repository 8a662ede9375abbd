// bench_losses_cli: times forward_backward of one loss on seeded inputs and prints JSON; with
// --dump FILE it first writes the inputs (raw little-endian: x float32 B*D, labels int64 B,
// references float32 C*D) so that another framework can be timed on the same data.
//
//   bench_losses_cli --loss uss|cosface --B 256 --C 10000 --D 512 --repeat 5 [--dump FILE]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "common.hpp"

int main(int argc, char** argv) {
  using namespace unitsface;
  std::string loss = "uss", dump;
  index_t B = 256, C = 10000, D = 512;
  int repeat = 5;
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
  for (int r = 0; r < repeat; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    value = bench::run_loss(eigen_par, loss, in, bias);
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  double gx2 = 0.0;
  for (float g : in.grad_x) gx2 += double(g) * g;
  std::printf("{\"loss\": %.9g, \"grad_x_norm\": %.9g, \"median_s\": %.6f, \"min_s\": %.6f}\n",
              double(value), std::sqrt(gx2), times[times.size() / 2], times.front());
  return 0;
}
