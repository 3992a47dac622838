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
# The everyday programs of CI jobs run in a workspace: each must exit 0 with the expected
# output (none may die of SIGSYS), and what they create belongs to the workspace's owner.
ws=$(mktemp -d)
chmod 755 "$ws"
printf 'b\na\nc\n' >"$ws/in.txt"
printf '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n' >"$ws/hello.c"
printf 'all:\n\techo made >made.txt\n' >"$ws/Makefile"
# ci NAME EXPECTED_STDOUT COMMAND...
ci() {
    name=$1 want=$2
    shift 2
    "$tactus" sandbox --workspace "$ws" -- "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    if [ "$got" != 0 ] || [ "$(cat "$tmp/out")" != "$want" ]; then
        echo "FAIL ci-$name: status $got, stdout '$(cat "$tmp/out")', expected '$want'; stderr: $(cat "$tmp/err")"
        fail=1
    else
        echo "ok   ci-$name"
    fi
}
ci coreutils "f
a
b
c
f" /bin/sh -c 'set -e; mkdir -p src/d; echo x >src/d/f; cp -r src dst; mv dst moved; ls moved/d
    sort in.txt; tar cf a.tar moved; mkdir un; tar xf a.tar -C un; ls un/moved/d'
ci git "1" /bin/sh -c 'set -e; git init -q repo; cd repo; echo hi >f; git add f
    git -c user.name=ci -c user.email=ci@example.invalid commit -qm init; git log --oneline | wc -l'
ci python3 "py" python3 -c 'open("py.txt", "w").write("py\n"); print(open("py.txt").read().strip())'
ci node "node" node -e 'const fs = require("fs"); fs.writeFileSync("node.txt", "node\n");
    console.log(fs.readFileSync("node.txt", "utf8").trim())'
ci make "made" /bin/sh -c 'make -s && cat made.txt'
ci cc "hello" /bin/sh -c 'cc -o hello hello.c && ./hello'
ci awk "3" /bin/sh -c 'awk "END { print NR }" in.txt'
bad=$(find "$ws" \( ! -user "$(id -u)" -o ! -group "$(id -g)" \) -print | head -3)
if [ -n "$bad" ]; then
    echo "FAIL ci-ownership: not owned by the workspace owner $(id -u):$(id -g): $bad"
    fail=1
else
    echo "ok   ci-ownership"
fi
# The workspace by profile: repo-write writes (as the owner, also for root through the
# id-mapped view), repo-read gets EROFS.
printf 'sandbox:\n  profile: repo-write\n' >"$tmp/rw.yml"
printf 'sandbox:\n  profile: repo-read\n' >"$tmp/ro.yml"
check ws-rw 0 "" "$tactus" sandbox --policy "$tmp/rw.yml" --workspace "$ws" -- /bin/sh -c \
    'echo rw >/workspace/rw.txt'
if [ "$(stat -c %u:%g "$ws/rw.txt" 2>/dev/null)" != "$(id -u):$(id -g)" ]; then
    echo "FAIL ws-rw-owner: rw.txt is $(stat -c %u:%g "$ws/rw.txt" 2>&1), not $(id -u):$(id -g)"
    fail=1
fi
check ws-ro 2 "Read-only file system" "$tactus" sandbox --policy "$tmp/ro.yml" --workspace "$ws" \
    -- /bin/sh -c 'echo ro >/workspace/ro.txt'
if [ -e "$ws/ro.txt" ]; then
    echo "FAIL ws-ro: ro.txt was created"
    fail=1
fi
rm -rf "$ws"

# A limit tripped by a pids cgroup is only detectable with a writable cgroup.
if [ -w /sys/fs/cgroup/pids ] || [ -w /sys/fs/cgroup ]; then
    check fork-bomb 125 "limit pids reached" "$tactus" sandbox -- ./probe fork-bomb
fi
exit $fail
