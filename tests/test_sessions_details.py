"""Sessions in detail: what a session says, timeout, id context, cache statistics.

In memory on TLS 1.2 and 1.3, and over sockets: our client resuming with
``openssl s_server``, ``openssl s_client -reconnect`` resuming with our
server while its cache counts the hits.
"""

from __future__ import annotations

import datetime
import socket
from typing import Any

import pytest

from ossl_handshake import (
    Connection,
    Context,
    ContextInUseError,
    Options,
    Session,
    SessionStats,
    certs,
    handshake,
    memory_pair,
)
from tests._contexts import client, server
from tests._peers import SServer, openssl_cli, s_server_identity
from tests._peers import run as run_cmd

pytestmark = pytest.mark.timeout(60)


def full(client_ctx: Context, server_ctx: Context, **kw: Any) -> tuple[Connection, Connection]:
    """A finished handshake on a fresh memory pair (both connections still open)."""
    c, s = memory_pair(client_ctx, server_ctx, server_name="localhost", **kw)
    handshake(c, s)
    return c, s


def resume(client_ctx: Context, server_ctx: Context, session: Session) -> bool:
    c, s = memory_pair(client_ctx, server_ctx, server_name="localhost", session=session)
    result = handshake(c, s)
    c.close()
    s.close()
    return result.client.session_reused


@pytest.mark.parametrize(("version", "protocol"), [("1.2", "TLSv1.2"), ("1.3", "TLSv1.3")])
def test_session_reports_protocol_cipher_host_alpn_and_times(version: str, protocol: str) -> None:
    c, _ = full(client(max_version=version, alpn=["h2"]), server(alpn=["h2"]))
    session = c.session
    assert session is not None and session.resumable
    assert session.protocol == protocol == c.version
    assert session.cipher == c.cipher
    assert session.alpn_protocol == b"h2"
    assert session.time.tzinfo is datetime.timezone.utc
    assert session.timeout > 0
    # Serialising keeps what it says.
    copy = Session.from_der(session.to_der())
    assert (copy.protocol, copy.cipher, copy.time, copy.timeout) == (
        session.protocol,
        session.cipher,
        session.time,
        session.timeout,
    )


def test_tls13_session_has_a_ticket_age_add_and_tls12_has_none() -> None:
    c13, _ = full(client(max_version="1.3"), server())
    s13 = c13.session
    assert s13 is not None and s13.has_ticket
    # A random 32-bit value (RFC 8446 4.6.1): zero once in 2**32 tickets.
    assert 0 < s13.ticket_age_add < 2**32
    c12, _ = full(client(max_version="1.2"), server())
    s12 = c12.session
    assert s12 is not None and s12.ticket_age_add == 0


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_server_session_timeout_is_stamped_and_sent_as_the_lifetime_hint(version: str) -> None:
    srv = server(session_timeout=1234)
    assert srv.session_timeout == 1234
    c, s = full(client(max_version=version), srv)
    assert s.session is not None and s.session.timeout == 1234
    session = c.session
    assert session is not None and session.ticket_lifetime_hint == 1234


def test_session_id_context_is_recorded_and_checked_on_resumption() -> None:
    cli = client(max_version="1.2")
    srv = server(options=Options.NO_TICKET, session_id_context=b"service-a")
    c, s = full(cli, srv)
    assert s.session is not None and s.session.id_context == b"service-a"
    session = c.session
    assert session is not None
    c.close()
    s.close()
    assert resume(cli, srv, session)
    # The same cache under another id context no longer resumes it.
    srv.set_session_id_context(b"service-b")
    assert not resume(cli, srv, session)


def test_session_hostname_is_recorded_when_a_servername_callback_accepts_it() -> None:
    # OpenSSL stores the SNI name in the session only when the servername
    # callback answered SSL_TLSEXT_ERR_OK (without a callback it is NOACK).
    _, plain_s = full(client(), server())
    assert plain_s.session is not None and plain_s.session.hostname is None
    c, s = full(client(), server(servername_callback=lambda conn, name: None))
    assert s.session is not None and s.session.hostname == "localhost"
    assert c.session is not None and c.session.hostname == "localhost"


def test_default_server_id_context() -> None:
    _, s = full(client(), server())
    assert s.session is not None and s.session.id_context == b"ossl-handshake"


def test_cache_statistics_count_accepts_hits_and_misses() -> None:
    cli = client(max_version="1.2")
    srv = server(options=Options.NO_TICKET)  # TLS 1.2 session IDs: the server cache
    other = server(options=Options.NO_TICKET)
    before = srv.session_stats()
    assert before == SessionStats(*([0] * 12), cache_size=before.cache_size)
    c, s = full(cli, srv)
    session = c.session
    assert session is not None
    c.close()
    s.close()
    assert resume(cli, srv, session)
    assert resume(cli, srv, session)
    assert not resume(cli, other, session)  # not in that cache: a miss
    stats = srv.session_stats()
    assert (stats.accept, stats.accept_good, stats.hits, stats.misses) == (3, 3, 2, 0)
    assert stats.number == 1
    assert other.session_stats().misses == 1
    client_stats = cli.session_stats()
    assert (client_stats.connect, client_stats.connect_good) == (4, 4)


def test_a_full_cache_evicts_and_counts_cache_full() -> None:
    srv = server(options=Options.NO_TICKET)
    srv.session_cache_size = 1
    assert srv.session_cache_size == 1
    for _ in range(3):
        c, s = full(client(max_version="1.2"), srv)
        c.close()
        s.close()
    stats = srv.session_stats()
    assert stats.number == 1 and stats.cache_full == 2


def test_session_settings_are_refused_while_in_use_and_inputs_are_checked() -> None:
    srv = server()
    c, _ = memory_pair(client(), srv, server_name="localhost")
    with pytest.raises(ContextInUseError):
        srv.session_timeout = 10
    with pytest.raises(ContextInUseError):
        srv.set_session_id_context(b"x")
    assert srv.session_stats().accept == 0  # a read: fine while in use
    c.close()
    with pytest.raises(ValueError, match="at most 32"):
        srv.set_session_id_context(b"x" * 33)
    with pytest.raises(TypeError):
        srv.set_session_id_context("text")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        server(session_timeout=-1)
    with pytest.raises(TypeError):
        server(session_timeout=1.5)  # type: ignore[arg-type]


# ---- over sockets, against the openssl command ----------------------------------------


def test_our_client_resumes_with_openssl_s_server_and_reads_the_session() -> None:
    openssl = openssl_cli()
    peer = SServer(openssl, *s_server_identity(certs.SERVER_ECDSA), "-naccept", "2", "-tls1_2")
    cli = client()
    try:
        sessions: list[Session] = []
        for _ in range(2):
            sock = socket.create_connection(("127.0.0.1", peer.port), timeout=10)
            offered = sessions[-1] if sessions else None
            with Connection(cli, sock=sock, server_name="localhost", session=offered) as conn:
                conn.do_handshake()
                assert conn.session_reused is (offered is not None)
                session = conn.session
                assert session is not None
                sessions.append(session)
                conn.shutdown()
    finally:
        peer.kill()
    assert sessions[0].protocol == "TLSv1.2" and sessions[0].cipher is not None
    assert cli.session_stats().connect_good == 2


def test_openssl_s_client_reconnects_and_our_server_cache_counts_hits(
    ossl_tls_server: Any,
) -> None:
    openssl = openssl_cli()
    srv = server(options=Options.NO_TICKET, max_version="1.2")
    host, port = ossl_tls_server(srv).address
    rc, out, err = run_cmd(
        [
            *(openssl, "s_client", "-connect", f"{host}:{port}", "-servername", "localhost"),
            *("-CAfile", str(certs.CA), "-reconnect"),
        ]
    )
    assert rc == 0, err
    assert out.count("Reused, TLSv1.2") == 5  # s_client -reconnect: five more handshakes
    stats = srv.session_stats()
    assert stats.hits == 5 and stats.accept_good == 6
