"""The basic handshake scenarios every other feature builds on."""

from __future__ import annotations

import pytest

from ossl_handshake import (
    CertificateVerifyError,
    Connection,
    Context,
    ErrorCode,
    ReturnCode,
    Role,
    handshake,
    memory_pair,
)
from tests._openssl import VERIFY_TEXT


@pytest.mark.parametrize("direct", [False, True], ids=["own-bio-pairs", "shared-bio-pair"])
@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_client_and_server_complete_a_verified_handshake(
    ossl_server_context: Context, version: str, direct: bool
) -> None:
    from ossl_handshake import certs

    client_ctx = Context(Role.CLIENT, cafile=certs.CA, max_version=version)
    client, server = memory_pair(
        client_ctx, ossl_server_context, server_name="localhost", direct=direct
    )
    result = handshake(client, server)
    assert result.ok
    assert result.client.version == result.server.version == f"TLSv{version}"
    assert result.client.cipher == result.server.cipher
    assert result.client.verify_result == 0
    assert result.client.peer_subject is not None and "CN=localhost" in result.client.peer_subject
    assert result.steps[-1].step.return_code is ReturnCode.SUCCESS


def test_first_client_step_sends_client_hello_and_wants_read(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    client = Connection(ossl_client_context, server_name="localhost")
    step = client.step()
    assert (step.ret, step.return_code, step.error_code) == (
        -1,
        ReturnCode.FATAL,
        ErrorCode.WANT_READ,
    )
    hello = client.bio_read()
    assert hello[0] == 22 and hello[5] == 1  # handshake record carrying a ClientHello
    server = Connection(ossl_server_context)
    assert server.bio_write(hello) == len(hello)
    assert server.step().error_code is ErrorCode.WANT_READ
    assert server.bio_pending > 0


def test_session_from_a_full_handshake_resumes_the_next(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    client, server = memory_pair(ossl_client_context, ossl_server_context, server_name="localhost")
    handshake(client, server)
    session = client.session
    assert session is not None and session.resumable
    client2, server2 = memory_pair(
        ossl_client_context, ossl_server_context, server_name="localhost", session=session
    )
    result = handshake(client2, server2)
    assert result.client.session_reused and result.server.session_reused


def test_client_rejects_server_cert_for_another_host(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    client, server = memory_pair(
        ossl_client_context, ossl_server_context, server_name="wrong.example"
    )
    with pytest.raises(CertificateVerifyError) as info:
        handshake(client, server)
    err = info.value
    assert err.role is Role.CLIENT
    assert err.verify_message == VERIFY_TEXT[62]
    assert err.alert_sent == "bad_certificate"
    assert err.result.server.alert_received == "bad_certificate"


def test_mutual_tls_shows_the_client_subject_on_the_server(
    mtls_client_context: Context, mtls_server_context: Context
) -> None:
    client, server = memory_pair(mtls_client_context, mtls_server_context, server_name="localhost")
    result = handshake(client, server)
    assert result.server.peer_subject is not None
    assert "ossl-handshake test client" in result.server.peer_subject
