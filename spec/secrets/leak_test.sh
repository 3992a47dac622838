#!/bin/sh
# Secret-leak probes: a secret stored with `tactus secrets set` reaches the host tools that name
# it, and nothing else: not the procedure's output, errors, logs, or any file of the run
# directory, in any encoding. $1 = tactus binary.
set -u
tactus=$1
dir=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
export TACTUS_HOME="$work/home"
secret="s3cr3t-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
hex=$(printf %s "$secret" | od -An -tx1 | tr -d ' \n')
b64=$(printf %s "$secret" | base64 -w0)
printf %s "$secret" | "$tactus" secrets set LEAK_TOKEN || { echo "FAIL: secrets set"; exit 1; }
cp "$dir/leak.tac" "$dir/leak.tac.yml" "$work/"
cd "$work" || exit 1
for mode in --sandbox --no-sandbox; do
    "$tactus" run leak.tac --json $mode --run-id "leak${mode#--}" >out.json 2>err.txt
    rc=$?
    if [ "$rc" -ne 0 ]; then echo "FAIL $mode: exit $rc"; cat err.txt; fail=1; fi
    # The tool did receive the secret: the output shows it redacted, not missing.
    grep -q '\[REDACTED:LEAK_TOKEN\]' out.json || { echo "FAIL $mode: no redaction marker"; cat out.json; fail=1; }
    for form in "$secret" "$hex" "$b64"; do
        if grep -rqF -- "$form" out.json err.txt .tactus/; then
            echo "FAIL $mode: the secret (form $form) leaked into:"
            grep -rlF -- "$form" out.json err.txt .tactus/
            fail=1
        fi
    done
    grep -q 'Tool not allowlisted: host.env' out.json || { echo "FAIL $mode: unlisted tool not refused"; fail=1; }
    grep -q 'getenv=nil' out.json || { echo "FAIL $mode: os.getenv exists"; fail=1; }
done
# The store itself holds no plaintext, and its files are private.
if grep -rqF -- "$secret" "$TACTUS_HOME"; then echo "FAIL: the secrets store holds the plaintext"; fail=1; fi
[ "$(stat -c %a "$TACTUS_HOME/secrets.key")" = 600 ] || { echo "FAIL: key file mode"; fail=1; }
[ "$fail" -eq 0 ] && echo "secrets: no leak on any route"
exit "$fail"
