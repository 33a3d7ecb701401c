"""Enums for roles, protocol versions, options and modes; values come from ``lib``."""

from __future__ import annotations

import enum

from ossl_handshake._native import RUNTIME_VERSION_TEXT, UNAVAILABLE_OPTIONS, lib


class TLSVersion(enum.IntEnum):
    """Protocol versions as ``SSL_CTX_set_min_proto_version`` takes them (``TLS1_3_VERSION``)."""

    TLSv1 = lib.TLS1_VERSION
    TLSv1_1 = lib.TLS1_1_VERSION
    TLSv1_2 = lib.TLS1_2_VERSION
    TLSv1_3 = lib.TLS1_3_VERSION

    @classmethod
    def parse(cls, value: str | int | TLSVersion) -> TLSVersion:
        """Accept ``TLSVersion``, the wire number, or ``"1.2"``/``"TLSv1.2"``/``"tls1.3"``.

        ``TypeError`` for anything else (a float such as ``1.3`` included:
        write ``"1.3"``); ``ValueError`` for an unknown version.
        """
        if isinstance(value, TLSVersion):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return cls(value)
            except ValueError:
                raise ValueError(
                    f"unknown TLS version number {value:#x}: use 0x0301..0x0304 "
                    "or TLSVersion.TLSv1_2 ..."
                ) from None
        if not isinstance(value, str):
            raise TypeError(
                "a TLS version is a TLSVersion, a wire number (0x0303) or a string "
                f"('1.2', 'TLSv1.3'), not {type(value).__name__} {value!r}"
            )
        key = value.strip().lower().replace("tlsv", "").replace("tls", "").lstrip("v")
        table = {"1": cls.TLSv1, "1.0": cls.TLSv1, "1.1": cls.TLSv1_1, "1.2": cls.TLSv1_2}
        table["1.3"] = cls.TLSv1_3
        if key not in table:
            raise ValueError(f"unknown TLS version {value!r}: use 1.0, 1.1, 1.2 or 1.3")
        return table[key]

    @property
    def label(self) -> str:
        """The name ``SSL_get_version`` prints: ``TLSv1.3``."""
        return {0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}[int(self)]


class Options(enum.IntFlag):
    """``SSL_OP_*`` bits for ``SSL_CTX_set_options``/``SSL_set_options``.

    A flag the linked OpenSSL lacks (e.g. ``IGNORE_UNEXPECTED_EOF`` on 1.1.1)
    has a bit of its own that OpenSSL does not use (glue/compat.c), and
    setting it raises :class:`~ossl_handshake.ConfigurationError` (see
    :func:`unavailable_options`) instead of silently doing nothing.
    """

    NONE = 0
    ALL = lib.SSL_OP_ALL
    NO_TICKET = lib.SSL_OP_NO_TICKET
    IGNORE_UNEXPECTED_EOF = lib.SSL_OP_IGNORE_UNEXPECTED_EOF
    ENABLE_MIDDLEBOX_COMPAT = lib.SSL_OP_ENABLE_MIDDLEBOX_COMPAT
    NO_RENEGOTIATION = lib.SSL_OP_NO_RENEGOTIATION
    CIPHER_SERVER_PREFERENCE = lib.SSL_OP_CIPHER_SERVER_PREFERENCE
    NO_COMPRESSION = lib.SSL_OP_NO_COMPRESSION
    NO_TLSv1 = lib.SSL_OP_NO_TLSv1
    NO_TLSv1_1 = lib.SSL_OP_NO_TLSv1_1
    NO_TLSv1_2 = lib.SSL_OP_NO_TLSv1_2
    NO_TLSv1_3 = lib.SSL_OP_NO_TLSv1_3
    NO_ENCRYPT_THEN_MAC = lib.SSL_OP_NO_ENCRYPT_THEN_MAC
    NO_EXTENDED_MASTER_SECRET = lib.SSL_OP_NO_EXTENDED_MASTER_SECRET
    NO_ANTI_REPLAY = lib.SSL_OP_NO_ANTI_REPLAY
    PRIORITIZE_CHACHA = lib.SSL_OP_PRIORITIZE_CHACHA
    ALLOW_NO_DHE_KEX = lib.SSL_OP_ALLOW_NO_DHE_KEX
    LEGACY_SERVER_CONNECT = lib.SSL_OP_LEGACY_SERVER_CONNECT
    TLSEXT_PADDING = lib.SSL_OP_TLSEXT_PADDING
    ALLOW_CLIENT_RENEGOTIATION = lib.SSL_OP_ALLOW_CLIENT_RENEGOTIATION
    ALLOW_UNSAFE_LEGACY_RENEGOTIATION = lib.SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION
    CLEANSE_PLAINTEXT = lib.SSL_OP_CLEANSE_PLAINTEXT
    ENABLE_KTLS = lib.SSL_OP_ENABLE_KTLS


class Mode(enum.IntFlag):
    """``SSL_MODE_*`` bits for ``SSL_CTX_set_mode``."""

    NONE = 0
    ENABLE_PARTIAL_WRITE = lib.SSL_MODE_ENABLE_PARTIAL_WRITE
    ACCEPT_MOVING_WRITE_BUFFER = lib.SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
    AUTO_RETRY = lib.SSL_MODE_AUTO_RETRY
    RELEASE_BUFFERS = lib.SSL_MODE_RELEASE_BUFFERS
    ASYNC = lib.SSL_MODE_ASYNC  #: crypto runs in ASYNC jobs that may pause (WANT_ASYNC)


class SessionCacheMode(enum.IntFlag):
    """``SSL_SESS_CACHE_*`` for ``SSL_CTX_set_session_cache_mode``."""

    OFF = lib.SSL_SESS_CACHE_OFF
    CLIENT = lib.SSL_SESS_CACHE_CLIENT
    SERVER = lib.SSL_SESS_CACHE_SERVER
    BOTH = lib.SSL_SESS_CACHE_BOTH
    NO_AUTO_CLEAR = lib.SSL_SESS_CACHE_NO_AUTO_CLEAR
    NO_INTERNAL = lib.SSL_SESS_CACHE_NO_INTERNAL


class ClientAuth(enum.Enum):
    """What a server asks of the client's certificate."""

    NONE = "none"  #: SSL_VERIFY_NONE: no CertificateRequest
    REQUEST = "request"  #: SSL_VERIFY_PEER: ask, accept none, verify one if sent
    REQUIRE = "require"  #: SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
    #: SSL_VERIFY_PEER | SSL_VERIFY_POST_HANDSHAKE: TLS 1.3, ask only after the
    #: handshake (Connection.verify_client_post_handshake); TLS 1.2: like NONE.
    POST_HANDSHAKE = "post_handshake"


def unavailable_options(bits: int) -> str | None:
    """Why ``bits`` cannot be set on the linked OpenSSL (None if every bit can).

    The members the linked OpenSSL lacks carry bits of :data:`UNAVAILABLE_OPTIONS`.
    """
    missing = int(bits) & UNAVAILABLE_OPTIONS
    if not missing:
        return None
    names = [m.name for m in Options if m.name and m.value & missing] or [hex(missing)]
    return f"Options.{', Options.'.join(names)} not available in {RUNTIME_VERSION_TEXT}"
