#!/usr/bin/env bash
# This site's trackr API: every site's node in its database URL and Patroni URLs, this
# site's first (reads stay near, writes go to the leader wherever it is).
#
# Environment: TRACKR_SITE, TRACKR_SITE_MAP (bin/site-lib.sh); TRACKR_DB_PASSWORD;
# TRACKR_DB_USER and TRACKR_DB_NAME (default: trackr); TRACKR_API_COMMAND (default:
# trackr serve). `--print-env` prints what the API gets instead of starting it.
set -euo pipefail
# shellcheck source=SCRIPTDIR/site-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/site-lib.sh"
load_site_map
: "${TRACKR_DB_PASSWORD:?TRACKR_DB_PASSWORD must be set: the password post-bootstrap.sh gave the app role}"

hosts=() patronis=()
while read -r name; do
    hosts+=("${SITE_HOST[$name]}:${SITE_PG[$name]}")
    patronis+=("http://${SITE_HOST[$name]}:${SITE_PATRONI[$name]}")
done < <(sites_nearest_first)
password=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' \
    "$TRACKR_DB_PASSWORD")
user=${TRACKR_DB_USER:-trackr}
db=${TRACKR_DB_NAME:-trackr}

DATABASE_URL="postgresql://$user:$password@$(IFS=,; echo "${hosts[*]}")/$db?target_session_attrs=read-write"
PATRONI_URLS=$(IFS=,; echo "${patronis[*]}")
READ_BALANCING=${READ_BALANCING:-nearest}
export DATABASE_URL PATRONI_URLS READ_BALANCING TRACKR_SITE
if [[ ${1:-} == --print-env ]]; then
    for name in DATABASE_URL PATRONI_URLS TRACKR_SITE READ_BALANCING; do
        echo "$name=${!name}"
    done
    exit 0
fi
read -ra api <<<"${TRACKR_API_COMMAND:-trackr serve}"
exec "${api[@]}"
