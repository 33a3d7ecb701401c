"""Connections on real sockets (``SSL_set_fd``): blocking, with a timeout, non-blocking.

Both peers run in this process, in two threads, over TCP on 127.0.0.1
(ephemeral ports) or ``socket.socketpair()``. Every test has a timeout; no
test asserts wall-clock times: busy loops are caught by counting the
``SSL_do_handshake``/``SSL_read_ex`` calls the binding makes.
"""

from __future__ import annotations

import errno
import itertools
import select
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import ossl_handshake.core.connection as connection_mod
from ossl_handshake import (
    Connection,
    Context,
    ErrorCode,
    Role,
    SSLError,
    Step,
    SyscallError,
    UnexpectedEOFError,
    WantReadError,
    WantWriteError,
    ZeroReturnError,
    certs,
)

pytestmark = pytest.mark.timeout(30)

VERSIONS = ["1.2", "1.3"]


@pytest.fixture(scope="module")
def server_ctx() -> Context:
    return Context(Role.SERVER, cert=certs.SERVER_ECDSA.cert, key=certs.SERVER_ECDSA.key)


@pytest.fixture(scope="module")
def clients() -> dict[str, Context]:
    return {v: Context(Role.CLIENT, cafile=certs.CA, max_version=v) for v in VERSIONS}


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(client, server) ends of one TCP connection on 127.0.0.1."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=10)
        client.settimeout(None)
        server, _ = listener.accept()
    with client, server:
        yield client, server


@pytest.fixture
def unix_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    with a, b:
        yield a, b


class Counter:
    """Counts calls to a function of the connection module (a C entry point)."""

    def __init__(self, fn: Callable[..., int]) -> None:
        self.fn = fn
        self.calls = 0

    def __call__(self, *args: Any) -> int:
        self.calls += 1
        return self.fn(*args)


class LibProxy:
    """``lib`` with one function replaced, for counting calls made through ``lib.X``."""

    def __init__(self, lib: Any, name: str, counter: Counter) -> None:
        self._lib = lib
        self._name = name
        self._counter = counter

    def __getattr__(self, attr: str) -> Any:
        if attr == self._name:
            return self._counter
        return getattr(self._lib, attr)


def run_in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Start ``fn`` in a thread; the list receives its result or exception."""
    out: list[Any] = []

    def target() -> None:
        try:
            out.append(fn())
        except BaseException as exc:  # handed back to the test thread
            out.append(exc)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, out


def joined(t: threading.Thread, out: list[Any]) -> Any:
    t.join(timeout=20)
    assert not t.is_alive(), "peer thread did not finish"
    if isinstance(out[0], BaseException):
        raise out[0]
    return out[0]


def socket_handshake(
    client_ctx: Context, server_ctx: Context, csock: socket.socket, ssock: socket.socket
) -> tuple[Connection, Connection]:
    """Both ends on their sockets; the server handshakes in a thread, the client here."""
    server = Connection(server_ctx, sock=ssock)
    client = Connection(client_ctx, sock=csock, server_name="localhost")
    t, out = run_in_thread(server.do_handshake)
    client.do_handshake()
    joined(t, out)
    return client, server


def exchange_and_close(client: Connection, server: Connection) -> None:
    """Application data both ways, then a full close_notify exchange."""

    def serve() -> bytes:
        data = server.read(100)
        server.write(data.upper())
        with pytest.raises(ZeroReturnError):
            server.read(100)
        assert server.shutdown() is True  # theirs already arrived
        return data

    t, out = run_in_thread(serve)
    assert client.write(b"ping over tls") == 13
    assert client.read(100) == b"PING OVER TLS"
    assert client.shutdown() is False  # ours sent, theirs not yet read
    assert client.shutdown() is True
    assert joined(t, out) == b"ping over tls"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kind", ["tcp", "socketpair"])
def test_blocking_client_and_server_threads_handshake_and_exchange_data(
    kind: str,
    version: str,
    request: pytest.FixtureRequest,
    clients: dict[str, Context],
    server_ctx: Context,
) -> None:
    csock, ssock = request.getfixturevalue("tcp_pair" if kind == "tcp" else "unix_pair")
    client, server = socket_handshake(clients[version], server_ctx, csock, ssock)
    assert client.version == server.version == f"TLSv{version}"
    assert client.verify_result == 0
    assert client.cipher == server.cipher
    exchange_and_close(client, server)


def test_sockets_with_timeouts_handshake_exchange_and_shut_down(
    tcp_pair: tuple[socket.socket, socket.socket], clients: dict[str, Context], server_ctx: Context
) -> None:
    csock, ssock = tcp_pair
    csock.settimeout(10)
    ssock.settimeout(10)
    server = Connection(server_ctx, sock=ssock)
    client = Connection(clients["1.3"], sock=csock, server_name="localhost")
    assert csock.gettimeout() == 10  # the caller's setting is left alone
    t, out = run_in_thread(server.do_handshake)
    client.do_handshake()
    joined(t, out)
    # shutdown() on a timeout socket waits for the peer's close_notify
    # instead of surfacing WANT_READ.
    exchange_and_close(client, server)


def test_do_handshake_on_a_timeout_socket_reports_every_step_to_on_step(
    tcp_pair: tuple[socket.socket, socket.socket], clients: dict[str, Context], server_ctx: Context
) -> None:
    csock, ssock = tcp_pair
    csock.settimeout(10)
    server = Connection(server_ctx, sock=ssock)
    client = Connection(clients["1.3"], sock=csock, server_name="localhost")
    seen: list[tuple[Step, str]] = []
    t, out = run_in_thread(server.do_handshake)
    client.do_handshake(on_step=lambda step, before: seen.append((step, before)))
    joined(t, out)
    assert seen[0][1] == "before SSL initialization"
    assert [s.error_code for s, _ in seen[:-1]] == [ErrorCode.WANT_READ] * (len(seen) - 1)
    assert seen[-1][0].done and seen[-1][0].state == client.state
    for (prev, _), (_, before) in itertools.pairwise(seen):
        assert before == prev.state  # each step starts where the last one left off


def test_connection_keeps_its_socket_alive(clients: dict[str, Context]) -> None:
    a, b = socket.socketpair()
    with b:
        conn = Connection(clients["1.3"], sock=a, server_name="localhost")
        del a
        assert conn.sock is not None and conn.sock.fileno() >= 0
        conn.close()


@pytest.mark.parametrize("role", [Role.CLIENT, Role.SERVER])
def test_handshake_against_silent_peer_times_out_without_spinning(
    role: Role,
    monkeypatch: pytest.MonkeyPatch,
    unix_pair: tuple[socket.socket, socket.socket],
    clients: dict[str, Context],
    server_ctx: Context,
) -> None:
    counter = Counter(connection_mod.lib.ossl_do_handshake)
    monkeypatch.setattr(
        connection_mod, "lib", LibProxy(connection_mod.lib, "ossl_do_handshake", counter)
    )
    mine, _silent = unix_pair
    mine.settimeout(0.3)
    ctx = clients["1.3"] if role is Role.CLIENT else server_ctx
    conn = Connection(ctx, sock=mine, server_name="localhost" if role is Role.CLIENT else None)
    with pytest.raises(TimeoutError, match=rf"{role.value} handshake timed out after 0\.3 s"):
        conn.do_handshake()
    # One call before waiting, perhaps one after a spurious wake-up; a busy
    # loop would make thousands.
    assert 1 <= counter.calls <= 3


def test_read_on_socket_with_timeout_times_out_without_spinning(
    monkeypatch: pytest.MonkeyPatch,
    unix_pair: tuple[socket.socket, socket.socket],
    clients: dict[str, Context],
    server_ctx: Context,
) -> None:
    csock, ssock = unix_pair
    client, _server = socket_handshake(clients["1.2"], server_ctx, csock, ssock)
    csock.settimeout(0.3)  # O_NONBLOCK underneath
    client.timeout = 0.3  # read from the socket when attached; assignable later
    counter = Counter(connection_mod.lib.ossl_read)
    monkeypatch.setattr(connection_mod, "lib", LibProxy(connection_mod.lib, "ossl_read", counter))
    with pytest.raises(TimeoutError, match="client read timed out"):
        client.read(10)
    assert 1 <= counter.calls <= 3


@pytest.mark.parametrize("version", VERSIONS)
def test_non_blocking_sockets_surface_want_errors_and_a_select_loop_completes(
    version: str,
    tcp_pair: tuple[socket.socket, socket.socket],
    clients: dict[str, Context],
    server_ctx: Context,
) -> None:
    csock, ssock = tcp_pair
    csock.setblocking(False)
    ssock.setblocking(False)
    client = Connection(clients[version], sock=csock, server_name="localhost")
    server = Connection(server_ctx, sock=ssock)
    with pytest.raises(WantReadError) as info:
        server.do_handshake()  # nothing sent yet
    assert (info.value.ret, info.value.code) == (-1, ErrorCode.WANT_READ)
    wants: dict[Connection, ErrorCode | None] = {client: None, server: None}
    seen: set[type[SSLError]] = set()
    for _ in range(100):
        for conn in (client, server):
            if wants[conn] is ErrorCode.NONE:
                continue
            try:
                conn.do_handshake()
                wants[conn] = ErrorCode.NONE
            except (WantReadError, WantWriteError) as exc:
                seen.add(type(exc))
                wants[conn] = exc.code
        if all(w is ErrorCode.NONE for w in wants.values()):
            break
        rd = [c.sock for c, w in wants.items() if w is ErrorCode.WANT_READ]
        wr = [c.sock for c, w in wants.items() if w is ErrorCode.WANT_WRITE]
        assert select.select(rd, wr, [], 10) != ([], [], []), "select loop stalled"
    assert client.is_init_finished and server.is_init_finished
    assert WantReadError in seen
    assert client.version == f"TLSv{version}"


def test_non_blocking_write_surfaces_want_write_when_the_socket_is_full(
    unix_pair: tuple[socket.socket, socket.socket], clients: dict[str, Context], server_ctx: Context
) -> None:
    csock, ssock = unix_pair
    client, _server = socket_handshake(clients["1.3"], server_ctx, csock, ssock)
    csock.setblocking(False)
    client.timeout = 0.0  # non-blocking: WANT_* surface to the caller
    chunk = b"x" * 16384
    with pytest.raises(WantWriteError) as info:
        for _ in range(10_000):  # the server never reads: the socket buffer fills
            client.write(chunk)
    assert info.value.code is ErrorCode.WANT_WRITE
    assert info.value.operation == "SSL_write_ex"


def test_blocking_handshake_releases_the_gil(
    unix_pair: tuple[socket.socket, socket.socket], clients: dict[str, Context]
) -> None:
    mine, silent = unix_pair
    client = Connection(clients["1.3"], sock=mine, server_name="localhost")
    counted = 0

    def count_then_hang_up() -> None:
        # Pure-Python work: it can only run while the handshake thread is
        # blocked in libssl without the GIL. Then close the silent end so
        # the blocked SSL_do_handshake returns.
        nonlocal counted
        silent.recv(4096)  # the ClientHello arrived: the client now waits in C
        for _ in range(200_000):
            counted += 1
        silent.shutdown(socket.SHUT_RDWR)

    t, out = run_in_thread(count_then_hang_up)
    with pytest.raises(UnexpectedEOFError):
        client.do_handshake()
    joined(t, out)
    assert counted == 200_000


@pytest.mark.parametrize("version", VERSIONS)
def test_connection_reset_mid_handshake_is_syscall_error_econnreset(
    version: str, tcp_pair: tuple[socket.socket, socket.socket], clients: dict[str, Context]
) -> None:
    csock, ssock = tcp_pair
    client = Connection(clients[version], sock=csock, server_name="localhost")

    def reset() -> None:
        ssock.recv(4096)  # wait for the ClientHello
        # SO_LINGER with a zero timeout makes close() send RST, not FIN.
        ssock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        ssock.close()

    t, out = run_in_thread(reset)
    with pytest.raises(SyscallError) as info:
        client.do_handshake()
    joined(t, out)
    exc = info.value
    # OpenSSL 3.0 reports the failed recv() as SSL_ERROR_SYSCALL with ret -1
    # and the socket's errno (not as SSL_ERROR_SSL): ECONNRESET, empty queue.
    assert (exc.ret, exc.code, exc.errno) == (-1, ErrorCode.SYSCALL, errno.ECONNRESET)
    assert exc.errors == ()
    assert "errno 104: Connection reset by peer" in str(exc)
    assert client.step().error is exc  # the failure is remembered


def test_shutdown_waiting_for_a_silent_peers_close_notify_times_out_without_spinning(
    monkeypatch: pytest.MonkeyPatch,
    unix_pair: tuple[socket.socket, socket.socket],
    clients: dict[str, Context],
    server_ctx: Context,
) -> None:
    csock, ssock = unix_pair
    client, _server = socket_handshake(clients["1.3"], server_ctx, csock, ssock)
    csock.settimeout(0.3)
    client.timeout = 0.3
    assert client.shutdown() is False  # close_notify sent; the server never answers
    counter = Counter(connection_mod.lib.ossl_shutdown)
    monkeypatch.setattr(
        connection_mod, "lib", LibProxy(connection_mod.lib, "ossl_shutdown", counter)
    )
    with pytest.raises(TimeoutError, match=r"client shutdown timed out after 0\.3 s"):
        client.shutdown()
    assert 1 <= counter.calls <= 3
