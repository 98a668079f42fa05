# Shared shell helpers for the scripts in this folder (sourced, not run).
# Package lists: what each purpose needs from Debian 12.

EDGETRAIN_BUILD_PACKAGES="build-essential cmake pkg-config libzmq3-dev cppzmq-dev libeigen3-dev \
libflatbuffers-dev flatbuffers-compiler doctest-dev libcli11-dev zlib1g-dev nlohmann-json3-dev"
# Real peers and reference implementations the tests compare against; a real browser for the
# monitor's page (chromium driven by selenium) and Prometheus's promtool for its /metrics.
EDGETRAIN_TEST_PACKAGES="liblinear-tools python3-sklearn python3-zmq python3-flatbuffers \
chromium chromium-driver python3-selenium prometheus"
# The Debian packages (scripts/package): dpkg-buildflags, dpkg-parsechangelog and dpkg-shlibdeps
# (dpkg-dev), help2man for the man pages, hardening-check (devscripts) for the ARM binaries.
EDGETRAIN_PACKAGE_PACKAGES="dpkg-dev file help2man devscripts"
# Installing and checking them (scripts/package-test): lintian, the unit checks and the services'
# sandbox (systemd, util-linux), man (man-db) and bash completion as an admin's shell has them.
EDGETRAIN_PACKAGE_TEST_PACKAGES="lintian devscripts systemd util-linux man-db bash-completion jq"
# The benchmarks (scripts/bench): Fashion-MNIST, charts; liblinear and scikit-learn as above.
EDGETRAIN_BENCH_PACKAGES="dataset-fashion-mnist python3-matplotlib"

EDGETRAIN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Installs the packages that are missing (apt-get only runs when something is missing).
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root or sudo to install: ${missing[*]}" >&2; return 1; }
    sudo=sudo
  fi
  echo "==> installing missing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The Debian version of the packages: the newest entry of packaging/debian/changelog (0.1.0-2).
package_version() {
  dpkg-parsechangelog -l "$EDGETRAIN_ROOT/packaging/debian/changelog" -S Version
}

# check_hardening ELF: hardening-check's report; fails unless the binary is PIE and has the stack
# protector, FORTIFY_SOURCE functions, RELRO and BIND_NOW. Control-flow protection
# (-fcf-protection) is not required: Debian 12's dpkg-buildflags (1.21) does not give it.
check_hardening() {
  # objdump cannot disassemble an ARM binary for the (optional) stack-clash check: not an error.
  hardening-check --nocfprotection "$1" 2> >(grep -v "can't disassemble for architecture" >&2)
}

# Configures and builds a CMake preset (default: "default").
build_preset() {
  local preset="${1:-default}"
  cd "$EDGETRAIN_ROOT"
  echo "==> configuring and building preset '$preset'"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$(nproc)"
}

# ARM cross builds (scripts/cross-build): Debian's cross compilers, the arm64 libraries from
# multiarch (needs `dpkg --add-architecture arm64` first), qemu-user to run the ARM tests, and
# mmdebstrap to make the armhf sysroot. The header-only dependencies for arm64 are the host's
# (EDGETRAIN_BUILD_PACKAGES); flatc is the host's.
EDGETRAIN_CROSS_PACKAGES="crossbuild-essential-arm64 crossbuild-essential-armhf libzmq3-dev:arm64 zlib1g-dev:arm64 \
qemu-user mmdebstrap"
# What goes into the armhf sysroot (scripts/make-armhf-sysroot): every target dependency,
# header-only ones included, so that the armhf build sees nothing of the host's /usr.
EDGETRAIN_ARMHF_SYSROOT_PACKAGES="libc6-dev libstdc++-12-dev libzmq3-dev cppzmq-dev libeigen3-dev \
libflatbuffers-dev doctest-dev libcli11-dev zlib1g-dev nlohmann-json3-dev"
# Fuzzing (scripts/fuzz, the `fuzz` preset): clang, its sanitizer and libFuzzer runtimes
# (libclang-rt-dev is only a Recommends of clang), llvm-symbolizer for readable crash reports.
EDGETRAIN_FUZZ_PACKAGES="clang libclang-rt-dev llvm"
