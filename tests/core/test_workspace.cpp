// workspace.hpp: blocks are reused best-fit, aligned, returned by their handles, and released.
#include "unitsface/core/workspace.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <utility>

#include "unitsface/backends/primitives.hpp"

using namespace unitsface;

TEST_CASE("workspace: blocks are reused, smallest fitting first", "[core][workspace]") {
  workspace ws;
  void* a = ws.acquire(1000);
  void* b = ws.acquire(100);
  CHECK(ws.allocations() == 2);
  CHECK(ws.in_use() == 2);
  CHECK(reinterpret_cast<std::uintptr_t>(a) % workspace::alignment == 0);
  CHECK(reinterpret_cast<std::uintptr_t>(b) % workspace::alignment == 0);
  ws.release_block(a);
  ws.release_block(b);
  CHECK(ws.in_use() == 0);
  CHECK(ws.acquire(50) == b);   // the smaller of the two that fit
  CHECK(ws.acquire(500) == a);  // b is taken: the larger one
  void* c = ws.acquire(2000);   // none fits: a new block
  CHECK(ws.allocations() == 3);
  CHECK(ws.bytes_held() == 3100);
  ws.release_block(c);
  ws.release();  // frees c only (a and b are in use)
  CHECK(ws.bytes_held() == 1100);
  CHECK(ws.in_use() == 2);
}

TEST_CASE("workspace: buffers give their block back, value-initialised on request",
          "[core][workspace]") {
  workspace ws;
  const float* first = nullptr;
  {
    workspace_buffer<float> z(ws, 16, true);
    first = z.data();
    for (std::size_t i = 0; i < z.size(); ++i) CHECK(z.data()[i] == 0.f);
    for (std::size_t i = 0; i < z.size(); ++i) z.data()[i] = float(i) + 1.f;
    CHECK(ws.in_use() == 1);
    workspace_buffer<float> moved(std::move(z));
    CHECK(z.empty());
    CHECK(moved.size() == 16);
    CHECK(ws.in_use() == 1);
  }
  CHECK(ws.in_use() == 0);
  // The same block again (its contents are not read: they are indeterminate until written).
  workspace_buffer<float> u(ws, 16, false);
  CHECK(ws.allocations() == 1);
  CHECK(u.data() == first);
  workspace_buffer<float> empty(ws, 0, true);
  CHECK(empty.empty());
  CHECK(ws.in_use() == 1);
}

TEST_CASE("with_workspace: the policy's scratch comes from the workspace, the rest does not",
          "[core][workspace]") {
  workspace ws;
  const auto pol = with_workspace(host_policy{}, ws);
  auto s = backends::make_scratch<double>(pol, 8);
  auto u = backends::make_uninitialized_scratch<double>(pol, 8);
  CHECK(ws.in_use() == 2);
  for (std::size_t i = 0; i < s.size(); ++i) CHECK(s.data()[i] == 0.0);
  auto kept = backends::make_buffer<double>(pol, 8);  // long-lived buffers: the policy's own
  CHECK(ws.in_use() == 2);
  CHECK(kept.size() == 8);
  // Without a workspace both are make_buffer's zeroed buffers.
  auto plain = backends::make_uninitialized_scratch<double>(host_policy{}, 4);
  for (double v : plain) CHECK(v == 0.0);
}
