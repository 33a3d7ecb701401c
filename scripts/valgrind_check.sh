#!/usr/bin/env bash
# Run a representative subset of the test suite under valgrind memcheck and
# report invalid reads/writes/frees and definite leaks attributable to the
# binding (a stack with _ossl, libssl or libcrypto frames). CPython runs with
# PYTHONMALLOC=malloc so that memcheck sees every allocation; interpreter
# noise is suppressed by scripts/valgrind-python.supp.
#
#   scripts/valgrind_check.sh [pytest args...]   (default: the subset below)
#
# Exit status: 0 clean, 1 findings, 2 valgrind/pytest failed to run.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${VALGRIND_LOG:-$(mktemp /tmp/ossl-valgrind.XXXXXX)}
if ! command -v valgrind >/dev/null; then
    echo "valgrind is not installed (apt-get install valgrind)" >&2
    exit 2
fi
if [ $# -eq 0 ]; then
    set -- tests/test_handshake_basic.py tests/test_hostile_callers.py \
        tests/test_lifecycle.py tests/test_error_mapping.py \
        "tests/test_fuzz_regressions.py::test_every_seed_from_real_handshakes_replays_cleanly"
fi
start=$(date +%s)
PYTHONMALLOC=malloc valgrind --tool=memcheck --leak-check=full \
    --show-leak-kinds=definite --errors-for-leak-kinds=definite \
    --num-callers=40 --suppressions=scripts/valgrind-python.supp \
    --log-file="$OUT" \
    "$PY" -m pytest -q -p no:cacheprovider -p no:faulthandler \
    -o addopts="" --timeout=0 "$@"
rc=$?
elapsed=$(( $(date +%s) - start ))
"$PY" - "$OUT" "$rc" "$elapsed" <<'PYEOF'
import re, sys
log, rc, elapsed = sys.argv[1], int(sys.argv[2]), sys.argv[3]
text = open(log, encoding="utf-8", errors="replace").read()
# valgrind prefixes each line with ==pid==; records are separated by blank ones.
body = re.sub(r"^==\d+== ?", "", text, flags=re.M)
records = [r.strip() for r in re.split(r"\n\s*\n", body) if r.strip()]
ours = re.compile(r"_ossl|libssl|libcrypto|ossl_")
kinds = {"invalid read": r"^Invalid read", "invalid write": r"^Invalid write",
         "invalid free": r"^Invalid free|^Mismatched free",
         "uninitialised": r"^Conditional jump|^Use of uninitialised|^Syscall param",
         "definite leak": r"definitely lost in"}
found = {k: [] for k in kinds}
total = {k: 0 for k in kinds}
for rec in records:
    for kind, pat in kinds.items():
        if re.search(pat, rec, re.M):
            total[kind] += 1
            if ours.search(rec):
                found[kind].append(rec)
summary = re.search(r"ERROR SUMMARY: .*", body)
leaks = re.search(r"definitely lost: .*", body)
print(f"valgrind memcheck: pytest exit {rc}, {elapsed} s, log {log}")
print("  " + (summary.group(0) if summary else "no ERROR SUMMARY (did valgrind run?)"))
print("  " + (leaks.group(0) if leaks else "definitely lost: 0 bytes (no leak summary)"))
bad = 0
for kind in kinds:
    print(f"  {kind}: {total[kind]} total, {len(found[kind])} with _ossl/libssl/libcrypto frames")
    bad += len(found[kind]) if kind != "uninitialised" else 0
for kind, recs in found.items():
    for rec in recs[:3]:
        print(f"\n--- {kind} ---\n{rec[:3000]}")
sys.exit(2 if rc not in (0,) else (1 if bad else 0))
PYEOF
