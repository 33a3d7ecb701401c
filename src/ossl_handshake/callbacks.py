"""``@ffi.def_extern`` entry points for every callback libssl makes into Python.

Each callback finds its Python object through an ex_data handle (an
``ffi.new_handle`` of a *weak* reference, so the handle never keeps its owner
alive), runs the Python callable, and never lets an exception unwind through
C: the exception is parked on the connection and re-raised by the ``step()``
or ``do_handshake()`` that triggered it (DESIGN.md rule 5). Where OpenSSL lets
the callback fail the handshake, it does.

Registration of further callbacks: :func:`register` keeps the table of
handlers by name so that a module adding a callback (SNI, ALPN, verify,
session) defines ``def_extern`` here and dispatches to its own code.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from ossl_handshake._binding import ffi, lib

if TYPE_CHECKING:
    from ossl_handshake.connection import Connection
    from ossl_handshake.context import Context


def connection_of(ssl: Any) -> Connection | None:
    """The live :class:`Connection` that owns ``ssl``, or None."""
    handle = lib.ossl_ssl_handle(ssl)
    if handle == ffi.NULL:
        return None
    ref: weakref.ref[Connection] = ffi.from_handle(handle)
    return ref()


def context_of(ctx: Any) -> Context | None:
    """The live :class:`Context` that owns ``ctx`` (an ``SSL_CTX *``), or None."""
    handle = lib.ossl_ctx_handle(ctx)
    if handle == ffi.NULL:
        return None
    ref: weakref.ref[Context] = ffi.from_handle(handle)
    return ref()


def park(conn: Connection | None, exc: BaseException) -> None:
    """Keep ``exc`` for re-raising after the C call returns (first one wins)."""
    if conn is not None and conn._callback_error is None:
        conn._callback_error = exc


@ffi.def_extern()  # type: ignore[untyped-decorator]
def py_info_cb(ssl: Any, where: int, ret: int) -> None:
    conn = connection_of(ssl)
    if conn is None or conn._on_info is None:
        return
    try:
        conn._on_info(conn, where, ret)
    except BaseException as exc:  # parked, re-raised by step()
        park(conn, exc)


@ffi.def_extern()  # type: ignore[untyped-decorator]
def py_msg_cb(
    write_p: int, version: int, content_type: int, buf: Any, length: int, ssl: Any, arg: Any
) -> None:
    conn = connection_of(ssl)
    if conn is None or conn._on_message is None:
        return
    try:
        data = bytes(ffi.buffer(buf, length)) if length else b""
        conn._on_message(conn, bool(write_p), version, content_type, data)
    except BaseException as exc:
        park(conn, exc)


@ffi.def_extern()  # type: ignore[untyped-decorator]
def py_keylog_cb(ssl: Any, line: Any) -> None:
    conn = connection_of(ssl)
    ctx = conn.context if conn is not None else context_of(lib.SSL_get_SSL_CTX(ssl))
    if ctx is None or ctx._keylog is None:
        return
    try:
        ctx._keylog(ffi.string(line).decode("ascii", "replace"))
    except BaseException as exc:
        park(conn, exc)
