"""Handshakes per second of ``ossl-handshake server`` against ``openssl s_server``.

Both servers run as separate processes on loopback with the bundled ECDSA
identity and answer HTTP (``--www`` / ``-www``); the same client,
``openssl s_time -new`` (a new full handshake per connection, then a GET),
drives each in turn for the same time. The figure is connections per
wall-clock second as ``s_time`` reports it, and the ratio ours ÷ s_server
(issue 17's target: ≥ 0.9).

One run measures every ``--tls`` version ``--rounds`` times, the two servers
back to back in each round and in alternating order (ABBA), so that a change
in machine load hits both; the reported ratio is the median of the per-round
ratios. Beside the rate it reports each server's CPU time per connection
(user + system, from ``/proc/PID/stat``), which a busy machine disturbs far
less than the rate, and the load average before and after. ``--baseline
SRC`` adds a third server in the same rounds: the package under another
``src/`` directory (e.g. ``git archive main src``, with this tree's compiled
``_ossl`` copied in and ``certs/`` beside it), to compare two versions of the
server under the same load.

    .venv/bin/python bench/cli_throughput.py --seconds 5 --rounds 3 --workers 4
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
from collections.abc import Callable
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
    """This tree's server, as the installed ``ossl-handshake`` command runs it."""
    return [
        sys.executable,
        "-m",
        "ossl_handshake",
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


def _s_time(port: int, seconds: int, openssl: str) -> tuple[int, float]:
    """(connections made, wall-clock seconds): s_time's own "real seconds" are whole
    seconds of ``time()``, up to a second off, so the run is timed here. Both
    servers pin the version, so the client takes no version flag (1.1.1's
    s_time has none)."""
    started = time.monotonic()
    client = [openssl, "s_time", "-connect", f"127.0.0.1:{port}", "-new", "-www", "/"]
    proc = subprocess.run(
        [*client, "-time", str(seconds)],
        capture_output=True,
        text=True,
        timeout=seconds * 4 + 30,
        check=False,
    )
    m = _REAL.search(proc.stdout)
    if m is None:
        raise RuntimeError(f"s_time printed no rate:\n{proc.stdout}{proc.stderr}")
    return int(m.group(1)), time.monotonic() - started


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` so far (Linux ``/proc``), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(
    cmd: list[str], env: dict[str, str] | None, port: int, seconds: int, openssl: str
) -> tuple[float, float | None]:
    """(connections per second, server CPU milliseconds per connection)."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port, proc)
        _s_time(port, 1, openssl)  # warm-up: first-use imports and allocations
        before = _cpu_seconds(proc.pid)
        count, wall = _s_time(port, seconds, openssl)
        time.sleep(0.2)  # the last connection's close and JSON line
        after = _cpu_seconds(proc.pid)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    rate = count / wall
    if before is None or after is None or count == 0:
        return rate, None
    return rate, 1000 * (after - before) / count


#: A server to measure: name → (port → command line, environment or None).
Servers = dict[str, tuple[Callable[[int], list[str]], dict[str, str] | None]]
Round = dict[str, tuple[float, float | None]]


def _servers(tls: str, workers: int, openssl: str, baseline: Path | None) -> Servers:
    servers: Servers = {
        "s_server": (lambda port: _s_server(port, tls, openssl), None),
        "ossl_handshake": (lambda port: _ours(port, workers, tls), None),
    }
    if baseline is not None:
        # Another source tree of the package (e.g. `git archive` of main) with
        # this tree's compiled extension: the same command from that tree's code.
        env = {**os.environ, "PYTHONPATH": str(baseline)}
        servers["baseline"] = (lambda port: _ours(port, workers, tls), env)
    return servers


def _round(servers: Servers, seconds: int, openssl: str, reverse: bool) -> Round:
    names = list(servers)[::-1] if reverse else list(servers)
    got: Round = {}
    for name in names:
        port = _free_port()
        cmd, env = servers[name]
        got[name] = _measure(cmd(port), env, port, seconds, openssl)
    return got


def _summary(rounds: list[Round]) -> dict[str, object]:
    out: dict[str, object] = {}
    for name in rounds[0]:
        out[f"{name}_per_s"] = [round(r[name][0], 1) for r in rounds]
        cpu = [c for r in rounds if (c := r[name][1]) is not None]
        out[f"{name}_cpu_ms_per_conn"] = round(statistics.median(cpu), 3) if cpu else None
    for name in rounds[0]:
        if name == "s_server":
            continue
        ratios = [r[name][0] / r["s_server"][0] for r in rounds]
        out[f"{name}_ratio_per_round"] = [round(x, 3) for x in ratios]
        out[f"{name}_ratio_median"] = round(statistics.median(ratios), 3)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument(
        "--tls",
        choices=("1.2", "1.3"),
        action="append",
        help="a TLS version to measure (repeatable; default both)",
    )
    ap.add_argument(
        "--baseline",
        type=Path,
        metavar="SRC",
        help="also measure the ossl_handshake package under SRC (a src/ directory)",
    )
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)
    versions: list[str] = args.tls or ["1.3", "1.2"]
    openssl = shutil.which("openssl", path=os.environ.get("PATH"))
    if openssl is None:
        print("no openssl command", file=sys.stderr)
        return 2
    load_before = os.getloadavg()
    rounds: dict[str, list[Round]] = {v: [] for v in versions}
    for i in range(args.rounds):
        for j, tls in enumerate(versions):
            servers = _servers(tls, args.workers, openssl, args.baseline)
            rounds[tls].append(_round(servers, args.seconds, openssl, (i + j) % 2 == 1))
    figures = {
        "workers": args.workers,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "openssl": subprocess.run(
            [openssl, "version"], capture_output=True, text=True, check=False
        ).stdout.strip(),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "baseline": str(args.baseline) if args.baseline else None,
        "tls": {tls: _summary(r) for tls, r in rounds.items()},
    }
    print(json.dumps(figures))
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
