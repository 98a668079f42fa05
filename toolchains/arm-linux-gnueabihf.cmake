# CMake toolchain file: 32-bit ARM Linux, hard float (armhf: ARMv7-A with VFPv3-D16 and Thumb-2,
# Debian's armhf baseline: Raspberry Pi 2/3/4/5 with a 32-bit OS, BeagleBone, i.MX6 and similar).
# ARMv6 boards (Raspberry Pi Zero/1) are below Debian's armhf baseline and are not targeted.
#
# Compiler: Debian's cross compiler (package crossbuild-essential-armhf).
# Libraries: a sysroot, a Debian 12 armhf file tree built by scripts/make-armhf-sysroot with
# mmdebstrap (armhf multiarch cannot be added on the build host). The sysroot holds every target
# dependency, the header-only ones included (Eigen, CLI11, doctest, cppzmq, FlatBuffers headers),
# so it is self-contained: find_path/find_library/find_package and pkg-config look only inside it
# and nothing of the build host (its /usr/include, its x86-64 .pc and CMake package files) can leak
# into the target build. Only programs (flatc) are taken from the build host.
#
# Where the sysroot is: the cache variable EDGETRAIN_ARMHF_SYSROOT; its default is the environment
# variable of the same name when set at the first configure, else build/sysroot-armhf in this
# source tree (the default of scripts/make-armhf-sysroot).
#
# Tests run under "qemu-arm -L <sysroot>" unless CMAKE_CROSSCOMPILING_EMULATOR is given.
#
# Usage: scripts/make-armhf-sysroot && cmake --preset armhf
#        (or -DCMAKE_TOOLCHAIN_FILE=toolchains/arm-linux-gnueabihf.cmake [-DEDGETRAIN_ARMHF_SYSROOT=DIR])

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(CMAKE_LIBRARY_ARCHITECTURE arm-linux-gnueabihf)

set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_CXX_COMPILER arm-linux-gnueabihf-g++)
# GCC notes that the ABI for passing some vector iterators changed in GCC 7.1 (-Wpsabi): every
# part of the program is built by this one compiler, so the note is noise (hundreds of lines).
set(CMAKE_CXX_FLAGS_INIT "-Wno-psabi")

if(DEFINED ENV{EDGETRAIN_ARMHF_SYSROOT} AND NOT "$ENV{EDGETRAIN_ARMHF_SYSROOT}" STREQUAL "")
  set(_edgetrain_default_sysroot "$ENV{EDGETRAIN_ARMHF_SYSROOT}")
else()
  get_filename_component(_edgetrain_default_sysroot "${CMAKE_CURRENT_LIST_DIR}/../build/sysroot-armhf" ABSOLUTE)
endif()
set(EDGETRAIN_ARMHF_SYSROOT "${_edgetrain_default_sysroot}" CACHE PATH
    "Debian 12 armhf sysroot (made by scripts/make-armhf-sysroot)")
# try_compile projects re-read this file without the main project's cache: pass the value on.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES EDGETRAIN_ARMHF_SYSROOT)

if(NOT EXISTS "${EDGETRAIN_ARMHF_SYSROOT}/usr/lib/arm-linux-gnueabihf/libc.so")
  message(FATAL_ERROR "No armhf sysroot at '${EDGETRAIN_ARMHF_SYSROOT}'. Create it with "
                      "scripts/make-armhf-sysroot [DIR], or point EDGETRAIN_ARMHF_SYSROOT at one.")
endif()

set(CMAKE_SYSROOT "${EDGETRAIN_ARMHF_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH "${EDGETRAIN_ARMHF_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)   # flatc: the build host's
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config (cppzmq finds libzmq through it): the sysroot's .pc files, paths prefixed with it.
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${EDGETRAIN_ARMHF_SYSROOT}")
set(ENV{PKG_CONFIG_LIBDIR}
    "${EDGETRAIN_ARMHF_SYSROOT}/usr/lib/arm-linux-gnueabihf/pkgconfig:${EDGETRAIN_ARMHF_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# Run target programs (test discovery, ctest, the tests' own child processes) under qemu-user,
# with the sysroot's loader and libraries.
if(NOT DEFINED CMAKE_CROSSCOMPILING_EMULATOR)
  set(CMAKE_CROSSCOMPILING_EMULATOR qemu-arm -L "${EDGETRAIN_ARMHF_SYSROOT}")
endif()
