#!/usr/bin/env bash
# Entrypoint of the replica container (run it as the postgres user). On first start, with an
# empty data directory, it clones the primary with pg_basebackup -R -X stream into a physical
# slot; every start then runs a hot standby: `exec "$@"` (the image's CMD, `postgres`).
#
# Environment (the same in the image and in the tests that run this script for real):
#   PGDATA                            data directory (the image sets it)
#   PRIMARY_HOST, PRIMARY_PORT        where the primary listens (port default 5432)
#   REPLICATION_USER                  default: replicator
#   REPLICATION_PASSWORD              required
#   REPLICATION_SLOT                  the physical slot to stream from (default: replica1)
#   PRIMARY_WAIT_SECONDS              how long to wait for the primary (default: 120)
set -euo pipefail

: "${PGDATA:?PGDATA must be set}"
: "${PRIMARY_HOST:?PRIMARY_HOST must be set}"
: "${REPLICATION_PASSWORD:?REPLICATION_PASSWORD must be set}"
port="${PRIMARY_PORT:-5432}"
user="${REPLICATION_USER:-replicator}"
slot="${REPLICATION_SLOT:-replica1}"
wait_seconds="${PRIMARY_WAIT_SECONDS:-120}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  echo "replica-entrypoint: empty data directory, cloning $PRIMARY_HOST:$port (slot $slot)"
  deadline=$((SECONDS + wait_seconds))
  until pg_isready -q -h "$PRIMARY_HOST" -p "$port"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "replica-entrypoint: primary not ready after ${wait_seconds}s" >&2
      exit 1
    fi
    sleep 1
  done
  mkdir -p "$PGDATA"
  # A half-finished clone from an earlier crash must not be mistaken for a data directory.
  find "$PGDATA" -mindepth 1 -delete
  chmod 0700 "$PGDATA"
  PGPASSWORD="$REPLICATION_PASSWORD" pg_basebackup \
    --dbname="host=$PRIMARY_HOST port=$port user=$user application_name=$slot" \
    --pgdata="$PGDATA" --write-recovery-conf --wal-method=stream --slot="$slot" \
    --checkpoint=fast --progress --verbose
  # The connection info written by -R carries the password; keep the file private.
  chmod 0600 "$PGDATA/postgresql.auto.conf"
  echo "replica-entrypoint: clone complete"
fi

if [ ! -f "$PGDATA/standby.signal" ]; then
  echo "replica-entrypoint: $PGDATA has no standby.signal; refusing to start it as a replica" >&2
  exit 1
fi
exec "$@"
