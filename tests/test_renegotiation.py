"""TLS 1.2 renegotiation: who may start it, what both sides report, and the wire during it.

``pair.renegotiate`` runs the second handshake on an established pair: the
initiator's ``SSL_do_handshake`` sends the ClientHello (or HelloRequest), the
peer takes part from inside ``SSL_read``; every step is recorded and the wire
carries (and can break) the second handshake's records.
"""

from __future__ import annotations

import socket

import pytest

from ossl_handshake import (
    ConfigurationError,
    Connection,
    Context,
    ProtocolError,
    Role,
    SSLError,
    certs,
    handshake,
    memory_pair,
)
from ossl_handshake.pair.driver import renegotiate
from ossl_handshake.wire import Wire
from ossl_handshake.wire.faults import Corrupt, Select
from tests._beyond import (
    GNUTLS_TRUST,
    OneServer,
    finish,
    gnutls_cli,
    gnutls_only,
    printed_by,
    s_client_types,
    wait_renegotiated,
)
from tests._contexts import server
from tests._openssl import (
    CLIENT_RENEGOTIATION_BY_DEFAULT,
    S_SERVER_CLIENT_RENEGOTIATION,
    reasons_of,
    requires,
)
from tests._peers import TIMEOUT, SServer, openssl_cli, s_server_identity

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def servers() -> dict[str | None, Context]:
    """A server context per renegotiation policy (None: OpenSSL's default options)."""
    made: dict[str | None, Context] = {None: server()}
    for policy in ("refuse", "client"):
        made[policy] = server(renegotiation=policy)
    return made


def established(
    client_ctx: Context, server_ctx: Context, **kw: object
) -> tuple[Connection, Connection]:
    c, s = memory_pair(client_ctx, server_ctx, server_name="localhost")
    handshake(c, s, **kw)  # type: ignore[arg-type]
    return c, s


def test_client_initiated_renegotiation_runs_a_second_full_handshake(
    tls12_client_context: Context, servers: dict[str | None, Context]
) -> None:
    client, srv = established(tls12_client_context, servers["client"])
    assert client.secure_renegotiation and srv.secure_renegotiation
    first = (client.client_random, client.finished)
    result = renegotiate(client, srv)
    assert result.ok
    # The second handshake, step by step: the client's new ClientHello, the
    # server's flight from inside its read, the client's Finished.
    sides = [r.step.role for r in result.steps]
    assert sides[0] is Role.CLIENT and Role.SERVER in sides
    assert result.steps[0].sent > 0 and result.steps[0].step.state == "SSLv3/TLS write client hello"
    assert any(r.step.done and r.step.role is Role.CLIENT for r in result.steps)
    assert (client.client_random, client.finished) != first
    assert client.client_random == srv.client_random and client.finished == srv.peer_finished
    assert client.total_renegotiations == 1 and not client.renegotiate_pending
    # The connection carries data under the new keys.
    client.write(b"after")
    client.transfer_to(srv)
    assert srv.read() == b"after"


def test_handshake_after_renegotiate_runs_the_second_handshake(
    tls12_client_context: Context, servers: dict[str | None, Context]
) -> None:
    """``conn.renegotiate()`` then the ordinary ``handshake()``: the driver sees the
    pending renegotiation and completes it (it used to stop at once, zero steps)."""
    client, srv = established(tls12_client_context, servers["client"])
    client.renegotiate()
    assert client.renegotiate_pending
    result = handshake(client, srv)
    assert result.ok and len(result.steps) >= 4
    assert result.steps[0].step.state == "SSLv3/TLS write client hello"
    assert not client.renegotiate_pending and client.total_renegotiations == 1


def test_server_initiated_renegotiation_starts_with_a_hello_request(
    tls12_client_context: Context, servers: dict[str | None, Context]
) -> None:
    client, srv = established(tls12_client_context, servers[None])
    result = renegotiate(client, srv, initiator="server")
    assert result.ok
    hello_request = result.steps[1]
    assert hello_request.step.role is Role.SERVER and hello_request.step.done
    assert 0 < hello_request.sent < 64  # one encrypted HelloRequest record
    # The client answered from inside its read with a new ClientHello.
    assert result.steps[2].step.role is Role.CLIENT and result.steps[2].sent > hello_request.sent
    assert srv.total_renegotiations == 1 and client.total_renegotiations == 1
    assert srv.client_random == client.client_random


def test_abbreviated_renegotiation_resumes_the_session(
    tls12_client_context: Context, servers: dict[str | None, Context]
) -> None:
    client, srv = established(tls12_client_context, servers["client"])
    key = client.master_key
    assert renegotiate(client, srv, abbreviated=True).ok
    assert client.session_reused and srv.session_reused
    assert client.master_key == key


@pytest.mark.parametrize("policy", ["refuse", None])
def test_a_refusing_server_answers_no_renegotiation(
    tls12_client_context: Context, servers: dict[str | None, Context], policy: str | None
) -> None:
    if policy is None and CLIENT_RENEGOTIATION_BY_DEFAULT:
        pytest.skip("1.1.1 servers take client-initiated renegotiation by default")
    client, srv = established(tls12_client_context, servers[policy])
    result = renegotiate(client, srv, check=False)
    assert not result.ok and result.failed_side is Role.CLIENT
    assert isinstance(result.error, ProtocolError)
    assert reasons_of("no renegotiation")[0] in [e.reason for e in result.error.errors]
    assert result.client.alert_received == "no_renegotiation"
    # The server only warned; the client's answer to the warning is fatal.
    assert result.client.alert_sent == "handshake_failure"
    assert srv.alert_received == "handshake_failure"


def test_default_1_1_1_server_takes_client_renegotiation(
    tls12_client_context: Context, servers: dict[str | None, Context]
) -> None:
    if not CLIENT_RENEGOTIATION_BY_DEFAULT:
        pytest.skip("OpenSSL 3.0+ refuses client-initiated renegotiation by default")
    client, srv = established(tls12_client_context, servers[None])
    assert renegotiate(client, srv).ok


def test_a_client_that_refuses_answers_a_hello_request_with_no_renegotiation(
    servers: dict[str | None, Context],
) -> None:
    refusing = Context("client", cafile=certs.CA, max_version="1.2", renegotiation="refuse")
    client, srv = established(refusing, servers[None])
    result = renegotiate(client, srv, initiator="server", check=False)
    assert not result.ok
    assert result.client.alert_sent == "no_renegotiation"
    with pytest.raises(SSLError, match="SSL_renegotiate"):
        client.renegotiate()  # SSL_OP_NO_RENEGOTIATION: refused on this side too


@requires("client_renegotiation_option")
def test_server_only_policy_refuses_the_client_and_allows_itself(
    tls12_client_context: Context,
) -> None:
    srv_ctx = server(renegotiation="server")
    client, srv = established(tls12_client_context, srv_ctx)
    assert renegotiate(client, srv, initiator="server").ok
    assert not renegotiate(client, srv, check=False).ok
    assert client.alert_received == "no_renegotiation"


def test_server_only_policy_is_a_configuration_error_without_the_option() -> None:
    from ossl_handshake import FEATURES

    if FEATURES["client_renegotiation_option"]:
        pytest.skip("this OpenSSL has SSL_OP_ALLOW_CLIENT_RENEGOTIATION")
    with pytest.raises(ConfigurationError, match=r"1\.1\.1 cannot refuse"):
        server(renegotiation="server")


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="renegotiation must be one of"):
        server(renegotiation="sometimes")


def test_tls13_has_no_renegotiation(
    clients: dict[str, Context], ossl_server_context: Context
) -> None:
    client, _ = established(clients["1.3"], ossl_server_context)
    with pytest.raises(SSLError, match="wrong ssl version"):
        client.renegotiate()


def test_a_corrupted_record_of_the_second_handshake_is_a_bad_record_mac(
    tls12_client_context: Context, servers: dict[str | None, Context]
) -> None:
    wire = Wire()
    client, srv = established(tls12_client_context, servers["client"], wire=wire)
    # Aimed at the renegotiation's ClientHello: the client's next flight, an
    # encrypted handshake record under the first handshake's keys.
    nxt = len(wire.flights[Role.CLIENT])
    fault = Corrupt(Select(direction=Role.CLIENT, flight=nxt, content_type="handshake"))
    wire.faults.append(fault)
    result = renegotiate(client, srv, wire=wire, check=False)
    assert fault.fired == 1
    assert result.failed_side is Role.SERVER
    assert isinstance(result.error, ProtocolError)
    assert "decryption failed or bad record mac" in [e.reason for e in result.error.errors]
    assert result.server.alert_sent == "bad_record_mac"
    assert result.client.alert_received == "bad_record_mac"
    rec = wire.records[Role.CLIENT][-1]
    assert rec.encrypted and rec.content_type == 22


def test_the_wire_sees_every_record_of_the_second_handshake(
    tls12_client_context: Context, servers: dict[str | None, Context]
) -> None:
    wire = Wire()
    client, srv = established(tls12_client_context, servers["client"], wire=wire)
    before = {r: len(wire.records[r]) for r in Role}
    assert renegotiate(client, srv, wire=wire).ok
    new = {r: wire.records[r][before[r] :] for r in Role}
    # Everything is encrypted now: handshake records under the old keys, then
    # a ChangeCipherSpec and the Finished under the new ones, both ways.
    for role in Role:
        kinds = [rec.content_type for rec in new[role]]
        assert kinds[0] == 22 and 20 in kinds, kinds
        assert all(rec.encrypted for rec in new[role] if rec.content_type == 22)


def test_our_client_renegotiates_with_openssl_s_server() -> None:
    """Over a socket: s_server (allowing it) and our blocking-with-timeout client."""
    openssl = openssl_cli()
    peer = SServer(
        openssl, *s_server_identity(certs.SERVER_ECDSA), "-tls1_2", *S_SERVER_CLIENT_RENEGOTIATION
    )
    ctx = Context("client", cafile=certs.CA, max_version="1.2")
    try:
        with socket.create_connection(("127.0.0.1", peer.port), timeout=TIMEOUT) as sock:
            sock.settimeout(TIMEOUT)
            with Connection(ctx, sock=sock, server_name="localhost") as conn:
                conn.do_handshake()
                first = conn.finished
                conn.renegotiate()
                conn.do_handshake()
                assert conn.total_renegotiations == 1 and not conn.renegotiate_pending
                assert conn.finished != first
                conn.write(b"after renegotiation\n")
                printed_by(peer, b"after renegotiation")
                conn.shutdown()
    finally:
        _, out, err = peer.finish(timeout=10)
    assert "after renegotiation" in out, out + err


def test_openssl_s_client_renegotiates_with_our_server() -> None:
    """s_client's interactive ``R`` command against our server with renegotiation='client'."""
    srv = OneServer(server(renegotiation="client"), wait_renegotiated)
    seen, err = s_client_types(srv, b"R\n", "-tls1_2")
    assert seen.get("renegotiated") is True, (seen, err)


def test_gnutls_cli_rehandshake_with_our_server() -> None:
    """``gnutls-cli --rehandshake`` renegotiates (client-initiated) with renegotiation='client'."""

    srv = OneServer(server(renegotiation="client"), wait_renegotiated)
    proc = gnutls_cli(
        srv.port,
        *GNUTLS_TRUST,
        *gnutls_only("1.2"),
        "--rehandshake",
    )
    seen = srv.join()
    _, err = finish(proc)
    assert seen.get("renegotiated") is True, (seen, err)
