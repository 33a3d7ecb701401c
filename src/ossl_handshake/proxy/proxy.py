"""``FaultProxy``: a TCP man-in-the-middle that runs the in-process ``Wire`` between two processes.

Each accepted connection gets its own thread, its own upstream socket and a
fresh :class:`~ossl_handshake.wire.Wire` (the faults are copied from the
templates given to the proxy, so fired counts are per connection). The two
sockets are the wire's endpoints (:class:`_End`, the ``Endpoint`` protocol of
``wire/wire.py``): what a peer sent is what its ``bio_read`` returns, what the
wire delivers to a peer goes out on its socket, one ``send`` per delivery unit
(``TCP_NODELAY``), so the policies mean the same as in-process: ``bytes``
sends one byte per segment, ``records`` one record per segment.

A *flight*, which the wire numbers and selectors aim at, is what a peer sent
in one burst: the bytes read until its socket stayed quiet for ``gap``
seconds (libssl flushes a handshake flight in one write, so a flight over
loopback is one burst). ``coalesce`` holds flights until enough gathered or
the connection was idle for ``idle`` seconds (the in-process rule "the sender
is waiting" is idleness here).

Nothing blocks without a bound: sockets are non-blocking under a selector
whose wait is at most ``_POLL`` seconds; each connection has a deadline
(``timeout``) after which both sockets are closed and the report says
``deadline``; the upstream connect has its own timeout.
"""

from __future__ import annotations

import contextlib
import copy
import os
import selectors
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from types import TracebackType

from ossl_handshake.core.inputs import check_address, check_seconds
from ossl_handshake.observe.decrypt import KeyLog
from ossl_handshake.observe.pcap import Packet, pcapng_bytes, stream_packets
from ossl_handshake.observe.trace import Trace
from ossl_handshake.proxy.report import ConnectionReport, SideReport
from ossl_handshake.proxy.spec import parse_fault
from ossl_handshake.tls.roles import Role
from ossl_handshake.wire.faults import Fault, FaultNotFiredError
from ossl_handshake.wire.wire import FLIGHTS, Coalesce, Policy, Wire

#: Longest single wait of a connection's loop (so close() and deadlines are seen promptly).
_POLL = 0.05
_RECV = 65536

WireFactory = Callable[[], Wire]
Address = tuple[str, int]


def _fmt(addr: Address) -> str:
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _reset(sock: socket.socket) -> None:
    """Close with a TCP RST (``SO_LINGER`` on, 0 s): how a peer's reset is passed on."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class _End:
    """A peer's socket as a wire ``Endpoint``: ``bio_read`` is what it sent, ``bio_write`` to it."""

    def __init__(self, role: Role, sock: socket.socket) -> None:
        self._role = role
        self.sock = sock
        self.inbox = bytearray()
        self.outbox: deque[bytes] = deque()
        self.read_eof = False
        self.shut_wanted = False
        self.shut_done = False
        self.last_rx = 0.0

    @property
    def role(self) -> Role:
        return self._role

    def bio_read(self, n: int = -1) -> bytes:
        take = len(self.inbox) if n < 0 else min(n, len(self.inbox))
        data = bytes(self.inbox[:take])
        del self.inbox[:take]
        return data

    def bio_write(self, data: bytes | bytearray | memoryview) -> int:
        chunk = bytes(data)
        if chunk:
            self.outbox.append(chunk)
        return len(chunk)

    def bio_shutdown_wr(self) -> None:
        self.shut_wanted = True


class _PeerReset(Exception):
    def __init__(self, role: Role) -> None:
        self.role = role


class _Link:
    """One proxied connection: its two sockets, its wire, its loop and its report."""

    def __init__(self, proxy: FaultProxy, index: int, client: socket.socket, peer: Address):
        self.proxy = proxy
        self.client_sock = client
        self.server_sock: socket.socket | None = None
        self.wire = proxy._new_wire()
        self.report = ConnectionReport(
            index,
            SideReport(Role.CLIENT, _fmt(peer)),
            SideReport(Role.SERVER, _fmt(proxy.connect)),
            self.wire,
            started=time.time(),
        )
        self.ends: dict[Role, _End] = {}
        self.deadline = time.monotonic() + proxy.timeout
        previous = self.wire.tap

        def tap(role: Role, data: bytes) -> None:
            self.report.segments.append((time.time(), role, data))
            self.report.side(role).delivered += len(data)
            if previous is not None:
                previous(role, data)

        self.wire.tap = tap

    # -- the thread --------------------------------------------------------------

    def run(self) -> None:
        report = self.report
        try:
            upstream = self._connect()
            if upstream is not None:
                self.server_sock = upstream
                report.outcome = self._loop()
        except Exception as exc:  # reported and re-raised by FaultProxy.close, never lost
            report.outcome = "error"
            report.error = f"{type(exc).__name__}: {exc}"
            report.exception = exc
        finally:
            for sock in (self.client_sock, self.server_sock):
                if sock is not None:
                    sock.close()
            report.ended = time.time()
            report.finish()
            self.proxy._finished(self)

    def _connect(self) -> socket.socket | None:
        left = self.deadline - time.monotonic()
        try:
            sock = socket.create_connection(
                self.proxy.connect, timeout=max(0.001, min(self.proxy.connect_timeout, left))
            )
        except OSError as exc:
            self.report.outcome = "connect_failed"
            self.report.error = f"connect to {_fmt(self.proxy.connect)}: {exc}"
            _reset(self.client_sock)  # the client sees what a refused connection looks like
            return None
        self.report.server.address = _fmt(sock.getpeername()[:2])
        return sock

    def _loop(self) -> str:
        assert self.server_sock is not None
        ends = self.ends
        for role, sock in ((Role.CLIENT, self.client_sock), (Role.SERVER, self.server_sock)):
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            ends[role] = _End(role, sock)
        gap, idle = self.proxy.gap, self.proxy.idle
        last_activity = time.monotonic()
        released_idle = False
        with selectors.DefaultSelector() as sel:
            registered: dict[Role, int] = {}
            try:
                while True:
                    now = time.monotonic()
                    if self.proxy._aborting:
                        return "aborted"
                    if now >= self.deadline:
                        return "deadline"
                    for role in Role:
                        e = ends[role]
                        if e.inbox and (e.read_eof or now - e.last_rx >= gap):
                            self._transfer(role)
                    for role in Role:
                        e, other = ends[role], ends[role.peer]
                        if e.read_eof and not e.inbox and not other.shut_wanted:
                            self._drain(role, release=True)
                            other.shut_wanted = True  # pass the FIN on once the queue is out
                    for e in ends.values():
                        self._flush(e)
                    if all(e.read_eof and e.shut_done for e in ends.values()):
                        return "closed"
                    for role, e in ends.items():
                        mask = (0 if e.read_eof else selectors.EVENT_READ) | (
                            selectors.EVENT_WRITE if e.outbox else 0
                        )
                        old = registered.get(role, 0)
                        if mask == old:
                            continue
                        if not old:
                            sel.register(e.sock, mask, role)
                        elif not mask:
                            sel.unregister(e.sock)
                        else:
                            sel.modify(e.sock, mask, role)
                        registered[role] = mask
                    wait = min(_POLL, max(0.0, self.deadline - now))
                    for e in ends.values():
                        if e.inbox:
                            wait = min(wait, max(0.0, e.last_rx + gap - now))
                    events = sel.select(wait) if registered and any(registered.values()) else []
                    if not events:
                        if not registered or not any(registered.values()):
                            time.sleep(wait)
                        if not released_idle and time.monotonic() - last_activity >= idle:
                            for role in Role:
                                self._drain(role, release=True)
                            released_idle = True
                        continue
                    for key, mask in events:
                        e = ends[key.data]
                        if mask & selectors.EVENT_READ:
                            self._recv(e)
                        if mask & selectors.EVENT_WRITE:
                            self._flush(e)
                    last_activity = time.monotonic()
                    released_idle = False
            except _PeerReset as reset:
                self.report.side(reset.role).closed = "rst"
                other = ends[reset.role.peer]
                try:  # what the resetting side sent before its RST still goes out
                    if ends[reset.role].inbox:
                        self._transfer(reset.role)
                    self._flush(other)
                except _PeerReset:
                    self.report.side(other.role).closed = "rst"  # both sides reset
                _reset(other.sock)
                return "reset"

    # -- moving bytes ------------------------------------------------------------

    def _recv(self, e: _End) -> None:
        side = self.report.side(e.role)
        while not e.read_eof:
            try:
                data = e.sock.recv(_RECV)
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionResetError:
                raise _PeerReset(e.role) from None
            if not data:
                e.read_eof = True
                side.closed = "fin"
                return
            e.inbox += data
            side.received += len(data)
            e.last_rx = time.monotonic()

    def _transfer(self, role: Role) -> None:
        """A flight from ``role`` is complete: through the wire, then deliver what is queued."""
        self.wire.transfer(self.ends[role], self.ends[role.peer])
        self._drain(role)
        self._drain(role.peer)  # a fault (Delay) may have released records the other way

    def _drain(self, role: Role, *, release: bool = False) -> None:
        """Deliver the queue of ``role``'s direction, one transfer per policy unit.

        An empty transfer also ends a ``coalesce`` hold, so it only happens for
        such a direction when ``release`` says the sender is waiting (idle, EOF).
        """
        src, dst = self.ends[role], self.ends[role.peer]
        if src.inbox:
            return  # a flight is still gathering: it goes through the wire first
        if isinstance(self.wire.policies[role], Coalesce) and not release:
            return
        while self.wire.transfer(src, dst):
            pass

    def _flush(self, e: _End) -> None:
        while e.outbox:
            chunk = e.outbox[0]
            try:
                n = e.sock.send(chunk)
            except (BlockingIOError, InterruptedError):
                return
            except (BrokenPipeError, ConnectionResetError):
                raise _PeerReset(e.role) from None
            if n < len(chunk):
                e.outbox[0] = chunk[n:]
                return
            e.outbox.popleft()
        if e.shut_wanted and not e.shut_done:
            with contextlib.suppress(OSError):
                e.sock.shutdown(socket.SHUT_WR)
            e.shut_done = True
            self.report.side(e.role).eof_sent = True


class FaultProxy:
    """A TCP proxy between two processes that carries every connection through a ``Wire``.

    ``FaultProxy(connect=(host, port), listen=("127.0.0.1", 0), faults=[...],
    policy=FLIGHTS, timeout=10.0)`` (a fault may be given as its spec string,
    :func:`~ossl_handshake.proxy.spec.parse_fault`) listens at once (``address``/``port``) and
    serves connections on background threads until :meth:`close` (or the end
    of its ``with`` block). Every connection gets a fresh wire: by default
    ``Wire(copies of faults, policy=..., client_policy=..., server_policy=...)``
    (``wire=`` a factory replaces that); with ``keylog`` (the path of a key
    log file a peer writes, its ``SSLKEYLOGFILE``) the wire also gets
    ``keys=KeyLog(path=keylog)``, read as the file grows, so TLS 1.3
    records are decrypted, named and editable per message
    (``docs/guide/decryption.md``); :meth:`write_pcapng` embeds the file's
    lines and :meth:`trace` hands them to the ladder.

    ``timeout`` is each connection's deadline (seconds from accept);
    ``connect_timeout`` bounds the upstream connect; ``gap`` ends a flight
    (quiet time of a sender); ``idle`` releases ``coalesce`` holds; ``count``
    stops accepting after that many connections; ``on_connection(report)``
    runs (on the connection's thread) as each one finishes.

    ``connections`` lists the finished :class:`ConnectionReport` objects in
    finishing order; :meth:`wait` blocks for them; :meth:`check_fired` raises
    :class:`~ossl_handshake.wire.FaultNotFiredError` as the in-process
    driver does. Leaving the ``with`` block waits ``linger`` seconds for open
    connections, aborts the rest, and re-raises an exception the proxy itself
    hit (a fault that could not apply) unless one is already propagating.
    """

    def __init__(
        self,
        connect: Address | str,
        *,
        listen: Address | str = ("127.0.0.1", 0),
        faults: Iterable[Fault | str] = (),
        policy: Policy = FLIGHTS,
        client_policy: Policy | None = None,
        server_policy: Policy | None = None,
        wire: WireFactory | None = None,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        gap: float = 0.005,
        idle: float = 0.05,
        linger: float = 2.0,
        count: int | None = None,
        keylog: str | os.PathLike[str] | None = None,
        on_connection: Callable[[ConnectionReport], None] | None = None,
    ) -> None:
        self.connect = check_address(connect, "connect")
        listen_at = check_address(listen, "listen")
        self.timeout = check_seconds(timeout, "timeout")
        self.connect_timeout = check_seconds(connect_timeout, "connect_timeout")
        self.gap = check_seconds(gap, "gap")
        self.idle = check_seconds(idle, "idle")
        self.linger = check_seconds(linger, "linger")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
            raise TypeError(f"count must be None or an int, not {count!r}")
        if count is not None and count < 1:
            raise ValueError(f"count must be >= 1, not {count}")
        self.count = count
        self.faults: list[Fault] = [parse_fault(f) if isinstance(f, str) else f for f in faults]
        for f in self.faults:
            if not isinstance(f, Fault):
                raise TypeError(f"faults must be Fault objects or specs, not {type(f).__name__}")
        for p in (policy, client_policy, server_policy):
            if p is not None and not isinstance(p, Policy):
                raise TypeError(f"policies must be Policy objects, not {type(p).__name__}")
        if wire is not None and not callable(wire):
            raise TypeError("wire must be a factory: a callable returning a Wire")
        self.policy = policy
        self.client_policy = client_policy
        self.server_policy = server_policy
        self.keylog = None if keylog is None else os.fspath(keylog)
        self._factory = wire
        self.on_connection = on_connection
        self.connections: list[ConnectionReport] = []
        self._cond = threading.Condition()
        self._links: list[_Link] = []
        self._threads: list[threading.Thread] = []
        self._accepted = 0
        self._accept_error: BaseException | None = None
        self._aborting = False
        self._closed = False
        family = socket.AF_INET6 if ":" in listen_at[0] else socket.AF_INET
        self._listener = socket.create_server(listen_at, family=family, backlog=64)
        self._listener.settimeout(_POLL)
        self.address: Address = self._listener.getsockname()[:2]
        self._acceptor = threading.Thread(target=self._accept_loop, name="fault-proxy", daemon=True)
        self._acceptor.start()

    @property
    def port(self) -> int:
        """The port the proxy listens on (the one to give the client)."""
        return self.address[1]

    # -- wires -------------------------------------------------------------------

    def _new_wire(self) -> Wire:
        if self._factory is not None:
            made = self._factory()
            if not isinstance(made, Wire):
                raise TypeError(f"the wire factory returned {type(made).__name__}, not a Wire")
            return made
        return Wire(
            copy.deepcopy(self.faults),
            policy=self.policy,
            client_policy=self.client_policy,
            server_policy=self.server_policy,
            keys=KeyLog(path=self.keylog) if self.keylog is not None else None,
        )

    # -- accepting ---------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._closed:
            if self.count is not None and self._accepted >= self.count:
                return
            try:
                sock, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed
            with self._cond:
                index = self._accepted
                self._accepted += 1
                try:
                    link = _Link(self, index, sock, peer)
                except Exception as exc:  # a wire factory that failed: raised by __exit__
                    sock.close()
                    self._accept_error = exc
                    return
                thread = threading.Thread(target=link.run, name=f"fault-proxy-{index}", daemon=True)
                self._links.append(link)
                self._threads.append(thread)
            thread.start()

    def _finished(self, link: _Link) -> None:
        with self._cond:
            self.connections.append(link.report)
            self._links.remove(link)
            self._cond.notify_all()
        if self.on_connection is not None:
            self.on_connection(link.report)

    # -- results -----------------------------------------------------------------

    def wait(self, n: int = 1, timeout: float | None = None) -> list[ConnectionReport]:
        """Block until ``n`` connections finished; ``TimeoutError`` after ``timeout``.

        The default bound is the per-connection deadline plus the connect timeout.
        """
        limit = self.timeout + self.connect_timeout if timeout is None else timeout
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.connections) >= n, limit):
                raise TimeoutError(
                    f"fault proxy: {len(self.connections)} of {n} connections finished"
                )
            return list(self.connections)

    def check_fired(self) -> None:
        """Raise ``FaultNotFiredError`` when a non-optional fault did not fire in every connection.

        With faults and no finished connection at all, that is a miss too.
        """
        with self._cond:
            reports = list(self.connections)
        wanted = [f for f in self.faults if not f.optional] if self._factory is None else []
        if not reports and wanted:
            raise FaultNotFiredError(
                "fault never fired: no connection went through the proxy", wanted
            )
        for report in sorted(reports, key=lambda r: r.index):
            try:
                report.wire.check_fired(report)
            except FaultNotFiredError as exc:
                raise FaultNotFiredError(
                    f"connection {report.index} ({report.client.address}, {report.outcome}): {exc}",
                    exc.faults,
                    report,
                ) from None

    def errors(self) -> list[BaseException]:
        """Exceptions the proxy itself hit in finished connections (outcome ``error``)."""
        with self._cond:
            return [r.exception for r in self.connections if r.exception is not None]

    def packets(self) -> list[Packet]:
        """Every finished connection's deliveries as frames, one TCP stream each, by time."""
        with self._cond:
            reports = sorted(self.connections, key=lambda r: r.index)
        frames: list[Packet] = []
        for r in reports:
            if not r.segments:
                continue
            client_port = int(r.client.address.rpartition(":")[2])
            server_port = int(r.server.address.rpartition(":")[2])
            frames += stream_packets(r.segments, client_port=client_port, server_port=server_port)
        return sorted(frames, key=lambda p: p.time)

    def keylog_lines(self) -> list[str]:
        """The key log file's lines (empty without ``keylog`` or when it does not exist)."""
        if self.keylog is None:
            return []
        try:
            with open(self.keylog, encoding="ascii", errors="replace") as f:
                return [line.rstrip("\n") for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def trace(self, report: ConnectionReport) -> Trace:
        """A :class:`~ossl_handshake.observe.trace.Trace` of one finished connection.

        Its transfers are the wire's deliveries (after faults), its key log
        lines the key log file's, so :mod:`ossl_handshake.observe.ladder`
        draws the connection with both sides labelled from their records,
        TLS 1.3 messages decrypted when the file has the secrets. Deliveries
        in a row from one side are one arrow (a flight sent record by record
        or byte by byte is still one flight).
        """
        trace = Trace(keep_data=True)
        runs: list[tuple[Role, bytearray]] = []
        for _, role, data in report.segments:
            if runs and runs[-1][0] is role:
                runs[-1][1].extend(data)
            else:
                runs.append((role, bytearray(data)))
        for sender, flight in runs:
            trace.on_transfer(sender, bytes(flight))
        for line in self.keylog_lines():
            trace.keylog_line(line)
        return trace

    def write_pcapng(self, path: str | os.PathLike[str]) -> int:
        """Write what crossed (after faults) as pcapng, with the key log as secrets; frame count."""
        frames = self.packets()
        data = pcapng_bytes(frames, self.keylog_lines())
        with open(path, "wb") as f:
            f.write(data)
        return len(frames)

    # -- lifetime ----------------------------------------------------------------

    def close(self, linger: float | None = None) -> None:
        """Stop accepting; wait ``linger`` s for open connections, abort the rest; join."""
        if self._closed:
            return
        self._closed = True
        self._acceptor.join()
        self._listener.close()
        wait = self.linger if linger is None else linger
        with self._cond:
            self._cond.wait_for(lambda: not self._links, wait)
        self._aborting = True
        for t in list(self._threads):
            t.join()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
        errors = self.errors()
        if self._accept_error is not None:
            errors.insert(0, self._accept_error)
        if exc is None and errors:
            raise RuntimeError(f"the fault proxy failed: {errors[0]}") from errors[0]

    def __repr__(self) -> str:
        return (
            f"<FaultProxy {_fmt(self.address)} -> {_fmt(self.connect)} faults={self.faults!r} "
            f"connections={len(self.connections)}>"
        )


__all__ = ["ConnectionReport", "FaultProxy", "SideReport", "WireFactory"]
