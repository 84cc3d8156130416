/**
 * The confinement the host-side agent runs in (see agent-process.ts). The
 * agent is a root process that erases disks and powers machines off; on this
 * host the root disk is a real block device and poweroff would stop the test
 * machine. So the agent runs inside `unshare --mount` behind this script:
 *
 *  - /sys/block becomes a tmpfs listing only the allowed loop devices, so
 *    lsblk (and a /sys/block walk) enumerate nothing else;
 *  - every other block device node under /dev is covered by a read-only
 *    empty file: whatever the agent lists, opening it for writing fails
 *    (EROFS) and it reads as empty;
 *  - poweroff/reboot/halt/shutdown/systemctl (and busybox's applets of the
 *    same names) are covered by a script that appends the call to a log file
 *    and exits 0 (and put on PATH where the host has none of them);
 *    /proc/sysrq-trigger is covered read-only;
 *  - the result is checked (lsblk must list only allowed devices) before the
 *    agent is exec'ed; any failure (set -e) means the agent never starts.
 *
 * Arguments: $1 = space-separated allowed knames (loop3), $2 = power log
 * file, $3 = scratch dir (same filesystem visible to us), then the agent argv.
 */
export const SANDBOX_SH = String.raw`
set -eu
allowed="$1"; power_log="$2"; scratch="$3"; shift 3
mount --make-rprivate /
is_allowed() { for k in $allowed; do case "$1" in "$k"|"$k"p[0-9]*) return 0;; esac; done; return 1; }

mount -t tmpfs -o mode=0755,size=64k ramforge-sysblock /sys/block
for k in $allowed; do ln -s "/sys/devices/virtual/block/$k" "/sys/block/$k"; done

mask="$scratch/ro-mask"
: > "$mask"; chmod 0444 "$mask"
for dev in $(find /dev -type b); do
  if is_allowed "$(basename "$dev")"; then continue; fi
  mount --bind "$mask" "$dev"
  mount -o remount,bind,ro "$dev"
done
if [ -e /proc/sysrq-trigger ]; then mount --bind "$mask" /proc/sysrq-trigger; mount -o remount,bind,ro /proc/sysrq-trigger; fi

# Power commands: record, never act. busybox keeps its other applets via a copy.
bb_copy=""
for bb in /bin/busybox /usr/bin/busybox /sbin/busybox /usr/sbin/busybox; do
  if [ -f "$bb" ] && [ -z "$bb_copy" ]; then bb_copy="$scratch/busybox.real"; cp "$bb" "$bb_copy"; fi
done
fake="$scratch/fake-power"
cat > "$fake" <<EOF
#!/bin/sh
name=\$(basename "\$0")
if [ "\$name" = busybox ]; then applet="\$1"; shift; else applet="\$name"; fi
case "\$applet" in
  poweroff|reboot|halt|shutdown|systemctl) echo "\$applet \$*" >> "$power_log"; exit 0;;
esac
if [ -n "$bb_copy" ]; then exec "$bb_copy" "\$applet" "\$@"; fi
echo "\$applet \$* (not run: masked)" >> "$power_log"
exit 0
EOF
chmod 0755 "$fake"
done_list=" "
for p in /sbin/poweroff /sbin/reboot /sbin/halt /sbin/shutdown /usr/sbin/poweroff /usr/sbin/reboot /usr/sbin/halt \
         /usr/sbin/shutdown /bin/systemctl /usr/bin/systemctl /bin/busybox /usr/bin/busybox /sbin/busybox /usr/sbin/busybox; do
  [ -e "$p" ] || continue
  real=$(readlink -f "$p")
  case "$done_list" in *" $real "*) continue;; esac
  mount --bind "$fake" "$real"
  done_list="$done_list$real "
done
# A host without them (a minimal Debian has no init, so no poweroff): the fakes on PATH.
mkdir -p "$scratch/power-bin"
for n in poweroff reboot halt shutdown; do ln -sf "$fake" "$scratch/power-bin/$n"; done
export PATH="$PATH:$scratch/power-bin"

seen=$(lsblk -dnro KNAME | tr '\n' ' ')
for k in $seen; do
  if ! is_allowed "$k"; then echo "ramforge sandbox: lsblk still sees $k; refusing to start the agent" >&2; exit 97; fi
done
echo "ramforge sandbox: block devices visible: [$seen]; power commands faked into $power_log" >&2
exec "$@"
`;
