#!/usr/bin/env bash
# The private network between providers: Tailscale in userspace mode (no TUN device and no
# NET_ADMIN, which Render and Railway do not grant), and a local forwarder for every port of
# every other site. libpq and etcd cannot use a proxy, so on the mesh each site has a
# loopback address and ports of its own (TRACKR_SITE_MAP, e.g. 127.0.1.2:5442), the same in
# every container: a forwarder listening there takes the connection through tailscaled's HTTP
# proxy to the site's node (`trackr-<site>-node` on the tailnet), where tailscaled hands it to
# the same port on the loopback, on which the node listens.
#
# Environment: TRACKR_SITE, TRACKR_SITE_MAP (bin/site-lib.sh); TRACKR_ROLE (node or api);
# TS_AUTHKEY (a reusable, pre-approved key tagged for trackr's ACL); TS_STATE_DIR (default:
# on the volume); TS_EXTRA_ARGS (optional, for `tailscale up`).
set -euo pipefail
# shellcheck source=SCRIPTDIR/site-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/site-lib.sh"
load_site_map
: "${TS_AUTHKEY:?TS_AUTHKEY must be set: a Tailscale auth key for the sites tailnet}"
role=${TRACKR_ROLE:-node}
[[ $role == node || $role == api ]] || die "TRACKR_ROLE=$role is neither node nor api"
ports_seen=" "
for name in "${SITE_NAMES[@]}"; do
    [[ ${SITE_HOST[$name]} == 127.* ]] ||
        die "on the mesh every site's host is a loopback address; $name has ${SITE_HOST[$name]}"
    for port in "${SITE_PG[$name]}" "${SITE_PATRONI[$name]}" "${SITE_ETCD[$name]}" "${SITE_PEER[$name]}"; do
        [[ $ports_seen != *" $port "* ]] || die "port $port is in TRACKR_SITE_MAP twice: each site needs its own"
        ports_seen+="$port "
    done
done

run_dir=/run/trackr-site
socket=$run_dir/tailscaled.sock
proxy_port=${TS_PROXY_PORT:-1055}
mkdir -p "$run_dir"
tailscaled --tun=userspace-networking --statedir="${TS_STATE_DIR:-/var/lib/trackr-site/tailscale}" \
    --socket="$socket" --outbound-http-proxy-listen="127.0.0.1:$proxy_port" &
children=($!)
for _ in $(seq 100); do
    [[ -S $socket ]] && break
    sleep 0.1
done
read -ra extra <<<"${TS_EXTRA_ARGS:-}"
tailscale --socket="$socket" up --authkey="$TS_AUTHKEY" \
    --hostname="trackr-$TRACKR_SITE-$role" "${extra[@]}"

for name in "${SITE_NAMES[@]}"; do
    ports=("${SITE_PG[$name]}" "${SITE_PATRONI[$name]}")
    [[ $role == node ]] && ports+=("${SITE_ETCD[$name]}" "${SITE_PEER[$name]}")
    for port in "${ports[@]}"; do
        if [[ $role == node && $name == "$TRACKR_SITE" ]]; then
            # The node's own servers listen on 127.0.0.1 (where tailscaled delivers); its own
            # address is for its neighbours in this container (Patroni's etcd client).
            target="TCP:127.0.0.1:$port"
        else
            target="PROXY:127.0.0.1:trackr-$name-node:$port,proxyport=$proxy_port"
        fi
        socat "TCP-LISTEN:$port,bind=${SITE_HOST[$name]},fork,reuseaddr" "$target" &
        children+=($!)
    done
done
echo "mesh up: trackr-$TRACKR_SITE-$role, ${#children[@]} processes"
# One of them gone is the mesh gone: exit, and supervisord starts it all again.
wait -n "${children[@]}"
die "a mesh process exited"
