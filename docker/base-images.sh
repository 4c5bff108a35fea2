#!/usr/bin/env bash
# Makes the two base images that docker/*Dockerfile start FROM by default, for hosts that reach a
# Debian mirror but no image registry (the project's CI, or an air-gapped council network):
#
#   localhost/debian:bookworm-python3   bookworm minbase + python3, venv, CA certificates
#   localhost/debian:sid                sid minbase + CA certificates (Debian ships Asterisk in sid)
#
# Each is debootstrapped from the mirror this host's apt already uses, gets this host's CA
# certificates (so pip and apt inside a build trust the same TLS as the host does), and is
# imported with `$ENGINE import`. An image that already exists is kept: pass --force to remake.
# A deployer who reaches a registry needs none of this: see the build args in docker/README.md.
#
# Usage: docker/base-images.sh [--force]      (root, debootstrap; ENGINE=podman|docker)
set -euo pipefail

engine="${ENGINE:-podman}"
force=0
[ "${1:-}" = "--force" ] && force=1

# Keep these names in step with the ARG defaults in docker/Dockerfile,
# docker/asterisk/Dockerfile and docker/prometheus/Dockerfile.
bookworm_image="localhost/debian:bookworm-python3"
sid_image="localhost/debian:sid"

log() { echo "[base-images] $*" >&2; }

# The mirror is read from this host's apt configuration at run time, never written down here.
debian_mirror() {
  local uri
  uri=$(apt-cache policy 2>/dev/null \
    | awk '$3 == "bookworm/main" || $3 == "sid/main" || $3 == "unstable/main" {print $2; exit}')
  if [ -z "$uri" ]; then
    log "no Debian main archive found in this host's apt sources (run apt-get update?)"
    return 1
  fi
  echo "$uri"
}

# Copies every CA this host trusts into the rootfs as one local certificate, so that the
# image's own update-ca-certificates keeps it across later ca-certificates upgrades.
trust_host_cas() {
  local root="$1"
  install -d "$root/usr/local/share/ca-certificates"
  cat /etc/ssl/certs/ca-certificates.crt >"$root/usr/local/share/ca-certificates/host-trust.crt"
  chroot "$root" update-ca-certificates >/dev/null 2>&1
}

# A mirror that serves a frozen snapshot of Debian (as CI's does) has Release files whose
# Valid-Until has passed; apt-get update inside a build would then refuse the suite. Only in that
# case is the check switched off, in this base image alone.
accept_frozen_mirror() {
  local root="$1" suite="$2" out
  out=$(chroot "$root" apt-get update 2>&1 || true)
  if [[ "$out" == *"is expired"* ]]; then
    log "the mirror's $suite Release has expired (a snapshot): apt in this image will not check Valid-Until"
    echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/99callcentre-snapshot-mirror"
  fi
}

# Drops what an image never needs: package caches and lists, docs, man pages.
slim() {
  local root="$1"
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* \
    "$root"/usr/share/info/* "$root"/var/log/*.log "$root"/var/cache/debconf/*-old
}

make_base() {
  local name="$1" suite="$2" include="$3"
  if [ "$force" = 0 ] && "$engine" image exists "$name" 2>/dev/null; then
    log "$name exists, kept"
    return 0
  fi
  local mirror work started
  mirror=$(debian_mirror)
  work=$(mktemp -d /var/tmp/callcentre-base.XXXXXX)
  # shellcheck disable=SC2064  # expand now: the trap must remove this very directory
  trap "rm -rf '$work'" RETURN
  started=$SECONDS
  log "debootstrap $suite into $work"
  debootstrap --variant=minbase --include="$include" "$suite" "$work/root" "$mirror" \
    >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; return 1; }
  trust_host_cas "$work/root"
  accept_frozen_mirror "$work/root" "$suite"
  slim "$work/root"
  log "import $name"
  tar --numeric-owner -C "$work/root" -c . | "$engine" import --quiet \
    --change 'ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV=LANG=C.UTF-8' \
    --change 'CMD=["/bin/bash"]' \
    - "$name" >/dev/null
  log "$name made in $((SECONDS - started))s"
}

[ "$(id -u)" = 0 ] || { log "needs root (debootstrap)"; exit 1; }
command -v debootstrap >/dev/null || { log "needs debootstrap"; exit 1; }

make_base "$bookworm_image" bookworm "ca-certificates,python3,python3-venv"
make_base "$sid_image" sid "ca-certificates"
