"""A tlslite-ng TLS peer for the interop matrix, run in a subprocess with the venv's python.

``python tlslite_peer.py`` reads one JSON config per line on stdin (one
process serves a whole test module: starting Python and importing tlslite-ng
costs more than a handshake) and answers each with JSON lines ending in
``{"done": true}``. The config names the role
(``server``/``client``), the certificate chain and key files, the pinned
version (``"1.2"``/``"1.3"``), ALPN list, whether a client certificate is
required (server) or sent (client), and how many connections to make or
accept. Every line printed on stdout is one JSON object: ``{"ready": port}``
once a server listens, then one report per connection (version, cipher suite
code, ALPN, resumed, sha256 of the peer's leaf certificate, the line of
application data received, or the error). Exchange per connection: the client
sends one line, the server echoes it back, the client closes.

tlslite-ng has no X.509 path validation or hostname check (its ``Checker``
only pins a leaf fingerprint), so it reports the peer's leaf and the test
compares it with the certificate our side sent.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
from typing import Any

from tlslite.api import (  # type: ignore[import-untyped]
    HandshakeSettings,
    SessionCache,
    TLSConnection,
    X509CertChain,
    parsePEMKey,
)

VERSIONS = {"1.2": (3, 3), "1.3": (3, 4)}
NAMES = {(3, 3): "TLSv1.2", (3, 4): "TLSv1.3"}


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def load_identity(cfg: dict[str, Any]) -> tuple[Any, Any]:
    if not cfg.get("cert"):
        return None, None
    chain = X509CertChain()
    with open(cfg["cert"]) as f:
        chain.parsePemList(f.read())
    with open(cfg["key"]) as f:
        key = parsePEMKey(f.read(), private=True, implementations=["python"])
    return chain, key


def make_settings(cfg: dict[str, Any]) -> HandshakeSettings:
    s = HandshakeSettings()
    s.minVersion = VERSIONS[cfg["min_version"]]
    s.maxVersion = VERSIONS[cfg["max_version"]]
    # Without ticket keys a tlslite server issues no TLS 1.3 tickets.
    s.ticketKeys = [os.urandom(32)]
    # tlslite-ng 0.8.2 bug: a TLS 1.3 client compresses its Certificate when
    # its *own* ClientHello offered compress_certificate, whatever the
    # server's CertificateRequest says (tlsconnection.py passes clientHello to
    # _create_cert_msg). OpenSSL 3.0 has no RFC 8879 and aborts with
    # unexpected_message, so compression is off unless the config asks.
    s.certificate_compression_send = cfg.get("compress_certificate", [])
    return s


def leaf_sha256(chain: Any) -> str | None:
    if chain is None or not chain.x509List:
        return None
    return hashlib.sha256(bytes(chain.x509List[0].writeBytes())).hexdigest()


def read_line(conn: TLSConnection) -> bytes:
    buf = b""
    while b"\n" not in buf:
        chunk = conn.read()
        if not chunk:
            break
        buf += bytes(chunk)
    return buf


def report(conn: TLSConnection, peer_chain: Any, received: bytes | None) -> dict[str, Any]:
    session = conn.session
    proto = session.appProto if session is not None else None
    return {
        "ok": True,
        "version": NAMES.get(tuple(conn.version), str(conn.version)),
        "cipher_code": session.cipherSuite if session is not None else None,
        "alpn": bytes(proto).decode() if proto else None,
        "resumed": bool(conn.resumed),
        "peer_leaf_sha256": leaf_sha256(peer_chain),
        "received": received.decode("ascii", "replace") if received is not None else None,
    }


def failure(exc: BaseException) -> dict[str, Any]:
    return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def serve(cfg: dict[str, Any]) -> None:
    chain, key = load_identity(cfg)
    settings = make_settings(cfg)
    cache = SessionCache()
    alpn = [bytearray(p.encode()) for p in cfg.get("alpn") or []] or None
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        listener.settimeout(cfg["timeout"])
        emit({"ready": listener.getsockname()[1]})
        for _ in range(cfg["connections"]):
            sock, _addr = listener.accept()
            sock.settimeout(cfg["timeout"])
            conn = TLSConnection(sock)
            try:
                conn.handshakeServer(
                    certChain=chain,
                    privateKey=key,
                    reqCert=bool(cfg.get("require_client_cert")),
                    sessionCache=cache,
                    settings=settings,
                    alpn=alpn,
                )
                line = read_line(conn)
                if line:
                    conn.write(line)
                emit(report(conn, conn.session.clientCertChain, line))
                conn.close()
            except Exception as exc:
                emit(failure(exc))
            finally:
                sock.close()


def connect(cfg: dict[str, Any]) -> None:
    chain, key = load_identity(cfg)
    settings = make_settings(cfg)
    alpn = [bytearray(p.encode()) for p in cfg.get("alpn") or []] or None
    session = None
    for i in range(cfg["connections"]):
        sock = socket.create_connection(("127.0.0.1", cfg["port"]), timeout=cfg["timeout"])
        conn = TLSConnection(sock)
        try:
            conn.handshakeClientCert(
                certChain=chain,
                privateKey=key,
                session=session,
                settings=settings,
                serverName="localhost",
                alpn=alpn,
            )
            line = f"{cfg['token']}-{i}\n".encode()
            conn.write(line)
            got = read_line(conn)
            emit(report(conn, conn.session.serverCertChain, got))
            session = conn.session
            conn.close()
        except Exception as exc:
            emit(failure(exc))
            break
        finally:
            sock.close()


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        cfg = json.loads(line)
        try:
            if cfg["role"] == "server":
                serve(cfg)
            else:
                connect(cfg)
        except Exception as exc:
            emit(failure(exc))
        emit({"done": True})


if __name__ == "__main__":
    main()
