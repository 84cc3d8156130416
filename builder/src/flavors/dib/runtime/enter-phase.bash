#!/bin/bash
# Run one phase of the element runner (elements/runner.ts) in the private
# mount and PID namespaces that `unshare` made for it:
#
#   enter-phase.bash ROOT HOOKS MOUNTS CHROOT -- RUN_PARTS_ARGS...
#
# MOUNTS=1: /proc, /dev (bind), /dev/pts and a read-only /sys in ROOT, as
# DIB's mount_proc_dev_sys. CHROOT=1: the hook tree bound read-only at
# ROOT/tmp/in_target.d and the phase run by chroot (DIB's run_d_in_target).
# Every mount lives in this namespace only: when the phase ends, however it
# ends (failure, abort, a killed ramforge), the kernel drops them, so no
# mount is ever left behind on the host.
set -eu -o pipefail

root=$1
hooks=$2
mounts=$3
in_chroot=$4
shift 4
[ "${1:-}" = "--" ] && shift

if [ "$mounts" = 1 ]; then
    mount -t proc proc "$root/proc"
    mount --bind /dev "$root/dev"
    mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$root/dev/pts"
    mount -t sysfs -o ro sysfs "$root/sys"
fi

if [ "$in_chroot" = 1 ]; then
    # Read-only bind in two steps, as DIB does (older util-linux ignores ro on the first).
    mount --bind "$hooks" "$root/tmp/in_target.d"
    mount -o remount,bind,ro "$root/tmp/in_target.d"
    exec chroot "$root" /bin/bash /tmp/in_target.d/ramforge-run-parts "$@"
fi
exec /bin/bash "$hooks/ramforge-run-parts" "$@"
