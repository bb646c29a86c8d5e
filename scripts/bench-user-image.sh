#!/usr/bin/env bash
# Builds the workload initramfs of scripts/bench-user.ts into
# .cache/bench-user/initramfs.gz: the default guest image of
# scripts/guest-image.sh (same busybox, modules, /init and prompt, so "boot to
# the prompt" is the same boot as scripts/bench-boot.ts times) with a second
# gzipped cpio archive appended holding /bench/run (scripts/bench-user/run)
# and /bench/work (scripts/bench-user/work.c, gcc -m32 -static -O2). The
# kernel unpacks concatenated archives one after the other.
#
#   scripts/bench-user-image.sh [--qemu]
#
# Installs what it needs if missing (gcc-multilib, cpio, gzip; with --qemu also
# qemu-system-x86 for the peer), builds in a temporary directory and moves the
# image in only when complete; rebuilds only when its recipe or the default
# image changed. Prints the initramfs path. Run as root.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cache="$root/.cache/bench-user"
out="$cache/initramfs.gz"
base="$root/.cache/guest/initramfs.gz"
me="scripts/bench-user-image.sh"

die() { echo "$me: $*" >&2; exit 1; }

want_qemu=0
for a in "$@"; do
  case "$a" in
    --qemu) want_qemu=1 ;;
    *) die "unknown argument $a" ;;
  esac
done
[ "$(id -u)" = 0 ] || die "run as root (it may install packages and build the guest image)"

# Debian mirrors can be mid-sync: a retry a little later usually works.
retry() {
  local n
  for n in 1 2 3; do
    "$@" && return 0
    echo "$me: '$*' failed (try $n), retrying" >&2
    sleep $((n * 5))
  done
  return 1
}

packages=(gcc-multilib cpio gzip)
[ "$want_qemu" = 1 ] && packages+=(qemu-system-x86)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "$me: installing ${missing[*]}" >&2
  # Stale lists are usually still good enough: let the install decide.
  retry apt-get update -q >&2 || echo "$me: apt-get update failed, using the package lists as they are" >&2
  retry env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
fi

# The kernel and the default initramfs (a no-op when they are up to date).
"$here/guest-image.sh" >/dev/null

# What the image is made of: a change to any of it rebuilds.
recipe_stamp() {
  cat "$0" "$here"/bench-user/* "$base" | sha256sum | cut -d' ' -f1
}

mkdir -p "$cache"
if [ -f "$out" ] && [ "$(cat "$cache/stamp" 2>/dev/null)" = "$(recipe_stamp)" ]; then
  echo "$out"
  exit 0
fi

tmp="$(mktemp -d "$cache/build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/stage/bench"
gcc -m32 -static -O2 -s -o "$tmp/stage/bench/work" "$here/bench-user/work.c"
cp "$here/bench-user/run" "$tmp/stage/bench/run"
chmod 755 "$tmp/stage/bench/work" "$tmp/stage/bench/run"
(cd "$tmp/stage" && find . -mindepth 1 | LC_ALL=C sort |
  cpio --quiet -o -H newc --owner 0:0 --reproducible | gzip -9n) > "$tmp/extra.gz"
cat "$base" "$tmp/extra.gz" > "$tmp/initramfs.gz"
mv "$tmp/initramfs.gz" "$out"
recipe_stamp > "$cache/stamp"
echo "$out"
