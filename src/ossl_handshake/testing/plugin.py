"""pytest fixtures for handshake tests (registered through the ``pytest11`` entry point).

Installing ``ossl-handshake`` makes these available in every test session.
Every name starts with ``ossl_``, so they do not collide with a project's own
fixtures (a project's ``client_context`` or ``memory_pair`` simply wins in its
own tests and the plugin's stay reachable under their prefixed names):

- ``ossl_pki``: the bundled test PKI (:mod:`ossl_handshake.certs`);
- ``ossl_client_context`` / ``ossl_server_context``: a client trusting the
  test CA and an ECDSA P-256 server, built once per session;
- ``ossl_memory_pair``: a fresh (client, server) pair of those two contexts on
  memory BIO pairs, closed after the test;
- ``ossl_tls_server``: a factory that starts a threaded TLS server on
  ``127.0.0.1`` with an ephemeral port and the configuration you choose,
  returns a :class:`TLSServer` (``.address``, ``.served``), and stops it
  cleanly at the end of the test;
- ``ossl_fault_proxy``: a factory of :class:`~ossl_handshake.proxy.FaultProxy`
  objects (a TCP man-in-the-middle that runs a ``Wire`` with your faults
  between two processes), closed at the end of the test;
- ``ossl_expect_handshake_failure``: the :func:`expect_handshake_failure`
  context manager, which fails the test unless the block raises the expected
  :class:`~ossl_handshake.errors.SSLError` (class, alert, reason, verify code).

The contexts come from :func:`make_client_context` and
:func:`make_server_context`; call those for a context with other settings on
the same bundled-PKI defaults.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest

from ossl_handshake import certs
from ossl_handshake.core.connection import Connection
from ossl_handshake.core.context import Context
from ossl_handshake.core.errors import SSLError, ZeroReturnError
from ossl_handshake.pair.driver import memory_pair as _memory_pair
from ossl_handshake.pair.result import SideResult
from ossl_handshake.proxy.proxy import FaultProxy
from ossl_handshake.tls.roles import Role

Handler = Callable[[Connection], None]


# -- contexts -------------------------------------------------------------------------


def make_server_context(identity: certs.Identity = certs.SERVER_ECDSA, **kw: Any) -> Context:
    """A server :class:`Context` with ``identity``'s chain and key, plus ``kw``.

    ``identity`` defaults to the bundled ECDSA P-256 server; when ``kw`` names a
    ``cert`` or ``key`` of its own, ``identity`` is not used.
    """
    if "cert" not in kw and "key" not in kw:
        kw["cert"], kw["key"] = identity.cert, identity.key
    return Context(Role.SERVER, **kw)


def make_client_context(**kw: Any) -> Context:
    """A verifying client :class:`Context` that trusts the bundled test CA, plus ``kw``."""
    kw.setdefault("cafile", certs.CA)
    return Context(Role.CLIENT, **kw)


@pytest.fixture(scope="session")
def ossl_pki() -> ModuleType:
    """The bundled test PKI, :mod:`ossl_handshake.certs` (``CA``, ``SERVER_ECDSA``, ...)."""
    return certs


@pytest.fixture(scope="session")
def ossl_server_context() -> Context:
    """A server :class:`Context` with the bundled ECDSA P-256 chain, built once per session."""
    return make_server_context()


@pytest.fixture(scope="session")
def ossl_client_context() -> Context:
    """A verifying client :class:`Context` trusting the bundled test CA, built once per session."""
    return make_client_context()


@pytest.fixture
def ossl_memory_pair(
    ossl_client_context: Context, ossl_server_context: Context
) -> Iterator[tuple[Connection, Connection]]:
    """A fresh ``(client, server)`` pair of ``ossl_client_context`` / ``ossl_server_context``.

    On memory BIO pairs, SNI and expected host ``localhost``, not yet
    handshaken; both are closed after the test.
    """
    client, server = _memory_pair(ossl_client_context, ossl_server_context, server_name="localhost")
    yield client, server
    client.close()
    server.close()


# -- threaded loopback server ---------------------------------------------------


def echo(conn: Connection) -> None:
    """The default handler: ``SSL_read_ex`` and write back until the peer closes."""
    while True:
        try:
            data = conn.read()
        except ZeroReturnError:  # close_notify: answer it
            with contextlib.suppress(SSLError, OSError):
                conn.shutdown()
            return
        conn.write(data)


@dataclass
class Served:
    """One connection the server accepted: its peer, handshake snapshot and error.

    ``result`` is the server side's :class:`SideResult` right after the
    handshake attempt (also when it failed); ``error`` the exception of the
    handshake or the handler (``None`` on a clean run).
    """

    peer: tuple[str, int]
    result: SideResult | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.result is not None and self.result.finished


@dataclass
class TLSServer:
    """A TLS server on a background thread; see the ``ossl_tls_server`` fixture.

    Each accepted connection runs in its own thread: a :class:`Connection` on
    the socket with ``timeout`` (poll-based waiting), ``do_handshake()``,
    then ``handler(conn)`` (default :func:`echo`), then close. ``served``
    lists a :class:`Served` per finished connection, in finishing order.
    """

    context: Context
    handler: Handler = echo
    timeout: float = 10.0
    host: str = "127.0.0.1"
    served: list[Served] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listener = socket.create_server((self.host, 0))
        self.port: int = self._listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._done = threading.Condition()
        self._active: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._acceptor = threading.Thread(target=self._accept_loop, name="tls_server", daemon=True)
        self._acceptor.start()

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` to connect to."""
        return self.host, self.port

    def _accept_loop(self) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self._listener, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping:
                for key, _ in sel.select():
                    if key.fileobj is self._wake_r or self._stopping:
                        return
                    try:
                        sock, peer = self._listener.accept()
                    except OSError:
                        continue
                    t = threading.Thread(
                        target=self._serve, args=(sock, peer), name="tls_server-conn", daemon=True
                    )
                    with self._done:
                        self._active.add(sock)
                        self._threads.append(t)
                    t.start()

    def _serve(self, sock: socket.socket, peer: tuple[str, int]) -> None:
        record = Served((peer[0], peer[1]))
        conn: Connection | None = None
        try:
            sock.settimeout(self.timeout)
            conn = Connection(self.context, Role.SERVER, sock=sock)
            try:
                conn.do_handshake()
            finally:
                record.result = SideResult.of(conn)
            self.handler(conn)
        except BaseException as exc:  # recorded for the test, never lost in the thread
            record.error = exc
        finally:
            if conn is not None:
                conn.close()
            with self._done:
                self._active.discard(sock)
                self.served.append(record)
                self._done.notify_all()
            sock.close()

    def wait(self, n: int = 1, timeout: float | None = None) -> list[Served]:
        """Block until ``n`` connections finished (``TimeoutError`` after ``timeout``)."""
        limit = self.timeout if timeout is None else timeout
        with self._done:
            if not self._done.wait_for(lambda: len(self.served) >= n, limit):
                raise TimeoutError(f"tls_server: {len(self.served)} of {n} connections finished")
            return list(self.served)

    def stop(self) -> None:
        """Stop accepting, cut open connections (their reads see EOF), join every thread."""
        if self._stopping:
            return
        self._stopping = True
        self._wake_w.send(b"x")
        self._acceptor.join(self.timeout)
        with self._done:
            for sock in self._active:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            threads = list(self._threads)
        for t in threads:
            t.join(self.timeout)
        self._listener.close()
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> TLSServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


TLSServerFactory = Callable[..., TLSServer]


@pytest.fixture
def ossl_tls_server(ossl_server_context: Context) -> Iterator[TLSServerFactory]:
    """A factory of loopback TLS servers, each stopped when the test ends.

    ``ossl_tls_server(context=None, *, handler=echo, timeout=10, **kw)`` starts
    a :class:`TLSServer` on ``127.0.0.1`` and an ephemeral port. ``context``
    defaults to ``ossl_server_context`` when there are no keywords, else to
    ``make_server_context(**kw)`` (the bundled ECDSA certificate unless ``cert``
    or ``key`` is given).
    """
    started: list[TLSServer] = []

    def start(
        context: Context | None = None,
        *,
        handler: Handler = echo,
        timeout: float = 10.0,
        **kw: Any,
    ) -> TLSServer:
        if context is None:
            context = make_server_context(**kw) if kw else ossl_server_context
        server = TLSServer(context, handler, timeout)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# -- expecting failures -------------------------------------------------------------


@dataclass
class FailureInfo:
    """Filled in by :func:`expect_handshake_failure` with the exception caught."""

    error: SSLError | None = None


@contextlib.contextmanager
def expect_handshake_failure(
    error: type[SSLError] = SSLError,
    *,
    alert: str | None = None,
    alert_sent: str | None = None,
    alert_received: str | None = None,
    reason: str | None = None,
    verify_code: int | None = None,
) -> Iterator[FailureInfo]:
    """Fail the test unless the block raises ``error`` matching every given detail.

    ``alert`` matches the alert this side sent *or* received (the alert names
    of :mod:`ossl_handshake.tls.names`, e.g. ``"bad_certificate"``);
    ``alert_sent`` / ``alert_received`` match one direction; ``reason`` must
    be one of the OpenSSL reason strings of the drained error queue;
    ``verify_code`` is the ``X509_V_ERR_*`` value. Other exceptions pass
    through untouched. The exception is available as ``info.error``.
    """
    info = FailureInfo()
    try:
        yield info
    except error as exc:
        info.error = exc
    else:
        pytest.fail(f"handshake succeeded; expected {error.__name__}", pytrace=False)
    got = info.error
    assert got is not None
    problems: list[str] = []
    if alert is not None and alert not in (got.alert_sent, got.alert_received):
        problems.append(
            f"alert {alert!r} neither sent ({got.alert_sent!r}) nor received"
            f" ({got.alert_received!r})"
        )
    if alert_sent is not None and got.alert_sent != alert_sent:
        problems.append(f"alert sent {got.alert_sent!r}, expected {alert_sent!r}")
    if alert_received is not None and got.alert_received != alert_received:
        problems.append(f"alert received {got.alert_received!r}, expected {alert_received!r}")
    if reason is not None and reason not in got.reasons:
        problems.append(f"reason {reason!r} not among {got.reasons!r}")
    if verify_code is not None and getattr(got, "verify_code", None) != verify_code:
        problems.append(
            f"verify code {getattr(got, 'verify_code', None)!r}, expected {verify_code}"
        )
    if problems:
        pytest.fail(f"{type(got).__name__} ({got}) does not match: " + "; ".join(problems))


@pytest.fixture(name="ossl_expect_handshake_failure")
def _expect_handshake_failure_fixture() -> Callable[..., Any]:
    """The :func:`expect_handshake_failure` context manager (no import needed in tests)."""
    return expect_handshake_failure


# -- fault proxy (between two processes) -----------------------------------------------


@pytest.fixture
def ossl_fault_proxy() -> Iterator[Callable[..., FaultProxy]]:
    """A factory of :class:`~ossl_handshake.proxy.FaultProxy`, each closed when the test ends.

    ``ossl_fault_proxy(connect, faults=[...], policy=..., timeout=...)`` takes
    the ``FaultProxy`` arguments, listens on ``127.0.0.1`` and an ephemeral
    port (``.address``/``.port``) and carries every connection through a
    fresh ``Wire``. At the end of the test the proxy is closed; an exception
    the proxy itself hit (a fault that could not apply) fails the test.
    Call ``proxy.check_fired()`` to fail a scenario whose fault missed.
    """
    started: list[FaultProxy] = []

    def start(connect: tuple[str, int] | str, **kw: Any) -> FaultProxy:
        proxy = FaultProxy(connect, **kw)
        started.append(proxy)
        return proxy

    yield start
    errors: list[BaseException] = []
    for proxy in started:
        proxy.close()
        errors += proxy.errors()
    if errors:
        pytest.fail(f"the fault proxy failed: {errors[0]!r}", pytrace=False)


__all__ = [
    "FailureInfo",
    "Served",
    "TLSServer",
    "TLSServerFactory",
    "echo",
    "expect_handshake_failure",
    "make_client_context",
    "make_server_context",
]
