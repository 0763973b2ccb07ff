#!/usr/bin/env bash
# A local Redis Cluster for tests, the demo and experiments: 3 masters with
# $REDPACKET_REDIS_REPLICAS replicas each (default 2, the recommended setup; 1 for 3+3) of
# Debian's redis-server on 127.0.0.1, each in its own directory under DIR. With
# REDPACKET_REDIS_HOST=127.0.0.N, node i listens on 127.0.0.(N+i) instead (and its cluster bus
# and replication links leave from that address): the partition tests cut links by address.
#
#   cmake/redis-cluster.sh start DIR [BASE_PORT]   # ports BASE..BASE+8 (default 7100); prints
#                                                  # the seed list "HOST:BASE,..." when healthy
#   cmake/redis-cluster.sh stop DIR                # stops exactly the processes it started
#   cmake/redis-cluster.sh restart-node DIR PORT   # starts a stopped node again (it rejoins)
#
# Nodes run with AOF on (appendfsync everysec) and a 2 s node timeout, so a killed master's
# replica is promoted within a few seconds. With two replicas per master the other replica then
# follows the promoted one, so the new master still has a replica for the daemon's WAIT without
# any node being restarted (README, "Redis Cluster"). Everything stays on loopback.
set -euo pipefail

cmd=${1:?usage: redis-cluster.sh start|stop|restart-node DIR [PORT]}
dir=${2:?usage: redis-cluster.sh start|stop|restart-node DIR [PORT]}
base=${3:-7100}
replicas=${REDPACKET_REDIS_REPLICAS:-2}
nodes_total=$((3 * (1 + replicas)))
first_host=${REDPACKET_REDIS_HOST:-}

host_of() {  # port: the address its node listens on (kept in its directory once started)
    if [ -f "$dir/$1/host" ]; then cat "$dir/$1/host"
    elif [ -n "$first_host" ]; then echo "${first_host%.*}.$(( ${first_host##*.} + $1 - base ))"
    else echo 127.0.0.1
    fi
}

cli() {  # port args...: redis-cli against that node
    local port=$1; shift
    redis-cli -h "$(host_of "$port")" -p "$port" "$@"
}

node_args() {  # port
    local port=$1 d="$dir/$1"
    local host; host=$(host_of "$port")
    echo --port "$port" --bind "$host" --bind-source-addr "$host" --cluster-announce-ip "$host" \
        --cluster-enabled yes \
        --cluster-config-file "$d/nodes.conf" --cluster-node-timeout 1000 \
        --appendonly yes --appendfsync everysec --save "" --dir "$d" \
        --daemonize no --logfile "$d/redis.log" --protected-mode no
}

start_node() {  # port
    local port=$1 host
    host=$(host_of "$port")
    mkdir -p "$dir/$port"
    echo "$host" > "$dir/$port/host"
    # shellcheck disable=SC2046
    redis-server $(node_args "$port") > /dev/null 2>&1 &
    echo $! > "$dir/$port/pid"
}

wait_ping() {  # port
    for _ in $(seq 1 100); do
        if cli "$1" ping 2>/dev/null | grep -q PONG; then return 0; fi
        sleep 0.1
    done
    echo "redis-cluster: node $1 does not answer" >&2
    return 1
}

healthy() {  # port: all slots served, every node online, every replica in sync with its master
    local info p
    info=$(cli "$1" cluster info 2>/dev/null) || return 1
    grep -q "cluster_state:ok" <<<"$info" && grep -q "cluster_slots_ok:16384" <<<"$info" \
        && grep -q "cluster_known_nodes:$nodes_total" <<<"$info" || return 1
    cli "$1" cluster shards 2>/dev/null | grep -qE "^(loading|fail)$" && return 1
    for p in $(seq "$1" $(($1 + nodes_total - 1))); do
        info=$(cli "$p" info replication 2>/dev/null) || return 1
        if grep -q "role:slave" <<<"$info"; then
            grep -q "master_link_status:up" <<<"$info" || return 1
        fi
    done
}

case "$cmd" in
    start)
        command -v redis-server > /dev/null || { echo "redis-cluster: no redis-server" >&2; exit 1; }
        "$0" stop "$dir"  # a cluster an earlier run left behind
        mkdir -p "$dir"
        ports=()
        for i in $(seq 0 $((nodes_total - 1))); do
            ports+=($((base + i)))
            rm -rf "${dir:?}/$((base + i))"
            start_node $((base + i))
        done
        for p in "${ports[@]}"; do wait_ping "$p"; done
        nodes=()
        for p in "${ports[@]}"; do nodes+=("$(host_of "$p"):$p"); done
        redis-cli --cluster create "${nodes[@]}" --cluster-replicas "$replicas" --cluster-yes > "$dir/create.log" 2>&1
        for _ in $(seq 1 200); do
            if healthy "$base"; then
                (IFS=,; echo "${nodes[*]}")
                exit 0
            fi
            sleep 0.1
        done
        echo "redis-cluster: not healthy after 20 s (see $dir/create.log)" >&2
        exit 1
        ;;
    stop)
        for pidfile in "$dir"/*/pid; do
            [ -f "$pidfile" ] || continue
            pid=$(cat "$pidfile")
            # Only our own redis-server: the pid must still be that process.
            if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q redis-server; then
                kill "$pid" 2>/dev/null || true
                for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
                kill -9 "$pid" 2>/dev/null || true
            fi
            rm -f "$pidfile"
        done
        ;;
    restart-node)
        start_node "$base"
        wait_ping "$base"
        ;;
    *)
        echo "redis-cluster: unknown command $cmd" >&2
        exit 2
        ;;
esac
