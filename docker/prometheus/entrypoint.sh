#!/bin/sh
# Starts Prometheus once callcentre has written its rules into the shared volume `alerting`
# (docker/callcentre/entrypoint.sh: `callcentre rules`, made from the council's standards),
# waiting for them on the stack's first start. The arguments are Prometheus's.
set -eu
rules=/etc/prometheus/callcentre/rules.yml
trap 'exit 143' TERM INT
if [ ! -s "$rules" ]; then
  echo "waiting for callcentre to write $rules" >&2
  while [ ! -s "$rules" ]; do sleep 1; done
fi
trap - TERM INT
exec /usr/bin/prometheus "$@"
