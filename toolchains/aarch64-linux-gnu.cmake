# CMake toolchain file: lookout for 64-bit Raspberry Pi OS / Debian 12 on a
# Pi 4 (Cortex-A72) or Pi 5 (Cortex-A76), with Debian's cross compiler
# (g++-aarch64-linux-gnu) against an arm64 sysroot made by scripts/make-sysroot.sh.
#
#   scripts/make-sysroot.sh build-aarch64/sysroot
#   cmake --preset pi [-DLOOKOUT_PI_CPU=cortex-a76]      # or, by hand:
#   cmake -S . -B build-aarch64 -G Ninja \
#         -DCMAKE_TOOLCHAIN_FILE=toolchains/aarch64-linux-gnu.cmake \
#         [-DLOOKOUT_PI_CPU=cortex-a76] [-DLOOKOUT_SYSROOT=/abs/path/to/sysroot]
#   cmake --build build-aarch64 && ctest --test-dir build-aarch64   # tests run under qemu
#
# Cache variables:
#   LOOKOUT_SYSROOT   the arm64 sysroot (default: <repo>/build-aarch64/sysroot, or
#                     $ENV{LOOKOUT_SYSROOT}); a relative path is taken relative
#                     to the repository root. Fixed per build directory
#                     (cached find results point into it).
#   LOOKOUT_PI_CPU    cortex-a72 (Pi 4, default) or cortex-a76 (Pi 5): sets
#                     -mcpu= (kept in CMAKE_C_FLAGS/CMAKE_CXX_FLAGS) and the CPU
#                     qemu emulates for tests. Can be changed in an existing
#                     build dir (everything recompiles). An a76 build does not
#                     run on a Pi 4 (nor under qemu -cpu cortex-a72: SIGILL).
#   LOOKOUT_QEMU      qemu-aarch64 used as CMAKE_CROSSCOMPILING_EMULATOR (found on
#                     PATH; tests cannot run without it, building still works).
#
# The emulator is "env QEMU_CPU=<LOOKOUT_PI_CPU> QEMU_LD_PREFIX=<sysroot>
# qemu-aarch64": the default qemu CPU ("max") advertises SVE, which sends oneDNN
# inside libtorch down another path than a real Pi takes (and makes instruction
# counts meaningless for the Pi). To run a binary by hand:
#   QEMU_CPU=cortex-a72 QEMU_LD_PREFIX=build-aarch64/sysroot qemu-aarch64 build-aarch64/app/lookoutd ...

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# ---- sysroot -----------------------------------------------------------------
# try_compile() projects re-read this file in their own binary dir, with only
# the variables listed in CMAKE_TRY_COMPILE_PLATFORM_VARIABLES: so the default
# must not depend on CMAKE_BINARY_DIR, and the two settings are forwarded.
get_filename_component(_lookout_repo "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
if(NOT LOOKOUT_SYSROOT)
  if(NOT "$ENV{LOOKOUT_SYSROOT}" STREQUAL "")
    set(LOOKOUT_SYSROOT "$ENV{LOOKOUT_SYSROOT}")
  else()
    set(LOOKOUT_SYSROOT "${_lookout_repo}/build-aarch64/sysroot")
  endif()
endif()
get_filename_component(LOOKOUT_SYSROOT "${LOOKOUT_SYSROOT}" ABSOLUTE BASE_DIR "${_lookout_repo}")
set(LOOKOUT_SYSROOT "${LOOKOUT_SYSROOT}" CACHE PATH "arm64 sysroot made by scripts/make-sysroot.sh")
# find_package()/find_library() results are cached as absolute paths into the
# sysroot, so a build dir cannot follow a sysroot that moved.
if(DEFINED CACHE{_LOOKOUT_SYSROOT_CONFIGURED} AND NOT _LOOKOUT_SYSROOT_CONFIGURED STREQUAL LOOKOUT_SYSROOT)
  message(FATAL_ERROR
    "This build dir was configured with LOOKOUT_SYSROOT=${_LOOKOUT_SYSROOT_CONFIGURED}; cached "
    "library paths point into it. Reconfigure from scratch (cmake --fresh, or a new build dir) "
    "to use ${LOOKOUT_SYSROOT}.")
endif()
set(_LOOKOUT_SYSROOT_CONFIGURED "${LOOKOUT_SYSROOT}" CACHE INTERNAL "")

if(NOT EXISTS "${LOOKOUT_SYSROOT}/.lookout-sysroot.stamp")
  message(FATAL_ERROR
    "No arm64 sysroot at LOOKOUT_SYSROOT=${LOOKOUT_SYSROOT}.\n"
    "Make one with:  ${_lookout_repo}/scripts/make-sysroot.sh ${LOOKOUT_SYSROOT}\n"
    "(or point -DLOOKOUT_SYSROOT=... / $LOOKOUT_SYSROOT at an existing one).")
endif()

# ---- CPU ---------------------------------------------------------------------
set(LOOKOUT_PI_CPU "cortex-a72" CACHE STRING
    "Raspberry Pi core: cortex-a72 (Pi 4) or cortex-a76 (Pi 5)")
set_property(CACHE LOOKOUT_PI_CPU PROPERTY STRINGS cortex-a72 cortex-a76)
if(NOT LOOKOUT_PI_CPU MATCHES "^cortex-a7[26]$")
  message(FATAL_ERROR "LOOKOUT_PI_CPU='${LOOKOUT_PI_CPU}': use cortex-a72 (Pi 4) or cortex-a76 (Pi 5)")
endif()
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES LOOKOUT_SYSROOT LOOKOUT_PI_CPU)
list(REMOVE_DUPLICATES CMAKE_TRY_COMPILE_PLATFORM_VARIABLES)

set(CMAKE_C_FLAGS_INIT "-mcpu=${LOOKOUT_PI_CPU}")
set(CMAKE_CXX_FLAGS_INIT "-mcpu=${LOOKOUT_PI_CPU}")
# _INIT only seeds CMAKE_<LANG>_FLAGS on the first configure (and not at all if
# it is given with -D): keep exactly one -mcpu=<LOOKOUT_PI_CPU> in the cached
# flags, so that changing LOOKOUT_PI_CPU in an existing build dir rebuilds
# everything for the new core (ninja sees the changed command lines).
foreach(_lookout_lang C CXX)
  if(DEFINED CACHE{CMAKE_${_lookout_lang}_FLAGS})
    set(_lookout_flags "$CACHE{CMAKE_${_lookout_lang}_FLAGS}")
    string(REGEX REPLACE "(^| )-mcpu=[^ ]*" "" _lookout_new "${_lookout_flags}")
    string(STRIP "${_lookout_new} -mcpu=${LOOKOUT_PI_CPU}" _lookout_new)
    if(NOT _lookout_new STREQUAL _lookout_flags)
      set_property(CACHE CMAKE_${_lookout_lang}_FLAGS PROPERTY VALUE "${_lookout_new}")
    endif()
  endif()
endforeach()

# ---- finding things: only in the sysroot, programs only on the host ---------
set(CMAKE_SYSROOT "${LOOKOUT_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH "${LOOKOUT_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config (the host's) sees only the sysroot's .pc files and prefixes the
# paths it prints with the sysroot. Environment set here lasts for the configure
# run, which is when pkg_check_modules() calls pkg-config.
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${LOOKOUT_SYSROOT}")
set(ENV{PKG_CONFIG_LIBDIR}
    "${LOOKOUT_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:${LOOKOUT_SYSROOT}/usr/lib/pkgconfig:${LOOKOUT_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# ---- running aarch64 binaries (ctest, try_run, doctest discovery) ------------
# The Pi core and the sysroot go to qemu as environment variables (through
# env), not as -cpu/-L: the guest inherits them, so aarch64 programs a test
# starts (lookoutd, the lookout CLI), which the kernel hands to qemu through
# binfmt_misc (qemu-user-static), run with the same CPU and sysroot. Without
# binfmt_misc for aarch64 such child processes cannot start at all.
find_program(LOOKOUT_QEMU NAMES qemu-aarch64 qemu-aarch64-static
             DOC "qemu-user for aarch64, the emulator for tests")
find_program(LOOKOUT_ENV NAMES env DOC "env(1), to pass QEMU_CPU/QEMU_LD_PREFIX")
if(LOOKOUT_QEMU AND LOOKOUT_ENV)
  set(CMAKE_CROSSCOMPILING_EMULATOR
      "${LOOKOUT_ENV};QEMU_CPU=${LOOKOUT_PI_CPU};QEMU_LD_PREFIX=${LOOKOUT_SYSROOT};${LOOKOUT_QEMU}")
else()
  message(WARNING "qemu-aarch64 not found (apt install qemu-user): aarch64 tests cannot run")
endif()
