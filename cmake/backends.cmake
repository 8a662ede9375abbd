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

# The other backends are the public targets of cmake/unitsfaceBackendTargets.cmake (what a
# user links), where their dependencies are found.
if(TARGET unitsface::eigen)
  unitsface_define_backend(eigen unitsface::eigen)
endif()
# OpenBLAS's C interface: the products of xtensor and the Thrust CPU systems, and a test of
# its own (tests/backends: the column-major arguments the CUDA backend gives cuBLAS).
if(TARGET unitsface::cblas)
  add_library(unitsface_cblas INTERFACE)
  target_link_libraries(unitsface_cblas INTERFACE unitsface::cblas)
else()
  message(STATUS "unitsface: OpenBLAS not found, xtensor and Thrust CPU backends use the generic products")
endif()
if(TARGET unitsface::xtensor)
  unitsface_define_backend(xtensor unitsface::xtensor)
endif()
if(TARGET unitsface::thrust_cpp)
  unitsface_define_backend(thrust_cpp unitsface::thrust_cpp)
  if(TARGET unitsface::thrust_omp)
    unitsface_define_backend(thrust_omp unitsface::thrust_omp)
  else()
    message(STATUS "unitsface: OpenMP not found, backend thrust_omp skipped")
  endif()
else()
  message(STATUS "unitsface: CCCL (Thrust) headers not found, Thrust backends skipped")
endif()

# simulated_device (tests only, Linux): the code paths of a device Thrust system on the CPU,
# with device memory kept apart from the host's so that a host access to device memory, or a
# kernel's access to host memory, crashes with a message (tests/support/simulated_device.hpp).
# A Thrust system of its own, so it needs the CCCL headers. Its executables get a global
# operator new of their own; it is not a backend for users.
option(UNITSFACE_TEST_SIMULATED_DEVICE "Test the device code paths in simulated device memory"
       ${UNIX})
if(UNITSFACE_TEST_SIMULATED_DEVICE AND CMAKE_SYSTEM_NAME STREQUAL "Linux"
   AND TARGET unitsface::cccl)
  unitsface_define_backend(simulated_device unitsface::cccl)
  target_sources(unitsface_backend_simulated_device INTERFACE
                 ${PROJECT_SOURCE_DIR}/tests/support/simulated_device.cpp)
  target_include_directories(unitsface_backend_simulated_device INTERFACE
                             ${PROJECT_SOURCE_DIR}/tests/support)
endif()

# cuda: Thrust's CUDA system and cuBLAS (include/unitsface/backends/cuda.hpp), for .cu
# sources only. Not in UNITSFACE_TEST_BACKENDS: the per-backend suites there are C++ sources
# built by the host compiler; cuda/CMakeLists.txt builds the CUDA variants with nvcc.
if(UNITSFACE_HAVE_CUDA)
  add_library(unitsface_backend_cuda INTERFACE)
  target_compile_definitions(unitsface_backend_cuda INTERFACE UNITSFACE_WITH_CUDA=1)
  target_link_libraries(unitsface_backend_cuda INTERFACE unitsface::cuda)
endif()

# UNITSFACE_TEST_BACKENDS_FILTER (a list, empty = every backend found) restricts the backends
# whose suites are built: CI's sanitizer pass uses it to cover the generic code and one backend
# of each kind without compiling every suite a second time.
set(UNITSFACE_TEST_BACKENDS_FILTER "" CACHE STRING
    "Backends whose test suites are built (empty: all found)")
if(UNITSFACE_TEST_BACKENDS_FILTER)
  set(_uf_kept "")
  foreach(b ${UNITSFACE_TEST_BACKENDS})
    if(b IN_LIST UNITSFACE_TEST_BACKENDS_FILTER)
      list(APPEND _uf_kept ${b})
    endif()
  endforeach()
  set(UNITSFACE_TEST_BACKENDS ${_uf_kept})
  message(STATUS "unitsface: test backends ${UNITSFACE_TEST_BACKENDS}")
endif()
