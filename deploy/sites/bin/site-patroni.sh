#!/usr/bin/env bash
# This site's Patroni node: the shared settings (patroni.yml), then the node's own part
# written here from the sites' map, then an optional local file; Patroni merges a directory's
# files in name order and takes PATRONI_*_PASSWORD from the environment.
#
# Environment: TRACKR_SITE, TRACKR_SITE_MAP (bin/site-lib.sh); PATRONI_SUPERUSER_PASSWORD,
# PATRONI_REPLICATION_PASSWORD, PATRONI_REWIND_PASSWORD and TRACKR_DB_PASSWORD (the
# post_bootstrap hook's); TRACKR_LISTEN_HOST (default: the site's host);
# TRACKR_PATRONI_CONFIG (default: /etc/trackr-site/patroni.yml); TRACKR_PATRONI_LOCAL_CONFIG
# (optional, merged last); PATRONI_CONFIG_DIR (default: /run/trackr-site/patroni);
# PATRONI_COMMAND (default: patroni).
set -euo pipefail
# shellcheck source=SCRIPTDIR/site-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/site-lib.sh"
load_site_map

for secret in PATRONI_SUPERUSER_PASSWORD PATRONI_REPLICATION_PASSWORD PATRONI_REWIND_PASSWORD; do
    [[ -n ${!secret:-} ]] || die "$secret must be set (the same at every site)"
done
me=$TRACKR_SITE
listen=${TRACKR_LISTEN_HOST:-${SITE_HOST[$me]}}
shared=${TRACKR_PATRONI_CONFIG:-/etc/trackr-site/patroni.yml}
config_dir=${PATRONI_CONFIG_DIR:-/run/trackr-site/patroni}

# The doctrine: the first site of the map is preferred as leader, the last is the last resort
# (deploy/README.md, "Three sites", says why failover_priority and not nofailover).
priority=${#SITE_NAMES[@]}
etcd_hosts=()
for name in "${SITE_NAMES[@]}"; do
    etcd_hosts+=("${SITE_HOST[$name]}:${SITE_ETCD[$name]}")
    [[ $name == "$me" ]] && own_priority=$priority
    priority=$((priority - 1))
done

mkdir -p "$config_dir"
rm -f "$config_dir"/*.yml
cp "$shared" "$config_dir/10-shared.yml"
cat >"$config_dir/20-site.yml" <<YAML
name: "$me"
restapi:
  listen: "$listen:${SITE_PATRONI[$me]}"
  connect_address: "${SITE_HOST[$me]}:${SITE_PATRONI[$me]}"
etcd3:
  hosts: "$(IFS=,; echo "${etcd_hosts[*]}")"
postgresql:
  listen: "$listen:${SITE_PG[$me]}"
  connect_address: "${SITE_HOST[$me]}:${SITE_PG[$me]}"
tags:
  site: "$me"
  failover_priority: $own_priority
YAML
if [[ -n ${TRACKR_PATRONI_LOCAL_CONFIG:-} ]]; then
    cp "$TRACKR_PATRONI_LOCAL_CONFIG" "$config_dir/30-local.yml"
fi
chmod 600 "$config_dir"/*.yml
read -ra patroni <<<"${PATRONI_COMMAND:-patroni}"
exec "${patroni[@]}" "$config_dir"
