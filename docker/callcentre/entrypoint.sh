#!/bin/sh
# Starts callcentre in its container: reads the AMI secret from a mounted file when one is named,
# migrates the database before serving, then execs the service so that it is PID 1 and gets
# SIGTERM itself (it drains in-flight work and exits 0).
#   CALLCENTRE_AMI_SECRET_FILE  file holding the AMI secret (a compose secret: /run/secrets/...);
#                               keeps the secret out of `podman inspect` and the image.
#   DB_WAIT_SECONDS             how long to wait for a PostgreSQL database to answer (60)
#   ALERTING_DIR                folder shared with Prometheus, Alertmanager and Grafana (the volume
#                               `alerting`): before serving, the rules made from the council's
#                               standards and Alertmanager's configuration for its receiver are
#                               written there from this container's settings (README: "Alerts").
# Any other command is passed to the callcentre CLI: `... run IMAGE token create --role ...`.
set -eu

if [ -n "${CALLCENTRE_AMI_SECRET_FILE:-}" ]; then
  CALLCENTRE_AMI_SECRET=$(cat "$CALLCENTRE_AMI_SECRET_FILE")
  export CALLCENTRE_AMI_SECRET
fi

[ $# -gt 0 ] || set -- serve
if [ "$1" = serve ] && [ -n "${ALERTING_DIR:-}" ]; then
  # Written beside, then renamed: a reader never sees half a file.
  callcentre rules -o "$ALERTING_DIR/.rules.yml.new"
  mv -f "$ALERTING_DIR/.rules.yml.new" "$ALERTING_DIR/rules.yml"
  callcentre alertmanager-config -o "$ALERTING_DIR/.alertmanager.yml.new"
  mv -f "$ALERTING_DIR/.alertmanager.yml.new" "$ALERTING_DIR/alertmanager.yml"
  mkdir -p "$ALERTING_DIR/dashboards"
  callcentre dashboard -o "$ALERTING_DIR/dashboards/.callcentre.json.new"
  mv -f "$ALERTING_DIR/dashboards/.callcentre.json.new" "$ALERTING_DIR/dashboards/callcentre.json"
fi
if [ "$1" = serve ]; then
  # A PostgreSQL database may still be starting (Podman before 4.6 does not wait for its
  # healthcheck): the migration is tried again for up to DB_WAIT_SECONDS. An SQLite file is not.
  case "${CALLCENTRE_DB:-}" in
    postgresql://* | postgres://*) tries=$(( ${DB_WAIT_SECONDS:-60} / 2 )) ;;
    *) tries=1 ;;
  esac
  # In the background, so that this shell (PID 1, which the kernel shields from signals it has
  # no handler for) can pass on a SIGTERM that arrives while the migration runs.
  trap 'kill -TERM "$migrate" 2>/dev/null; wait "$migrate"; exit 143' TERM INT
  while :; do
    callcentre migrate &
    migrate=$!
    if wait "$migrate"; then break; fi
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || exit 1
    echo "the database is not ready: trying again in 2 s" >&2
    sleep 2 &
    migrate=$!
    wait "$migrate" || true
  done
  trap - TERM INT
fi
exec callcentre "$@"
