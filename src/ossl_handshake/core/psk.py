"""Pre-shared keys: TLS 1.3 external PSKs and TLS 1.2 PSK cipher suites.

Configured with ``Context(psk=...)`` or :meth:`Context.set_psk`:

- a **client** gets one :class:`PSK` (or an ``(identity, key)`` pair). For
  TLS 1.3 ``SSL_CTX_set_psk_use_session_callback`` offers it as an
  ``SSL_SESSION`` built from the key (``SSL_SESSION_set1_master_key``, the
  PSK's TLS 1.3 cipher, ``TLS1_3_VERSION``; glue/psk.c); for TLS 1.2 PSK
  cipher suites ``SSL_CTX_set_psk_client_callback`` hands over the
  identity and key (the server's identity hint is readable afterwards);
- a **server** gets a lookup: a ``dict`` from identity to key, or a callable
  ``identity -> key | PSK | None`` (None: unknown identity, the handshake
  fails). TLS 1.3: ``SSL_CTX_set_psk_find_session_callback``; TLS 1.2:
  ``SSL_CTX_set_psk_server_callback`` (plus ``SSL_CTX_use_psk_identity_hint``).

The callbacks are the ``py_psk_*`` trampolines of ``core/callbacks.py``;
an exception in a lookup fails the handshake and is re-raised as
:class:`~ossl_handshake.CallbackError` (docs/architecture.md, rule 7).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ossl_handshake._native import ffi, lib
from ossl_handshake.core.inputs import psk_bytes

if TYPE_CHECKING:
    from ossl_handshake.core.connection import Connection

#: The TLS 1.3 cipher suites a PSK session may name (RFC 8446 B.4), by IANA code.
TLS13_CIPHERS: dict[str, bytes] = {
    "TLS_AES_128_GCM_SHA256": b"\x13\x01",
    "TLS_AES_256_GCM_SHA384": b"\x13\x02",
    "TLS_CHACHA20_POLY1305_SHA256": b"\x13\x03",
}
#: PSK_MAX_PSK_LEN (TLS 1.2 callbacks' buffer) and PSK_MAX_IDENTITY_LEN.
MAX_KEY = 256
MAX_IDENTITY = 128


@dataclass(frozen=True)
class PSK:
    """One external PSK: ``identity``, ``key`` and the TLS 1.3 cipher its session names.

    The cipher's hash is the PSK's hash (RFC 8446 4.2.11): both peers must
    agree on it; the default is ``TLS_AES_128_GCM_SHA256`` (SHA-256, also
    what OpenSSL assumes for a PSK from the TLS 1.2 callbacks).
    """

    identity: bytes
    key: bytes
    cipher: str = "TLS_AES_128_GCM_SHA256"

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "identity", psk_bytes(self.identity, "PSK identity", high=MAX_IDENTITY)
        )
        object.__setattr__(self, "key", psk_bytes(self.key, "PSK key", high=MAX_KEY))
        if self.cipher not in TLS13_CIPHERS:
            raise ValueError(
                f"PSK cipher must be one of {', '.join(TLS13_CIPHERS)}, not {self.cipher!r}"
            )

    @property
    def cipher_id(self) -> bytes:
        return TLS13_CIPHERS[self.cipher]


#: What a server's lookup may return for an identity.
PskKey = bytes | PSK | None
PskLookup = Callable[[bytes], PskKey]


@dataclass(frozen=True)
class PskServer:
    """A server's PSK configuration: the lookup and the cipher for bare keys."""

    lookup: PskLookup
    cipher: str = "TLS_AES_128_GCM_SHA256"

    def find(self, identity: bytes) -> PSK | None:
        """The :class:`PSK` for ``identity`` (the lookup's bytes wrapped), or None."""
        found = self.lookup(identity)
        if found is None or isinstance(found, PSK):
            return found
        if isinstance(found, (bytes, bytearray, memoryview)):
            return PSK(identity, bytes(found), self.cipher)
        raise TypeError(f"psk lookup must return bytes, a PSK or None, not {found!r}")


ClientPsk = PSK | tuple[Any, Any]
ServerPsk = Mapping[Any, Any] | PskLookup


def client_config(value: object) -> PSK:
    """A client's ``psk=``: a :class:`PSK` or an ``(identity, key)`` pair."""
    if isinstance(value, PSK):
        return value
    if isinstance(value, tuple) and len(value) == 2:
        return PSK(value[0], value[1])
    raise TypeError(f"a client's psk must be a PSK or an (identity, key) pair, not {value!r}")


def server_config(value: object, cipher: str = "TLS_AES_128_GCM_SHA256") -> PskServer:
    """A server's ``psk=``: a mapping identity -> key, or a callable lookup."""
    if cipher not in TLS13_CIPHERS:
        raise ValueError(f"psk_cipher must be one of {', '.join(TLS13_CIPHERS)}, not {cipher!r}")
    if isinstance(value, Mapping):
        table = {psk_bytes(k, "PSK identity", high=MAX_IDENTITY): v for k, v in value.items()}
        for v in table.values():
            if not isinstance(v, PSK):
                psk_bytes(v, "PSK key", high=MAX_KEY)
        return PskServer(table.get, cipher)
    if callable(value):
        return PskServer(value, cipher)
    raise TypeError(f"a server's psk must be a mapping or a callable, not {value!r}")


def install(ctx: Any, server: bool, on: bool) -> None:
    """Set (or clear) the four PSK callbacks of one role on ``ctx`` (guard held)."""
    null = ffi.NULL
    if server:
        lib.SSL_CTX_set_psk_find_session_callback(ctx, lib.py_psk_find_session_cb if on else null)
        lib.SSL_CTX_set_psk_server_callback(ctx, lib.py_psk_server_cb if on else null)
    else:
        lib.SSL_CTX_set_psk_use_session_callback(ctx, lib.py_psk_use_session_cb if on else null)
        lib.SSL_CTX_set_psk_client_callback(ctx, lib.py_psk_client_cb if on else null)


def psk_identity(conn: Connection) -> bytes | None:
    """The PSK identity of this connection.

    ``SSL_get_psk_identity`` where libssl records it (a TLS 1.2 PSK
    handshake); for TLS 1.3 external PSKs libssl keeps none, so it is the
    identity our callback offered (client) or found a key for (server),
    when the handshake used it (``SSL_session_reused``). None otherwise: a
    PSK offered but not selected (e.g. the server chose a cipher whose hash
    is not the PSK's, and authenticated with its certificate) was not used.
    """

    def read(ssl: Any) -> bytes | None:
        p = lib.SSL_get_psk_identity(ssl)
        if p != ffi.NULL:
            return bytes(ffi.string(p))
        # TLS 1.3: a PSK was used only if the handshake "resumed" with it.
        return conn._psk_identity if lib.SSL_session_reused(ssl) else None

    got: bytes | None = conn._guard.read(read)
    return got


def psk_identity_hint(conn: Connection) -> bytes | None:
    """``SSL_get_psk_identity_hint`` (TLS 1.2: what the server sent; None without one)."""

    def read(ssl: Any) -> bytes | None:
        p = lib.SSL_get_psk_identity_hint(ssl)
        return ffi.string(p) if p != ffi.NULL else None

    got: bytes | None = conn._guard.read(read)
    return got
