"""Connect and accept BIOs on non-blocking sockets: WANT_CONNECT and WANT_ACCEPT.

OpenSSL makes the TCP connection itself (``BIO_s_connect``) or accepts it
(``BIO_s_accept``); while the connect is in progress or no client is waiting,
the handshake step returns ``SSL_ERROR_WANT_CONNECT`` / ``SSL_ERROR_WANT_ACCEPT``.
A connect is held in progress deterministically on loopback by a listener
whose accept queue is full: the kernel drops the SYN until the queue drains.
"""

from __future__ import annotations

import errno
import select
import socket
from collections.abc import Callable, Iterator

import pytest

from ossl_handshake import (
    ClosedError,
    Connection,
    ErrorCode,
    Step,
    SyscallError,
    WantAcceptError,
    WantConnectError,
)
from ossl_handshake.testing.plugin import make_client_context, make_server_context
from tests._peers import TIMEOUT

pytestmark = pytest.mark.timeout(60)


def wait_fd(step: Step, fd: int) -> None:
    """Wait (bounded) until ``fd`` is ready for what ``step`` wants."""
    writable = step.error_code in (ErrorCode.WANT_CONNECT, ErrorCode.WANT_WRITE)
    ready = select.select([] if writable else [fd], [fd] if writable else [], [], TIMEOUT)
    assert ready != ([], [], []), f"fd {fd} not ready for {step.error_code.name}"


def run_both(client: Connection, server: Connection, fds: Callable[[], list[int]]) -> list[Step]:
    """Step both sides (each on its own socket) until both finish; every step, in order.

    ``fds()`` gives the sockets to wait on briefly between rounds.
    """
    steps: list[Step] = []
    for _ in range(200):
        for conn in (client, server):
            if not conn.is_init_finished:
                st = conn.step()
                assert not st.failed, st.error
                steps.append(st)
        if client.is_init_finished and server.is_init_finished:
            return steps
        select.select([fd for fd in fds() if fd >= 0], [], [], 0.05)  # the other side's bytes
    raise AssertionError("the handshake did not finish in 200 rounds")


@pytest.fixture
def full_listener() -> Iterator[tuple[socket.socket, list[socket.socket]]]:
    """A listener (backlog 0) whose accept queue is full: a new connect stays in progress.

    Connections are made until one does not complete (the kernel drops its
    SYN); that probe is closed, the completed ones are kept in the queue.
    """
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    fillers: list[socket.socket] = []
    try:
        for _ in range(16):
            probe = socket.socket()
            probe.setblocking(False)
            probe.connect_ex(listener.getsockname())
            if not select.select([], [probe], [], 1.0)[1]:
                probe.close()
                break
            fillers.append(probe)
        else:
            pytest.fail("the listener's accept queue never filled")
        yield listener, fillers
    finally:
        for f in fillers:
            f.close()
        listener.close()


def test_connect_bio_wants_connect_until_the_listener_accepts(
    full_listener: tuple[socket.socket, list[socket.socket]],
) -> None:
    listener, fillers = full_listener
    port = listener.getsockname()[1]
    client = Connection(make_client_context(), bio_size=None, server_name="localhost")
    transport = client.connect_bio("127.0.0.1", port)

    st = client.step()

    assert st.error_code is ErrorCode.WANT_CONNECT
    assert isinstance(st.error, WantConnectError) and st.wants
    assert transport.fd >= 0
    assert select.select([], [transport.fd], [], 0)[1] == []  # still connecting
    # Drain the queue: the kernel takes the client's next SYN retransmission.
    listener.settimeout(TIMEOUT)
    for _ in fillers:
        listener.accept()[0].close()
    wait_fd(st, transport.fd)
    st = client.step()
    assert st.error_code is ErrorCode.WANT_READ  # connected: the ClientHello is out
    sock, _ = listener.accept()
    sock.setblocking(False)
    server = Connection(make_server_context(), sock=sock)

    steps = run_both(client, server, lambda: [transport.fd, sock.fileno()])

    assert client.version == server.version is not None
    assert ErrorCode.WANT_CONNECT not in {s.error_code for s in steps}


def test_accept_bio_wants_accept_until_a_client_connects() -> None:
    server = Connection(make_server_context(), bio_size=None)
    acceptor = server.accept_bio("127.0.0.1", 0)
    assert 0 < acceptor.port < 65536
    assert acceptor.accepted_fd == -1

    st = server.step()

    assert st.error_code is ErrorCode.WANT_ACCEPT
    assert isinstance(st.error, WantAcceptError) and st.wants
    assert select.select([acceptor.fd], [], [], 0)[0] == []  # nobody is connecting
    client = Connection(make_client_context(), bio_size=None, server_name="localhost")
    connector = client.connect_bio("127.0.0.1", acceptor.port)

    steps = run_both(client, server, lambda: [connector.fd, acceptor.accepted_fd])

    assert client.version == server.version is not None
    assert acceptor.accepted_fd >= 0
    assert server.step().done  # the accepted connection carries the finished handshake
    codes = [s.error_code for s in steps if s.role is server.role]
    assert ErrorCode.WANT_ACCEPT not in codes[codes.index(ErrorCode.WANT_READ) :]


def test_a_refused_connect_is_a_syscall_error_naming_the_errno() -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]  # nothing listens there once closed
    client = Connection(make_client_context(), bio_size=None, server_name="localhost")
    transport = client.connect_bio("127.0.0.1", port)

    st = client.step()
    if st.error_code is ErrorCode.WANT_CONNECT:
        wait_fd(st, transport.fd)
        st = client.step()

    assert st.failed and isinstance(st.error, SyscallError)
    assert errno.ECONNREFUSED in {r.reason_code for r in st.error.errors}


def test_bio_transports_refuse_bad_input() -> None:
    ctx = make_client_context()
    memory = Connection(ctx)
    with pytest.raises(ValueError, match="already has"):
        memory.connect_bio("127.0.0.1", 443)
    bare = Connection(ctx, bio_size=None)
    with pytest.raises(ValueError):
        bare.connect_bio("127.0.0.1", 0)
    with pytest.raises(ValueError):
        bare.connect_bio("127.0.0.1", 70000)
    with pytest.raises(ValueError):
        bare.connect_bio("local\0host", 443)
    with pytest.raises(TypeError):
        bare.connect_bio(b"127.0.0.1", 443)  # type: ignore[arg-type]
    transport = bare.connect_bio("127.0.0.1", 443)  # nothing happens until the first step
    with pytest.raises(ValueError, match="already has a connect BIO"):
        bare.accept_bio()
    bare.close()  # SSL_free frees the BIO: reading its fd now is refused, not a use-after-free
    with pytest.raises(ClosedError):
        transport.fd  # noqa: B018
