#!/bin/sh
# Makes sure the tests can build and run: cmocka to compile against, and
# the locale sources (Debian's locales package) from which make test
# compiles a de_DE locale once, into $(BUILD)/locale (tests/testutil.h).
# On a fresh Debian machine, as root, installs what is missing; otherwise
# says exactly what to run.
cc=${1:-cc}
probe_cmocka() {
    printf '#include <stdarg.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <setjmp.h>\n#include <cmocka.h>\nint main(void){return 0;}\n' |
        "$cc" -x c - -o /dev/null -lcmocka >/dev/null 2>&1
}
probe_locales() {
    [ -f /usr/share/i18n/locales/de_DE ] && command -v localedef >/dev/null 2>&1
}
missing=""
probe_cmocka || missing="$missing libcmocka-dev"
probe_locales || missing="$missing locales"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "missing for the tests:$missing; installing with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null
    probe_cmocka && probe_locales && exit 0
    echo "installing$missing failed" >&2
    exit 1
fi
echo "missing for the tests:$missing; install with: sudo apt-get install$missing" >&2
exit 1
