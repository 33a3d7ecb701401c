"""Socket helpers of the pause tests: our side in this process, the peer in another.

``serve_one`` listens on loopback, starts a client process (the C client of
``tests/c`` or ``openssl s_client``) pointed at it, and hands the accepted
socket to a server :class:`Connection`; ``connect_to`` is the client side
against a process server. Every wait is bounded (``TIMEOUT``).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from ossl_handshake import Connection, Context, Role, SSLError, certs
from tests._peers import TIMEOUT

Finish = Callable[[], tuple[int, str, str]]
#: tls_client options: send ``ping``, expect ``pong`` back (then it prints ``OK <version>``).
PING_PONG = ("--send", "ping", "--expect", "pong")


def answer_ping(conn: Connection) -> None:
    """Our side of :data:`PING_PONG`: read ``ping``, write ``pong``."""
    assert conn.read(4) == b"ping"
    conn.write(b"pong")


def c_client(exe: Path) -> list[str]:
    """The C client of ``tests/c`` trusting the test CA, sending SNI ``localhost``."""
    return [str(exe), "--cafile", str(certs.CA), "--servername", "localhost"]


def _finisher(proc: subprocess.Popen[bytes]) -> Finish:
    def finish() -> tuple[int, str, str]:
        try:
            out, err = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate(timeout=TIMEOUT)
        return int(proc.returncode), out.decode(errors="replace"), err.decode(errors="replace")

    return finish


def _close(conn: Connection) -> None:
    with contextlib.suppress(SSLError, OSError, TimeoutError):
        if conn.is_init_finished:
            conn.shutdown()
    conn.close()


class Peer:
    """Our connection and, once the ``with`` block ended, the process's outcome."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.result: tuple[int, str, str] = (-1, "", "")


@contextlib.contextmanager
def serve_one(ctx: Context, client_cmd: list[str], extra: tuple[str, ...] = ()) -> Iterator[Peer]:
    """Accept one connection from ``client_cmd + --connect 127.0.0.1:PORT + extra``.

    On leaving the block our connection is shut down and closed and the
    process is waited for (bounded): ``peer.result`` is its
    ``(returncode, stdout, stderr)``.
    """
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)
        port = listener.getsockname()[1]
        proc = subprocess.Popen(
            [*client_cmd, "--connect", f"127.0.0.1:{port}", *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        finish = _finisher(proc)
        try:
            sock, _ = listener.accept()
        except BaseException:
            proc.kill()
            finish()
            raise
    with sock:
        sock.settimeout(TIMEOUT)
        peer = Peer(Connection(ctx, Role.SERVER, sock=sock))
        try:
            yield peer
        finally:
            _close(peer.conn)
            peer.result = finish()


@contextlib.contextmanager
def connect_to(ctx: Context, port: int, server_name: str = "localhost") -> Iterator[Connection]:
    """A client :class:`Connection` on a loopback socket to ``port`` (timeout ``TIMEOUT``)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    with sock:
        conn = Connection(ctx, Role.CLIENT, sock=sock, server_name=server_name)
        try:
            yield conn
        finally:
            _close(conn)
