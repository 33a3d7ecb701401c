#!/usr/bin/env bash
# Build ossl_handshake._ossl with AddressSanitizer + UndefinedBehaviorSanitizer
# into its own venv (.venv-asan, apart from the normal .venv) and run the
# lifecycle / thread / hostile-caller / callback tests against that copy.
#
#   scripts/sanitize.sh [pytest args...]   (default: the files in TESTS below,
#                                           then FIBER_TESTS in a run of their own)
# Given arguments run in one invocation with no allowance (FIBER_TESTS among
# them then fail on the stack-switch warning: run those with no arguments).
#
# The package is built by pip/setuptools (cffi, ossl_build.py) from a copy of
# the tree's tracked and untracked-but-not-ignored files, with the sanitizer
# flags in CFLAGS/LDFLAGS: a copy, so that a stale build/ from another build
# cannot be reused and the editable .so in src/ossl_handshake/ is untouched.
# Exit status: 0 clean; non-zero on a failing test, a sanitizer report, no test
# collected (pytest 5), or a sanitizer self-check that did not fire.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
VENV=${ASAN_VENV:-.venv-asan}
CC=gcc  # the runtime preloaded below is gcc's, so the build must be gcc's too
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"
TESTS=(
    tests/test_lifecycle.py tests/test_threads.py tests/test_hostile_callers.py
    tests/test_config_callbacks_lifetime.py tests/test_free_order.py tests/test_adopt.py
    tests/test_signals.py tests/test_semantics.py tests/test_fast_path.py
    tests/test_context_guard.py tests/test_context_inputs.py tests/test_keys_with_passwords.py
    tests/test_connection_races.py tests/test_connection_inputs.py
    tests/test_connection_observers.py tests/test_signals_and_timeouts.py
    tests/test_error_mapping.py tests/test_connect_accept_bios.py
    # this round's C glue and C-to-Python callbacks (hello, cert, OCSP, PSK, ...)
    tests/test_client_hello.py tests/test_cert_callbacks.py tests/test_retry_verify.py
    tests/test_pause_mode.py tests/test_ca_lists.py tests/test_ocsp.py
    tests/test_certs_from_memory.py tests/test_sessions_details.py
    tests/test_verification_control.py tests/test_alpn_bytes.py tests/test_write_modes.py
    tests/test_renegotiation.py tests/test_post_handshake_auth.py tests/test_early_data.py
    tests/test_psk.py tests/test_exporters.py tests/test_wire_decrypt.py
    tests/test_visible_sockets.py tests/test_memory_per_pair.py tests/test_config_dh.py tests/test_pipe_bio.py
)
# Run apart, in a second pytest invocation: OpenSSL's ASYNC jobs run on their
# own heap-allocated stacks and switch to and from them with _setjmp/_longjmp
# (async_posix.c, uninstrumented). ASan's _longjmp interceptor calls
# __asan_handle_no_return, which would unpoison from the current stack pointer
# up to the thread's stack top; from a job's stack that range spans the heap, so
# ASan declines (correctly: the job's frames are live and will be resumed) and
# says so once per process with a WARNING that no option silences
# (google/sanitizers#189, #980). Only this invocation's reports may consist of
# exactly that warning; anything else in them, or any report from the first
# invocation, fails the run as before.
FIBER_TESTS=(tests/test_async_jobs.py)

start=$SECONDS
TMP=$(mktemp -d /tmp/ossl-asan.XXXXXX)
trap 'rc=$?; rm -rf "$TMP"; echo "sanitize: exit $rc after $((SECONDS - start)) s"; exit $rc' EXIT

LIBASAN=$($CC -print-file-name=libasan.so)
LIBUBSAN=$($CC -print-file-name=libubsan.so)
for lib in "$LIBASAN" "$LIBUBSAN"; do
    # -print-file-name echoes the bare name back when it finds nothing.
    [ -e "$lib" ] || { echo "sanitize: $CC has no $lib (Debian: libasan8/libubsan1)" >&2; exit 2; }
done

# CPython is not instrumented, so the runtimes must be loaded before it.
# detect_leaks=0: CPython never frees much of what it allocates at exit (interned
# strings, static types, caches), so LeakSanitizer would bury any real report.
# allocator_may_return_null=1: a huge request gets NULL (MemoryError) as with
# glibc, instead of ASan's own abort. PYTHONMALLOC=malloc: Python objects and
# cffi's ffi.new buffers go through malloc, so ASan sees overflows/use-after-free
# of them too, not only of OpenSSL's allocations.
asan=detect_leaks=0:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1
ubsan=print_stacktrace=1:halt_on_error=1:abort_on_error=1
san_env=(env LD_PRELOAD="$LIBASAN $LIBUBSAN" PYTHONMALLOC=malloc ASAN_OPTIONS=$asan UBSAN_OPTIONS=$ubsan)

if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
    echo '*' >"$VENV/.gitignore"  # keeps git (and the copy below, and ruff) out of it
    "$VENV/bin/pip" install -q --upgrade pip 'setuptools>=77' wheel
fi

# 1. Build and install the sanitized extension (non-editable) into the venv.
mkdir "$TMP/src"
git ls-files -z -co --exclude-standard -x "/$VENV/" |
    tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$TMP/src"
"$VENV/bin/pip" uninstall -q -y ossl-handshake 2>/dev/null || true  # never keep an old build
CC=$CC CFLAGS="$SAN" LDFLAGS="-fsanitize=address,undefined" \
    "$VENV/bin/pip" install -q "$TMP/src[test]"

# 2. Self-check: the runtime really catches a heap overflow and fatal UB in
#    code built with these flags, loaded into this Python through ctypes.
cat >"$TMP/canary.c" <<'EOF'
#include <stdlib.h>
/* volatile: UBSan's object-size check must not see malloc(8) and fire first */
int heap_overflow(int n) { char *volatile p = malloc(8); p[n] = 1; int r = p[0]; free(p); return r; }
int signed_overflow(int x) { return x + 1; }
EOF
$CC $SAN -shared -fPIC -o "$TMP/canary.so" "$TMP/canary.c"
canary() {  # canary FUNCTION ARG EXPECTED-TEXT
    local out
    if out=$("${san_env[@]}" "$VENV/bin/python" -c \
        "import ctypes, sys; getattr(ctypes.CDLL(sys.argv[1]), sys.argv[2])(int(sys.argv[3]))" \
        "$TMP/canary.so" "$1" "$2" 2>&1); then
        echo "sanitize: self-check FAILED: $1($2) ran to completion, sanitizer not active" >&2
        exit 3
    fi
    grep -q "$3" <<<"$out" || { echo "$out" >&2; echo "sanitize: self-check FAILED: no '$3'" >&2; exit 3; }
    echo "sanitize: self-check ok: $1 -> $3"
}
canary heap_overflow 8 "AddressSanitizer: heap-buffer-overflow"
canary signed_overflow 2147483647 "runtime error: signed integer overflow"

# 3. The tests, run from the repo root: src/ is not on sys.path (src layout, and
#    the venv's install is not editable), so they import the venv's copy; the
#    plugin prints which .so that is and stops the run if it is not sanitized.
fibers=()
if [ $# -eq 0 ]; then
    for f in "${TESTS[@]}" "${FIBER_TESTS[@]}"; do
        [ -e "$f" ] || { echo "sanitize: $f does not exist" >&2; exit 2; }
    done
    set -- "${TESTS[@]}"
    fibers=("${FIBER_TESTS[@]}")
fi
cat >"$TMP/asan_check.py" <<'EOF'
import pytest

def pytest_report_header(config):
    import ossl_handshake._ossl as m
    with open(m.__file__, "rb") as f:
        instrumented = b"__asan_init" in f.read()
    if "site-packages" not in m.__file__ or not instrumented:
        raise pytest.UsageError(f"not the sanitized build: {m.__file__}")
    return f"sanitized ossl_handshake._ossl: {m.__file__}"
EOF
# Reports go to files (log_path, one per pid): pytest's fd capture would swallow
# a report printed to stderr by a process that then aborts, and the child
# interpreters some tests start write theirs there too. Any report fails the run.
# pytest exits 5 when it collects nothing: non-zero, so it fails the run too.
# pytest-timeout: unmarked tests get 600 s (the modules' own marks still apply).
run_tests() {  # run_tests REPORT-DIR PYTEST-ARGS...
    local dir=$1
    shift
    mkdir "$dir"
    PYTHONPATH="$TMP" "${san_env[@]}" \
        ASAN_OPTIONS="$asan:log_path=$dir/asan" UBSAN_OPTIONS="$ubsan:log_path=$dir/ubsan" \
        "$VENV/bin/python" -m pytest -p asan_check -p no:cacheprovider -o addopts="-ra" \
        --timeout=600 "$@"
}
# The stack-switch warning, line for line (gcc 12's libasan adds "stack type").
fiber_warning=(
    -e '==[0-9]+==WARNING: ASan is ignoring requested __asan_handle_no_return: (stack type: [a-z]+ )?top: 0x[0-9a-f]+; bottom 0x[0-9a-f]+; size: 0x[0-9a-f]+ \(-?[0-9]+\)'
    -e 'False positive error reports may follow'
    -e 'For details see https://github.com/google/sanitizers/issues/189'
)
bad_reports=0
check_reports() {  # check_reports REPORT-DIR ALLOW-FIBER-WARNING(0/1)
    local report
    for report in "$1"/*; do
        [ -e "$report" ] || continue
        if [ "$2" = 1 ] && [ -s "$report" ] && ! grep -qvxE "${fiber_warning[@]}" "$report"; then
            echo "sanitize: ${report##*/}: only the ASYNC stack-switch warning (allowed here)"
            continue
        fi
        echo "===== sanitizer report ${report##*/} =====" >&2
        cat "$report" >&2
        bad_reports=1
    done
}
rc=0
run_tests "$TMP/reports" "$@" || rc=$?
check_reports "$TMP/reports" 0
if [ ${#fibers[@]} -gt 0 ]; then
    frc=0
    run_tests "$TMP/reports-fibers" "${fibers[@]}" || frc=$?
    [ "$rc" != 0 ] || rc=$frc
    check_reports "$TMP/reports-fibers" 1
fi
[ "$bad_reports" = 0 ] || [ "$rc" != 0 ] || rc=1
[ "$rc" = 0 ] || echo "sanitize: FAILED (pytest/sanitizer exit $rc)" >&2
exit "$rc"
