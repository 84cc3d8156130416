#!/usr/bin/env bash
# npm test: install what the suite needs (npm packages, Debian packages for
# building, ISOs, qemu boots and the real Ironic), then run every test with
# the node test runner. Extra arguments are test files (default: all).
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  echo "test: installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

# Debian packages: the same table `ramforge doctor` uses (builder/src/host/tools.ts).
if [ "$(id -u)" = 0 ]; then
  node --import tsx builder/src/cli/main.ts doctor --for all --fix >/dev/null
else
  node --import tsx builder/src/cli/main.ts doctor --for all || {
    echo "test: missing Debian packages (see above); run as root or install them" >&2
    exit 1
  }
fi

if [ $# -gt 0 ]; then
  files=("$@")
else
  # Fast unit tests first, then the integration tests (real tools, qemu, Ironic).
  mapfile -t files < <(find builder agent -name '*.test.ts' -not -path '*/node_modules/*' | sort; find test/integration -name '*.test.ts' | sort)
fi

# One file at a time: the boot and Ironic tests each want both cores.
node --import tsx --test --test-concurrency=1 "${files[@]}"
[ $# -gt 0 ] || npm run --silent bench -- --quick  # the benchmark in its quick mode: a broken benchmark fails the run
