// The simulated device (tests/support/simulated_device.hpp) catches what it is there to
// catch: each kind of bad access is made in a child process, which must die of SIGSEGV
// after printing what the access was. Without these, a simulator that let everything
// through would pass every suite built on it.
#include <sys/wait.h>
#include <unistd.h>

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
