#!/usr/bin/env bash
# The site image's entry point (TRACKR_IMAGE_VARIANT=site): `node` runs the mesh, this site's
# etcd member and Patroni node (on the volume at /var/lib/trackr-site); `api` runs the mesh
# and the API; `migrate` brings the mesh up, applies the migrations on the leader and exits
# (a release / pre-deploy command). deploy/README.md, "Three sites", sets them up.
set -euo pipefail
role=${1:-${TRACKR_ROLE:-}}
export TRACKR_ROLE=$role
here=$(dirname "${BASH_SOURCE[0]}")
case $role in
node)
    for sub in postgres etcd tailscale; do
        mkdir -p "/var/lib/trackr-site/$sub"
    done
    chown -R postgres:postgres /var/lib/trackr-site/postgres /var/lib/trackr-site/etcd
    chmod 700 /var/lib/trackr-site/postgres
    exec supervisord -c /etc/trackr-site/supervisord-node.conf
    ;;
api)
    exec supervisord -c /etc/trackr-site/supervisord-api.conf
    ;;
migrate)
    export TRACKR_ROLE=api TS_STATE_DIR=${TS_STATE_DIR:-/tmp/tailscale}
    "$here/site-mesh.sh" &
    mesh=$!
    trap 'kill "$mesh" 2>/dev/null || true' EXIT
    while IFS='=' read -r name value; do
        export "$name=$value"
    done < <("$here/site-api.sh" --print-env)
    # The mesh needs a few seconds; alembic's first connect is retried until then.
    for attempt in $(seq 30); do
        alembic upgrade head && exit 0
        echo "migrate: attempt $attempt failed; retrying" >&2
        sleep 2
    done
    exit 1
    ;;
*)
    echo "usage: ${0##*/} node|api|migrate (or TRACKR_ROLE)" >&2
    exit 64
    ;;
esac
