"""Helpers of the beyond-the-first-handshake tests: one server connection on a thread, GnuTLS.

``OneServer(ctx, body)`` accepts one connection on 127.0.0.1, runs the
handshake and ``body(conn, seen)`` (a socket with a timeout: every wait is
bounded) and records what happened in ``seen`` (``seen["error"]`` for an
exception); ``poll_reads(conn, done)`` reads in short polls until ``done()``.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ossl_handshake import Connection, Context, certs
from tests._peers import TIMEOUT, SServer, openssl_cli, read_until

#: gnutls-cli options that trust the test CA and send SNI ``localhost``.
GNUTLS_TRUST = ("--x509cafile", str(certs.CA), "--sni-hostname", "localhost")

Body = Callable[[Connection, dict[str, Any]], None]


class OneServer:
    def __init__(self, ctx: Context, body: Body) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.seen: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._serve, args=(ctx, body), daemon=True)
        self._thread.start()

    def _serve(self, ctx: Context, body: Body) -> None:
        try:
            sock, _ = self.listener.accept()
        except OSError as exc:
            self.seen["error"] = exc
            return
        with sock, Connection(ctx, "server", sock=sock) as conn:
            try:
                conn.timeout = TIMEOUT
                conn.do_handshake()
                self.seen["ready"] = True
                body(conn, self.seen)
            except Exception as exc:  # asserted by the test
                self.seen["error"] = exc

    def wait_ready(self) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not ({"ready", "error"} & self.seen.keys()) and time.monotonic() < deadline:
            time.sleep(0.02)

    def join(self) -> dict[str, Any]:
        self._thread.join(TIMEOUT)
        self.listener.close()
        return self.seen


def poll_reads(conn: Connection, done: Callable[[], bool], keep: list[bytes] | None = None) -> None:
    """Read in 0.2 s polls until ``done()`` (bounded by TIMEOUT); data goes to ``keep``."""
    conn.timeout = 0.2
    deadline = time.monotonic() + TIMEOUT
    while not done() and time.monotonic() < deadline:
        try:
            data = conn.read()
        except TimeoutError:
            continue
        if keep is not None:
            keep.append(data)


def run_to_server(cmd: list[str], stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    """Run a client peer to its end (bounded) with ``stdin``; its output captured."""
    return subprocess.run(cmd, input=stdin, capture_output=True, timeout=TIMEOUT, check=False)


def s_client_cmd(port: int, *extra: str, trust: bool = True) -> list[str]:
    """``openssl s_client -connect 127.0.0.1:PORT`` (with ``trust``: the test CA, SNI
    ``localhost``) and ``extra``."""
    cmd = [openssl_cli(), "s_client", "-connect", f"127.0.0.1:{port}"]
    if trust:
        cmd += ["-CAfile", str(certs.CA), "-servername", "localhost"]
    return [*cmd, *extra]


def s_client(port: int, *extra: str) -> subprocess.Popen[bytes]:
    """:func:`s_client_cmd` started with piped stdin/stdout/stderr (stdin open: it stays up)."""
    return subprocess.Popen(
        s_client_cmd(port, *extra),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def s_client_types(srv: OneServer, command: bytes, *extra: str) -> tuple[dict[str, Any], str]:
    """:func:`s_client` to ``srv`` types ``command`` (its interactive ``R``, ``K``...)
    once our side finished the handshake; ``(what the server body saw, s_client's stderr)``."""
    proc = s_client(srv.port, *extra)
    srv.wait_ready()
    assert proc.stdin is not None
    proc.stdin.write(command)
    proc.stdin.flush()
    seen = srv.join()
    _, err = finish(proc)
    return seen, err


def tls_flag(version: str) -> str:
    """``1.2`` -> ``-tls1_2`` (s_client/s_server)."""
    return f"-tls{version.replace('.', '_')}"


def gnutls_only(version: str) -> tuple[str, str]:
    """gnutls-cli ``--priority`` for exactly TLS ``version``."""
    return "--priority", f"NORMAL:-VERS-ALL:+VERS-TLS{version}"


def wait_renegotiated(conn: Connection, seen: dict[str, object]) -> None:
    """A :class:`OneServer` body: read until the client renegotiated (a new client random)."""
    first = conn.client_random
    poll_reads(conn, lambda: conn.client_random != first)
    seen["renegotiated"] = conn.client_random != first


@contextlib.contextmanager
def connected(peer: SServer, ctx: Context, **kwargs: Any) -> Iterator[Connection]:
    """A client :class:`Connection` over a socket to ``peer`` (SNI ``localhost``,
    ``conn.timeout`` = TIMEOUT), closed with the socket at the end."""
    with (
        socket.create_connection(("127.0.0.1", peer.port), timeout=TIMEOUT) as sock,
        Connection(ctx, sock=sock, server_name="localhost", **kwargs) as conn,
    ):
        conn.timeout = TIMEOUT
        yield conn


def printed_by(peer: SServer, text: bytes) -> None:
    """Wait until s_server printed ``text``: it can lose data that arrives with the
    close_notify, so a test waits before shutting down."""
    peer.early += read_until(peer.proc, text)


def gnutls_cli(port: int, *args: str, stdin: bytes | None = b"ping\n") -> subprocess.Popen[bytes]:
    """``gnutls-cli -p PORT 127.0.0.1 ARGS`` with ``stdin`` written (the pipe stays open)."""
    exe = shutil.which("gnutls-cli")
    if exe is None:
        pytest.skip("gnutls-cli is not installed (apt package gnutls-bin)")
    proc = subprocess.Popen(
        [exe, "-p", str(port), "127.0.0.1", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if stdin:
        assert proc.stdin is not None
        proc.stdin.write(stdin)
        proc.stdin.flush()
    return proc


def finish(proc: subprocess.Popen[bytes]) -> tuple[str, str]:
    """Kill ``proc`` (a peer kept alive by its open stdin) and return its output."""
    proc.kill()
    out, err = proc.communicate(timeout=TIMEOUT)
    return out.decode(errors="replace"), err.decode(errors="replace")
