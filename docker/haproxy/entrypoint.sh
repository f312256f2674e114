#!/bin/sh
# Writes HAProxy's configuration from the environment, then runs "$@" with it
# (CMD: haproxy, in the foreground).
#   PGPORT              where to listen for PostgreSQL clients (5432)
#   PATRONI_NODES       the cluster's nodes, "name=host:pgport:apiport ..."
#   HAPROXY_LISTEN_ADDR the address to listen on (0.0.0.0)
# A node receives connections only while its Patroni answers 200 on /primary
# (it holds the leader lock) and its PostgreSQL runs as the primary. A node that
# stops answering so loses its sessions at once (on-marked-down
# shutdown-sessions): no connection to a demoted node stays open for writes.
set -eu
: "${PATRONI_NODES:?set PATRONI_NODES (name=host:pgport:apiport ...)}"
conf=$(mktemp -d)/haproxy.cfg
{
  cat <<CFG
global
    maxconn 2000

defaults
    mode tcp
    log stdout format raw local0 info
    option tcplog
    retries 2
    timeout connect 2s
    # Database sessions stay open for minutes between queries (persistent
    # connections, PgBouncer's pool): TCP keepalives find dead peers.
    timeout client 30m
    timeout server 30m
    option clitcpka
    option srvtcpka

frontend postgresql
    bind ${HAPROXY_LISTEN_ADDR:-0.0.0.0}:$PGPORT
    default_backend primary

backend primary
    # 200: the node holds the leader lock, which Patroni takes before it
    # promotes; "role": "master" (or "primary"): its PostgreSQL, asked for
    # this answer, is out of recovery. Both, or a promotion still under way
    # would be sent writes it refuses.
    option httpchk
    http-check send meth GET uri /primary
    http-check expect status 200
    http-check expect rstring "\"role\": \"(master|primary)\""
    # Out within 0.7 s of its Patroni answering 503 (two failures: every
    # 0.5 s, then 0.2 s), in after one success. A demoted primary's Patroni
    # answers 503 as it gives up the leader lock, and starts PostgreSQL as a
    # standby 2 s later: out by then, no connection reaches it read-only.
    # A check may take 2 s before it counts as failed.
    timeout check 2s
    default-server inter 500ms fastinter 200ms fall 2 rise 1 on-marked-down shutdown-sessions
CFG
  for node in $PATRONI_NODES; do
    name=${node%%=*}
    address=${node#*=}
    host=${address%%:*}
    ports=${address#*:}
    printf '    server %s %s:%s check port %s\n' "$name" "$host" "${ports%%:*}" "${ports#*:}"
  done
} >"$conf"
exec "$@" -db -f "$conf"
