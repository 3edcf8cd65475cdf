#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the test suite (Debian's postgresql package) and print its URL.
# Usage: scripts/pg.sh start DIR [lean]  -> prints postgresql://postgres@127.0.0.1:PORT/postgres
#        scripts/pg.sh stop DIR
# `lean` (scripts/test.sh) also turns off full-page writes, WAL for replication and commit waits: the suite's server
# is thrown away, nothing it writes must survive a crash of it, and no test reads these settings or stops the server;
# ~15 % less of the server's CPU on the migrations' DDL and the logs' writes, which the PostgreSQL pass waits on
# (bench/analysis.md, ci6). Without it the server is as before (fsync off only): the bench's PostgreSQL runs use it.
set -euo pipefail
action=$1; dir=$2; mode=${3:-}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
run_as() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
case "$action" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    run_as "$bin/initdb -D '$dir/data' -U postgres --auth=trust -E UTF8 >'$dir/initdb.log' 2>&1"
    options="-c fsync=off"
    if [ "$mode" = lean ]; then
      options="$options -c synchronous_commit=off -c full_page_writes=off -c wal_level=minimal -c max_wal_senders=0"
    fi
    run_as "$bin/pg_ctl -D '$dir/data' -l '$dir/server.log' -w -o \"-p $port -k '$dir' -c listen_addresses=127.0.0.1 $options -c max_connections=200\" start >/dev/null"
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    run_as "$bin/pg_ctl -D '$dir/data' -m fast stop >/dev/null" || true
    ;;
esac
