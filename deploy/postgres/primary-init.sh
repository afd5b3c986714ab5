#!/usr/bin/env bash
# Runs once, when the primary's data directory is first initialised: mounted into the official
# postgres image's /docker-entrypoint-initdb.d/, which runs it as the postgres user against a
# temporary server (settings below take effect at the restart that follows).
#
# Environment (the same in the image and in the tests that run this script for real):
#   POSTGRES_USER, POSTGRES_DB        the image's own variables
#   REPLICATION_USER                  role the replicas connect as (default: replicator)
#   REPLICATION_PASSWORD              required; no default
#   REPLICATION_SLOTS                 comma-separated physical slots to create (default: replica1)
#   REPLICATION_ALLOWED_CIDR          who may connect for replication (default: samenet)
#   WAL_ARCHIVE_DIR                   where WAL segments are archived (default: /archive; empty = off)
#   APP_DB_USER, APP_DB_PASSWORD      optional: a non-superuser login that owns POSTGRES_DB
#   BACKUP_VERIFY_DB                  optional: an empty database APP_DB_USER owns, which
#                                     `trackr backup verify --method dump` restores into
set -euo pipefail

: "${REPLICATION_PASSWORD:?REPLICATION_PASSWORD must be set}"
replication_user="${REPLICATION_USER:-replicator}"
slots="${REPLICATION_SLOTS:-replica1}"
allowed="${REPLICATION_ALLOWED_CIDR:-samenet}"
archive_dir="${WAL_ARCHIVE_DIR-/archive}"
psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}")

"${psql[@]}" --set=user="$replication_user" --set=password="$REPLICATION_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I WITH REPLICATION LOGIN PASSWORD %L', :'user', :'password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \gexec
SQL

if [ -n "${APP_DB_USER:-}" ]; then
  : "${APP_DB_PASSWORD:?APP_DB_PASSWORD must be set with APP_DB_USER}"
  "${psql[@]}" --set=user="$APP_DB_USER" --set=password="$APP_DB_PASSWORD" \
    --set=db="${POSTGRES_DB:-postgres}" <<'SQL'
SELECT format('CREATE ROLE %I WITH LOGIN PASSWORD %L', :'user', :'password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \gexec
-- The standbys' positions, which make a write's consistency token exact (app/db/session.py).
SELECT format('GRANT pg_read_all_stats TO %I', :'user') \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'db', :'user') \gexec
SELECT format('ALTER SCHEMA public OWNER TO %I', :'user') \gexec
SQL
fi

if [ -n "${BACKUP_VERIFY_DB:-}" ]; then
  : "${APP_DB_USER:?BACKUP_VERIFY_DB needs APP_DB_USER, its owner}"
  "${psql[@]}" --set=db="$BACKUP_VERIFY_DB" --set=user="$APP_DB_USER" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL
fi

IFS=',' read -ra slot_names <<< "$slots"
for slot in "${slot_names[@]}"; do
  "${psql[@]}" --set=slot="$slot" <<'SQL'
SELECT pg_create_physical_replication_slot(:'slot')
WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = :'slot');
SQL
done

"${psql[@]}" <<'SQL'
ALTER SYSTEM SET wal_level = 'replica';
ALTER SYSTEM SET max_wal_senders = '10';
ALTER SYSTEM SET max_replication_slots = '10';
ALTER SYSTEM SET hot_standby_feedback = 'on';
-- A dead replica's slot may pin at most this much WAL before it is invalidated.
ALTER SYSTEM SET max_slot_wal_keep_size = '2GB';
ALTER SYSTEM SET wal_keep_size = '256MB';
-- Copied to the replica by pg_basebackup: a promote request landing as a WAL retry is due can
-- wait out one interval (5 s by default).
ALTER SYSTEM SET wal_retrieve_retry_interval = '1s';
ALTER SYSTEM SET password_encryption = 'scram-sha-256';
SQL

if [ -n "$archive_dir" ]; then
  "${psql[@]}" --set=command="test ! -f $archive_dir/%f && cp %p $archive_dir/%f" <<'SQL'
ALTER SYSTEM SET archive_mode = 'on';
ALTER SYSTEM SET archive_command = :'command';
ALTER SYSTEM SET archive_timeout = '300';
SQL
fi

hba="${PGDATA:?PGDATA must be set}/pg_hba.conf"
line="host replication $replication_user $allowed scram-sha-256"
grep -qxF "$line" "$hba" || echo "$line" >> "$hba"
echo "primary-init: role $replication_user, slots $slots, replication from $allowed${archive_dir:+, WAL archived to $archive_dir}"
