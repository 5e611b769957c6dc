# The CPU-emulated CUDA device: the same cuda-kernels/*.cu that nvcc builds, compiled by the host C++ compiler
# against cuda-kernels/emu/include. Needs only g++; the toolkit's headers (vector_types.h, driver_types.h,
# cuda_runtime_api.h, cuda_fp16.h, cuda_bf16.h) are used when they are found, so kernels see the types nvcc
# gives them, and a small stand-in is used otherwise.
#
#   soma_cuda_emu_rt                   the emulator: fibers, scheduler, runtime API stand-ins (one per process)
#   soma_add_emulated_cuda_library(target SOURCES a.cu b.cu ...)
#                                      a kernel library for the emulated device, linked to soma_cuda_emu_rt
#
# SOMA_EMU_SANITIZE=ON builds both with AddressSanitizer and UndefinedBehaviorSanitizer (ucontext fibers).
include_guard(GLOBAL)
option(SOMA_EMU_SANITIZE "Build the emulated CUDA device with ASan + UBSan" OFF)

set(SOMA_EMU_DIR ${CMAKE_CURRENT_LIST_DIR})
find_path(SOMA_EMU_TOOLKIT_INCLUDE vector_types.h
  PATHS ${CUDAToolkit_INCLUDE_DIRS} $ENV{CUDA_HOME}/include $ENV{CUDA_PATH}/include /usr/local/cuda/include
  NO_DEFAULT_PATH)
if(SOMA_EMU_TOOLKIT_INCLUDE AND EXISTS "${SOMA_EMU_TOOLKIT_INCLUDE}/cuda_runtime_api.h")
  message(STATUS "Soma emulated CUDA device: the toolkit's headers from ${SOMA_EMU_TOOLKIT_INCLUDE}")
else()
  set(SOMA_EMU_TOOLKIT_INCLUDE "")
  message(STATUS "Soma emulated CUDA device: no CUDA toolkit headers, using the emulator's own declarations")
endif()

# Flags shared by the emulator and the kernel libraries built on it.
function(_soma_emu_flags target)
  # Our include folder comes first: its cuda_runtime.h stands in for the toolkit's.
  target_include_directories(${target} BEFORE PUBLIC ${SOMA_EMU_DIR}/include)
  if(SOMA_EMU_TOOLKIT_INCLUDE)
    target_include_directories(${target} SYSTEM AFTER PUBLIC ${SOMA_EMU_TOOLKIT_INCLUDE})
    target_compile_definitions(${target} PUBLIC SOMA_EMU_TOOLKIT_HEADERS=1)
  endif()
  target_compile_features(${target} PUBLIC cxx_std_17)
  # Kernels move floats as 32-bit words (copies, packs) as nvcc allows: no strict-aliasing assumptions here.
  target_compile_options(${target} PRIVATE -O2 -fno-strict-aliasing)
  if(SOMA_EMU_SANITIZE)
    target_compile_options(${target} PUBLIC -fsanitize=address,undefined -fno-omit-frame-pointer -g)
    target_link_options(${target} PUBLIC -fsanitize=address,undefined)
  endif()
endfunction()

if(NOT TARGET soma_cuda_emu_rt)
  find_package(Threads REQUIRED)
  add_library(soma_cuda_emu_rt SHARED
    ${SOMA_EMU_DIR}/src/fiber.cpp ${SOMA_EMU_DIR}/src/scheduler.cpp ${SOMA_EMU_DIR}/src/runtime_api.cpp ${SOMA_EMU_DIR}/src/streams.cpp
    ${SOMA_EMU_DIR}/src/modules.cpp ${SOMA_EMU_DIR}/src/nccl_emu.cpp)
  _soma_emu_flags(soma_cuda_emu_rt)
  target_link_libraries(soma_cuda_emu_rt PUBLIC Threads::Threads ${CMAKE_DL_LIBS} rt)  # rt: shm_open (nccl_emu.cpp)
endif()

function(soma_add_emulated_cuda_library target)
  cmake_parse_arguments(ARG "" "" "SOURCES" ${ARGN})
  set(wrappers)
  foreach(cu IN LISTS ARG_SOURCES)
    # A .cu file is CUDA to CMake everywhere in this folder; a one-line C++ file that includes it builds it as
    # C++ here without changing how the nvcc target sees it. __FILE__ still names the .cu file.
    get_filename_component(abs "${cu}" ABSOLUTE)
    get_filename_component(name "${cu}" NAME_WE)
    set(wrapper "${CMAKE_CURRENT_BINARY_DIR}/${target}/${name}.cu.cpp")
    file(GENERATE OUTPUT "${wrapper}" CONTENT "#include \"${abs}\"\n")
    list(APPEND wrappers "${wrapper}")
  endforeach()
  add_library(${target} SHARED ${wrappers})
  _soma_emu_flags(${target})
  target_compile_options(${target} PRIVATE -include soma_emu.h)
  target_link_libraries(${target} PUBLIC soma_cuda_emu_rt)
  # Found beside it wherever the pair is unpacked (JavaCPP's cache, a test folder).
  # Only $ORIGIN, also in the build tree: a copy that found the emulator in the build folder would break once moved.
  set_target_properties(${target} PROPERTIES INSTALL_RPATH "$ORIGIN" BUILD_WITH_INSTALL_RPATH TRUE)
endfunction()
