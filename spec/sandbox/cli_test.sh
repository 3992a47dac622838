#!/bin/sh
# `tactus sandbox` exit codes (docs/security.md). usage: cli_test.sh TACTUS PROBE
# The probe is only run through `tactus sandbox`, never directly.
set -u
tactus=$1
probe_dir=$(dirname "$2")
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$probe_dir" || exit 1

# Skip (77), loudly, while cli/main.c does not dispatch to tx_cmd_sandbox yet.
if "$tactus" sandbox -- /bin/true 2>&1 | grep -q "not available in this build"; then
    echo "SKIP: this tactus binary does not route 'sandbox' to tx_cmd_sandbox (cli/main.c)"
    exit 77
fi

# check NAME EXPECTED_STATUS EXPECTED_STDERR_SUBSTRING COMMAND...
check() {
    name=$1 want=$2 msg=$3
    shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    if [ "$got" != "$want" ]; then
        echo "FAIL $name: status $got, expected $want; stderr: $(cat "$tmp/err")"
        fail=1
    elif [ -n "$msg" ] && ! grep -qF -- "$msg" "$tmp/err"; then
        echo "FAIL $name: stderr lacks '$msg': $(cat "$tmp/err")"
        fail=1
    else
        echo "ok   $name ($got)"
    fi
}

check true 0 "" "$tactus" sandbox -- /bin/true
check exit-status 3 "" "$tactus" sandbox -- ./probe exit 3
check timeout 124 "tactus sandbox: timeout after 1 s" "$tactus" sandbox --timeout 1 -- ./probe spin
check seccomp 159 "blocked by seccomp" "$tactus" sandbox -- ./probe ptrace
check signal 134 "killed by signal 6 (SIGABRT)" "$tactus" sandbox -- ./probe signal 6
check not-found 127 "command not found" "$tactus" sandbox -- tactus-no-such-program
check bad-option 126 "unknown option" "$tactus" sandbox --bogus -- /bin/true
check no-program 126 "no program given" "$tactus" sandbox --timeout 5
check bad-timeout 126 "--timeout" "$tactus" sandbox --timeout -1 -- /bin/true
check help 0 "" "$tactus" sandbox --help

printf 'sandbox:\n  limits: {file_size: 1m}\n' >"$tmp/fsize.yml"
check file-size 125 "tactus sandbox: limit file_size reached" \
    "$tactus" sandbox --policy "$tmp/fsize.yml" -- ./probe disk-fill
printf 'sandbox:\n  enabled: false\n' >"$tmp/off.yml"
check policy-disabled 126 "never runs a program unsandboxed" \
    "$tactus" sandbox --policy "$tmp/off.yml" -- /bin/true
printf 'sandbox:\n  bogus: 1\n' >"$tmp/bad.yml"
check policy-bad-key 126 "bad.yml:2" "$tactus" sandbox --policy "$tmp/bad.yml" -- /bin/true
mkdir "$tmp/data" && echo visible >"$tmp/data/f.txt"
printf 'sandbox:\n  profile: repo-read\n  mounts: [{source: ./data, target: /data, mode: ro}]\n' \
    >"$tmp/mount.yml"
check policy-mount 0 "" "$tactus" sandbox --policy "$tmp/mount.yml" -- /bin/sh -c \
    'grep -q visible /data/f.txt && ! touch /workspace/x 2>/dev/null && ! touch /data/x 2>/dev/null'
# A limit tripped by a pids cgroup is only detectable with a writable cgroup.
if [ -w /sys/fs/cgroup/pids ] || [ -w /sys/fs/cgroup ]; then
    check fork-bomb 125 "limit pids reached" "$tactus" sandbox -- ./probe fork-bomb
fi
exit $fail
