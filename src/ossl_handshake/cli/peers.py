"""``ossl-handshake server`` and ``ossl-handshake client``: TLS peers on real sockets.

Both take the shared configuration flags (:mod:`ossl_handshake.cli.config`),
run each handshake through :class:`~ossl_handshake.connection.Connection` on a
socket with a timeout (non-blocking underneath, waiting with poll), and print
one JSON line per finished connection (schema in ``docs/cli-json.md``). The
exit status is the highest code of any connection (see :mod:`ossl_handshake.cli.main`).

The server prints ``{"event": "ready", ...}`` with the bound port once it
listens (and writes ``<port>\\n`` to ``--ready-file``), so a harness can start
it on ``127.0.0.1:0`` and learn the port. It serves up to ``--workers``
connections at once from a fixed pool of threads (:mod:`ossl_handshake.cli.pool`:
each worker accepts a client and serves it), and cuts any connection that
outlives ``--deadline``, so one stalled client cannot hold up the others.

What the server does after the handshake, like ``openssl s_server``: it
never writes first unless told to (``--send-first``): ``--www`` reads a
request and answers with a small HTTP/1.0 page, ``--echo`` writes back what
it reads, ``--send`` answers the first read. A connection that ends with a
fatal alert (sent or received) is half-closed (``shutdown(SHUT_WR)``) and
drained briefly before the socket is closed, so the alert reaches the peer
instead of being lost behind a reset.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import select
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ossl_handshake.cli.args import add_capture_args, at_least, seconds, write_ready_file
from ossl_handshake.cli.config import (
    add_config_args,
    build_context,
    configure_peer,
    parse_escapes,
)
from ossl_handshake.cli.main import (
    EXIT_IO,
    EXIT_OK,
    EXIT_TLS,
    EXIT_USAGE,
    EXIT_VERIFY,
    command,
)
from ossl_handshake.cli.pool import AcceptPool
from ossl_handshake.core.connection import Connection, Step
from ossl_handshake.core.context import Context
from ossl_handshake.core.errors import (
    CertificateVerifyError,
    ProtocolError,
    SSLError,
    SyscallError,
    UnexpectedEOFError,
    ZeroReturnError,
)
from ossl_handshake.core.inputs import check_address
from ossl_handshake.core.keylog import AppendLines
from ossl_handshake.core.session import Session
from ossl_handshake.observe.trace import Trace
from ossl_handshake.tls.names import ALERT_CODES
from ossl_handshake.tls.roles import Role

#: Version of the JSON result lines; bumped only on incompatible changes.
SCHEMA_VERSION = 1

#: The alerts OpenSSL sends and accepts at warning level; every other one is fatal.
WARNING_ALERTS = frozenset({"close_notify", "user_canceled", "no_renegotiation"})

#: How long a closing side waits for the peer's FIN after its own (half-close drain).
DRAIN_SECONDS = 1.0

Emit = Callable[[dict[str, Any]], None]


def _emit_stdout(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")  # one write(2) per line
    sys.stdout.flush()


_current = threading.local()


def keylog_dispatch(path: str | None) -> Callable[[str], None]:
    """A key log target: each line to ``path`` (appended) and to this thread's trace.

    libssl calls the context's key log callback on the connection's own
    thread, inside its handshake, so the thread's current trace is that
    connection's: its pcapng embeds the secrets and its ladder names the
    peer's encrypted TLS 1.3 messages.
    """
    to_file = AppendLines(path) if path else None

    def line(text: str) -> None:
        if to_file is not None:
            to_file(text)
        trace: Trace | None = getattr(_current, "trace", None)
        if trace is not None:
            trace.keylog_line(text)

    return line


def capture_path(template: str, index: int) -> Path:
    """``--pcapng FILE`` for connection ``index``: FILE itself for 0, ``stem-N.suffix`` after."""
    p = Path(template)
    return p if index == 0 else p.with_name(f"{p.stem}-{index}{p.suffix}")


def parse_hostport(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) into ``(host, port)``; raises ValueError."""
    try:
        return check_address(value, "address")
    except TypeError as exc:
        raise ValueError(str(exc)) from None


class DeadlineExceeded(TimeoutError):
    """The connection outlived ``--deadline``: its socket was shut down under it."""


class FatalAlert(Exception):
    """A fatal alert sent or received that no exception reported (e.g. while closing)."""


def is_fatal(alert: str | None) -> bool:
    """True for an alert name OpenSSL treats as fatal (None and warnings are not)."""
    return alert is not None and alert not in WARNING_ALERTS


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
    expect_alert: str | None = None
    alert_sent: str | None = None
    alert_received: str | None = None

    @property
    def expected_failure(self) -> bool:
        """The connection failed with the ``--expect-alert`` alert (sent or received)."""
        want = self.expect_alert
        return (
            want is not None
            and self.error is not None
            and want in (self.alert_sent, self.alert_received)
        )

    @property
    def exit_code(self) -> int:
        """The documented exit code for this connection."""
        if self.expect_alert is not None:
            return EXIT_OK if self.expected_failure else EXIT_TLS
        if self.error is None:
            return EXIT_TLS if self.mismatch else EXIT_OK
        if isinstance(self.error, CertificateVerifyError):
            return EXIT_VERIFY
        if isinstance(self.error, (SSLError, FatalAlert)):
            return EXIT_TLS
        return EXIT_IO

    @property
    def outcome(self) -> str:
        if self.expect_alert is not None:
            return "expected_failure" if self.expected_failure else "expect_mismatch"
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

    def note_alerts(self) -> None:
        """Take the connection's last alerts; a fatal one with no error yet fails this phase."""
        c = self.conn
        if c is None or c.closed:
            return
        self.alert_sent, self.alert_received = c.alert_sent, c.alert_received
        if self.error is None:
            for verb, alert in (("sent", self.alert_sent), ("received", self.alert_received)):
                if is_fatal(alert):
                    self.error = FatalAlert(f"{self.side.value} {verb} fatal alert {alert}")
                    return

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
            "alert_sent": c.alert_sent if c is not None else self.alert_sent,
            "alert_received": c.alert_received if c is not None else self.alert_received,
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


class _Reader:
    """``SSL_read_ex`` with the peer's close_notify remembered (no write after it)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.peer_closed = False
        #: The peer's FIN or a reset was read under TLS: nothing more can arrive.
        self.peer_gone = False

    def read(self, n: int = 16384) -> bytes:
        """One read (at most one record's data); b"" once the peer sent close_notify."""
        if self.peer_closed:
            return b""
        try:
            return self.conn.read(n)
        except ZeroReturnError:
            self.peer_closed = True
            return b""

    def exactly(self, n: int) -> bytes:
        """Read until ``n`` bytes arrived or the peer closed."""
        buf = b""
        while len(buf) < n:
            chunk = self.read(n - len(buf))
            if not chunk:
                break
            buf += chunk
        return buf


def _request_done(buf: bytes) -> bool:
    """``--www``: a request ends at a blank line; a first record without any line
    break is taken whole (not HTTP, but a request all the same)."""
    return b"\r\n\r\n" in buf or b"\n\n" in buf or b"\n" not in buf


def _www_page(conn: Connection) -> bytes:
    body = (
        "ossl-handshake server\r\n"
        f"version: {conn.version}\r\ncipher: {conn.cipher}\r\n"
        f"group: {conn.group}\r\nalpn: {conn.alpn_protocol}\r\nsni: {conn.server_name}\r\n"
        f"session_reused: {conn.session_reused}\r\n"
    ).encode()
    head = (
        "HTTP/1.0 200 ok\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    return head + body


def _serve_data(conn: Connection, out: Outcome, args: argparse.Namespace) -> _Reader:
    """The server's side of the data phase: it never writes before reading,
    unless ``--send-first``, and never after the peer's close_notify."""
    r = _Reader(conn)
    send, expect = args.send_bytes, args.expect_bytes
    if args.www:
        buf = r.read()
        while buf and not _request_done(buf):
            chunk = r.read()
            if not chunk:
                break
            buf += chunk
        out.received = buf.decode("utf-8", "replace")
        if buf and not r.peer_closed:
            out.sent = conn.write(_www_page(conn))
        return r
    if args.echo:
        got = b""
        while chunk := r.read():
            got += chunk
            out.sent += conn.write(chunk)
        out.received = got.decode("utf-8", "replace")
        return r
    if send is not None and args.send_first:
        out.sent = conn.write(send)
    if expect is not None:
        got = r.exactly(len(expect))
        out.received = got.decode("utf-8", "replace")
        out.mismatch = got != expect
    elif send is not None and not args.send_first:
        got = r.read()  # reply to the first read, whatever it holds
        out.received = got.decode("utf-8", "replace")
    if send is not None and not args.send_first and not r.peer_closed:
        out.sent = conn.write(send)
    return r


def _client_data(conn: Connection, out: Outcome, args: argparse.Namespace) -> _Reader:
    """The client talks first: ``--send``, then ``--expect``."""
    r = _Reader(conn)
    if args.send_bytes is not None:
        out.sent = conn.write(args.send_bytes)
    if args.expect_bytes is not None:
        got = r.exactly(len(args.expect_bytes))
        out.received = got.decode("utf-8", "replace")
        out.mismatch = got != args.expect_bytes
    return r


def _close_tls(conn: Connection, reader: _Reader, grace: float) -> None:
    """Send close_notify (``SSL_shutdown``) and read until the peer's close_notify or EOF.

    Reading to the end processes TLS 1.3 tickets and post-handshake alerts
    (a server rejecting our certificate after our handshake finished).
    Records already received are processed first (``SSL_peek_ex``): a peer
    that sent a fatal alert and closed may answer our close_notify with a
    reset, and the alert must not be lost behind that. A fatal alert or a
    record that fails (bad MAC, unexpected message) is raised; EOF, reset
    and timeout are not errors here (the peer may just leave).
    """
    saved = conn.timeout
    conn.timeout = grace
    try:
        conn.process_pending()
        if reader.peer_closed:
            with contextlib.suppress(SSLError, OSError):
                conn.shutdown()  # answer the peer's close_notify with ours
            return
        try:
            conn.shutdown()
        except OSError:
            return
        while reader.read():
            pass
    except UnexpectedEOFError:
        reader.peer_gone = True
        return  # the peer left without close_notify: common, and not a record failure
    except ProtocolError:
        raise
    except (SyscallError, ConnectionResetError) as exc:
        # openssl s_time resets the connection once it has read our close_notify.
        reader.peer_gone = exc.errno == errno.ECONNRESET
        return
    except (SSLError, OSError):
        return
    finally:
        if not conn.closed:
            conn.timeout = saved


def _half_close_and_drain(sock: socket.socket, seconds: float) -> None:
    """``shutdown(SHUT_WR)``, then read and discard until the peer's FIN (bounded).

    Closing a socket with unread data makes the kernel send a reset, and a
    reset can make the peer drop what it had not read yet: our alert.
    """
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
    poller = select.poll()
    try:
        poller.register(sock.fileno(), select.POLLIN)
    except (OSError, ValueError):
        return
    left = seconds
    step = 0.05
    while left > 0:
        if not poller.poll(int(step * 1000)):
            left -= step
            continue
        try:
            if not sock.recv(65536, socket.MSG_DONTWAIT):
                return
        except BlockingIOError:
            continue
        except OSError:
            return


class _Deadline:
    """``--deadline``: shut the socket down under a connection that outlives it.

    The watchdog touches only the socket (never the ``SSL``): a wait in poll
    then sees EOF and the connection's call returns. ``done()`` is called
    before the socket is closed, so the watchdog never shuts down a file
    descriptor that was already reused.
    """

    def __init__(self, sock: socket.socket, seconds: float | None) -> None:
        self.sock = sock
        self.seconds = seconds
        self.hit = False
        self._lock = threading.Lock()
        self._finished = False
        self._timer: threading.Timer | None = None
        if seconds is not None:
            self._timer = threading.Timer(seconds, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self.hit = True
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)

    def done(self) -> None:
        with self._lock:
            self._finished = True
        if self._timer is not None:
            self._timer.cancel()


def run_connection(
    ctx: Context,
    sock: socket.socket,
    out: Outcome,
    args: argparse.Namespace,
    *,
    server_name: str | None = None,
    session: Session | None = None,
) -> Session | None:
    """Handshake, data phase, close; fills ``out``. Returns the client's session."""
    deadline = _Deadline(sock, args.deadline)
    visible = bool(args.pcapng or args.trace)
    if visible:
        out.trace = Trace(keep_data=bool(args.pcapng))
        _current.trace = out.trace
    sock.settimeout(args.timeout)
    conn = Connection(
        ctx, out.side, sock=sock, server_name=server_name, session=session, visible=visible
    )
    out.conn = conn
    out.expect_alert = args.expect_alert
    if out.trace is not None:
        out.trace.attach(conn)
    reader = _Reader(conn)
    try:
        out.phase = "handshake"
        _handshake(conn, out)
        out.handshake_done = True
        out.note_alerts()
        if out.error is None:
            out.phase = "data"
            if out.side is Role.SERVER:
                reader = _serve_data(conn, out, args)
            else:
                reader = _client_data(conn, out, args)
            out.note_alerts()
        if out.error is None:
            out.phase = "shutdown"
            _close_tls(conn, reader, min(args.timeout, 2.0))
            out.note_alerts()
        if out.error is None:
            out.phase = None
    except (SSLError, OSError) as exc:
        out.error = exc
        out.note_alerts()
    finally:
        _current.trace = None  # this thread's next connection gets its own
    if deadline.hit and out.error is not None:
        out.error = DeadlineExceeded(
            f"--deadline {args.deadline:g} s exceeded in phase {out.phase} ({out.error})"
        )
    deadline.done()
    if not reader.peer_gone:  # after the peer's FIN or reset there is nothing to drain
        _half_close_and_drain(sock, min(args.timeout, DRAIN_SECONDS))
    if out.error is None and out.side is Role.CLIENT:
        return conn.session
    return None


def _finish(out: Outcome, args: argparse.Namespace, emit: Emit) -> None:
    if args.pcapng and out.trace is not None and out.trace.transfers:
        out.trace.write_pcapng(capture_path(args.pcapng, out.index))
    emit(out.to_json(args.trace))
    if out.conn is not None:
        out.conn.close()


def _usage(name: str, exc: BaseException) -> int:
    print(f"ossl-handshake {name}: {exc}", file=sys.stderr)
    return EXIT_USAGE


def _check_peer_args(args: argparse.Namespace, role: Role) -> None:
    """The flags that only make sense together; ValueError (a usage error) otherwise."""
    if args.expect_alert is not None and args.expect_alert not in ALERT_CODES:
        raise ValueError(f"--expect-alert: unknown alert name {args.expect_alert!r}")
    if role is Role.CLIENT:
        if args.cert is not None:
            if args.client_cert is not None:
                raise ValueError("--cert and --client-cert both name the client's certificate")
            # On `client`, --cert/--key are this side's certificate, as in s_client.
            args.client_cert, args.client_key = args.cert, args.key
            args.cert = args.key = None
        elif args.key is not None:
            raise ValueError("--key without --cert")
    send = args.send
    if args.send_line is not None:
        send = (send or "") + args.send_line + "\\r\\n"
    args.send_bytes = parse_escapes(send, "--send") if send is not None else None
    args.expect_bytes = parse_escapes(args.expect, "--expect") if args.expect else None


def _context(args: argparse.Namespace, role: Role) -> Context:
    _check_peer_args(args, role)
    ctx = build_context(args, role)
    configure_peer(ctx, args, role)
    if args.pcapng or args.trace:
        ctx.set_keylog(keylog_dispatch(args.keylog))
    return ctx


def run_server(args: argparse.Namespace, emit: Emit = _emit_stdout) -> int:
    """Listen; serve ``--accept`` connections, ``--workers`` at a time; one JSON line each."""
    try:
        host, port = parse_hostport(args.listen)
        ctx = _context(args, Role.SERVER)
    except (OSError, ValueError, TypeError) as exc:
        return _usage("server", exc)
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        lsock = socket.socket(family, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((host, port))
        lsock.listen(64)
    except OSError as exc:
        print(f"ossl-handshake server: cannot listen on {args.listen}: {exc}", file=sys.stderr)
        return EXIT_IO
    lock = threading.Lock()
    codes: list[int] = []

    def emit_locked(obj: dict[str, Any]) -> None:
        with lock:
            emit(obj)

    def serve(sock: socket.socket, index: int, addr: tuple[str, int]) -> None:
        out = Outcome(Role.SERVER, index, peer=f"{addr[0]}:{addr[1]}")
        with sock:
            # Each TLS write is one segment now: with Nagle, the close_notify
            # after a reply waits for the client's delayed ACK (~40 ms each).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            run_connection(ctx, sock, out, args)
            _finish(out, args, emit_locked)
        with lock:
            codes.append(out.exit_code)

    def failed(index: int, exc: OSError) -> None:
        out = Outcome(Role.SERVER, index, error=exc, phase="accept")
        emit_locked(out.to_json(args.trace))
        with lock:
            codes.append(out.exit_code)

    def crashed(index: int, exc: Exception) -> None:
        with lock:
            codes.append(EXIT_IO)

    with lsock:
        bound = lsock.getsockname()[1]
        if args.ready_file:
            write_ready_file(args.ready_file, bound)
        emit_locked({"schema": SCHEMA_VERSION, "event": "ready", "host": host, "port": bound})
        # --accept 0 serves until killed, so waiting for the next client is unbounded.
        lsock.settimeout(args.timeout if args.accept else None)
        pool = AcceptPool(
            lsock,
            accept=args.accept,
            workers=args.workers,
            serve=serve,
            failed=failed,
            crashed=crashed,
        )
        pool.run()
    return max(codes, default=EXIT_OK)


def run_client(args: argparse.Namespace, emit: Emit = _emit_stdout) -> int:
    """Connect ``1 + --resume`` times, offering the first session on the later ones."""
    try:
        host, port = parse_hostport(args.connect)
        ctx = _context(args, Role.CLIENT)
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
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as the server's
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


def _common(p: argparse.ArgumentParser) -> None:
    add_config_args(p)
    g = p.add_argument_group("peer")
    g.add_argument("--timeout", type=seconds, default=10.0, metavar="S",
                   help="per-operation timeout in seconds (default 10)")  # fmt: skip
    g.add_argument(
        "--deadline",
        type=seconds,
        default=None,
        metavar="S",
        help="whole-connection limit in seconds: the socket is shut down after it",
    )
    send = g.add_mutually_exclusive_group()
    send.add_argument(
        "--send",
        metavar="TEXT",
        help=r"write TEXT after the handshake; escapes \r \n \t \0 \\ \xHH",
    )
    send.add_argument("--send-line", metavar="TEXT", help="like --send, with CRLF appended")
    g.add_argument(
        "--expect", metavar="TEXT", help="read len(TEXT) bytes and compare (same escapes as --send)"
    )
    g.add_argument(
        "--expect-alert",
        metavar="NAME",
        help="the connection must fail with this alert, sent or received (exit 0 then)",
    )
    add_capture_args(
        g,
        trace="add steps, protocol messages and both directions' flights (visible mode)",
        pcapng="capture each connection (FILE, then FILE-1, ...), key log embedded",
        keylog="append NSS key log lines (SSLKEYLOGFILE format)",
    )


@command("server", "TLS server on a socket: one JSON line per handshake")
def _configure_server(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", required=True, metavar="HOST:PORT",
                   help="address to bind; port 0 picks a free one (ready line)")  # fmt: skip
    p.add_argument(
        "--accept",
        type=at_least(0),
        default=1,
        metavar="N",
        help="connections to serve (0: until killed)",
    )
    p.add_argument(
        "--workers",
        type=at_least(1),
        default=4,
        metavar="N",
        help="connections served at once by a fixed pool of threads (default 4)",
    )
    p.add_argument("--ready-file", metavar="PATH", help="write the bound port here when ready")
    _common(p)
    g = p.add_argument_group("server")
    mode = g.add_mutually_exclusive_group()
    mode.add_argument(
        "--www",
        action="store_true",
        help="read a request (to a blank line), answer with an HTTP/1.0 200 page",
    )
    mode.add_argument(
        "--echo", action="store_true", help="write back everything read, until the peer closes"
    )
    g.add_argument(
        "--send-first",
        action="store_true",
        help="write --send right after the handshake instead of after the first read",
    )
    g.add_argument(
        "--alpn-required",
        action="store_true",
        help="no common ALPN protocol: fail with no_application_protocol",
    )
    g.add_argument(
        "--dhparam",
        metavar="auto|PEM",
        help="DHE parameters for TLS 1.2 DHE-* ciphers: auto or a PEM file",
    )
    g.add_argument(
        "--num-tickets",
        type=at_least(0),
        default=None,
        metavar="N",
        help="TLS 1.3 session tickets sent after the handshake (default 2)",
    )
    reneg = g.add_mutually_exclusive_group()
    reneg.add_argument(
        "--no-renegotiation",
        dest="renegotiation",
        action="store_false",
        default=None,
        help="SSL_OP_NO_RENEGOTIATION: refuse renegotiation",
    )
    reneg.add_argument(
        "--renegotiation",
        dest="renegotiation",
        action="store_true",
        help="SSL_OP_ALLOW_CLIENT_RENEGOTIATION: accept a client's",
    )
    p.set_defaults(func=run_server)


@command("client", "TLS client on a socket: one JSON line per handshake")
def _configure_client(p: argparse.ArgumentParser) -> None:
    p.add_argument("--connect", required=True, metavar="HOST:PORT", help="server address")
    p.add_argument("--resume", type=at_least(0), default=0, metavar="N",
                   help="N extra connections offering the first connection's session")  # fmt: skip
    _common(p)
    p.set_defaults(func=run_client)


__all__ = [
    "SCHEMA_VERSION",
    "DeadlineExceeded",
    "FatalAlert",
    "Outcome",
    "parse_hostport",
    "run_client",
    "run_server",
]
