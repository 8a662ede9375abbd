// The simulated device (tests/support/simulated_device.hpp) catches what it is there to
// catch: each kind of bad access is made in a child process, which must die of SIGSEGV
// after printing what the access was. Without these, a simulator that let everything
// through would pass every suite built on it.
#include <sys/wait.h>
#include <unistd.h>

#include <thrust/fill.h>
#include <thrust/unique.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <stdexcept>
#include <string>
#include <vector>

#include "simulated_device.hpp"
#include "unitsface/backends/primitives.hpp"

using namespace unitsface;
using unitsface::test::simulated_device_policy;

namespace {

struct outcome {
  bool killed_by_segv = false;
  int exit_code = -1;
  std::string output;
};

/// Runs `body` in a child process with its output captured.
template <class F>
outcome in_child(F body) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    body();
    _exit(0);  // no crash: the parent reports it
  }
  close(fds[1]);
  outcome o;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) o.output.append(buf, std::size_t(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  o.killed_by_segv = WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
  if (WIFEXITED(status)) o.exit_code = WEXITSTATUS(status);
  return o;
}

/// `body`, run in a child process, must die of SIGSEGV after printing `message`.
template <class F>
void check_crashes(F body, const char* message) {
  const outcome o = in_child(body);
  INFO(o.output);
  CHECK(o.killed_by_segv);
  CHECK(o.output.find(message) != std::string::npos);
}

template <class T>
struct read_at {
  const T* p;
  T* out;
  void operator()(index_t i) const { out[i] = p[i]; }
};

template <class T>
struct twice {
  T* p;
  void operator()(index_t i) const { p[i] = T(2) * p[i]; }
};

}  // namespace

TEST_CASE("simulated device: kernels and copies reach device memory", "[simulated_device]") {
  const simulated_device_policy pol;
  const std::vector<double> host{1.0, -2.0, 3.5};
  auto buf = backends::make_buffer<double>(pol, 3);
  backends::copy_from_host(pol, host.data(), 3, backends::data_ptr(buf));
  const std::size_t before = test::simulated::kernels_run();
  backends::for_each_index(pol, 3, twice<double>{backends::data_ptr(buf)});
  CHECK(test::simulated::kernels_run() == before + 1);
  std::vector<double> back(3);
  backends::copy_to_host(pol, backends::data_ptr(buf), 3, back.data());
  CHECK(back == std::vector<double>{2.0, -4.0, 7.0});
  // Copies are deep; buffers start zeroed.
  auto copy = buf;
  backends::for_each_index(pol, 3, twice<double>{backends::data_ptr(copy)});
  backends::copy_to_host(pol, backends::data_ptr(buf), 3, back.data());
  CHECK(back[2] == 7.0);
  auto zeros = backends::make_buffer<float>(pol, 5);
  std::vector<float> z(5, 1.0f);
  backends::copy_to_host(pol, backends::data_ptr(zeros), 5, z.data());
  CHECK(z == std::vector<float>(5, 0.0f));
}

TEST_CASE("simulated device: host code reading device memory crashes", "[simulated_device]") {
  check_crashes(
      [] {
        auto buf = backends::make_buffer<double>(simulated_device_policy{}, 4);
        volatile double v = backends::data_ptr(buf)[1];
        (void)v;
      },
      "host code read or wrote device memory");
}

TEST_CASE("simulated device: a kernel reading host memory crashes", "[simulated_device]") {
  check_crashes(
      [] {
        const simulated_device_policy pol;
        const std::vector<double> host(8, 1.0);  // host heap memory handed to a kernel
        auto out = backends::make_buffer<double>(pol, 8);
        backends::for_each_index(pol, 8, read_at<double>{host.data(), backends::data_ptr(out)});
      },
      "a kernel read or wrote host (heap) memory");
}

TEST_CASE("simulated device: a kernel writing past a buffer's end crashes", "[simulated_device]") {
  check_crashes(
      [] {
        const simulated_device_policy pol;
        auto buf = backends::make_buffer<double>(pol, 16);
        backends::for_each_index(pol, 17, twice<double>{backends::data_ptr(buf)});
      },
      "outside every live buffer");
}

TEST_CASE("simulated device: a kernel reading a freed buffer crashes", "[simulated_device]") {
  check_crashes(
      [] {
        const simulated_device_policy pol;
        double* stale = nullptr;
        {
          auto buf = backends::make_buffer<double>(pol, 4);
          stale = backends::data_ptr(buf);
        }
        auto out = backends::make_buffer<double>(pol, 4);
        backends::for_each_index(pol, 4, read_at<double>{stale, backends::data_ptr(out)});
      },
      "outside every live buffer");
}

TEST_CASE("simulated device: the generic primitives run as kernels", "[simulated_device]") {
  // A product through the generic gemm: its rows are one kernel over device buffers.
  const simulated_device_policy pol;
  const std::vector<double> a{1, 2, 3, 4}, b{5, 6, 7, 8};
  auto da = backends::make_buffer<double>(pol, 4);
  auto db = backends::make_buffer<double>(pol, 4);
  auto dc = backends::make_buffer<double>(pol, 4);
  backends::copy_from_host(pol, a.data(), 4, backends::data_ptr(da));
  backends::copy_from_host(pol, b.data(), 4, backends::data_ptr(db));
  const std::size_t before = test::simulated::kernels_run();
  backends::gemm(pol, 1.0, matrix_view<const double>(backends::data_ptr(da), 2, 2),
                 matrix_view<const double>(backends::data_ptr(db), 2, 2), 0.0,
                 matrix_view<double>(backends::data_ptr(dc), 2, 2));
  CHECK(test::simulated::kernels_run() == before + 1);
  std::vector<double> c(4);
  backends::copy_to_host(pol, backends::data_ptr(dc), 4, c.data());
  CHECK(c == std::vector<double>{19, 22, 43, 50});
}

namespace {
// Every index adds into element 0: a data race on a GPU (a lost update, or a sum in any order).
struct racy_sum {
  const double* x;
  double* total;
  void operator()(index_t i) const { total[0] += x[i]; }
};
// Index i reads what index i + 1 writes.
struct racy_shift {
  double* p;
  void operator()(index_t i) const { p[i + 1] = p[i] + 1.0; }
};
}  // namespace

TEST_CASE("simulated device: a kernel whose result depends on its index order is reported",
          "[simulated_device]") {
  const simulated_device_policy pol;
  const std::vector<double> x{1.0, 1e16, -1e16, 0.5, 0.25};  // 0.75 forward, 1 backward
  auto dx = backends::make_buffer<double>(pol, 5);
  backends::copy_from_host(pol, x.data(), 5, backends::data_ptr(dx));
  auto total = backends::make_buffer<double>(pol, 1);
  try {
    backends::for_each_index(pol, 5, racy_sum{backends::data_ptr(dx), backends::data_ptr(total)});
    FAIL("the racy sum was not reported");
  } catch (const std::logic_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("racy_sum") && Catch::Contains("opposite order"));
  }
  CHECK_THROWS_WITH(backends::for_each_index(pol, 4, racy_shift{backends::data_ptr(dx)}),
                    Catch::Contains("racy_shift"));
  // An element-wise kernel is order-independent and passes.
  CHECK_NOTHROW(backends::for_each_index(pol, 5, twice<double>{backends::data_ptr(dx)}));
}

namespace {
// Orders by a table in host memory: a comparator handing a kernel a host pointer.
struct by_host_rank {
  const int* rank;
  bool operator()(int a, int b) const { return rank[a] < rank[b]; }
};
}  // namespace

TEST_CASE("simulated device: the device metrics' Thrust algorithms run as kernels",
          "[simulated_device]") {
  const simulated_device_policy pol;
  const auto exec = simulated_device_policy::traits::exec(pol.state);
  const std::vector<float> k{3, 1, 2, 1}, v{30, 10, 20, 11};
  auto dk = backends::make_buffer<float>(pol, 4);
  auto dv = backends::make_buffer<float>(pol, 4);
  backends::copy_from_host(pol, k.data(), 4, backends::data_ptr(dk));
  backends::copy_from_host(pol, v.data(), 4, backends::data_ptr(dv));
  float* pk = backends::data_ptr(dk);
  float* pv = backends::data_ptr(dv);

  // Each call is one launch over device memory; the host sees the result through a copy.
  const std::size_t before = test::simulated::kernels_run();
  thrust::sort_by_key(exec, pk, pk + 4, pv);
  thrust::inclusive_scan(exec, pv, pv + 4, pv);
  const auto ones = thrust::count_if(exec, pk, pk + 4, [](float x) { return x == 1.0f; });
  const auto at = thrust::lower_bound(exec, pk, pk + 4, 2.0f) - pk;
  CHECK(test::simulated::kernels_run() == before + 4);
  CHECK(ones == 2);
  CHECK(at == 2);
  std::vector<float> hk(4), hv(4);
  backends::copy_to_host(pol, pk, 4, hk.data());
  backends::copy_to_host(pol, pv, 4, hv.data());
  CHECK(hk == std::vector<float>{1, 1, 2, 3});
  CHECK(hv == std::vector<float>{10, 21, 41, 71});  // a stable sort, then the running sum
}

TEST_CASE("simulated device: a Thrust algorithm handed host memory crashes", "[simulated_device]") {
  check_crashes(
      [] {
        const simulated_device_policy pol;
        const std::vector<int> rank{2, 0, 1};            // host heap memory
        auto keys = backends::make_buffer<int>(pol, 3);  // zeros: valid ranks
        auto values = backends::make_buffer<int>(pol, 3);
        int* pk = backends::data_ptr(keys);
        thrust::sort_by_key(simulated_device_policy::traits::exec(pol.state), pk, pk + 3,
                            backends::data_ptr(values), by_host_rank{rank.data()});
      },
      "a kernel read or wrote host (heap) memory");
}

TEST_CASE("simulated device: a Thrust algorithm without a kernel there crashes as host code",
          "[simulated_device]") {
  // Thrust builds some algorithms on for_each (fill, transform), which then run as the
  // simulated system's kernels. thrust::unique is the CPP system's own loop and has no kernel
  // in the simulated system, so it runs as host code on the device buffer and crashes: a new
  // algorithm in the library cannot pass these tests unsimulated.
  const simulated_device_policy pol;
  auto d = backends::make_buffer<int>(pol, 3);
  int* p = backends::data_ptr(d);
  const std::size_t before = test::simulated::kernels_run();
  thrust::fill(simulated_device_policy::traits::exec(pol.state), p, p + 3, 7);
  CHECK(test::simulated::kernels_run() == before + 1);
  check_crashes([p] { thrust::unique(simulated_device_policy::traits::exec({}), p, p + 3); },
                "host code read or wrote device memory");
}
