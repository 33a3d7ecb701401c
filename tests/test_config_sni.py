"""SNI: the client sends a name, the server reads it and picks a certificate by it."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest

from ossl_handshake import (
    CallbackError,
    Connection,
    Context,
    ProtocolError,
    Role,
    SNIRejected,
    certs,
    drive,
    handshake,
    memory_pair,
)
from tests._contexts import server
from tests._openssl import VERIFY_TEXT


@pytest.fixture(scope="module")
def alt_context() -> Context:
    return server(certs.SNI_ALT)


@pytest.fixture(scope="module")
def sni_server(alt_context: Context) -> Context:
    def pick(conn: Connection, name: str | None) -> Context | None:
        if name == "alt.localhost":
            return alt_context
        if name == "forbidden.localhost":
            raise SNIRejected("access_denied")
        if name is not None and name.endswith(".invalid"):
            raise SNIRejected()
        if name == "crash.localhost":
            raise RuntimeError("servername callback bug")
        return None

    return server(servername_callback=pick)


def test_server_picks_the_alt_certificate_for_alt_localhost(
    ossl_client_context: Context, sni_server: Context, alt_context: Context
) -> None:
    c, s = memory_pair(ossl_client_context, sni_server, server_name="alt.localhost")
    result = handshake(c, s)
    assert result.client.server_name == result.server.server_name == "alt.localhost"
    assert result.client.peer_subject == "O=ossl-handshake tests,CN=alt.localhost"
    assert result.client.verify_result == 0
    assert s.active_context is alt_context and s.context is sni_server


def test_server_keeps_its_default_certificate_for_other_names(
    ossl_client_context: Context, sni_server: Context
) -> None:
    c, s = memory_pair(ossl_client_context, sni_server, server_name="localhost")
    result = handshake(c, s)
    assert result.server.server_name == "localhost"
    assert result.client.peer_subject == "O=ossl-handshake tests,CN=localhost"
    assert s.active_context is sni_server


def test_callback_sees_none_when_the_client_sends_no_sni(ossl_client_context: Context) -> None:
    names: list[str | None] = []

    def record(conn: Connection, name: str | None) -> None:
        names.append(name)

    c, s = memory_pair(
        ossl_client_context, server(servername_callback=record), verify_host="localhost"
    )
    result = handshake(c, s)
    assert names == [None]
    assert result.server.server_name is None


def test_default_certificate_for_alt_localhost_fails_hostname_check(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    # Without the callback the server has only its localhost certificate.
    c, s = memory_pair(ossl_client_context, ossl_server_context, server_name="alt.localhost")
    result = drive(c, s)
    assert result.failed_side is Role.CLIENT
    assert result.error is not None and result.error.verify_message == VERIFY_TEXT[62]


@pytest.mark.parametrize(
    ("name", "alert"),
    [("nobody.invalid", "unrecognized_name"), ("forbidden.localhost", "access_denied")],
)
def test_sni_callback_rejects_with_the_alert_it_names(
    ossl_client_context: Context, sni_server: Context, name: str, alert: str
) -> None:
    c, s = memory_pair(ossl_client_context, sni_server, server_name=name)
    result = drive(c, s)
    err = result.error
    assert type(err) is ProtocolError
    assert result.failed_side is Role.SERVER and err.role is Role.SERVER
    assert err.reasons == ["callback failed"]
    assert err.alert_sent == alert
    assert result.client.alert_received == alert
    assert isinstance(result.client.error, ProtocolError)
    assert result.client.error.alert_received == alert


def test_exception_in_sni_callback_fails_with_internal_error_and_is_reraised(
    ossl_client_context: Context, sni_server: Context
) -> None:
    c, s = memory_pair(ossl_client_context, sni_server, server_name="crash.localhost")
    with pytest.raises(CallbackError) as info:
        handshake(c, s)
    assert isinstance(info.value.__cause__, RuntimeError)
    assert str(info.value.__cause__) == "servername callback bug"
    assert info.value.role is Role.SERVER
    assert s.alert_sent == "internal_error"
    assert s.failed is info.value  # a second step reports the same failure
    assert s.step().error is info.value


def test_sni_callback_returning_a_client_context_is_a_callback_error(
    ossl_client_context: Context,
) -> None:
    ctx = server(servername_callback=lambda conn, name: ossl_client_context)
    c, s = memory_pair(ossl_client_context, ctx, server_name="localhost")
    with pytest.raises(CallbackError) as info:
        handshake(c, s)
    assert isinstance(info.value.__cause__, TypeError)


def test_unknown_alert_name_is_refused() -> None:
    with pytest.raises(ValueError, match="no_such_alert"):
        SNIRejected("no_such_alert")


def test_servername_callback_is_for_servers_only(ossl_client_context: Context) -> None:
    with pytest.raises(ValueError, match="server"):
        ossl_client_context.set_servername_callback(lambda conn, name: None)


@pytest.mark.timeout(30)
def test_sni_selection_over_a_tcp_socket(ossl_client_context: Context, sni_server: Context) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    port = listener.getsockname()[1]
    seen: dict[str, Any] = {}

    def serve() -> None:
        conn_sock, _ = listener.accept()
        conn_sock.settimeout(10)
        with conn_sock, Connection(sni_server, sock=conn_sock) as srv:
            try:
                srv.do_handshake()
                seen["name"] = srv.server_name
            except Exception as exc:  # reported by the main thread
                seen["error"] = exc

    t = threading.Thread(target=serve)
    t.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            cli = Connection(ossl_client_context, sock=sock, server_name="alt.localhost")
            cli.do_handshake()
            assert cli.peer_subject == "O=ossl-handshake tests,CN=alt.localhost"
            cli.close()
    finally:
        t.join(15)
        listener.close()
    assert "error" not in seen, seen.get("error")
    assert seen["name"] == "alt.localhost"


def test_switched_context_verifies_client_certificates_with_its_own_store() -> None:
    # OpenSSL verifies the client with the *current* SSL_CTX's store after
    # SSL_set_SSL_CTX, but keeps the original verify mode.
    def srv(alt: Context) -> Context:
        return Context(
            Role.SERVER,
            cert=certs.SERVER_ECDSA.cert,
            key=certs.SERVER_ECDSA.key,
            cafile=certs.CA,
            client_auth="require",
            servername_callback=lambda conn, name: alt,
        )

    cli = Context(Role.CLIENT, cafile=certs.CA, cert=certs.CLIENT.cert, key=certs.CLIENT.key)
    no_store = server(certs.SNI_ALT)
    failed = drive(*memory_pair(cli, srv(no_store), server_name="alt.localhost"))
    assert failed.failed_side is Role.SERVER
    assert failed.error is not None
    assert failed.error.verify_message == "unable to get local issuer certificate"
    with_store = server(certs.SNI_ALT, cafile=certs.CA)
    ok = drive(*memory_pair(cli, srv(with_store), server_name="alt.localhost"))
    assert ok.ok
    assert ok.server.peer_subject == "O=ossl-handshake tests,CN=ossl-handshake test client"
