#!/bin/sh
# Starts Alertmanager with the configuration callcentre wrote into the shared volume `alerting`
# (docker/callcentre/entrypoint.sh: `callcentre alertmanager-config`), waiting for it on the
# stack's first start. One instance: no cluster port. Extra arguments go to Alertmanager.
set -eu
config=/etc/alertmanager/callcentre/alertmanager.yml
trap 'exit 143' TERM INT
if [ ! -s "$config" ]; then
  echo "waiting for callcentre to write $config" >&2
  while [ ! -s "$config" ]; do sleep 1; done
fi
trap - TERM INT
exec /usr/bin/prometheus-alertmanager --config.file="$config" --storage.path=/alertmanager \
  --web.listen-address=:9093 --cluster.listen-address= "$@"
