#!/bin/sh
# Builds examples/custom_layer.c -- a layer defined outside the library --
# out of tree, against the libnn installed in PREFIX, the way users build:
#
#     cc custom_layer.c $(pkg-config --cflags nn) $(pkg-config --libs nn)
#
# in an empty temporary directory holding only custom_layer.c and its
# channel_scale.h (so no header of the source tree can be picked up), then
# runs it: it must exit 0 and print tests/fixtures/custom_layer.out (what
# tests/ref_custom_layer.py prints with PyTorch).
#
# usage: tests/out_of_tree.sh PREFIX [PKG_CONFIG_FLAG...]
#
#   PREFIX              where `make install PREFIX=...` put libnn
#   PKG_CONFIG_FLAG...  passed to both pkg-config calls, e.g. --static; also
#                       taken from NN_PKG_CONFIG_FLAGS (words) when none given
#   CC                  the compiler (default cc)
#   CFLAGS              default: -std=c11 -Wall -Wextra -Wpedantic -Werror -O2
#
# CI runs it once per way of linking, e.g.
#     tests/out_of_tree.sh "$tmp/prefix" --static
#     tests/out_of_tree.sh "$tmp/prefix"
# A shared libnn is found at run time through LD_LIBRARY_PATH, set here to
# pkg-config's libdir.
set -eu

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    if [ $# -ge 1 ]; then
        sed -n '/^# usage:/,/^#   CFLAGS/s/^# \{0,1\}//p' "$0"
        exit 0
    fi
    sed -n '/^# usage:/,/^#   CFLAGS/s/^# \{0,1\}//p' "$0" >&2
    exit 2
fi
prefix=$1
shift
if [ $# -eq 0 ] && [ -n "${NN_PKG_CONFIG_FLAGS:-}" ]; then
    # shellcheck disable=SC2086 # words on purpose
    set -- $NN_PKG_CONFIG_FLAGS
fi

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
[ -d "$prefix" ] || { echo "out_of_tree.sh: no such directory: $prefix" >&2; exit 2; }
prefix=$(cd "$prefix" && pwd)

PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib64/pkgconfig:$prefix/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_PATH
pkg-config --exists nn || { echo "out_of_tree.sh: pkg-config finds no nn.pc under $prefix" >&2; exit 1; }
cflags=$(pkg-config --cflags "$@" nn)
libs=$(pkg-config --libs "$@" nn)
libdir=$(pkg-config --variable=libdir nn)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
cp "$top/examples/custom_layer.c" "$top/examples/channel_scale.h" "$tmp/"

cc=${CC:-cc}
flags=${CFLAGS:--std=c11 -Wall -Wextra -Wpedantic -Werror -O2}
echo "== out of tree (pkg-config ${*:-without extra flags}): $cc $flags custom_layer.c $cflags $libs"
# shellcheck disable=SC2086 # flag lists split into words on purpose
(cd "$tmp" && $cc $flags custom_layer.c -o custom_layer $cflags $libs)

if command -v ldd >/dev/null 2>&1; then
    linked=$(ldd "$tmp/custom_layer" 2>/dev/null | grep 'libnn\.' || true)
    echo "   libnn: ${linked:-linked in statically}"
fi
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" TMPDIR="$tmp" "$tmp/custom_layer" >"$tmp/out.txt"
diff -u "$top/tests/fixtures/custom_layer.out" "$tmp/out.txt"
echo "   custom_layer prints what tests/ref_custom_layer.py prints"
