#!/usr/bin/env bash
# Run the whole suite against one or every OpenSSL version, each in its own
# venv (.venv-openssl-<series>):
#
#   scripts/test-openssl.sh [1.1.1|3.0|3.5|3.6|4.0|all ...] [-- pytest args]
#
# For each version: scripts/openssl-build.sh builds it (or reuses the cached
# build; the system's own series is used as is), the binding is built and
# installed (non-editable, from a copy of the tree, so src/'s editable .so of
# .venv is untouched) with OPENSSL_DIR pointing at the build, and pytest runs
# from the repo root with the same OPENSSL_DIR (tests/c/build.py and bench/
# use the one locator, so the C programs link the same libssl) and that
# version's bin/ first on PATH (the `openssl` CLI the tests call).
#
# Everything links with an rpath to the build's lib/. LD_LIBRARY_PATH is set
# only where rpath cannot work: a build whose libssl has the system's file
# name (libssl.so.3 for 3.5/3.6), because the interpreter's own _ssl/_hashlib
# (imported by pytest before the binding) would otherwise map the system copy
# first and the dynamic linker reuses a library by its soname.
#
# Exit status: non-zero when any version fails (pytest exit 5, nothing
# collected, is a failure). A summary line per version is printed at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
ALL="1.1.1 3.0 3.5 3.6 4.0"

versions=()
while [ $# -gt 0 ]; do
    case "$1" in
        --) shift; break ;;
        all|"") versions+=($ALL); shift ;;
        *) versions+=("$1"); shift ;;
    esac
done
[ ${#versions[@]} -eq 0 ] && versions=($ALL)
pytest_args=("$@")
[ ${#pytest_args[@]} -eq 0 ] && pytest_args=(-p no:cacheprovider -q)

summary=()
overall=0
for v in "${versions[@]}"; do
    t0=$SECONDS
    echo "=== test-openssl $v ==="
    if ! prefix=$(bash scripts/openssl-build.sh "$v"); then
        summary+=("$v: BUILD OF OPENSSL FAILED ($((SECONDS - t0)) s)")
        overall=1
        continue
    fi
    venv=.venv-openssl-$v
    env_vars=()
    if [ "$prefix" = system ]; then
        unset_dir=1
        path_prefix=""
        label="system $(openssl version | awk '{print $2}')"
    else
        unset_dir=0
        env_vars+=("OPENSSL_DIR=$prefix")
        path_prefix="$prefix/bin:"
        label="$("$prefix/bin/openssl" version | awk '{print $2}') ($prefix)"
        sys_ssl=$(ldconfig -p 2>/dev/null | awk '/libssl\.so/ {print $1}' | sort -u)
        for so in "$prefix"/lib/libssl.so.*; do
            if grep -qx "$(basename "$so")" <<<"$sys_ssl"; then
                env_vars+=("LD_LIBRARY_PATH=$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
                echo "test-openssl $v: $(basename "$so") is also the system's soname: LD_LIBRARY_PATH=$prefix/lib"
                break
            fi
        done
    fi
    echo "test-openssl $v: OpenSSL $label, venv $venv"
    run() {
        if [ "$unset_dir" = 1 ]; then
            env -u OPENSSL_DIR "${env_vars[@]}" PATH="${path_prefix}$PATH" "$@"
        else
            env "${env_vars[@]}" PATH="${path_prefix}$PATH" "$@"
        fi
    }
    rc=0
    tb=$SECONDS
    if [ ! -x "$venv/bin/python" ]; then
        "$PY" -m venv "$venv" && echo '*' >"$venv/.gitignore" \
            && "$venv/bin/pip" install -q --upgrade pip 'setuptools>=77' wheel || rc=$?
    fi
    if [ $rc = 0 ]; then
        tmp=$(mktemp -d /tmp/ossl-openssl-$v.XXXXXX)
        git ls-files -z -co --exclude-standard -x "/$venv/" |
            tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$tmp"
        "$venv/bin/pip" uninstall -q -y ossl-handshake 2>/dev/null || true
        run "$venv/bin/pip" install -q "$tmp[test]" || rc=$?
        rm -rf "$tmp"
    fi
    build_s=$((SECONDS - tb))
    if [ $rc != 0 ]; then
        summary+=("$v: BUILD OF THE BINDING FAILED against OpenSSL $label (exit $rc)")
        overall=1
        continue
    fi
    # The tests import the venv's copy (src/ is not on sys.path: src layout).
    run "$venv/bin/python" -c 'import ossl_handshake._native as n; print("test-openssl: loaded", n.RUNTIME_VERSION_TEXT, "FEATURES", n.FEATURES)' || rc=$?
    log=$(mktemp /tmp/ossl-openssl-$v-pytest.XXXXXX)
    if [ $rc = 0 ]; then
        run "$venv/bin/python" -m pytest "${pytest_args[@]}" 2>&1 | tee "$log"
        rc=${PIPESTATUS[0]}
    fi
    result=$(grep -E '^(=+ )?[0-9]+ (passed|failed|error|skipped)|(passed|failed|error).* in [0-9.]+s' "$log" | tail -1 | sed 's/=//g; s/^ *//; s/ *$//')
    rm -f "$log"
    [ $rc = 0 ] || overall=1
    summary+=("$v: OpenSSL $label: exit $rc: ${result:-no result} (binding build ${build_s} s, total $((SECONDS - t0)) s)")
done
echo "=== test-openssl summary ==="
printf '%s\n' "${summary[@]}"
exit $overall
