# Debian facts for the package build (included by the top-level CMakeLists.txt before any target,
# and by packaging/CMakeLists.txt):
#
#   EDGETRAIN_DEB_ARCH   the Debian architecture of the target (amd64, arm64, armhf)
#   edgetrain_dpkg_buildflags()
#       adds the compiler and linker flags Debian builds its packages with, from dpkg-buildflags
#       for EDGETRAIN_DEB_ARCH with DEB_BUILD_MAINT_OPTIONS=hardening=+all: _FORTIFY_SOURCE=2,
#       -fstack-protector-strong, -Wformat -Werror=format-security, RELRO and BIND_NOW
#       (-Wl,-z,relro -Wl,-z,now); PIE is the compiler's default on Debian 12. The -O and -g flags
#       are left out: the build type chooses optimisation (Release: -O3) and CPack strips.
include_guard(GLOBAL)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
  set(EDGETRAIN_DEB_ARCH arm64)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^arm")
  set(EDGETRAIN_DEB_ARCH armhf)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set(EDGETRAIN_DEB_ARCH amd64)
else()
  message(WARNING "packaging: no Debian architecture known for '${CMAKE_SYSTEM_PROCESSOR}'; "
                  ".deb files will say 'unknown'")
  set(EDGETRAIN_DEB_ARCH unknown)
endif()

function(edgetrain_dpkg_buildflags)
  find_program(EDGETRAIN_DPKG_BUILDFLAGS dpkg-buildflags REQUIRED)
  find_program(EDGETRAIN_DPKG_ARCHITECTURE dpkg-architecture REQUIRED)
  set(flags)
  foreach(kind CPPFLAGS CXXFLAGS LDFLAGS)
    # dpkg-architecture -a sets DEB_HOST_* for the target; CC names the cross compiler (it asks
    # the compiler for its triplet). Run from the source tree: -ffile-prefix-map maps it to ".".
    execute_process(
      COMMAND ${CMAKE_COMMAND} -E env CC=${CMAKE_CXX_COMPILER} DEB_BUILD_MAINT_OPTIONS=hardening=+all
              ${EDGETRAIN_DPKG_ARCHITECTURE} -a${EDGETRAIN_DEB_ARCH} -c
              ${EDGETRAIN_DPKG_BUILDFLAGS} --get ${kind}
      WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
      OUTPUT_VARIABLE value OUTPUT_STRIP_TRAILING_WHITESPACE
      RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "dpkg-buildflags --get ${kind} failed for ${EDGETRAIN_DEB_ARCH}")
    endif()
    separate_arguments(value UNIX_COMMAND "${value}")
    list(FILTER value EXCLUDE REGEX "^-(O[0-9sgz]?|g[0-9]?)$")
    set(${kind} ${value})
    string(JOIN " " shown ${value})
    message(STATUS "dpkg-buildflags ${kind} (${EDGETRAIN_DEB_ARCH}): ${shown}")
  endforeach()
  add_compile_options(${CPPFLAGS} ${CXXFLAGS})
  add_link_options(${LDFLAGS})
  foreach(required -D_FORTIFY_SOURCE=2 -fstack-protector-strong)
    if(NOT required IN_LIST CPPFLAGS AND NOT required IN_LIST CXXFLAGS)
      message(FATAL_ERROR "dpkg-buildflags gave no ${required}: the packages would not be hardened")
    endif()
  endforeach()
  if(NOT "-Wl,-z,now" IN_LIST LDFLAGS OR NOT "-Wl,-z,relro" IN_LIST LDFLAGS)
    message(FATAL_ERROR "dpkg-buildflags gave no -Wl,-z,relro -Wl,-z,now (RELRO, BIND_NOW)")
  endif()
endfunction()
