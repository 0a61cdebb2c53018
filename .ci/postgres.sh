#!/usr/bin/env bash
# PostgreSQL for the `postgres` feature's tests and bench. Source or run it before
# `cargo nextest run --all-features`: it installs the server binaries only when
# they are missing and makes sure the unprivileged `postgres` OS user exists
# (initdb refuses to run as root, so the tests start the server as that user).
# Skipped entirely when DATABASE_URL is set (the tests then use that server).
set -euo pipefail

if [ -n "${DATABASE_URL:-}" ]; then
    echo "postgres: using DATABASE_URL"
    exit 0
fi

have_initdb() {
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && return 0
    command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ] && return 0
    return 1
}

if ! have_initdb; then
    echo "postgres: installing the server binaries"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends postgresql
fi

if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin postgres
fi

# dblink and pg_stat_statements (contrib, shipped with the Debian server package)
# let the tests prove the dblink refusals and the health tool's top queries.
for ext in dblink pg_stat_statements; do
    if compgen -G "/usr/share/postgresql/*/extension/$ext.control" >/dev/null; then
        echo "postgres: extension $ext available"
    else
        echo "postgres: extension $ext missing (its tests check less)"
    fi
done

if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1 | sed 's/^/postgres: binaries in /'
else
    echo "postgres: binaries in $(pg_config --bindir)"
fi
