"""Resumption: TLS 1.2 session IDs and tickets, TLS 1.3 tickets, cache modes, callbacks."""

from __future__ import annotations

import pytest

from ossl_handshake import (
    CallbackError,
    Connection,
    Context,
    Options,
    Role,
    Session,
    SessionCacheMode,
    handshake,
    memory_pair,
)
from ossl_handshake.pair.result import HandshakeResult
from tests._contexts import client, server


def full_then_resumed(
    client_ctx: Context, server_ctx: Context
) -> tuple[Session, HandshakeResult, HandshakeResult]:
    c, s = memory_pair(client_ctx, server_ctx, server_name="localhost")
    first = handshake(c, s)
    session = c.session
    assert session is not None
    c.close()
    s.close()
    c2, s2 = memory_pair(client_ctx, server_ctx, server_name="localhost", session=session)
    return session, first, handshake(c2, s2)


def test_tls12_resumes_by_session_id_when_tickets_are_off() -> None:
    session, first, second = full_then_resumed(
        client(max_version="1.2"), server(options=Options.NO_TICKET)
    )
    assert not first.client.session_reused
    assert session.protocol_version == 0x0303
    assert not session.has_ticket and len(session.id) == 32
    assert second.client.session_reused and second.server.session_reused


def test_tls12_resumes_by_ticket_without_a_server_cache() -> None:
    session, _, second = full_then_resumed(
        client(max_version="1.2"), server(session_cache=SessionCacheMode.OFF)
    )
    assert session.has_ticket
    assert second.client.session_reused and second.server.session_reused


def test_tls12_without_cache_or_tickets_does_a_full_handshake_again() -> None:
    srv = server(options=Options.NO_TICKET, session_cache=SessionCacheMode.OFF)
    assert srv.session_cache is SessionCacheMode.OFF
    _, _, second = full_then_resumed(client(max_version="1.2"), srv)
    assert second.ok
    assert not second.client.session_reused and not second.server.session_reused


@pytest.mark.parametrize("tickets", [1, 2])
def test_tls13_ticket_resumes(tickets: int) -> None:
    session, first, second = full_then_resumed(client(), server(num_tickets=tickets))
    assert first.client.version == "TLSv1.3"
    assert session.protocol_version == 0x0304 and session.has_ticket and session.resumable
    assert second.client.session_reused and second.server.session_reused
    # A resumed TLS 1.3 handshake sends no certificate, yet the peer's is known.
    assert second.client.peer_subject == "O=ossl-handshake tests,CN=localhost"


def test_tls13_with_zero_tickets_cannot_resume() -> None:
    srv = server(num_tickets=0)
    assert srv.num_tickets == 0
    c, s = memory_pair(client(), srv, server_name="localhost")
    handshake(c, s)
    session = c.session
    assert session is not None and not session.resumable


def test_tls13_stateful_ticket_needs_the_server_cache() -> None:
    # With NO_TICKET OpenSSL 3 sends stateful tickets (a session ID in the
    # server cache); without the cache they cannot resume.
    _, _, ok = full_then_resumed(client(), server(options=Options.NO_TICKET))
    assert ok.server.session_reused
    off = server(options=Options.NO_TICKET, session_cache=SessionCacheMode.OFF)
    _, _, again = full_then_resumed(client(), off)
    assert not again.server.session_reused


def test_session_offered_to_another_server_context_is_not_resumed() -> None:
    cli = client()
    session, _, _ = full_then_resumed(cli, server())
    c, s = memory_pair(cli, server(), server_name="localhost", session=session)
    assert not handshake(c, s).client.session_reused  # other ticket keys


def test_session_survives_der_round_trip() -> None:
    cli, srv = client(max_version="1.2"), server()
    session, _, _ = full_then_resumed(cli, srv)
    copy = Session.from_der(session.to_der())
    c, s = memory_pair(cli, srv, server_name="localhost", session=copy)
    assert handshake(c, s).server.session_reused


def test_on_new_session_gets_one_session_per_tls13_ticket() -> None:
    got: list[tuple[Connection, Session]] = []
    cli = client(on_new_session=lambda conn, sess: got.append((conn, sess)))
    assert cli.session_cache & SessionCacheMode.CLIENT
    srv = server(num_tickets=3)
    c, s = memory_pair(cli, srv, server_name="localhost")
    handshake(c, s)  # the driver lets the client read the tickets
    assert len(got) == 3
    assert all(conn is c for conn, _ in got)
    assert all(sess.has_ticket and sess.resumable for _, sess in got)
    # Each ticket resumes on the server that issued it. A resumed handshake
    # brings one new ticket, not num_tickets (measured on OpenSSL 3.0).
    for _, sess in list(got):
        c2, s2 = memory_pair(cli, srv, server_name="localhost", session=sess)
        assert handshake(c2, s2).server.session_reused
    assert len(got) == 3 + 3


def test_on_new_session_tls12_is_called_during_the_handshake() -> None:
    got: list[Session] = []
    cli = client(max_version="1.2", on_new_session=lambda conn, sess: got.append(sess))
    c, s = memory_pair(cli, server(), server_name="localhost")
    handshake(c, s)
    assert len(got) == 1 and got[0].protocol_version == 0x0303


def test_server_on_new_session_sees_sessions_entering_its_cache() -> None:
    got: list[Session] = []
    srv = server(options=Options.NO_TICKET, on_new_session=lambda conn, sess: got.append(sess))
    c, s = memory_pair(client(max_version="1.2"), srv, server_name="localhost")
    handshake(c, s)
    assert len(got) == 1 and got[0].id == c.session.id  # type: ignore[union-attr]


def test_exception_in_on_new_session_is_reraised_from_the_read_that_ran_it() -> None:
    def broken(conn: Connection, sess: Session) -> None:
        raise ValueError("session store full")

    c, s = memory_pair(client(on_new_session=broken), server(), server_name="localhost")
    with pytest.raises(CallbackError) as info:
        handshake(c, s)  # TLS 1.3: tickets are processed after the handshake
    assert isinstance(info.value.__cause__, ValueError)
    assert info.value.role is Role.CLIENT
