#!/bin/sh
# Skiff's traffic capture, run once per pod by an init container with NET_ADMIN (or by hand in a
# network namespace): every TCP connection the application makes goes to Skiff's outbound port,
# every TCP connection to the pod goes to Skiff's inbound port, and Skiff's own connections (its
# user or group id) leave untouched. Skiff recovers where each connection was going with
# SO_ORIGINAL_DST (the `envoy.filters.listener.original_dst` listener filter).
#
#   init-iptables.sh [-p 15001] [-z 15006] [-u 1337] [-g 1337] [-b '*'] [-d 15090,15021,15020]
#                    [-o PORTS] [-i '*'] [-x CIDRS] [-q PORTS] [--no-ipv6] [--dry-run] [--clean]
#
#   -p  outbound capture port (Skiff's virtual outbound listener)          default 15001
#   -z  inbound capture port (Skiff's virtual inbound listener)            default 15006
#   -u  Skiff's user id: its connections are never captured               default 1337
#   -g  Skiff's group id: likewise                                         default 1337
#   -b  inbound ports to capture, comma-separated, or '*' for all          default *
#   -d  inbound ports never captured (health, metrics, ssh ...)            default 15090,15021,15020
#   -o  outbound destination ports never captured
#   -i  outbound destination CIDRs to capture, or '*' for all              default *
#   -x  outbound destination CIDRs never captured
#   -q  outbound destination ports always captured, even on loopback
#   --no-ipv6  leave ip6tables alone (default: IPv6 rules too, when ip6tables exists)
#   --dry-run  print the commands instead of running them
#   --clean    remove Skiff's chains and jumps (and nothing else)
#
# Chains (nat table): SKIFF_INBOUND (from PREROUTING), SKIFF_IN_REDIRECT, SKIFF_OUTPUT (from
# OUTPUT), SKIFF_REDIRECT. Skiff reaches the application for inbound passthrough from 127.0.0.6
# (::6 on IPv6), the source `SKIFF_OUTPUT` lets through: bind an ORIGINAL_DST cluster there with
# `upstream_bind_config.source_address`. Same layout and defaults as Istio's istio-iptables, so
# bootstraps written for Istio's sidecar work unchanged.
set -eu

OUT_PORT=15001
IN_PORT=15006
PROXY_UID=1337
PROXY_GID=1337
IN_PORTS='*'
IN_EXCLUDE='15090,15021,15020'
OUT_EXCLUDE_PORTS=''
OUT_CIDRS='*'
OUT_EXCLUDE_CIDRS=''
OUT_INCLUDE_PORTS=''
IPV6=auto
DRY=0
CLEAN=0

usage() { sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
    case "$1" in
        -p) OUT_PORT=$2; shift 2 ;;
        -z) IN_PORT=$2; shift 2 ;;
        -u) PROXY_UID=$2; shift 2 ;;
        -g) PROXY_GID=$2; shift 2 ;;
        -b) IN_PORTS=$2; shift 2 ;;
        -d) IN_EXCLUDE=$2; shift 2 ;;
        -o) OUT_EXCLUDE_PORTS=$2; shift 2 ;;
        -i) OUT_CIDRS=$2; shift 2 ;;
        -x) OUT_EXCLUDE_CIDRS=$2; shift 2 ;;
        -q) OUT_INCLUDE_PORTS=$2; shift 2 ;;
        --no-ipv6) IPV6=no; shift ;;
        --dry-run) DRY=1; shift ;;
        --clean) CLEAN=1; shift ;;
        -h|--help) usage 0 ;;
        *) echo "init-iptables.sh: unknown option $1" >&2; usage 2 ;;
    esac
done

for port in "$OUT_PORT" "$IN_PORT"; do
    case "$port" in ''|*[!0-9]*) echo "init-iptables.sh: port '$port' is not a number" >&2; exit 2 ;; esac
done

# Runs (or prints) one command for the family: $1 is iptables or ip6tables.
run() {
    if [ "$DRY" = 1 ]; then echo "$*"; else "$@"; fi
}

# Splits a comma-separated list into words.
each() { echo "$1" | tr ',' ' '; }

# True when $1 (a CIDR or address) belongs to the family of tool $2.
in_family() {
    case "$1" in
        *:*) [ "$2" = ip6tables ] ;;
        *) [ "$2" = iptables ] ;;
    esac
}

clean() {
    t=$1
    # A missing chain or jump is not an error when cleaning.
    run "$t" -t nat -D PREROUTING -p tcp -j SKIFF_INBOUND 2>/dev/null || true
    run "$t" -t nat -D OUTPUT -p tcp -j SKIFF_OUTPUT 2>/dev/null || true
    for chain in SKIFF_INBOUND SKIFF_IN_REDIRECT SKIFF_OUTPUT SKIFF_REDIRECT; do
        run "$t" -t nat -F "$chain" 2>/dev/null || true
        run "$t" -t nat -X "$chain" 2>/dev/null || true
    done
}

setup() {
    t=$1
    if [ "$t" = ip6tables ]; then loopback='::1/128'; passthrough='::6/128'; else loopback='127.0.0.1/32'; passthrough='127.0.0.6/32'; fi
    for chain in SKIFF_INBOUND SKIFF_IN_REDIRECT SKIFF_OUTPUT SKIFF_REDIRECT; do
        run "$t" -t nat -N "$chain"
    done
    run "$t" -t nat -A SKIFF_REDIRECT -p tcp -j REDIRECT --to-ports "$OUT_PORT"
    run "$t" -t nat -A SKIFF_IN_REDIRECT -p tcp -j REDIRECT --to-ports "$IN_PORT"

    # Inbound: connections arriving at the pod.
    if [ -n "$IN_PORTS" ]; then
        run "$t" -t nat -A PREROUTING -p tcp -j SKIFF_INBOUND
        if [ "$IN_PORTS" = '*' ]; then
            for port in $(each "$IN_EXCLUDE"); do
                run "$t" -t nat -A SKIFF_INBOUND -p tcp --dport "$port" -j RETURN
            done
            run "$t" -t nat -A SKIFF_INBOUND -p tcp -j SKIFF_IN_REDIRECT
        else
            for port in $(each "$IN_PORTS"); do
                run "$t" -t nat -A SKIFF_INBOUND -p tcp --dport "$port" -j SKIFF_IN_REDIRECT
            done
        fi
    fi

    # Outbound: connections the pod makes.
    run "$t" -t nat -A OUTPUT -p tcp -j SKIFF_OUTPUT
    # Skiff's inbound passthrough to the application.
    run "$t" -t nat -A SKIFF_OUTPUT -o lo -s "$passthrough" -j RETURN
    for port in $(each "$OUT_INCLUDE_PORTS"); do
        run "$t" -t nat -A SKIFF_OUTPUT -o lo -p tcp --dport "$port" -j SKIFF_REDIRECT
    done
    # Skiff calling its own pod's address over loopback is inbound traffic to the pod;
    # anything else Skiff sends, and the application talking to itself, is left alone.
    for owner in "--uid-owner $PROXY_UID" "--gid-owner $PROXY_GID"; do
        # shellcheck disable=SC2086
        run "$t" -t nat -A SKIFF_OUTPUT -o lo ! -d "$loopback" -m owner $owner -j SKIFF_IN_REDIRECT
        # shellcheck disable=SC2086
        run "$t" -t nat -A SKIFF_OUTPUT -o lo -m owner ! $owner -j RETURN
        # shellcheck disable=SC2086
        run "$t" -t nat -A SKIFF_OUTPUT -m owner $owner -j RETURN
    done
    run "$t" -t nat -A SKIFF_OUTPUT -d "$loopback" -j RETURN
    for port in $(each "$OUT_EXCLUDE_PORTS"); do
        run "$t" -t nat -A SKIFF_OUTPUT -p tcp --dport "$port" -j RETURN
    done
    for cidr in $(each "$OUT_EXCLUDE_CIDRS"); do
        if in_family "$cidr" "$t"; then run "$t" -t nat -A SKIFF_OUTPUT -d "$cidr" -j RETURN; fi
    done
    if [ "$OUT_CIDRS" = '*' ]; then
        run "$t" -t nat -A SKIFF_OUTPUT -j SKIFF_REDIRECT
    else
        for cidr in $(each "$OUT_CIDRS"); do
            if in_family "$cidr" "$t"; then run "$t" -t nat -A SKIFF_OUTPUT -d "$cidr" -j SKIFF_REDIRECT; fi
        done
    fi
}

families=iptables
if [ "$IPV6" = auto ] && command -v ip6tables >/dev/null 2>&1; then
    families="iptables ip6tables"
fi
if [ "$DRY" = 0 ] && ! command -v iptables >/dev/null 2>&1; then
    echo "init-iptables.sh: iptables is not installed" >&2
    exit 1
fi

for family in $families; do
    clean "$family"
    if [ "$CLEAN" = 0 ]; then
        setup "$family"
    fi
done
if [ "$DRY" = 0 ]; then
    echo "init-iptables.sh: TCP captured (outbound -> :$OUT_PORT, inbound -> :$IN_PORT, uid $PROXY_UID / gid $PROXY_GID exempt; $families)"
fi
