#!/bin/bash
# disk_full.sh - the journal cannot be written (case 9 of docs/durability-testing.md).
#
# fixtures/diskfull.tac writes 1000-byte checkpoints (positions 2i-1) and side effects
# (positions 2i). Three ways to run out of room:
#   xfsz    `ulimit -S -f 4` with SIGXFSZ at its default: the broker dies mid-append (exit 7);
#   efbig   `ulimit -S -f 4` with SIGXFSZ ignored: write(2) fails with EFBIG;
#   tmpfs   a 64 KiB tmpfs as the working directory (root only; skipped with a note otherwise):
#           ENOSPC.
# In each, the run must stop (efbig and tmpfs: exit 7 with the cause in the message and in
# result.json), no code after the failed operation may run, the failed record must never count
# as done, and a resume without the limit (for tmpfs: of a copy, elsewhere) must finish with
# the clean result, every side effect once except one whose record was lost (then twice, with
# the same key). A procedure that catches every checkpoint error must not finish "ok" on a
# journal that stopped taking records.
. "$(dirname "$0")/lib.sh"

NOPS=16
WANT="n=8000"
detect_modes
read -r -a mode_list <<<"$MODES"

# check_stopped WHAT ID MIN: the state after the failure, with at least MIN records durable.
# Sets FAILED_AT (the first position not recorded). The side effects so far must be exactly
# those of the rounds up to FAILED_AT.
check_stopped() {
    local what=$1 id=$2 min=$3 j records rounds i n
    j=$(journal_of "$id")
    records=$(complete_lines "$j")
    records=$((records - 1))
    FAILED_AT=$((records + 1))
    note "$what: $records records were durable; position $FAILED_AT failed"
    check "$what: the failure came mid-run ($min <= records < $NOPS)" \
        test "$records" -ge "$min" -a "$records" -lt $NOPS
    expect_eq "$what: record positions" "$(positions "$j" | tr '\n' ' ')" \
        "$(seq 1 "$records" | tr '\n' ' ')"
    # Rounds whose side effect ran: those whose host call position (2i) is <= FAILED_AT.
    rounds=$((FAILED_AT / 2))
    for i in $(seq 1 8); do
        n=$(count_lines "\"i\":$i}" effects.log)
        if [ "$i" -le $rounds ]; then
            expect_eq "$what: side effects of round $i" "$n" 1
        else
            expect_eq "$what: side effects of round $i (after the failure)" "$n" 0
        fi
    done
}

# check_resumed WHAT ID: the resumed run finished like a clean one.
check_resumed() {
    local what=$1 id=$2 i n want
    expect_eq "$what: resume exit code ($(head -c 300 "$what.resume.err"))" "$RC" 0
    expect_eq "$what: summary" "$(summary "$id")" "$WANT"
    expect_journal "$what: resumed" "$(journal_of "$id")" $NOPS
    for i in $(seq 1 8); do
        want=1
        # A side effect that ran but whose record failed runs again, under the same key.
        [ $((2 * i)) = "$FAILED_AT" ] && want=2
        n=$(count_lines "^$id:$((2 * i)) .*\"i\":$i}" effects.log)
        expect_eq "$what: side effects of round $i" "$n" "$want"
    done
}

# 1. SIGXFSZ: the broker is killed while appending.
mode=${mode_list[0]}
mkdir -p "$WORK/xfsz" && install_fixture diskfull "$WORK/xfsz" && cd "$WORK/xfsz" || exit 99
id=xfsz
(
    ulimit -S -f 4
    exec "$TACTUS" run diskfull.tac --run-id $id --quiet "$mode" </dev/null >xfsz.out 2>xfsz.err
)
RC=$?
expect_eq "xfsz: exit code ($(head -c 200 xfsz.err))" "$RC" 7
# Dying is allowed; dying without saying why is not.
expect_grep "xfsz: the message names the cause" 'SIGXFSZ|File too large|file size' xfsz.err
# The broker may die at its first write past the limit, even the first record (growing a
# preallocated reserve counts too).
check_stopped xfsz $id 0
check "xfsz: result.json claims a finished run" test "$(status_of $id)" != ok
tx xfsz.resume resume $id --quiet "$mode"
check_resumed xfsz $id

# 2. EFBIG: the write fails and must be reported.
for mode in $MODES; do
    what=efbig-${mode#--}
    mkdir -p "$WORK/$what" && install_fixture diskfull "$WORK/$what" && cd "$WORK/$what" || exit 99
    id=$what
    (
        trap '' XFSZ
        ulimit -S -f 4
        exec "$TACTUS" run diskfull.tac --run-id "$id" --quiet "$mode" </dev/null >"$what.out" \
            2>"$what.err"
    )
    RC=$?
    expect_eq "$what: exit code ($(head -c 300 "$what.err"))" "$RC" 7
    expect_grep "$what: message" 'File too large' "$what.err"
    expect_eq "$what: result.json status" "$(status_of "$id")" system
    expect_grep "$what: result.json message" '"message": ".*File too large' \
        "$(rundir "$id")/result.json"
    check_stopped "$what" "$id" 1
    expect_eq "$what: bytes of a partial record left behind" "$(tail_bytes "$(journal_of "$id")")" 0
    tx "$what.resume" resume "$id" --quiet "$mode"
    check_resumed "$what" "$id"
done

# 3. The procedure catches the errors: the run must still not finish "ok".
mode=${mode_list[0]}
mkdir -p "$WORK/caught" && install_fixture diskfull_pcall "$WORK/caught" && cd "$WORK/caught" ||
    exit 99
(
    trap '' XFSZ
    ulimit -S -f 4
    exec "$TACTUS" run diskfull_pcall.tac --run-id caught --quiet "$mode" </dev/null \
        >caught.out 2>caught.err
)
RC=$?
expect_eq "caught: exit code ($(head -c 300 caught.err))" "$RC" 7
check "caught: the run reported ok on a journal that stopped taking records" \
    test "$(status_of caught)" != ok
tx caught.resume resume caught --quiet "$mode"
expect_eq "caught: resume exit code ($(head -c 300 caught.resume.err))" "$RC" 0
expect_eq "caught: resume summary" "$(summary caught)" "failed=0"
expect_journal "caught: resumed" "$(journal_of caught)" 8

# 4. ENOSPC on a small tmpfs, resumed from a copy elsewhere.
small=$WORK/small
mkdir -p "$small"
if [ "$(id -u)" != 0 ]; then
    note "tmpfs: skipped (mounting a tmpfs needs root)"
elif ! mount -t tmpfs -o size=64k tmpfs "$small" 2>"$WORK/mount.err"; then
    note "tmpfs: skipped (mount -t tmpfs failed: $(head -c 200 "$WORK/mount.err"))"
else
    CLEANUP_HOOKS+=("cd / && umount '$small'")
    install_fixture diskfull "$small"
    # Rounds of 4000 bytes: the 64 KiB fill up well before the end.
    sed -i 's/string.rep(string.char(96 + i), 1000)/string.rep(string.char(96 + i), 4000)/; s/for i = 1, 8 do/for i = 1, 24 do/' \
        "$small/diskfull.tac"
    cd "$small" || exit 99
    mode=${mode_list[0]}
    tx "$WORK/tmpfs" run diskfull.tac --run-id tmpfs --quiet "$mode"
    expect_eq "tmpfs: exit code ($(head -c 300 "$WORK/tmpfs.err"))" "$RC" 7
    expect_grep "tmpfs: message" 'No space left on device' "$WORK/tmpfs.err"
    j=$(journal_of tmpfs)
    records=$(($(complete_lines "$j") - 1))
    failed_at=$((records + 1))
    note "tmpfs: $records records were durable; position $failed_at failed"
    check "tmpfs: the run finished" test "$records" -lt 48
    expect_eq "tmpfs: record positions" "$(positions "$j" | tr '\n' ' ')" \
        "$(seq 1 "$records" | tr '\n' ' ')"
    expect_eq "tmpfs: bytes of a partial record left behind" "$(tail_bytes "$j")" 0
    rounds=$((failed_at / 2))
    expect_eq "tmpfs: side effects before the failure" "$(complete_lines effects.log)" "$rounds"
    # Elsewhere: a copy of the directory, on a disk with room.
    cp -a "$small" "$WORK/elsewhere"
    cd "$WORK/elsewhere" || exit 99
    tx "$WORK/tmpfs.resume" resume tmpfs --quiet "$mode"
    expect_eq "tmpfs: resume elsewhere: exit code ($(head -c 300 "$WORK/tmpfs.resume.err"))" \
        "$RC" 0
    expect_eq "tmpfs: resume elsewhere: summary" "$(summary tmpfs)" "n=96000"
    expect_journal "tmpfs: resumed elsewhere" "$(journal_of tmpfs)" 48
    want_lines=24
    [ $((failed_at % 2)) = 0 ] && want_lines=25
    expect_eq "tmpfs: side effects in all" "$(complete_lines effects.log)" $want_lines
fi
finish
