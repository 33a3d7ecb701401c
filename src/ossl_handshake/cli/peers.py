"""``ossl-handshake server`` and ``ossl-handshake client``: TLS peers on real sockets.

Both take the shared configuration flags (:mod:`ossl_handshake.cli.config`),
run each handshake through :class:`~ossl_handshake.connection.Connection` on a
socket with a timeout (non-blocking underneath, waiting with poll), and print
one JSON line per finished connection (schema in ``docs/cli-json.md``). The
exit status is the highest code of any connection (see :mod:`ossl_handshake.cli.main`).

The server prints ``{"event": "ready", ...}`` with the bound port once it
listens (and writes ``<port>\\n`` to ``--ready-file``), so a harness can start
it on ``127.0.0.1:0`` and learn the port.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ossl_handshake.cli.config import _split, add_config_args, build_context, set_server_alpn
from ossl_handshake.cli.main import (
    EXIT_IO,
    EXIT_OK,
    EXIT_TLS,
    EXIT_USAGE,
    EXIT_VERIFY,
    command,
)
from ossl_handshake.core.connection import Connection, Step
from ossl_handshake.core.context import Context
from ossl_handshake.core.errors import (
    CertificateVerifyError,
    ProtocolError,
    SSLError,
    ZeroReturnError,
)
from ossl_handshake.core.session import Session
from ossl_handshake.observe.trace import Trace
from ossl_handshake.tls.roles import Role

#: Version of the JSON result lines; bumped only on incompatible changes.
SCHEMA_VERSION = 1

Emit = Callable[[dict[str, Any]], None]


def _emit_stdout(obj: dict[str, Any]) -> None:
    print(json.dumps(obj, sort_keys=True), flush=True)


def parse_hostport(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) into ``(host, port)``; raises ValueError."""
    host, sep, port_s = value.rpartition(":")
    if not sep or not host or not port_s.isdigit():
        raise ValueError(f"expected HOST:PORT, not {value!r}")
    port = int(port_s)
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range in {value!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


@dataclass
class Outcome:
    """What happened on one connection; becomes one JSON line."""

    side: Role
    index: int
    peer: str | None = None
    conn: Connection | None = None
    steps: list[Step] = field(default_factory=list)
    trace: Trace | None = None
    error: BaseException | None = None
    phase: str | None = None
    sent: int = 0
    received: str | None = None
    mismatch: bool = False
    handshake_done: bool = False

    @property
    def exit_code(self) -> int:
        """The documented exit code for this connection."""
        if self.error is None:
            return EXIT_TLS if self.mismatch else EXIT_OK
        if isinstance(self.error, CertificateVerifyError):
            return EXIT_VERIFY
        if isinstance(self.error, SSLError):
            return EXIT_TLS
        return EXIT_IO

    @property
    def outcome(self) -> str:
        code = self.exit_code
        if code == EXIT_OK:
            return "ok"
        if self.mismatch and self.error is None:
            return "expect_mismatch"
        if code == EXIT_VERIFY:
            return "verify_error"
        if code == EXIT_TLS:
            return "tls_error"
        return "timeout" if isinstance(self.error, TimeoutError) else "io_error"

    def to_json(self, trace: bool) -> dict[str, Any]:
        """The schema-1 result line (``docs/cli-json.md``)."""
        c = self.conn if self.conn is not None and not self.conn.closed else None
        err = self.error
        d: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "event": "handshake",
            "side": self.side.value,
            "index": self.index,
            "peer": self.peer,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "finished": self.handshake_done,
            "version": c.version if c is not None else None,
            "cipher": c.cipher if c is not None else None,
            "group": c.group if c is not None else None,
            "alpn": c.alpn_protocol if c is not None else None,
            "sni": c.server_name if c is not None else None,
            "session_reused": bool(c is not None and c.session_reused),
            "verify_result": c.verify_result if c is not None else None,
            "verify_message": c.verify_message if c is not None else None,
            "peer_subject": c.peer_subject if c is not None else None,
            "alert_sent": c.alert_sent if c is not None else None,
            "alert_received": c.alert_received if c is not None else None,
            "steps": len(self.steps),
            "data": {"sent": self.sent, "received": self.received},
            "error": None,
        }
        if err is not None:
            d["error"] = {
                "class": type(err).__name__,
                "message": str(err),
                "phase": self.phase,
                "reasons": err.reasons if isinstance(err, SSLError) else [],
                "error_code": err.error_code.name if isinstance(err, SSLError) else None,
            }
            d["error"]["ssl_error"] = d["error"]["error_code"]  # schema 1 name, kept
            if isinstance(err, CertificateVerifyError):
                d["verify_result"] = err.verify_result or d["verify_result"]
                d["verify_message"] = err.verify_message or d["verify_message"]
        elif self.mismatch:
            d["error"] = {
                "class": "ExpectMismatch",
                "message": f"expected data not received (got {self.received!r})",
                "phase": "data",
                "reasons": [],
                "error_code": None,
                "ssl_error": None,
            }
        if trace and self.trace is not None:
            d["trace"] = self.trace.to_dict()["events"]
        return d


def _handshake(conn: Connection, out: Outcome) -> None:
    """``Connection.do_handshake`` (poll between steps on a socket timeout), recording steps."""

    def record(step: Step, before: str) -> None:
        out.steps.append(step)
        if out.trace is not None:
            out.trace.record_step(conn, step, before)

    conn.do_handshake(on_step=record)


def _read_exactly(conn: Connection, n: int) -> bytes:
    """``SSL_read_ex`` until ``n`` bytes arrived or the peer closed."""
    buf = b""
    while len(buf) < n:
        try:
            chunk = conn.read(n - len(buf))
        except ZeroReturnError:
            break
        buf += chunk
    return buf


def _drain_close(conn: Connection, grace: float) -> None:
    """Send close_notify (``SSL_shutdown``) and read until the peer's close_notify or EOF.

    Reading to the end processes TLS 1.3 tickets and post-handshake alerts
    (a server rejecting our certificate after our handshake finished). A
    received fatal alert is re-raised; EOF, reset and timeout are not errors
    here. Records already received are processed first (``SSL_peek_ex``): a
    peer that sent a fatal alert and closed may answer our close_notify with
    a reset, and the alert must not be lost behind that.
    """
    saved = conn.timeout
    conn.timeout = grace
    try:
        try:
            conn.process_pending()
            with contextlib.suppress(SSLError, OSError):
                conn.shutdown()
            while True:
                conn.read(16384)
        except ZeroReturnError:
            return
        except ProtocolError as exc:
            if exc.alert_received and exc.alert_received != "close_notify":
                raise
        except (SSLError, OSError):
            return
    finally:
        conn.timeout = saved


def run_connection(
    ctx: Context,
    sock: socket.socket,
    out: Outcome,
    args: argparse.Namespace,
    *,
    server_name: str | None = None,
    session: Session | None = None,
) -> Session | None:
    """Handshake, ``--send``/``--expect``, close; fills ``out``. Returns the client's session."""
    sock.settimeout(args.timeout)
    conn = Connection(ctx, out.side, sock=sock, server_name=server_name, session=session)
    out.conn = conn
    if args.trace:
        out.trace = Trace(keep_data=False)
        out.trace.attach(conn)
    send = args.send.encode() if args.send is not None else None
    expect = args.expect.encode() if args.expect is not None else None
    try:
        out.phase = "handshake"
        _handshake(conn, out)
        out.handshake_done = True
        out.phase = "data"
        # Client talks first, server answers: a --send/--expect pair on each side echoes.
        order = ("send", "expect") if out.side is Role.CLIENT else ("expect", "send")
        for what in order:
            if what == "send" and send is not None:
                out.sent = conn.write(send)
            elif what == "expect" and expect is not None:
                got = _read_exactly(conn, len(expect))
                out.received = got.decode("utf-8", "replace")
                out.mismatch = got != expect
        out.phase = "shutdown"
        _drain_close(conn, min(args.timeout, 2.0))
        out.phase = None
    except (SSLError, OSError) as exc:
        out.error = exc
    if out.error is None and out.side is Role.CLIENT:
        return conn.session
    return None


def _finish(out: Outcome, args: argparse.Namespace, emit: Emit) -> None:
    emit(out.to_json(args.trace))
    if out.conn is not None:
        out.conn.close()


def _contexts(args: argparse.Namespace, role: Role) -> Context:
    ctx = build_context(args, role)
    alpn = _split(args.alpn)
    if role is Role.SERVER and alpn:
        set_server_alpn(ctx, alpn)
    return ctx


def _usage(name: str, exc: BaseException) -> int:
    print(f"ossl-handshake {name}: {exc}", file=sys.stderr)
    return EXIT_USAGE


def _write_ready_file(path: str, port: int) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    Path(tmp).write_text(f"{port}\n", encoding="ascii")
    os.replace(tmp, path)


def run_server(args: argparse.Namespace, emit: Emit = _emit_stdout) -> int:
    """Listen, accept ``--accept`` connections one after the other, one JSON line each."""
    try:
        host, port = parse_hostport(args.listen)
        ctx = _contexts(args, Role.SERVER)
    except (OSError, ValueError, TypeError) as exc:
        return _usage("server", exc)
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        lsock = socket.socket(family, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((host, port))
        lsock.listen(16)
    except OSError as exc:
        print(f"ossl-handshake server: cannot listen on {args.listen}: {exc}", file=sys.stderr)
        return EXIT_IO
    code = EXIT_OK
    with lsock:
        bound = lsock.getsockname()[1]
        if args.ready_file:
            _write_ready_file(args.ready_file, bound)
        emit({"schema": SCHEMA_VERSION, "event": "ready", "host": host, "port": bound})
        # --accept 0 serves until killed, so waiting for the next client is unbounded.
        lsock.settimeout(args.timeout if args.accept else None)
        i = 0
        while args.accept == 0 or i < args.accept:
            out = Outcome(Role.SERVER, i)
            try:
                sock, addr = lsock.accept()
            except OSError as exc:  # includes TimeoutError
                out.error = exc
                out.phase = "accept"
                emit(out.to_json(args.trace))
                return max(code, out.exit_code)
            out.peer = f"{addr[0]}:{addr[1]}"
            with sock:
                run_connection(ctx, sock, out, args)
                _finish(out, args, emit)
            code = max(code, out.exit_code)
            i += 1
    return code


def run_client(args: argparse.Namespace, emit: Emit = _emit_stdout) -> int:
    """Connect ``1 + --resume`` times, offering the first session on the later ones."""
    try:
        host, port = parse_hostport(args.connect)
        ctx = _contexts(args, Role.CLIENT)
    except (OSError, ValueError, TypeError) as exc:
        return _usage("client", exc)
    server_name = args.sni or "localhost"
    code = EXIT_OK
    session: Session | None = None
    for i in range(1 + args.resume):
        out = Outcome(Role.CLIENT, i, peer=f"{host}:{port}")
        try:
            sock = socket.create_connection((host, port), timeout=args.timeout)
        except OSError as exc:
            out.error = exc
            out.phase = "connect"
            emit(out.to_json(args.trace))
            return max(code, out.exit_code)
        with sock:
            got = run_connection(
                ctx, sock, out, args, server_name=server_name, session=session if i else None
            )
            if i == 0:
                session = got
            _finish(out, args, emit)
        code = max(code, out.exit_code)
        if out.error is not None:
            break
    return code


def _positive(value: str) -> float:
    v = float(value)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, not {value}")
    return v


def _count(value: str) -> int:
    v = int(value)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return v


def _common(p: argparse.ArgumentParser) -> None:
    add_config_args(p)
    g = p.add_argument_group("peer")
    g.add_argument("--timeout", type=_positive, default=10.0, metavar="S",
                   help="per-operation timeout in seconds (default 10)")  # fmt: skip
    g.add_argument("--send", metavar="TEXT", help="write TEXT after the handshake")
    g.add_argument("--expect", metavar="TEXT", help="read len(TEXT) bytes and compare")
    g.add_argument("--trace", action="store_true", help="add steps and protocol messages")


@command("server", "TLS server on a socket: one JSON line per handshake")
def _configure_server(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", required=True, metavar="HOST:PORT",
                   help="address to bind; port 0 picks a free one (ready line)")  # fmt: skip
    p.add_argument("--accept", type=_count, default=1, metavar="N",
                   help="connections to serve, one after the other (0: until killed)")  # fmt: skip
    p.add_argument("--ready-file", metavar="PATH", help="write the bound port here when ready")
    _common(p)
    p.set_defaults(func=run_server)


@command("client", "TLS client on a socket: one JSON line per handshake")
def _configure_client(p: argparse.ArgumentParser) -> None:
    p.add_argument("--connect", required=True, metavar="HOST:PORT", help="server address")
    p.add_argument("--resume", type=_count, default=0, metavar="N",
                   help="N extra connections offering the first connection's session")  # fmt: skip
    _common(p)
    p.set_defaults(func=run_client)


__all__ = ["SCHEMA_VERSION", "Outcome", "parse_hostport", "run_client", "run_server"]
