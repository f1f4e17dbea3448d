#!/bin/sh
# Makes sure the tests can build and run: cmocka to compile against, and
# the locale sources (Debian's locales package) from which make test
# compiles a de_DE locale once, into $(BUILD)/locale (tests/testutil.h;
# a cross build's tests compile their own). On a fresh Debian machine, as
# root, installs what is missing; otherwise says exactly what to run.
# A cross compiler (CC=s390x-linux-gnu-gcc) needs the cmocka of its target
# architecture: libcmocka-dev:s390x, from Debian's multiarch archive.
cc=${1:-cc} # may carry flags ("clang --target=aarch64-linux-gnu"): used unquoted
probe_cmocka() {
    printf '#include <stdarg.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <setjmp.h>\n#include <cmocka.h>\nint main(void){return 0;}\n' |
        $cc -x c - -o /dev/null -lcmocka >/dev/null 2>&1
}
probe_locales() {
    [ -f /usr/share/i18n/locales/de_DE ] && command -v localedef >/dev/null 2>&1
}

# the Debian architecture the compiler builds for, when it is not this machine's
foreign=""
if command -v dpkg >/dev/null 2>&1; then
    triplet=$($cc -dumpmachine 2>/dev/null)
    arch=""
    if [ -n "$triplet" ]; then
        arch=$(dpkg-architecture -t "$triplet" -qDEB_HOST_ARCH 2>/dev/null) || arch=""
        if [ -z "$arch" ]; then
            case $triplet in
            aarch64-*) arch=arm64 ;;
            s390x-*) arch=s390x ;;
            x86_64-*) arch=amd64 ;;
            esac
        fi
    fi
    [ -n "$arch" ] && [ "$arch" != "$(dpkg --print-architecture)" ] && foreign=$arch
fi

missing=""
probe_cmocka || missing="$missing libcmocka-dev${foreign:+:$foreign}"
probe_locales || missing="$missing locales"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "missing for the tests:$missing; installing with apt-get"
    if [ -n "$foreign" ] && ! dpkg --print-foreign-architectures | grep -qx "$foreign"; then
        dpkg --add-architecture "$foreign" || exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null
    probe_cmocka && probe_locales && exit 0
    echo "installing$missing failed" >&2
    exit 1
fi
add=""
[ -n "$foreign" ] && add="sudo dpkg --add-architecture $foreign && sudo apt-get update && "
echo "missing for the tests:$missing; install with: ${add}sudo apt-get install$missing" >&2
exit 1
