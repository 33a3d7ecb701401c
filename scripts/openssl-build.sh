#!/usr/bin/env bash
# Build the OpenSSL versions the suite runs against, from Debian's source
# packages, into a cache keyed by exact upstream version.
#
#   scripts/openssl-build.sh 1.1.1|3.5|3.6|4.0|all     build (or reuse) and
#                                                       print the prefix(es)
#   scripts/openssl-build.sh --prefix 4.0               only print the prefix
#                                                       of a cached build
#
# Sources: `deb-src` entries for bullseye (1.1.1), trixie (3.5), sid (3.6) and
# experimental (4.0) of the Debian mirror (and bookworm for 3.0 where the
# system is not 3.0) this machine already uses (taken from
# /etc/apt/sources.list*), written to their own sources file. The newest
# version the suite offers is tried first; if it no longer downloads (indexes
# can list superseded versions), the next one. The version the system already
# has (3.0 on Debian 12, 3.5 on Debian 13) is "system" and is not built.
#
# Cache: $OSSL_CACHE (default /var/cache/ossl-handshake)/openssl-<ver>, with a
# .complete stamp; a complete build is reused. Each build has an rpath to its
# own lib/, so bin/openssl and the libraries find each other without
# LD_LIBRARY_PATH.
set -euo pipefail

CACHE=${OSSL_CACHE:-/var/cache/ossl-handshake}
JOBS=${OSSL_JOBS:-2}
SRC_LIST=/etc/apt/sources.list.d/ossl-handshake-src.sources
ALL_SERIES="1.1.1 3.0 3.5 3.6 4.0"

log() { printf 'openssl-build: %s\n' "$*" >&2; }

suite_of() {
    case "$1" in
        1.1.1) echo bullseye ;;
        3.0) echo bookworm ;; # only built on a machine whose system OpenSSL is not 3.0
        3.5) echo trixie ;;
        3.6) echo sid ;;
        4.0) echo experimental ;;
        *) return 1 ;;
    esac
}

# The OpenSSL series of the system library, e.g. 3.0 (Debian 12) or 3.5 (13).
system_series() {
    local v
    v=$(pkg-config --modversion openssl 2>/dev/null || openssl version | awk '{print $2}')
    echo "$v" | sed -E 's/^([0-9]+\.[0-9]+)(\.[0-9]+).*/\1/; s/^1\.1$/1.1.1/'
}

# The URI of the Debian mirror configured for the system's own suite.
mirror_uri() {
    local uri
    uri=$(grep -hE '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '{print $2}' | grep -v -- '-security' | grep -i debian | head -1 || true)
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(grep -hE '^\s*deb\s' /etc/apt/sources.list | awk '{print $2}' \
            | grep -v -- '-security' | grep -i debian | head -1 || true)
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

ensure_sources() {
    local uri
    uri=$(mirror_uri)
    if ! grep -qs "URIs: $uri" "$SRC_LIST" || [ -n "${OSSL_APT_UPDATE:-}" ] \
        || ! grep -qs bookworm "$SRC_LIST" \
        || ! apt-cache showsrc openssl 2>/dev/null | grep -q '^Version: 4\.'; then
        if [ "$(id -u)" != 0 ]; then
            log "need root to write $SRC_LIST and run apt-get update"
            return 1
        fi
        log "deb-src bullseye bookworm trixie sid experimental from $uri -> $SRC_LIST"
        cat >"$SRC_LIST" <<SRC
Types: deb-src
URIs: $uri
Suites: bullseye bookworm trixie sid experimental
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        apt-get update -qq || return 1
    fi
}

# Debian versions of openssl in a suite for a series, newest first.
candidates() {
    local series=$1 suite
    suite=$(suite_of "$series")
    apt-cache madison openssl | awk -v s="$suite/main Sources" '$0 ~ s {print $3}' \
        | grep -E "^${series//./\\.}" | sort -Vr | uniq
}

upstream_of() { echo "$1" | sed -E 's/^[0-9]+://; s/-[^-]*$//'; }

cached_prefix() {
    local series=$1 d
    for d in $(ls -d "$CACHE"/openssl-"$series"* 2>/dev/null | sort -Vr); do
        [ -f "$d/.complete" ] && { echo "$d"; return 0; }
    done
    return 1
}

build_one() {
    local series=$1 debver ver prefix work t0 srcdir
    if [ "$series" = "$(system_series)" ]; then
        log "$series is the system OpenSSL ($(openssl version | awk '{print $2}')): not built"
        echo system
        return 0
    fi
    suite_of "$series" >/dev/null || { log "unknown series $series"; return 1; }
    local found
    if ! ensure_sources || [ -z "$(candidates "$series")" ]; then
        # No index (offline, not root): a cached build of the series still serves.
        if found=$(cached_prefix "$series"); then
            log "$series: no source index; reusing $found ($(cat "$found/.complete"))"
            echo "$found"
            return 0
        fi
        log "$series: no source index and no cached build in $CACHE"
        return 1
    fi
    mkdir -p "$CACHE"
    for debver in $(candidates "$series"); do
        ver=$(upstream_of "$debver")
        prefix=$CACHE/openssl-$ver
        if [ -f "$prefix/.complete" ]; then
            log "$series: reusing $prefix ($(cat "$prefix/.complete"))"
            echo "$prefix"
            return 0
        fi
        work=$CACHE/src/$ver
        rm -rf "$work"
        mkdir -p "$work"
        log "$series: apt-get source openssl=$debver"
        if ! (cd "$work" && apt-get source -qq openssl="$debver" >"$work/source.log" 2>&1); then
            log "$series: $debver does not download ($(grep -m1 -E '^E:' "$work/source.log" || true)); trying the next"
            rm -rf "$work"
            continue
        fi
        srcdir=$(find "$work" -maxdepth 1 -mindepth 1 -type d -name 'openssl-*' | head -1)
        t0=$(date +%s)
        log "$series: building $ver in $srcdir (make -j$JOBS), log $work/build.log"
        (
            cd "$srcdir"
            rm -rf "$prefix"
            if [ "$series" = 1.1.1 ]; then
                ./config --prefix="$prefix" --openssldir="$prefix/ssl" --libdir=lib \
                    no-tests shared "-Wl,-rpath,$prefix/lib"
            else
                ./Configure --prefix="$prefix" --openssldir="$prefix/ssl" --libdir=lib \
                    no-docs no-tests shared "-Wl,-rpath,$prefix/lib"
            fi
            make -j"$JOBS" build_sw
            make install_sw install_ssldirs
        ) >"$work/build.log" 2>&1 || { log "$series: build failed, tail of $work/build.log:"; tail -30 "$work/build.log" >&2; return 1; }
        "$prefix/bin/openssl" version >/dev/null
        echo "debian $debver, built in $(( $(date +%s) - t0 )) s on $(date -u +%FT%TZ)" >"$prefix/.complete"
        log "$series: $("$prefix/bin/openssl" version) in $prefix ($(cat "$prefix/.complete"))"
        rm -rf "$work"
        echo "$prefix"
        return 0
    done
    log "$series: no version of openssl in $(suite_of "$series") could be fetched"
    return 1
}

if [ "${1:-}" = --prefix ]; then
    s=$2
    [ "$s" = "$(system_series)" ] && { echo system; exit 0; }
    cached_prefix "$s" || { log "no cached build of $s in $CACHE"; exit 1; }
    exit 0
fi

targets=${1:-all}
[ "$targets" = all ] && targets=$ALL_SERIES
rc=0
for s in $targets; do
    build_one "$s" || rc=1
done
exit $rc
