#!/bin/sh
# Renders nginx.conf from the environment, then runs nginx in the foreground.
#   NGINX_PORT       where to listen (8080)
#   NGINX_UPSTREAMS  the web replicas, "host:port host:port ..." (web1:8000 ...)
set -eu
: "${NGINX_UPSTREAMS:?set NGINX_UPSTREAMS (the web replicas, host:port ...)}"
mkdir -p /tmp/nginx
servers=
for upstream in $NGINX_UPSTREAMS; do
  servers="$servers        server $upstream max_fails=1 fail_timeout=10s;\\n"
done
sed -e "s/@LISTEN@/${NGINX_PORT:-8080}/" -e "s/@UPSTREAM_SERVERS@/$servers/" \
  /etc/nginx/cart.conf.template >/tmp/nginx/nginx.conf
exec nginx -c /tmp/nginx/nginx.conf -g 'daemon off;'
