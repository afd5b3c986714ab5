# Sourced by the site scripts: reads the sites' map once and checks it.
#
# TRACKR_SITE_MAP  every site in priority order (the active one first), comma-separated:
#                  name=host:postgres-port:patroni-port:etcd-client-port:etcd-peer-port
#                  (on the mesh every host is 127.0.0.1 and each site has its own ports:
#                  bin/site-mesh.sh forwards the other sites' ports through the tailnet)
# TRACKR_SITE      this container's site, one of the map's names
# shellcheck shell=bash
# shellcheck disable=SC2034  # the arrays are read by the scripts that source this file

SITE_NAMES=()
declare -A SITE_HOST SITE_PG SITE_PATRONI SITE_ETCD SITE_PEER

die() {
    echo "${0##*/}: $*" >&2
    exit 64
}

load_site_map() {
    [[ -n ${TRACKR_SITE_MAP:-} ]] ||
        die "TRACKR_SITE_MAP must list the sites: name=host:pg:patroni:etcd:peer,…"
    [[ -n ${TRACKR_SITE:-} ]] || die "TRACKR_SITE must name the site this container runs at"
    local entry name host pg patroni etcd peer extra port
    local -a entries
    IFS=',' read -ra entries <<<"$TRACKR_SITE_MAP"
    for entry in "${entries[@]}"; do
        name=${entry%%=*}
        [[ $entry == *=* && $name =~ ^[a-z][a-z0-9-]*$ ]] ||
            die "TRACKR_SITE_MAP entry '$entry' is not name=host:pg:patroni:etcd:peer"
        [[ -z ${SITE_HOST[$name]+set} ]] || die "TRACKR_SITE_MAP names $name twice"
        IFS=':' read -r host pg patroni etcd peer extra <<<"${entry#*=}"
        [[ -n $host && -n $peer && -z $extra ]] || die "TRACKR_SITE_MAP entry '$entry' needs a host and 4 ports"
        for port in "$pg" "$patroni" "$etcd" "$peer"; do
            [[ $port =~ ^[1-9][0-9]{0,4}$ ]] || die "TRACKR_SITE_MAP entry '$entry': '$port' is not a port"
        done
        SITE_NAMES+=("$name")
        SITE_HOST[$name]=$host SITE_PG[$name]=$pg SITE_PATRONI[$name]=$patroni
        SITE_ETCD[$name]=$etcd SITE_PEER[$name]=$peer
    done
    ((${#SITE_NAMES[@]} >= 2)) || die "TRACKR_SITE_MAP lists ${#SITE_NAMES[@]} site(s); a quorum needs 3 (2 for drills)"
    [[ -n ${SITE_HOST[$TRACKR_SITE]+set} ]] ||
        die "TRACKR_SITE=$TRACKR_SITE is not in TRACKR_SITE_MAP (${SITE_NAMES[*]})"
}

# This site first, then the others in priority order: whom the API tries first.
sites_nearest_first() {
    local name
    echo "$TRACKR_SITE"
    for name in "${SITE_NAMES[@]}"; do
        [[ $name == "$TRACKR_SITE" ]] || echo "$name"
    done
}
