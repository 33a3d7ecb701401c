"""Python callbacks inside a connection's own calls: errors, re-entrance, adopted SSLs.

A callback runs inside the libssl call of its connection, on the same thread,
with the connection's guard held: it may read the connection (``conn.state``)
but not drive it (``conn.step()`` gets :class:`~ossl_handshake.BusyError`,
reported as :class:`~ossl_handshake.CallbackError` from the outer call), and
its ``close()`` frees the ``SSL`` only once that call returned. An exception
raised by a callback surfaces from the call it happened in, not a later one.
Adopted SSLs come from ``tests/c/sslmaker.c`` (the fixtures of
tests/test_adopt.py).
"""

from __future__ import annotations

from typing import Any

import pytest

import ossl_handshake.core.connection as connection_mod
from ossl_handshake import (
    BusyError,
    CallbackError,
    ClosedError,
    Connection,
    Context,
    Role,
    Step,
    ZeroReturnError,
    handshake,
    memory_pair,
)
from ossl_handshake.observe.trace import Trace
from tests.test_adopt import Maker, c_client_ctx, c_server_ctx, maker  # noqa: F401 - fixtures
from tests.test_sockets import Counter, LibProxy

pytestmark = pytest.mark.timeout(30)

TLS13_SERVER_FLIGHT = [
    "ServerHello",
    "EncryptedExtensions",
    "Certificate",
    "CertificateVerify",
    "Finished",
]


class Boom(Exception):
    """Raised by the callbacks under test."""


@pytest.fixture
def pair(
    ossl_client_context: Context, ossl_server_context: Context
) -> tuple[Connection, Connection]:
    return memory_pair(ossl_client_context, ossl_server_context, server_name="localhost")


# -- 9. an exception in on_info during shutdown() ------------------------------------


def test_on_info_error_during_shutdown_surfaces_from_shutdown_and_loses_no_data(
    pair: tuple[Connection, Connection],
) -> None:
    client, server = pair
    handshake(client, server)
    server.write(b"the peer's last words")
    server.transfer_to(client)
    seen: list[int] = []

    def on_info(conn: Connection, where: int, ret: int) -> None:
        seen.append(where)
        raise Boom("in shutdown")

    client.on_info = on_info
    with pytest.raises(CallbackError) as info:
        client.shutdown()
    assert isinstance(info.value.__cause__, Boom)
    assert seen, "on_info never ran in SSL_shutdown"
    client.on_info = None
    # The error was delivered by shutdown() itself: read() is not the one to get it,
    # and the record that was already in the BIO is still there.
    assert client.read() == b"the peer's last words"
    client.transfer_to(server)
    with pytest.raises(ZeroReturnError):  # our close_notify did go out
        server.read()
    client.close()
    server.close()


# -- 14. re-entrance from a callback ---------------------------------------------------


def test_on_info_that_steps_its_own_connection_gets_busy_error_as_callback_error(
    pair: tuple[Connection, Connection],
) -> None:
    client, server = pair
    inner: list[BaseException] = []

    def on_info(conn: Connection, where: int, ret: int) -> None:
        try:
            conn.step()
        except BusyError as exc:
            inner.append(exc)
            raise

    client.on_info = on_info
    with pytest.raises(CallbackError) as info:
        client.step()
    assert isinstance(info.value.__cause__, BusyError)
    assert "re-entered from one of its own callbacks" in str(info.value.__cause__)
    assert inner and info.value.__cause__ is inner[0]  # the first error is the one reported
    assert client.failed is info.value
    assert not client.closed
    client.close()
    server.close()


def test_on_info_that_reads_state_sees_each_state_and_the_handshake_completes(
    pair: tuple[Connection, Connection],
) -> None:
    client, server = pair
    states: list[str] = []

    def on_info(conn: Connection, where: int, ret: int) -> None:
        states.append(conn.state)
        assert not conn.closed

    client.on_info = on_info
    result = handshake(client, server)
    assert result.ok
    assert "before SSL initialization" in states
    assert "SSL negotiation finished successfully" in states
    assert states[-1] == client.state
    client.close()
    server.close()


def test_on_info_that_closes_its_connection_frees_the_ssl_after_the_outer_call(
    monkeypatch: pytest.MonkeyPatch, pair: tuple[Connection, Connection]
) -> None:
    client, server = pair
    frees = Counter(connection_mod.lib.ossl_close_ssl)
    monkeypatch.setattr(
        connection_mod, "lib", LibProxy(connection_mod.lib, "ossl_close_ssl", frees)
    )
    during: list[tuple[bool, int]] = []

    def on_info(conn: Connection, where: int, ret: int) -> None:
        conn.close()
        during.append((conn.closed, frees.calls))

    client.on_info = on_info
    step = client.step()  # libssl goes on with the SSL after the callback returned
    assert isinstance(step, Step) and step.wants
    assert during and all(d == (True, 0) for d in during), during  # not freed inside
    assert frees.calls == 1  # freed once, on the way out of the outer call
    assert client.closed
    with pytest.raises(ClosedError):
        client.step()
    client.close()
    assert frees.calls == 1
    server.close()


# -- 10. observers on an adopted SSL ----------------------------------------------


def test_on_message_sees_the_messages_of_an_adopted_ssl(
    maker: Maker,  # noqa: F811 - the imported fixture
    c_server_ctx: Any,  # noqa: F811
    ossl_client_context: Context,
) -> None:
    ssl = maker.lib.sslmaker_ssl_new(c_server_ctx, 1, maker.ffi.NULL)
    try:
        server = Connection.adopt(maker.addr(ssl))
        server.set_bio_pair()
        seen: list[tuple[bool, int, int]] = []
        server.on_message = lambda conn, sent, version, ct, data: seen.append(
            (sent, ct, data[0] if data else -1)
        )
        client = Connection(ossl_client_context, server_name="localhost")
        assert handshake(client, server).ok
        handshake_msgs = [(sent, kind) for sent, ct, kind in seen if ct == 22]
        assert (False, 1) in handshake_msgs  # ClientHello received
        assert (True, 2) in handshake_msgs  # ServerHello sent
        assert handshake_msgs.index((False, 1)) < handshake_msgs.index((True, 2))
        client.close()
        server.close()
    finally:
        maker.lib.sslmaker_ssl_free(ssl)


def test_trace_records_the_handshake_of_an_adopted_ssl(
    maker: Maker,  # noqa: F811 - the imported fixture
    c_server_ctx: Any,  # noqa: F811
    ossl_client_context: Context,
) -> None:
    ssl = maker.lib.sslmaker_ssl_new(c_server_ctx, 1, maker.ffi.NULL)
    try:
        server = Connection.adopt(maker.addr(ssl))
        server.set_bio_pair()
        client = Connection(ossl_client_context, server_name="localhost")
        trace = Trace()
        assert handshake(client, server, trace=trace).ok
        assert trace.handshake_messages(Role.SERVER)[:5] == TLS13_SERVER_FLIGHT
        assert trace.handshake_messages(Role.SERVER, "received") == ["ClientHello", "Finished"]
        assert trace.infos and any(i.side is Role.SERVER for i in trace.infos)
        client.close()
        server.close()
    finally:
        maker.lib.sslmaker_ssl_free(ssl)


# -- 13. an adopted SSL in the other role ------------------------------------------


def test_adopting_a_client_ssl_as_a_server_is_refused_with_value_error(
    maker: Maker,  # noqa: F811 - the imported fixture
    c_client_ctx: Any,  # noqa: F811
) -> None:
    ssl = maker.lib.sslmaker_ssl_new(c_client_ctx, 0, b"localhost")
    before = maker.destroyed
    try:
        with pytest.raises(ValueError, match="server"):
            Connection.adopt(maker.addr(ssl), role="server")
        with pytest.raises(ValueError, match="server"):
            Connection.adopt(maker.addr(ssl), role=Role.SERVER, owned=True)
        assert maker.destroyed == before  # refused before any reference was taken
        conn = Connection.adopt(maker.addr(ssl), role="client")  # the right role works
        assert conn.role is Role.CLIENT
        conn.close()
    finally:
        maker.lib.sslmaker_ssl_free(ssl)
    assert maker.destroyed == before + 1
