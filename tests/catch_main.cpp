// The one translation unit that compiles Catch2's main; every suite links it (Catch2 2.13 is a
// single header whose main takes ~20 s to compile, so it is compiled once).
//
// A suite may decide before any test runs that it cannot run on this machine by defining
// unitsface_suite_precheck(): a status >= 0 is returned at once (the CUDA suites return 77,
// CTest's SKIP_RETURN_CODE for them, without a device, since Catch2 2.13 cannot skip a test
// itself). The declaration is weak, so the host suites define nothing.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

extern "C" int unitsface_suite_precheck() __attribute__((weak));

int main(int argc, char** argv) {
  if (unitsface_suite_precheck != nullptr) {
    const int status = unitsface_suite_precheck();
    if (status >= 0) return status;
  }
  return Catch::Session().run(argc, argv);
}
