"""Socket timeouts, sockets closed under a connection, and signals in the middle of calls.

- The timeout is the socket's own, read live (``sock.gettimeout()``) and
  validated when set through ``conn.timeout``.
- A socket closed under a connection, its descriptor number reused by a new
  socket, is detected before libssl writes to that number.
- A signal handler that raises leaves no connection "in use" for good; one
  that returns during a blocking socket call is retried (PEP 475).

No wall-clock assertion: busy loops are caught by counting C calls
(tests/test_sockets.py's Counter/LibProxy), hangs by the timeouts. The
SIGALRM tests use ``ITIMER_REAL`` themselves, so their pytest timeout runs
in a thread (``method="thread"``) instead of on SIGALRM; the handler in place
before them is put back afterwards (not SIG_DFL: the test process may have
inherited other dispositions, e.g. SIGINT ignored in a background job).
"""

from __future__ import annotations

import math
import random
import select
import signal
import socket
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest

import ossl_handshake.core.connection as connection_mod
import ossl_handshake.core.transports as transports_mod
from ossl_handshake import (
    BusyError,
    ClosedError,
    Connection,
    Context,
    TransportClosedError,
    WantReadError,
    memory_pair,
)
from tests.test_sockets import Counter, LibProxy, run_in_thread

pytestmark = pytest.mark.timeout(30)

_MAX_POLL_MS = 2**31 - 1


@pytest.fixture
def unix_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    with a, b:
        yield a, b


class _MainThreadCounter(Counter):
    """Counts only the calls made by the thread that created it."""

    def __init__(self, fn: Any) -> None:
        super().__init__(fn)
        self._ident = threading.get_ident()

    def __call__(self, *args: Any) -> int:
        if threading.get_ident() == self._ident:
            self.calls += 1
        return self.fn(*args)


def _count(monkeypatch: pytest.MonkeyPatch, name: str, counter: Counter) -> Counter:
    monkeypatch.setattr(connection_mod, "lib", LibProxy(connection_mod.lib, name, counter))
    return counter


# -- 6. the timeout: live, assignable, validated ----------------------------------------


@pytest.mark.timeout(10)
def test_timeout_set_on_a_blocking_socket_makes_a_silent_peer_handshake_time_out(
    monkeypatch: pytest.MonkeyPatch,
    unix_pair: tuple[socket.socket, socket.socket],
    ossl_client_context: Context,
) -> None:
    """Old: the socket's mode at attach time (blocking) won, the handshake hung."""
    mine, silent = unix_pair
    conn = Connection(ossl_client_context, sock=mine, server_name="localhost")
    assert conn.timeout is None
    conn.timeout = 1.0
    assert mine.gettimeout() == 1.0  # set on the socket itself
    counter = _count(
        monkeypatch, "ossl_do_handshake", Counter(connection_mod.lib.ossl_do_handshake)
    )
    with pytest.raises(TimeoutError, match=r"client handshake timed out after 1\.0 s"):
        conn.do_handshake()
    assert 1 <= counter.calls <= 3  # waited in poll, did not spin
    assert silent.recv(5)[:1] == b"\x16"  # the ClientHello went out first
    conn.close()


def test_timeout_follows_settimeout_on_the_socket_after_attaching(
    unix_pair: tuple[socket.socket, socket.socket], ossl_client_context: Context
) -> None:
    mine, _ = unix_pair
    mine.settimeout(5)
    conn = Connection(ossl_client_context, sock=mine, server_name="localhost")
    assert conn.timeout == 5
    mine.settimeout(None)
    assert conn.timeout is None
    mine.settimeout(2.5)
    assert conn.timeout == 2.5
    conn.timeout = 0
    assert mine.gettimeout() == 0.0 and conn.timeout == 0.0
    conn.timeout = None
    assert mine.gettimeout() is None
    conn.close()
    with pytest.raises(ClosedError):
        conn.timeout = 1.0


@pytest.mark.parametrize(
    ("value", "error"),
    [
        pytest.param(math.nan, ValueError, id="nan"),
        pytest.param(math.inf, ValueError, id="inf"),
        pytest.param(-math.inf, ValueError, id="-inf"),
        pytest.param(-1, ValueError, id="-1"),
        pytest.param(-0.001, ValueError, id="-0.001"),
        pytest.param("5", TypeError, id="str"),
        pytest.param(True, TypeError, id="True"),
        pytest.param(b"1", TypeError, id="bytes"),
    ],
)
def test_invalid_timeouts_are_refused_and_leave_the_socket_alone(
    value: object,
    error: type[Exception],
    unix_pair: tuple[socket.socket, socket.socket],
    ossl_client_context: Context,
) -> None:
    mine, _ = unix_pair
    mine.settimeout(7)
    conn = Connection(ossl_client_context, sock=mine, server_name="localhost")
    with pytest.raises(error, match="timeout"):
        conn.timeout = value  # type: ignore[assignment]
    assert mine.gettimeout() == 7
    conn.close()


def test_timeout_on_a_memory_connection_is_refused(ossl_client_context: Context) -> None:
    conn = Connection(ossl_client_context)
    assert conn.timeout is None
    with pytest.raises(ValueError, match="socket"):
        conn.timeout = 1.0
    conn.close()


class _RecordingPoller:
    def __init__(self, waits: list[int], entered: threading.Event) -> None:
        self._poll = select.poll()
        self._waits = waits
        self._entered = entered

    def register(self, fd: int, mask: int) -> None:
        self._poll.register(fd, mask)

    def poll(self, timeout_ms: int) -> list[tuple[int, int]]:
        self._waits.append(timeout_ms)
        self._entered.set()
        return self._poll.poll(timeout_ms)


class _RecordingSelect:
    def __init__(self) -> None:
        self.waits: list[int] = []
        self.entered = threading.Event()

    def poll(self) -> _RecordingPoller:
        return _RecordingPoller(self.waits, self.entered)

    def __getattr__(self, name: str) -> Any:
        return getattr(select, name)


def test_a_timeout_of_three_million_seconds_waits_with_a_clamped_poll(
    monkeypatch: pytest.MonkeyPatch,
    unix_pair: tuple[socket.socket, socket.socket],
    ossl_client_context: Context,
    ossl_server_context: Context,
) -> None:
    """3e6 s is 3e9 ms, more than poll() takes (a C int): clamped, no OverflowError."""
    recorder = _RecordingSelect()
    monkeypatch.setattr(transports_mod, "select", recorder)
    csock, ssock = unix_pair
    client = Connection(ossl_client_context, sock=csock, server_name="localhost")
    client.timeout = 3e6
    assert client.timeout == 3e6
    server = Connection(ossl_server_context, sock=ssock)

    def serve() -> None:
        assert recorder.entered.wait(10), "the client never waited"
        server.do_handshake()

    t, out = run_in_thread(serve)
    client.do_handshake()
    t.join(10)
    assert not t.is_alive() and out == [None], out
    assert recorder.waits and all(ms == _MAX_POLL_MS for ms in recorder.waits), recorder.waits
    assert client.is_init_finished and client.verify_result == 0
    client.close()
    server.close()


# -- 7. a socket closed under the connection, its number reused ------------------------


def test_socket_closed_and_its_fd_reused_is_refused_and_the_new_socket_gets_nothing(
    ossl_client_context: Context,
) -> None:
    a, b = socket.socketpair()
    with b:
        conn = Connection(ossl_client_context, sock=a, server_name="localhost")
        fd = a.fileno()
        a.close()  # the caller closes the socket; the connection still holds the object
        c, d = socket.socketpair()  # the lowest free numbers: fd is one of them
        with c, d:
            assert fd in (c.fileno(), d.fileno()), "the fd number was not reused"
            new, new_peer = (c, d) if c.fileno() == fd else (d, c)
            with pytest.raises(TransportClosedError, match=rf"fd {fd}"):
                conn.step()
            with pytest.raises(TransportClosedError):
                conn.do_handshake()
            new_peer.settimeout(0.2)
            with pytest.raises(TimeoutError):  # socket.timeout: not one byte arrived
                new_peer.recv(100)
            conn.close()
            assert new.fileno() == fd  # and the new socket was not closed either
            new.sendall(b"still mine")
            assert new_peer.recv(100) == b"still mine"


def test_socket_closed_mid_handshake_is_refused_on_the_next_step(
    ossl_client_context: Context,
) -> None:
    a, b = socket.socketpair()
    with b:
        a.setblocking(False)
        conn = Connection(ossl_client_context, sock=a, server_name="localhost")
        assert conn.step().wants  # ClientHello sent, waiting for the server
        assert b.recv(5)[:1] == b"\x16"
        a.close()
        with pytest.raises(TransportClosedError):
            conn.step()
        assert isinstance(TransportClosedError("x"), ClosedError)
        conn.close()


# -- 11. signals ----------------------------------------------------------------------


@pytest.fixture
def sigalrm() -> Iterator[None]:
    """Puts back the SIGALRM handler in place before the test, with ITIMER_REAL off."""
    saved = signal.getsignal(signal.SIGALRM)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, saved)


class Tick(Exception):
    """Raised by the SIGALRM handler in the middle of whatever the main thread runs."""


def _busy_loop(client: Connection, server: Connection) -> None:
    """Handshake by steps, then data both ways, until interrupted (bounded)."""
    for _ in range(50):
        client.step()
        client.transfer_to(server)
        server.step()
        server.transfer_to(client)
        if client.is_init_finished and server.is_init_finished:
            break
    for i in range(2000):
        client.write(b"%05d" % i)
        client.transfer_to(server)
        assert server.read(100)
        server.write(b"ok")
        server.transfer_to(client)
        client.read(100)
        _ = client.pending, server.bio_pending, client.state


@pytest.mark.timeout(60, method="thread")
@pytest.mark.usefixtures("sigalrm")
def test_signal_handler_raising_mid_call_never_leaves_a_connection_in_use(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    """Old: ~2.5 % of interrupted loops left the lock held; every later call was BusyError."""
    armed = [False]

    def handler(signum: int, frame: FrameType | None) -> None:
        if armed[0]:
            armed[0] = False
            raise Tick

    signal.signal(signal.SIGALRM, handler)
    rng = random.Random(20240611)
    interrupted = rounds = 0
    while interrupted < 400 and rounds < 1500:
        rounds += 1
        client, server = memory_pair(
            ossl_client_context, ossl_server_context, server_name="localhost"
        )
        try:
            try:
                armed[0] = True
                signal.setitimer(signal.ITIMER_REAL, rng.uniform(0.00002, 0.003))
                _busy_loop(client, server)
            finally:
                armed[0] = False
                signal.setitimer(signal.ITIMER_REAL, 0)
        except Tick:
            interrupted += 1
        for conn in (client, server):
            try:
                _ = conn.state, conn.pending  # a guarded read: refused if the lock stayed held
            except BusyError as exc:
                pytest.fail(f"round {rounds}: {conn!r} wedged in use after the signal: {exc}")
            conn.close()
            assert conn.closed
            with pytest.raises(ClosedError):
                conn.step()
    print(f"{interrupted} interrupted calls in {rounds} rounds")
    assert interrupted >= 300, (interrupted, rounds)


@pytest.mark.timeout(30, method="thread")
@pytest.mark.usefixtures("sigalrm")
def test_signal_handler_returning_during_a_blocking_socket_handshake_is_retried(
    monkeypatch: pytest.MonkeyPatch,
    unix_pair: tuple[socket.socket, socket.socket],
    ossl_client_context: Context,
    ossl_server_context: Context,
) -> None:
    """Old: recv's EINTR surfaced as WantReadError from a blocking do_handshake()."""
    ticks = [0]
    seen = threading.Condition()

    def handler(signum: int, frame: FrameType | None) -> None:
        with seen:
            ticks[0] += 1
            seen.notify_all()

    signal.signal(signal.SIGALRM, handler)
    csock, ssock = unix_pair  # both blocking
    client = Connection(ossl_client_context, sock=csock, server_name="localhost")
    server = Connection(ossl_server_context, sock=ssock)
    counter = _count(
        monkeypatch, "ossl_do_handshake", _MainThreadCounter(connection_mod.lib.ossl_do_handshake)
    )

    def serve() -> None:
        # SIGALRM goes to the main thread, which is the one blocked in recv().
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        ready, _, _ = select.select([ssock], [], [], 10)
        assert ready, "no ClientHello"
        # The client now waits for our answer; let a few signals interrupt it first.
        with seen:
            start = ticks[0]
            assert seen.wait_for(lambda: ticks[0] >= start + 3, 10), "no signal arrived"
        server.do_handshake()

    t, out = run_in_thread(serve)
    signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
    try:
        client.do_handshake()  # blocks in recv without the GIL; EINTR is retried
    except WantReadError as exc:  # pragma: no cover - the regression
        pytest.fail(f"EINTR surfaced instead of being retried: {exc!r}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    t.join(10)
    assert not t.is_alive() and out == [None], out
    assert client.is_init_finished and server.is_init_finished
    assert client.verify_result == 0
    assert counter.calls >= 2  # the first call was interrupted (EINTR) and retried
    client.close()
    server.close()
