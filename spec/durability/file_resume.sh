#!/bin/bash
# file_resume.sh - File operations are journaled: a resumed run gets back what the first run
# read (even if the file changed since), does not write again and raises a recorded error with
# the position it had; a replay check passes.
. "$(dirname "$0")/lib.sh"

detect_modes

for mode in $MODES; do
    m=${mode#--}
    dir=$WORK/$m
    mkdir -p "$dir"
    cp "$FIXTURES/files.tac" "$dir/files.tac" || exit 99
    cd "$dir" || exit 99
    echo one >in.txt

    id=files-$m
    tx "$id.suspend" run files.tac --run-id "$id" --quiet "$mode"
    expect_eq "$id: suspended: exit code ($(head -c 200 "$id.suspend.err"))" "$RC" 5
    expect_eq "$id: written once" "$(cat log.txt)" x
    # File.read, File.stat (exists), File.write, the refused File.read, then the wait.
    expect_eq "$id: journal kinds" "$(kinds "$(journal_of "$id")")" \
        "nondet nondet nondet nondet approve "

    echo two >in.txt
    tx "$id.resume" resume "$id" --approve --quiet "$mode"
    expect_eq "$id: resumed: exit code ($(head -c 200 "$id.resume.err"))" "$RC" 0
    # The first read is replayed ("one"); the read after the wait is live ("two"); the append
    # before the wait is not repeated; the replayed error reads as the live one did.
    expect_eq "$id: summary" "$(summary "$id")" \
        "one/two/x/true/files.tac:7: Absolute paths not allowed: /abs"
    expect_eq "$id: still written once" "$(cat log.txt)" x

    tx "$id.check" replay "$id" --check --quiet "$mode"
    expect_eq "$id: replay --check: exit code ($(head -c 200 "$id.check.err"))" "$RC" 0
    expect_eq "$id: replay wrote nothing" "$(cat log.txt)" x
    cd "$WORK" || exit 99
done
finish
