#!/bin/sh
# Writes Patroni's configuration from the environment, then runs Patroni.
#   NODE_NAME                this node's name (unique in the cluster)
#   NODE_HOST                the address others reach it on (its service name)
#   NODE_PG_PORT (5432), NODE_API_PORT (8008), NODE_LISTEN_ADDR (0.0.0.0)
#   ETCD_HOSTS          etcd's client addresses, "host:port,..."
#   SUPERUSER_PASSWORD, REPLICATION_PASSWORD
#   POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB: the service's account,
#                               made when the cluster is first initialised
#   SYNCHRONOUS_MODE_STRICT  "true": no write is acknowledged without a
#                               standby (false: the primary goes on alone)
# The cluster-wide settings (bootstrap.dcs) are read from the first node that
# initialises the cluster; later changes: `patronictl edit-config`.
set -eu
: "${NODE_NAME:?}" "${NODE_HOST:?}" "${ETCD_HOSTS:?}"
: "${SUPERUSER_PASSWORD:?}" "${REPLICATION_PASSWORD:?}"
: "${POSTGRES_USER:?}" "${POSTGRES_PASSWORD:?}"
listen=${NODE_LISTEN_ADDR:-0.0.0.0}
conf=$(mktemp -d)/patroni.yml
umask 077
cat >"$conf" <<YAML
scope: cart
name: $NODE_NAME
restapi:
  listen: $listen:$NODE_API_PORT
  connect_address: $NODE_HOST:$NODE_API_PORT
etcd3:
  hosts: $ETCD_HOSTS
bootstrap:
  dcs:
    # The leader lock lives ttl seconds without renewal: a crashed primary is
    # replaced after at most ttl + loop_wait (docs/failover.md, RTO).
    ttl: 10
    loop_wait: 1
    retry_timeout: 4
    # A commit is acknowledged once the synchronous standby has flushed it;
    # only a synchronous standby is promoted.
    synchronous_mode: true
    synchronous_mode_strict: ${SYNCHRONOUS_MODE_STRICT:-false}
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        max_connections: 200
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        synchronous_commit: "on"
        password_encryption: scram-sha-256
      pg_hba:
        - local all all trust
        - host replication replicator 0.0.0.0/0 scram-sha-256
        - host replication replicator ::/0 scram-sha-256
        - host all all 0.0.0.0/0 scram-sha-256
        - host all all ::/0 scram-sha-256
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - data-checksums
    - auth-host: scram-sha-256
  post_bootstrap: /usr/local/bin/patroni-post-bootstrap
postgresql:
  listen: $listen:$NODE_PG_PORT
  connect_address: $NODE_HOST:$NODE_PG_PORT
  data_dir: /var/lib/postgresql/data/pgdata
  bin_dir: /usr/lib/postgresql/15/bin
  pgpass: /tmp/pgpass
  authentication:
    superuser:
      username: postgres
      password: "$SUPERUSER_PASSWORD"
    replication:
      username: replicator
      password: "$REPLICATION_PASSWORD"
    rewind:
      username: postgres
      password: "$SUPERUSER_PASSWORD"
  parameters:
    unix_socket_directories: /tmp
tags:
  nofailover: false
  noloadbalance: false
  clonefrom: false
YAML
# patronictl in this container finds the cluster through the same file.
ln -sf "$conf" /tmp/patroni.yml
exec patroni "$conf"
