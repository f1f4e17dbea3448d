#!/bin/sh
# CI: `make install` into a temporary prefix, then link the README quickstart
# (examples/quickstart.c) through pkg-config the three ways the README
# describes and check each program prints tests/fixtures/quickstart.out:
#   pkg-config --libs nn                 libnn.so (run-time dependency on libnn.so.0)
#   pkg-config --libs nn-static          libnn.a (no libnn.so needed at run time)
#   -static, pkg-config --static --libs nn   a fully static program
# Also: the soname and the links, a DESTDIR install, and uninstall.
# Usage: sh tests/check-install.sh [CC]   (from the repository's top directory)
set -eu
cc=${1:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "check-install: $*" >&2
    exit 1
}

prefix=$tmp/prefix
make -s install PREFIX="$prefix" >/dev/null
lib=$prefix/lib
for f in include/nn.h include/nn/tensor.h lib/libnn.a lib/libnn.so.0.1.0 lib/pkgconfig/nn.pc \
    lib/pkgconfig/nn-static.pc; do
    [ -f "$prefix/$f" ] || fail "make install left no $f"
done
[ "$(readlink "$lib/libnn.so.0")" = libnn.so.0.1.0 ] || fail "libnn.so.0 does not point to libnn.so.0.1.0"
[ "$(readlink "$lib/libnn.so")" = libnn.so.0 ] || fail "libnn.so does not point to libnn.so.0"
readelf -d "$lib/libnn.so.0.1.0" | grep -q 'SONAME.*\[libnn\.so\.0\]' || fail "libnn.so.0.1.0 has no soname libnn.so.0"

export PKG_CONFIG_PATH="$lib/pkgconfig"
cp examples/quickstart.c examples/demo_args.h "$tmp/"
build() { # output, then compiler arguments
    out=$1
    shift
    (cd "$tmp" && $cc -std=c11 -Wall -Wextra -Wpedantic -Werror quickstart.c -o "$out" "$@") ||
        fail "linking $out failed"
    "$tmp/$out" >"$tmp/$out.txt" || fail "$out failed"
    diff -u tests/fixtures/quickstart.out "$tmp/$out.txt" || fail "$out does not print tests/fixtures/quickstart.out"
}

echo "-- shared: cc quickstart.c \$(pkg-config --cflags --libs nn)"
# shellcheck disable=SC2046 # pkg-config's output is meant to be split
build q-shared $(pkg-config --cflags --libs nn) -Wl,-rpath,"$lib"
readelf -d "$tmp/q-shared" | grep -q 'NEEDED.*\[libnn\.so\.0\]' || fail "q-shared does not need libnn.so.0"

echo "-- static library: cc quickstart.c \$(pkg-config --cflags --libs nn-static)"
# shellcheck disable=SC2046
build q-static $(pkg-config --cflags --libs nn-static)
readelf -d "$tmp/q-static" | grep -q 'libnn' && fail "q-static still needs a libnn shared object"
# it runs with the installed library gone
mv "$lib/libnn.so.0.1.0" "$tmp/moved.so"
"$tmp/q-static" >/dev/null || fail "q-static needs libnn.so at run time"
mv "$tmp/moved.so" "$lib/libnn.so.0.1.0"

echo "-- fully static: cc -static quickstart.c \$(pkg-config --cflags --static --libs nn)"
# shellcheck disable=SC2046
build q-full-static -static $(pkg-config --cflags --static --libs nn)
readelf -d "$tmp/q-full-static" | grep -q NEEDED && fail "q-full-static has shared-library dependencies"

echo "-- DESTDIR install and uninstall"
make -s install DESTDIR="$tmp/stage" PREFIX=/usr >/dev/null
[ -f "$tmp/stage/usr/lib/libnn.so.0.1.0" ] || fail "DESTDIR install left no usr/lib/libnn.so.0.1.0"
grep -qx 'prefix=/usr' "$tmp/stage/usr/lib/pkgconfig/nn.pc" || fail "nn.pc under DESTDIR does not say prefix=/usr"
make -s uninstall PREFIX="$prefix" >/dev/null
left=$(find "$prefix" -type f -o -type l)
[ -z "$left" ] || fail "uninstall left: $left"
echo "install check passed"
