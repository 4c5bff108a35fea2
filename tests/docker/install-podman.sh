#!/usr/bin/env bash
# Installs what tests/docker/test_stack.py needs to build and run docker/ with Podman, when we
# are root and it is missing: Debian's podman with runc (crun refuses hybrid cgroups), netavark
# and aardvark-dns (so that containers find each other by name: callcentre reaches asterisk:5038;
# tests/docker/containers.conf selects netavark), iptables for netavark's port forwarding,
# debootstrap for the base images, sipp for the call, and podman-compose from PyPI in a
# virtualenv of its own (so the project's .venv stays what pyproject.toml says). Never fails: the
# test skips with the reason when something is still missing.
#
# Called from tests/system-deps.sh. The podman-compose venv path is shared with the test
# (PODMAN_COMPOSE_VENV in tests/docker/test_stack.py): change both together.
set -uo pipefail
log() { echo "[podman-deps] $*" >&2; }
[ "$(id -u)" = 0 ] || { log "not root: the podman stack test will skip"; exit 0; }

compose_venv="${CALLCENTRE_PODMAN_COMPOSE_VENV:-/var/cache/callcentre/podman-compose}"
compose_version="1.6.0"

# Where podman looks for its network helpers (helper_binaries_dir in containers.conf(5));
# tests/docker/stack.py looks in the same places.
podman_helper() {
  local dir
  for dir in /usr/local/libexec/podman /usr/local/lib/podman /usr/libexec/podman /usr/lib/podman; do
    [ -x "$dir/$1" ] && return 0
  done
  return 1
}

want=()
command -v podman >/dev/null || want+=(podman)
command -v runc >/dev/null || want+=(runc)
podman_helper netavark || want+=(netavark)
podman_helper aardvark-dns || want+=(aardvark-dns)
command -v iptables >/dev/null || want+=(iptables)
command -v debootstrap >/dev/null || want+=(debootstrap)
command -v sipp >/dev/null || want+=(sip-tester)
if [ ${#want[@]} -gt 0 ]; then
  log "apt-get install ${want[*]}"
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" \
    >/dev/null 2>&1 || log "apt-get install failed; the podman stack test will skip"
fi

if [ "$("$compose_venv/bin/podman-compose" --version 2>/dev/null | awk '/podman-compose/ {print $NF}')" \
  != "$compose_version" ]; then
  log "podman-compose $compose_version into $compose_venv"
  { python3 -m venv "$compose_venv" \
    && "$compose_venv/bin/pip" install -q "podman-compose==$compose_version"; } >/dev/null 2>&1 \
    || log "podman-compose install failed; the podman stack test will skip"
fi
exit 0
