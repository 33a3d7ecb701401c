"""TLS 1.3 early data (0-RTT): accepted, rejected, not sent, replayed, broken on the wire.

The client resumes a session from a server that allows early data
(``max_early_data``); ``pair.early_data_handshake`` has it write the data
with ``SSL_write_early_data`` before the handshake, and the server read it
with ``SSL_read_early_data`` until FINISH. Each side reports
``SSL_get_early_data_status``.
"""

from __future__ import annotations

import socket
import subprocess
import threading
from pathlib import Path

import pytest

from ossl_handshake import (
    Connection,
    Context,
    ProtocolError,
    Role,
    Session,
    certs,
    handshake,
    memory_pair,
)
from ossl_handshake.core.early_data import EarlyDataStatus, ReadEarly
from ossl_handshake.pair.driver import early_data_handshake
from ossl_handshake.wire import Wire
from ossl_handshake.wire.faults import EARLY_DATA, Corrupt, Drop
from tests._beyond import connected, printed_by
from tests._contexts import client, server
from tests._peers import TIMEOUT, SServer, openssl_cli, s_server_identity

pytestmark = pytest.mark.timeout(30)

DATA = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"


@pytest.fixture(scope="module")
def zero_rtt_server() -> Context:
    return server(max_early_data=4096)


@pytest.fixture(scope="module")
def tls13_client() -> Context:
    return client()


def ticket(c_ctx: Context, s_ctx: Context) -> Session:
    """A session (TLS 1.3 ticket) from a full handshake with ``s_ctx``."""
    c, s = memory_pair(c_ctx, s_ctx, server_name="localhost")
    handshake(c, s)
    session = c.session
    assert session is not None
    return session


def resumed(c_ctx: Context, s_ctx: Context, session: Session) -> tuple[Connection, Connection]:
    return memory_pair(c_ctx, s_ctx, server_name="localhost", session=session)


def test_early_data_is_accepted_on_a_resumed_session(
    tls13_client: Context, zero_rtt_server: Context
) -> None:
    c, s = resumed(tls13_client, zero_rtt_server, ticket(tls13_client, zero_rtt_server))
    result = early_data_handshake(c, s, DATA)
    assert result.ok and result.accepted
    assert result.early_data == DATA
    assert [r.status for r in result.early_reads] == [ReadEarly.SUCCESS, ReadEarly.FINISH]
    assert result.client_status is EarlyDataStatus.ACCEPTED
    assert result.server_status is EarlyDataStatus.ACCEPTED
    assert result.client.session_reused and result.server.session_reused
    # The first steps: the client's flight (ClientHello + 0-RTT), then the
    # server's early read, which also wrote its flight.
    assert result.steps[0].step.role is Role.CLIENT and result.steps[0].sent > len(DATA)
    assert result.steps[1].step.role is Role.SERVER and result.steps[1].sent > 0
    c.write(b"1-RTT")
    c.transfer_to(s)
    assert s.read() == b"1-RTT"


def test_a_server_without_max_early_data_gives_tickets_without_0rtt(
    tls13_client: Context, ossl_server_context: Context
) -> None:
    session = ticket(tls13_client, ossl_server_context)
    c, _ = resumed(tls13_client, ossl_server_context, session)
    with pytest.raises(ProtocolError, match="SSL_write_early_data"):
        c.write_early_data(DATA)
    assert c.early_data_status is EarlyDataStatus.NOT_SENT


def test_a_server_that_cannot_resume_rejects_the_early_data(
    tls13_client: Context, zero_rtt_server: Context
) -> None:
    other = server(max_early_data=4096)  # other ticket keys: a full handshake
    c, s = resumed(tls13_client, other, ticket(tls13_client, zero_rtt_server))
    result = early_data_handshake(c, s, DATA)
    assert result.ok and not result.accepted
    assert result.early_data == b""
    assert [r.status for r in result.early_reads] == [ReadEarly.FINISH]
    assert result.client_status is EarlyDataStatus.REJECTED
    assert result.server_status is EarlyDataStatus.REJECTED
    assert not result.client.session_reused


@pytest.mark.parametrize(("anti_replay", "second"), [(None, "REJECTED"), (False, "ACCEPTED")])
def test_anti_replay_rejects_a_ticket_used_twice(
    tls13_client: Context, anti_replay: bool | None, second: str
) -> None:
    """Default: single-use tickets, the second 0-RTT attempt is rejected;
    ``anti_replay=False`` (``SSL_OP_NO_ANTI_REPLAY``) accepts it again."""
    srv = server(max_early_data=4096, anti_replay=anti_replay)
    session = ticket(tls13_client, srv)
    statuses = []
    for _ in range(2):
        c, s = resumed(tls13_client, srv, session)
        result = early_data_handshake(c, s, DATA)
        assert result.ok
        statuses.append(result.server_status)
    assert statuses == [EarlyDataStatus.ACCEPTED, EarlyDataStatus[second]]


def test_a_corrupted_0rtt_record_is_a_bad_record_mac(
    tls13_client: Context, zero_rtt_server: Context
) -> None:
    c, s = resumed(tls13_client, zero_rtt_server, ticket(tls13_client, zero_rtt_server))
    fault = Corrupt(EARLY_DATA)
    result = early_data_handshake(c, s, DATA, wire=Wire([fault]), check=False)
    assert fault.fired == 1
    assert result.failed_side is Role.SERVER
    assert isinstance(result.error, ProtocolError)
    assert result.error.operation == "SSL_read_early_data"
    assert "decryption failed or bad record mac" in [e.reason for e in result.error.errors]
    assert result.server.alert_sent == "bad_record_mac"
    assert result.early_reads[-1].status is ReadEarly.ERROR


def test_a_dropped_0rtt_record_breaks_the_handshake_transcript(
    tls13_client: Context, zero_rtt_server: Context
) -> None:
    """Early data is in the transcript via EndOfEarlyData's position: a lost record
    means the server decrypts the client's next record with the wrong key."""
    c, s = resumed(tls13_client, zero_rtt_server, ticket(tls13_client, zero_rtt_server))
    fault = Drop(EARLY_DATA)
    result = early_data_handshake(c, s, DATA, wire=Wire([fault]), check=False)
    assert fault.fired == 1
    assert not result.ok and result.early_data == b""
    assert result.failed_side is Role.SERVER


def test_early_data_limits_are_context_settings(zero_rtt_server: Context) -> None:
    assert zero_rtt_server.max_early_data == 4096
    assert zero_rtt_server.recv_max_early_data == 16384
    ctx = server(max_early_data=100, recv_max_early_data=200)
    assert (ctx.max_early_data, ctx.recv_max_early_data) == (100, 200)
    with pytest.raises(ValueError):
        server(max_early_data=-1)
    with pytest.raises(TypeError):
        server(anti_replay="off")


def test_read_early_data_refuses_bad_sizes(zero_rtt_server: Context) -> None:
    s = Connection(zero_rtt_server, "server")
    with pytest.raises(ValueError):
        s.read_early_data(0)
    with pytest.raises(TypeError):
        s.read_early_data("10")  # type: ignore[arg-type]


def test_our_client_sends_early_data_to_openssl_s_server() -> None:
    """Over sockets: a ticket from s_server -early_data, then 0-RTT on the second connection."""
    openssl = openssl_cli()
    peer = SServer(openssl, *s_server_identity(certs.SERVER_ECDSA), "-early_data", "-naccept", "2")
    sessions: list[Session] = []
    ctx = client(on_new_session=lambda _conn, sess: sessions.append(sess))
    try:
        with connected(peer, ctx) as conn:
            conn.do_handshake()
            conn.timeout = 0.2
            for _ in range(int(TIMEOUT / 0.2)):
                if sessions:
                    break
                with pytest.raises(TimeoutError):
                    conn.read()  # processes the NewSessionTicket
            conn.shutdown()
        assert sessions
        with connected(peer, ctx, session=sessions[0]) as conn:
            assert conn.write_early_data(b"zero round trip\n") == 16
            conn.do_handshake()
            status = conn.early_data_status
            printed_by(peer, b"zero round trip")
            conn.shutdown()
    finally:
        _, out, err = peer.finish(timeout=10)
    assert status is EarlyDataStatus.ACCEPTED, out + err
    assert "Early data received:" in out and "zero round trip" in out, out


def test_openssl_s_client_sends_early_data_to_our_server(tmp_path: Path) -> None:
    """Over sockets: s_client saves the ticket of a first connection, then sends a file
    as 0-RTT on the second; our server's read_early_data (waiting with poll) reads it."""
    openssl = openssl_cli()
    ctx = server(max_early_data=4096)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen: dict[str, object] = {}

    def serve() -> None:
        try:
            for i in range(2):
                sock, _ = listener.accept()
                with sock, Connection(ctx, "server", sock=sock) as conn:
                    conn.timeout = TIMEOUT
                    if i == 0:
                        conn.do_handshake()
                        conn.write(b"first\\n")  # s_client reads the tickets with it
                        conn.shutdown()
                        continue
                    early = bytearray()
                    while True:
                        r = conn.read_early_data()
                        early += r.data
                        if r.status is not ReadEarly.SUCCESS:
                            break
                    seen["status"], seen["early"] = r.status, bytes(early)
                    conn.do_handshake()
                    seen["accepted"] = conn.early_data_status
                    conn.write(b"bye\\n")
                    conn.shutdown()
        except Exception as exc:  # asserted below
            seen["error"] = exc

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    sess, early = tmp_path / "sess.pem", tmp_path / "early.txt"
    early.write_bytes(b"zero round trip from s_client\\n")
    base = [openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(certs.CA)]
    base += ["-servername", "localhost", "-ign_eof"]
    try:
        first = subprocess.run(
            [*base, "-sess_out", str(sess)], input=b"", capture_output=True, timeout=TIMEOUT
        )
        assert sess.exists(), first.stderr.decode(errors="replace")
        subprocess.run(
            [*base, "-sess_in", str(sess), "-early_data", str(early)],
            input=b"",
            capture_output=True,
            timeout=TIMEOUT,
        )
        t.join(TIMEOUT)
    finally:
        listener.close()
    assert "error" not in seen, seen
    assert seen["early"] == b"zero round trip from s_client\\n"
    assert seen["status"] is ReadEarly.FINISH
    assert seen["accepted"] is EarlyDataStatus.ACCEPTED
