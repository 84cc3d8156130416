#!/usr/bin/env bash
# npm test: install what the suite needs (npm packages, Debian packages for
# building, ISOs, qemu boots and the real Ironic), check types, format, lint
# and import directions, then run the unit tier (in parallel) and the
# integration tier (test/integration/: real tools, qemu, the real Ironic).
# Tiers: test/README.md.
#
#   scripts/test.sh              everything (npm test, .ci/run), then the quick benchmark
#   scripts/test.sh --unit       the unit tier only (npm run test:unit): no installs, no checks
#   scripts/test.sh FILE...      these test files, with the same harness (shared Ironic, temp check)
#
# Every run gets a private TMPDIR; at the end the run fails if a test left a
# file, a mount or a loop device behind there (RAMFORGE_KEEP_TEST_DIRS=1
# keeps the directory for a post-mortem instead).
# Knobs: RAMFORGE_TEST_CONCURRENCY (unit files at a time, default 2 x CPUs,
# at least 4), RAMFORGE_TEST_INTEGRATION_CONCURRENCY (default 1).
set -euo pipefail
cd "$(dirname "$0")/.."

# Node.js 20 or newer first on PATH, as ./ramforge does (npm may run this with Debian 12's Node 18).
# shellcheck source=scripts/host-node.sh
. scripts/host-node.sh
ensure_host_node

mode=all
if [ "${1:-}" = --unit ]; then mode=unit; shift; fi
if [ $# -gt 0 ]; then mode=files; fi

say() { echo "test: $*" >&2; }

if [ "$mode" != unit ]; then
  stamp=node_modules/.package-lock.json
  if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
    say "installing npm dependencies (npm ci)"
    npm ci --prefer-offline --no-audit --no-fund --loglevel=error
  fi

  # Debian packages: the same table `ramforge doctor` uses (builder/src/host/tools.ts).
  if [ "$(id -u)" = 0 ]; then
    node --import tsx builder/src/cli/main.ts doctor --for all --fix >/dev/null
  else
    node --import tsx builder/src/cli/main.ts doctor --for all || {
      say "missing Debian packages (see above); run as root or install them"
      exit 1
    }
  fi
fi

if [ "$mode" = all ]; then
  # Types (tsx strips them, so nothing else would catch a type error), format + lint, import directions.
  failed=()
  for check in typecheck lint check:imports; do
    say "npm run $check"
    npm run --silent "$check" || failed+=("$check")
  done
  if [ ${#failed[@]} -gt 0 ]; then
    say "failed: ${failed[*]} (npm run format fixes formatting)"
    exit 1
  fi
fi

# The tiers. Unit: every *.test.ts outside test/integration/, wherever it lives.
unit_files() { find builder agent test bench -name '*.test.ts' -not -path '*/node_modules/*' -not -path 'test/integration/*' | sort; }
integration_files() { find test/integration -name '*.test.ts' | sort; }

case "$mode" in
  unit) mapfile -t unit < <(unit_files); integration=() ;;
  all) mapfile -t unit < <(unit_files); mapfile -t integration < <(integration_files) ;;
  files)
    unit=(); integration=()
    for f in "$@"; do
      case "$f" in test/integration/*|./test/integration/*) integration+=("$f") ;; *) unit+=("$f") ;; esac
    done ;;
esac

cpus=$(nproc 2>/dev/null || echo 2)
unit_jobs=${RAMFORGE_TEST_CONCURRENCY:-$(( cpus * 2 > 4 ? cpus * 2 : 4 ))}
integration_jobs=${RAMFORGE_TEST_INTEGRATION_CONCURRENCY:-1}

# A private temp directory for the run: what is left in it at the end leaked.
run_dir=$(mktemp -d "${TMPDIR:-/tmp}/ramforge-test.XXXXXX")
export TMPDIR="$run_dir/tmp"
mkdir "$TMPDIR"
# Like /tmp (less the sticky bit's sharing): daemons that drop privileges in
# tests (lldpd as _lldpd) must reach their directories below it.
chmod 0755 "$run_dir" "$TMPDIR"
ironic_pid=

stop_ironic() {
  [ -n "$ironic_pid" ] || return 0
  kill -TERM "$ironic_pid" 2>/dev/null || true
  wait "$ironic_pid" 2>/dev/null || true
  ironic_pid=
}

# Leftovers: files and directories (tsx's compile cache is the tool's, not a test's),
# mounts and loop devices under the run's temp directory.
check_leftovers() {
  local left=()
  mapfile -t left < <(find "$TMPDIR" -mindepth 1 -maxdepth 1 -not -name 'tsx-*' | sort)
  if command -v findmnt >/dev/null; then
    mapfile -t -O "${#left[@]}" left < <(findmnt -rn -o TARGET | grep -F "$run_dir/" | sed 's/^/mount: /' || true)
  fi
  if [ "$(id -u)" = 0 ] && command -v losetup >/dev/null; then
    mapfile -t -O "${#left[@]}" left < <(losetup -nO NAME,BACK-FILE | grep -F "$run_dir/" | sed 's/^/loop device: /' || true)
  fi
  [ ${#left[@]} -eq 0 ] && return 0
  if [ -n "${RAMFORGE_KEEP_TEST_DIRS:-}" ]; then
    say "kept for a post-mortem (RAMFORGE_KEEP_TEST_DIRS):"
    printf '  %s\n' "${left[@]}" >&2
    return 0
  fi
  say "tests left ${#left[@]} things behind in $TMPDIR (clean up in an after hook):"
  printf '  %s\n' "${left[@]}" >&2
  return 1
}

finish() {
  local status=$?
  trap - EXIT
  stop_ironic
  check_leftovers || { [ "$status" != 0 ] || status=1; }
  if [ -n "${RAMFORGE_KEEP_TEST_DIRS:-}" ]; then say "kept $run_dir"; else rm -rf "$run_dir"; fi
  exit "$status"
}
trap finish EXIT
trap 'exit 130' INT TERM

# One real Ironic + Inspector for the whole integration tier (test/support/ironic.ts
# attaches to it through RAMFORGE_TEST_IRONIC), started now so it boots while the
# unit tier runs. Only when a selected file uses it.
if [ ${#integration[@]} -gt 0 ] && grep -lq 'sharedIronic' "${integration[@]}" && [ -x /usr/bin/ironic ]; then
  node --import tsx test/support/ironic-launcher.ts "$run_dir/ironic.json" >"$run_dir/ironic-launcher.log" 2>&1 &
  ironic_pid=$!
fi

status=0
if [ ${#unit[@]} -gt 0 ]; then
  say "unit tier: ${#unit[@]} files, $unit_jobs at a time"
  node --import tsx --test --test-concurrency="$unit_jobs" "${unit[@]}" || status=$?
fi

if [ ${#integration[@]} -gt 0 ]; then
  if [ -n "$ironic_pid" ]; then
    for _ in $(seq 1 600); do
      [ -s "$run_dir/ironic.json" ] && break
      kill -0 "$ironic_pid" 2>/dev/null || break
      sleep 0.5
    done
    if [ -s "$run_dir/ironic.json" ]; then
      export RAMFORGE_TEST_IRONIC="$run_dir/ironic.json"
      say "shared Ironic: $(grep -o 'Ironic .*' "$run_dir/ironic-launcher.log" | head -n 1)"
    else
      say "the shared Ironic did not start; each test file starts its own. Launcher log:"
      tail -n 40 "$run_dir/ironic-launcher.log" >&2 || true
      stop_ironic
    fi
  fi
  say "integration tier: ${#integration[@]} files, $integration_jobs at a time"
  node --import tsx --test --test-concurrency="$integration_jobs" "${integration[@]}" || status=$?
fi

# The benchmark in its quick mode, last: a broken benchmark fails the run (its leftovers too).
if [ "$mode" = all ]; then
  stop_ironic
  say "npm run bench -- --quick"
  npm run --silent bench -- --quick || status=$?
fi

exit "$status"
