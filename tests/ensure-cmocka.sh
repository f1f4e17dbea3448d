#!/bin/sh
# Makes sure cmocka can be compiled against. On a fresh Debian machine, as
# root, installs libcmocka-dev; otherwise says exactly what to run.
cc=${1:-cc}
probe() {
    printf '#include <stdarg.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <setjmp.h>\n#include <cmocka.h>\nint main(void){return 0;}\n' |
        "$cc" -x c - -o /dev/null -lcmocka >/dev/null 2>&1
}
probe && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "cmocka is missing: installing libcmocka-dev with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q libcmocka-dev >/dev/null
    probe && exit 0
    echo "installing libcmocka-dev failed" >&2
    exit 1
fi
echo "cmocka is missing; install it with: sudo apt-get install libcmocka-dev" >&2
exit 1
