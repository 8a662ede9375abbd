# unitsface's backend targets: unitsface::<backend> for each backend whose dependencies are
# found, each carrying what code using that backend needs (include directories, libraries,
# definitions). The top-level CMakeLists.txt includes this file (for add_subdirectory users
# and the project's own tests) and so does the installed unitsfaceConfig.cmake (for
# find_package users): both see the same targets.
#
#   unitsface::host        the generic primitives, plain loops (unitsface::unitsface)
#   unitsface::eigen       Eigen 3.4 (backends/eigen.hpp), products by OpenBLAS when found,
#                          OpenMP when found
#   unitsface::xtensor     xtensor 0.24 (backends/xtensor.hpp), products by OpenBLAS when found,
#                          OpenMP when found
#   unitsface::thrust_cpp  Thrust's CPP system (backends/thrust.hpp) from the CUDA toolkit's
#                          CCCL headers, compiled by the host compiler; OpenBLAS when found
#   unitsface::thrust_omp  the same on Thrust's OpenMP system (OpenMP)
#   unitsface::cuda        Thrust's CUDA system and cuBLAS (backends/cuda.hpp), .cu sources
#   unitsface::cblas       OpenBLAS's C interface, with UNITSFACE_USE_CBLAS
#   unitsface::cccl        the CCCL headers for host compilation (THRUST_DEVICE_SYSTEM = CPP)
#
# A backend whose dependency is missing has no target (find_package(unitsface REQUIRED
# COMPONENTS eigen thrust_omp) then fails, unitsfaceConfig.cmake). The targets are GLOBAL and
# made once, whichever directory asks first.
include_guard(GLOBAL)

function(_unitsface_target name)
  add_library(unitsface::${name} INTERFACE IMPORTED GLOBAL)
  target_link_libraries(unitsface::${name} INTERFACE unitsface::unitsface ${ARGN})
endfunction()

_unitsface_target(host)

# OpenBLAS's C interface: the products of the CPU backends that have none of their own.
set(_uf_saved_vendor "${BLA_VENDOR}")
set(BLA_VENDOR OpenBLAS)
find_package(BLAS QUIET)
set(BLA_VENDOR "${_uf_saved_vendor}")
find_path(UNITSFACE_CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas)
set(_uf_blas "")
# OpenBLAS's OpenMP build, where installed beside the default one (Debian's
# libopenblas0-openmp: <libdir>/openblas-openmp/libopenblas.so.0): its threads are the same
# OpenMP pool as the backends' element-wise passes, which run between its products. With the
# default pthreads build the two pools spin against each other (a 2-core EPYC VM, eigen
# backend, B = 512, C = 10,572, D = 512: USS-m forward_backward 0.144-0.153 s with the
# pthreads build, 0.070-0.077 s with the OpenMP one; docs/benchmarks.md). The library is
# linked by its path, so the executables' run path finds it before the system's choice.
option(UNITSFACE_OPENBLAS_OPENMP "Link OpenBLAS's OpenMP build where it is installed" ON)
find_package(OpenMP QUIET COMPONENTS CXX)
set(_uf_blas_libraries "${BLAS_LIBRARIES}")
if(BLAS_FOUND AND UNITSFACE_OPENBLAS_OPENMP AND OpenMP_CXX_FOUND)
  list(GET BLAS_LIBRARIES 0 _uf_blas_first)
  get_filename_component(_uf_blas_dir "${_uf_blas_first}" DIRECTORY)
  if(EXISTS "${_uf_blas_dir}/openblas-openmp/libopenblas.so.0")
    set(_uf_blas_libraries "${_uf_blas_dir}/openblas-openmp/libopenblas.so.0")
  endif()
endif()
if(BLAS_FOUND AND UNITSFACE_CBLAS_INCLUDE_DIR)
  add_library(unitsface::cblas INTERFACE IMPORTED GLOBAL)
  target_include_directories(unitsface::cblas SYSTEM INTERFACE ${UNITSFACE_CBLAS_INCLUDE_DIR})
  target_link_libraries(unitsface::cblas INTERFACE ${_uf_blas_libraries})
  target_compile_definitions(unitsface::cblas INTERFACE UNITSFACE_USE_CBLAS=1)
  set(_uf_blas unitsface::cblas)
endif()

# Eigen: its products go to the C BLAS where one is found (as xtensor's do), and with OpenMP
# its element-wise passes (eigen_policy::for_each_index) and its own products use every core.
set(_uf_host_omp "")
if(OpenMP_CXX_FOUND)
  set(_uf_host_omp OpenMP::OpenMP_CXX)
endif()
find_package(Eigen3 3.4 QUIET NO_MODULE)
if(TARGET Eigen3::Eigen)
  _unitsface_target(eigen Eigen3::Eigen ${_uf_blas} ${_uf_host_omp})
endif()

# xtensor-blas is not used: its CMake package also requires LAPACK, and the products are all
# the backend needs. With OpenMP its element-wise passes (xtensor_policy::for_each_index) use
# every core, as Eigen's do.
find_package(xtensor 0.24 QUIET)
if(TARGET xtensor)
  _unitsface_target(xtensor xtensor ${_uf_blas} ${_uf_host_omp})
endif()

# Thrust's CPU systems from the CUDA toolkit's CCCL headers (Debian's older libthrust-dev in
# /usr/include is not searched). THRUST_DEVICE_SYSTEM is CPP because Thrust's default device
# system (CUDA) only compiles under nvcc; the backends pass their system's policy explicitly.
find_path(UNITSFACE_CCCL_INCLUDE_DIR thrust/version.h
  HINTS ${CUDAToolkit_ROOT}/include/cccl $ENV{CUDA_HOME}/include/cccl
        /usr/local/cuda/include/cccl
  NO_DEFAULT_PATH)
if(UNITSFACE_CCCL_INCLUDE_DIR)
  add_library(unitsface::cccl INTERFACE IMPORTED GLOBAL)
  target_include_directories(unitsface::cccl SYSTEM INTERFACE ${UNITSFACE_CCCL_INCLUDE_DIR})
  target_compile_definitions(unitsface::cccl INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:THRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_CPP>)
  _unitsface_target(thrust_cpp unitsface::cccl ${_uf_blas})
  if(OpenMP_CXX_FOUND)
    _unitsface_target(thrust_omp unitsface::cccl OpenMP::OpenMP_CXX ${_uf_blas})
  endif()
endif()

# cuda: the CUDA toolkit's runtime and cuBLAS. CMake 3.25.0/3.25.1 (Debian bookworm's) fail
# in FindCUDAToolkit for a toolkit without the old nvToolsExt library (CUDA 12.9 and later):
# for a project requiring 3.25 they mark that target deprecated without checking that it
# exists. That branch reads only CMAKE_MINIMUM_REQUIRED_VERSION, so the module is shown an
# older minimum; policies are unaffected.
if(NOT TARGET CUDA::cudart)
  if(CMAKE_VERSION VERSION_LESS 3.26)
    set(_uf_min_required ${CMAKE_MINIMUM_REQUIRED_VERSION})
    set(CMAKE_MINIMUM_REQUIRED_VERSION 3.24)
    find_package(CUDAToolkit QUIET)
    set(CMAKE_MINIMUM_REQUIRED_VERSION ${_uf_min_required})
  else()
    find_package(CUDAToolkit QUIET)
  endif()
endif()
if(TARGET CUDA::cudart AND TARGET CUDA::cublas)
  # C++20 as a flag: CMake 3.25 does not know nvcc 13's cuda_std_20 compile feature. The
  # scalar math calls constexpr std:: functions (numeric_limits) from device code.
  _unitsface_target(cuda CUDA::cudart CUDA::cublas)
  target_compile_options(unitsface::cuda INTERFACE
    $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20 --expt-relaxed-constexpr>)
endif()
