#!/bin/sh
# The official image's first start, in short: make the cluster with POSTGRES_USER and
# POSTGRES_PASSWORD, create POSTGRES_DB, then run the server as `postgres`, listening
# on every address with password authentication.
set -eu
user="${POSTGRES_USER:-postgres}"
database="${POSTGRES_DB:-$user}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "POSTGRES_PASSWORD must be set" >&2
        exit 1
    fi
    mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA" && chmod 700 "$PGDATA"
    password_file=$(mktemp) && printf '%s\n' "$POSTGRES_PASSWORD" > "$password_file"
    chown postgres "$password_file"
    runuser -u postgres -- initdb -D "$PGDATA" -U "$user" --pwfile="$password_file" \
        -E UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$password_file"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    if [ "$database" != "postgres" ]; then
        echo "CREATE DATABASE \"$database\";" \
            | runuser -u postgres -- postgres --single -D "$PGDATA" postgres >/dev/null
    fi
    echo "PostgreSQL cluster made: user $user, database $database"
fi
if [ "$1" = "postgres" ]; then
    shift
    # setpriv execs (runuser would stay as process 1 and not pass SIGINT on).
    exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" -c listen_addresses='*' "$@"
fi
exec "$@"
