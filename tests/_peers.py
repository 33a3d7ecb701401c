"""Helpers for tests that run peers as processes: the ``ossl-handshake`` CLI and ``openssl``.

Every wait is bounded (``TIMEOUT``); processes still running at the end are killed.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ossl_handshake import certs

TIMEOUT = 20.0
ACCEPT_LINE = re.compile(rb"ACCEPT 127\.0\.0\.1:(\d+)\r?\n")


def cli(*args: str) -> list[str]:
    """The command line of ``ossl-handshake ARGS`` with this interpreter."""
    return [sys.executable, "-m", "ossl_handshake", *args]


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects printed one per line (other lines are ignored)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def handshakes(text: str) -> list[dict[str, Any]]:
    return [d for d in json_lines(text) if d.get("event") == "handshake"]


def read_until(
    proc: subprocess.Popen[bytes], needle: bytes | re.Pattern[bytes], timeout: float = TIMEOUT
) -> bytes:
    """Read ``proc``'s stdout until ``needle`` shows up, EOF, or ``timeout``."""
    assert proc.stdout is not None
    seen = b""
    deadline = time.monotonic() + TIMEOUT
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while not (needle.search(seen) if isinstance(needle, re.Pattern) else needle in seen):
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                break
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
    return seen


class Proc:
    """A peer process whose stdout we read; ``finish()`` waits (bounded) and kills if needed."""

    proc: subprocess.Popen[bytes]
    early: bytes = b""

    def finish(self, timeout: float = TIMEOUT) -> tuple[int, str, str]:
        """``(returncode, stdout, stderr)``; stdout includes what was read before."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate(timeout=TIMEOUT)
        text = (self.early + out).decode(errors="replace")
        return int(self.proc.returncode), text, err.decode(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=TIMEOUT)


class CliServer(Proc):
    """``ossl-handshake server --listen 127.0.0.1:0 ARGS``, started and ready."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            cli("server", "--listen", "127.0.0.1:0", *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.early = read_until(self.proc, b"\n")
        lines = json_lines(self.early.decode(errors="replace"))
        if not lines or lines[0].get("event") != "ready":
            self.kill()
            pytest.fail(f"ossl-handshake server did not print its ready line: {self.early!r}")
        self.ready = lines[0]
        self.port = int(lines[0]["port"])


class SServer(Proc):
    """``openssl s_server`` on 127.0.0.1, an ephemeral port, one connection."""

    def __init__(self, openssl: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [openssl, "s_server", "-accept", "127.0.0.1:0", "-naccept", "1", *args],
            stdin=subprocess.PIPE,  # kept open: s_server stops on stdin EOF
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        banner = read_until(self.proc, ACCEPT_LINE)
        match = ACCEPT_LINE.search(banner)
        if match is None:
            self.kill()
            pytest.fail(f"s_server did not start: {banner!r}")
        self.port = int(match.group(1))
        self.early = banner[match.end() :]


class EchoServer:
    """A running tests/c/echo_server; ``port`` once its ready file appeared.

    With ``keylog`` (a path) the server appends its secrets there
    (``SSLKEYLOGFILE``).
    """

    def __init__(
        self,
        exe: Path,
        workdir: Path,
        *args: str,
        keylog: Path | None = None,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        ready = workdir / "echo.port"
        self.keylog = keylog
        self.proc = subprocess.Popen(
            [str(exe), "--port", "0", "--ready-file", str(ready), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=None if keylog is None else {**os.environ, "SSLKEYLOGFILE": str(keylog)},
        )
        deadline = time.monotonic() + TIMEOUT
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                _, err = self.output()
                pytest.fail(f"echo_server did not start (exit {self.proc.returncode}):\n{err}")
            time.sleep(0.01)
        self.port = int(ready.read_text())

    @property
    def address(self) -> tuple[int, Path]:
        """``(port, key log path)`` of a server started with ``keylog``."""
        assert self.keylog is not None, "started without keylog="
        return self.port, self.keylog

    def output(self, timeout: float = TIMEOUT) -> tuple[str, str]:
        """Wait for the exit (bounded, then killed); ``(stdout, stderr)`` as printed."""
        try:
            return self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.communicate(timeout=TIMEOUT)

    def finish(self) -> tuple[int, str, str]:
        """``(exit status, result lines without the READY line, stderr)``."""
        out, err = self.output()
        lines = [ln for ln in out.splitlines() if not ln.startswith("READY ")]
        return self.proc.returncode, "\n".join(lines), err

    def kill(self) -> None:
        """Stop it if it still runs (fixture teardown)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=TIMEOUT)


def run(cmd: list[str], stdin: bytes = b"") -> tuple[int, str, str]:
    """Run to completion (bounded); ``(returncode, stdout, stderr)``."""
    p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=TIMEOUT, check=False)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def tshark_fields(capture: Path, display_filter: str, *fields: str) -> str:
    """``tshark -n -r CAPTURE -Y FILTER -T fields -e FIELD...``: what it printed (it must
    succeed). Callers skip first when ``shutil.which("tshark")`` is None."""
    exe = shutil.which("tshark")
    assert exe is not None
    cmd = [exe, "-n", "-r", str(capture), "-Y", display_filter, "-T", "fields"]
    cmd += [arg for f in fields for arg in ("-e", f)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout


def openssl_cli() -> str:
    path = shutil.which(os.environ.get("OPENSSL", "openssl"))
    if path is None:
        pytest.skip("no openssl command line tool ($OPENSSL or openssl on PATH)")
    return path


def s_server_identity(ident: certs.Identity) -> list[str]:
    """``-cert/-key`` plus ``-cert_chain``: s_server's ``-cert`` sends only the leaf."""
    return [
        "-cert",
        str(ident.cert),
        "-key",
        str(ident.key),
        "-cert_chain",
        str(certs.INTERMEDIATE),
    ]
