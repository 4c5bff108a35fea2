#!/bin/sh
# Starts callcentre in its container: reads the AMI secret from a mounted file when one is named,
# migrates the database before serving, then execs the service so that it is PID 1 and gets
# SIGTERM itself (it drains in-flight work and exits 0).
#   CALLCENTRE_AMI_SECRET_FILE  file holding the AMI secret (a compose secret: /run/secrets/...);
#                               keeps the secret out of `podman inspect` and the image.
#   ALERTING_DIR                folder shared with Prometheus and Alertmanager (the volume
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
fi
if [ "$1" = serve ]; then
  # In the background, so that this shell (PID 1, which the kernel shields from signals it has
  # no handler for) can pass on a SIGTERM that arrives while the migration runs.
  callcentre migrate &
  migrate=$!
  trap 'kill -TERM "$migrate" 2>/dev/null; wait "$migrate"; exit 143' TERM INT
  wait "$migrate"
  trap - TERM INT
fi
exec callcentre "$@"
