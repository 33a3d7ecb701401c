"""Client certificates: request or require, the CA list, results on both sides, failures."""

from __future__ import annotations

from typing import Any

import pytest

from ossl_handshake import (
    CertificateVerifyError,
    ClientAuth,
    Connection,
    Context,
    ProtocolError,
    Role,
    certs,
    drive,
    handshake,
    memory_pair,
)
from ossl_handshake.pair.result import HandshakeResult

CLIENT_SUBJECT = "O=ossl-handshake tests,CN=ossl-handshake test client"


def server(client_auth: str, **kw: Any) -> Context:
    return Context(
        Role.SERVER,
        cert=certs.SERVER_ECDSA.cert,
        key=certs.SERVER_ECDSA.key,
        cafile=certs.CA,
        client_auth=client_auth,
        **kw,
    )


def client(identity: certs.Identity | None = None, **kw: Any) -> Context:
    if identity is not None:
        kw.update(cert=identity.cert, key=identity.key)
    return Context(Role.CLIENT, cafile=certs.CA, **kw)


def run(client_ctx: Context, server_ctx: Context) -> HandshakeResult:
    c, s = memory_pair(client_ctx, server_ctx, server_name="localhost")
    return drive(c, s)


@pytest.mark.parametrize("version", ["1.2", "1.3"])
@pytest.mark.parametrize("identity", [certs.CLIENT, certs.CLIENT_RSA], ids=["ecdsa", "rsa"])
def test_required_client_certificate_is_verified_and_visible_on_the_server(
    version: str, identity: certs.Identity
) -> None:
    result = run(client(identity, max_version=version), server("require"))
    assert result.ok
    srv = result.server
    assert srv.verify_result == 0 and srv.verify_message == "ok"
    assert srv.peer_subject == CLIENT_SUBJECT
    assert srv.peer_issuer == "O=ossl-handshake tests,CN=ossl-handshake Test Intermediate CA"
    # leaf + intermediate as DER, names decoded on demand
    assert len(srv.peer_chain) == 2
    assert [s for s, _ in srv.peer_chain_names] == [
        CLIENT_SUBJECT,
        "O=ossl-handshake tests,CN=ossl-handshake Test Intermediate CA",
    ]
    assert srv.peer_chain[0][0] == 0x30  # a DER SEQUENCE
    assert result.client.peer_subject == "O=ossl-handshake tests,CN=localhost"


def test_requested_certificate_may_be_absent() -> None:
    result = run(client(), server("request"))
    assert result.ok
    assert result.server.peer_subject is None and result.server.peer_chain == ()
    assert result.server.verify_result == 0


def test_requested_certificate_is_used_when_present() -> None:
    result = run(client(certs.CLIENT), server("request"))
    assert result.ok and result.server.peer_subject == CLIENT_SUBJECT


def test_server_without_client_auth_never_asks() -> None:
    ctx = Context(Role.SERVER, cert=certs.SERVER_ECDSA.cert, key=certs.SERVER_ECDSA.key)
    assert not ctx.verify
    result = run(client(certs.CLIENT), ctx)
    assert result.ok and result.server.peer_subject is None


def test_server_sends_its_ca_list_in_the_certificate_request() -> None:
    messages: list[bytes] = []
    c, s = memory_pair(client(certs.CLIENT), server("require"), server_name="localhost")
    c.on_message = lambda conn, sent, version, ctype, data: (
        messages.append(data) if not sent and ctype == 22 and data[:1] == b"\x0d" else None
    )
    handshake(c, s)
    assert len(messages) == 1  # one CertificateRequest
    assert b"ossl-handshake Test Root CA" in messages[0]  # certificate_authorities


def test_client_auth_enum_and_verify_flag_agree() -> None:
    assert server(ClientAuth.REQUIRE.value).verify
    assert server("none").verify is False


def test_missing_certificate_tls13_fails_with_certificate_required() -> None:
    c, s = memory_pair(client(), server("require"), server_name="localhost")
    result = drive(c, s)
    err = result.error
    assert type(err) is ProtocolError
    assert result.failed_side is Role.SERVER and err.role is Role.SERVER
    assert err.reasons == ["peer did not return a certificate"]
    assert err.alert_sent == "certificate_required"
    # TLS 1.3: the client finished before the server judged it, so the alert
    # reaches it after the handshake: through the driver's last delivery, or
    # else on its next read.
    if result.client.alert_received is None:
        with pytest.raises(ProtocolError) as info:
            c.read()
        assert info.value.reasons == ["tlsv13 alert certificate required"]
    assert c.alert_received == "certificate_required"


def test_missing_certificate_tls12_fails_with_handshake_failure() -> None:
    result = run(client(max_version="1.2"), server("require"))
    err = result.error
    assert type(err) is ProtocolError
    assert result.failed_side is Role.SERVER
    assert err.reasons == ["peer did not return a certificate"]
    assert err.alert_sent == "handshake_failure"
    assert result.client.alert_received == "handshake_failure"


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_client_certificate_from_an_untrusted_ca_fails_on_the_server_unknown_ca(
    version: str,
) -> None:
    result = run(client(certs.UNTRUSTED_CLIENT, max_version=version), server("require"))
    err = result.error
    assert type(err) is CertificateVerifyError
    assert result.failed_side is Role.SERVER and err.role is Role.SERVER
    assert err.reasons == ["certificate verify failed"]
    assert err.verify_message == "unable to get local issuer certificate"
    assert err.alert_sent == "unknown_ca"


def test_untrusted_client_certificate_fails_even_when_only_requested() -> None:
    # With SSL_VERIFY_PEER a certificate that is sent must verify.
    result = run(client(certs.UNTRUSTED_CLIENT), server("request"))
    assert isinstance(result.error, CertificateVerifyError)
    assert result.failed_side is Role.SERVER


def test_every_connection_of_one_context_presents_the_client_certificate() -> None:
    srv_ctx = server("require")
    cli_ctx = client(certs.CLIENT)
    for _ in range(2):
        c = Connection(cli_ctx, server_name="localhost")
        s = Connection(srv_ctx)
        assert drive(c, s).server.peer_subject == CLIENT_SUBJECT
