# lib.sh - shared helpers for the crash-safety tests in spec/durability
# (docs/durability-testing.md). Sourced by each test script, which is run as
#   bash spec/durability/NAME.sh /path/to/tactus
#
# Each test works in its own temporary directory (removed on exit), keeps going after a failed
# check so one run reports every problem, and exits 0 (pass), 1 (some check failed), 77 (skip)
# or 99 (the harness itself could not run).

# shellcheck disable=SC2034 # RC, MODES and the like are read by the scripts that source this
set -u

if [ $# -lt 1 ] || [ ! -x "$1" ]; then
    echo "usage: $0 /path/to/tactus" >&2
    exit 99
fi
case $1 in
/*) TACTUS=$1 ;;
*) TACTUS=$PWD/$1 ;;
esac
DUR_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FIXTURES=$DUR_DIR/fixtures
TEST_NAME=$(basename "$0" .sh)

# Fault injection must come only from the tests that ask for it.
unset TACTUS_CRASH_AT
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tactus-durability-$TEST_NAME.XXXXXX") || exit 99
export TACTUS_HOME=$WORK/home # no secrets store or user config of the caller's
mkdir -p "$TACTUS_HOME"

CLEANUP_HOOKS=()
FAILURES=0
CHECKS=0

cleanup() {
    local hook
    for hook in "${CLEANUP_HOOKS[@]+"${CLEANUP_HOOKS[@]}"}"; do
        eval "$hook"
    done
    cd / && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$WORK" || exit 99

# note TEXT: a line for the test log.
note() { echo "# $*"; }

# fail TEXT: records a failed check and goes on.
fail() {
    FAILURES=$((FAILURES + 1))
    echo "FAIL: $*"
}

# check DESCRIPTION COMMAND...: runs COMMAND; a non-zero status is a failed check.
check() {
    local what=$1
    shift
    CHECKS=$((CHECKS + 1))
    "$@" || fail "$what"
}

# expect_eq DESCRIPTION GOT WANT
expect_eq() {
    CHECKS=$((CHECKS + 1))
    [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}

# expect_grep DESCRIPTION PATTERN FILE: FILE has a line matching the extended regex PATTERN.
expect_grep() {
    CHECKS=$((CHECKS + 1))
    grep -Eq -- "$2" "$3" 2>/dev/null ||
        fail "$1: no match for /$2/ in $3: $(head -c 600 "$3" 2>/dev/null | tr '\n' ' ')"
}

# finish: the test's verdict.
finish() {
    if [ "$FAILURES" -gt 0 ]; then
        echo "$TEST_NAME: $FAILURES of $CHECKS checks failed"
        exit 1
    fi
    echo "$TEST_NAME: all $CHECKS checks passed"
    exit 0
}

# skip REASON: the whole test does not apply here.
skip() {
    echo "SKIP: $*"
    exit 77
}

# tx PREFIX ARGS...: runs tactus ARGS with stdin from /dev/null (so Human.* suspends), stdout
# to PREFIX.out and stderr to PREFIX.err; sets RC. Environment assignments go before it via
# `env`, e.g. txe PREFIX TACTUS_CRASH_AT=after_write:3 -- run ...
tx() {
    local prefix=$1
    shift
    "$TACTUS" "$@" </dev/null >"$prefix.out" 2>"$prefix.err"
    RC=$?
}

# txe PREFIX VAR=VALUE... -- ARGS...: tx with extra environment variables.
txe() {
    local prefix=$1
    shift
    local envs=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do
        envs+=("$1")
        shift
    done
    shift
    env "${envs[@]}" "$TACTUS" "$@" </dev/null >"$prefix.out" 2>"$prefix.err"
    RC=$?
}

# install_fixture NAME [DIR]: copies fixtures/NAME.tac, the append tool and a sidecar allowing it into
# DIR (default: the work directory).
install_fixture() {
    local dir=${2:-$WORK}
    cp "$FIXTURES/$1.tac" "$dir/$1.tac" &&
        cp "$FIXTURES/append.sh" "$dir/append.sh" &&
        cp "$FIXTURES/tools.tac.yml" "$dir/$1.tac.yml" || exit 99
}

# Isolation modes under test: both when the sandbox can start here, else --no-sandbox alone.
detect_modes() {
    printf 'Procedure { function() return { summary = "up" } end }\n' >"$WORK/probe.tac"
    if "$TACTUS" run "$WORK/probe.tac" --sandbox --quiet --run-dir "$WORK/probe-runs/probe" \
        </dev/null >/dev/null 2>"$WORK/probe.err"; then
        MODES="--sandbox --no-sandbox"
    else
        note "the sandbox cannot start here ($(head -c 300 "$WORK/probe.err" | tr '\n' ' ')):" \
            "testing --no-sandbox only"
        MODES="--no-sandbox"
    fi
}

# ---- run evidence ----------------------------------------------------------------------------

rundir() { echo "$PWD/.tactus/runs/$1"; }
journal_of() { echo "$PWD/.tactus/runs/$1/journal.jsonl"; }

# summary RUN_ID: output.summary from the run's result.json (empty when there is none).
summary() {
    sed -n 's/^ *"summary": "\(.*\)",\{0,1\}$/\1/p' "$(rundir "$1")/result.json" 2>/dev/null |
        head -n 1
}

# status_of RUN_ID: the status in the run's result.json (empty when there is none).
status_of() {
    sed -n 's/^  "status": "\([a-z]*\)",\{0,1\}$/\1/p' "$(rundir "$1")/result.json" 2>/dev/null |
        head -n 1
}

# positions FILE: the "pos" of every record line of a journal, one per line.
positions() { sed -n '2,$ s/.*"pos":\([0-9][0-9]*\)[,}].*/\1/p' "$1"; }

# kinds FILE: the kind of every record, space separated.
kinds() { sed -n '2,$ s/.*"kind":"\([a-z_]*\)".*/\1/p' "$1" | tr '\n' ' '; }

# record FILE POS: the line of record POS.
record() { sed -n "$(($2 + 1))p" "$1"; }

# complete_lines FILE: number of newline-terminated lines.
complete_lines() { wc -l <"$1" | tr -d ' '; }

# tail_bytes FILE: bytes other than NUL after the last newline: a torn line. (Zero bytes there
# are not data: the journal may keep a reserve of zeros ahead of its last line.)
tail_bytes() {
    local prefix
    prefix=$(head -n "$(complete_lines "$1")" "$1" | wc -c | tr -d ' ')
    tail -c +$((prefix + 1)) "$1" | tr -d '\000' | wc -c | tr -d ' '
}

# expect_journal WHAT FILE N: FILE is a whole journal of N records: a header, positions exactly
# 1..N in order, every line complete and ending in a tab and a 32-hex-digit checksum.
expect_journal() {
    local what=$1 file=$2 n=$3 got want bad
    CHECKS=$((CHECKS + 1))
    if [ ! -f "$file" ]; then
        fail "$what: no journal at $file"
        return
    fi
    got=$(positions "$file" | tr '\n' ' ')
    want=$(seq 1 "$n" | tr '\n' ' ')
    expect_eq "$what: journal positions" "$got" "$want"
    expect_eq "$what: journal lines" "$(complete_lines "$file")" "$((n + 1))"
    expect_eq "$what: bytes after the last newline" "$(tail_bytes "$file")" 0
    bad=$(grep -cvE '	[0-9a-f]{32}$' "$file")
    expect_eq "$what: lines without a checksum" "$bad" 0
    expect_grep "$what: header" '^\{"journal":"tactus","format":1,' "$file"
}

# count_lines PATTERN FILE: lines matching the extended regex (0 when the file is missing).
count_lines() {
    local n
    n=$(grep -cE -- "$1" "$2" 2>/dev/null)
    echo "${n:-0}"
}

# now_ms: wall clock in milliseconds (GNU date).
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# sleep_ms MS: sleeps MS milliseconds (GNU sleep takes fractions).
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }
