#!/bin/sh
# CI: files written on one machine load bit-identically on another of the
# other byte order, and both compute the same bits. Build A (this machine,
# little-endian x86-64) and build B (a cross build run under an emulator,
# e.g. big-endian s390x) each run <BUILD>/cross_endian (tests/cross_endian.c):
#   write: seed 1, a small CNN, 3 Adam steps; the model (safetensors), the
#          Adam state and the generator state to files, every parameter's
#          bits and the losses to values.txt.
#          A's and B's files must be the same bytes.
#   load:  each loads the other's files (and its own): the parameters it
#          loaded have the writer's bits, saving them again gives the same
#          bytes, and 2 more steps from there end in the same files on A
#          and on B whichever machine wrote the starting point.
# Usage: sh tests/cross-endian.sh BUILD_A BUILD_B 'RUN_B'
#   e.g. sh tests/cross-endian.sh build build/s390x qemu-s390x
set -eu
a_build=$1
b_build=$2
b_run=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "cross-endian: $*" >&2
    exit 1
}
same() { # DIR1 DIR2 WHAT FILES...
    d1=$1 d2=$2 what=$3
    shift 3
    for f in "$@"; do
        cmp "$d1/$f" "$d2/$f" || fail "$what: $f differs"
    done
}
order() { # the byte order of a program (ELF EI_DATA)
    case $(od -An -tx1 -j5 -N1 "$1" | tr -d ' ') in
    01) echo little-endian ;;
    02) echo big-endian ;;
    *) echo "unknown byte order" ;;
    esac
}
a="$a_build/cross_endian"
b="$b_build/cross_endian"
echo "-- A: $a ($(order "$a")); B: $b ($(order "$b")) run by '$b_run'"

mkdir "$tmp/a" "$tmp/b" "$tmp/aa" "$tmp/ab" "$tmp/ba" "$tmp/bb"
"$a" write "$tmp/a"
$b_run "$b" write "$tmp/b"
same "$tmp/a" "$tmp/b" "written on A and on B" model optim rng values.txt
echo "-- A and B wrote the same bytes ($(wc -c <"$tmp/a/model") + $(wc -c <"$tmp/a/optim") + $(wc -c <"$tmp/a/rng"))"

"$a" load "$tmp/a" "$tmp/aa"   # A reads A's files
$b_run "$b" load "$tmp/a" "$tmp/ab"   # B reads A's
"$a" load "$tmp/b" "$tmp/ba"   # A reads B's
$b_run "$b" load "$tmp/b" "$tmp/bb"   # B reads B's
grep -v '^loss' "$tmp/a/values.txt" >"$tmp/a/params.txt"
for d in aa ab ba bb; do
    cmp "$tmp/a/params.txt" "$tmp/$d/values.txt" || fail "$d: the parameters loaded differ from those written"
    same "$tmp/a" "$tmp/$d" "$d: saved again after loading" model optim rng
    same "$tmp/aa" "$tmp/$d" "$d: two more steps" model2 optim2 values2.txt
done
echo "-- each loaded the other's files bit-identically; 2 more steps agree on A and B"
echo "cross-endian check passed"
