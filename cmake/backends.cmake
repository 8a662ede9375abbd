# unitsface: the backends this build can test, and how to build code for each.
#
# For every backend NAME in UNITSFACE_TEST_BACKENDS there is an INTERFACE target
# unitsface_backend_NAME carrying what code using that backend needs (include directories,
# libraries, the compile definition UNITSFACE_WITH_NAME; a suite built for one backend adds
# UNITSFACE_TEST_BACKEND_NAME, read by
# tests/support/backends.hpp). Test suites and conformance runners are built once per backend.
set(UNITSFACE_TEST_BACKENDS "")

function(unitsface_define_backend name)
  add_library(unitsface_backend_${name} INTERFACE)
  string(TOUPPER ${name} upper)
  target_compile_definitions(unitsface_backend_${name} INTERFACE UNITSFACE_WITH_${upper}=1)
  target_link_libraries(unitsface_backend_${name} INTERFACE unitsface::unitsface ${ARGN})
  set(UNITSFACE_TEST_BACKENDS ${UNITSFACE_TEST_BACKENDS} ${name} PARENT_SCOPE)
endfunction()

# host: the generic primitives alone (plain loops), the reference every backend is held to.
unitsface_define_backend(host)

if(TARGET Eigen3::Eigen)
  unitsface_define_backend(eigen Eigen3::Eigen)
endif()
