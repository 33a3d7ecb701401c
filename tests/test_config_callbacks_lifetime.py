"""Callbacks stay alive while OpenSSL can call them, and nothing keeps contexts alive forever."""

from __future__ import annotations

import gc
import weakref

import pytest

from ossl_handshake import (
    CallbackError,
    Connection,
    Context,
    Role,
    Session,
    certs,
    drive,
    handshake,
    memory_pair,
)
from tests._contexts import client, server


def self_referencing_contexts() -> tuple[Context, Context]:
    """A client and a server whose every callback closes over its own context."""
    cli = client()
    cli.set_verify_callback(lambda conn, ok, depth, err, der: ok and cli.verify)
    cli.set_new_session_callback(lambda conn, sess: cli.__dict__.setdefault("last", sess))
    srv = server()

    def pick(conn: Connection, name: str | None) -> Context | None:
        return srv if name == "localhost" else None

    srv.set_servername_callback(pick)
    srv.set_alpn_select(lambda offered: "h2" if srv.role is Role.SERVER else None)
    return cli, srv


def test_contexts_whose_callbacks_reference_them_are_collected() -> None:
    cli, srv = self_referencing_contexts()
    c, s = memory_pair(cli, srv, server_name="localhost")
    result = handshake(c, s)
    assert result.ok and result.client.verify_result == 0
    refs = [weakref.ref(x) for x in (cli, srv, c, s)]
    c.close()
    s.close()
    del c, s, cli, srv, result
    gc.collect()
    assert [r() for r in refs] == [None, None, None, None]


def test_callbacks_outlive_every_name_but_the_connection() -> None:
    calls: list[int] = []
    cli = client(verify_callback=lambda conn, ok, depth, err, der: calls.append(depth) or ok)
    ctx_ref = weakref.ref(cli)
    c, s = memory_pair(cli, server(), server_name="localhost")
    del cli
    gc.collect()
    assert ctx_ref() is not None  # the connection keeps its context and callback
    assert handshake(c, s).ok
    assert calls == [2, 1, 0]


def test_closing_the_context_early_does_not_strand_its_connections() -> None:
    calls: list[int] = []
    cli = client(verify_callback=lambda conn, ok, depth, err, der: calls.append(depth) or ok)
    c, s = memory_pair(cli, server(), server_name="localhost")
    cli.close()  # drops our SSL_CTX reference; the SSL holds its own
    assert handshake(c, s).ok
    assert calls == [2, 1, 0]


def test_sni_context_made_in_the_callback_lives_as_long_as_the_connection() -> None:
    made: list[weakref.ref[Context]] = []

    def fresh_context(conn: Connection, name: str | None) -> Context:
        ctx = server(certs.SNI_ALT, alpn=["h2"])  # only the connection will hold it
        made.append(weakref.ref(ctx))
        return ctx

    cli = client(alpn=["h2"])
    c, s = memory_pair(cli, server(servername_callback=fresh_context), server_name="alt.localhost")
    c.step()
    c.transfer_to(s)
    s.step()  # ClientHello processed: the SNI switch happened
    gc.collect()
    assert made[0]() is s.active_context
    s.transfer_to(c)
    result = drive(c, s)  # the ALPN callback runs on the switched context
    assert result.ok
    assert result.client.alpn_protocol == "h2"
    assert result.client.peer_subject == "O=ossl-handshake tests,CN=alt.localhost"
    c.close()
    s.close()
    del c, s
    gc.collect()
    assert made[0]() is None


class Abort(BaseException):
    """Not an Exception: must be delivered as is, like KeyboardInterrupt."""


def test_base_exception_from_a_callback_is_delivered_unchanged() -> None:
    def stop(conn: Connection, ok: bool, depth: int, err: int, der: bytes) -> bool:
        raise Abort

    c, s = memory_pair(client(verify_callback=stop), server(), server_name="localhost")
    with pytest.raises(Abort):
        handshake(c, s)
    assert c.step().failed  # the handshake did not go on without its verify callback


def test_callback_error_is_raised_once_then_reported_by_every_later_step() -> None:
    def broken(offered: list[bytes]) -> str:
        raise RuntimeError("selector bug")

    c, s = memory_pair(client(alpn=["h2"]), server(alpn_select=broken), server_name="localhost")
    with pytest.raises(CallbackError) as info:
        handshake(c, s)
    assert info.value.__cause__ is not None
    assert info.value.__cause__.__traceback__ is not None  # the original traceback is kept
    again = s.step()
    assert again.failed and again.error is info.value


def test_errors_of_one_connection_never_reach_another() -> None:
    srv = server(alpn_select=lambda offered: (_ for _ in ()).throw(RuntimeError("x")))
    ok_srv = server(alpn=["h2"])
    cli = client(alpn=["h2"])
    bad_c, bad_s = memory_pair(cli, srv, server_name="localhost")
    with pytest.raises(CallbackError):
        handshake(bad_c, bad_s)
    good = handshake(*memory_pair(cli, ok_srv, server_name="localhost"))
    assert good.ok and good.server.alpn_protocol == "h2"


def test_sessions_from_the_callback_outlive_their_connection() -> None:
    kept: list[Session] = []
    cli = client(max_version="1.2", on_new_session=lambda conn, sess: kept.append(sess))
    srv = server()
    c, s = memory_pair(cli, srv, server_name="localhost")
    handshake(c, s)
    c.close()
    s.close()
    del c, s
    gc.collect()
    c2, s2 = memory_pair(cli, srv, server_name="localhost", session=kept[0])
    assert handshake(c2, s2).server.session_reused
