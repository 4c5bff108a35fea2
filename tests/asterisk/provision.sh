#!/usr/bin/env bash
# Builds (once) the cached Debian sid chroot that tests/asterisk/harness.py runs Asterisk in.
#
#   provision.sh build     build the chroot unless a complete one is cached (default)
#   provision.sh rebuild   throw the cached chroot away and build it again
#   provision.sh status    print the cached chroot's state and Asterisk version
#   provision.sh mirror    print the Debian mirror URI this machine's apt sources use
#
# Environment:
#   CALLCENTRE_ASTERISK_ROOT   where the chroot lives (default /var/cache/callcentre/asterisk-sid)
#   CALLCENTRE_DEBIAN_MIRROR   mirror URI to use instead of the one in the apt sources
#
# The chroot is built in "$ROOT.partial" and renamed into place only when debootstrap and the
# Asterisk install succeeded, and a marker file records what was built; a leftover .partial
# (a build that was killed) is removed and built again. `flock` on "$ROOT.lock" keeps two runs
# (two engineers, or two pytest sessions) from building at the same time: the second waits and
# then finds the first one's chroot. The build log is "$ROOT.build.log" (the harness shows its
# tail when it has to skip). Nothing here starts Asterisk: harness.py does, per test session.
set -euo pipefail

ROOT="${CALLCENTRE_ASTERISK_ROOT:-/var/cache/callcentre/asterisk-sid}"
SUITE=sid
# asterisk pulls in asterisk-config and asterisk-core-sounds-en; the music-on-hold files are the ones
# a council installs too (musiconhold.conf plays them while residents queue). The harness
# needs nothing else inside the chroot (sipp runs on the host) but libfaketime, which the
# harness preloads so that Asterisk shares the shifted clock of a `./dev test-at` run.
INCLUDE="asterisk,asterisk-modules,asterisk-moh-opsound-gsm,libfaketime"
# Bump when INCLUDE or the build steps change: a chroot with another stamp is rebuilt.
STAMP="callcentre-asterisk-chroot v1 suite=$SUITE include=$INCLUDE"
MARKER="$ROOT/.callcentre-chroot-complete"
LOCK="$ROOT.lock"
LOG="$ROOT.build.log"
LOCK_WAIT_S=1800

log() { printf '[provision %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The URI of the first Debian archive entry (deb822 or one-line format) of this machine's apt
# sources: the first entry whose suite is a plain Debian suite name (no -security/-updates).
# Read at run time so that no mirror host is written into the repository.
mirror_uri() {
  if [ -n "${CALLCENTRE_DEBIAN_MIRROR:-}" ]; then echo "$CALLCENTRE_DEBIAN_MIRROR"; return; fi
  local f m=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    m=$(awk 'BEGIN { RS = ""; FS = "\n" }
      { uri = ""; ok = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { v = $i; sub(/^URIs:[ \t]*/, "", v); split(v, a, /[ \t]+/); uri = a[1] }
          if ($i ~ /^Suites:/ && $i ~ /[ \t](bullseye|bookworm|trixie|forky|sid|stable|testing|unstable)([ \t]|$)/) ok = 1
        }
        if (ok && uri != "") { print uri; exit } }' "$f")
    [ -n "$m" ] && break
  done
  if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
    m=$(awk '$1 == "deb" && $0 ~ /[ \t](bullseye|bookworm|trixie|forky|sid|stable|testing|unstable)[ \t]/ {
           for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
  fi
  [ -n "$m" ] || die "no Debian mirror URI found in /etc/apt/sources.list{,.d/*.sources}; set CALLCENTRE_DEBIAN_MIRROR"
  echo "$m"
}

is_complete() { [ -f "$MARKER" ] && [ "$(head -1 "$MARKER")" = "$STAMP" ] && [ -x "$ROOT/usr/sbin/asterisk" ]; }

# Remove a chroot directory without following anything mounted inside it.
remove_tree() {
  local dir="$1"
  [ -e "$dir" ] || return 0
  if mountpoint -q "$dir/proc"; then umount "$dir/proc" || umount -l "$dir/proc"; fi
  rm -rf --one-file-system "$dir"
}

build_into() {
  local dir="$1" mirror="$2"
  log "debootstrap --variant=minbase --include=$INCLUDE $SUITE $dir $mirror"
  if ! debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$dir" "$mirror" >>"$LOG" 2>&1; then
    # debootstrap's resolver sometimes trips over sid's alternatives/virtual packages; apt does not
    log "debootstrap --include failed; retrying as plain minbase + apt-get install in the chroot"
    remove_tree "$dir"
    debootstrap --variant=minbase "$SUITE" "$dir" "$mirror" >>"$LOG" 2>&1 \
      || die "debootstrap failed (log: $LOG)"
    chroot "$dir" apt-get update >>"$LOG" 2>&1 || die "apt-get update in the chroot failed (log: $LOG)"
    DEBIAN_FRONTEND=noninteractive chroot "$dir" apt-get install -y --no-install-recommends \
      ${INCLUDE//,/ } >>"$LOG" 2>&1 || die "apt-get install asterisk in the chroot failed (log: $LOG)"
  fi
  chroot "$dir" apt-get clean >>"$LOG" 2>&1 || true
  # res_cdrel_custom (22.10+) appends to these directories but never creates them
  chroot "$dir" install -d -o asterisk -g asterisk -m 0755 \
    /var/log/asterisk/cdr-custom /var/log/asterisk/cel-custom
  { echo "$STAMP"; chroot "$dir" /usr/sbin/asterisk -V; date -u +%FT%TZ; } >"$dir/.callcentre-chroot-complete"
}

cmd_build() {
  [ "$(id -u)" = 0 ] || die "must run as root (debootstrap and chroot need it)"
  command -v debootstrap >/dev/null || die "debootstrap is not installed (tests/system-deps.sh installs it)"
  # fast path without the lock: running test sessions hold it shared (harness.py)
  if [ "${1:-}" != force ] && is_complete; then log "cached chroot is complete: $ROOT"; return 0; fi
  mkdir -p "$(dirname "$ROOT")"
  exec 9>"$LOCK"
  flock -w "$LOCK_WAIT_S" 9 || die "another build held $LOCK for more than $LOCK_WAIT_S s"
  if [ "${1:-}" = force ]; then log "removing $ROOT (rebuild asked for)"; remove_tree "$ROOT"; fi
  if is_complete; then log "cached chroot is complete: $ROOT"; return 0; fi
  if [ -e "$ROOT" ]; then log "removing incomplete or outdated chroot $ROOT"; remove_tree "$ROOT"; fi
  remove_tree "$ROOT.partial"
  : >"$LOG"
  local mirror t0 t1
  mirror=$(mirror_uri)
  t0=$(date +%s.%N)
  build_into "$ROOT.partial" "$mirror"
  mv "$ROOT.partial" "$ROOT"
  t1=$(date +%s.%N)
  log "built $ROOT in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s: $(sed -n 2p "$MARKER")"
}

cmd_status() {
  if is_complete; then echo "complete: $ROOT"; sed -n '2,3p' "$MARKER"; else echo "missing or incomplete: $ROOT"; fi
}

case "${1:-build}" in
  build) cmd_build ;;
  rebuild) cmd_build force ;;
  status) cmd_status ;;
  mirror) mirror_uri ;;
  *) sed -n '2,8p' "$0"; exit 2 ;;
esac
