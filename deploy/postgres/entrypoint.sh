#!/bin/sh
# initdb on an empty $PGDATA (superuser "selfimprove", trust on 127.0.0.1), then the server on
# 127.0.0.1:$PGPORT in the foreground.
set -eu
BIN=/usr/lib/postgresql/bin
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    "$BIN/initdb" -D "$PGDATA" -U selfimprove -A trust >/dev/null
fi
exec "$BIN/postgres" -D "$PGDATA" -p "$PGPORT" -k /tmp -c listen_addresses=127.0.0.1 \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "$@"
