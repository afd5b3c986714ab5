#!/usr/bin/env bash
# Patroni's post_bootstrap hook: runs once, on the node that initialised the cluster, with a
# superuser connection string as $1. Creates the app's login and database (idempotent).
#
# Environment: TRACKR_DB_USER (default: trackr), TRACKR_DB_PASSWORD (required),
#              TRACKR_DB_NAME (default: trackr)
set -euo pipefail

: "${TRACKR_DB_PASSWORD:?TRACKR_DB_PASSWORD must be set}"
user="${TRACKR_DB_USER:-trackr}"
db="${TRACKR_DB_NAME:-trackr}"
psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --dbname "$1")

"${psql[@]}" --set=user="$user" --set=password="$TRACKR_DB_PASSWORD" --set=db="$db" <<'SQL'
SELECT format('CREATE ROLE %I WITH LOGIN PASSWORD %L', :'user', :'password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \gexec
-- The standbys' positions, which make a write's consistency token exact (app/db/session.py).
SELECT format('GRANT pg_read_all_stats TO %I', :'user') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL
