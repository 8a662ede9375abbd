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

# The C BLAS interface of OpenBLAS, when installed: the matrix products of the CPU backends
# that have no products of their own (xtensor, thrust_cpp, thrust_omp; UNITSFACE_USE_CBLAS).
set(BLA_VENDOR OpenBLAS)
find_package(BLAS QUIET)
unset(BLA_VENDOR)
find_path(UNITSFACE_CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas)
set(_uf_cblas "")
if(BLAS_FOUND AND UNITSFACE_CBLAS_INCLUDE_DIR)
  add_library(unitsface_cblas INTERFACE)
  target_include_directories(unitsface_cblas SYSTEM INTERFACE ${UNITSFACE_CBLAS_INCLUDE_DIR})
  target_link_libraries(unitsface_cblas INTERFACE ${BLAS_LIBRARIES})
  target_compile_definitions(unitsface_cblas INTERFACE UNITSFACE_USE_CBLAS=1)
  set(_uf_cblas unitsface_cblas)
else()
  message(STATUS "unitsface: OpenBLAS not found, xtensor and Thrust CPU backends use the generic products")
endif()

# xtensor: xtensor's views and the generic code, matrix products by BLAS when found.
# xtensor-blas is not used: its CMake package also requires LAPACK, and the products are all
# the backend needs.
find_package(xtensor 0.24 QUIET)
if(TARGET xtensor)
  unitsface_define_backend(xtensor xtensor ${_uf_cblas})
endif()

# Thrust on its CPU systems (CPP, OMP), compiled by the host compiler from the CUDA toolkit's
# CCCL headers: no nvcc needed. Debian's older libthrust-dev (/usr/include/thrust) is not
# searched. THRUST_DEVICE_SYSTEM is set to CPP because Thrust's default device system (CUDA)
# only compiles under nvcc; the backends pass their system's execution policy explicitly.
find_path(UNITSFACE_CCCL_INCLUDE_DIR thrust/version.h
  HINTS ${CUDAToolkit_ROOT}/include/cccl $ENV{CUDA_HOME}/include/cccl
        /usr/local/cuda/include/cccl
  NO_DEFAULT_PATH)
if(UNITSFACE_CCCL_INCLUDE_DIR)
  add_library(unitsface_thrust_host INTERFACE)
  target_include_directories(unitsface_thrust_host SYSTEM INTERFACE ${UNITSFACE_CCCL_INCLUDE_DIR})
  target_compile_definitions(unitsface_thrust_host INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:THRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_CPP>)
  unitsface_define_backend(thrust_cpp unitsface_thrust_host ${_uf_cblas})
  find_package(OpenMP QUIET COMPONENTS CXX)
  if(OpenMP_CXX_FOUND)
    unitsface_define_backend(thrust_omp unitsface_thrust_host OpenMP::OpenMP_CXX ${_uf_cblas})
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
   AND TARGET unitsface_thrust_host)
  unitsface_define_backend(simulated_device unitsface_thrust_host)
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
  # C++20 as a flag: CMake 3.25 does not know nvcc 13's cuda_std_20 compile feature. The
  # scalar math calls constexpr std:: functions (numeric_limits) from device code.
  target_compile_options(unitsface_backend_cuda INTERFACE
    $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20 --expt-relaxed-constexpr>)
  target_link_libraries(unitsface_backend_cuda INTERFACE unitsface::unitsface CUDA::cudart
                                                         CUDA::cublas)
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
