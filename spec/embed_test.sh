#!/bin/sh
# Installs the library into a temporary prefix, then builds and runs the programs in
# examples/embed/ using only the installed header and `pkg-config --cflags --libs tactus`:
# embed.c (a run with a C host tool) and resume.c (a run that waits for a person, its
# question, the answer, the final output).
set -eu
build_dir="$1"; source_dir="$2"; install_prefix="$3"
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
DESTDIR="$prefix" meson install -C "$build_dir" --no-rebuild --quiet >/dev/null
root="$prefix$install_prefix"
pcdir=$(dirname "$(find "$root" -name tactus.pc | head -1)")
export PKG_CONFIG_PATH="$pcdir"
# The .pc file names the final prefix; point it at the staging copy.
cflags=$(pkg-config --define-variable=prefix="$root" --cflags tactus)
libs=$(pkg-config --define-variable=prefix="$root" --libs tactus)
libdir=$(pkg-config --define-variable=prefix="$root" --variable=libdir tactus)
for prog in embed resume; do
    cc -std=c17 -Wall -Wextra -Werror $cflags "$source_dir/examples/embed/$prog.c" $libs \
        -o "$prefix/$prog"
done
LD_LIBRARY_PATH="$libdir" "$prefix/embed"
# The run key that seals run.json lives in TACTUS_HOME: a private one for this test.
for answer in approve reject; do
    TACTUS_HOME="$prefix/home" LD_LIBRARY_PATH="$libdir" \
        "$prefix/resume" "$source_dir/examples/approval.tac" "$prefix/runs-$answer" "$answer" \
        >"$prefix/resume.out"
    cat "$prefix/resume.out"
    grep -q '^status=suspended$' "$prefix/resume.out"
    grep -q 'waits at .*approval\.tac:[0-9]* for: approve$' "$prefix/resume.out"
    grep -q "^status=ok output=.*\"approved\":$([ $answer = approve ] && echo true || echo false)" \
        "$prefix/resume.out"
    grep -q '^again: status=usage (.*has finished' "$prefix/resume.out"
done
