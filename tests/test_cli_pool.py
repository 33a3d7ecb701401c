"""The server's worker pool (``cli/pool.py``): N workers serve N clients at once, reused.

As a process: ``ossl-handshake server --workers N`` with N stdlib ``ssl``
clients held in the middle of their handshakes (each has the server's whole
flight and holds back its Finished), so every one of them is being served at
the same moment. In process: the pool over a real listening socket numbers
connections in accept order, serves them on its N threads (not a thread per
connection), reports a failed accept once and keeps a worker whose ``serve``
raised. Every wait is bounded.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator

import pytest

from ossl_handshake import certs
from ossl_handshake.cli.main import EXIT_IO, EXIT_OK
from ossl_handshake.cli.pool import AcceptPool
from tests._peers import TIMEOUT, CliServer, cli, handshakes, run

pytestmark = pytest.mark.timeout(60)


class HeldClient:
    """A stdlib TLS 1.3 client over a socket that stops before sending its Finished."""

    def __init__(self, port: int) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(certs.CA)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")

    def hold(self) -> None:
        """Send the ClientHello, take the server's flight; the Finished stays here."""
        while True:
            try:
                self.tls.do_handshake()
                return  # done on our side: the Finished waits in self.outgoing
            except ssl.SSLWantReadError:
                self.sock.sendall(self.outgoing.read())
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("server closed during the handshake") from None
                self.incoming.write(data)

    def finish(self) -> None:
        """Send the Finished, read to the server's close_notify or EOF, close."""
        self.sock.sendall(self.outgoing.read())
        while data := self.sock.recv(65536):
            self.incoming.write(data)
            try:
                if not self.tls.read(65536):
                    break  # the server's close_notify (SSLObject reads it as b"")
            except ssl.SSLWantReadError:
                continue  # tickets only so far
            except ssl.SSLZeroReturnError:
                break
        self.sock.close()


@pytest.mark.parametrize("workers", [2, 3])
def test_n_workers_serve_n_clients_held_mid_handshake_at_once(workers: int) -> None:
    server = CliServer("--accept", str(workers), "--workers", str(workers), "--timeout", "20")
    held = [HeldClient(server.port) for _ in range(workers)]
    try:
        for c in held:
            c.hold()  # the server answered this one while every earlier one is held
        for c in held:
            c.finish()
    finally:
        for c in held:
            c.sock.close()
    rc, out, err = server.finish()
    lines = handshakes(out)
    assert rc == EXIT_OK, err
    assert sorted(line["index"] for line in lines) == list(range(workers))
    assert all(line["outcome"] == "ok" and line["finished"] for line in lines), lines
    assert {line["version"] for line in lines} == {"TLSv1.3"}


def test_clients_stalled_on_every_worker_hold_the_next_one_only_until_the_deadline() -> None:
    server = CliServer("--accept", "3", "--workers", "2", "--deadline", "1", "--timeout", "20")
    stalled = [socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)]
    stalled.append(socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT))
    try:
        # Both workers hold a silent client; this one waits in the backlog.
        rc, _, err = run(cli("client", "--connect", f"127.0.0.1:{server.port}"))
    finally:
        for s in stalled:
            s.close()
    assert rc == EXIT_OK, err
    src, sout, _ = server.finish()
    lines = sorted(handshakes(sout), key=lambda line: line["index"])
    assert [line["index"] for line in lines] == [0, 1, 2]
    for cut in lines[:2]:
        assert cut["error"]["class"] == "DeadlineExceeded"
        assert cut["error"]["phase"] == "handshake"
    assert lines[2]["outcome"] == "ok"
    assert src == EXIT_IO


# ---- the pool in process, over a real listening socket -------------------------------------


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket() as lsock:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(8)
        lsock.settimeout(TIMEOUT)
        yield lsock


class Served:
    """What ``serve`` saw: index → (client port, worker thread); one event per index."""

    def __init__(self, count: int) -> None:
        self.seen: dict[int, tuple[int, str]] = {}
        self.events = [threading.Event() for _ in range(count)]

    def __call__(self, sock: socket.socket, index: int, addr: tuple[str, int]) -> None:
        with sock:
            self.seen[index] = (addr[1], threading.current_thread().name)
        self.events[index].set()


def _run(pool: AcceptPool) -> threading.Thread:
    t = threading.Thread(target=pool.run, daemon=True)
    t.start()
    return t


def _no_failure(index: int, exc: BaseException) -> None:
    raise AssertionError(f"unexpected failure of connection {index}: {exc!r}")


def test_pool_numbers_connections_in_accept_order_on_its_own_threads(
    listener: socket.socket,
) -> None:
    served = Served(5)
    pool = AcceptPool(
        listener, accept=5, workers=2, serve=served, failed=_no_failure, crashed=_no_failure
    )
    runner = _run(pool)
    ports = []
    for i in range(5):
        with socket.create_connection(listener.getsockname(), timeout=TIMEOUT) as c:
            ports.append(c.getsockname()[1])
            assert served.events[i].wait(TIMEOUT)
    runner.join(TIMEOUT)
    assert not runner.is_alive()
    assert [served.seen[i][0] for i in range(5)] == ports
    assert {name for _, name in served.seen.values()} <= {"worker-0", "worker-1"}


def test_a_failed_accept_is_reported_once_and_stops_every_worker(
    listener: socket.socket,
) -> None:
    listener.settimeout(1.0)
    served = Served(1)
    failures: list[tuple[int, BaseException]] = []
    pool = AcceptPool(
        listener,
        accept=3,
        workers=4,
        serve=served,
        failed=lambda i, exc: failures.append((i, exc)),
        crashed=_no_failure,
    )
    runner = _run(pool)
    with socket.create_connection(listener.getsockname(), timeout=TIMEOUT):
        assert served.events[0].wait(TIMEOUT)
    runner.join(TIMEOUT)
    assert not runner.is_alive()
    assert len(failures) == 1
    index, exc = failures[0]
    assert index == 1
    assert isinstance(exc, TimeoutError)


def test_a_worker_whose_serve_raised_stays_and_serves_the_next(
    listener: socket.socket, capsys: pytest.CaptureFixture[str]
) -> None:
    served = Served(2)
    crashes: list[tuple[int, Exception]] = []

    def serve(sock: socket.socket, index: int, addr: tuple[str, int]) -> None:
        if index == 0:
            sock.close()
            served.events[0].set()
            raise RuntimeError("bug in serve")
        served(sock, index, addr)

    pool = AcceptPool(
        listener,
        accept=2,
        workers=1,
        serve=serve,
        failed=_no_failure,
        crashed=lambda i, exc: crashes.append((i, exc)),
    )
    runner = _run(pool)
    for i in range(2):
        with socket.create_connection(listener.getsockname(), timeout=TIMEOUT):
            assert served.events[i].wait(TIMEOUT)
    runner.join(TIMEOUT)
    assert not runner.is_alive()
    assert [(i, str(exc)) for i, exc in crashes] == [(0, "bug in serve")]
    assert served.seen[1][1] == "worker-0"
    assert "RuntimeError: bug in serve" in capsys.readouterr().err


def test_pool_refuses_no_workers(listener: socket.socket) -> None:
    with pytest.raises(ValueError, match="workers"):
        AcceptPool(
            listener, accept=1, workers=0, serve=Served(1), failed=_no_failure, crashed=_no_failure
        )
