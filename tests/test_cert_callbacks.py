"""Certificate callbacks: a certificate chosen per connection, and pauses while choosing.

``SSL_CTX_set_cert_cb`` on a server picks the certificate after the
ClientHello, on a client answers a CertificateRequest;
``SSL_CTX_set_client_cert_cb`` hands a client certificate over. Each may
pause (``WANT_X509_LOOKUP``) and is resumed to success or to the expected
failure, in memory and over sockets (our server with the C client, our
client with ``openssl s_server``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ossl_handshake import (
    PAUSE,
    CallbackError,
    CertRequest,
    ConfigurationError,
    Context,
    ErrorCode,
    ProtocolError,
    Role,
    WantX509LookupError,
    certs,
    drive,
    handshake,
    memory_pair,
)
from ossl_handshake.core.cert_callbacks import CertPause, ClientCertPause
from tests._contexts import client, server
from tests._pause_sockets import PING_PONG, answer_ping, c_client, connect_to, serve_one
from tests._peers import SServer, openssl_cli, s_server_identity

pytestmark = pytest.mark.timeout(60)

SUBJECT = "O=ossl-handshake tests,CN=localhost"
ALT_SUBJECT = "O=ossl-handshake tests,CN=alt.localhost"
CLIENT_SUBJECT = "O=ossl-handshake tests,CN=ossl-handshake test client"


class Script:
    """A callback that records each request and plays scripted actions."""

    def __init__(self, *actions: Any) -> None:
        self.actions = list(actions)
        self.requests: list[CertRequest] = []
        self.ca_names: list[list[str] | None] = []

    def __call__(self, request: CertRequest) -> Any:
        self.requests.append(request)
        self.ca_names.append(request.ca_names)
        action = self.actions.pop(0) if self.actions else None
        return action(request) if callable(action) else action


def _mtls_server(**kw: Any) -> Context:
    return server(cafile=certs.CA, client_auth="require", **kw)


def test_a_server_cert_callback_loads_the_certificate_for_the_name_asked() -> None:
    def by_name(req: CertRequest) -> None:
        if req.server_name == "alt.localhost":
            req.use(certs.SNI_ALT)

    ctx = server(cert_callback=Script(by_name))
    for name, subject in (("alt.localhost", ALT_SUBJECT), ("localhost", SUBJECT)):
        c, s = memory_pair(client(), ctx, server_name=name)
        result = handshake(c, s)
        assert result.client.peer_subject == subject
        assert result.client.peer_signature_algorithm == "id-ecPublicKey"
        c.close()
        s.close()


def test_a_paused_server_cert_callback_resumes_with_the_certificate_given() -> None:
    script = Script(PAUSE)
    c, s = memory_pair(client(), server(cert_callback=script), server_name="localhost")
    result = drive(c, s)
    pause = result.paused
    assert isinstance(pause, CertPause)
    assert (pause.kind, pause.role, pause.callback) == (
        ErrorCode.WANT_X509_LOOKUP,
        Role.SERVER,
        "cert",
    )
    assert isinstance(result.error, WantX509LookupError)
    assert s.step().error_code is ErrorCode.WANT_X509_LOOKUP  # still paused
    pause.resume(cert=certs.SERVER_RSA.cert, key=certs.SERVER_RSA.key)
    result = drive(c, s)
    assert result.ok and result.client.peer_signature_algorithm == "RSASSA-PSS"
    assert len(script.requests) == 1


@pytest.mark.parametrize("answer", [{"fail": True}, {}])
def test_a_paused_server_cert_callback_resumed_to_failure_or_asked_again(
    answer: dict[str, Any],
) -> None:
    script = Script(PAUSE, False)  # asked again, it refuses
    c, s = memory_pair(client(), server(cert_callback=script), server_name="localhost")
    result = drive(c, s, on_pause=lambda p: p.resume(**answer))
    assert result.failed_side is Role.SERVER and isinstance(result.error, ProtocolError)
    assert result.server.alert_sent == "internal_error"
    assert len(script.requests) == (1 if answer else 2)


def test_a_client_cert_callback_sees_the_ca_names_and_presents_a_certificate() -> None:
    script = Script(lambda req: req.use(certs.CLIENT))
    c, s = memory_pair(client(cert_callback=script), _mtls_server(), server_name="localhost")
    result = handshake(c, s)
    assert result.server.peer_subject == CLIENT_SUBJECT
    assert script.ca_names[-1] == ["O=ossl-handshake tests,CN=ossl-handshake Test Root CA"]
    assert result.client.client_ca_names == script.ca_names[-1]


def test_client_cert_callback_presents_none_or_a_pair() -> None:
    ok = handshake(
        *memory_pair(
            client(client_cert_callback=Script(certs.CLIENT)),
            _mtls_server(),
            server_name="localhost",
        )
    )
    assert ok.server.peer_subject == CLIENT_SUBJECT
    pair = (certs.CLIENT.cert, certs.CLIENT.key)
    ok2 = handshake(
        *memory_pair(
            client(client_cert_callback=Script(pair)), _mtls_server(), server_name="localhost"
        )
    )
    assert ok2.server.peer_subject == CLIENT_SUBJECT
    none = drive(
        *memory_pair(
            client(client_cert_callback=Script(None)), _mtls_server(), server_name="localhost"
        )
    )
    assert none.failed_side is Role.SERVER  # the server requires one


def test_a_paused_client_cert_callback_resumes_with_a_certificate_or_none() -> None:
    for answer, ok in (({"cert": certs.CLIENT}, True), ({"cert": None}, False)):
        script = Script(PAUSE)
        c, s = memory_pair(
            client(client_cert_callback=script), _mtls_server(), server_name="localhost"
        )
        result = drive(c, s)
        pause = result.paused
        assert isinstance(pause, ClientCertPause) and pause.role is Role.CLIENT
        assert pause.kind is ErrorCode.WANT_X509_LOOKUP
        pause.resume(**answer)
        final = drive(c, s)
        assert final.ok is ok
        if ok:
            assert final.server.peer_subject == CLIENT_SUBJECT
        else:
            assert final.failed_side is Role.SERVER
        assert len(script.requests) == 1


def test_a_certificate_that_cannot_load_fails_the_handshake_with_a_callback_error() -> None:
    script = Script(lambda req: req.use(certs.NOT_A_CERT, certs.CLIENT.key))
    c, s = memory_pair(client(), server(cert_callback=script), server_name="localhost")
    with pytest.raises(CallbackError) as info:
        drive(c, s)
    assert isinstance(info.value.__cause__, ConfigurationError)
    mismatched = Script(lambda req: req.use(certs.SERVER_RSA.cert, certs.CLIENT.key))
    c, s = memory_pair(client(), server(cert_callback=mismatched), server_name="localhost")
    with pytest.raises(CallbackError) as info:
        drive(c, s)
    assert isinstance(info.value.__cause__, ConfigurationError)


def test_bad_answers_are_typed_errors() -> None:
    c, s = memory_pair(client(), server(cert_callback=Script(PAUSE)), server_name="localhost")
    pause = drive(c, s).paused
    assert pause is not None
    with pytest.raises(TypeError):
        pause.resume(key=certs.CLIENT.key)
    with pytest.raises(TypeError):
        pause.resume(cert=42)
    with pytest.raises(TypeError):
        pause.resume(nope=True)
    with pytest.raises(ValueError, match="client contexts"):
        server(client_cert_callback=lambda r: None)
    with pytest.raises(TypeError):
        client(cert_callback="not callable")
    c2, s2 = memory_pair(
        client(client_cert_callback=Script(42)), _mtls_server(), server_name="localhost"
    )
    with pytest.raises(CallbackError) as info:
        drive(c2, s2)
    assert isinstance(info.value.__cause__, TypeError)


def test_over_a_socket_the_c_client_completes_after_our_server_cert_callback_resumes(
    tls_client_exe: Path,
) -> None:
    with serve_one(
        server(cert_callback=Script(PAUSE)),
        c_client(tls_client_exe),
        PING_PONG,
    ) as peer:
        conn = peer.conn
        with pytest.raises(WantX509LookupError) as info:
            conn.do_handshake()
        assert isinstance(info.value.pause, CertPause)
        conn.resume(cert=certs.SERVER_RSA)
        conn.do_handshake()
        answer_ping(conn)
    rc, out, err = peer.result
    assert rc == 0, err
    assert out.startswith("OK TLSv1.3")


def test_over_a_socket_our_paused_client_certificate_reaches_openssl_s_server() -> None:
    openssl = openssl_cli()
    proc = SServer(
        openssl,
        *s_server_identity(certs.SERVER_ECDSA),
        "-Verify",
        "2",
        "-CAfile",
        str(certs.CA),
    )
    try:
        with connect_to(client(client_cert_callback=Script(PAUSE)), proc.port) as conn:
            with pytest.raises(WantX509LookupError) as info:
                conn.do_handshake()
            assert isinstance(info.value.pause, ClientCertPause)
            conn.resume(cert=certs.CLIENT)
            conn.do_handshake()
            assert conn.is_init_finished
            conn.write(b"hello\n")
    finally:
        _rc, out, err = proc.finish()
    assert "ossl-handshake test client" in out + err
