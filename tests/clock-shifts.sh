#!/usr/bin/env bash
# tests/clock-shifts.sh PYTEST [args]: the suite at the moments that once broke it or could —
# a weekday evening (closed, callbacks still allowed), a weekend morning, a public holiday and
# across the spring DST change (the clock passes 01:00 GMT -> 02:00 BST while the tests run).
# Every test that depends on hours runs on a clock and a policy it controls, so each run must
# pass exactly as at any other hour. Stops at the first failing moment.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pytest="${1:?usage: tests/clock-shifts.sh PYTEST [pytest args]}"; shift
moments=(
  "2026-12-01 18:30 Europe/London"   # Tuesday evening: closed, within calling hours
  "2026-12-05 11:00 Europe/London"   # Saturday morning
  "2026-12-25 10:00 Europe/London"   # Christmas Day (public holiday, a Friday)
  "2027-03-28 00:58 UTC"             # two minutes before the clocks go forward
)
for when in "${moments[@]}"; do
  bash "$here/at.sh" "$when" "$pytest" -q -m "not podman" -p no:cacheprovider "$@"
done
