// Not built: CTest runs the compiler on this unit and expects it to fail
// (protocols.device.all_pairs_needs_its_header, tests/protocols/CMakeLists.txt). all_pairs
// on a device's Thrust system without protocols/all_pairs_device.hpp would copy every tile to
// the host; all_pairs.hpp refuses it at compile time with a message naming the header.
#include "simulated_device.hpp"
#include "unitsface/protocols/all_pairs.hpp"

int main() {
  const unitsface::test::simulated_device_policy pol;
  const float x[4] = {1, 0, 1, 0};
  const unitsface::index_t y[2] = {0, 0};
  const auto r = unitsface::protocols::all_pairs<float>(
      pol, unitsface::matrix_view<const float>(x, 2, 2),
      unitsface::vector_view<const unitsface::index_t>(y, 2));
  return int(r.genuine);
}
