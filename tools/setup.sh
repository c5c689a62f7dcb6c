#!/usr/bin/env bash
# One idempotent set-up step for `make run` and `make test` on Debian 12 or 13:
# Debian packages, npm packages, and a SIMD-capable wasm2c (>= 1.0.36).
# Prints what it installs; does nothing (quickly) when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TC=$ROOT/.cache/toolchain          # private, per-checkout toolchain pieces
mkdir -p "$TC"

need_root() {
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then echo sudo; else
      echo "setup: missing packages and not root (no sudo): install them as root: $*" >&2; exit 1; fi
  fi
}

# ---- Debian packages -------------------------------------------------------------
# gcc, libc6-dev and git build tools/ref's ggml oracle (the bit-exact tests) from node-llama-cpp's sources;
# g++ builds llama.cpp's JSON-schema converter, the oracle of tests/json_schema's random schemas
# gdb-multiarch is `make gdb`'s debugger (tests/e2e/debug drives it)
PKGS=(qemu-system-arm qemu-efi-aarch64 clang lld llvm mtools e2fsprogs libsimde-dev make ca-certificates gcc g++ libc6-dev git gdb-multiarch)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=$(need_root "${missing[*]}")
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# `make fuzz` links clang's libFuzzer and sanitizer runtimes, which Debian ships apart from
# clang, in the package of clang's own major version (libclang-rt-14-dev on Debian 12,
# libclang-rt-19-dev on Debian 13).
CLANG_RT=libclang-rt-$(clang -dumpversion | cut -d. -f1)-dev
if ! dpkg-query -W -f='${Status}' "$CLANG_RT" 2>/dev/null | grep -q "install ok installed"; then
  SUDO=$(need_root "$CLANG_RT")
  echo "setup: installing Debian package $CLANG_RT (libFuzzer and the sanitizers, for make fuzz)"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "$CLANG_RT"
fi

# ---- Node.js >= 20 and npm ------------------------------------------------------------
# Debian 13's nodejs is 20; Debian 12's is 18, too old for AssemblyScript 0.28 and
# node-llama-cpp. There the official Node 20 binary comes from the npm registry's
# node-linux-<arch> package into $TC/node (the Makefile puts its bin/ first in PATH).
NODE_MAJOR=20
NODE_PKG_VERSION=20.19.5
node_major() { node -e 'process.stdout.write(process.versions.node.split(".")[0])' 2>/dev/null || echo 0; }
export PATH="$TC/node/bin:$PATH"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  SUDO=$(need_root nodejs npm)
  echo "setup: installing Node.js and npm from Debian"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends nodejs npm
fi
if [ "$(node_major)" -lt $NODE_MAJOR ]; then
  case "$(uname -m)" in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
  echo "setup: Node.js $(node --version) is older than $NODE_MAJOR: fetching node-linux-$arch@$NODE_PKG_VERSION (the official binary, from the npm registry) into $TC/node"
  rm -rf "$TC/node" "$TC/node.tmp"
  mkdir -p "$TC/node.tmp"
  (cd "$TC/node.tmp" && npm pack --silent "node-linux-$arch@$NODE_PKG_VERSION" >/dev/null && tar xzf ./*.tgz --strip-components=1 && rm -f ./*.tgz)
  mv "$TC/node.tmp" "$TC/node"
  [ "$(node_major)" -ge $NODE_MAJOR ] || { echo "setup: $TC/node/bin/node does not run" >&2; exit 1; }
fi

# ---- npm packages ----------------------------------------------------------------
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  touch node_modules/.package-lock.json
fi

# ---- wasm2c >= 1.0.36 with its runtime headers and SIMDe ---------------------------
# Debian 13's wabt is 1.0.36. Debian 12's (1.0.32) aborts on SIMD, so there we unpack
# Debian 13's wabt with its own libc into a private folder, touching nothing system-wide.
# Either way the freestanding kernel compile sees only $TC/include: links to wasm-rt*.h and
# simde/, never the folder they came from (on Debian 13 that is /usr/include, where the host
# C library's headers would shadow boot/include's stand-ins).
LAYOUT=2   # bump when env.mk's contents change: older ones are then made anew
version_ok() { [ "$(printf '%s\n' "1.0.36" "$1" | sort -V | head -1)" = "1.0.36" ]; }

# private_include DIR: $TC/include holding links to DIR's wasm-rt*.h and simde/
private_include() {
  rm -rf "$TC/include.tmp"
  mkdir -p "$TC/include.tmp"
  for h in "$1"/wasm-rt*.h; do ln -s "$h" "$TC/include.tmp/"; done
  ln -s "$1/simde" "$TC/include.tmp/simde"
  rm -rf "$TC/include"
  mv "$TC/include.tmp" "$TC/include"
}

if ! grep -qx "LAYOUT := $LAYOUT" "$TC/env.mk" 2>/dev/null; then
  sys_ver=$( (wasm2c --version 2>/dev/null || true) | head -1)
  if [ -n "$sys_ver" ] && version_ok "$sys_ver" && [ -f /usr/include/wasm-rt.h ] && [ -f /usr/include/simde/wasm/simd128.h ]; then
    private_include /usr/include
    WASM2C=wasm2c
  elif [ -z "$sys_ver" ] && dpkg --compare-versions "$(. /etc/os-release; echo "${VERSION_ID:-0}")" ge 13 2>/dev/null; then
    SUDO=$(need_root wabt)
    echo "setup: installing Debian package wabt"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends wabt
    exec "$0" "$@"
  else
    echo "setup: fetching wasm2c 1.0.36 (Debian 13's wabt) into $TC/trixie"
    A="$TC/apt"
    rm -rf "$A" "$TC/trixie"
    mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$A/debs" "$TC/trixie"
    echo "deb http://deb.debian.org/debian trixie main" > "$A/sources.list"
    OPTS=(-o "Dir::Etc::SourceList=$A/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$A/lists" -o "Dir::Cache=$A/cache" -o Debug::NoLocking=1
          -o APT::Sandbox::User=root)
    apt-get "${OPTS[@]}" -q update >/dev/null
    (cd "$A/debs" && apt-get "${OPTS[@]}" -q download wabt libc6 libstdc++6 libgcc-s1 libssl3t64 libsimde-dev >/dev/null)
    for d in "$A"/debs/*.deb; do dpkg-deb -x "$d" "$TC/trixie"; done
    R=$TC/trixie
    cat > "$TC/wasm2c" <<EOM
#!/bin/sh
exec "$R/usr/lib64/ld-linux-x86-64.so.2" --library-path "$R/usr/lib/x86_64-linux-gnu" "$R/usr/bin/wasm2c" "\$@"
EOM
    chmod +x "$TC/wasm2c"
    v=$("$TC/wasm2c" --version)
    version_ok "$v" || { echo "setup: fetched wasm2c reports $v, need >= 1.0.36" >&2; exit 1; }
    rm -rf "$A"
    private_include "$R/usr/include"
    WASM2C=$TC/wasm2c
  fi
  cat > "$TC/env.mk" <<EOM
LAYOUT := $LAYOUT
WASM2C := $WASM2C
WASM_RT_INCLUDE := $TC/include
SIMDE_INCLUDE := $TC/include
EOM
  echo "setup: wasm2c ready ($WASM2C; headers in $TC/include)"
fi
