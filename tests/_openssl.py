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

    1.1.1-3.1: "sslv3 alert X" (or "tlsv1 alert X" for TLS-only alerts);
    3.2-3.6: "ssl/tls alert X"; 4.0: "tls alert X".
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
    if SERIES >= (4, 0):
        return f"tls alert {name}"
    if SERIES >= (3, 2):
        return f"ssl/tls alert {name}"
    return f"{'sslv3' if sslv3 else 'tlsv1'} alert {name}"


#: X509_verify_cert_error_string for the codes the tests name.
VERIFY_TEXT: dict[int, str] = {
    62: "Hostname mismatch" if V111 else "hostname mismatch",
    64: "IP address mismatch" if V111 else "IP address mismatch",
}

#: The queue's reasons for EOF in the middle of a handshake: 1.1.1 queues none
#: (SSL_ERROR_SYSCALL, ret -1 or 0, errno 0); 3.0+ "unexpected eof while reading".
EOF_REASONS: list[str] = [] if V111 else ["unexpected eof while reading"]

#: The group a default client and server agree on: X25519 up to 3.4, the hybrid
#: X25519MLKEM768 from 3.5 (tests that name a group pin it instead).
DEFAULT_GROUP = "X25519MLKEM768" if SERIES >= (3, 5) else "x25519"


def requires(feature: str) -> pytest.MarkDecorator:
    """Skip unless ``FEATURES[feature]``; the reason names the linked OpenSSL."""
    return pytest.mark.skipif(
        not FEATURES[feature],
        reason=f"{RUNTIME_VERSION_TEXT} lacks {feature} (FEATURES[{feature!r}] is False)",
    )
