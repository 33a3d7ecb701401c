"""Certificates, keys and trust anchors from memory (PEM or DER bytes), and per connection.

A server whose chain and key are bytes, a client whose CAs are bytes, one
connection with its own certificate: in memory, and over sockets against
``openssl s_client`` / ``openssl s_server``.
"""

from __future__ import annotations

import base64
import os
import socket
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ossl_handshake import (
    ConfigurationError,
    Connection,
    Context,
    ContextInUseError,
    Role,
    certs,
    drive,
    handshake,
    memory_pair,
)
from tests._contexts import client, run, server
from tests._peers import SServer, openssl_cli, s_server_identity
from tests._peers import run as run_cmd

pytestmark = pytest.mark.timeout(60)

PASSWORD = "in-memory-s3cret"


def _pem_blocks(path: Path) -> list[str]:
    """Each PEM block of a file, in order."""
    out, cur = [], []
    for line in path.read_text().splitlines():
        cur.append(line)
        if line.startswith("-----END "):
            out.append("\n".join(cur) + "\n")
            cur = []
    return out


def _der(pem_block: str) -> bytes:
    body = [ln for ln in pem_block.strip().splitlines() if not ln.startswith("-----")]
    return base64.b64decode("".join(body))


def _chain_der(path: Path) -> list[bytes]:
    return [ssl.PEM_cert_to_DER_cert(b) for b in _pem_blocks(path)]


@pytest.fixture(scope="module")
def encrypted_key_pem() -> bytes:
    openssl = openssl_cli()
    out = subprocess.run(
        [openssl, "pkey", "-aes256", "-passout", "env:KEY_PASSWORD"],
        input=certs.SERVER_ECDSA.key.read_bytes(),
        capture_output=True,
        check=True,
        timeout=30,
        env={**os.environ, "KEY_PASSWORD": PASSWORD},
    )
    assert b"ENCRYPTED" in out.stdout
    return out.stdout


def test_server_chain_and_key_from_pem_bytes() -> None:
    srv = server(cert=certs.SERVER_RSA.cert.read_bytes(), key=certs.SERVER_RSA.key.read_bytes())
    assert srv.cert is None  # no file behind it
    result = run(client(), srv)
    assert result.ok
    # The chain came along: leaf then the intermediate, as from the file.
    assert result.client.peer_chain == tuple(_chain_der(certs.SERVER_RSA.cert))


def test_server_chain_and_key_from_der_bytes() -> None:
    chain = b"".join(_chain_der(certs.SERVER_ECDSA.cert))  # leaf DER + intermediate DER
    key = _der(certs.SERVER_ECDSA.key.read_text())  # unencrypted PKCS#8 DER
    result = run(client(), server(cert=chain, key=key))
    assert result.ok
    assert result.client.peer_chain == tuple(_chain_der(certs.SERVER_ECDSA.cert))


def test_client_trusts_cadata_in_pem_and_in_der() -> None:
    (root,) = _chain_der(certs.CA)
    for cadata in (certs.CA.read_bytes(), root):
        ctx = Context(Role.CLIENT, cadata=cadata)
        result = run(ctx, server())
        assert result.ok and result.client.verify_result == 0


def test_without_cadata_the_same_client_does_not_trust_the_server() -> None:
    result = run(Context(Role.CLIENT), server())
    assert not result.ok and result.failed_side is Role.CLIENT


def test_cert_path_with_key_bytes_and_the_reverse() -> None:
    a = server(cert=certs.SERVER_ECDSA.cert, key=certs.SERVER_ECDSA.key.read_bytes())
    b = server(cert=certs.SERVER_ECDSA.cert.read_bytes(), key=certs.SERVER_ECDSA.key)
    assert a.cert == certs.SERVER_ECDSA.cert
    assert run(client(), a).ok and run(client(), b).ok


def test_encrypted_key_bytes_with_a_password(encrypted_key_pem: bytes) -> None:
    asked: list[int] = []

    def ask() -> str:
        asked.append(1)
        return PASSWORD

    cert = certs.SERVER_ECDSA.cert.read_bytes()
    assert run(client(), server(cert=cert, key=encrypted_key_pem, password=PASSWORD)).ok
    assert run(client(), server(cert=cert, key=encrypted_key_pem, password=ask)).ok
    assert asked == [1]
    with pytest.raises(ConfigurationError, match="wrong password"):
        server(cert=cert, key=encrypted_key_pem, password="nope")
    with pytest.raises(ConfigurationError, match="encrypted: pass password"):
        server(cert=cert, key=encrypted_key_pem)


def test_a_password_callable_is_not_called_for_a_plain_key_in_memory() -> None:
    def ask() -> str:
        raise AssertionError("asked for the password of a plain key")

    srv = server(
        cert=certs.SERVER_ECDSA.cert.read_bytes(),
        key=certs.SERVER_ECDSA.key.read_bytes(),
        password=ask,
    )
    assert run(client(), srv).ok


@pytest.mark.parametrize(
    ("cert", "key", "match"),
    [
        (b"garbage", certs.SERVER_ECDSA.key.read_bytes(), "not PEM or DER certificates"),
        (
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            certs.SERVER_ECDSA.key.read_bytes(),
            "not PEM or DER certificates",
        ),
        (certs.SERVER_ECDSA.cert.read_bytes(), b"\x30\x03\x02\x01\x00", "not a PEM or DER"),
        (certs.SERVER_ECDSA.cert.read_bytes(), certs.CA.read_bytes(), "not a PEM or DER"),
        (
            certs.SERVER_ECDSA.cert.read_bytes(),
            certs.MISMATCHED_KEY.read_bytes(),
            "does not match",
        ),
    ],
    ids=["garbage", "damaged-pem", "garbage-der-key", "cert-as-key", "mismatched-key"],
)
def test_wrong_bytes_are_configuration_errors(cert: bytes, key: bytes, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        server(cert=cert, key=key)


def test_wrong_types_and_empty_data_are_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        server(cert=b"", key=b"x")
    with pytest.raises(TypeError):
        server(cert=42, key=b"x")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="not PEM or DER"):
        client(cadata=b"not a certificate")
    with pytest.raises(TypeError, match="bytes"):
        client(cadata="-----BEGIN CERTIFICATE-----")  # type: ignore[arg-type]


def test_loading_bytes_is_refused_while_in_use() -> None:
    srv = server()
    c, _ = memory_pair(client(), srv, server_name="localhost")
    pem = certs.SERVER_RSA.cert.read_bytes()
    with pytest.raises(ContextInUseError):
        srv.load_cert_chain(pem, certs.SERVER_RSA.key.read_bytes())
    c.close()


# ---- one connection's own certificate ---------------------------------------------------


@pytest.fixture(scope="module")
def ecdsa_server() -> Context:
    return server()


def test_one_server_connection_presents_its_own_certificate(ecdsa_server: Context) -> None:
    c, s = memory_pair(client(), ecdsa_server, server_name="localhost")
    s.use_certificate(certs.SERVER_RSA.cert.read_bytes(), certs.SERVER_RSA.key.read_bytes())
    result = handshake(c, s)
    assert result.client.peer_chain == tuple(_chain_der(certs.SERVER_RSA.cert))
    # The context was not touched: the next connection gets the ECDSA chain.
    assert run(client(), ecdsa_server).client.peer_chain == tuple(
        _chain_der(certs.SERVER_ECDSA.cert)
    )


def test_one_client_connection_presents_its_own_certificate_to_an_mtls_server() -> None:
    srv = server(cafile=certs.CA, client_auth="require")
    cli = client()
    bare = run(cli, srv)
    assert not bare.ok and bare.failed_side is Role.SERVER
    c, s = memory_pair(cli, srv, server_name="localhost")
    c.use_certificate(certs.CLIENT.cert, certs.CLIENT.key)  # paths work too
    result = drive(c, s)
    assert result.ok
    assert result.server.peer_chain == tuple(_chain_der(certs.CLIENT.cert))


def test_per_connection_bad_key_and_password(
    ecdsa_server: Context, encrypted_key_pem: bytes
) -> None:
    _, s = memory_pair(client(), ecdsa_server, server_name="localhost")
    cert = certs.SERVER_ECDSA.cert.read_bytes()
    with pytest.raises(ConfigurationError, match="does not match"):
        s.use_certificate(cert, certs.MISMATCHED_KEY.read_bytes())
    with pytest.raises(ConfigurationError, match="wrong password"):
        s.use_certificate(cert, encrypted_key_pem, password="nope")
    s.use_certificate(cert, encrypted_key_pem, password=PASSWORD)
    with pytest.raises(ConfigurationError, match="cannot read cert"):
        s.use_certificate(Path("/nonexistent/cert.pem"))
    s.close()
    with pytest.raises(ValueError):  # ClosedError
        s.use_certificate(cert, certs.SERVER_ECDSA.key.read_bytes())


# ---- over sockets, against the openssl command ----------------------------------------


def test_openssl_s_client_verifies_our_in_memory_chain(ossl_tls_server: Any) -> None:
    openssl = openssl_cli()
    srv = server(cert=certs.SERVER_RSA.cert.read_bytes(), key=certs.SERVER_RSA.key.read_bytes())
    host, port = ossl_tls_server(srv).address
    rc, out, err = run_cmd(
        [
            *(openssl, "s_client", "-connect", f"{host}:{port}", "-servername", "localhost"),
            *("-CAfile", str(certs.CA), "-verify_return_error", "-verify_hostname", "localhost"),
        ]
    )
    assert rc == 0, err
    assert "Verify return code: 0 (ok)" in out


def test_our_client_with_cadata_verifies_openssl_s_server() -> None:
    openssl = openssl_cli()
    peer = SServer(openssl, *s_server_identity(certs.SERVER_ECDSA))
    try:
        sock = socket.create_connection(("127.0.0.1", peer.port), timeout=10)
        ctx = Context(Role.CLIENT, cadata=certs.CA.read_bytes())
        with Connection(ctx, sock=sock, server_name="localhost") as conn:
            conn.do_handshake()
            assert conn.verify_result == 0
            assert conn.peer_chain == _chain_der(certs.SERVER_ECDSA.cert)
    finally:
        peer.kill()
