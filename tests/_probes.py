"""A scripted tlslite-ng client that breaks the record layer after a finished handshake.

``probe(port, name, version)`` connects, completes the handshake with
tlslite-ng (pure Python, its own record layer), then sends one malformed
thing (:data:`PROBES`) and reads until the server's alert or close. tlslite
keeps its own keys, so the server's alert is read *decrypted* (in TLS 1.3 it
is an encrypted record) and reported by name; a reset or a close without an
alert is reported as such, which is what the server's half-close prevents.

tlslite-ng does no X.509 path validation (its ``Checker`` pins a leaf
fingerprint); the probes are about the record layer, not the certificate.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

from tlslite.api import HandshakeSettings, TLSConnection  # type: ignore[import-untyped]
from tlslite.constants import (  # type: ignore[import-untyped]
    AlertDescription,
    AlertLevel,
    ContentType,
)
from tlslite.errors import TLSAbruptCloseError, TLSRemoteAlert  # type: ignore[import-untyped]
from tlslite.messages import Alert, Message  # type: ignore[import-untyped]

from ossl_handshake.tls.names import alert_name

VERSIONS = {"1.2": (3, 3), "1.3": (3, 4)}
REQUEST = b"GET / HTTP/1.0\r\n\r\n"


class ArmedSocket:
    """A socket that, when armed, flips the last byte of the next record it sends.

    The last byte of a TLS 1.3 or AES-GCM record is the AEAD tag's: the
    server's decryption fails (``bad_record_mac``), while tlslite's own state
    (sequence numbers, keys) stays as if the record had been good.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.armed = False

    def _maybe_corrupt(self, data: bytes | bytearray) -> bytes:
        if not self.armed:
            return bytes(data)
        self.armed = False
        out = bytearray(data)
        out[-1] ^= 0x01
        return bytes(out)

    def send(self, data: bytes | bytearray) -> int:
        return self.sock.send(self._maybe_corrupt(data))

    def sendall(self, data: bytes | bytearray) -> None:
        self.sock.sendall(self._maybe_corrupt(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


def _bad_mac(conn: TLSConnection, arm: ArmedSocket, raw: socket.socket) -> None:
    arm.armed = True
    conn.write(REQUEST)


def _ccs_after_finished(conn: TLSConnection, arm: ArmedSocket, raw: socket.socket) -> None:
    raw.sendall(b"\x14\x03\x03\x00\x01\x01")  # a plaintext ChangeCipherSpec record


def _bad_key_update(conn: TLSConnection, arm: ArmedSocket, raw: socket.socket) -> None:
    # KeyUpdate (24), length 1, request_update 5: neither 0 nor 1 (RFC 8446 4.6.3).
    msg = Message(ContentType.handshake, bytearray(b"\x18\x00\x00\x01\x05"))
    for _ in conn._sendMsg(msg, update_hashes=False):
        pass


def _oversized(conn: TLSConnection, arm: ArmedSocket, raw: socket.socket) -> None:
    # Application data of 2^14 + 2049 bytes: more than any version allows in a record.
    n = (1 << 14) + 2049
    raw.sendall(b"\x17\x03\x03" + n.to_bytes(2, "big") + bytes(n))


def _garbage(conn: TLSConnection, arm: ArmedSocket, raw: socket.socket) -> None:
    raw.sendall(b"\xff" * 32)  # content type 255, version 0xffff


def _request(conn: TLSConnection, arm: ArmedSocket, raw: socket.socket) -> None:
    conn.write(REQUEST)


def _close_notify_first(conn: TLSConnection, arm: ArmedSocket, raw: socket.socket) -> None:
    alert = Alert().create(AlertDescription.close_notify, AlertLevel.warning)
    for _ in conn._sendMsg(alert):
        pass


def _fatal_alert(conn: TLSConnection, arm: ArmedSocket, raw: socket.socket) -> None:
    alert = Alert().create(AlertDescription.internal_error, AlertLevel.fatal)
    for _ in conn._sendMsg(alert):
        pass


#: name -> what the client sends after the handshake.
PROBES = {
    "bad-mac": _bad_mac,
    "ccs-after-finished": _ccs_after_finished,
    "bad-key-update": _bad_key_update,
    "oversized-record": _oversized,
    "garbage": _garbage,
    "request": _request,
    "close-notify-first": _close_notify_first,
    "fatal-alert": _fatal_alert,
}


@dataclass
class ProbeResult:
    """What the client saw after its probe."""

    alert: str | None = None  # the server's alert, by name
    data: bytes = b""  # application data read before it
    ended: str = ""  # "alert", "close_notify", "eof" or "reset"
    errors: list[str] = field(default_factory=list)


def probe(port: int, name: str, version: str, timeout: float = 10.0) -> ProbeResult:
    """Handshake with tlslite-ng on ``127.0.0.1:port``, send probe ``name``, read the answer."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    arm = ArmedSocket(raw)
    result = ProbeResult()
    try:
        conn = TLSConnection(arm)
        settings = HandshakeSettings()
        settings.minVersion = settings.maxVersion = VERSIONS[version]
        conn.handshakeClientCert(settings=settings, serverName="localhost")
        PROBES[name](conn, arm, raw)
        while True:
            chunk = conn.read()
            if not chunk:
                result.ended = "close_notify"
                break
            result.data += bytes(chunk)
    except TLSRemoteAlert as exc:
        result.alert = alert_name(exc.description)
        result.ended = "close_notify" if result.alert == "close_notify" else "alert"
    except TLSAbruptCloseError:
        result.ended = "eof"
    except ConnectionResetError as exc:
        result.ended = "reset"
        result.errors.append(repr(exc))
    finally:
        raw.close()
    return result
