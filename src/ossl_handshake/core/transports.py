"""What carries a connection's records: a memory BIO pair, a shared pair, or a socket.

The SSL is the protocol engine; a transport only decides where its bytes go
and how a caller waits for more. Every method that touches a BIO runs inside
the owning connection's guard (``Connection`` calls them from
``Guard.run``); a transport never frees anything a call may still use
(docs/architecture.md, "Ownership and guards").

- :class:`MemoryTransport`: the connection's own BIO pair; the SSL holds one
  half, Python reads and writes the other (``bio_read``/``bio_write``).
- :class:`SharedPairTransport`: two connections on one BIO pair (``join``);
  bytes never reach Python.
- :class:`SocketTransport`: ``SSL_set_fd`` on a stream socket; a timeout is
  honoured with poll, and a ``close()`` from another thread wakes the wait.
- :class:`VisibleSocketTransport`: the socket's visible mode
  (``Connection(ctx, sock=s, visible=True)``): the SSL gets a memory BIO
  pair and Python pumps the bytes between it and the socket through a
  :class:`~ossl_handshake.wire.Wire`, so every flight is recorded (traces,
  ladders, pcap, the wire's record view, its faults).

A datagram transport (DTLS) belongs here too, beside the socket one: it will
differ in how it waits (``DTLSv1_get_timeout``) and in its BIO.
"""

from __future__ import annotations

import contextlib
import errno as _errno
import math
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ossl_handshake._native import ffi, lib
from ossl_handshake.core.errors import (
    BusyError,
    ClosedError,
    ErrorCode,
    SSLError,
    SyscallError,
    TransportClosedError,
    ensure,
)
from ossl_handshake.core.inputs import c_int, check_timeout
from ossl_handshake.tls.roles import Role
from ossl_handshake.wire.wire import Endpoint, Tap, Wire

if TYPE_CHECKING:
    from ossl_handshake.core.errors import SSLError as _SSLError

_NULL = ffi.NULL
#: Largest BIO pair buffer accepted (bytes per direction).
MAX_BIO_SIZE = 1 << 30
#: poll() takes an int of milliseconds; longer waits are made of several polls.
_MAX_POLL_MS = 2**31 - 1


class Transport:
    """No transport yet (``bio_size=None``, or an adopted SSL): the SSL's own BIOs, if any."""

    kind = "none"
    #: The network half of a memory BIO pair (NULL for other transports).
    net: Any = _NULL

    def check(self) -> None:
        """Raise if the transport went away under the connection."""

    def deadline(self) -> float | None:
        """When a call that started now must give up (None: never, or not ours to wait)."""
        return None

    def interrupted(self, sys_errno: int) -> bool:
        """True when a retryable result only means a signal interrupted a blocking call."""
        return False

    def wait(self, code: ErrorCode, deadline: float, what: str, closed: Any) -> None:
        raise AssertionError("only socket transports wait")  # pragma: no cover

    def wake(self) -> None:
        """Wake a thread waiting on this transport (the connection is closing)."""

    def release(self) -> None:
        """Free what the transport owns; the SSL is being freed (called under the guard)."""

    def pull(self, conn: Endpoint) -> None:
        """Take bytes that already arrived without waiting (visible mode only)."""

    def describe(self) -> str:
        return "no transport"


class MemoryTransport(Transport):
    """The connection's own BIO pair (``ossl_memory_pair``, ``SSL_set_bio``).

    The pair is ours (``glue/pipe.c``): ``BIO_new_bio_pair``'s semantics, with
    each direction's buffer allocated on first write and freed once drained,
    so an idle connection holds no BIO buffer memory.
    """

    kind = "memory"

    def __init__(self, ssl: Any, size: int) -> None:
        c_int(size, "bio_size", 0, MAX_BIO_SIZE)
        pair = ffi.new("BIO *[2]")
        ensure(
            lib.ossl_memory_pair,
            pair,
            size,
            pair + 1,
            size,
            raising=SSLError,
            operation="ossl_memory_pair",
        )
        lib.SSL_set_bio(ssl, pair[0], pair[0])
        self.net = pair[1]

    @classmethod
    def of_net(cls, net: Any) -> MemoryTransport:
        """Our half of a BIO pair made in C with its SSL (``ossl_open``)."""
        self = cls.__new__(cls)
        self.net = net
        return self

    def read(self, n: int) -> bytes:
        """``BIO_read`` up to ``n`` (all with -1) of the bytes the SSL wrote."""
        avail = int(lib.BIO_ctrl_pending(self.net))
        if n < 0 or n > avail:
            n = avail
        if n == 0:
            return b""
        buf = ffi.new("char[]", n)
        got = lib.BIO_read(self.net, buf, n)
        return bytes(ffi.buffer(buf, got)) if got > 0 else b""

    def write(self, view: memoryview) -> int:
        """``BIO_write`` as much of ``view`` as the pair has room for."""
        room = int(lib.BIO_ctrl_get_write_guarantee(self.net))
        n = min(view.nbytes, room)
        if n == 0:
            return 0
        put = lib.BIO_write(self.net, ffi.from_buffer(view), n)
        return max(int(put), 0)

    def release(self) -> None:
        net, self.net = self.net, _NULL
        if net != _NULL:
            lib.BIO_free(net)

    def describe(self) -> str:
        return "a memory BIO pair"


class SharedPairTransport(Transport):
    """One BIO pair shared with a peer connection (:func:`~ossl_handshake.join`)."""

    kind = "direct"

    def describe(self) -> str:
        return "a shared BIO pair (direct mode)"


class SocketTransport(Transport):
    """``SSL_set_fd`` on a stream socket the caller owns.

    The timeout is the socket's own (``sock.gettimeout()``, changed with
    ``settimeout``): None blocks in C without the GIL (a signal whose handler
    returns is retried, PEP 475); 0.0 surfaces ``WANT_*``; a positive timeout
    waits with poll between calls and raises ``TimeoutError``. The socket
    object is held, and its descriptor number is checked before each call: a
    closed socket, or one whose number now belongs to another, is refused
    with :class:`~ossl_handshake.TransportClosedError` instead of sending the
    handshake to whatever socket got the number.
    """

    kind = "socket"
    _wake_fds: tuple[int, int] | None = None

    def __init__(self, sock: socket.socket) -> None:
        if not isinstance(sock, socket.socket):
            raise TypeError(f"sock must be a socket.socket, not {type(sock).__name__}")
        if sock.type != socket.SOCK_STREAM:
            raise ValueError(
                "TLS runs over stream sockets (SOCK_STREAM); DTLS is not supported yet"
            )
        fd = sock.fileno()
        if fd < 0:
            raise TransportClosedError("socket is closed")
        self.sock: socket.socket | None = sock
        self.fd = fd

    def attach(self, ssl: Any) -> None:
        ensure(lib.SSL_set_fd, ssl, self.fd, raising=SSLError, operation="SSL_set_fd")

    @property
    def timeout(self) -> float | None:
        return self.sock.gettimeout() if self.sock is not None else None

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        seconds = check_timeout(value)
        if self.sock is None:
            raise ClosedError("connection is closed")
        self.sock.settimeout(seconds)

    def check(self) -> None:
        sock = self.sock
        if sock is None or sock.fileno() != self.fd:
            raise TransportClosedError(
                f"the socket under this connection (fd {self.fd}) was closed or detached; "
                "its descriptor number may now belong to another socket"
            )

    def deadline(self) -> float | None:
        timeout = self.timeout
        if not timeout:  # None: blocking in C; 0.0: the caller's own select loop
            return None
        return time.monotonic() + timeout

    def interrupted(self, sys_errno: int) -> bool:
        return sys_errno == _errno.EINTR and self.timeout is None

    def _wake_fd(self) -> int:
        if self._wake_fds is None:
            r, w = os.pipe()
            os.set_blocking(r, False)
            os.set_blocking(w, False)
            self._wake_fds = (r, w)
        return self._wake_fds[0]

    def wait(self, code: ErrorCode, deadline: float, what: str, closed: Any) -> None:
        """poll until the socket is ready for ``code``'s direction, the deadline, or a close."""
        self.check()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{what} timed out after {self.timeout} s")
        wake = self._wake_fd()
        if closed():
            raise ClosedError(f"connection was closed while its {what} waited")
        poller = select.poll()
        poller.register(self.fd, select.POLLOUT if code is ErrorCode.WANT_WRITE else select.POLLIN)
        poller.register(wake, select.POLLIN)
        events = poller.poll(min(_MAX_POLL_MS, max(1, math.ceil(remaining * 1000))))
        if closed() or any(fd == wake for fd, _ in events):
            raise ClosedError(f"connection was closed while its {what} waited")
        if not events and time.monotonic() >= deadline:
            raise TimeoutError(f"{what} timed out after {self.timeout} s")

    def wake(self) -> None:
        if self._wake_fds is not None:
            with contextlib.suppress(OSError):
                os.write(self._wake_fds[1], b"\0")

    def release(self) -> None:
        # The wake pipe outlives the SSL: a thread woken by close() may still
        # be returning from poll on it. It is closed with this object.
        self.sock = None

    def __del__(self) -> None:
        fds, self._wake_fds = self._wake_fds, None
        if fds is not None:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def describe(self) -> str:
        return "a socket"


class _RemoteEnd:
    """The peer process as the wire sees it: bytes received from the socket, bytes to send."""

    def __init__(self, role: Role) -> None:
        self.role = role
        self.inbox = bytearray()
        self.outbox = bytearray()
        self.shut = False

    def bio_read(self, n: int = -1) -> bytes:
        data = bytes(self.inbox)
        self.inbox.clear()
        return data

    def bio_write(self, data: bytes | bytearray | memoryview) -> int:
        self.outbox += data
        return len(data)

    def bio_shutdown_wr(self) -> None:
        self.shut = True  # a CloseAfter fault: shut our sending side once the outbox is sent


#: Bytes taken from the socket per read.
_RECV_SIZE = 65536


def _socket_error(message: str, operation: str, exc: OSError) -> SyscallError:
    """A failed ``send``/``recv`` of the visible pump, as libssl would report a syscall."""
    return SyscallError(
        f"{message}: {exc}", errno=exc.errno or 0, error_code=ErrorCode.SYSCALL, operation=operation
    )


class VisibleSocketTransport(SocketTransport):
    """A socket's visible mode: the SSL on a memory BIO pair, Python pumping to the socket.

    Every byte passes through :attr:`wire` (a :class:`~ossl_handshake.wire.Wire`,
    by default one without faults): what our SSL writes is taken from the
    pair and sent, what arrives is given to the SSL. The socket's timeout
    keeps its meaning (None: wait for the peer as long as it takes; 0.0:
    ``WantReadError``/``WantWriteError`` surface for the caller's select
    loop; a positive timeout: ``TimeoutError``); waits are polls on the
    socket and the transport's wake pipe, outside the connection's guard, so
    a ``close()`` from another thread always wakes them (ClosedError), on
    blocking sockets too. A signal whose handler returns is retried (PEP
    475); one whose handler raises propagates with the connection usable.
    After every libssl call the SSL's output is sent at once, so a fatal
    alert reaches the peer before the error is raised.
    """

    kind = "visible"

    def __init__(self, sock: socket.socket, role: Role, wire: Wire | None, bio_size: int) -> None:
        super().__init__(sock)
        c_int(bio_size, "bio_size", 0, MAX_BIO_SIZE)
        if wire is not None and not isinstance(wire, Wire):
            raise TypeError(f"wire must be a Wire, not {type(wire).__name__}")
        self.wire = wire if wire is not None else Wire()
        self.remote = _RemoteEnd(role.peer)
        self.memory: MemoryTransport | None = None
        self.on_transfer: Tap | None = None
        self._bio_size = bio_size
        self._eof = False
        self._eof_given = False
        self._wire_tap = self.wire.tap
        self.wire.tap = self._tap
        # One pumping thread at a time: the waits are outside the guard, so
        # the guard's one-caller rule is kept here for them.
        self._pumping = threading.Lock()

    def _claim(self) -> None:
        if not self._pumping.acquire(blocking=False):
            raise BusyError("the connection is in use by another thread (visible socket mode)")

    def attach(self, ssl: Any) -> None:
        self.memory = MemoryTransport(ssl, self._bio_size)

    @property
    def net(self) -> Any:
        return self.memory.net if self.memory is not None else _NULL

    def _tap(self, sender: Role, data: bytes) -> None:
        for tap in (self._wire_tap, self.on_transfer):
            if tap is not None:
                tap(sender, data)

    def interrupted(self, sys_errno: int) -> bool:
        return False  # libssl never waits on the socket in this mode

    def release(self) -> None:
        memory, self.memory = self.memory, None
        if memory is not None:
            memory.release()
        super().release()

    def describe(self) -> str:
        return "a socket in visible mode"

    # -- the pump (outside the guard: every BIO access goes through the endpoint) --

    def retry(
        self,
        conn: Endpoint,
        what: str,
        call: Callable[[], tuple[Any, _SSLError | None]],
        after: Callable[[Any], None] | None,
        closed: Callable[[], bool],
    ) -> Any:
        """The connection's retry loop for this mode: call, send the output, feed the input."""
        self._claim()
        try:
            deadline = self.deadline()
            while True:
                value, exc = call()
                if after is not None:
                    after(value)
                self.send(conn, deadline, what, closed)
                if exc is None:
                    return value
                if exc.error_code is ErrorCode.WANT_READ and self.receive(
                    conn, deadline, what, closed
                ):
                    continue
                if exc.error_code is ErrorCode.WANT_WRITE and not self.remote.outbox:
                    continue  # the pair was full and has been emptied
                raise exc
        finally:
            self._pumping.release()

    def send(self, conn: Endpoint, deadline: float | None, what: str, closed: Any) -> None:
        """Move what the SSL wrote through the wire into the socket (``send``)."""
        self.wire.flush(conn, self.remote)
        out = self.remote.outbox
        while out:
            if not self._ready(select.POLLOUT, deadline, what, closed):
                return  # non-blocking socket: the rest goes out with the next call
            try:
                n = self._write(out)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise _socket_error(f"{what}: send to the peer failed", "send", exc) from exc
            del out[:n]
        if self.remote.shut and self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_WR)

    def _write(self, data: bytearray) -> int:
        """One ``send`` that never blocks: the socket was just polled writable."""
        sock = self.sock
        if sock is not None and sock.gettimeout() is None:
            # A blocking descriptor: MSG_DONTWAIT takes what fits instead of
            # waiting for all of it (a close() could not wake that wait).
            return sock.send(data, socket.MSG_DONTWAIT)
        return os.write(self.fd, data)  # non-blocking descriptor (timeout or 0.0)

    def receive(self, conn: Endpoint, deadline: float | None, what: str, closed: Any) -> bool:
        """Give the SSL bytes from the peer; False when none came (non-blocking socket)."""
        while True:
            if self.wire.in_flight(self.remote.role) and self.wire.transfer(self.remote, conn):
                return True
            if self._eof:
                if self._eof_given:
                    return False
                conn.bio_shutdown_wr()
                self._eof_given = True
                return True
            data = self._recv(deadline, what, closed)
            if data is None:
                return False
            if not data:
                self._eof = True
                continue
            self.remote.inbox += data
            if self.wire.transfer(self.remote, conn):
                return True
            # only part of a record so far: wait for the rest

    def pull(self, conn: Endpoint) -> None:
        self._claim()
        try:
            self._pull(conn)
        finally:
            self._pumping.release()

    def _pull(self, conn: Endpoint) -> None:
        while not self._eof:
            data = self._recv(None, "read", lambda: False, nowait=True)
            if not data:
                self._eof = data is not None
                break
            self.remote.inbox += data
        self.wire.flush(self.remote, conn)

    def _recv(
        self, deadline: float | None, what: str, closed: Any, *, nowait: bool = False
    ) -> bytes | None:
        if not self._ready(select.POLLIN, deadline, what, closed, nowait=nowait):
            return None
        try:
            return os.read(self.fd, _RECV_SIZE)
        except BlockingIOError:
            return None
        except OSError as exc:
            raise _socket_error(f"{what}: receiving from the peer failed", "recv", exc) from exc

    def _ready(
        self, event: int, deadline: float | None, what: str, closed: Any, *, nowait: bool = False
    ) -> bool:
        """poll the socket and the wake pipe: True when ready, False (non-blocking) when not."""
        timeout = self.timeout
        nowait = nowait or timeout == 0.0
        wake = self._wake_fd()
        poller = select.poll()
        poller.register(self.fd, event)
        poller.register(wake, select.POLLIN)
        while True:
            self.check()
            if closed():
                raise ClosedError(f"connection was closed while its {what} waited")
            if nowait:
                wait_ms = 0
            elif deadline is None:
                wait_ms = _MAX_POLL_MS
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{what} timed out after {timeout} s")
                wait_ms = min(_MAX_POLL_MS, max(1, math.ceil(remaining * 1000)))
            events = poller.poll(wait_ms)
            if closed() or any(fd == wake for fd, _ in events):
                raise ClosedError(f"connection was closed while its {what} waited")
            if events:
                return True
            if nowait:
                return False


__all__ = [
    "MAX_BIO_SIZE",
    "MemoryTransport",
    "SharedPairTransport",
    "SocketTransport",
    "Transport",
    "VisibleSocketTransport",
]
