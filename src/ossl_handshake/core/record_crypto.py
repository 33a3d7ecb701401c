"""TLS 1.3 record protection with libcrypto: HKDF-Expand-Label, AEAD seal and open.

What the in-process :class:`~ossl_handshake.wire.Wire` needs to read and
rewrite encrypted TLS 1.3 records (RFC 8446 sections 5.2 and 7), built on our
own cffi module and therefore on the same libcrypto as the connections
(``glue/crypto.c``: ``EVP_CIPHER_CTX`` AEAD, ``EVP_PKEY_HKDF`` expand-only).
``wire/`` stays pure: the upper layers hand it objects of this module through
the :class:`~ossl_handshake.wire.decrypt.TrafficKeys` protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ossl_handshake._native import ffi, lib
from ossl_handshake.core.errors import SSLError, ensure

#: Bytes of every TLS 1.3 AEAD tag (all three suites below).
TAG_LEN = 16
#: Bytes of the per-record nonce and of the traffic IV (RFC 8446 5.3).
IV_LEN = 12
#: TLS 1.3 records say ``application_data`` and TLS 1.2 in their header.
_OUTER_TYPE = 23
#: Largest TLSInnerPlaintext (2^14 + 1) plus the expansion RFC 8446 5.2 allows.
MAX_CIPHERTEXT = (1 << 14) + 256


@dataclass(frozen=True)
class Suite:
    """A TLS 1.3 cipher suite's AEAD and hash: ``code`` is its IANA number (0x1301...)."""

    code: int
    name: str
    key_len: int
    hash_len: int
    cipher: Any
    digest: Any


#: The suites whose records this module can protect (TLS_AES_128_CCM_* are not here).
SUITES: dict[int, Suite] = {
    0x1301: Suite(
        0x1301, "TLS_AES_128_GCM_SHA256", 16, 32, lib.EVP_aes_128_gcm(), lib.EVP_sha256()
    ),
    0x1302: Suite(
        0x1302, "TLS_AES_256_GCM_SHA384", 32, 48, lib.EVP_aes_256_gcm(), lib.EVP_sha384()
    ),
    0x1303: Suite(
        0x1303,
        "TLS_CHACHA20_POLY1305_SHA256",
        32,
        32,
        lib.EVP_chacha20_poly1305(),
        lib.EVP_sha256(),
    ),
}


def suite(code: int) -> Suite | None:
    """The :class:`Suite` for an IANA code, None for one we cannot decrypt (CCM)."""
    return SUITES.get(code)


def hkdf_expand_label(s: Suite, secret: bytes, label: str, context: bytes, length: int) -> bytes:
    """HKDF-Expand-Label (RFC 8446 7.1) with the suite's hash (``EVP_PKEY_HKDF``, expand only)."""
    full = b"tls13 " + label.encode("ascii")
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + bytes([len(context)]) + context
    out = ffi.new("unsigned char[]", length)
    ensure(
        lib.ossl_hkdf_expand,
        *(s.digest, secret, len(secret), info, len(info), out, length),
        raising=SSLError,
        operation="EVP_PKEY_derive",
    )
    return bytes(ffi.buffer(out, length))


def next_secret(s: Suite, secret: bytes) -> bytes:
    """The secret after a KeyUpdate: HKDF-Expand-Label(secret, "traffic upd", "", Hash.length)."""
    return hkdf_expand_label(s, secret, "traffic upd", b"", s.hash_len)


class RecordCipher:
    """One direction's keys for one traffic secret: ``open`` and ``seal`` whole records.

    key and IV come from the secret by HKDF-Expand-Label ("key", "iv"); the
    nonce of record ``seq`` is the IV XOR the 64-bit sequence number padded
    on the left (RFC 8446 5.3); the additional data is the record header.
    """

    def __init__(self, s: Suite, secret: bytes) -> None:
        self.suite = s
        self.key = hkdf_expand_label(s, secret, "key", b"", s.key_len)
        self.iv = int.from_bytes(hkdf_expand_label(s, secret, "iv", b"", IV_LEN), "big")

    def _nonce(self, seq: int) -> bytes:
        return (self.iv ^ seq).to_bytes(IV_LEN, "big")

    def open(self, seq: int, record: bytes) -> bytes | None:
        """The TLSInnerPlaintext (content, type byte, padding) of ``record``, or None.

        None when the tag does not verify: another key, another sequence
        number, or a record that is not ours.
        """
        body = record[5:]
        if len(body) < TAG_LEN + 1 or len(body) > MAX_CIPHERTEXT:
            return None
        n = len(body) - TAG_LEN
        out = ffi.new("unsigned char[]", n)
        tag = ffi.new("unsigned char[]", body[n:])
        # A tag that does not verify is an answer here, not an error: the
        # queue discipline of ensure() without its raise.
        ok = ensure(
            lib.ossl_aead,
            *(self.suite.cipher, 0, self.key, self._nonce(seq), IV_LEN, record[:5], 5),
            *(body[:n], n, out, tag),
            ok=lambda _ret: True,
        )
        return bytes(ffi.buffer(out, n)) if ok else None

    def seal(self, seq: int, inner: bytes) -> bytes:
        """A whole record protecting ``inner`` (a TLSInnerPlaintext) as record number ``seq``."""
        length = len(inner) + TAG_LEN
        header = bytes([_OUTER_TYPE, 3, 3]) + length.to_bytes(2, "big")
        out = ffi.new("unsigned char[]", max(len(inner), 1))
        tag = ffi.new("unsigned char[]", TAG_LEN)
        ensure(
            lib.ossl_aead,
            *(self.suite.cipher, 1, self.key, self._nonce(seq), IV_LEN, header, 5),
            *(inner, len(inner), out, tag),
            raising=SSLError,
            operation="EVP_EncryptFinal_ex",
        )
        return header + bytes(ffi.buffer(out, len(inner))) + bytes(ffi.buffer(tag, TAG_LEN))


__all__ = [
    "SUITES",
    "TAG_LEN",
    "RecordCipher",
    "Suite",
    "hkdf_expand_label",
    "next_secret",
    "suite",
]
