"""TLS 1.3 early data (0-RTT): ``SSL_write_early_data``, ``SSL_read_early_data``, status.

The logic behind :meth:`Connection.write_early_data`,
:meth:`Connection.read_early_data` and :attr:`Connection.early_data_status`;
the contexts' limits are the ``max_early_data`` / ``recv_max_early_data``
keywords of :class:`~ossl_handshake.Context`. 0-RTT needs a resumed session
whose server allowed early data (``SSL_SESSION_get_max_early_data`` > 0);
the pair driver's :func:`~ossl_handshake.pair.driver.early_data_handshake`
runs the whole exchange.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ossl_handshake._native import ffi, lib
from ossl_handshake.core.errors import SSLError
from ossl_handshake.core.inputs import take_bytes

if TYPE_CHECKING:
    from ossl_handshake.core.connection import Connection

#: The most one read_early_data() asks for (a record is at most 16 KiB).
_MAX_EARLY_READ = 1 << 20
_results = threading.local()


def _thread_result() -> Any:
    """This thread's ``ossl_result`` for early-data reads (as ``connection._thread_result``)."""
    res = getattr(_results, "res", None)
    if res is None:
        res = _results.res = ffi.new("ossl_result *")
    return res


class EarlyDataStatus(enum.IntEnum):
    """``SSL_get_early_data_status``."""

    NOT_SENT = lib.SSL_EARLY_DATA_NOT_SENT
    REJECTED = lib.SSL_EARLY_DATA_REJECTED
    ACCEPTED = lib.SSL_EARLY_DATA_ACCEPTED


class ReadEarly(enum.IntEnum):
    """What ``SSL_read_early_data`` returned."""

    ERROR = lib.SSL_READ_EARLY_DATA_ERROR
    SUCCESS = lib.SSL_READ_EARLY_DATA_SUCCESS
    FINISH = lib.SSL_READ_EARLY_DATA_FINISH


@dataclass(frozen=True)
class EarlyRead:
    """One ``SSL_read_early_data`` call: its status, the bytes read, and on ERROR the error.

    ``SUCCESS`` with ``data``: early data was read, call again. ``FINISH``:
    no more early data (none was sent, it was rejected, or the
    EndOfEarlyData arrived); ``data`` may still hold the last bytes; now
    finish the handshake. ``ERROR``: ``error`` is the mapped exception; a
    retryable one (``WantReadError``) means "move bytes and call again".
    """

    status: ReadEarly
    data: bytes = b""
    error: SSLError | None = None

    @property
    def wants(self) -> bool:
        return self.error is not None and self.error.error_code.retryable


def write_early_data(conn: Connection, data: bytes | bytearray | memoryview) -> int:
    """``SSL_write_early_data`` (client, before or during the handshake); bytes written.

    The first call also writes the ClientHello. Raises the mapped error,
    ``WantWriteError``/``WantReadError`` included (memory BIO full).
    Refused by libssl unless the session offered allows early data.
    """
    view = take_bytes(data)

    def once(ssl: Any) -> tuple[int, SSLError | None]:
        res = conn._call_locked(ssl, lib.ossl_write_early_data, ffi.from_buffer(view), view.nbytes)
        if res.ret == 1:
            return int(res.nbytes), None
        return 0, conn._mapped(res, "SSL_write_early_data")

    written: int = conn._retrying("write_early_data", once)
    return written


def read_early_data(conn: Connection, n: int = 16384) -> EarlyRead:
    """``SSL_read_early_data`` (server), reported exactly as it returns; never raises for TLS.

    Memory BIOs and non-blocking sockets: one call (an ERROR whose error is
    retryable means "move bytes and call again"). A socket with a timeout
    waits with poll and calls again while the result is a retryable ERROR
    (``TimeoutError`` when the time runs out), as :meth:`Connection.read` does.
    """
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"read size must be an int, not {type(n).__name__}")
    if n <= 0:
        raise ValueError(f"read size must be positive, not {n}")
    size = min(n, _MAX_EARLY_READ)

    def once(ssl: Any) -> EarlyRead:
        buf = ffi.new("char[]", size)
        # Connection._call_locked, keeping the C function's own return value.
        conn._transport.check()
        res = _thread_result()
        rv = int(lib.ossl_read_early_data(ssl, buf, size, res))
        conn._last_errno = int(res.sys_errno)
        if conn._callback_error is not None:
            conn._raise_callback_error(res)
        data = bytes(ffi.buffer(buf, res.nbytes))
        if rv == ReadEarly.ERROR:
            return EarlyRead(ReadEarly.ERROR, data, conn._mapped(res, "SSL_read_early_data"))
        return EarlyRead(ReadEarly(rv), data)

    transport = conn._transport
    deadline = transport.deadline()
    while True:
        got: EarlyRead = conn._guard.run(once)
        if deadline is None or not got.wants or got.data:
            return got
        assert got.error is not None
        closed = lambda: conn.closed  # noqa: E731 - the transport's callback
        transport.wait(got.error.error_code, deadline, "server read_early_data", closed)


def early_data_status(conn: Connection) -> EarlyDataStatus:
    """``SSL_get_early_data_status``: accepted, rejected or not sent (either side)."""
    return EarlyDataStatus(int(conn._guard.read(lib.SSL_get_early_data_status)))
