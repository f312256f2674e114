#!/bin/sh
# Run once by Patroni on the node that initialises the cluster, with the
# superuser's connection string: the service's account and database, as the
# postgres image's POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB make them.
set -eu
psql "$1" -v ON_ERROR_STOP=1 -v user="$POSTGRES_USER" -v pass="$POSTGRES_PASSWORD" \
  -v db="${POSTGRES_DB:-$POSTGRES_USER}" <<'SQL'
CREATE ROLE :"user" LOGIN SUPERUSER PASSWORD :'pass';
CREATE DATABASE :"db" OWNER :"user";
SQL
