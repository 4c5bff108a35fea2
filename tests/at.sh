#!/usr/bin/env bash
# tests/at.sh WHEN COMMAND...: run COMMAND (a pytest run) with every clock of the run moved so
# that "now" is WHEN (any `date -d` string, e.g. 'TZ="Europe/London" 2026-12-01 18:30').
#
# It sets CALLCENTRE_TEST_CLOCK_SHIFT, the offset in seconds, which tests/clock.py applies with
# time-machine in the pytest process and in every `callcentre` the tests start, and which the
# harness (tests/asterisk/harness.py) gives the chroot's Asterisk through libfaketime: the
# service's clock and Asterisk's event timestamps agree, time keeps running from WHEN, and
# monotonic clocks, sleeps and timeouts stay real. (libfaketime in the Python processes was
# tried first: 0.9.10 fails time.sleep with EINVAL, or hangs every timed wait when it also
# moves the monotonic clock.) Go programs (prometheus, podman) keep the real time.
set -euo pipefail
when="${1:?usage: tests/at.sh WHEN COMMAND...}"; shift
target=$(date -d "$when" +%s) || exit 2
offset=$(( target - $(date +%s) ))
echo "[at] the clock at $(date -d "@$target" '+%a %F %T %Z') (offset ${offset} s): $*" >&2
export CALLCENTRE_TEST_CLOCK_SHIFT="$offset"
exec "$@"
