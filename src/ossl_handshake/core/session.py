"""``Session``: an owned reference to an ``SSL_SESSION`` for resumption."""

from __future__ import annotations

from typing import Any

from ossl_handshake._native import ffi, lib


class Session:
    """A resumable session taken from a finished connection (``SSL_get1_session``).

    Holds one reference (``SSL_SESSION_up_ref``/``SSL_SESSION_free``). Hand it
    to a new :class:`~ossl_handshake.connection.Connection` (``session=``) or
    ``Connection.set_session`` to offer resumption: ``SSL_set_session`` takes
    its own reference, so no i2d/d2i copy is made (DESIGN.md rule 7).
    """

    __slots__ = ("__weakref__", "_ptr")

    def __init__(self, ptr: Any) -> None:
        if ptr == ffi.NULL:
            raise ValueError("NULL SSL_SESSION")
        self._ptr = ffi.gc(ptr, lib.SSL_SESSION_free)

    @property
    def ptr(self) -> Any:
        """The raw ``SSL_SESSION *`` (still owned by this object)."""
        return self._ptr

    @property
    def resumable(self) -> bool:
        """``SSL_SESSION_is_resumable``."""
        return bool(lib.SSL_SESSION_is_resumable(self._ptr))

    @property
    def protocol_version(self) -> int:
        """``SSL_SESSION_get_protocol_version`` (0x0304 for TLS 1.3)."""
        return int(lib.SSL_SESSION_get_protocol_version(self._ptr))

    @property
    def has_ticket(self) -> bool:
        """``SSL_SESSION_has_ticket``."""
        return bool(lib.SSL_SESSION_has_ticket(self._ptr))

    @property
    def ticket_lifetime_hint(self) -> int:
        """``SSL_SESSION_get_ticket_lifetime_hint`` in seconds."""
        return int(lib.SSL_SESSION_get_ticket_lifetime_hint(self._ptr))

    @property
    def id(self) -> bytes:
        """``SSL_SESSION_get_id``: the session ID (empty for pure-ticket TLS 1.3 sessions)."""
        n = ffi.new("unsigned int *")
        p = lib.SSL_SESSION_get_id(self._ptr, n)
        return bytes(ffi.buffer(p, n[0])) if n[0] else b""

    def to_der(self) -> bytes:
        """``i2d_SSL_SESSION``: the session in ASN.1 DER, for storing it."""
        size = lib.i2d_SSL_SESSION(self._ptr, ffi.NULL)
        if size <= 0:
            raise ValueError("i2d_SSL_SESSION failed")
        buf = ffi.new("unsigned char[]", size)
        pp = ffi.new("unsigned char **", buf)
        lib.i2d_SSL_SESSION(self._ptr, pp)
        return bytes(ffi.buffer(buf, size))

    @classmethod
    def from_der(cls, data: bytes) -> Session:
        """``d2i_SSL_SESSION``; ``ValueError`` if ``data`` is not a session."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"session DER must be bytes, not {type(data).__name__}")
        buf = ffi.from_buffer(data)
        pp = ffi.new("unsigned char **", ffi.cast("unsigned char *", buf))
        ptr = lib.d2i_SSL_SESSION(ffi.NULL, ffi.cast("const unsigned char **", pp), len(data))
        if ptr == ffi.NULL:
            lib.ERR_clear_error()
            raise ValueError("bytes are not a DER SSL_SESSION")
        return cls(ptr)
