#!/usr/bin/env bash
# The README's two commands on a FRESH Debian, without a second machine: builds a minimal
# Debian root with debootstrap (once per release, kept as a pristine base), copies it, clones
# this checkout's HEAD into the copy, and runs `make test` and then `make run` (until `sis>`,
# then poweroff) inside it with chroot. Not part of `make test`; run it as root before
# changing set-up steps:
#
#   tools/distro-test.sh [--no-shared] [--keep] [bookworm] [trixie]     (default: both)
#
# --no-shared  leave ../shared out (as in a clone without it); by default it is bind-mounted
#              read-only beside the clone, as CI has it
# --keep       keep the copied root after the run (for a look inside)
# Work folder: $SIS_DISTRO_DIR (default /var/tmp/sis-distro). Each run prints the time each
# step took and the tests' closing line; the whole log is in the work folder.
#
# The host's trust of extra CA certificates for its package registries (a proxy's) is carried
# into the root, as are its apt Acquire settings; nothing else from the host reaches it.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
WORK=${SIS_DISTRO_DIR:-/var/tmp/sis-distro}
MIRROR=${SIS_DISTRO_MIRROR:-http://deb.debian.org/debian}
SHARED=1 KEEP=0 SUITES=()
for a in "$@"; do
  case "$a" in
    --no-shared) SHARED=0 ;;
    --keep) KEEP=1 ;;
    bookworm|trixie) SUITES+=("$a") ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "distro-test: unknown argument '$a' (releases: bookworm, trixie)" >&2; exit 2 ;;
  esac
done
[ ${#SUITES[@]} -gt 0 ] || SUITES=(bookworm trixie)
[ "$(id -u)" = 0 ] || { echo "distro-test: needs root (debootstrap, chroot, mounts)" >&2; exit 1; }
if ! command -v debootstrap >/dev/null; then
  echo "distro-test: installing Debian package debootstrap"
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap
fi
mkdir -p "$WORK"

# mounts made by this script, undone on every exit
MOUNTS=()
cleanup() {
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTS[$i]}" 2>/dev/null || true; done
  MOUNTS=()
}
trap cleanup EXIT
bind() { mkdir -p "$2"; mount --bind "$1" "$2"; MOUNTS+=("$2"); [ "${3:-}" = ro ] && mount -o remount,bind,ro "$2" || true; }

# carry_trust ROOT: the host's extra CA certificates and apt Acquire settings
carry_trust() {
  local r=$1
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    mkdir -p "$r/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$r/usr/local/share/ca-certificates/"
  fi
  for f in /etc/apt/apt.conf.d/*; do
    grep -q '^[[:space:]]*Acquire' "$f" 2>/dev/null && cp "$f" "$r/etc/apt/apt.conf.d/" || true
  done
}

# base SUITE: the pristine minimal root (debootstrap once; reused while it is complete)
base() {
  local s=$1 b="$WORK/$s.base"
  if [ ! -f "$b/.sis-complete" ]; then
    rm -rf "$b"
    echo "distro-test: debootstrap $s (once)"
    local t0=$SECONDS
    # minbase plus what "a minimal system with git, make and python3" has; ca-certificates for https
    debootstrap --variant=minbase --include=git,make,python3,ca-certificates "$s" "$b" "$MIRROR" > "$WORK/$s.debootstrap.log" 2>&1 ||
      { tail -20 "$WORK/$s.debootstrap.log"; echo "distro-test: debootstrap $s failed (log: $WORK/$s.debootstrap.log)" >&2; exit 1; }
    # what an installed system has and debootstrap leaves out: a hosts file (vitest serves on localhost)
    [ -s "$b/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$b/etc/hosts"
    carry_trust "$b"
    chroot "$b" update-ca-certificates > /dev/null 2>&1
    touch "$b/.sis-complete"
    echo "distro-test: $s base ready in $((SECONDS - t0)) s"
  fi
}

run_suite() {
  local s=$1 r="$WORK/$s.run" log="$WORK/$s.log"
  base "$s"
  rm -rf "$r"
  cp -a "$WORK/$s.base" "$r"
  bind /proc "$r/proc"; bind /sys "$r/sys"; bind /dev "$r/dev"; bind /dev/pts "$r/dev/pts"
  cp /etc/resolv.conf "$r/etc/resolv.conf" 2>/dev/null || true
  mkdir -p "$r/work"
  git clone -q --no-hardlinks "$SRC" "$r/work/main"
  [ $SHARED = 1 ] && [ -d "$SRC/../shared" ] && bind "$SRC/../shared" "$r/work/shared" ro
  local env=(env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    LANG=C.UTF-8 CI=true NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt npm_config_cafile=/etc/ssl/certs/ca-certificates.crt)
  echo "distro-test: $s: $(cat "$r/etc/debian_version"), HEAD $(git -C "$SRC" rev-parse --short HEAD), ../shared $([ $SHARED = 1 ] && echo present || echo absent)" | tee "$log"
  local t0=$SECONDS rc=0
  chroot "$r" "${env[@]}" bash -c 'cd /work/main && make test' >> "$log" 2>&1 || rc=$?
  local t_test=$((SECONDS - t0))
  local closing; closing=$(grep -E '^tests: [0-9]+ passed' "$log" | tail -1 || true)
  echo "distro-test: $s: make test exit $rc in ${t_test} s (set-up, build and tests): ${closing:-no closing line}" | tee -a "$log"
  # make run: the kernel must reach its prompt; then poweroff ends QEMU
  t0=$SECONDS
  local run_rc=0
  chroot "$r" "${env[@]}" bash -c 'cd /work/main && (sleep 1; for i in $(seq 120); do sleep 1; grep -q "sis> " /tmp/run.out 2>/dev/null && break; done; echo poweroff) | timeout 300 make run > /tmp/run.out 2>&1' || run_rc=$?
  local prompt=no; grep -q "sis> " "$r/tmp/run.out" && prompt=yes
  cat "$r/tmp/run.out" >> "$log"
  echo "distro-test: $s: make run exit $run_rc in $((SECONDS - t0)) s, reached sis>: $prompt" | tee -a "$log"
  cleanup
  [ $KEEP = 1 ] || rm -rf "$r"
  [ $rc = 0 ] && [ $run_rc = 0 ] && [ $prompt = yes ]
}

status=0
for s in "${SUITES[@]}"; do run_suite "$s" || status=1; done
exit $status
