"""Shared machinery for the interoperability matrix.

A :class:`Cell` is one combination of the matrix (peer, which role is ours,
TLS version, server key type, server-only or mutual authentication, full or
resumed handshake, ALPN or not). Running a cell yields one
:class:`Exchange` per TCP connection: what our :class:`~ossl_handshake.Connection`
reported and what the peer reported (parsed from its own output), and
:func:`check_exchanges` asserts that both ends agree with each other and with
the cell. Negative cells (:class:`Negative`) assert that the right side fails
for the right reason.

Peers run as real processes (or, for the stdlib, in threads of this process)
on 127.0.0.1 with ephemeral ports; every wait has a timeout.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from ossl_handshake import Connection, Context, Role, SSLError, ZeroReturnError, certs
from ossl_handshake.certs import Identity
from ossl_handshake.tls.names import alert_code

TIMEOUT = 10.0
"""Seconds for any single socket wait or peer start; subprocess runs get 2x."""

CLIENT_ALPN = ("h2", "http/1.1")
SERVER_ALPN = ("http/1.1",)
EXPECTED_ALPN = "http/1.1"

VERSIONS = ("1.2", "1.3")
KEYS = ("ecdsa", "rsa", "ed25519")
AUTHS = ("server", "mutual")
MODES = ("full", "resumed")
ALPNS = ("none", "alpn")
ROLES = ("client", "server")

X509_V_OK = 0
X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20
X509_V_ERR_HOSTNAME_MISMATCH = 62

SERVER_IDENTITIES = {
    "ecdsa": certs.SERVER_ECDSA,
    "rsa": certs.SERVER_RSA,
    "ed25519": certs.SERVER_ED25519,
}
# No Ed25519 client certificate is bundled; Ed25519 cells use the ECDSA one.
CLIENT_IDENTITIES = {"ecdsa": certs.CLIENT, "rsa": certs.CLIENT_RSA, "ed25519": certs.CLIENT}


@dataclass(frozen=True)
class Cell:
    """One positive cell of the matrix; ``ours`` is the role our binding plays."""

    peer: str
    ours: str
    version: str
    key: str
    auth: str
    mode: str
    alpn: str

    @property
    def id(self) -> str:
        return f"ours-{self.ours}-tls{self.version}-{self.key}-{self.auth}-{self.mode}-{self.alpn}"

    @property
    def connections(self) -> int:
        return 2 if self.mode == "resumed" else 1

    @property
    def mutual(self) -> bool:
        return self.auth == "mutual"

    @property
    def server_identity(self) -> Identity:
        return SERVER_IDENTITIES[self.key]

    @property
    def client_identity(self) -> Identity:
        return CLIENT_IDENTITIES[self.key]

    @property
    def token(self) -> str:
        return f"ping-{self.peer}-{self.id}"


def cells(peer: str) -> list[Cell]:
    """Every positive cell for ``peer``, both roles."""
    return [
        Cell(peer, *combo)
        for combo in itertools.product(ROLES, VERSIONS, KEYS, AUTHS, MODES, ALPNS)
    ]


NEGATIVES = ("wrong-ca", "wrong-host", "no-shared-version", "untrusted-client-cert")


@dataclass(frozen=True)
class Negative:
    """A negative cell: ``kind`` is one of :data:`NEGATIVES`.

    - ``wrong-ca``: the server presents a certificate from an untrusted root;
      the client must reject it (unable to get local issuer certificate).
    - ``wrong-host``: the server presents a trusted certificate for
      ``wrong.example``; the client asked for ``localhost`` and must reject it.
    - ``no-shared-version``: one side speaks only TLS 1.2, the other only 1.3.
    - ``untrusted-client-cert``: mutual auth, the client presents a certificate
      from the untrusted root; the server must reject it.
    """

    peer: str
    ours: str
    kind: str

    @property
    def id(self) -> str:
        return f"ours-{self.ours}-{self.kind}"

    @property
    def server_identity(self) -> Identity:
        return {
            "wrong-ca": certs.UNTRUSTED_SERVER,
            "wrong-host": certs.WRONG_HOST,
        }.get(self.kind, certs.SERVER_ECDSA)

    @property
    def client_identity(self) -> Identity:
        return certs.UNTRUSTED_CLIENT if self.kind == "untrusted-client-cert" else certs.CLIENT

    @property
    def mutual(self) -> bool:
        return self.kind == "untrusted-client-cert"

    @property
    def server_versions(self) -> tuple[str, str]:
        """(min, max) for the server; the client side is 1.2 in no-shared-version."""
        return ("1.3", "1.3") if self.kind == "no-shared-version" else ("1.2", "1.3")

    @property
    def client_versions(self) -> tuple[str, str]:
        return ("1.2", "1.2") if self.kind == "no-shared-version" else ("1.2", "1.3")

    @property
    def verifier(self) -> str:
        """Which end is expected to detect the problem: ``client``/``server``/``both``."""
        if self.kind == "untrusted-client-cert":
            return "server"
        if self.kind == "no-shared-version":
            return "both"
        return "client"


def negatives(peer: str) -> list[Negative]:
    return [Negative(peer, role, kind) for role in ROLES for kind in NEGATIVES]


@dataclass
class EndReport:
    """What one end reported for one connection.

    ``cipher`` is the OpenSSL name of the suite (peers that print other
    names are mapped through the IANA code); ``verify`` is ``"ok"`` when the
    end validated the peer's chain (and host, on a client), ``"none"`` when it
    did not ask for a certificate, ``"unchecked"`` when the peer cannot
    validate chains at all (tlslite-ng) and only reports the leaf it got.
    """

    ok: bool
    version: str | None = None
    cipher: str | None = None
    alpn: str | None = None
    resumed: bool | None = None
    verify: str | None = None
    received: str | None = None
    peer_leaf_sha256: str | None = None
    error: str | None = None
    verify_code: int | None = None
    alert_received: str | None = None
    alert_sent: str | None = None


@dataclass
class Exchange:
    ours: EndReport
    peer: EndReport


# -- cipher names -------------------------------------------------------------


def _cipher_table() -> list[dict[str, object]]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    return [dict(c) for c in ctx.get_ciphers()]


_CIPHERS = _cipher_table()
_BY_CODE = {int(str(c["id"])) & 0xFFFF: str(c["name"]) for c in _CIPHERS}


def cipher_name(code: int) -> str:
    """OpenSSL name of the suite with IANA code ``code`` (from the stdlib's cipher table)."""
    return _BY_CODE.get(code, f"0x{code:04x}")


def cipher_from_gnutls(bulk: str, version: str, auth: str | None) -> str | None:
    """Map what GnuTLS prints to the OpenSSL suite name.

    ``bulk`` is the cipher (``AES-256-GCM``, the last group of ``- Description:``
    or ``- Cipher:``); for TLS 1.2 ``auth`` is ``"RSA"`` or ``"ECDSA"`` (from
    ``- Key Exchange: ECDHE-RSA`` or the description's signature group;
    Ed25519 certificates use the ECDSA suites). Only AEAD suites are mapped
    (None otherwise).
    """
    bulk = bulk.strip().lower()
    for c in _CIPHERS:
        if str(c["symmetric"]).lower() != bulk or not c.get("aead"):
            continue
        if version == "TLSv1.3":
            if c["protocol"] == "TLSv1.3":
                return str(c["name"])
            continue
        if c["protocol"] != "TLSv1.2" or c["kea"] != "kx-ecdhe" or auth is None:
            continue
        if c["auth"] == ("auth-rsa" if auth == "RSA" else "auth-ecdsa"):
            return str(c["name"])
    return None


def gnutls_version(text: str) -> str:
    """``TLS1.3`` -> ``TLSv1.3``."""
    return text.replace("TLS", "TLSv", 1) if text.startswith("TLS1") else text


# -- certificates -------------------------------------------------------------


def leaf_sha256(identity: Identity) -> str:
    """sha256 of the DER of the first certificate in ``identity.cert``."""
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(first_pem(identity.cert))).hexdigest()


def first_pem(path: Path) -> str:
    text = path.read_text()
    end = "-----END CERTIFICATE-----"
    return text[: text.index(end) + len(end)] + "\n"


# -- ports and processes --------------------------------------------------------


def free_port() -> int:
    """An ephemeral port on 127.0.0.1 (bind port 0, read it, release it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int, pid: int | None = None) -> bool:
    """True when a socket is in LISTEN on ``port`` (``/proc/net/tcp*``; no probe connection).

    With ``pid``, only a socket of that process counts: under pytest-xdist
    another worker's peer may hold the port our peer failed to bind.
    """
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in itertools.islice(f, 1, None):
                fields = line.split()
                if fields[3] != "0A" or int(fields[1].rsplit(":", 1)[1], 16) != port:
                    continue
                if pid is None or _owns_socket(pid, fields[9]):
                    return True
    return False


def _owns_socket(pid: int, inode: str) -> bool:
    """Whether process ``pid`` has the socket with this inode open (``/proc/PID/fd``)."""
    want = f"socket:[{inode}]"
    fd_dir = Path(f"/proc/{pid}/fd")
    with contextlib.suppress(OSError):
        for fd in fd_dir.iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) == want:
                    return True
    return False


class PeerProcess:
    """A peer subprocess whose stdout+stderr are collected by a thread, line by line."""

    def __init__(self, argv: Sequence[str], *, stdin: bool = False) -> None:
        self.argv = list(argv)
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def mark(self) -> int:
        """The number of lines printed so far (a start point for :meth:`wait_for`)."""
        with self._cond:
            return len(self.lines)

    def wait_for(self, predicate: str, timeout: float = TIMEOUT, *, start: int = 0) -> str:
        """Wait until a line containing ``predicate`` was printed; return that line.

        Only lines from index ``start`` on are searched.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = start
            while True:
                for line in self.lines[seen:]:
                    if predicate in line:
                        return line
                seen = len(self.lines)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    text_ = "\n".join(self.lines)
                    raise TimeoutError(f"{self.argv[0]} did not print {predicate!r}:\n{text_}")
                self._cond.wait(min(remaining, 0.5))

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def wait(self, timeout: float = 2 * TIMEOUT) -> int:
        """Wait for the process to exit by itself; returns its status."""
        rc = self.proc.wait(timeout=timeout)
        self._reader.join(timeout)
        return rc

    def stop(self) -> str:
        """Terminate (SIGTERM, then SIGKILL) if still running; return all its output."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=TIMEOUT)
        self._reader.join(TIMEOUT)
        return self.output


def start_listening_peer(argv_for_port: object, *, stdin: bool = False) -> tuple[PeerProcess, int]:
    """Start a server that takes its port on the command line; poll until it listens.

    ``argv_for_port(port) -> argv``. A port taken between our probe and the
    peer's bind makes the peer exit: retry with a fresh port (race-safe).
    """
    assert callable(argv_for_port)
    last = ""
    for _ in range(5):
        port = free_port()
        peer = PeerProcess(argv_for_port(port), stdin=stdin)
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if listening(port, peer.proc.pid):
                return peer, port
            if peer.proc.poll() is not None:
                break
            time.sleep(0.01)
        last = peer.stop()
    raise RuntimeError(f"peer never listened: {last}")


# -- our side -------------------------------------------------------------------


def our_client_context(
    *,
    versions: tuple[str, str],
    identity: Identity | None = None,
    alpn: Sequence[str] | None = None,
    cafile: Path = certs.CA,
) -> Context:
    """A verifying client ``Context`` pinned to ``versions`` (min, max)."""
    return Context(
        Role.CLIENT,
        cafile=cafile,
        cert=identity.cert if identity else None,
        key=identity.key if identity else None,
        min_version=versions[0],
        max_version=versions[1],
        alpn=list(alpn) if alpn else None,
    )


def our_server_context(
    *,
    versions: tuple[str, str],
    identity: Identity,
    mutual: bool,
    alpn: Sequence[str] | None = None,
) -> Context:
    """A server ``Context`` pinned to ``versions``, requiring a client cert when ``mutual``."""
    return Context(
        Role.SERVER,
        cert=identity.cert,
        key=identity.key,
        cafile=certs.CA,
        client_auth="require" if mutual else "none",
        min_version=versions[0],
        max_version=versions[1],
        alpn=list(alpn) if alpn else None,
    )


def context_for(cell: Cell, role: str) -> Context:
    """Our context for ``cell`` playing ``role``."""
    versions = (cell.version, cell.version)
    alpn = (CLIENT_ALPN if role == "client" else SERVER_ALPN) if cell.alpn == "alpn" else None
    if role == "client":
        return our_client_context(
            versions=versions, identity=cell.client_identity if cell.mutual else None, alpn=alpn
        )
    return our_server_context(
        versions=versions, identity=cell.server_identity, mutual=cell.mutual, alpn=alpn
    )


def read_line(conn: Connection) -> bytes:
    """``SSL_read_ex`` until a newline or close_notify."""
    buf = b""
    while b"\n" not in buf:
        try:
            buf += conn.read()
        except ZeroReturnError:
            break
    return buf


def ours_report(conn: Connection, received: bytes | None, *, expect_peer_cert: bool) -> EndReport:
    """Everything our ``Connection`` reports after a handshake."""
    verify = "none"
    if expect_peer_cert or conn.role is Role.CLIENT:
        has_cert = conn.peer_certificate is not None
        verify = "ok" if has_cert and conn.verify_result == X509_V_OK else conn.verify_message
    return EndReport(
        ok=True,
        version=conn.version,
        cipher=conn.cipher,
        alpn=conn.alpn_protocol,
        resumed=conn.session_reused,
        verify=verify,
        received=received.decode("ascii", "replace") if received is not None else None,
        peer_leaf_sha256=hashlib.sha256(conn.peer_certificate or b"").hexdigest()
        if conn.peer_certificate
        else None,
        verify_code=conn.verify_result,
    )


def ours_failure(conn: Connection, exc: SSLError | OSError) -> EndReport:
    return EndReport(
        ok=False,
        error=f"{type(exc).__name__}: {exc}",
        verify_code=getattr(exc, "verify_code", None) or conn.verify_result,
        alert_received=conn.alert_received,
        alert_sent=conn.alert_sent,
    )


def run_our_client(
    ctx: Context,
    port: int,
    connections: int,
    token: str,
    *,
    after_write: object = None,
    observe: Callable[[Connection], None] | None = None,
) -> list[EndReport]:
    """Connect ``connections`` times to 127.0.0.1:``port``, resuming from the second on.

    Each connection: handshake (SNI and host check ``localhost``), send one
    line, read the echo, take the session, ``SSL_shutdown``. ``after_write``
    (if callable) runs with the line sent, for peers that need prompting to
    answer. ``observe`` gets each new connection before its handshake (to
    attach message observers). Stops at the first failed handshake.
    """
    reports: list[EndReport] = []
    session = None
    for i in range(connections):
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            conn = Connection(ctx, sock=sock, server_name="localhost", session=session)
            if observe is not None:
                observe(conn)
            try:
                try:
                    conn.do_handshake()
                except SSLError as exc:
                    reports.append(ours_failure(conn, exc))
                    linger(sock)  # let our alert reach the peer before the close
                    break
                line = f"{token}-{i}\n".encode()
                try:
                    conn.write(line)
                    if callable(after_write):
                        after_write(line.decode())
                    got = read_line(conn)
                except (SSLError, OSError) as exc:
                    # TLS 1.3: the server judges our certificate after our
                    # handshake finished; its alert arrives with the data.
                    with contextlib.suppress(SSLError, OSError):
                        conn.read()
                    reports.append(ours_failure(conn, exc))
                    break
                reports.append(ours_report(conn, got, expect_peer_cert=True))
                session = conn.session
                with contextlib.suppress(SSLError, OSError):
                    conn.shutdown()
            finally:
                conn.close()
    return reports


def linger(sock: socket.socket) -> None:
    """Half-close and read until the peer closes, so the kernel never answers with RST.

    Closing a socket with unread bytes (say, the peer's close_notify) sends
    an RST that can destroy our echo before the peer has read it.
    """
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(TIMEOUT)
        while sock.recv(4096):
            pass


class OurServer:
    """Our server on 127.0.0.1:ephemeral, accepting in a thread.

    Each accepted connection: handshake, read one line (if the client sends
    one), echo it, ``SSL_shutdown``. Reports land in :attr:`reports`.
    """

    def __init__(self, ctx: Context, connections: int, *, expect_peer_cert: bool) -> None:
        self.ctx = ctx
        self.connections = connections
        self.expect_peer_cert = expect_peer_cert
        self.reports: list[EndReport] = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.listener.settimeout(TIMEOUT)
        self.port = int(self.listener.getsockname()[1])
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> OurServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.close()
        self.thread.join(2 * TIMEOUT)

    def _run(self) -> None:
        try:
            for _ in range(self.connections):
                sock, _addr = self.listener.accept()
                with sock:
                    sock.settimeout(TIMEOUT)
                    self._serve_one(sock)
        except OSError as exc:  # listener closed at teardown or accept timed out
            self.error = exc

    def _serve_one(self, sock: socket.socket) -> None:
        conn = Connection(self.ctx, sock=sock)
        try:
            try:
                conn.do_handshake()
            except SSLError as exc:
                self.reports.append(ours_failure(conn, exc))
                linger(sock)  # let our alert reach the peer before the close
                return
            try:
                got: bytes | None = read_line(conn)
            except SSLError:  # peer closed without close_notify and without data
                got = None
            if got:
                conn.write(got)
            self.reports.append(
                ours_report(conn, got or None, expect_peer_cert=self.expect_peer_cert)
            )
            with contextlib.suppress(SSLError, OSError):
                conn.shutdown()
            linger(sock)
        finally:
            conn.close()

    def join(self) -> list[EndReport]:
        self.thread.join(2 * TIMEOUT)
        return self.reports


# -- checks -----------------------------------------------------------------------


@dataclass
class PeerTraits:
    """What a peer can report: a False field means "this peer does not tell us"."""

    validates_chain: bool = True
    reports_version: bool = True
    reports_resumption: bool = True
    data_on_every_connection: bool = True


def check_exchanges(cell: Cell, exchanges: list[Exchange], traits: PeerTraits) -> None:
    """Assert what both ends report for every connection of ``cell``."""
    assert len(exchanges) == cell.connections, f"expected {cell.connections} connections"
    version = "TLSv1.3" if cell.version == "1.3" else "TLSv1.2"
    for i, ex in enumerate(exchanges):
        ours, peer = ex.ours, ex.peer
        where = f"connection {i + 1}/{cell.connections}"
        assert ours.ok, f"{where}: our side failed: {ours.error}"
        assert peer.ok, f"{where}: peer failed: {peer.error}"
        # version
        assert ours.version == version, where
        if traits.reports_version:
            assert peer.version == version, where
        # cipher: both ends name the same suite, of the right family for the key
        assert ours.cipher is not None
        assert peer.cipher == ours.cipher, f"{where}: ours {ours.cipher}, peer {peer.cipher}"
        if version == "TLSv1.2":
            family = "ECDHE-RSA-" if cell.key == "rsa" else "ECDHE-ECDSA-"
            assert ours.cipher.startswith(family), f"{where}: {ours.cipher}"
        else:
            assert ours.cipher.startswith("TLS_"), f"{where}: {ours.cipher}"
        # ALPN
        want_alpn = EXPECTED_ALPN if cell.alpn == "alpn" else None
        assert ours.alpn == want_alpn, f"{where}: our ALPN {ours.alpn!r}"
        assert peer.alpn == want_alpn, f"{where}: peer ALPN {peer.alpn!r}"
        # resumption
        want_resumed = i > 0
        assert ours.resumed is want_resumed, f"{where}: our session_reused {ours.resumed}"
        if traits.reports_resumption:
            assert peer.resumed is want_resumed, f"{where}: peer resumed {peer.resumed}"
        # verification on both ends
        our_is_client = cell.ours == "client"
        client_end, server_end = (ours, peer) if our_is_client else (peer, ours)
        _check_verify(client_end, is_ours=our_is_client, traits=traits, where=where)
        if cell.mutual:
            _check_verify(server_end, is_ours=not our_is_client, traits=traits, where=where)
        else:
            assert server_end.verify in ("none", None), f"{where}: server verify {server_end}"
        # leaf certificates actually received, where the end reports them
        for end, sent in ((client_end, cell.server_identity), (server_end, cell.client_identity)):
            if end is server_end and not cell.mutual:
                continue
            if end.peer_leaf_sha256 is not None and i == 0:
                assert end.peer_leaf_sha256 == leaf_sha256(sent), f"{where}: wrong leaf"
        # data round trip
        client_sent = f"{cell.token}-{i}\n"
        last = i == len(exchanges) - 1
        if last or traits.data_on_every_connection:
            assert server_end.received is not None, f"{where}: server got no data"
            assert server_end.received.rstrip("\n").endswith(f"-{i}")
            assert client_end.received is not None, f"{where}: client got no echo"
            assert client_end.received.strip() == server_end.received.strip(), where
            if our_is_client:
                assert ours.received == client_sent, where


def _check_verify(end: EndReport, *, is_ours: bool, traits: PeerTraits, where: str) -> None:
    if is_ours:
        assert end.verify == "ok", f"{where}: our verification: {end.verify}"
        assert end.verify_code == X509_V_OK
    elif traits.validates_chain:
        assert end.verify in ("ok", "resumed"), f"{where}: peer verification: {end.verify}"
    else:
        assert end.verify == "unchecked", f"{where}: peer verification: {end.verify}"


def run_exchanges(ours: list[EndReport], peer: list[EndReport]) -> list[Exchange]:
    """Pair up our reports with the peer's, connection by connection."""
    assert len(ours) == len(peer), f"ours {ours!r}\npeer {peer!r}"
    return [Exchange(o, p) for o, p in zip(ours, peer, strict=True)]


def check_negative(neg: Negative, ours: list[EndReport], peer_ok: bool, peer_text: str) -> None:
    """Assert that the expected end failed for the expected reason.

    ``ours`` holds our side's report(s); ``peer_ok`` whether the peer
    completed a handshake; ``peer_text`` its error output, shown on failure.
    """
    assert ours, "our side produced no report"
    first = ours[0]
    assert not first.ok, f"our side completed a {neg.kind} handshake"
    if neg.kind == "no-shared-version":
        # both ends fail; the server detects it and sends an alert (RFC 8446
        # asks for protocol_version; which one a peer sends is its choice)
        assert not peer_ok, f"peer completed a handshake without a shared version:\n{peer_text}"
        if neg.ours == "server":
            assert first.alert_sent == "protocol_version", first.error
        else:
            assert first.alert_received is not None, first.error
        return
    detector_is_us = (neg.verifier == "client") == (neg.ours == "client")
    if detector_is_us:
        want = {
            "wrong-ca": X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
            "wrong-host": X509_V_ERR_HOSTNAME_MISMATCH,
            "untrusted-client-cert": X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
        }[neg.kind]
        assert first.verify_code == want, f"verify code {first.verify_code}: {first.error}"
        assert first.alert_sent is not None, first.error
    else:
        # the peer detects it: it must not complete, and we must hear about it
        assert not peer_ok, f"peer accepted a {neg.kind} handshake:\n{peer_text}"
        error = (first.error or "").lower()
        # A TLS 1.3 client finishes before the server judges its certificate; the
        # server's alert and close can then meet our first write: OpenSSL 4.0
        # reports that write's EPIPE/ECONNRESET before reading the alert.
        closed = any(e in error for e in ("eof", "broken pipe", "connection reset"))
        assert first.alert_received is not None or closed, first.error


def describe_failure(report: EndReport | None) -> str:
    """One line for the report: what our side saw when a negative cell failed."""
    if report is None:
        return "our side made no connection"
    if report.ok:
        return "our side completed the handshake"
    parts = []
    if report.verify_code:
        parts.append(f"verify error {report.verify_code}")
    if report.alert_sent:
        parts.append(f"we sent alert {report.alert_sent}")
    if report.alert_received:
        parts.append(f"we received alert {report.alert_received}")
    if not parts:
        parts.append((report.error or "failed").split(";")[0][:120])
    return ", ".join(parts)


def peer_saw_alert(alert: str, text: str) -> bool:
    """True when a peer's error text names ``alert`` (``unknown_ca``).

    OpenSSL and the stdlib print ``tlsv1 alert unknown ca``, tlslite-ng
    ``unknown_ca``, gnutls-cli ``*** Received alert [48]: CA is unknown``.
    """
    low = text.lower()
    return alert in low or alert.replace("_", " ") in low or f"alert [{alert_code(alert)}]" in low


class SentRecords:
    """Record headers a connection sent (``SSL_set_msg_callback``, ``SSL3_RT_HEADER``)."""

    HEADER = 256

    def __init__(self) -> None:
        self.headers: list[bytes] = []

    def attach(self, conn: Connection) -> None:
        def on_message(_c: Connection, sent: bool, _v: int, ctype: int, data: bytes) -> None:
            if sent and ctype == self.HEADER:
                self.headers.append(data)

        conn.on_message = on_message

    @property
    def plaintext_alert(self) -> bool:
        """An alert went out as a plaintext record (content type 21, not 23)."""
        return any(h[:1] == b"\x15" for h in self.headers)


class ReceivedHandshakes:
    """Handshake message types each of our client connections received, in order.

    ``attach`` is an ``observe`` hook for :func:`run_our_client`: every new
    connection gets its own list (``SSL_set_msg_callback``, content type 22).
    """

    HANDSHAKE = 22
    CERTIFICATE = 11

    def __init__(self) -> None:
        self.per_connection: list[list[int]] = []

    def attach(self, conn: Connection) -> None:
        types: list[int] = []
        self.per_connection.append(types)

        def on_message(_c: Connection, sent: bool, _v: int, ctype: int, data: bytes) -> None:
            if not sent and ctype == self.HANDSHAKE and data:
                types.append(data[0])

        conn.on_message = on_message


def peer_argv_python(script: Path) -> list[str]:
    """``[venv python, script]``: tlslite runs with the interpreter running pytest."""
    return [sys.executable, str(script)]


def require_tool(name: str) -> str:
    """Path of ``name`` on PATH, or skip: the peer is really absent."""
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} not installed (Debian package gnutls-bin/openssl)")
    return found
