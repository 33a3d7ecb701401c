"""The fuzz harness in CI: seed corpus replay, regressions, and a bounded fuzz run.

``fuzz/fuzz_handshake.py`` feeds arbitrary bytes to a fresh server, to a
client after its ClientHello, and mutates real records of a live handshake.
Here every seed replays cleanly, every input that once crashed or hung
(``fuzz/regressions/``) stays fixed, and a bounded run fuzzes each mode in
parallel: with atheris (coverage-guided on the binding's Python code) when it
is installed, else the harness's deterministic mutation loop.
``OSSL_FUZZ_SECONDS`` sets the per-mode time (default 15).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from ossl_handshake import Connection, Context, Role, SSLError, certs

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "fuzz" / "fuzz_handshake.py"
CORPUS = ROOT / "fuzz" / "corpus"
REGRESSIONS = ROOT / "fuzz" / "regressions"
SECONDS = int(os.environ.get("OSSL_FUZZ_SECONDS", "15"))
HAVE_ATHERIS = importlib.util.find_spec("atheris") is not None


@pytest.fixture(scope="module")
def harness() -> ModuleType:
    os.environ["FUZZ_NO_INSTRUMENT"] = "1"  # in-process: no atheris instrumentation
    spec = importlib.util.spec_from_file_location("fuzz_handshake", HARNESS)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _inputs(path: Path) -> list[Path]:
    if not path.is_dir():
        return []
    return sorted(p for p in path.iterdir() if p.is_file() and p.suffix != ".md")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["server", "client", "records"])
def test_every_seed_from_real_handshakes_replays_cleanly(harness: ModuleType, mode: str) -> None:
    seeds = _inputs(CORPUS / mode)
    assert seeds, f"empty seed corpus for {mode}: run fuzz_handshake.py --regen-corpus"
    for p in seeds:
        harness.fuzz_one(p.read_bytes(), mode)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "path", _inputs(REGRESSIONS), ids=lambda p: p.name if isinstance(p, Path) else str(p)
)
def test_input_that_once_crashed_the_harness_stays_fixed(harness: ModuleType, path: Path) -> None:
    # File names are "<mode>-<what>"; the content is the raw input.
    mode = path.name.split("-", 1)[0]
    harness.fuzz_one(path.read_bytes(), mode)


@pytest.mark.timeout(30)
def test_server_fed_a_truncated_client_hello_reports_no_group_instead_of_crashing(
    ossl_server_context: Context,
) -> None:
    # SSL_get_negotiated_group dereferences s->session on 3.0, which a server
    # that never got past the ClientHello does not have (fixed in ebbe139).
    hello = bytes.fromhex("16030100") + b"\x40" + b"\x01\x00\x00\x3c\x03\x03" + b"\x00" * 20
    with Connection(ossl_server_context) as server:
        server.bio_write(hello)
        step = server.step()
        assert step.wants or isinstance(step.error, SSLError)
        assert server.group is None
        assert server.version is None


@pytest.mark.timeout(30)
def test_client_answered_with_garbage_fails_with_a_typed_error_every_time() -> None:
    ctx = Context(Role.CLIENT, cafile=certs.CA)
    for garbage in (
        b"\x00" * 64,
        b"\x16\x03\x03\xff\xff" + b"A" * 200,
        b"\x15\x03\x03\x00\x02\x02\x28",
    ):
        with Connection(ctx, server_name="localhost") as client:
            client.step()
            client.bio_read()
            client.bio_write(garbage)
            first = client.step()
            assert first.failed and isinstance(first.error, SSLError), first
            assert client.step() is first  # repeated calls report the same failure


def _fuzz_cmd(mode: str, corpus: Path, tmp: Path) -> list[str]:
    if HAVE_ATHERIS:
        return [
            sys.executable,
            str(HARNESS),
            "--mode",
            mode,
            str(corpus),
            f"-max_total_time={SECONDS}",
            "-timeout=20",
            "-rss_limit_mb=1024",
            f"-artifact_prefix={tmp}/{mode}-",
            "-print_final_stats=1",
        ]
    return [
        sys.executable,
        str(HARNESS),
        "--mode",
        mode,
        "--random",
        "100000000",
        "--seconds",
        str(SECONDS),
        "--seed",
        "1",
    ]


@pytest.mark.timeout(SECONDS * 3 + 60)
def test_bounded_fuzz_run_of_every_mode_finds_no_crash_or_hang(tmp_path: Path) -> None:
    procs = {}
    for mode in ("server", "client", "records"):
        corpus = tmp_path / f"corpus-{mode}"
        shutil.copytree(CORPUS / mode, corpus)  # atheris adds new inputs to its corpus
        procs[mode] = subprocess.Popen(
            _fuzz_cmd(mode, corpus, tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={
                **{k: v for k, v in os.environ.items() if k != "FUZZ_NO_INSTRUMENT"},
                "PYTHONFAULTHANDLER": "1",
            },
        )
    report = []
    for mode, proc in procs.items():
        try:
            out, _ = proc.communicate(timeout=SECONDS * 2 + 40)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            pytest.fail(f"{mode}: the fuzz run did not stop on time:\n{out[-3000:]}")
        assert proc.returncode == 0, f"{mode} found a crash:\n{out[-5000:]}"
        runs = re.findall(r"(?:Done (\d+) runs|executions=(\d+))", out)
        assert runs, out[-2000:]
        n = int(next(x for x in runs[-1] if x))
        assert n > 0
        report.append(f"{mode}: {n} executions in {SECONDS} s")
    print("; ".join(report), "(atheris)" if HAVE_ATHERIS else "(deterministic loop, no atheris)")
