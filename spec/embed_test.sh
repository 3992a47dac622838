#!/bin/sh
# Installs the library into a temporary prefix, then builds and runs examples/embed/embed.c
# using only the installed header and `pkg-config --cflags --libs tactus`.
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
cc -std=c17 -Wall -Wextra -Werror $cflags "$source_dir/examples/embed/embed.c" $libs -o "$prefix/embed"
LD_LIBRARY_PATH="$libdir" "$prefix/embed"
