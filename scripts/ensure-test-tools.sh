#!/usr/bin/env bash
# What the tests need beyond npm: real PostgreSQL clients (psql, pgjdbc, psycopg 2 and 3, SQLAlchemy, asyncpg,
# psqlODBC), openssl, headless Chromium, and Debian's PostgreSQL 15 server (the tests start their own throwaway servers from it).
# Installs whatever is missing with apt-get (as root, or through sudo); `npm test` runs it first.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
SUDO=''
can_install=true
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else can_install=false; fi
fi
need_apt=()
command -v psql >/dev/null 2>&1 || need_apt+=(postgresql-client)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
# Real clients the wire tests drive (test/clients): pgjdbc + a JDK, psycopg2 + SQLAlchemy, psqlODBC + isql,
# psycopg 3, asyncpg.
[ -f /usr/share/java/postgresql.jar ] || need_apt+=(libpostgresql-jdbc-java)
command -v javac >/dev/null 2>&1 || need_apt+=(default-jdk-headless)
/usr/bin/python3 -c 'import psycopg2' >/dev/null 2>&1 || need_apt+=(python3-psycopg2)
/usr/bin/python3 -c 'import sqlalchemy' >/dev/null 2>&1 || need_apt+=(python3-sqlalchemy)
[ -f /usr/lib/x86_64-linux-gnu/odbc/psqlodbcw.so ] || need_apt+=(odbc-postgresql)
command -v isql >/dev/null 2>&1 || need_apt+=(unixodbc)
/usr/bin/python3 -c 'import psycopg' >/dev/null 2>&1 || need_apt+=(python3-psycopg)
/usr/bin/python3 -c 'import asyncpg' >/dev/null 2>&1 || need_apt+=(python3-asyncpg)
# Headless Chromium renders the status page of the operator HTTP port (test/e2e/status-page.test.ts).
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
# PostgreSQL 15 server binaries: tests start their own throwaway servers from them (test/support/external-postgres.ts).
need_server=false
[ -x /usr/lib/postgresql/15/bin/postgres ] || { need_apt+=(postgresql-15); need_server=true; }
if [ ${#need_apt[@]} -gt 0 ] && [ "$can_install" = false ]; then
  # An ordinary user without sudo cannot install; say what a root user has to.
  echo "the tests need Debian packages that are not installed: ${need_apt[*]}" >&2
  echo "as root: apt-get update && apt-get install -y --no-install-recommends ${need_apt[*]}; then run npm test again" >&2
  exit 1
fi
if [ "$need_server" = true ]; then
  # Keep the package from creating (and starting, where services may start) the default cluster on port 5432.
  $SUDO mkdir -p /etc/postgresql-common/createcluster.d
  echo 'create_main_cluster = false' | $SUDO tee /etc/postgresql-common/createcluster.d/no-main-cluster.conf >/dev/null
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing what the tests need: ${need_apt[*]}" >&2
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
if [ "$need_server" = true ] && [ -d /etc/postgresql/15/main ]; then
  $SUDO pg_ctlcluster 15 main stop >/dev/null 2>&1 || true
fi
# Citus for the citus-engine project: built from the vendored source into PostgreSQL 15 when missing.
bash "$(dirname "$0")/ensure-citus.sh"
