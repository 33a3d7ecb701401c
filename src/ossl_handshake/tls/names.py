"""Names of TLS wire constants (RFC 8446, RFC 5246, IANA registries).

Pure tables, no OpenSSL calls: the wire parser, the trace and the ladder use
them to print ``ClientHello`` instead of ``1`` and ``bad_record_mac`` instead
of ``20``.
"""

from __future__ import annotations

CONTENT_TYPES: dict[int, str] = {
    20: "change_cipher_spec",
    21: "alert",
    22: "handshake",
    23: "application_data",
    24: "heartbeat",
}

HANDSHAKE_TYPES: dict[int, str] = {
    0: "HelloRequest",
    1: "ClientHello",
    2: "ServerHello",
    3: "HelloVerifyRequest",
    4: "NewSessionTicket",
    5: "EndOfEarlyData",
    6: "HelloRetryRequest",
    8: "EncryptedExtensions",
    11: "Certificate",
    12: "ServerKeyExchange",
    13: "CertificateRequest",
    14: "ServerHelloDone",
    15: "CertificateVerify",
    16: "ClientKeyExchange",
    20: "Finished",
    21: "CertificateURL",
    22: "CertificateStatus",
    24: "KeyUpdate",
    25: "CompressedCertificate",
    254: "MessageHash",
}

ALERT_LEVELS: dict[int, str] = {1: "warning", 2: "fatal"}

ALERT_DESCRIPTIONS: dict[int, str] = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    21: "decryption_failed",
    22: "record_overflow",
    30: "decompression_failure",
    40: "handshake_failure",
    41: "no_certificate",
    42: "bad_certificate",
    43: "unsupported_certificate",
    44: "certificate_revoked",
    45: "certificate_expired",
    46: "certificate_unknown",
    47: "illegal_parameter",
    48: "unknown_ca",
    49: "access_denied",
    50: "decode_error",
    51: "decrypt_error",
    60: "export_restriction",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    86: "inappropriate_fallback",
    90: "user_canceled",
    100: "no_renegotiation",
    109: "missing_extension",
    110: "unsupported_extension",
    111: "certificate_unobtainable",
    112: "unrecognized_name",
    113: "bad_certificate_status_response",
    114: "bad_certificate_hash_value",
    115: "unknown_psk_identity",
    116: "certificate_required",
    120: "no_application_protocol",
}

ALERT_CODES: dict[str, int] = {name: code for code, name in ALERT_DESCRIPTIONS.items()}

PROTOCOL_VERSIONS: dict[int, str] = {
    0x0002: "SSLv2",
    0x0300: "SSLv3",
    0x0301: "TLSv1",
    0x0302: "TLSv1.1",
    0x0303: "TLSv1.2",
    0x0304: "TLSv1.3",
    0xFEFF: "DTLSv1",
    0xFEFD: "DTLSv1.2",
}

#: ServerHello.random of a HelloRetryRequest (RFC 8446, 4.1.3).
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")


def content_type_name(value: int) -> str:
    """``handshake`` for 22; ``content_type_<n>`` for values outside the registry."""
    return CONTENT_TYPES.get(value, f"content_type_{value}")


def handshake_type_name(value: int) -> str:
    """``ClientHello`` for 1; ``handshake_type_<n>`` for values outside the registry."""
    return HANDSHAKE_TYPES.get(value, f"handshake_type_{value}")


def alert_name(description: int) -> str:
    """``bad_record_mac`` for 20; ``alert_<n>`` for values outside the registry."""
    return ALERT_DESCRIPTIONS.get(description, f"alert_{description}")


def alert_code(name: str) -> int:
    """Inverse of :func:`alert_name`: 20 for ``bad_record_mac``; ``KeyError`` if unknown."""
    return ALERT_CODES[name]


def version_name(value: int) -> str:
    """``TLSv1.3`` for 0x0304; ``0x....`` for anything else."""
    return PROTOCOL_VERSIONS.get(value, f"0x{value:04x}")


def packed_alert_name(packed: int) -> str | None:
    """The description name of an alert kept as ``(level << 8) | description``
    (the C info callback's bookkeeping); None for -1 (no alert)."""
    return alert_name(packed & 0xFF) if packed >= 0 else None
