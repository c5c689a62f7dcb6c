#!/usr/bin/env bash
# Set-up for the llama.cpp performance peer (tools/peer/run.mjs), Debian 12 or 13.
# Idempotent: prints what it installs or builds, and is quick when everything is there.
#   - host packages: the aarch64 cross compiler, qemu-user, qemu-system-arm, and the arm64
#     libc/libstdc++/libgomp (multiarch, after `dpkg --add-architecture arm64`)
#   - the npm package @node-llama-cpp/linux-arm64 (same version as node-llama-cpp in
#     package.json), unpacked into .cache/peer/npm, NOT added to package.json
#   - llama.cpp's headers: a clone of node-llama-cpp's llama/gitRelease.bundle
#   - for the system-mode peer: Debian's arm64 kernel and busybox-static:arm64, fetched
#     with `apt-get download` and unpacked with dpkg-deb -x (nothing installed on the host)
#   - the driver .cache/peer/bin/llama-bench-driver with the arm64 llama.cpp libraries
#     next to it (it finds them through its $ORIGIN run path)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
P=$ROOT/.cache/peer
mkdir -p "$P"
SUDO=
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "peer-setup: need root (or sudo) to install Debian packages" >&2; exit 1; }
  SUDO=sudo
fi

# ---- Debian packages ----------------------------------------------------------------
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "peer-setup: dpkg --add-architecture arm64"
  $SUDO dpkg --add-architecture arm64
  $SUDO apt-get update -q
fi
PKGS=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user qemu-system-arm git xz-utils
      libc6:arm64 libstdc++6:arm64 libgcc-s1:arm64 libgomp1:arm64)
missing=()
for p in "${PKGS[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "peer-setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# ---- npm: the arm64 llama.cpp build, and node-llama-cpp's llama.cpp source bundle -----
VER=$(node -p 'require("./package.json").devDependencies["node-llama-cpp"]')
NPM_ARM=$P/npm/linux-arm64-$VER
if [ ! -f "$NPM_ARM/package.json" ]; then
  echo "peer-setup: npm pack @node-llama-cpp/linux-arm64@$VER -> $NPM_ARM"
  mkdir -p "$P/npm" && rm -rf "$NPM_ARM" "$P/npm/tmp" && mkdir -p "$P/npm/tmp" "$NPM_ARM"
  (cd "$P/npm/tmp" && npm pack --silent "@node-llama-cpp/linux-arm64@$VER" >/dev/null)
  tar -xzf "$P"/npm/tmp/*.tgz -C "$NPM_ARM" --strip-components=1
  rm -rf "$P/npm/tmp"
fi
LIBS=$NPM_ARM/bins/linux-arm64

BUNDLE=$ROOT/node_modules/node-llama-cpp/llama/gitRelease.bundle
if [ ! -f "$P/llama.cpp/include/llama.h" ]; then
  if [ ! -f "$BUNDLE" ] || [ "$(node -p 'require("./node_modules/node-llama-cpp/package.json").version' 2>/dev/null)" != "$VER" ]; then
    NLC=$P/npm/node-llama-cpp-$VER
    if [ ! -f "$NLC/llama/gitRelease.bundle" ]; then
      echo "peer-setup: npm pack node-llama-cpp@$VER (for its llama.cpp source bundle)"
      rm -rf "$NLC" "$P/npm/tmp" && mkdir -p "$NLC" "$P/npm/tmp"
      (cd "$P/npm/tmp" && npm pack --silent "node-llama-cpp@$VER" >/dev/null)
      tar -xzf "$P"/npm/tmp/*.tgz -C "$NLC" --strip-components=1
      rm -rf "$P/npm/tmp"
    fi
    BUNDLE=$NLC/llama/gitRelease.bundle
  fi
  echo "peer-setup: git clone $BUNDLE -> $P/llama.cpp"
  rm -rf "$P/llama.cpp"
  git -c advice.detachedHead=false clone -q "$BUNDLE" "$P/llama.cpp"
fi

# ---- Debian's arm64 kernel and busybox for the system-mode guest ----------------------
# Downloaded with a private apt cache, unpacked only into .cache/peer/guest.
G=$P/guest
if [ ! -f "$G/ready" ]; then
  KPKG=$(apt-cache depends linux-image-arm64:arm64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  [ -n "$KPKG" ] || { echo "peer-setup: cannot resolve linux-image-arm64:arm64 (apt-get update?)" >&2; exit 1; }
  echo "peer-setup: apt-get download $KPKG busybox-static:arm64 -> $P/debs"
  rm -rf "$P/debs" "$G" && mkdir -p "$P/debs" "$G/kernel" "$G/busybox"
  (cd "$P/debs" && apt-get -q -o APT::Sandbox::User=root download "$KPKG" busybox-static:arm64 >/dev/null)
  dpkg-deb -x "$P"/debs/linux-image-*.deb "$G/kernel"
  dpkg-deb -x "$P"/debs/busybox-static_*.deb "$G/busybox"
  cp "$G"/kernel/boot/vmlinuz-* "$G/vmlinuz"
  # keep only the modules the guest needs (virtio-mmio transport and virtio-blk)
  KMOD=$(ls -d "$G"/kernel/lib/modules/* 2>/dev/null || ls -d "$G"/kernel/usr/lib/modules/*)
  mkdir -p "$G/modules"
  for m in drivers/virtio/virtio_mmio drivers/block/virtio_blk; do
    f=$(ls "$KMOD/kernel/$m".ko* | head -1)
    case "$f" in
      *.xz) xz -dc "$f" > "$G/modules/$(basename "$m").ko" ;;
      *.zst) zstd -qdc "$f" > "$G/modules/$(basename "$m").ko" ;;
      *) cp "$f" "$G/modules/" ;;
    esac
  done
  cp "$G/busybox/bin/busybox" "$G/busybox.bin"
  basename "$KMOD" > "$G/kernel-version"
  rm -rf "$G/kernel" "$G/busybox" "$P/debs"
  touch "$G/ready"
  echo "peer-setup: guest kernel $(cat "$G/kernel-version")"
fi

# ---- the driver -----------------------------------------------------------------------
BIN=$P/bin
SRC=$ROOT/tools/peer/llama-bench-driver.c
if [ ! -x "$BIN/llama-bench-driver" ] || [ "$SRC" -nt "$BIN/llama-bench-driver" ] || [ "$ROOT/tools/ref/grammar_greedy.h" -nt "$BIN/llama-bench-driver" ] || [ "$LIBS/libllama.v0.4.0.so" -nt "$BIN/llama-bench-driver" ] 2>/dev/null; then
  echo "peer-setup: building $BIN/llama-bench-driver"
  rm -rf "$BIN" && mkdir -p "$BIN"
  cp "$LIBS"/libggml*.so "$LIBS"/libllama.*.so "$BIN/"   # libllama, libggml, libggml-base, CPU variants
  LLAMA=$(cd "$BIN" && ls libllama.*.so | head -1)
  GGML=$(cd "$BIN" && ls libggml.*.so | head -1)
  aarch64-linux-gnu-gcc -O2 -Wall -std=c11 -D_POSIX_C_SOURCE=200809L \
    -I "$P/llama.cpp/include" -I "$P/llama.cpp/ggml/include" \
    -o "$BIN/llama-bench-driver" "$SRC" \
    -L "$BIN" -l:"$LLAMA" -l:"$GGML" -l:libggml-base.so -Wl,-rpath,'$ORIGIN' -Wl,-rpath-link,"$BIN"
fi
echo "peer-setup: ready ($BIN/llama-bench-driver, guest kernel $(cat "$G/kernel-version"))"
