"""One connection raced by several threads: close() against a call, and calls against calls.

The guard's rules (``core/guard.py``): one caller at a time (a second gets
:class:`~ossl_handshake.BusyError`), ``close()`` wakes a socket wait (it gets
:class:`~ossl_handshake.ClosedError`) and never frees the ``SSL`` under a call
in progress, and two connections held together are taken in a fixed order.
Each test here is a scenario that crashed, hung or returned a wrong result
before the guard. The stress loops are bounded by iteration count (never by
wall-clock time) and run with faulthandler on, so a segfault prints the stacks.
"""

from __future__ import annotations

import random
import select
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import ossl_handshake.core.connection as connection_mod
import ossl_handshake.core.transports as transports_mod
from ossl_handshake import (
    BusyError,
    CertificateVerifyError,
    ClosedError,
    Connection,
    Context,
    ProtocolError,
    Step,
    WantReadError,
    handshake,
    memory_pair,
)
from tests.test_sockets import Counter, LibProxy, run_in_thread, socket_handshake

pytestmark = pytest.mark.timeout(60)

#: Iterations of each stress loop (each one costs well under a millisecond of CPU
#: apart from the handshake flights it needs).
ROUNDS = 200


# -- helpers -------------------------------------------------------------------------


class _Poller:
    """A ``select.poll`` object that reports when someone starts waiting on it."""

    def __init__(self, entered: threading.Event) -> None:
        self._poll = select.poll()
        self._entered = entered

    def register(self, fd: int, mask: int) -> None:
        self._poll.register(fd, mask)

    def poll(self, timeout_ms: int) -> list[tuple[int, int]]:
        self._entered.set()
        return self._poll.poll(timeout_ms)


class _SelectProxy:
    """The ``select`` module as ``core/transports.py`` sees it, with a reporting poll()."""

    def __init__(self, entered: threading.Event) -> None:
        self._entered = entered

    def poll(self) -> _Poller:
        return _Poller(self._entered)

    def __getattr__(self, name: str) -> Any:
        return getattr(select, name)


@pytest.fixture
def poll_entered(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Set when a socket transport starts waiting in poll()."""
    entered = threading.Event()
    monkeypatch.setattr(transports_mod, "select", _SelectProxy(entered))
    return entered


@pytest.fixture(autouse=True)
def fast_switching() -> Iterator[None]:
    """Switch threads every 10 µs (not 5 ms): the races interleave at many more points."""
    saved = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(saved)


@pytest.fixture
def unix_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    with a, b:
        yield a, b


def _race(
    first: Callable[[], Any], second: Callable[[], Any], round_no: int = 0
) -> tuple[Any, Any]:
    """``first()`` and ``second()`` in two threads, released together by a barrier.

    Returns each one's result or the exception it raised. ``round_no`` varies
    the interleaving: which of the two runs on this thread (the one that
    leaves the barrier first) and how long the other spins before its call,
    so that over a loop the second call lands before, during and after the
    first one's libssl call.
    """
    start = threading.Barrier(2)
    spin = _spins[round_no % len(_spins)]

    def go(fn: Callable[[], Any], delay: int) -> Any:
        start.wait(10)
        for _ in range(delay):
            pass
        return fn()

    here_first = round_no % 2 == 1
    there, here = (second, first) if here_first else (first, second)
    t, out = run_in_thread(lambda: go(there, 0 if here_first else spin))
    try:
        mine: Any = go(here, spin if here_first else 0)
    except BaseException as exc:  # compared by the caller
        mine = exc
    t.join(20)
    assert not t.is_alive(), "the racing thread hung"
    return (mine, out[0]) if here_first else (out[0], mine)


#: Spin lengths (loop iterations, a few microseconds at most) tried in turn by _race.
_spins = [random.Random(7).randrange(0, 3000) for _ in range(37)]


def _retry_busy(fn: Callable[[], Any]) -> Any:
    """``fn()``, again while the other thread holds the connection (bounded)."""
    for _ in range(100_000):
        try:
            return fn()
        except BusyError:
            time.sleep(0)  # let the holder (waiting for the GIL) return
    raise AssertionError("the connection stayed busy")


# -- 1. close() while read() waits in poll -----------------------------------------


def test_close_from_another_thread_wakes_a_read_waiting_in_poll_with_closed_error(
    monkeypatch: pytest.MonkeyPatch,
    poll_entered: threading.Event,
    unix_pair: tuple[socket.socket, socket.socket],
    ossl_client_context: Context,
    ossl_server_context: Context,
) -> None:
    """Was a use-after-free: the woken read called SSL_read_ex on the freed SSL."""
    csock, ssock = unix_pair
    client, server = socket_handshake(ossl_client_context, ossl_server_context, csock, ssock)
    # 30 s timeout against the module's 60 s; the read must end at the wake,
    # which the join below gives 10 s.
    client.timeout = 30
    counter = Counter(connection_mod.lib.ossl_read)
    monkeypatch.setattr(connection_mod, "lib", LibProxy(connection_mod.lib, "ossl_read", counter))
    t, out = run_in_thread(lambda: client.read(100))
    assert poll_entered.wait(10), "the reader never waited in poll"
    client.close()
    t.join(10)
    assert not t.is_alive(), "the reader was not woken by close()"
    assert isinstance(out[0], ClosedError), out
    assert "closed while its client read waited" in str(out[0])
    assert counter.calls == 1  # no SSL_read_ex after the wake
    assert client.closed
    with pytest.raises(ClosedError):
        client.read(100)
    server.close()


@pytest.mark.timeout(10)
def test_read_after_close_on_a_socket_with_a_timeout_raises_closed_error(
    unix_pair: tuple[socket.socket, socket.socket],
    ossl_client_context: Context,
    ossl_server_context: Context,
) -> None:
    csock, ssock = unix_pair
    client, server = socket_handshake(ossl_client_context, ossl_server_context, csock, ssock)
    client.timeout = 30
    client.close()
    with pytest.raises(ClosedError):
        client.read(100)
    assert csock.fileno() >= 0  # the socket is left to its owner
    server.close()


def test_close_racing_reads_waiting_in_poll_never_crashes(
    unix_pair: tuple[socket.socket, socket.socket],
    ossl_client_context: Context,
) -> None:
    """close() lands before, during or after the poll wait; the read always ends closed."""
    csock, _silent = unix_pair
    csock.settimeout(30)
    for i in range(50):
        # read() on a fresh client starts the handshake; the silent peer never answers.
        client = Connection(ossl_client_context, sock=csock, server_name="localhost")
        reader, closer = _race(lambda c=client: c.read(100), client.close, i)
        assert closer is None
        assert isinstance(reader, ClosedError), reader
        assert client.closed


# -- 2. close() racing a failing step ------------------------------------------------


def _garbage_client(ctx: Context, server_ctx: Context) -> Connection:
    """A client whose next step fails: its ClientHello was answered with garbage."""
    client, server = memory_pair(ctx, server_ctx, server_name="localhost")
    server.close()
    assert client.step().wants
    client.bio_write(b"\x16\x03\x03\x00\x05garbage" + bytes(range(64)))
    return client


def _wrong_host_client(ctx: Context, server_ctx: Context) -> Connection:
    """A client whose next step fails verification: the server flight is in its BIO."""
    client, server = memory_pair(ctx, server_ctx, server_name="other.example")
    assert client.step().wants
    client.transfer_to(server)
    assert server.step().wants
    server.transfer_to(client)
    server.close()
    return client


@pytest.mark.parametrize(
    ("make", "check"),
    [
        pytest.param(
            _garbage_client,
            lambda step: isinstance(step.error, ProtocolError),
            id="garbage",
        ),
        pytest.param(
            _wrong_host_client,
            lambda step: (
                isinstance(step.error, CertificateVerifyError)
                and step.error.verify_code == 62
                and step.error.verify_result == 62
            ),
            id="wrong-host",
        ),
    ],
)
def test_close_racing_a_failing_step_reports_the_failure_or_closed_never_crashes(
    make: Callable[[Context, Context], Connection],
    check: Callable[[Step], bool],
    ossl_client_context: Context,
    ossl_server_context: Context,
) -> None:
    outcomes = {"failed": 0, "closed": 0}
    for i in range(ROUNDS):
        client = make(ossl_client_context, ossl_server_context)
        stepped, closed = _race(client.step, client.close, i)
        assert closed is None
        if isinstance(stepped, Step):
            # The step ran to its end before the free: its capture is whole.
            assert stepped.failed, stepped
            assert check(stepped), repr(stepped.error)
            assert stepped.state and stepped.state != "before SSL initialization"
            outcomes["failed"] += 1
        else:
            assert isinstance(stepped, (ClosedError, BusyError)), repr(stepped)
            outcomes["closed"] += 1
        assert client.closed
        with pytest.raises(ClosedError):
            client.step()
    assert sum(outcomes.values()) == ROUNDS
    print(outcomes)


# -- 3. transfer_to / bio_pending racing the peer's close() --------------------------


def test_transfer_to_and_bio_pending_racing_peer_close_raise_only_closed_or_busy(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    outcomes: dict[str, int] = {}
    for i in range(ROUNDS):
        client, server = memory_pair(
            ossl_client_context, ossl_server_context, server_name="localhost"
        )
        assert client.step().wants  # a ClientHello is pending

        def hammer(client: Connection = client, server: Connection = server) -> str:
            try:
                for _ in range(20):
                    client.transfer_to(server)
                    _ = server.bio_pending
                    _ = server.bio_write_guarantee
                    server.step()
                    server.transfer_to(client)
            except (ClosedError, BusyError) as exc:
                return type(exc).__name__
            return "finished"

        result, closed = _race(hammer, server.close, i)
        assert closed is None
        assert isinstance(result, str), repr(result)
        outcomes[result] = outcomes.get(result, 0) + 1
        assert server.closed and not client.closed
        with pytest.raises(ClosedError):
            client.transfer_to(server)
        with pytest.raises(ClosedError):
            _ = server.bio_pending
        assert client.bio_pending >= 0  # the survivor is intact
        client.close()
    print(outcomes)


# -- 4. transfer_to while another thread reads the same connection -------------------


def test_transfer_to_while_another_thread_reads_the_same_connection_keeps_every_byte(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    """Busy or correct, never corrupt: the old code took read()'s buffer outside the guard."""
    client, server = memory_pair(ossl_client_context, ossl_server_context, server_name="localhost")
    handshake(client, server)
    chunks = [bytes([i % 251]) * 4096 + i.to_bytes(4, "big") for i in range(100)]
    expected = b"".join(chunks)
    got = bytearray()
    stop = threading.Event()
    busy = {"read": 0, "transfer": 0}

    def reader() -> None:
        while len(got) < len(expected):
            try:
                got.extend(client.read(65536))
            except WantReadError:
                time.sleep(0)
            except BusyError:
                busy["read"] += 1
                time.sleep(0)

    def mover() -> None:  # the other direction, on the reading connection
        while not stop.is_set():
            try:
                client.transfer_to(server)
            except BusyError:
                busy["transfer"] += 1
            time.sleep(0)  # outside the guard: the others get a turn

    threads = [threading.Thread(target=f, daemon=True) for f in (reader, mover)]
    for t in threads:
        t.start()
    try:
        for chunk in chunks:
            assert _retry_busy(lambda c=chunk: server.write(c)) == len(chunk)
            for _ in range(100_000):  # into the client's BIO as the reader empties it
                try:
                    server.transfer_to(client)
                    if server.bio_pending == 0:
                        break
                except BusyError:
                    pass
                time.sleep(0)
        threads[0].join(30)
        assert not threads[0].is_alive(), "the reader never got every byte"
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert bytes(got) == expected
    print(busy)
    client.close()
    server.close()


def test_first_big_read_racing_transfer_to_on_the_same_connection_moves_every_byte(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    """The first read(65536) of a connection racing its transfer_to, on fresh pairs.

    Old: transfer_to took the connection's scratch buffer (16 KiB) before its
    lock and its size after, so a read(65536) that grew the buffer in between
    made the move copy up to 64 KiB into the 16 KiB one.
    """
    payload = bytes(range(256)) * 160  # 40 KiB: more than one 16 KiB buffer pending
    outcomes = {"moved": 0, "busy": 0}
    for i in range(ROUNDS // 2):
        client, server = memory_pair(
            ossl_client_context, ossl_server_context, server_name="localhost", bio_size=1 << 17
        )
        handshake(client, server)
        assert client.write(payload) == len(payload)
        pending = client.bio_pending
        assert pending > 16384

        def big_read(client: Connection = client) -> Any:
            try:
                return client.read(65536)
            except (WantReadError, BusyError) as exc:
                return exc

        def move(client: Connection = client, server: Connection = server) -> Any:
            try:
                return client.transfer_to(server)
            except BusyError as exc:
                return exc

        moved, read = _race(move, big_read, i)
        assert isinstance(read, (WantReadError, BusyError)), repr(read)
        if isinstance(moved, BusyError):
            outcomes["busy"] += 1
            moved = client.transfer_to(server)
        else:
            outcomes["moved"] += 1
        assert moved == pending
        got = bytearray()
        while len(got) < len(payload):
            got.extend(server.read(65536))
        assert bytes(got) == payload
        client.close()
        server.close()
    print(outcomes)


# -- 5. opposite transfers between the same two connections --------------------------


def test_opposite_transfers_between_the_same_two_connections_never_deadlock(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    """a.transfer_to(b) and b.transfer_to(a) at once: the guards are taken in one order."""
    client, server = memory_pair(ossl_client_context, ossl_server_context, server_name="localhost")
    handshake(client, server)
    n = 300
    start = threading.Barrier(2)

    def pump(src: Connection, dst: Connection, tag: bytes) -> int:
        start.wait(10)
        moved = 0
        for i in range(n):
            _retry_busy(lambda i=i: src.write(tag + b"%04d;" % i))
            moved += _retry_busy(lambda: src.transfer_to(dst))
        return moved

    t, out = run_in_thread(lambda: pump(server, client, b"s"))
    moved_here = pump(client, server, b"c")
    t.join(30)
    assert not t.is_alive(), "deadlock: the opposite transfer never returned"
    assert isinstance(out[0], int), out
    assert moved_here > 0 and out[0] > 0
    client.transfer_to(server)
    server.transfer_to(client)

    def read_all(conn: Connection) -> bytes:
        data = bytearray()
        while True:
            try:
                data.extend(conn.read(65536))
            except WantReadError:
                return bytes(data)

    assert read_all(server) == b"".join(b"c%04d;" % i for i in range(n))
    assert read_all(client) == b"".join(b"s%04d;" % i for i in range(n))
    client.close()
    server.close()
