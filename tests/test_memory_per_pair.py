"""Memory per live pair and the bulk path: the settings that keep a pair small,
and full 16 KiB records flowing both ways whatever the BIO pair size.

The bytes per pair themselves are measured by ``bench/run.py --modes memory``
(VmRSS over 10,000 held pairs; docs/performance.md), never asserted here:
RSS depends on the allocator's history.
"""

from __future__ import annotations

import pytest

from ossl_handshake import CallbackError, Connection, Mode, Role, SSLError
from ossl_handshake._native import lib
from ossl_handshake.pair import deliver, deliver_into, drive, memory_pair
from ossl_handshake.testing.plugin import make_client_context, make_server_context

pytestmark = pytest.mark.timeout(60)

RECORD = 16384  # the largest plaintext of one TLS record
#: A full record, two records and a tail: every byte distinct from its neighbours.
PAYLOADS = [bytes(range(256)) * 64, bytes(range(251)) * 131 + b"tail"]


def _pair(bio_size: int = 0, **client_kw: object) -> tuple[Connection, Connection]:
    client, server = memory_pair(
        make_client_context(**client_kw),
        make_server_context(),
        server_name="localhost",
        bio_size=bio_size,
    )
    drive(client, server).expect(ok=True)
    return client, server


def test_contexts_and_their_connections_release_idle_buffers() -> None:
    """SSL_MODE_RELEASE_BUFFERS is on by default (SSL_CTX_set_mode), so an idle
    connection holds no 16 KiB read and write buffers; every SSL inherits it."""
    client_ctx, server_ctx = make_client_context(), make_server_context()
    assert Mode.RELEASE_BUFFERS in client_ctx.mode
    assert Mode.RELEASE_BUFFERS in server_ctx.mode
    client, server = memory_pair(client_ctx, server_ctx, server_name="localhost")
    for conn in (client, server):
        assert lib.SSL_get_mode(conn.ptr) & lib.SSL_MODE_RELEASE_BUFFERS
        conn.close()


def test_a_full_record_flows_both_ways_on_the_default_pair() -> None:
    """The default BIO pair (17 KiB per direction) still takes a whole record in
    one write(): write, transfer_to and read work as before."""
    client, server = _pair()
    data = PAYLOADS[0]
    assert len(data) == RECORD
    assert client.write(data) == RECORD
    assert client.transfer_to(server) > RECORD
    assert server.read(RECORD) == data
    assert server.write(data) == RECORD
    server.transfer_to(client)
    assert client.read(RECORD) == data
    client.close()
    server.close()


@pytest.mark.parametrize("bio_size", [0, 4096, 512], ids=["default", "4k", "512"])
@pytest.mark.parametrize("data", PAYLOADS, ids=["one_record", "two_records_and_a_tail"])
def test_deliver_moves_full_records_both_ways_at_any_bio_size(bio_size: int, data: bytes) -> None:
    """deliver() (one C loop: SSL_write_ex, move, SSL_read_ex) carries 16 KiB
    records even through BIO pairs smaller than one record."""
    client, server = _pair(bio_size)
    assert deliver(client, server, data) == data
    assert deliver(server, client, data) == data
    assert client.pending == server.pending == 0
    client.close()
    server.close()


def test_deliver_after_our_close_notify_raises_the_write_error() -> None:
    """SSL_write_ex after SSL_shutdown fails ("protocol is shutdown"): mapped by
    the one mapping, raised as the source's error."""
    client, server = _pair()
    assert server.shutdown() is False  # close_notify sent, the client's not yet seen
    with pytest.raises(SSLError) as info:
        deliver(server, client, b"after close")
    assert info.value.operation == "SSL_write_ex"
    assert info.value.role is Role.SERVER
    client.close()
    server.close()


def test_deliver_to_a_connection_that_is_not_the_peer_raises_the_read_error() -> None:
    """Records of one session are garbage to another (bad record MAC): the
    destination's SSL_read_ex fails and that error is raised."""
    c1, s1 = _pair()
    c2, s2 = _pair()
    with pytest.raises(SSLError) as info:
        deliver(c1, s2, b"for somebody else")
    assert info.value.operation == "SSL_read_ex"
    assert info.value.role is Role.SERVER
    for conn in (c1, s1, c2, s2):
        conn.close()


def test_a_callback_raising_during_deliver_is_reported_not_lost() -> None:
    """The client reads the server's TLS 1.3 tickets during deliver(): the
    on_new_session callback that raises comes back as CallbackError."""

    def boom(*_: object) -> None:
        raise RuntimeError("new session callback failed on purpose")

    client, server = memory_pair(
        make_client_context(on_new_session=boom), make_server_context(), server_name="localhost"
    )
    drive(client, server, settle=False).expect(ok=True)
    with pytest.raises(CallbackError) as info:
        deliver(server, client, b"data behind the tickets")
    assert isinstance(info.value.__cause__, RuntimeError)
    client.close()
    server.close()


def test_deliver_refuses_bad_input_with_typed_errors() -> None:
    client, server = _pair()
    with pytest.raises(TypeError):
        deliver(client, "server", b"x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="same one twice"):
        deliver(client, client, b"x")
    with pytest.raises(TypeError):
        deliver(client, server, "text")  # type: ignore[arg-type]
    assert deliver(client, server, b"") == b""
    fresh_client, fresh_server = memory_pair(make_client_context(), make_server_context())
    with pytest.raises(ValueError, match="finished"):
        deliver(fresh_client, fresh_server, b"x")
    direct_client, direct_server = memory_pair(
        make_client_context(), make_server_context(), server_name="localhost", direct=True
    )
    drive(direct_client, direct_server).expect(ok=True)
    with pytest.raises(ValueError, match="network BIO"):
        deliver(direct_client, direct_server, b"x")
    for conn in (client, server, fresh_client, fresh_server, direct_client, direct_server):
        conn.close()


def test_deliver_on_a_closed_connection_raises_closed() -> None:
    from ossl_handshake import ClosedError

    client, server = _pair()
    server.close()
    with pytest.raises(ClosedError):
        deliver(client, server, b"x")
    client.close()


def test_deliver_into_reuses_the_callers_buffer() -> None:
    client, server = _pair(2048)
    buf = bytearray(3 * RECORD)
    for data in PAYLOADS:
        assert deliver_into(client, server, data, buf) == len(data)
        assert buf[: len(data)] == data
    with pytest.raises(TypeError, match="writable"):
        deliver_into(client, server, b"x", b"read-only")
    with pytest.raises(ValueError, match="fewer than"):
        deliver_into(client, server, b"xyz", bytearray(2))
    client.close()
    server.close()
