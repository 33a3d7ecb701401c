"""Certificates as libssl holds them: the peer's leaf and chain, DER and RFC 2253 names."""

from __future__ import annotations

from typing import Any

from ossl_handshake._native import ffi, lib

_NULL = ffi.NULL


class PeerCertificates:
    """The peer's certificates held by reference, decoded on first use.

    ``SSL_get1_peer_certificate`` (the leaf) and ``X509_chain_up_ref`` of
    ``SSL_get_peer_cert_chain``: a few pointer copies at snapshot time, and
    the DER/RFC 2253 work (``i2d_X509``, ``X509_NAME_print_ex``) only when a
    result's ``peer_*`` fields are read. Valid after the connection is closed.
    """

    __slots__ = ("_chain", "_leaf", "_owner")

    def __init__(self, ssl: Any) -> None:
        leaf = lib.SSL_get1_peer_certificate(ssl)
        self._leaf = ffi.gc(leaf, lib.X509_free) if leaf != _NULL else None
        sk = lib.ossl_peer_chain_ref(ssl)
        self._chain = ffi.gc(sk, lib.ossl_chain_free) if sk != _NULL else None
        self._owner = None

    @classmethod
    def held(cls, leaf: Any, chain: Any, owner: Any) -> PeerCertificates:
        """Certificates whose references ``owner`` holds (an ``ossl_snapshot``, kept alive)."""
        self = cls.__new__(cls)
        self._leaf = leaf if leaf != _NULL else None
        self._chain = chain if chain != _NULL else None
        self._owner = owner
        return self

    def decode(self) -> tuple[str | None, str | None, tuple[bytes, ...]]:
        """``(subject, issuer, chain DER)`` as :class:`Connection` reports them; the
        chain starts with the leaf (servers: OpenSSL leaves it out of the chain)."""
        chain: list[bytes] = []
        if self._chain is not None:
            stack = ffi.cast("OPENSSL_STACK *", self._chain)
            for i in range(lib.OPENSSL_sk_num(stack)):
                chain.append(der(ffi.cast("X509 *", lib.OPENSSL_sk_value(stack, i))))
        x = self._leaf
        if x is None:
            return None, None, tuple(chain)
        leaf = der(x)
        if not chain or chain[0] != leaf:
            chain.insert(0, leaf)
        return (
            x509_name(lib.X509_get_subject_name(x)),
            x509_name(lib.X509_get_issuer_name(x)),
            tuple(chain),
        )


def der(x509: Any) -> bytes:
    """``i2d_X509``: the DER encoding of a certificate (b"" if it cannot be encoded)."""
    n = lib.i2d_X509(x509, _NULL)
    if n <= 0:
        return b""
    buf = ffi.new("unsigned char[]", n)
    p = ffi.new("unsigned char **", buf)
    lib.i2d_X509(x509, p)
    return bytes(ffi.buffer(buf, n))


def x509_name(name: Any) -> str:
    """``X509_NAME_print_ex`` with ``XN_FLAG_RFC2253`` into a memory BIO."""
    bio = lib.BIO_new(lib.BIO_s_mem())
    try:
        lib.X509_NAME_print_ex(bio, name, 0, lib.XN_FLAG_RFC2253)
        pp = ffi.new("char **")
        n = lib.BIO_get_mem_data(bio, pp)
        return bytes(ffi.buffer(pp[0], n)).decode("utf-8", "replace")
    finally:
        lib.BIO_free(bio)
