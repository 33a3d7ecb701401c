"""``Session``: an owned reference to an ``SSL_SESSION`` for resumption."""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ossl_handshake._native import ffi, lib
from ossl_handshake.core.errors import drain
from ossl_handshake.core.guard import SharedGuard

T = TypeVar("T")

__all__ = ["Session", "SessionStats", "session_stats"]

_PROTOCOLS = {0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}
#: The explicit context tags of SSL_SESSION_ASN1 (ssl/ssl_asn1.c, the same
#: from 1.1.1 to 4.0) that have no public getter.
_TAG_TICK_AGE_ADD = 14


def _der_length(data: bytes, i: int) -> tuple[int, int]:
    """The DER length at ``data[i]``: (length, index of the contents)."""
    first = data[i]
    if first < 0x80:
        return first, i + 1
    n = first & 0x7F
    if n == 0 or n > 4 or i + 1 + n > len(data):
        raise ValueError("unsupported DER length")
    return int.from_bytes(data[i + 1 : i + 1 + n], "big"), i + 1 + n


def _explicit_uint(der: bytes, tag: int) -> int | None:
    """The INTEGER inside ``[tag] EXPLICIT`` of the session SEQUENCE, None if absent."""
    if len(der) < 2 or der[0] != 0x30:
        raise ValueError("not a DER SSL_SESSION")
    length, i = _der_length(der, 1)
    end = min(len(der), i + length)
    while i < end:
        t = der[i]
        n, body = _der_length(der, i + 1)
        if t == 0xA0 | tag and body < end and der[body] == 0x02:
            m, ibody = _der_length(der, body + 1)
            return int.from_bytes(der[ibody : ibody + m], "big", signed=False)
        i = body + n
    return None


@dataclass(frozen=True)
class SessionStats:
    """A context's session cache counters (SSL_CTX_sess_number(3)).

    ``number`` sessions in the internal cache; ``connect``/``accept``
    handshakes started as client/server, ``connect_good``/``accept_good``
    those finished, ``*_renegotiate`` renegotiations started; ``hits``
    sessions resumed from the internal cache, ``cb_hits`` from the external
    get callback, ``misses`` offered sessions not found, ``timeouts`` found
    but expired, ``cache_full`` sessions dropped because the cache was full;
    ``cache_size`` the cache's limit (``SSL_CTX_sess_get_cache_size``).
    """

    number: int
    connect: int
    connect_good: int
    connect_renegotiate: int
    accept: int
    accept_good: int
    accept_renegotiate: int
    hits: int
    cb_hits: int
    misses: int
    timeouts: int
    cache_full: int
    cache_size: int


def session_stats(ctx: Any) -> SessionStats:
    """All ``SSL_CTX_sess_*`` counters of ``ctx`` (read under the context's guard)."""
    return SessionStats(
        number=int(lib.SSL_CTX_sess_number(ctx)),
        connect=int(lib.SSL_CTX_sess_connect(ctx)),
        connect_good=int(lib.SSL_CTX_sess_connect_good(ctx)),
        connect_renegotiate=int(lib.SSL_CTX_sess_connect_renegotiate(ctx)),
        accept=int(lib.SSL_CTX_sess_accept(ctx)),
        accept_good=int(lib.SSL_CTX_sess_accept_good(ctx)),
        accept_renegotiate=int(lib.SSL_CTX_sess_accept_renegotiate(ctx)),
        hits=int(lib.SSL_CTX_sess_hits(ctx)),
        cb_hits=int(lib.SSL_CTX_sess_cb_hits(ctx)),
        misses=int(lib.SSL_CTX_sess_misses(ctx)),
        timeouts=int(lib.SSL_CTX_sess_timeouts(ctx)),
        cache_full=int(lib.SSL_CTX_sess_cache_full(ctx)),
        cache_size=int(lib.SSL_CTX_sess_get_cache_size(ctx)),
    )


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
    def protocol(self) -> str:
        """:attr:`protocol_version` spelt as ``SSL_get_version`` does (``"TLSv1.3"``)."""
        v = self.protocol_version
        return _PROTOCOLS.get(v, f"0x{v:04x}")

    @property
    def cipher(self) -> str | None:
        """``SSL_SESSION_get0_cipher`` + ``SSL_CIPHER_get_name`` (OpenSSL's name), None if unset."""

        def get(ptr: Any) -> str | None:
            c = lib.SSL_SESSION_get0_cipher(ptr)
            return ffi.string(lib.SSL_CIPHER_get_name(c)).decode() if c != ffi.NULL else None

        return self._guard.read(get)

    @property
    def time(self) -> datetime.datetime:
        """``SSL_SESSION_get_time`` (``_time_ex`` from 3.3, glue/compat.c): when it was made."""
        t = int(self._guard.read(lib.SSL_SESSION_get_time))
        return datetime.datetime.fromtimestamp(t, datetime.timezone.utc)

    @property
    def timeout(self) -> int:
        """``SSL_SESSION_get_timeout``: seconds after :attr:`time` it stays resumable."""
        return int(self._guard.read(lib.SSL_SESSION_get_timeout))

    @property
    def hostname(self) -> str | None:
        """``SSL_SESSION_get0_hostname``: the SNI name it was made with, None if none.

        OpenSSL records the name only when the server's servername callback
        accepted it (``SSL_TLSEXT_ERR_OK``); without a callback it stays None.
        """

        def get(ptr: Any) -> str | None:
            p = lib.SSL_SESSION_get0_hostname(ptr)
            return ffi.string(p).decode("utf-8", "replace") if p != ffi.NULL else None

        return self._guard.read(get)

    @property
    def id_context(self) -> bytes:
        """``SSL_SESSION_get0_id_context``: the server's session id context."""

        def get(ptr: Any) -> bytes:
            n = ffi.new("unsigned int *")
            p = lib.SSL_SESSION_get0_id_context(ptr, n)
            return bytes(ffi.buffer(p, n[0])) if n[0] else b""

        return self._guard.read(get)

    @property
    def alpn_protocol(self) -> bytes | None:
        """``SSL_SESSION_get0_alpn_selected``: the ALPN ID the session was made with."""

        def get(ptr: Any) -> bytes | None:
            p = ffi.new("const unsigned char **")
            n = ffi.new("size_t *")
            lib.SSL_SESSION_get0_alpn_selected(ptr, p, n)
            return bytes(ffi.buffer(p[0], n[0])) if n[0] else None

        return self._guard.read(get)

    @property
    def ticket_age_add(self) -> int:
        """The TLS 1.3 ``ticket_age_add`` (RFC 8446 4.6.1), 0 for TLS 1.2 sessions.

        OpenSSL has no getter for it: it is read from the session's own
        ASN.1 encoding (``i2d_SSL_SESSION``, field ``[14]``), where OpenSSL
        omits a zero value.
        """
        return _explicit_uint(self.to_der(), _TAG_TICK_AGE_ADD) or 0

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
