#!/usr/bin/env bash
# Install the Debian packages the integration tests need (real Ironic and
# Inspector, qemu, disk tools). Idempotent and fast when everything is there:
# one dpkg-query, no apt-get update unless a package is missing.
#
#   scripts/install-test-deps.sh          install what is missing
#   scripts/install-test-deps.sh --check  only list what is missing (exit 1 if any)
set -euo pipefail

PACKAGES=(
  # Real OpenStack Ironic (Zed 21.4) all-in-one + Inspector 11.1 (test/support/ironic.ts)
  ironic-api ironic-conductor python3-ironic python3-ironicclient ironic-inspector
  # In-VM tests (test/integration/agent-vm.test.ts) and qcow2 test images
  qemu-system-x86 qemu-utils ovmf
  # Loop disks and their checks (test/support/loopdisk.ts) and the agent's own disk tools
  util-linux mount gdisk e2fsprogs parted dosfstools bsdextrautils coreutils iproute2
)

missing=()
# One dpkg-query for all packages; unknown packages print nothing, hence the map.
declare -A ok=()
while read -r name status; do
  [[ "$status" == "ii" ]] && ok["$name"]=1
done < <(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null || true)
for p in "${PACKAGES[@]}"; do
  [[ -n "${ok[$p]:-}" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
if [[ "${1:-}" == "--check" ]]; then
  echo "missing test packages: ${missing[*]}" >&2
  exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-test-deps: missing ${missing[*]}; run this script as root (apt-get needs it)" >&2
  exit 2
fi

echo "install-test-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Another apt may hold the dpkg lock: wait for it rather than failing the suite.
apt_get() {
  local i
  for i in $(seq 1 60); do
    if apt-get -o DPkg::Lock::Timeout=60 "$@"; then return 0; fi
    echo "install-test-deps: apt-get $1 failed (attempt $i), retrying in 5 s" >&2
    sleep 5
  done
  return 1
}
# Update the indexes only if apt cannot find a candidate for a missing package.
if ! apt-get install -s --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
  apt_get update -qq
fi
apt_get install -y -qq --no-install-recommends "${missing[@]}"
