#!/usr/bin/env bash
# tests/at.sh WHEN COMMAND...: run COMMAND with every clock it and its children read shifted
# so that "now" is WHEN (any `date -d` string, e.g. 'TZ="Europe/London" 2026-12-01 18:30').
#
# libfaketime (Debian's package) with a relative offset: time keeps running from WHEN, and the
# service, sipp, `callcentre serve` children and the chroot's Asterisk (provision.sh installs
# the same library inside) all see the same shifted time, so Asterisk's event timestamps and
# the service's clock agree. Monotonic clocks move by the same offset and run at real speed,
# so timers and timeouts are unchanged (FAKETIME_DONT_FAKE_MONOTONIC=1 is not used: with it,
# libfaketime 0.9.10 fails Python's time.sleep with EINVAL). Go programs (prometheus, podman) read the clock without libc and are not
# shifted: run with -m "not podman"; the Prometheus test compares figures, not times.
set -euo pipefail
when="${1:?usage: tests/at.sh WHEN COMMAND...}"; shift
lib=$(dpkg -L libfaketime 2>/dev/null | grep -m1 '/libfaketime.so.1$' || true)
[ -n "$lib" ] || { echo "[at] libfaketime is not installed (tests/system-deps.sh installs it)" >&2; exit 2; }
target=$(date -d "$when" +%s) || exit 2
offset=$(( target - $(date +%s) ))
echo "[at] running with the clock at $(date -d "@$target" '+%a %F %T %Z') (offset ${offset} s): $*" >&2
export LD_PRELOAD="$lib${LD_PRELOAD:+:$LD_PRELOAD}"
export FAKETIME="$( [ "$offset" -ge 0 ] && echo "+$offset" || echo "$offset" )"
export CALLCENTRE_CLOCK_SHIFTED="$when"
exec "$@"
