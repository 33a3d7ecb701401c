"""Verification control: CRL checks, depth, partial chains, purpose, host flags, chains.

The CRLs are the test PKI's (``certs/gen-ocsp-crl.sh``): the intermediate's
revokes ``REVOKED_SERVER``; the root's revokes nothing. In memory, and over
sockets against ``openssl s_server`` / ``openssl s_client -crl_check``.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ossl_handshake import (
    CertificateVerifyError,
    ConfigurationError,
    Connection,
    ContextInUseError,
    HostFlags,
    Purpose,
    Role,
    VerifyFlags,
    certs,
    lib,
    memory_pair,
)
from tests._contexts import client, run, server
from tests._peers import SServer, openssl_cli, s_server_identity
from tests._peers import run as run_cmd

pytestmark = pytest.mark.timeout(60)

REVOKED = int(lib.X509_V_ERR_CERT_REVOKED)
NO_CRL = int(lib.X509_V_ERR_UNABLE_TO_GET_CRL)
TOO_LONG = int(lib.X509_V_ERR_CERT_CHAIN_TOO_LONG)
NO_ISSUER = int(lib.X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT)  # the root is not in the store
BAD_PURPOSE = int(lib.X509_V_ERR_INVALID_PURPOSE)
HOST_MISMATCH = int(lib.X509_V_ERR_HOSTNAME_MISMATCH)
BOTH_CRLS = certs.CRL_INTERMEDIATE.read_bytes() + certs.CRL_CA.read_bytes()


def _der_certs(path: Path) -> list[bytes]:
    import ssl

    blocks = path.read_text().split("-----END CERTIFICATE-----")[:-1]
    return [ssl.PEM_cert_to_DER_cert(b.strip() + "\n-----END CERTIFICATE-----\n") for b in blocks]


@pytest.fixture(scope="module")
def crl_client() -> Any:
    """A client that checks the leaf against the intermediate's CRL."""
    return client(crl=certs.CRL_INTERMEDIATE, verify_flags=VerifyFlags.CRL_CHECK)


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_revoked_leaf_is_rejected_with_crl_checks(crl_client: Any, version: str) -> None:
    srv = server(certs.REVOKED_SERVER, max_version=version)
    result = run(crl_client, srv)
    result.expect(
        failed_side=Role.CLIENT,
        client_error=CertificateVerifyError,
        client_alert_sent="certificate_revoked",
    )
    assert result.client.verify_result == REVOKED


def test_good_leaf_passes_the_same_crl_check(crl_client: Any) -> None:
    assert crl_client.verify_flags & VerifyFlags.CRL_CHECK
    result = run(crl_client, server())
    assert result.ok and result.client.verify_result == 0


def test_revoked_leaf_is_accepted_without_crl_checks() -> None:
    # The CRL is loaded, but OpenSSL consults it only with CRL_CHECK.
    assert run(client(crl=certs.CRL_INTERMEDIATE), server(certs.REVOKED_SERVER)).ok


def test_crl_check_without_a_crl_fails_unable_to_get_crl() -> None:
    result = run(client(verify_flags=VerifyFlags.CRL_CHECK), server())
    result.expect(failed_side=Role.CLIENT, client_error=CertificateVerifyError)
    assert result.client.verify_result == NO_CRL


def test_crl_check_all_needs_a_crl_from_every_ca() -> None:
    flags = VerifyFlags.CRL_CHECK | VerifyFlags.CRL_CHECK_ALL
    only_intermediate = run(client(crl=certs.CRL_INTERMEDIATE, verify_flags=flags), server())
    assert not only_intermediate.ok and only_intermediate.client.verify_result == NO_CRL
    both = client(crl=BOTH_CRLS, verify_flags=flags)  # PEM bytes holding two CRLs
    assert run(both, server()).ok
    assert run(both, server(certs.REVOKED_SERVER)).client.verify_result == REVOKED


def test_depth_too_small_is_rejected_and_enough_depth_passes() -> None:
    # leaf -> intermediate -> root: one intermediate between leaf and anchor.
    shallow = client(verify_depth=0)
    assert shallow.verify_depth == 0
    result = run(shallow, server())
    result.expect(failed_side=Role.CLIENT, client_error=CertificateVerifyError)
    assert result.client.verify_result == TOO_LONG
    assert run(client(verify_depth=1), server()).ok


def test_partial_chain_accepts_the_intermediate_as_trust_anchor() -> None:
    anchor_only = client(cafile=certs.INTERMEDIATE)
    refused = run(anchor_only, server())
    assert not refused.ok and refused.client.verify_result == NO_ISSUER
    partial = client(cafile=certs.INTERMEDIATE, verify_flags=VerifyFlags.PARTIAL_CHAIN)
    result = run(partial, server())
    assert result.ok
    leaf, intermediate = _der_certs(certs.SERVER_ECDSA.cert)
    # The verified chain stops at the intermediate: the root was never needed.
    assert result.client.verified_chain == (leaf, intermediate)


def test_verified_chain_ends_at_our_anchor_while_peer_chain_is_what_was_sent() -> None:
    c, s = memory_pair(client(), server(), server_name="localhost")
    from ossl_handshake import handshake

    result = handshake(c, s)
    leaf, intermediate = _der_certs(certs.SERVER_ECDSA.cert)
    (root,) = _der_certs(certs.CA)
    assert result.client.peer_chain == (leaf, intermediate)
    assert result.client.verified_chain == (leaf, intermediate, root)
    assert c.verified_chain == [leaf, intermediate, root]
    assert result.server.verified_chain == ()  # the server verified no client certificate


def test_verified_chain_of_a_client_certificate_on_the_server() -> None:
    srv = server(cafile=certs.CA, client_auth="require")
    cli = client(cert=certs.CLIENT.cert, key=certs.CLIENT.key)
    result = run(cli, srv)
    assert result.ok
    leaf, intermediate = _der_certs(certs.CLIENT.cert)
    (root,) = _der_certs(certs.CA)
    assert result.server.verified_chain == (leaf, intermediate, root)


def test_purpose_ssl_client_refuses_a_server_certificate() -> None:
    result = run(client(purpose=Purpose.SSL_CLIENT), server())
    result.expect(failed_side=Role.CLIENT, client_error=CertificateVerifyError)
    assert result.client.verify_result == BAD_PURPOSE
    assert run(client(purpose=Purpose.SSL_SERVER), server()).ok


def _wildcard_server(tmp_path: Path, san: str) -> tuple[Any, bytes]:
    """A server with a self-signed certificate for ``san``, made by the openssl command."""
    openssl = openssl_cli()
    key, cert = tmp_path / "w.key", tmp_path / "w.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=wildcard test",
            "-days",
            "2",
            "-addext",
            f"subjectAltName={san}",
        ],
        check=True,
        capture_output=True,
        timeout=20,
    )
    return server(cert=cert, key=key), cert.read_bytes()


def test_host_flags_refuse_partial_wildcards(tmp_path: Path) -> None:
    srv, pem = _wildcard_server(tmp_path, "DNS:www*.test.example")
    name = "www1.test.example"
    assert run(client(cafile=None, cadata=pem), srv, name).ok  # OpenSSL's default allows them
    strict = client(cadata=pem, host_flags=HostFlags.NO_PARTIAL_WILDCARDS)
    assert strict.host_flags == HostFlags.NO_PARTIAL_WILDCARDS
    result = run(strict, srv, name)
    assert not result.ok and result.client.verify_result == HOST_MISMATCH


def test_host_flags_refuse_every_wildcard(tmp_path: Path) -> None:
    srv, pem = _wildcard_server(tmp_path, "DNS:*.test.example")
    assert run(client(cadata=pem), srv, "a.test.example").ok
    result = run(client(cadata=pem, host_flags=HostFlags.NO_WILDCARDS), srv, "a.test.example")
    assert not result.ok and result.client.verify_result == HOST_MISMATCH


def test_flags_can_be_cleared_again() -> None:
    ctx = client(verify_flags=VerifyFlags.CRL_CHECK | VerifyFlags.PARTIAL_CHAIN)
    ctx.clear_verify_flags(VerifyFlags.CRL_CHECK)
    assert ctx.verify_flags & VerifyFlags.PARTIAL_CHAIN
    assert not ctx.verify_flags & VerifyFlags.CRL_CHECK
    assert run(ctx, server()).ok  # no CRL needed any more


def test_verification_settings_are_refused_while_in_use() -> None:
    ctx = client()
    c, _ = memory_pair(ctx, server(), server_name="localhost")
    with pytest.raises(ContextInUseError):
        ctx.verify_depth = 3
    with pytest.raises(ContextInUseError):
        ctx.load_crl(certs.CRL_CA)
    with pytest.raises(ContextInUseError):
        ctx.set_verify_flags(VerifyFlags.CRL_CHECK)
    with pytest.raises(ContextInUseError):
        ctx.host_flags = HostFlags.NO_WILDCARDS
    c.close()
    ctx.verify_depth = 3
    assert ctx.verify_depth == 3


def test_bad_verification_inputs_get_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        client(verify_depth="2")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        client(verify_depth=-2)
    with pytest.raises(ValueError):
        client(verify_flags=-1)
    with pytest.raises(ValueError):
        client(purpose=12345)
    with pytest.raises(ConfigurationError, match="not PEM or DER CRLs"):
        client(crl=b"-----BEGIN X509 CRL-----\ngarbage\n-----END X509 CRL-----\n")
    with pytest.raises(ConfigurationError, match="not PEM or DER CRLs"):
        client(crl=certs.CA.read_bytes())  # a certificate is not a CRL
    with pytest.raises(ConfigurationError, match="cannot read crl"):
        client(crl=tmp_path / "missing.crl")
    with pytest.raises(TypeError):
        client(crl=42)  # type: ignore[arg-type]


def test_der_crl_bytes_work_like_pem(crl_client: Any) -> None:
    import base64

    pem = certs.CRL_INTERMEDIATE.read_text()
    der = base64.b64decode("".join(pem.strip().splitlines()[1:-1]))
    ctx = client(crl=der, verify_flags=VerifyFlags.CRL_CHECK)
    assert run(ctx, server(certs.REVOKED_SERVER)).client.verify_result == REVOKED


# ---- over sockets, against the openssl command ----------------------------------------


def test_our_client_rejects_the_revoked_certificate_of_openssl_s_server(crl_client: Any) -> None:
    openssl = openssl_cli()
    peer = SServer(openssl, *s_server_identity(certs.REVOKED_SERVER))
    try:
        sock = socket.create_connection(("127.0.0.1", peer.port), timeout=10)
        with Connection(crl_client, sock=sock, server_name="localhost") as conn:
            with pytest.raises(CertificateVerifyError) as info:
                conn.do_handshake()
            assert info.value.verify_result == REVOKED
            assert conn.verify_result == REVOKED
    finally:
        peer.kill()


def test_openssl_s_client_with_crl_check_rejects_our_revoked_server(ossl_tls_server: Any) -> None:
    openssl = openssl_cli()
    host, port = ossl_tls_server(server(certs.REVOKED_SERVER)).address
    common = [openssl, "s_client", "-connect", f"{host}:{port}", "-servername", "localhost"]
    common += ["-CAfile", str(certs.CA), "-verify_return_error"]
    rc, out, err = run_cmd([*common, "-crl_check", "-CRL", str(certs.CRL_INTERMEDIATE)])
    assert rc != 0
    assert "certificate revoked" in (out + err).lower()


def test_openssl_s_client_verify_depth_against_our_chain(ossl_tls_server: Any) -> None:
    openssl = openssl_cli()
    host, port = ossl_tls_server(server()).address
    common = [openssl, "s_client", "-connect", f"{host}:{port}", "-servername", "localhost"]
    common += ["-CAfile", str(certs.CA), "-verify_return_error"]
    rc, out, err = run_cmd([*common, "-verify_depth", "0"])
    assert rc != 0 and "certificate chain too long" in (out + err).lower()
