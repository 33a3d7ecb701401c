"""Application data between two in-process peers in one C call: the bulk path.

``deliver(src, dst, data)`` (and ``deliver_into``, into a buffer of the
caller's) is ``src.write(data)``, ``src.transfer_to(dst)`` and
``dst.read()`` until every byte arrived, as one C loop (``ossl_deliver``,
``glue/pair.c``): ``SSL_write_ex`` in 16 KiB records, the bytes moved between
the two BIO pairs, ``SSL_read_ex`` on the other side. Both guards are held
and the GIL is released for the whole transfer, and it works with BIO pairs
smaller than a record (``memory_pair(bio_size=...)``), where a lone
``write()`` of 16 KiB would stop at ``WANT_WRITE``.
"""

from __future__ import annotations

from typing import Any

from ossl_handshake._native import ffi, lib
from ossl_handshake.core.connection import Connection, _thread_result
from ossl_handshake.core.errors import NoProgressError, SSLError, drain
from ossl_handshake.core.guard import run_both
from ossl_handshake.core.inputs import take_bytes, take_writable

_DONE = int(lib.OSSL_DELIVER_DONE)
_WRITE_FAILED = int(lib.OSSL_DELIVER_WRITE_FAILED)
_READ_FAILED = int(lib.OSSL_DELIVER_READ_FAILED)
_MOVE_FAILED = int(lib.OSSL_DELIVER_MOVE_FAILED)
_CALLBACK_SRC = int(lib.OSSL_DELIVER_CALLBACK_SRC)
_CALLBACK_DST = int(lib.OSSL_DELIVER_CALLBACK_DST)


def deliver(src: Connection, dst: Connection, data: bytes | bytearray | memoryview) -> bytes:
    """Send ``data`` from ``src`` and return what ``dst`` read: the same bytes.

    Both connections must have finished the handshake on their own BIO pairs
    (:func:`~ossl_handshake.pair.memory_pair` without ``direct``). A failure
    raises the mapped error of the call that failed (``SSL_write_ex`` on
    ``src``, ``SSL_read_ex`` on ``dst``); a transfer that stops moving raises
    :class:`~ossl_handshake.NoProgressError`.
    """
    view = take_bytes(data)
    out = bytearray(view.nbytes)
    deliver_into(src, dst, view, out)
    return bytes(out)


def deliver_into(
    src: Connection,
    dst: Connection,
    data: bytes | bytearray | memoryview,
    buffer: bytearray | memoryview,
) -> int:
    """:func:`deliver` into ``buffer`` (writable, at least ``len(data)`` bytes);
    returns the bytes read. For a loop that reuses one buffer."""
    for conn in (src, dst):
        if not isinstance(conn, Connection):
            raise TypeError(f"deliver takes two Connections, not {type(conn).__name__}")
    if src is dst:
        raise ValueError("deliver needs two different connections, got the same one twice")
    view = take_bytes(data)
    out = take_writable(buffer, "buffer")
    n = view.nbytes
    if out.nbytes < n:
        raise ValueError(f"buffer holds {out.nbytes} bytes, fewer than the {n} to deliver")
    if n == 0:
        return 0
    got = ffi.new("size_t *")
    res = _thread_result()

    def both(src_ssl: Any, dst_ssl: Any) -> int:
        src_net, dst_net = src._memory().net, dst._memory().net
        if not (lib.SSL_is_init_finished(src_ssl) and lib.SSL_is_init_finished(dst_ssl)):
            raise ValueError("deliver needs two connections that finished their handshake")
        code = int(
            lib.ossl_deliver(
                src_ssl,
                dst_ssl,
                src_net,
                dst_net,
                ffi.from_buffer(view),
                n,
                ffi.from_buffer(out),
                got,
                res,
            )
        )
        if code == _CALLBACK_SRC:
            src._raise_callback_error(res)
        if code == _CALLBACK_DST:
            dst._raise_callback_error(res)
        return code

    code = run_both(src._guard, dst._guard, both)
    if code == _DONE:
        return n
    if code == _WRITE_FAILED:
        raise _error(src._mapped(res, "SSL_write_ex"))
    if code == _READ_FAILED:
        raise _error(dst._mapped(res, "SSL_read_ex"))
    if code == _MOVE_FAILED:
        raise SSLError("BIO_write to peer failed", errors=drain(), operation="BIO_write")
    raise NoProgressError(
        f"deliver: {int(got[0])} of {n} bytes arrived, then nothing moved",
        state=dst.state,
        operation="SSL_read_ex",
    )


def _error(exc: SSLError | None) -> SSLError:
    assert exc is not None  # the capture of a failed call maps to an error
    return exc


__all__ = ["deliver", "deliver_into"]
