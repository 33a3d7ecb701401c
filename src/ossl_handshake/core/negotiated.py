"""The values a handshake negotiated, read from the ``SSL`` under the connection's guard.

A mixin of :class:`~ossl_handshake.core.connection.Connection`: every property
hands a function to ``self._guard.read`` (reads are allowed from the
connection's own callbacks; docs/architecture.md, "Ownership and guards").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ossl_handshake._native import ffi, lib, text
from ossl_handshake.core.errors import verify_message
from ossl_handshake.core.x509 import PeerCertificates, der, x509_name
from ossl_handshake.tls.alpn import alpn_text
from ossl_handshake.tls.names import packed_alert_name

if TYPE_CHECKING:
    from ossl_handshake.core.context import Context
    from ossl_handshake.core.guard import Guard

_NULL = ffi.NULL
#: ``OSSL_HANDSHAKE_STATE`` values in which no version is negotiated yet.
_PRE_VERSION_STATES = frozenset(
    {int(lib.TLS_ST_BEFORE), int(lib.TLS_ST_CW_CLNT_HELLO), int(lib.TLS_ST_SR_CLNT_HELLO)}
)


class NegotiatedValues:
    """Properties of :class:`~ossl_handshake.Connection` that read what was negotiated."""

    _guard: Guard
    _state: Any
    context: Context
    _sni_context: Context | None

    @property
    def is_init_finished(self) -> bool:
        """``SSL_is_init_finished``: the handshake completed."""
        return bool(self._guard.read(lib.SSL_is_init_finished))

    @property
    def version(self) -> str | None:
        """``SSL_get_version`` (``"TLSv1.3"``); None before a version was negotiated."""
        hrr = bool(self._state.hrr)

        def read(ssl: Any) -> str | None:
            # Before the hellos SSL_get_version names the highest enabled
            # version, not a negotiated one: a client has not seen a
            # ServerHello/HRR yet, a server has not processed a ClientHello.
            if (
                not lib.SSL_is_init_finished(ssl)
                and int(lib.SSL_get_state(ssl)) in _PRE_VERSION_STATES
                and not hrr
            ):
                return None
            return text(lib.SSL_get_version(ssl)) or None

        return self._guard.read(read)

    @property
    def cipher(self) -> str | None:
        """``SSL_CIPHER_get_name(SSL_get_current_cipher)``: ``"TLS_AES_256_GCM_SHA384"``."""

        def read(ssl: Any) -> str | None:
            c = lib.SSL_get_current_cipher(ssl)
            return text(lib.SSL_CIPHER_get_name(c)) if c != _NULL else None

        return self._guard.read(read)

    @property
    def cipher_bits(self) -> int | None:
        """``SSL_CIPHER_get_bits`` of the current cipher."""

        def read(ssl: Any) -> int | None:
            c = lib.SSL_get_current_cipher(ssl)
            return int(lib.SSL_CIPHER_get_bits(c, _NULL)) if c != _NULL else None

        return self._guard.read(read)

    @property
    def verify_result(self) -> int:
        """``SSL_get_verify_result``: ``X509_V_OK`` (0) or the verification error code."""
        return int(self._guard.read(lib.SSL_get_verify_result))

    @property
    def verify_message(self) -> str:
        """``X509_verify_cert_error_string`` of :attr:`verify_result` (``"ok"``)."""
        return verify_message(self.verify_result)

    @property
    def session_reused(self) -> bool:
        """``SSL_session_reused``: this handshake resumed a session."""
        return bool(self._guard.read(lib.SSL_session_reused))

    @property
    def alpn_protocol(self) -> str | None:
        """``SSL_get0_alpn_selected`` as text, or None: the convenience for ASCII IDs.

        RFC 7301 IDs are opaque bytes: an ID that is not ASCII reads here with
        backslash escapes (``b"\\xffx"`` reads ``"\\\\xffx"``, see
        :func:`~ossl_handshake.tls.alpn.alpn_text`); the exact ID is
        :attr:`alpn_protocol_bytes`.
        """
        raw = self.alpn_protocol_bytes
        return alpn_text(raw) if raw is not None else None

    @property
    def alpn_protocol_bytes(self) -> bytes | None:
        """``SSL_get0_alpn_selected``: the protocol ID agreed by ALPN, as bytes, or None."""

        def read(ssl: Any) -> bytes | None:
            data = ffi.new("const unsigned char **")
            n = ffi.new("unsigned int *")
            lib.SSL_get0_alpn_selected(ssl, data, n)
            return bytes(ffi.buffer(data[0], n[0])) if n[0] else None

        raw: bytes | None = self._guard.read(read)
        return raw

    @property
    def server_name(self) -> str | None:
        """``SSL_get_servername``: the SNI name sent (client) or received (server)."""

        def read(ssl: Any) -> str | None:
            p = lib.SSL_get_servername(ssl, 0)
            return text(p) if p != _NULL else None

        return self._guard.read(read)

    @property
    def group(self) -> str | None:
        """The negotiated key exchange group (``SSL_get_negotiated_group``; None before 3.0)."""

        def read(ssl: Any) -> str | None:
            # OpenSSL 3.0's SSL_get_negotiated_group dereferences s->session,
            # NULL on a server that has not (or never) got past the ClientHello.
            if lib.SSL_get_session(ssl) == _NULL:
                return None
            nid = lib.ossl_get_negotiated_group(ssl)
            if nid == 0:
                return None
            return text(lib.ossl_group_name(ssl, nid)) or f"0x{nid:04x}"

        return self._guard.read(read)

    @property
    def hello_retry_request(self) -> bool:
        """A HelloRetryRequest crossed the wire (seen by our message callback)."""
        return bool(self._guard.read(lambda _ssl: self._state.hrr))

    @property
    def alert_sent(self) -> str | None:
        """Name of the last alert this side sent (info callback), e.g. ``"bad_certificate"``."""
        return packed_alert_name(self._guard.read(lambda _ssl: int(self._state.alert_sent)))

    @property
    def alert_received(self) -> str | None:
        """Name of the last alert the peer sent us (info callback)."""
        return packed_alert_name(self._guard.read(lambda _ssl: int(self._state.alert_received)))

    def peer_certificates(self) -> PeerCertificates:
        """The peer's leaf and chain by reference, decoded later (:class:`PeerCertificates`)."""
        return self._guard.read(PeerCertificates)

    @property
    def peer_certificate(self) -> bytes | None:
        """DER of the peer's leaf certificate (``SSL_get1_peer_certificate``), or None."""
        leaf: bytes | None = self._guard.read(lambda ssl: _with_peer_leaf(ssl, der))
        return leaf

    @property
    def peer_chain(self) -> list[bytes]:
        """DER of each certificate the peer sent (``SSL_get_peer_cert_chain``).

        On a client the list starts with the leaf; on a server OpenSSL leaves
        the leaf out (see :attr:`peer_certificate`).
        """

        def read(ssl: Any) -> list[bytes]:
            sk = lib.SSL_get_peer_cert_chain(ssl)
            if sk == _NULL:
                return []
            stack = ffi.cast("OPENSSL_STACK *", sk)
            return [
                der(ffi.cast("X509 *", lib.OPENSSL_sk_value(stack, i)))
                for i in range(lib.OPENSSL_sk_num(stack))
            ]

        return self._guard.read(read)

    @property
    def peer_subject(self) -> str | None:
        """RFC 2253 subject of the peer's leaf certificate."""
        name: str | None = self._guard.read(
            lambda ssl: _with_peer_leaf(ssl, lambda x: x509_name(lib.X509_get_subject_name(x)))
        )
        return name

    @property
    def peer_issuer(self) -> str | None:
        """RFC 2253 issuer of the peer's leaf certificate."""
        name: str | None = self._guard.read(
            lambda ssl: _with_peer_leaf(ssl, lambda x: x509_name(lib.X509_get_issuer_name(x)))
        )
        return name

    @property
    def peer_signature_algorithm(self) -> str | None:
        """Type of the peer's handshake signature (``SSL_get_peer_signature_type_nid``)."""
        return self._guard.read(_nid_name, lib.SSL_get_peer_signature_type_nid)

    @property
    def peer_signature_digest(self) -> str | None:
        """Digest of the peer's handshake signature (``SSL_get_peer_signature_nid``)."""
        return self._guard.read(_nid_name, lib.SSL_get_peer_signature_nid)

    @property
    def signature_algorithm(self) -> str | None:
        """Type of our own handshake signature (``SSL_get_signature_type_nid``).

        On a server this is the signature it made with its key (``"id-ecPublicKey"``
        for ECDSA, ``"RSASSA-PSS"``, ``"ED25519"``); None when it signed nothing.
        """
        return self._guard.read(_nid_name, lib.SSL_get_signature_type_nid)

    @property
    def active_context(self) -> Context:
        """The context whose certificate this connection uses.

        That is the one a servername callback switched to (``SSL_set_SSL_CTX``),
        else :attr:`context`.
        """
        return self._sni_context if self._sni_context is not None else self.context


def _with_peer_leaf(ssl: Any, fn: Any) -> Any:
    """``fn(leaf)`` on ``SSL_get1_peer_certificate``'s reference, then ``X509_free``."""
    x = lib.SSL_get1_peer_certificate(ssl)
    if x == _NULL:
        return None
    try:
        return fn(x)
    finally:
        lib.X509_free(x)


def _nid_name(ssl: Any, getter: Any) -> str | None:
    """``OBJ_nid2sn`` of the NID a ``SSL_get_*_nid(ssl, &nid)`` getter reports."""
    nid = ffi.new("int *")
    if getter(ssl, nid) != 1:
        return None
    return text(lib.OBJ_nid2sn(nid[0])) or None


def verified_chain_of(ssl: Any) -> list[bytes]:
    """``SSL_get0_verified_chain`` as DER, leaf first (empty when none)."""
    sk = lib.SSL_get0_verified_chain(ssl)
    if sk == ffi.NULL:
        return []
    stack = ffi.cast("OPENSSL_STACK *", sk)
    return [
        der(ffi.cast("X509 *", lib.OPENSSL_sk_value(stack, i)))
        for i in range(lib.OPENSSL_sk_num(stack))
    ]
