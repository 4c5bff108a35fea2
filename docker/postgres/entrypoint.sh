#!/bin/sh
# Starts PostgreSQL for the callcentre replicas. On the first start (an empty volume) it makes the
# cluster: a login role POSTGRES_USER, whose password is read from POSTGRES_PASSWORD_FILE (a
# compose secret, so it is in neither the image nor `podman inspect`), owning the database
# POSTGRES_DB. Connections over the network must give that password (scram-sha-256); the
# server is reachable on the stack's own network only (compose.yml publishes no port).
# Extra arguments go to postgres (e.g. -c max_connections=200).
set -eu
: "${PGDATA:?}" "${POSTGRES_USER:?}" "${POSTGRES_DB:?}" "${POSTGRES_PASSWORD_FILE:?}"

init_cluster() {
  echo "making the cluster in $PGDATA for database $POSTGRES_DB, owner $POSTGRES_USER" >&2
  # The superuser `postgres` signs in over the container's own Unix socket only.
  initdb --pgdata="$PGDATA" --username=postgres --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  # Quotes doubled, for a deployer's own password; init-secrets.sh writes hex.
  password=$(sed "s/'/''/g" "$POSTGRES_PASSWORD_FILE" | tr -d '\r\n')
  [ -n "$password" ] || { echo "$POSTGRES_PASSWORD_FILE is empty" >&2; exit 1; }
  printf "CREATE ROLE \"%s\" LOGIN PASSWORD '%s';\nCREATE DATABASE \"%s\" OWNER \"%s\";\n" \
    "$POSTGRES_USER" "$password" "$POSTGRES_DB" "$POSTGRES_USER" \
    | postgres --single -D "$PGDATA" postgres >/dev/null
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
}

[ -s "$PGDATA/PG_VERSION" ] || init_cluster
exec postgres -D "$PGDATA" "$@"
