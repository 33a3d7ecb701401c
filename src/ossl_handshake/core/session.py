"""``Session``: an owned reference to an ``SSL_SESSION`` for resumption."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

from ossl_handshake._native import ffi, lib
from ossl_handshake.core.errors import drain
from ossl_handshake.core.guard import SharedGuard

T = TypeVar("T")


def _ptr(p: Any) -> Any:
    return p


class Session:
    """A resumable session taken from a finished connection (``SSL_get1_session``).

    Holds one reference (``SSL_SESSION_up_ref``/``SSL_SESSION_free``). Hand it
    to a new :class:`~ossl_handshake.connection.Connection` (``session=``) or
    ``Connection.set_session`` to offer resumption: ``SSL_set_session`` takes
    its own reference, so no i2d/d2i copy is made (docs/architecture.md, rule 11).

    The pointer lives in a guard (:class:`~ossl_handshake.core.handles.SharedGuard`):
    threads may share a session (each waits its turn for the short calls
    here), and :meth:`close` from another thread waits for a call in
    progress instead of freeing under it. A closed session raises
    :class:`~ossl_handshake.ClosedError`.
    """

    __slots__ = ("__weakref__", "_guard")

    def __init__(self, ptr: Any) -> None:
        if ptr == ffi.NULL:
            raise ValueError("NULL SSL_SESSION")
        self._guard = SharedGuard(ptr, "Session", lib.SSL_SESSION_free)

    def _run(self, fn: Callable[[Any], T]) -> T:
        """``fn(SSL_SESSION *)`` with the session held: how a connection uses it
        (``SSL_set_session`` takes its own reference inside the call)."""
        return self._guard.run(fn)

    @property
    def ptr(self) -> Any:
        """The raw ``SSL_SESSION *`` (still owned by this object; the escape hatch:
        nothing keeps it alive once :meth:`close` runs)."""
        return self._guard.read(_ptr)

    @property
    def closed(self) -> bool:
        return self._guard.closed

    def close(self) -> None:
        """Drop our reference (``SSL_SESSION_free``) once no call uses it. Idempotent.

        Connections that resumed from it keep their own reference.
        """
        self._guard.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown
            self.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def resumable(self) -> bool:
        """``SSL_SESSION_is_resumable``."""
        return bool(self._guard.read(lib.SSL_SESSION_is_resumable))

    @property
    def protocol_version(self) -> int:
        """``SSL_SESSION_get_protocol_version`` (0x0304 for TLS 1.3)."""
        return int(self._guard.read(lib.SSL_SESSION_get_protocol_version))

    @property
    def has_ticket(self) -> bool:
        """``SSL_SESSION_has_ticket``."""
        return bool(self._guard.read(lib.SSL_SESSION_has_ticket))

    @property
    def ticket_lifetime_hint(self) -> int:
        """``SSL_SESSION_get_ticket_lifetime_hint`` in seconds."""
        return int(self._guard.read(lib.SSL_SESSION_get_ticket_lifetime_hint))

    @property
    def id(self) -> bytes:
        """``SSL_SESSION_get_id``: the session ID (empty for pure-ticket TLS 1.3 sessions)."""

        def get(ptr: Any) -> bytes:
            n = ffi.new("unsigned int *")
            p = lib.SSL_SESSION_get_id(ptr, n)
            return bytes(ffi.buffer(p, n[0])) if n[0] else b""

        return self._guard.read(get)

    def to_der(self) -> bytes:
        """``i2d_SSL_SESSION``: the session in ASN.1 DER, for storing it."""

        def encode(ptr: Any) -> bytes:
            size = lib.i2d_SSL_SESSION(ptr, ffi.NULL)
            if size <= 0:
                raise ValueError("i2d_SSL_SESSION failed")
            buf = ffi.new("unsigned char[]", size)
            pp = ffi.new("unsigned char **", buf)
            lib.i2d_SSL_SESSION(ptr, pp)
            return bytes(ffi.buffer(buf, size))

        return self._guard.read(encode)

    @classmethod
    def from_der(cls, data: bytes) -> Session:
        """``d2i_SSL_SESSION``; ``ValueError`` if ``data`` is not a session."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"session DER must be bytes, not {type(data).__name__}")
        buf = ffi.from_buffer(data)
        pp = ffi.new("unsigned char **", ffi.cast("unsigned char *", buf))
        ptr = lib.d2i_SSL_SESSION(ffi.NULL, ffi.cast("const unsigned char **", pp), len(data))
        if ptr == ffi.NULL:
            why = "; ".join(str(r) for r in drain())
            raise ValueError(f"bytes are not a DER SSL_SESSION ({why})")
        return cls(ptr)
