#!/usr/bin/env bash
# Installs the Debian packages that the real-adapter tests use, when we are root and they are missing.
# Each test that needs one of them skips with a reason when it is absent (e.g. not root).
set -uo pipefail
[ "$(id -u)" = 0 ] || { echo "[deps] not root: real-adapter tests will skip" >&2; exit 0; }
# podman, runc and podman-compose for the docker/ stack test (always exits 0)
bash "$(dirname "${BASH_SOURCE[0]}")/docker/install-podman.sh"
want=()
command -v debootstrap >/dev/null || want+=(debootstrap)
command -v sipp >/dev/null || want+=(sip-tester)
command -v promtool >/dev/null || want+=(prometheus)
# espeak-ng speaks the council's prompts in English and Irish for the language tests
# (tests/asterisk/prompts.py writes them into the Asterisk chroot at test time)
command -v espeak-ng >/dev/null || want+=(espeak-ng)
# Alertmanager and amtool: tests/integration/test_alerts_real.py, tests/adapters/test_alertmanager_config.py
command -v amtool >/dev/null || want+=(prometheus-alertmanager)
command -v chromium >/dev/null || want+=(chromium)
# npm fetches the pinned axe-core for the accessibility audit (tests/integration/axe.py)
command -v npm >/dev/null || want+=(npm)
# PostgreSQL's server binaries for the postgres-marked tests (tests/postgres.py starts a
# throwaway cluster of its own; the package's own cluster is not used)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || want+=(postgresql)
[ ${#want[@]} -eq 0 ] && exit 0
echo "[deps] apt-get install ${want[*]}" >&2
apt-get update -qq >/dev/null 2>&1 || true
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" >/dev/null 2>&1 \
  || echo "[deps] apt-get install failed; tests needing ${want[*]} will skip" >&2
exit 0
