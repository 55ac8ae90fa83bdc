#!/usr/bin/env bash
# PostgreSQL for the server tests: install it from Debian's packages if missing, start a cluster listening on
# loopback only, create the role and database the tests use, and print the URL.
#
# Use (from .ci/run, as root):   eval "$(bash .ci/postgres.sh)"
# which exports TANDEM_TEST_POSTGRES_URL. Everything else this script says goes to stderr.
# Idempotent: a second run finds the package, the running cluster, the role and the database and changes nothing.
set -euo pipefail

PGUSER_NAME="${TANDEM_PG_USER:-tandem}"
PGPASS="${TANDEM_PG_PASSWORD:-tandem}"
PGDB="${TANDEM_PG_DB:-tandem_test}"

say() { echo "postgres.sh: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
  say "must run as root (it installs and starts PostgreSQL)"; exit 1
fi
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  say "installing PostgreSQL from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi

version="$(ls /usr/lib/postgresql | sort -V | tail -1)"
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$version main"; then
  say "creating cluster $version/main"
  pg_createcluster "$version" main >&2
fi
# Loopback only, and enough connections for several server workers and their pools.
conf="/etc/postgresql/$version/main/conf.d/tandem.conf"
if [ ! -f "$conf" ]; then
  mkdir -p "$(dirname "$conf")"
  printf "listen_addresses = '127.0.0.1'\nmax_connections = 200\n" >"$conf"
fi
port="$(pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $3}')"
if ! pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $4}' | grep -q online; then
  say "starting cluster $version/main on 127.0.0.1:$port"
  pg_ctlcluster "$version" main start >&2
fi
for _ in $(seq 1 50); do
  runuser -u postgres -- pg_isready -q -h 127.0.0.1 -p "$port" && break
  sleep 0.2
done

psql_admin() { runuser -u postgres -- psql -p "$port" -v ON_ERROR_STOP=1 -qtAc "$1"; }
if [ "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname = '$PGUSER_NAME'")" != 1 ]; then
  # the test fixture gives each test a schema of its own in this database and drops it afterwards
  psql_admin "CREATE ROLE $PGUSER_NAME LOGIN PASSWORD '$PGPASS'" >&2
fi
if [ "$(psql_admin "SELECT 1 FROM pg_database WHERE datname = '$PGDB'")" != 1 ]; then
  psql_admin "CREATE DATABASE $PGDB OWNER $PGUSER_NAME" >&2
fi

url="postgresql+psycopg://$PGUSER_NAME:$PGPASS@127.0.0.1:$port/$PGDB"
say "ready: $url"
echo "export TANDEM_TEST_POSTGRES_URL='$url'"
