#!/usr/bin/env bash
# This site's etcd member (one per site: a quorum survives losing any one site). etcd reads
# its settings from ETCD_* variables; the member's addresses come from the sites' map.
#
# Environment: TRACKR_SITE, TRACKR_SITE_MAP (bin/site-lib.sh); TRACKR_LISTEN_HOST (default:
# the site's host); ETCD_DATA_DIR (default: on the volume); ETCD_BIN (default: etcd).
set -euo pipefail
# shellcheck source=SCRIPTDIR/site-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/site-lib.sh"
load_site_map

me=$TRACKR_SITE
listen=${TRACKR_LISTEN_HOST:-${SITE_HOST[$me]}}
members=()
for name in "${SITE_NAMES[@]}"; do
    members+=("$name=http://${SITE_HOST[$name]}:${SITE_PEER[$name]}")
done

export ETCD_NAME=$me
export ETCD_DATA_DIR=${ETCD_DATA_DIR:-/var/lib/trackr-site/etcd}
export ETCD_LISTEN_CLIENT_URLS=http://$listen:${SITE_ETCD[$me]}
export ETCD_ADVERTISE_CLIENT_URLS=http://${SITE_HOST[$me]}:${SITE_ETCD[$me]}
export ETCD_LISTEN_PEER_URLS=http://$listen:${SITE_PEER[$me]}
export ETCD_INITIAL_ADVERTISE_PEER_URLS=http://${SITE_HOST[$me]}:${SITE_PEER[$me]}
ETCD_INITIAL_CLUSTER=$(IFS=,; echo "${members[*]}")
export ETCD_INITIAL_CLUSTER
# Read only at the member's first start; a restarted member rejoins from its data dir.
export ETCD_INITIAL_CLUSTER_STATE=${ETCD_INITIAL_CLUSTER_STATE:-new}
export ETCD_INITIAL_CLUSTER_TOKEN=${ETCD_INITIAL_CLUSTER_TOKEN:-trackr-sites}
exec "${ETCD_BIN:-etcd}"
