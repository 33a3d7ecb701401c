"""The binding's own cost per handshake on the default path, in estimated cycles (callgrind).

Issue 17's rule: judge by callgrind's estimated cycles, not by instructions.
Interpreter work is branchy and cache-hungry, so an instruction count
understates it about threefold; the estimate (KCachegrind's: Ir +
10·(Bcm+Bim) + 10·(I1mr+D1mr+D1mw) + 100·(ILmr+DLmr+DLmw), from
``--cache-sim=yes --branch-sim=yes``) is what agrees with CPU time.

What is measured: ``memory_pair(client_ctx, server_ctx)`` (a BIO pair per
connection, the path the README shows first) + ``handshake()`` + close, as a
resumed TLS 1.2 handshake: the cheapest handshake, so the binding's share is
largest. Two fresh processes (2 and 12 handshakes, run side by side) and the
difference divided by the 10 extra handshakes, so start-up, imports and the
workers' warm-up cancel. Before either, the same workload runs once without
valgrind, so the counted runs never compile ``.pyc`` files.

Why this figure and not the ratio to the C loop: the binding's share, the
estimated cycles outside libssl and libcrypto, is what the binding changes;
libssl's own cost, which would dominate a ratio, moves with the OpenSSL
version, not with our code. It includes libc: the interpreter's allocations
and copies go through it (so do libssl's own ``malloc``/``free``/``memset``,
about 0.5 M of it per handshake, a constant). The cache geometry is pinned in
``bench/run.py`` (``CALLGRIND``) instead of read from the host, whose
reported caches vary from one virtual CPU to the next, so the estimate
repeats across machines of the same image (same CPython, libc and OpenSSL);
two runs on one machine agree to about 0.1 %.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKERS = ROOT / "bench" / "workers.py"
VARIANT, CONFIG = "ossl-default", "ecdsa-1.2-resumed"

#: Estimated cycles per resumed TLS 1.2 handshake outside libssl/libcrypto on
#: the default path (OpenSSL 3.0.22, CPython 3.11, glibc; docs/performance.md).
#: With a connection's SSL made and set up in one C call (ossl_open), the
#: settle in C and our own BIO pairs it reads 0.98 M (this test, 2 -> 12
#: handshakes) and 0.96 M (the bench, 3 -> 13); before this round 1.09-1.14 M,
#: with the Python driver 1.98 M.
#: What is left is mostly building and freeing the two Connections (about
#: 0.42 M) and the C loop's own libc share (0.26 M). The budget is 0.98 M plus
#: about 22 %: room for interpreter and libc differences, not for putting work
#: back into Python. Lower it as the cost moves to C.
BINDING_CYCLE_BUDGET = 1_200_000
SHORT, LONG = 2, 12

pytestmark = [
    pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed"),
    pytest.mark.slow,
]


def _bench_run() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _workload(count: int) -> list[str]:
    return [sys.executable, str(WORKERS), VARIANT, CONFIG, "--count", str(count)]


@pytest.mark.timeout(240)
def test_default_path_resumed_tls12_spends_few_cycles_outside_openssl(tmp_path: Path) -> None:
    run = _bench_run()
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    warm = subprocess.run(_workload(1), capture_output=True, text=True, env=env, check=False)
    assert warm.returncode == 0, warm.stderr[-3000:]  # and the .pyc files are written now
    outs = {n: tmp_path / f"callgrind.{n}.out" for n in (SHORT, LONG)}
    procs = {
        n: subprocess.Popen(
            [*run.CALLGRIND, f"--callgrind-out-file={out}", *_workload(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for n, out in outs.items()
    }
    for n, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=200)
        assert proc.returncode == 0, stderr[-3000:]
        assert f'"handshakes": {n}' in stdout
    short, long = (run.callgrind_events(outs[n]) for n in (SHORT, LONG))
    per = run.per_handshake(short, long, LONG - SHORT)
    binding = sum(v["cycles"] for k, v in per.items() if not run.LIBSSL.match(k))
    crypto = sum(v["ir"] for k, v in per.items() if k.startswith(("libssl", "libcrypto")))
    # The handshakes really ran in libssl (a resumed 1.2 handshake pair: ~0.6-1 M instructions).
    assert 300_000 < crypto < 5_000_000, per
    top = sorted(((k, round(v["cycles"])) for k, v in per.items()), key=lambda kv: -kv[1])[:8]
    print(f"binding {binding:.0f} estimated cycles per handshake; {top}")
    assert binding < BINDING_CYCLE_BUDGET, top
