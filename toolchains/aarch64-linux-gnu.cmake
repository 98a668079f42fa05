# CMake toolchain file: 64-bit ARM Linux (aarch64: Raspberry Pi 4/5 with a 64-bit OS, NVIDIA
# Jetson, other ARMv8-A boards running a glibc distribution).
#
# Compiler: Debian's cross compiler (package crossbuild-essential-arm64).
# Libraries: Debian multiarch. The arm64 architecture is added to the build host's dpkg and the
# target's libraries are installed next to the host's ones:
#   dpkg --add-architecture arm64 && apt-get update
#   apt-get install crossbuild-essential-arm64 libzmq3-dev:arm64
# (scripts/cross-build does this). libzmq and its dependencies land in /usr/lib/aarch64-linux-gnu;
# the header-only dependencies (Eigen, CLI11, doctest, cppzmq, the FlatBuffers headers) are the
# host's own packages: their headers are architecture-independent and multiarch installs them once
# for every architecture (Eigen, CLI11 and doctest are "Architecture: all, Multi-Arch: foreign").
# There is no sysroot: the target root is "/", and CMAKE_LIBRARY_ARCHITECTURE makes every
# find_library/find_package look in the aarch64 multiarch directories, never the host's.
#
# flatc runs on the build host: the top-level CMakeLists.txt takes flatc from PATH in a cross build.
#
# Tests run under qemu-user. Use "qemu-aarch64 -L /": the program's loader and libc come from the
# arm64 multiarch packages under /. Do not use "-L /usr/aarch64-linux-gnu" (the cross toolchain's
# older libc): with it qemu 7.2 hangs when the program starts its first thread.
#
# Usage: cmake --preset arm64   (or -DCMAKE_TOOLCHAIN_FILE=toolchains/aarch64-linux-gnu.cmake)

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# pkg-config (cppzmq finds libzmq through it) must read the arm64 .pc files only.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
unset(ENV{PKG_CONFIG_SYSROOT_DIR})

# Run target programs (test discovery, ctest, the tests' own child processes) under qemu-user.
if(NOT DEFINED CMAKE_CROSSCOMPILING_EMULATOR)
  set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /)
endif()
