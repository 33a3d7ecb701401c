#!/usr/bin/env bash
# docs/semantics.md from real handshakes against every OpenSSL version:
#   scripts/semantics.sh [versions...]   (default: 1.1.1 3.0 3.5 3.6 4.0)
# Uses the venvs make test-openssl left (.venv-openssl-<V>, binding built
# against that version) with the same environment (OPENSSL_DIR, the build's
# bin/ on PATH, LD_LIBRARY_PATH only for a build with the system's soname).
set -euo pipefail
cd "$(dirname "$0")/.."
versions=("$@")
[ ${#versions[@]} -eq 0 ] && versions=(1.1.1 3.0 3.5 3.6 4.0)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
jsons=()
for v in "${versions[@]}"; do
    venv=.venv-openssl-$v
    [ -x "$venv/bin/python" ] || { echo "semantics: no $venv (run make test-openssl V=$v first)" >&2; exit 1; }
    prefix=$(bash scripts/openssl-build.sh --prefix "$v")
    envs=()
    if [ "$prefix" != system ]; then
        envs+=("OPENSSL_DIR=$prefix" "PATH=$prefix/bin:$PATH")
        sys_ssl=$(ldconfig -p 2>/dev/null | awk '/libssl\.so/ {print $1}' | sort -u)
        for so in "$prefix"/lib/libssl.so.*; do
            grep -qx "$(basename "$so")" <<<"$sys_ssl" && envs+=("LD_LIBRARY_PATH=$prefix/lib")
        done
    fi
    env "${envs[@]}" "$venv/bin/python" scripts/semantics_table.py --measure >"$tmp/$v.json"
    jsons+=("$tmp/$v.json")
done
python3 scripts/semantics_table.py --render "${jsons[@]}" >docs/semantics.md
echo "semantics: docs/semantics.md from ${versions[*]}"
