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
#
# Sourced rather than run (`source run-parts.bash`), it only defines
# source_environment: the runner's sourcedEnvironment (what package-installs'
# `when` reads) sources environment.d through the same function.
set -ue -o pipefail
# DIB runs its scripts through sudo (sudo -E chroot ... inside the chroot;
# sudo for what outside scripts write into the image), whose umask is at
# least 022: files come out 0644, directories 0755. Here, whoever the caller
# is (a rootless build by a user with umask 0002), exactly 022, so the image
# does not depend on the caller's umask.
umask 022

# The environment files _env_files (names) in _env_dir, sourced as DIB's
# dib-run-parts sources them: inside a function (its source_environment),
# called without arguments. So, as in DIB, a `declare`/`typeset` (`-x` or
# not) or `local` in an environment file makes a variable local to the
# function, gone before the scripts run (only `export`, `declare -g` and
# plain assignments outlive it); `$1`, `$#`... are the function's (none);
# DIB's own locals (dir, env_files, env_file, xtrace) are locals here too,
# so an environment file that sets one of them does not reach the scripts
# either; and an environment file's `set -x` ends with that file (DIB puts
# back the tracing it had before each file). DIB also traces each file's
# commands into its log (set -x); here the log names the file only.
source_environment() {
    local dir=$_env_dir
    local env_files
    local env_file
    local xtrace
    local -a _paths=("${_env_files[@]/#/$dir/}")
    env_files=$(printf '%s\n' "${_paths[@]}")
    for env_file in "${_paths[@]}"; do
        echo "env ${env_file##*/}" >&3
        if [[ -o xtrace ]]; then xtrace='set -o xtrace'; else xtrace='set +o xtrace'; fi
        # shellcheck disable=SC1090
        source "$env_file"
        $xtrace
    done
}

# Sourced: the function only.
if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    return 0
fi

_phase_dir=$1
_env_dir=$2
_env_count=$3
shift 3
_env_files=("${@:1:$_env_count}")
shift "$_env_count"

source_environment
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
