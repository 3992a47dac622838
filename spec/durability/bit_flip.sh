#!/bin/bash
# bit_flip.sh - damage before the journal's last record (case 4 of
# docs/durability-testing.md).
#
# Damage that an interrupted append cannot explain (a flipped bit in a record followed by valid
# records, a damaged newline, a duplicated record) must stop the resume with exit 7 and
# "journal ... corrupt at position N", naming the first damaged position, and leave every file
# of the run as it was: nothing may be truncated or rewritten. A flipped bit in the LAST record
# is indistinguishable from a torn write, so that one is cut and the run finishes.
. "$(dirname "$0")/lib.sh"

N=5
install_fixture steps
detect_modes
read -r -a mode_list <<<"$MODES"

id=flip
tx clean run steps.tac --run-id $id --quiet
expect_eq "clean run: exit code" "$RC" 0
want=$(summary $id)
j=$(journal_of $id)
expect_journal "clean run" "$j" $N
cp -a "$(rundir $id)" pristine
cp effects.log pristine.effects

restore() {
    rm -rf "$(rundir $id)" && cp -a pristine "$(rundir $id)" && cp pristine.effects effects.log ||
        exit 99
}

# line_start K: byte offset of line K (1-based; line 1 is the header, line K+1 is record K).
line_start() { head -n $(($1 - 1)) "$j" | wc -c | tr -d ' '; }

# flip_bit OFFSET MASK: XORs the byte at OFFSET of the journal with MASK, in place.
flip_bit() {
    local old new
    old=$(od -An -tu1 -j "$1" -N1 "$j" | tr -d ' ')
    new=$((old ^ $2))
    # shellcheck disable=SC2059
    printf "\\$(printf '%03o' $new)" | dd of="$j" bs=1 seek="$1" conv=notrunc status=none
    CHECKS=$((CHECKS + 1))
    [ "$(od -An -tu1 -j "$1" -N1 "$j" | tr -d ' ')" = $new ] || fail "could not flip byte $1"
}

# expect_corrupt WHAT MODE POS: the resume refuses with "corrupt at position POS" and exit 7,
# and the run directory is byte for byte what it was before the resume.
expect_corrupt() {
    local what=$1 mode=$2 pos=$3 f
    rm -rf before && cp -a "$(rundir $id)" before
    tx "$what" resume $id --quiet "$mode"
    expect_eq "$what: exit code" "$RC" 7
    expect_grep "$what: message" "journal .*journal\.jsonl corrupt at position ${pos}[ (]" "$what.err"
    for f in journal.jsonl result.json steps.json run.json; do
        check "$what: $f changed" cmp -s "before/$f" "$(rundir $id)/$f"
    done
    expect_eq "$what: host call runs" "$(count_lines "^$id:3 " effects.log)" 1
}

m=0
next_mode() {
    MODE=${mode_list[$((m % ${#mode_list[@]}))]}
    m=$((m + 1))
}

# A bit in the JSON of record 2, in the checksum of record 3, and in the header.
restore
next_mode
flip_bit $(($(line_start 3) + 12)) 1
expect_corrupt json-bit "$MODE" 2

restore
next_mode
off=$(($(line_start 5) - 5)) # inside record 3's checksum, before its newline
flip_bit $off 4
expect_corrupt checksum-bit "$MODE" 3

restore
next_mode
flip_bit 20 2
expect_corrupt header-bit "$MODE" 0

# Record 2's newline damaged: lines 3 and 4 run together.
restore
next_mode
flip_bit $(($(line_start 4) - 1)) 1
expect_corrupt newline "$MODE" 2

# A whole, correctly checksummed line in the wrong place: record 2 written twice.
restore
next_mode
{ head -n 3 "pristine/journal.jsonl" && sed -n 3p "pristine/journal.jsonl" &&
    tail -n +4 "pristine/journal.jsonl"; } >"$j"
expect_corrupt duplicate-record "$MODE" 3

# Record 2 missing: record 3 follows record 1.
restore
next_mode
sed -i 3d "$j"
expect_corrupt missing-record "$MODE" 2

# The last record: cut like a torn write, re-run, finished. (A crash while it was written: no
# result.json yet. A finished run missing a record is refused: lifecycle.sh.)
restore
next_mode
flip_bit $(($(line_start 6) + 12)) 1
rm "$(rundir $id)/result.json"
tx last-bit resume $id --quiet "$MODE"
expect_eq "last-bit: exit code ($(head -c 300 last-bit.err))" "$RC" 0
expect_eq "last-bit: summary" "$(summary $id)" "$want"
expect_journal "last-bit" "$j" $N
expect_grep "last-bit: repair note" '"journal_repair":"dropped ' "$(rundir $id)/stream.jsonl"
finish
