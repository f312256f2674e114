#!/bin/sh
# Writes PgBouncer's configuration from the environment, then runs it.
#   DB_HOST, DB_PORT             the PostgreSQL server (default port 5432)
#   DB_USER, DB_PASSWORD         the one account the service uses; clients log
#                                in with the same name and password (SCRAM)
#   PGBOUNCER_PORT               where to listen (6432), PGBOUNCER_LISTEN_ADDR
#   PGBOUNCER_POOL_SIZE          server connections per database (20): the
#                                most PostgreSQL ever sees from all replicas
#   PGBOUNCER_MAX_CLIENT_CONN    client connections accepted (1000)
#   PGBOUNCER_CONNECT_QUERY      run on every new server connection (SET ...;
#                                no single quotes: "2s" is a value too)
#   PGBOUNCER_SERVER_LOGIN_RETRY seconds before connecting again after the
#                                server refused or failed a login (15)
set -eu
: "${DB_HOST:?set DB_HOST}" "${DB_USER:?set DB_USER}" "${DB_PASSWORD:?set DB_PASSWORD}"
conf=$(mktemp -d)
umask 077
printf '"%s" "%s"\n' "$DB_USER" "$DB_PASSWORD" >"$conf/userlist.txt"
cat >"$conf/pgbouncer.ini" <<INI
[databases]
* = host=$DB_HOST port=${DB_PORT:-5432} connect_query='${PGBOUNCER_CONNECT_QUERY:-}'

[pgbouncer]
listen_addr = $PGBOUNCER_LISTEN_ADDR
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $conf/userlist.txt
; A server connection is lent for one transaction: session state (LISTEN,
; session SET, server-side cursors and prepared statements) does not survive.
pool_mode = transaction
default_pool_size = ${PGBOUNCER_POOL_SIZE:-20}
max_db_connections = ${PGBOUNCER_POOL_SIZE:-20}
reserve_pool_size = 0
max_client_conn = ${PGBOUNCER_MAX_CLIENT_CONN:-1000}
; A client waits this long for a server connection before it is refused.
query_wait_timeout = 30
server_connect_timeout = 3
server_login_retry = ${PGBOUNCER_SERVER_LOGIN_RETRY:-15}
ignore_startup_parameters = extra_float_digits
; A client or server cut off without a FIN (a partition, a dead host) is
; dropped within 10 + 3 x 5 = 25 s, as PostgreSQL drops its own (compose's
; db); 25 s for data that is never acknowledged.
tcp_keepalive = 1
tcp_keepidle = 10
tcp_keepintvl = 5
tcp_keepcnt = 3
tcp_user_timeout = 25000
log_connections = 0
log_disconnections = 0
INI
exec pgbouncer "$conf/pgbouncer.ini"
