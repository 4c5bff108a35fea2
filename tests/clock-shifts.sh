#!/usr/bin/env bash
# tests/clock-shifts.sh PYTEST [args]: the suite at the moments that once broke it or could —
# a weekday evening (closed, callbacks still allowed), a weekend morning, a public holiday and
# across the spring DST change (the clock passes 01:00 GMT -> 02:00 BST while the tests run).
# Every test that depends on hours runs on a clock and a policy it controls, so each run must
# pass exactly as at any other hour. Left out: podman (Go keeps the real time) and what is
# marked slow: the 20-caller bursts (they test load, not hours, every call answered at any
# time; with two suites side by side on two cores, sipp lost a caller once in eight runs),
# the several-instances tests (leases and killed processes timed on the wall clock) and the
# estimated-wait call (75 s of announcements; the time it offers is the promise's, tested at
# every moment by the callback-key test), and what is marked clockless (the AMI parser fed
# every capture split at every byte: a minute of parsing that reads no clock).
# The main `./dev test` run has them all.
#
# The moments run two at a time (CALLCENTRE_CLOCK_SHIFT_JOBS): the real-call tests spend
# their time waiting for calls, not computing, and each harness session has its own Asterisk,
# ports and directories; four at once on two cores starved sipp's calls. Each run's
# output goes to $CALLCENTRE_ARTIFACTS (default artifacts/)/clock-shift-N.log; the tail of each
# is printed, and the exit status is the first failure's.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pytest="${1:?usage: tests/clock-shifts.sh PYTEST [pytest args]}"; shift
extra=("$@")
out="${CALLCENTRE_ARTIFACTS:-$here/../artifacts}"; mkdir -p "$out"
moments=(
  'TZ="Europe/London" 2026-12-01 18:30'   # Tuesday evening: closed, within calling hours
  'TZ="Europe/London" 2026-12-05 11:00'   # Saturday morning
  'TZ="Europe/London" 2026-12-25 10:00'   # Christmas Day (public holiday, a Friday)
  'TZ="UTC" 2027-03-28 00:58'             # two minutes before the clocks go forward
)
jobs="${CALLCENTRE_CLOCK_SHIFT_JOBS:-2}"  # side by side; 4 on 2 cores starved sipp's calls
rc=0
run_batch() {
  local pids=() i status
  for i in "$@"; do
    bash "$here/at.sh" "${moments[$i]}" "$pytest" -q -m "not podman and not slow and not clockless" \
      -p no:cacheprovider \
      ${extra[@]+"${extra[@]}"} >"$out/clock-shift-$i.log" 2>&1 &
    pids+=("$i:$!")
    sleep 2  # stagger the starts a little: the harness sessions claim ports one at a time
  done
  for entry in "${pids[@]}"; do
    i=${entry%%:*}
    wait "${entry#*:}"; status=$?
    echo "== clock at ${moments[$i]}: exit $status ($out/clock-shift-$i.log)"
    tail -n 15 "$out/clock-shift-$i.log" | grep -E "passed|failed|error|FAILED|ERROR" || true
    [ "$rc" -ne 0 ] || rc=$status
  done
}
batch=()
for i in "${!moments[@]}"; do
  batch+=("$i")
  if [ "${#batch[@]}" -ge "$jobs" ]; then run_batch "${batch[@]}"; batch=(); fi
done
[ "${#batch[@]}" -eq 0 ] || run_batch "${batch[@]}"
exit "$rc"
