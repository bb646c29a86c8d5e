#!/usr/bin/env bash
# Builds the default guest: Debian's stock i386 kernel (linux-image-686) and a
# small initramfs holding a static busybox, the virtio modules that kernel
# needs, and an /init that gives a shell on the console.
#
# Nothing is installed on the host: the two .deb files are fetched with
# `apt-get download` and unpacked with `dpkg-deb -x` into .cache/guest/.
# Safe to run again: a finished cache is reused, and the initramfs is rebuilt
# only when this script or scripts/guest-image/* change.
#
# Prints the kernel and initramfs paths, then `kernel=<path> initrd=<path>`.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cache="$root/.cache/guest"
kernel="$cache/vmlinuz"
initrd="$cache/initramfs.gz"
me="scripts/guest-image.sh"

# The modules the guest loads at boot, by name; dependencies come from
# modules.dep. A name that is not a module of this kernel (built in, like
# rng-core, or served by another, as ext4 serves ext2) is simply skipped.
wanted=(
  virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
  virtio_blk failover net_failover virtio_net virtio_console
  rng-core virtio-rng
  crc32c_generic crc16 mbcache jbd2 ext2 ext4
)

die() { echo "$me: $*" >&2; exit 1; }

# Debian mirrors can be mid-sync (an index naming a file that is not there
# yet): a retry a little later usually works.
retry() {
  local n
  for n in 1 2 3 4 5; do
    "$@" && return 0
    echo "$me: '$*' failed (try $n), retrying" >&2
    sleep $((n * 5))
  done
  return 1
}

# Changes to the recipe (this file, scripts/guest-image/*) rebuild the initramfs.
recipe_stamp() {
  cat "$0" "$here"/guest-image/* 2>/dev/null | sha256sum | cut -d' ' -f1
}

fetch_debs() {
  [ "$(id -u)" = 0 ] || die "run as root to build the guest image (apt-get, device nodes)"
  if ! dpkg --print-foreign-architectures | grep -qx i386; then
    dpkg --add-architecture i386
  fi
  # A failed update leaves the previous lists in place; the download below
  # is the real test of whether they still name files the mirror has.
  retry apt-get update -q >&2 || echo "$me: apt-get update failed, using the package lists as they are" >&2
  # linux-image-686 is a metapackage: its Depends names the real kernel.
  local real
  real="$(apt-cache show --no-all-versions linux-image-686:i386 |
    sed -n 's/^Depends:.*\(linux-image-[0-9][^ ,]*-686\).*/\1/p' | head -n1)"
  [ -n "$real" ] || die "cannot resolve linux-image-686:i386 to a kernel package"
  rm -rf "$cache/debs" && mkdir -p "$cache/debs"
  # apt drops to the _apt user to download unless the directory is root's
  # own business; a private cache directory is, so say so.
  (cd "$cache/debs" &&
    retry apt-get download -q -o APT::Sandbox::User=root "$real:i386" busybox-static:i386 >&2)
}

unpack_debs() {
  rm -rf "$cache/kernel-deb" "$cache/busybox-deb"
  local deb
  for deb in "$cache"/debs/*.deb; do
    case "$(basename "$deb")" in
      linux-image-*) dpkg-deb -x "$deb" "$cache/kernel-deb" ;;
      busybox-static_*) dpkg-deb -x "$deb" "$cache/busybox-deb" ;;
    esac
  done
  local vmlinuz
  vmlinuz="$(ls "$cache"/kernel-deb/boot/vmlinuz-* 2>/dev/null | head -n1)"
  [ -n "$vmlinuz" ] || die "no boot/vmlinuz-* in the kernel package"
  local version="${vmlinuz##*/vmlinuz-}"
  cp "$vmlinuz" "$kernel.tmp" && mv "$kernel.tmp" "$kernel"
  cp "$cache/kernel-deb/boot/config-$version" "$cache/config"
  # modules.dep is made by depmod at install time, not shipped in the .deb.
  depmod -b "$cache/kernel-deb" "$version"
  echo "$version" > "$cache/version"
}

# Prints the .ko paths (relative to the modules directory) of the wanted
# modules and everything they depend on, each after its dependencies.
module_load_order() {
  local moddir="$1"
  awk -v wanted="${wanted[*]}" '
    function norm(s) { gsub(/-/, "_", s); return s }
    function name(path,   b) { b = path; sub(/.*\//, "", b); sub(/\.ko(\.[a-z]+)?$/, "", b); return norm(b) }
    function visit(p,   n, i, d) {
      if (p in done) return
      done[p] = 1
      n = split(deps[p], d, " ")
      for (i = 1; i <= n; i++) visit(d[i])
      print p
    }
    {
      p = $1; sub(/:$/, "", p)
      path[name(p)] = p
      deps[p] = ""
      for (i = 2; i <= NF; i++) deps[p] = deps[p] " " $i
    }
    END {
      n = split(wanted, w, " ")
      for (i = 1; i <= n; i++) if (norm(w[i]) in path) visit(path[norm(w[i])])
    }
  ' "$moddir/modules.dep"
}

build_initramfs() {
  [ "$(id -u)" = 0 ] || die "run as root to build the guest image (apt-get, device nodes)"
  local version moddir stage
  version="$(cat "$cache/version")"
  moddir="$cache/kernel-deb/lib/modules/$version"
  [ -f "$moddir/modules.dep" ] || die "no modules.dep in the kernel package"
  stage="$cache/initramfs.d"
  rm -rf "$stage"
  mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,root,lib/modules,mnt}

  cp "$cache/busybox-deb/bin/busybox" "$stage/bin/busybox"
  # The static i386 busybox runs on an x86-64 host, so it can list its own
  # applets; each becomes a symlink, as `busybox --install -s` would make.
  local applet
  while read -r applet; do
    [ -e "$stage/$applet" ] || ln -s /bin/busybox "$stage/$applet"
  done < <("$stage/bin/busybox" --list-full)
  [ -L "$stage/bin/sh" ] || die "busybox could not list its applets (can this host run i386 programs?)"

  # The kernel opens /dev/console before /init runs, before devtmpfs exists.
  mknod -m 600 "$stage/dev/console" c 5 1

  local order=() ko
  while read -r ko; do
    mkdir -p "$stage/lib/modules/$version/$(dirname "$ko")"
    cp "$moddir/$ko" "$stage/lib/modules/$version/$ko"
    order+=("/lib/modules/$version/$ko")
  done < <(module_load_order "$moddir")
  case "${order[*]}" in *.ko.*) die "compressed modules: busybox insmod cannot load them" ;; esac

  sed "s|@MODULES@|${order[*]}|" "$here/guest-image/init" > "$stage/init"
  mkdir -p "$stage/etc"
  cp "$here/guest-image/inittab" "$here/guest-image/console-shell" "$stage/etc/"
  chmod 755 "$stage/init" "$stage/etc/console-shell"

  (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort |
    cpio --quiet -o -H newc --owner 0:0 --reproducible | gzip -9n) > "$initrd.tmp"
  mv "$initrd.tmp" "$initrd"
  rm -rf "$stage"
  echo "${order[*]}" > "$cache/modules"
  recipe_stamp > "$cache/stamp"
}

mkdir -p "$cache"
# version is written last by unpack_debs: without it an earlier run stopped half way.
if [ ! -f "$kernel" ] || [ ! -f "$cache/version" ] || [ ! -d "$cache/busybox-deb" ]; then
  ls "$cache"/debs/linux-image-*.deb "$cache"/debs/busybox-static_*.deb >/dev/null 2>&1 || fetch_debs
  unpack_debs
fi
if [ ! -f "$initrd" ] || [ "$(cat "$cache/stamp" 2>/dev/null)" != "$(recipe_stamp)" ]; then
  build_initramfs
fi

echo "$kernel"
echo "$initrd"
echo "kernel=$kernel initrd=$initrd"
