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
PKGS=(qemu-system-arm qemu-efi-aarch64 clang lld llvm mtools e2fsprogs libsimde-dev make ca-certificates)
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

# ---- npm packages ----------------------------------------------------------------
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  SUDO=$(need_root nodejs npm)
  echo "setup: installing Node.js and npm from Debian"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q nodejs npm
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  touch node_modules/.package-lock.json
fi

# ---- wasm2c >= 1.0.36 with its runtime headers and SIMDe ---------------------------
# Debian 13's wabt is 1.0.36. Debian 12's (1.0.32) aborts on SIMD, so there we unpack
# Debian 13's wabt with its own libc into a private folder, touching nothing system-wide.
version_ok() { [ "$(printf '%s\n' "1.0.36" "$1" | sort -V | head -1)" = "1.0.36" ]; }
if [ ! -f "$TC/env.mk" ]; then
  sys_ver=$( (wasm2c --version 2>/dev/null || true) | head -1)
  if [ -n "$sys_ver" ] && version_ok "$sys_ver" && [ -f /usr/include/wasm-rt.h ] && [ -f /usr/include/simde/wasm/simd128.h ]; then
    cat > "$TC/env.mk" <<EOM
WASM2C := wasm2c
WASM_RT_INCLUDE := /usr/include
SIMDE_INCLUDE := /usr/include
EOM
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
    cat > "$TC/env.mk" <<EOM
WASM2C := $TC/wasm2c
WASM_RT_INCLUDE := $R/usr/include
SIMDE_INCLUDE := $R/usr/include
EOM
  fi
  echo "setup: wasm2c ready ($(. "$TC/env.mk" 2>/dev/null; sed -n 's/^WASM2C := //p' "$TC/env.mk"))"
fi
