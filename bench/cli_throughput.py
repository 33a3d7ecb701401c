"""Handshakes per second of ``ossl-handshake server`` against ``openssl s_server``.

Both servers run as separate processes on loopback with the bundled ECDSA
identity and answer HTTP (``--www`` / ``-www``); the same client,
``openssl s_time -new`` (a new full handshake per connection, then a GET),
drives each in turn for the same time. The figure is connections per
wall-clock second as ``s_time`` reports it, and the ratio ours ÷ s_server
(issue 17's target: ≥ 0.9). One run alternates the servers ``--rounds`` times
so that a change in machine load hits both.

    .venv/bin/python bench/cli_throughput.py --seconds 10 --rounds 3 --workers 4
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from ossl_handshake import certs

ROOT = Path(__file__).resolve().parent.parent
_REAL = re.compile(r"(\d+) connections in (\d+) real seconds")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port} after {timeout} s")


def _ours(port: int, workers: int, tls: str) -> list[str]:
    exe = Path(sys.executable).with_name("ossl-handshake")
    return [
        str(exe),
        "server",
        "--listen",
        f"127.0.0.1:{port}",
        "--accept",
        "0",
        "--workers",
        str(workers),
        "--www",
        "--tls",
        tls,
        "--key-type",
        "ecdsa",
    ]


def _s_server(port: int, tls: str, openssl: str) -> list[str]:
    ident = certs.SERVER_ECDSA
    return [
        openssl,
        "s_server",
        "-accept",
        str(port),
        "-www",
        "-quiet",
        "-cert",
        str(ident.cert),
        "-key",
        str(ident.key),
        f"-tls{tls.replace('.', '_')}",
    ]


def _s_time(port: int, seconds: int, tls: str, openssl: str) -> float:
    out = subprocess.run(
        [
            openssl,
            "s_time",
            "-connect",
            f"127.0.0.1:{port}",
            "-new",
            "-time",
            str(seconds),
            "-www",
            "/",
            f"-tls{tls.replace('.', '_')}",
        ],
        capture_output=True,
        text=True,
        timeout=seconds * 4 + 30,
        check=False,
    ).stdout
    m = _REAL.search(out)
    if m is None:
        raise RuntimeError(f"s_time printed no rate:\n{out}")
    return int(m.group(1)) / max(int(m.group(2)), 1)


def _measure(cmd: list[str], port: int, seconds: int, tls: str, openssl: str) -> float:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port, proc)
        return _s_time(port, seconds, tls, openssl)
    finally:
        proc.kill()
        proc.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--tls", choices=("1.2", "1.3"), default="1.3")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)
    openssl = shutil.which("openssl", path=os.environ.get("PATH"))
    if openssl is None:
        print("no openssl command", file=sys.stderr)
        return 2
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(args.rounds):
        port = _free_port()
        theirs.append(
            _measure(_s_server(port, args.tls, openssl), port, args.seconds, args.tls, openssl)
        )
        port = _free_port()
        ours.append(
            _measure(_ours(port, args.workers, args.tls), port, args.seconds, args.tls, openssl)
        )
    figures = {
        "tls": args.tls,
        "workers": args.workers,
        "seconds": args.seconds,
        "s_server_per_s": theirs,
        "ossl_handshake_per_s": ours,
        "ratio_median": statistics.median(ours) / statistics.median(theirs),
    }
    print(json.dumps(figures))
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
