#!/bin/bash
# ramforge's dib-run-parts (DIB: lib/dib-run-parts), run by the element
# runner (elements/runner.ts) outside the chroot and, as
# /tmp/in_target.d/ramforge-run-parts, inside it.
#
#   ramforge-run-parts PHASE_DIR ENV_DIR N ENV_FILE... SCRIPT...
#
# The runner chooses the environment files and the scripts and their order
# (elements/run-parts.ts: DIB's name rule and `LANG=C sort -n`); this script
# does what only a shell can: it sources the environment.d files with bash,
# in one shell, then runs each script as a child, so only exported variables
# reach the scripts. The first failing script stops the phase with its exit
# code. Progress goes to fd 3 (`env F`, `start S`, `end S RC`) so that the
# runner can time each script and name the one that failed; the scripts
# themselves never see fd 3.
set -ue -o pipefail
# DIB runs its scripts through sudo (sudo -E chroot ... inside the chroot;
# sudo for what outside scripts write into the image), whose umask is at
# least 022: files come out 0644, directories 0755. Here, whoever the caller
# is (a rootless build by a user with umask 0002), exactly 022, so the image
# does not depend on the caller's umask.
umask 022

_phase_dir=$1
_env_dir=$2
_env_count=$3
shift 3
_env_files=("${@:1:$_env_count}")
shift "$_env_count"

for _env_file in "${_env_files[@]}"; do
    echo "env $_env_file" >&3
    # shellcheck disable=SC1090
    source "$_env_dir/$_env_file"
done
echo "envdone" >&3

for _script in "$@"; do
    echo "start $_script" >&3
    _rc=0
    "$_phase_dir/$_script" 3>&- </dev/null || _rc=$?
    echo "end $_script $_rc" >&3
    if [ "$_rc" -ne 0 ]; then
        exit "$_rc"
    fi
done
