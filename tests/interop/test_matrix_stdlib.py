"""Interop matrix against Python's ``ssl`` module, over sockets and over memory.

The stdlib links the same libssl, but drives it through its own C module
(``_ssl``): its own context defaults, hostname check, session objects and
ALPN selection. Two transports:

- ``stdlib-socket``: ``SSLContext.wrap_socket`` in a thread of this process,
  on 127.0.0.1 with an ephemeral port;
- ``stdlib-memory``: ``SSLContext.wrap_bio`` (``SSLObject`` over two
  ``MemoryBIO``) against our :class:`~ossl_handshake.Connection` on its own
  BIO pair, bytes moved by :class:`MemoryLink` with ``bio_read``/``bio_write``.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import ssl
import threading
from typing import Any

import pytest

from ossl_handshake import (
    Connection,
    Context,
    SSLError,
    WantReadError,
    ZeroReturnError,
    certs,
)
from ossl_handshake.certs import Identity
from tests.interop.common import (
    CLIENT_ALPN,
    SERVER_ALPN,
    TIMEOUT,
    Cell,
    EndReport,
    Negative,
    OurServer,
    PeerTraits,
    cells,
    check_exchanges,
    check_negative,
    context_for,
    describe_failure,
    negatives,
    our_client_context,
    our_server_context,
    ours_failure,
    ours_report,
    peer_saw_alert,
    run_exchanges,
    run_our_client,
)

pytestmark = pytest.mark.timeout(60)

TRAITS = PeerTraits()
_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def stdlib_server_context(
    identity: Identity, versions: tuple[str, str], *, mutual: bool, alpn: tuple[str, ...] | None
) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(identity.cert, identity.key)
    ctx.minimum_version = _VERSIONS[versions[0]]
    ctx.maximum_version = _VERSIONS[versions[1]]
    if mutual:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(certs.CA)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def stdlib_client_context(
    versions: tuple[str, str], *, identity: Identity | None, alpn: tuple[str, ...] | None
) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED + check_hostname
    ctx.load_verify_locations(certs.CA)
    ctx.minimum_version = _VERSIONS[versions[0]]
    ctx.maximum_version = _VERSIONS[versions[1]]
    if identity is not None:
        ctx.load_cert_chain(identity.cert, identity.key)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def stdlib_report(
    tls: ssl.SSLSocket | ssl.SSLObject, received: bytes | None, *, expects_cert: bool
) -> EndReport:
    der = tls.getpeercert(binary_form=True)
    cipher = tls.cipher()
    return EndReport(
        ok=True,
        version=tls.version(),
        cipher=cipher[0] if cipher else None,
        alpn=tls.selected_alpn_protocol(),
        resumed=tls.session_reused,
        # CERT_REQUIRED: a finished handshake means the chain (and, on a
        # client, the host name) verified.
        verify=("ok" if der else "no certificate") if expects_cert else "none",
        received=received.decode("ascii", "replace") if received is not None else None,
        peer_leaf_sha256=hashlib.sha256(der).hexdigest() if der else None,
    )


def _stdlib_failure(exc: BaseException) -> EndReport:
    return EndReport(ok=False, error=f"{type(exc).__name__}: {exc}")


# -- sockets ---------------------------------------------------------------------


class StdlibServer:
    """``wrap_socket(server_side=True)`` in a thread: handshake, echo one line, close."""

    def __init__(self, ctx: ssl.SSLContext, connections: int, *, mutual: bool) -> None:
        self.ctx = ctx
        self.connections = connections
        self.mutual = mutual
        self.reports: list[EndReport] = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.listener.settimeout(TIMEOUT)
        self.port = int(self.listener.getsockname()[1])
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> StdlibServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.close()
        self.thread.join(2 * TIMEOUT)

    def _run(self) -> None:
        with contextlib.suppress(OSError):
            for _ in range(self.connections):
                raw, _addr = self.listener.accept()
                raw.settimeout(TIMEOUT)
                try:
                    tls = self.ctx.wrap_socket(raw, server_side=True)
                except (ssl.SSLError, OSError) as exc:
                    self.reports.append(_stdlib_failure(exc))
                    raw.close()
                    continue
                with tls:
                    try:
                        line = _read_line(tls.recv)
                        if line:
                            tls.sendall(line)
                        self.reports.append(stdlib_report(tls, line, expects_cert=self.mutual))
                        with contextlib.suppress(ssl.SSLError, OSError):
                            tls.unwrap()
                    except (ssl.SSLError, OSError) as exc:
                        self.reports.append(_stdlib_failure(exc))


def _read_line(recv: Any) -> bytes:
    buf = b""
    while b"\n" not in buf:
        chunk = recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf


def stdlib_socket_client(
    ctx: ssl.SSLContext, port: int, connections: int, token: str
) -> list[EndReport]:
    """Connect, send a line, read the echo; resume with ``session=`` from the second on."""
    reports: list[EndReport] = []
    session = None
    for i in range(connections):
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
            try:
                tls = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
            except (ssl.SSLError, OSError) as exc:
                reports.append(_stdlib_failure(exc))
                break
            with tls:
                try:
                    line = f"{token}-{i}\n".encode()
                    tls.sendall(line)
                    got = _read_line(tls.recv)
                except (ssl.SSLError, OSError) as exc:
                    reports.append(_stdlib_failure(exc))
                    break
                reports.append(stdlib_report(tls, got, expects_cert=True))
                session = tls.session
    return reports


def _socket_pair_run(
    ours_role: str,
    our_ctx: Context,
    their_ctx: ssl.SSLContext,
    connections: int,
    token: str,
    *,
    mutual: bool,
) -> tuple[list[EndReport], list[EndReport]]:
    if ours_role == "client":
        with StdlibServer(their_ctx, connections, mutual=mutual) as server:
            ours = run_our_client(our_ctx, server.port, connections, token)
        return ours, server.reports
    with OurServer(our_ctx, connections, expect_peer_cert=mutual) as srv:
        theirs = stdlib_socket_client(their_ctx, srv.port, connections, token)
        ours = srv.join()
    return ours, theirs


# -- memory -----------------------------------------------------------------------


class MemoryLink:
    """Moves bytes between our BIO pair and an ``SSLObject``'s two ``MemoryBIO`` s."""

    def __init__(
        self, ours: Connection, obj: ssl.SSLObject, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO
    ) -> None:
        self.ours = ours
        self.obj = obj
        self.incoming = incoming
        self.outgoing = outgoing
        self.backlog = b""  # bytes for us that our BIO pair had no room for yet

    def move(self) -> int:
        """One transfer in each direction; returns the bytes moved."""
        moved = 0
        data = self.ours.bio_read()
        if data:
            self.incoming.write(data)
            moved += len(data)
        self.backlog += self.outgoing.read()
        if self.backlog:
            taken = self.ours.bio_write(self.backlog)
            self.backlog = self.backlog[taken:]
            moved += taken
        return moved

    def handshake(self) -> None:
        """Step both ends until both finished; a round without progress is an error."""
        ours_done = theirs_done = False
        while not (ours_done and theirs_done):
            progressed = False
            if not ours_done:
                step = self.ours.step()
                if step.error is not None and not step.wants:
                    raise step.error
                ours_done = step.done
                progressed |= ours_done
            if not theirs_done:
                try:
                    self.obj.do_handshake()
                    theirs_done = progressed_theirs = True
                except ssl.SSLWantReadError:
                    progressed_theirs = False
                progressed |= progressed_theirs
            progressed |= self.move() > 0
            if not progressed:
                raise RuntimeError("memory handshake made no progress")

    def ours_read_line(self) -> bytes:
        buf = b""
        while b"\n" not in buf:
            self.move()
            try:
                buf += self.ours.read()
            except WantReadError:
                if not self.move():
                    break
            except ZeroReturnError:
                break
        return buf

    def their_read_line(self) -> bytes:
        buf = b""
        while b"\n" not in buf:
            self.move()
            try:
                buf += self.obj.read(4096)
            except ssl.SSLWantReadError:
                if not self.move():
                    break
            except ssl.SSLZeroReturnError:
                break
        return buf


def _memory_run(
    ours_role: str,
    our_ctx: Context,
    their_ctx: ssl.SSLContext,
    connections: int,
    token: str,
    *,
    mutual: bool,
) -> tuple[list[EndReport], list[EndReport]]:
    """``connections`` in-memory handshakes + echo; the client resumes from the second."""
    ours_reports: list[EndReport] = []
    theirs_reports: list[EndReport] = []
    our_session = their_session = None
    for i in range(connections):
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        if ours_role == "client":
            ours = Connection(our_ctx, server_name="localhost", session=our_session)
            obj = their_ctx.wrap_bio(incoming, outgoing, server_side=True)
        else:
            ours = Connection(our_ctx)
            obj = their_ctx.wrap_bio(
                incoming, outgoing, server_hostname="localhost", session=their_session
            )
        link = MemoryLink(ours, obj, incoming, outgoing)
        try:
            try:
                link.handshake()
            except SSLError as exc:
                ours_reports.append(ours_failure(ours, exc))
                link.move()  # deliver our alert
                theirs_reports.append(_peer_after_our_failure(obj))
                break
            except ssl.SSLError as exc:
                theirs_reports.append(_stdlib_failure(exc))
                link.move()  # deliver its alert
                try:
                    # TLS 1.3: a client has finished before the server judges its
                    # certificate; the alert then arrives on the first read.
                    if ours.is_init_finished:
                        ours.read()
                    else:
                        ours.do_handshake()
                    ours_reports.append(EndReport(ok=False, error="peer failed, we saw nothing"))
                except SSLError as ours_exc:
                    ours_reports.append(ours_failure(ours, ours_exc))
                break
            line = f"{token}-{i}\n".encode()
            if ours_role == "client":
                ours.write(line)
                got_server = link.their_read_line()
                obj.write(got_server)
                got_client = link.ours_read_line()
                ours_reports.append(ours_report(ours, got_client, expect_peer_cert=True))
                theirs_reports.append(stdlib_report(obj, got_server, expects_cert=mutual))
                our_session = ours.session
            else:
                obj.write(line)
                got_server = link.ours_read_line()
                ours.write(got_server)
                got_client = link.their_read_line()
                ours_reports.append(ours_report(ours, got_server, expect_peer_cert=mutual))
                theirs_reports.append(stdlib_report(obj, got_client, expects_cert=True))
                their_session = obj.session
        finally:
            ours.close()
    return ours_reports, theirs_reports


def _peer_after_our_failure(obj: ssl.SSLObject) -> EndReport:
    """What the SSLObject makes of our alert: finish its handshake, then read.

    A TLS 1.3 client has finished before the server judges its certificate,
    so the alert only shows on its first read.
    """
    try:
        obj.do_handshake()
        obj.read(1)
    except ssl.SSLWantReadError:
        return EndReport(ok=True, error="saw no alert")
    except ssl.SSLError as exc:
        return _stdlib_failure(exc)
    return EndReport(ok=True, error="read data after our failure")


RUNNERS = {"stdlib-socket": _socket_pair_run, "stdlib-memory": _memory_run}


@pytest.mark.parametrize(
    "cell", cells("stdlib-socket") + cells("stdlib-memory"), ids=lambda c: f"{c.peer}-{c.id}"
)
def test_stdlib_matrix_cell(cell: Cell) -> None:
    versions = (cell.version, cell.version)
    alpn_on = cell.alpn == "alpn"
    if cell.ours == "client":
        their_ctx = stdlib_server_context(
            cell.server_identity,
            versions,
            mutual=cell.mutual,
            alpn=SERVER_ALPN if alpn_on else None,
        )
    else:
        their_ctx = stdlib_client_context(
            versions,
            identity=cell.client_identity if cell.mutual else None,
            alpn=CLIENT_ALPN if alpn_on else None,
        )
    ours, theirs = RUNNERS[cell.peer](
        cell.ours,
        context_for(cell, cell.ours),
        their_ctx,
        cell.connections,
        cell.token,
        mutual=cell.mutual,
    )
    check_exchanges(cell, run_exchanges(ours, theirs), TRAITS)


@pytest.mark.parametrize(
    "neg", negatives("stdlib-socket") + negatives("stdlib-memory"), ids=lambda n: f"{n.peer}-{n.id}"
)
def test_stdlib_negative_cell(neg: Negative, record_property: Any) -> None:
    if neg.ours == "client":
        our_ctx = our_client_context(
            versions=neg.client_versions, identity=neg.client_identity if neg.mutual else None
        )
        their_ctx = stdlib_server_context(
            neg.server_identity, neg.server_versions, mutual=neg.mutual, alpn=None
        )
    else:
        our_ctx = our_server_context(
            versions=neg.server_versions, identity=neg.server_identity, mutual=neg.mutual
        )
        their_ctx = stdlib_client_context(
            neg.client_versions, identity=neg.client_identity if neg.mutual else None, alpn=None
        )
    ours, theirs = RUNNERS[neg.peer](neg.ours, our_ctx, their_ctx, 1, "ping-neg", mutual=neg.mutual)
    peer_ok = bool(theirs) and all(r.ok for r in theirs)
    record_property("observed", describe_failure(ours[0] if ours else None))
    record_property("peer_saw", f"ssl: {theirs[0].error}" if theirs else "ssl: no report")
    check_negative(neg, ours, peer_ok, repr(theirs))
    if ours and ours[0].alert_sent and theirs:
        # the stdlib names the alert we sent: "tlsv1 alert unknown ca"
        assert peer_saw_alert(ours[0].alert_sent, theirs[0].error or ""), theirs[0]
    if neg.ours == "server" and neg.kind == "wrong-ca" and neg.peer == "stdlib-socket":
        assert "unable to get local issuer certificate" in (theirs[0].error or "")
    if neg.ours == "server" and neg.kind == "wrong-host" and neg.peer == "stdlib-socket":
        assert "Hostname mismatch" in (theirs[0].error or "")
