# Decides whether the CUDA kernels are built: SOMA_CUDA=ON and CMake finds nvcc.
# Sets SOMA_WITH_CUDA (TRUE/FALSE) and SOMA_CUDA_REASON (printed, and baked into the stub library).
#
# check_language(CUDA) caches its answer (CMAKE_CUDA_COMPILER, NOTFOUND included), so a build folder that once
# ran without nvcc would keep building the stub after nvcc appears, and one that found nvcc would keep using a
# compiler that is gone. We therefore ask again on every configure, unless the user named a compiler
# themselves (-DCMAKE_CUDA_COMPILER=... or CUDACXX) and it still exists.
include(CheckLanguage)
set(SOMA_WITH_CUDA FALSE)
if(NOT SOMA_CUDA)
  set(SOMA_CUDA_REASON "CUDA disabled at build time (-Dsoma.cuda=OFF)")
else()
  if(DEFINED CACHE{CMAKE_CUDA_COMPILER})
    if(NOT EXISTS "${CMAKE_CUDA_COMPILER}" OR "${CMAKE_CUDA_COMPILER}" STREQUAL "${SOMA_CUDA_DETECTED}")
      unset(CMAKE_CUDA_COMPILER CACHE)
      unset(CMAKE_CUDA_COMPILER)
    endif()
  endif()
  check_language(CUDA)
  # What we detected ourselves (as opposed to a compiler the user named): re-detected next time.
  set(SOMA_CUDA_DETECTED "${CMAKE_CUDA_COMPILER}" CACHE INTERNAL "nvcc found by check_language on the last configure")
  if(CMAKE_CUDA_COMPILER)
    set(SOMA_WITH_CUDA TRUE)
    set(SOMA_CUDA_REASON "built with nvcc")
  else()
    set(SOMA_CUDA_REASON "nvcc was not found when this library was built")
  endif()
endif()
message(STATUS "Soma CUDA kernels: ${SOMA_CUDA_REASON}")
