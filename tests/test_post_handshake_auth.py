"""TLS 1.3 post-handshake authentication and key update, in memory and against OpenSSL's tools.

``pair.post_handshake_auth`` sends the server's CertificateRequest
(``SSL_verify_client_post_handshake``) and lets the client answer from inside
its read; ``pair.update_keys`` sends a KeyUpdate. Both sides' views are read
back: the client certificate the server obtained, KeyUpdates sent and
received (counted by the message callback), ``SSL_get_key_update_type``.
"""

from __future__ import annotations

import pytest

from ossl_handshake import Connection, Context, Role, SSLError, certs, handshake, memory_pair
from ossl_handshake.core.post_handshake import KeyUpdate
from ossl_handshake.pair.driver import drive_post_handshake, post_handshake_auth, update_keys
from ossl_handshake.wire import Wire
from tests._beyond import (
    GNUTLS_TRUST,
    OneServer,
    finish,
    gnutls_cli,
    poll_reads,
    s_client,
    s_client_types,
)
from tests._contexts import client, server
from tests._peers import TIMEOUT

pytestmark = pytest.mark.timeout(30)

CLIENT_SUBJECT = "O=ossl-handshake tests,CN=ossl-handshake test client"


@pytest.fixture(scope="module")
def pha_client() -> Context:
    """A TLS 1.3 client offering post-handshake auth, with the bundled client certificate."""
    return client(post_handshake_auth=True, cert=certs.CLIENT.cert, key=certs.CLIENT.key)


@pytest.fixture(scope="module")
def asking_server() -> Context:
    """A server that verifies client certificates, asking only after the handshake."""
    return server(cafile=certs.CA, client_auth="post_handshake")


def established(c_ctx: Context, s_ctx: Context, **kw: object) -> tuple[Connection, Connection]:
    c, s = memory_pair(c_ctx, s_ctx, server_name="localhost")
    handshake(c, s, **kw)  # type: ignore[arg-type]
    return c, s


def test_the_server_obtains_the_client_certificate_after_the_handshake(
    pha_client: Context, asking_server: Context
) -> None:
    c, s = established(pha_client, asking_server)
    assert s.peer_certificate is None
    result = post_handshake_auth(c, s)
    assert result.ok
    assert result.server.peer_subject == CLIENT_SUBJECT
    assert s.peer_subject == CLIENT_SUBJECT and s.verify_result == 0
    # The server's CertificateRequest, then the client's answer from inside a read.
    request, answer = result.steps[1], result.steps[2]
    assert request.step.role is Role.SERVER and request.sent > 0
    assert answer.step.role is Role.CLIENT and answer.sent > request.sent
    assert answer.step.state == "SSL negotiation finished successfully"
    # The connection goes on.
    c.write(b"after pha")
    c.transfer_to(s)
    assert s.read() == b"after pha"


def test_the_client_certificate_goes_over_the_wire_encrypted(
    pha_client: Context, asking_server: Context
) -> None:
    wire = Wire()
    c, s = established(pha_client, asking_server, wire=wire)
    before = len(wire.records[Role.CLIENT])
    assert post_handshake_auth(c, s, wire=wire).ok
    answer = wire.records[Role.CLIENT][before:]
    assert answer and all(r.encrypted and r.content_type == 23 for r in answer)


def test_without_the_client_extension_the_server_cannot_ask(asking_server: Context) -> None:
    plain = client(cert=certs.CLIENT.cert, key=certs.CLIENT.key)
    _, s = established(plain, asking_server)
    with pytest.raises(SSLError, match="extension not received"):
        s.verify_client_post_handshake()


def test_post_handshake_auth_is_tls13_only(pha_client: Context, asking_server: Context) -> None:
    tls12 = client(
        post_handshake_auth=True, cert=certs.CLIENT.cert, key=certs.CLIENT.key, max_version="1.2"
    )
    _, s = established(tls12, asking_server)
    with pytest.raises(SSLError, match="wrong ssl version"):
        s.verify_client_post_handshake()


def test_a_client_without_a_certificate_answers_with_an_empty_one(
    asking_server: Context,
) -> None:
    anonymous = client(post_handshake_auth=True)
    c, s = established(anonymous, asking_server)
    result = post_handshake_auth(c, s)
    # No SSL_VERIFY_FAIL_IF_NO_PEER_CERT: the empty Certificate is accepted.
    assert result.ok and s.peer_certificate is None and result.server.peer_subject is None


def test_the_first_handshake_does_not_ask_for_the_certificate(
    pha_client: Context, asking_server: Context
) -> None:
    """client_auth="post_handshake": no CertificateRequest in the handshake, so the
    client, which has a certificate and would send it, sends none."""
    c, s = established(pha_client, asking_server)
    assert c.is_init_finished and s.peer_certificate is None
    # The same client against a server that asks during the handshake sends it.
    _, s2 = established(pha_client, server(cafile=certs.CA, client_auth="request"))
    assert s2.peer_subject == CLIENT_SUBJECT


def test_post_handshake_auth_is_a_client_setting() -> None:
    with pytest.raises(ValueError, match="client setting"):
        server(post_handshake_auth=True)
    with pytest.raises(TypeError):
        client(post_handshake_auth="yes")


# -- key update ------------------------------------------------------------------------


def test_a_key_update_is_counted_on_both_sides(
    clients: dict[str, Context], ossl_server_context: Context
) -> None:
    c, s = established(clients["1.3"], ossl_server_context)
    c.key_update()
    assert c.key_update_type is KeyUpdate.NOT_REQUESTED  # queued, not sent yet
    result = drive_post_handshake(c, s, initiator="client")
    assert result.ok and result.steps[0].sent > 0
    assert c.key_update_type is KeyUpdate.NONE
    assert (c.key_updates_sent, s.key_updates_received) == (1, 1)
    assert (s.key_updates_sent, c.key_updates_received) == (0, 0)


@pytest.mark.parametrize("initiator", [Role.CLIENT, Role.SERVER])
def test_a_requested_key_update_is_answered_with_the_peers_next_write(
    clients: dict[str, Context], ossl_server_context: Context, initiator: Role
) -> None:
    c, s = established(clients["1.3"], ossl_server_context)
    me, peer = (c, s) if initiator is Role.CLIENT else (s, c)
    assert update_keys(c, s, initiator=initiator, request_peer=True).ok
    assert (me.key_updates_sent, peer.key_updates_received) == (1, 1)
    # libssl queues the answer (SSL_KEY_UPDATE_NOT_REQUESTED) until the peer writes.
    assert peer.key_update_type is KeyUpdate.NOT_REQUESTED and peer.key_updates_sent == 0
    peer.write(b"pong")
    peer.transfer_to(me)
    assert me.read() == b"pong"
    assert (peer.key_updates_sent, me.key_updates_received) == (1, 1)
    assert peer.key_update_type is KeyUpdate.NONE


def test_key_update_is_tls13_only(
    tls12_client_context: Context, ossl_server_context: Context
) -> None:
    c, _ = established(tls12_client_context, ossl_server_context)
    with pytest.raises(SSLError, match="wrong ssl version"):
        c.key_update()


# -- against openssl s_client ------------------------------------------------------------


def test_openssl_s_client_answers_our_post_handshake_certificate_request(
    asking_server: Context,
) -> None:
    def body(conn: Connection, seen: dict[str, object]) -> None:
        conn.verify_client_post_handshake()
        conn.write(b"send me your certificate\n")  # the CertificateRequest goes out first
        poll_reads(conn, lambda: conn.peer_certificate is not None)
        seen["subject"] = conn.peer_subject
        seen["verify"] = conn.verify_result

    srv = OneServer(asking_server, body)
    proc = s_client(
        srv.port,
        "-tls1_3",
        "-enable_pha",
        "-cert",
        str(certs.CLIENT.cert),
        "-key",
        str(certs.CLIENT.key),
        "-cert_chain",  # -cert sends only the leaf
        str(certs.INTERMEDIATE),
    )
    seen = srv.join()
    _, err = finish(proc)
    assert seen.get("subject") == CLIENT_SUBJECT, (seen, err)
    assert seen["verify"] == 0


def test_openssl_s_client_key_update_request_is_seen_and_answered(
    ossl_server_context: Context,
) -> None:
    """s_client's interactive ``K`` (KeyUpdate, update requested) against our server."""

    def body(conn: Connection, seen: dict[str, object]) -> None:
        poll_reads(conn, lambda: conn.key_updates_received > 0)
        seen["received"] = conn.key_updates_received
        seen["queued"] = conn.key_update_type
        conn.timeout = TIMEOUT
        conn.write(b"answered\n")  # carries our KeyUpdate first
        seen["sent"] = conn.key_updates_sent

    srv = OneServer(ossl_server_context, body)
    seen, err = s_client_types(srv, b"K\n", "-tls1_3")
    assert seen.get("received") == 1, (seen, err)
    assert seen["queued"] is KeyUpdate.NOT_REQUESTED
    assert seen["sent"] == 1


def test_gnutls_cli_answers_our_post_handshake_certificate_request(
    asking_server: Context,
) -> None:
    def body(conn: Connection, seen: dict[str, object]) -> None:
        conn.verify_client_post_handshake()
        conn.write(b"certificate please\n")
        poll_reads(conn, lambda: conn.peer_certificate is not None)
        seen["subject"] = conn.peer_subject

    srv = OneServer(asking_server, body)
    proc = gnutls_cli(
        srv.port,
        *GNUTLS_TRUST,
        "--post-handshake-auth",
        "--x509certfile",
        str(certs.CLIENT.cert),
        "--x509keyfile",
        str(certs.CLIENT.key),
        stdin=None,
    )
    seen = srv.join()
    _, err = finish(proc)
    assert seen.get("subject") == CLIENT_SUBJECT, (seen, err)


def test_a_trace_shows_the_post_handshake_messages(
    pha_client: Context, asking_server: Context
) -> None:
    """With ``trace=True`` the message callback names each post-handshake message."""
    c, s = established(pha_client, asking_server)
    result = post_handshake_auth(c, s, trace=True)
    sent = [
        (m.side, m.handshake_type) for m in result.trace.messages if m.sent and m.handshake_type
    ]
    assert (Role.SERVER, "CertificateRequest") in sent
    client_flight = [t for side, t in sent if side is Role.CLIENT]
    assert client_flight == ["Certificate", "CertificateVerify", "Finished"]
    assert len(result.trace.steps) == len(result.steps)
    update = update_keys(c, s, trace=True)
    assert [m.handshake_type for m in update.trace.messages if m.handshake_type] == [
        "KeyUpdate",
        "KeyUpdate",
    ]
