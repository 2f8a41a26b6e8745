# Cross-compiles lkrt for arm64 Linux with Debian's toolchain (g++-aarch64-linux-gnu); the
# sysroot is Debian's /usr/aarch64-linux-gnu. Tests and the lkrt command run under
# qemu-user (qemu-aarch64), which ctest picks up as the crosscompiling emulator:
#   cmake -S runtime -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=runtime/cmake/aarch64-linux-gnu.cmake
# scripts/test-arm64 does that, builds GoogleTest for aarch64 and runs the tests.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(LKRT_AARCH64_SYSROOT /usr/aarch64-linux-gnu CACHE PATH "aarch64 libraries and dynamic loader")
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Libraries, headers and packages (GoogleTest built for aarch64 included, see
# scripts/test-arm64) come from the sysroot and CMAKE_PREFIX_PATH, never from the host.
list(APPEND CMAKE_FIND_ROOT_PATH ${LKRT_AARCH64_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

find_program(LKRT_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
if(LKRT_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${LKRT_QEMU_AARCH64} -L ${LKRT_AARCH64_SYSROOT})
endif()
