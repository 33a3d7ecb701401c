"""What differs between the OpenSSL versions the suite runs against, in one table.

Tests assert reason codes and alert numbers where they can; where they assert
OpenSSL's *text* (reason strings, verify messages, CLI output) or a default
that changed, they read it from here, so porting the suite to another version
is a change to this file, not to the tests. ``make test-openssl`` runs the
suite against 1.1.1, 3.0, 3.5, 3.6 and 4.0.

``requires(feature)`` is the one way a test is skipped for a version: only
when the linked OpenSSL lacks the feature (``ossl_handshake.FEATURES``), and
the reason names the version.
"""

from __future__ import annotations

import pytest

from ossl_handshake import FEATURES, RUNTIME_VERSION
from ossl_handshake._native import RUNTIME_VERSION_TEXT

#: (major, minor) of the libcrypto the binding runs against, e.g. (3, 5).
SERIES: tuple[int, int] = ((RUNTIME_VERSION >> 24) & 0xF, (RUNTIME_VERSION >> 16) & 0xFF)
V111 = SERIES < (3, 0)


def alert_reason(name: str) -> str:
    """The queue's reason text for a received fatal alert, e.g. ``handshake failure``.

    1.1.1-3.0: "sslv3 alert X" for the alerts SSL 3.0 had, "tlsv1 alert X" for
    the others; 3.5/3.6: "ssl/tls alert X" for the former, "tlsv1 alert X" still
    for the latter (measured: "tlsv1 alert unknown ca"); 4.0: "tls alert X" for
    the former, "tlsv1 alert X" still for the latter.
    """
    sslv3 = name in {
        "close notify",
        "unexpected message",
        "bad record mac",
        "decompression failure",
        "handshake failure",
        "no certificate",
        "bad certificate",
        "unsupported certificate",
        "certificate revoked",
        "certificate expired",
        "certificate unknown",
        "illegal parameter",
    }
    if SERIES >= (4, 0) and sslv3:
        return f"tls alert {name}"
    if SERIES >= (3, 2) and sslv3:
        return f"ssl/tls alert {name}"
    return f"{'sslv3' if sslv3 else 'tlsv1'} alert {name}"


#: X509_verify_cert_error_string for the codes the tests name.
VERIFY_TEXT: dict[int, str] = {
    62: "Hostname mismatch" if V111 else "hostname mismatch",
    64: "IP address mismatch",
}

#: The queue's reasons for EOF in the middle of a handshake: 1.1.1 queues none
#: (SSL_ERROR_SYSCALL, ret -1 or 0, errno 0); 3.0+ "unexpected eof while reading".
EOF_REASONS: list[str] = [] if V111 else ["unexpected eof while reading"]

#: EOF from the peer in the middle of a handshake, as the reader's step sees it:
#: ``(ret, SSL_get_error name, queue reasons, alert we answer with)``. 3.0+:
#: SSL_ERROR_SSL "unexpected eof while reading" and a decode_error alert into
#: the closed pipe; 1.1.1: SSL_ERROR_SYSCALL, errno 0, an empty queue, no alert
#: (the binding raises UnexpectedEOFError for both).
EOF_IN_HANDSHAKE: tuple[int, str, list[str], str | None] = (
    (-1, "SYSCALL", [], None) if V111 else (-1, "SSL", EOF_REASONS, "decode_error")
)
EOF_ALERT = EOF_IN_HANDSHAKE[3]

#: The reasons SSL_CTX_set1_groups_list queues for an unknown group name
#: (1.1.1 queues nothing).
BAD_GROUP_REASONS: list[str] = ["passed invalid argument"] if SERIES == (3, 0) else []

#: The alert a client sends when min_version > max_version leaves it no
#: protocol ("no protocols available"): 1.1.1 internal_error, 3.0+ protocol_version.
NO_PROTOCOLS_ALERT = "internal_error" if V111 else "protocol_version"

#: The lowest security level that refuses a TLS 1.0/1.1 handshake, the side
#: that fails and its reasons. 1.1.1: SHA-1 signatures pass at level 1, at 2
#: the server fails with "internal error"; 3.0: from level 1 the server cannot
#: sign ("no suitable signature algorithm"); 3.5+: from level 1 the client
#: refuses TLS 1.0/1.1 before sending anything ("no protocols available").
#: Tests pin the level: the default is 2 on Debian's 1.1.1 and on 3.5+.
LEGACY_REFUSED: tuple[int, str, list[str]] = (
    (2, "server", ["internal error"])
    if V111
    else (1, "server", ["no suitable signature algorithm"])
    if SERIES == (3, 0)
    else (1, "client", ["no protocols available"])
)

#: A ServerHello whose legacy_version was turned from TLS 1.2 into 1.1, with a
#: GCM suite: 3.0 rejects the suite ("wrong cipher returned",
#: illegal_parameter, unread by the server); 1.1.1 and 3.5+ reject the version
#: first ("unsupported protocol", protocol_version, read by the server).
SERVERHELLO_TLS11: tuple[str, str, bool] = (
    ("wrong cipher returned", "illegal_parameter", False)
    if SERIES == (3, 0)
    else ("unsupported protocol", "protocol_version", True)
)

#: An SSLv2-format ClientHello asking for TLS 1.0: 3.0 finds no shared cipher;
#: 1.1.1, 3.5 and 3.6 refuse the version; 4.0's record layer no longer reads
#: the SSLv2 format at all ("wrong version number", no alert).
SSLV2_HELLO: tuple[str, str | None] = (
    ("no shared cipher", "handshake_failure")
    if SERIES == (3, 0)
    else ("wrong version number", None)
    if SERIES >= (4, 0)
    else ("unsupported protocol", "protocol_version")
)

#: The record layer of 3.2+ (ssl/record/methods/) adds a generic "record layer
#: failure" after the specific reason of a record it rejects.
RECORD_LAYER_TAIL: list[str] = ["record layer failure"] if SERIES >= (3, 2) else []
_RECORD_ERRORS = {"bad record type", "decryption failed or bad record mac", "data length too long"}


def reasons_of(first: str) -> list[str]:
    """The whole queue (as reason texts) of a failure whose specific reason is ``first``."""
    return [first, *RECORD_LAYER_TAIL] if first in _RECORD_ERRORS else [first]


#: A record header announcing 0xffff bytes: "packet length too long" up to 3.1,
#: "data length too long" from the 3.2 record layer.
OVERLONG_RECORD_REASON = "data length too long" if SERIES >= (3, 2) else "packet length too long"

#: How the ``openssl`` CLI prints a distinguished name (x509 -text, s_server's
#: "depth=0 ..."): "CN = x, O = y" up to 3.4, "CN=x, O=y" from 3.5.
CLI_DN_EQ = "=" if SERIES >= (3, 5) else " = "

#: The function that reports an HTTP request sent to a TLS server (the error
#: text names it on 3.0+): ssl3_get_record, then the 3.2 record layer's.
HTTP_REQUEST_FUNC = "tls_validate_record_header" if SERIES >= (3, 2) else "ssl3_get_record"

#: The group a default client and server agree on: X25519 up to 3.4, the hybrid
#: X25519MLKEM768 from 3.5 (tests that name a group pin it instead).
DEFAULT_GROUP = "X25519MLKEM768" if SERIES >= (3, 5) else "x25519"


def requires(feature: str) -> pytest.MarkDecorator:
    """Skip unless ``FEATURES[feature]``; the reason names the linked OpenSSL."""
    return pytest.mark.skipif(
        not FEATURES[feature],
        reason=f"{RUNTIME_VERSION_TEXT} lacks {feature} (FEATURES[{feature!r}] is False)",
    )


def group(name: str) -> str | None:
    """What ``SideResult.group`` reads for a negotiated group ``name``.

    1.1.1 has no ``SSL_get_negotiated_group``: the binding reads None there
    (``FEATURES["negotiated_group"]`` is False), which the tests then assert.
    """
    return name if FEATURES["negotiated_group"] else None


def absent_before(series: tuple[int, int], what: str) -> pytest.MarkDecorator:
    """Skip on OpenSSL older than ``series``, which lacks ``what`` (printed as the reason)."""
    return pytest.mark.skipif(
        series > SERIES,
        reason=f"{RUNTIME_VERSION_TEXT} lacks {what} (added in {series[0]}.{series[1]})",
    )


def own_signature(kind: str) -> str | None:
    """What ``SideResult.signature_algorithm`` (our own signature type) reads for ``kind``.

    ``SSL_get_signature_type_nid`` is 3.0+ (``FEATURES["signature_type"]``).
    """
    return kind if FEATURES["signature_type"] else None


#: Whether a server staples an OCSP response that is about another certificate
#: (``SSL_set_tlsext_status_ocsp_resp`` with a response for a foreign serial).
#: Measured: 1.1.1, 3.0 and 3.5 send it as given (the client reads it and
#: finds no SingleResponse for its peer); 3.6 and 4.0 send nothing (the
#: client's status callback sees None).
STAPLES_FOREIGN_OCSP_RESPONSE: bool = SERIES < (3, 6)
#: The alert a server answers a malformed record with after the handshake
#: (the probes of tests/_probes.py; the same for ``openssl s_server -www`` and
#: ``ossl-handshake server --www`` on one libssl); the exceptions are in probe_alert.
_PROBE_ALERTS = {
    "bad-mac": "bad_record_mac",
    "ccs-after-finished": "unexpected_message",
    "bad-key-update": "illegal_parameter",
    "oversized-record": "record_overflow",
    "garbage": "protocol_version",
}


def probe_alert(probe: str, version: str) -> str:
    """The alert for ``probe`` under TLS ``version`` ("1.2"/"1.3").

    A plaintext ChangeCipherSpec after a TLS 1.2 handshake is read as an
    encrypted record, so it fails decryption: ``bad_record_mac`` on 3.0/3.1,
    ``internal_error`` on 1.1.1 and from the 3.2 record layer (measured on
    1.1.1, 3.0, 3.5, 3.6, 4.0; s_server alike); TLS 1.3 accepts a CCS only
    during the handshake (``unexpected_message``). Garbage (content type and
    version 0xff) under TLS 1.3: ``protocol_version`` up to 3.1,
    ``unexpected_message`` from 3.2 (which checks the type first).
    """
    if probe == "ccs-after-finished" and version == "1.2":
        return "internal_error" if V111 or SERIES >= (3, 2) else "bad_record_mac"
    if probe == "garbage" and version == "1.3" and SERIES >= (3, 2):
        return "unexpected_message"
    return _PROBE_ALERTS[probe]


#: A server without DHE parameters negotiates ``DHE-*`` anyway from 4.0
#: (automatic parameters by default); up to 3.x it offers no DHE suite
#: ("no shared cipher" for a DHE-only client). Measured on 1.1.1, 3.0, 3.5, 3.6, 4.0.
DHE_BY_DEFAULT = SERIES >= (4, 0)
#: SSL_export_keying_material: is "no context" (use_context=0) a different output
#: from an empty context? TLS 1.2: yes (RFC 5705 puts the context length in the
#: seed only when there is one); TLS 1.3 (RFC 8446 7.5): no, an absent context
#: is hashed as an empty one. Measured the same on 1.1.1, 3.0 and 4.0.
EXPORTER_EMPTY_CONTEXT_DIFFERS: dict[str, bool] = {"1.2": True, "1.3": False}

#: Does a server with OpenSSL's default options take part in a client-initiated
#: renegotiation? 1.1.1: yes; 3.0 made it opt-in (SSL_OP_ALLOW_CLIENT_RENEGOTIATION),
#: and a refusing server answers with a no_renegotiation warning alert.
CLIENT_RENEGOTIATION_BY_DEFAULT = V111
#: ``openssl s_server`` needs ``-client_renegotiation`` (3.0+) to allow it.
S_SERVER_CLIENT_RENEGOTIATION: list[str] = [] if V111 else ["-client_renegotiation"]

#: The alert for a TLS 1.3 PSK binder that does not verify: illegal_parameter on
#: 1.1.1 and 3.0, decrypt_error (RFC 8446 4.2.11) on 3.5 and 4.0 (measured; the
#: series between are not in the matrix).
PSK_BINDER_ALERT = "decrypt_error" if SERIES >= (3, 5) else "illegal_parameter"
