#!/bin/bash
# Run one phase of the element runner (elements/runner.ts) in the private
# mount and PID namespaces that `unshare` made for it:
#
#   enter-phase.bash ROOT HOOKS MOUNTS CHROOT APT_ARCHIVES APT_LISTS NODE -- RUN_PARTS_ARGS...
#
# MOUNTS=1: /proc, /dev (bind), /dev/pts and a read-only /sys in ROOT, as
# DIB's mount_proc_dev_sys. CHROOT=1: the hook tree bound read-only at
# ROOT/tmp/in_target.d and the phase run by chroot (DIB's run_d_in_target);
# APT_ARCHIVES / APT_LISTS (when not empty): host directories bound over the
# root's /var/cache/apt/archives and /var/lib/apt/lists (DIB's shared apt
# cache), so packages and lists are reused across builds and stay out of
# the image. NODE (when not empty): a Node binary bound read-only on
# ROOT/tmp/in_target.d/ramforge-runtime/node (an empty file the runner made),
# what in-chroot helpers (pkg-map) run on (elements/helper-runtime.ts).
# Every mount lives in this namespace only: when the phase ends, however it
# ends (failure, abort, a killed ramforge), the kernel drops them, so no
# mount is ever left behind on the host.
set -eu -o pipefail

root=$1
hooks=$2
mounts=$3
in_chroot=$4
apt_archives=$5
apt_lists=$6
node=$7
shift 7
[ "${1:-}" = "--" ] && shift

# In a user namespace (an ordinary user's build: uid 0 is not the host's
# root) a fresh sysfs needs a network namespace of our own and the host's
# /dev and /sys carry locked submounts: both are bound recursively, /sys
# read-only; /proc is fresh either way (the PID namespace is ours).
userns=0
read -r inner outer count < /proc/self/uid_map
[ "$inner $outer $count" = "0 0 4294967295" ] || userns=1

if [ "$mounts" = 1 ]; then
    mount -t proc proc "$root/proc"
    if [ "$userns" = 1 ]; then
        mount --rbind /dev "$root/dev"
        mount --rbind /sys "$root/sys"
        mount -o remount,bind,ro "$root/sys"
    else
        mount --bind /dev "$root/dev"
        mount -t sysfs -o ro sysfs "$root/sys"
    fi
    mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$root/dev/pts"
fi

if [ "$in_chroot" = 1 ]; then
    # Read-only bind in two steps, as DIB does (older util-linux ignores ro on the first).
    mount --bind "$hooks" "$root/tmp/in_target.d"
    mount -o remount,bind,ro "$root/tmp/in_target.d"
    if [ -n "$apt_archives" ]; then
        mkdir -p "$root/var/cache/apt/archives" "$root/var/lib/apt/lists"
        mount --bind "$apt_archives" "$root/var/cache/apt/archives"
        mount --bind "$apt_lists" "$root/var/lib/apt/lists"
    fi
    if [ -n "$node" ]; then
        mount --bind "$node" "$root/tmp/in_target.d/ramforge-runtime/node"
        mount -o remount,bind,ro "$root/tmp/in_target.d/ramforge-runtime/node"
    fi
    exec chroot "$root" /bin/bash /tmp/in_target.d/ramforge-run-parts "$@"
fi
exec /bin/bash "$hooks/ramforge-run-parts" "$@"
