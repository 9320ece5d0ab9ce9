#!/usr/bin/env bash
# TimescaleDB 2.28.3 into Debian's PostgreSQL 15, for the buffer's tests (as root).
# The vendor folder's prebuilt tarball is the cache: it is unpacked when the server is at
# least the 15.20 it was built against (it calls functions that 15.20 added, so an older
# server cannot load it). An older server gets the extension built once from the vendor
# source against its own headers, like the vendor's build.sh but with the dev package pinned
# to the installed server (build.sh's `apt-get install postgresql-15` would upgrade the
# server under running clusters); the result is kept in a cache tarball for the next run.
# A stamp beside the control file names the server version the installed files fit.
set -euo pipefail
VENDOR=${ALPHAPULSE_TIMESCALEDB_VENDOR:-$(cd "$(dirname "$0")/../.." && pwd)/shared/vendor/timescaledb}
REF=2.28.3
PREBUILT_FOR=15.20
CACHE=${ALPHAPULSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/alphapulse}
EXT=/usr/share/postgresql/15/extension
PG=/usr/lib/postgresql/15/bin/postgres
[[ -x $PG ]] || { echo "timescaledb: no PostgreSQL 15 in /usr/lib/postgresql/15" >&2; exit 1; }
server=$("$PG" --version | grep -oE '15\.[0-9]+' | head -1)
stamp="$EXT/timescaledb.alphapulse-stamp"
if [[ -e $EXT/timescaledb.control && -e $stamp && $(cat "$stamp") == "$REF pg$server" ]]; then
    exit 0
fi
[[ $(id -u) == 0 ]] || { echo "timescaledb: not installed for $server and we are not root" >&2; exit 1; }
[[ -d $VENDOR ]] || { echo "timescaledb: no vendor folder at $VENDOR" >&2; exit 1; }
if printf '%s\n%s\n' "$PREBUILT_FOR" "$server" | sort -V -C; then
    tarball=$VENDOR/timescaledb-$REF-pg15-bookworm-amd64.tar.gz
else
    tarball=$CACHE/timescaledb-$REF-pg$server-amd64.tar.gz
    if [[ ! -e $tarball ]]; then
        echo "timescaledb: building $REF for PostgreSQL $server (once; then cached in $tarball)" >&2
        version=$(dpkg-query -W -f='${Version}' postgresql-15)
        apt-get update -qq  # a fresh machine may have no package lists yet
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-server-dev-15=$version" \
            cmake build-essential libssl-dev libkrb5-dev >/dev/null
        work=$(mktemp -d)
        trap 'rm -rf "$work"' EXIT
        tar -C "$work" -xzf "$VENDOR/timescaledb-$REF-src.tar.gz"
        (
            cd "$work/timescaledb-$REF"
            patch -p1 -s < "$VENDOR/portal-drop.patch"
            BUILD_FORCE_REMOVE=true ./bootstrap -DCMAKE_BUILD_TYPE=Release -DREGRESS_CHECKS=OFF \
                -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF -DLINTER=OFF -DSEND_TELEMETRY_DEFAULT=OFF >/dev/null
            make -C build -j"$(nproc)" >/dev/null
            stage=$work/stage
            lib=$(pg_config --pkglibdir)
            make -C build install DESTDIR="$stage" >/dev/null
            strip --strip-debug "$stage$lib"/timescaledb*.so
            mkdir -p "$CACHE"
            tar -C "$stage" -czf "$tarball.tmp" usr
            mv "$tarball.tmp" "$tarball"
        )
    fi
fi
tar -C / -xzf "$tarball"
echo "$REF pg$server" > "$stamp"
echo "timescaledb: $REF installed for PostgreSQL $server from $tarball" >&2
