"""Keying material and channel binding: exporters, Finished messages, randoms, master key.

Each is a guarded read of a :class:`~ossl_handshake.Connection` (the
methods and properties of its ``# --- beyond the first handshake ---``
block delegate here). Both peers of one handshake compute the same values;
``tests/test_exporters.py`` checks that, and checks the exporter against
``openssl s_client -keymatexport``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ossl_handshake._native import ffi, lib
from ossl_handshake.core.errors import SSLError, ensure
from ossl_handshake.core.inputs import c_int, exporter_label, take_bytes

if TYPE_CHECKING:
    from ossl_handshake.core.connection import Connection

#: EVP_MAX_MD_SIZE: the longest Finished verify_data (TLS 1.3 with SHA-384 is 48).
_FINISHED_MAX = 64
#: The largest exporter output asked for in one call (RFC 5705 puts no limit; 16 KiB is ample).
EXPORT_MAX = 1 << 14


def export_keying_material(
    conn: Connection,
    label: str | bytes,
    length: int,
    context: bytes | bytearray | memoryview | None = None,
) -> bytes:
    """``SSL_export_keying_material`` (RFC 5705 / RFC 8446 section 7.5).

    ``context=None`` calls it with ``use_context=0``; ``context=b""`` with
    ``use_context=1`` and an empty context. For TLS 1.2 these are different
    outputs (SSL_export_keying_material(3): "no context" is not "an empty
    context"); in TLS 1.3 the exporter treats both the same. Fails (an
    :class:`~ossl_handshake.SSLError`) before the handshake is done.
    """
    raw_label = exporter_label(label)
    n = c_int(length, "length", 1, EXPORT_MAX)
    ctx_view = take_bytes(context) if context is not None else None

    def export(ssl: Any) -> bytes:
        out = ffi.new("unsigned char[]", n)
        if ctx_view is None:
            cptr, clen, use = ffi.NULL, 0, 0
        else:
            cptr, clen, use = ffi.from_buffer(ctx_view), ctx_view.nbytes, 1
        ensure(
            lib.SSL_export_keying_material,
            ssl,
            out,
            n,
            raw_label,
            len(raw_label),
            cptr,
            clen,
            use,
            raising=SSLError,
            operation="SSL_export_keying_material",
        )
        return bytes(ffi.buffer(out, n))

    return conn._guard.run(export)


def _finished(conn: Connection, fn: Any) -> bytes | None:
    def read(ssl: Any) -> bytes | None:
        buf = ffi.new("unsigned char[]", _FINISHED_MAX)
        n = int(fn(ssl, buf, _FINISHED_MAX))
        return bytes(ffi.buffer(buf, min(n, _FINISHED_MAX))) if n else None

    result: bytes | None = conn._guard.read(read)
    return result


def finished(conn: Connection) -> bytes | None:
    """``SSL_get_finished``: the verify_data of the last Finished we sent (None before).

    The ``tls-unique`` channel binding (RFC 5929) of a TLS 1.2 handshake is
    the first Finished of the connection: the client's in a full handshake,
    the server's in a resumed one.
    """
    return _finished(conn, lib.SSL_get_finished)


def peer_finished(conn: Connection) -> bytes | None:
    """``SSL_get_peer_finished``: the verify_data of the last Finished we received."""
    return _finished(conn, lib.SSL_get_peer_finished)


def _random(conn: Connection, fn: Any) -> bytes | None:
    def read(ssl: Any) -> bytes | None:
        buf = ffi.new("unsigned char[32]")
        n = int(fn(ssl, buf, 32))
        value = bytes(ffi.buffer(buf, n))
        return value if any(value) else None

    result: bytes | None = conn._guard.read(read)
    return result


def client_random(conn: Connection) -> bytes | None:
    """``SSL_get_client_random``: the ClientHello's 32 random bytes (None before it exists)."""
    return _random(conn, lib.SSL_get_client_random)


def server_random(conn: Connection) -> bytes | None:
    """``SSL_get_server_random``: the ServerHello's 32 random bytes (None before it exists)."""
    return _random(conn, lib.SSL_get_server_random)


def master_key(conn: Connection) -> bytes | None:
    """``SSL_SESSION_get_master_key`` of the current session (None without one).

    TLS ≤ 1.2: the 48-byte master secret. TLS 1.3: the resumption secret
    of the session (SSL_SESSION_get_master_key(3)), not a traffic key.
    """

    def read(ssl: Any) -> bytes | None:
        sess = lib.SSL_get_session(ssl)
        if sess == ffi.NULL:
            return None
        n = int(lib.SSL_SESSION_get_master_key(sess, ffi.NULL, 0))
        if n == 0:
            return None
        buf = ffi.new("unsigned char[]", n)
        got = int(lib.SSL_SESSION_get_master_key(sess, buf, n))
        return bytes(ffi.buffer(buf, got))

    result: bytes | None = conn._guard.read(read)
    return result
